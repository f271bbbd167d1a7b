/* SPDX-License-Identifier: BSD-3-Clause */
/* Host name lookup with a deadline; see resolve.h. */
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "resolve.h"

/* One lookup, shared by the caller and its thread: whichever lets go last
 * frees it (the caller may give up at its deadline).
 */
struct lookup
{
  pthread_mutex_t lock;
  bool held; /* lock is held, by holder (lookup_lock) */
  pthread_t holder;
  pthread_cond_t done_cond; /* CLOCK_MONOTONIC */
  bool done;
  int refs;
  int rc, sys_errno; /* getaddrinfo's result, errno for EAI_SYSTEM */
  char *host, *port;
  struct addrinfo *res;
};

static void
lookup_free (struct lookup *l)
{
  if (l->res)
    freeaddrinfo (l->res);
  pthread_cond_destroy (&l->done_cond);
  pthread_mutex_destroy (&l->lock);
  free (l->host);
  free (l->port);
  free (l);
}

/* Notes that the calling thread holds L's lock, for lookup_unref_locked's
 * contract; again after a wait on done_cond, as the other thread may have
 * held the lock meanwhile.
 */
static void
lookup_held (struct lookup *l)
{
  l->held = true;
  l->holder = pthread_self ();
}

static void
lookup_lock (struct lookup *l)
{
  pthread_mutex_lock (&l->lock);
  lookup_held (l);
}

/* Drops one reference; L is locked by the caller and unlocked here. */
static void
lookup_unref_locked (struct lookup *l)
{
  bool last;

  assert (l->held && pthread_equal (l->holder, pthread_self ()));
  assert (l->refs > 0);
  last = --l->refs == 0;
  l->held = false;
  pthread_mutex_unlock (&l->lock);
  if (last)
    lookup_free (l);
}

static void *
lookup_main (void *arg)
{
  struct lookup *l = arg;
  struct addrinfo hints = {
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_NUMERICSERV,
  };
  struct addrinfo *res = NULL;
  int rc = getaddrinfo (l->host, l->port, &hints, &res);
  int err = errno;

  lookup_lock (l);
  l->rc = rc;
  l->sys_errno = err;
  l->res = res;
  l->done = true;
  pthread_cond_signal (&l->done_cond);
  lookup_unref_locked (l);
  return NULL;
}

static struct lookup *
lookup_new (const char *host, const char *port)
{
  struct lookup *l = calloc (1, sizeof *l);
  pthread_condattr_t ca;

  if (l == NULL)
    return NULL;
  l->host = strdup (host);
  l->port = strdup (port);
  if (l->host == NULL || l->port == NULL)
    {
      free (l->host);
      free (l->port);
      free (l);
      return NULL;
    }
  pthread_mutex_init (&l->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&l->done_cond, &ca);
  pthread_condattr_destroy (&ca);
  l->refs = 2;
  return l;
}

/* Starts L's thread, detached, with every signal blocked (nbdkit's
 * signals go to its own threads).
 */
static int
lookup_start (struct lookup *l)
{
  pthread_attr_t attr;
  pthread_t tid;
  sigset_t all, old;
  int r;

  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  r = pthread_create (&tid, &attr, lookup_main, l);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  pthread_attr_destroy (&attr);
  return r;
}

int
resolve_host (const char *host, const char *port, int64_t deadline,
              struct addrinfo **res, char *errbuf, size_t errlen)
{
  struct lookup *l = lookup_new (host, port);
  struct timespec ts
      = { .tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000L };
  int r;

  if (l == NULL)
    {
      snprintf (errbuf, errlen, "name lookup of %s: out of memory", host);
      return -1;
    }
  r = lookup_start (l);
  if (r != 0)
    {
      snprintf (errbuf, errlen, "name lookup of %s: cannot start a thread: %s",
                host, strerror (r));
      lookup_free (l);
      return -1;
    }
  lookup_lock (l);
  while (!l->done && clock_now_ms () < deadline)
    pthread_cond_timedwait (&l->done_cond, &l->lock, &ts);
  lookup_held (l);
  if (!l->done)
    {
      snprintf (errbuf, errlen,
                "name lookup of %s timed out; check the URL's host name and "
                "the DNS servers in /etc/resolv.conf",
                host);
      lookup_unref_locked (l);
      return -1;
    }
  if (l->rc != 0)
    {
      snprintf (errbuf, errlen, "name lookup of %s failed: %s", host,
                l->rc == EAI_SYSTEM ? strerror (l->sys_errno)
                                    : gai_strerror (l->rc));
      lookup_unref_locked (l);
      return -1;
    }
  *res = l->res;
  l->res = NULL;
  lookup_unref_locked (l);
  return 0;
}
