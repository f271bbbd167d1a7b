/* SPDX-License-Identifier: BSD-3-Clause */
/* Connection count, head deadlines (a watchdog thread) and the PUT
 * memory budget; see conn-limits.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "conn-limits.h"
#include "locks.h"
#include "log.h"

/* How often the watchdog looks at the deadlines. */
#define WATCHDOG_PERIOD_MS 200

/* Set by main before limits_start, read-only afterwards. */
static struct limits cfg = {
  .max_connections = LIMITS_DEFAULT_MAX_CONNECTIONS,
  .max_per_ip = LIMITS_DEFAULT_MAX_PER_IP,
  .head_timeout = LIMITS_DEFAULT_HEAD_TIMEOUT,
  .idle_timeout = LIMITS_DEFAULT_IDLE_TIMEOUT,
  .put_memory = (size_t)LIMITS_DEFAULT_PUT_MEMORY_MIB * 1024 * 1024,
};

/* Protects the connection list (head), nr_conns, every registered
 * entry's deadline and cut, put_used and stopping.  Never held across I/O
 * but shutdown(2), which does not block.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct limits_conn *head;
static unsigned nr_conns;
static size_t put_used;
static bool stopping, started;
static pthread_t watchdog;

void
limits_configure (const struct limits *l)
{
  cfg = *l;
}

const struct limits *
limits_get (void)
{
  return &cfg;
}

static void *
watchdog_main (void *arg)
{
  (void)arg;
  LOCK_FOR_SCOPE (&lock);
  while (!stopping)
    {
      struct timespec ts;
      double t = clock_now_s ();

      for (struct limits_conn *lc = head; lc; lc = lc->next)
        if (lc->deadline > 0 && t > lc->deadline && !lc->cut)
          {
            /* The connection's own thread sees end of file and closes
             * it; the descriptor stays valid until limits_conn_end.
             */
            shutdown (lc->fd, SHUT_RDWR);
            lc->cut = true;
          }
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += WATCHDOG_PERIOD_MS * 1000000L;
      if (ts.tv_nsec >= 1000000000L)
        {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
      pthread_cond_timedwait (&wake, &lock, &ts);
    }
  return NULL;
}

int
limits_start (void)
{
  int r = pthread_create (&watchdog, NULL, watchdog_main, NULL);

  if (r != 0)
    {
      log_msg ("cannot start the watchdog: %s", strerror (r));
      return -1;
    }
  started = true;
  return 0;
}

void
limits_stop (void)
{
  if (!started)
    return;
  {
    LOCK_FOR_SCOPE (&lock);
    stopping = true;
    pthread_cond_signal (&wake);
  }
  pthread_join (watchdog, NULL);
  started = false;
}

bool
limits_accept_ok (void)
{
  LOCK_FOR_SCOPE (&lock);
  return nr_conns < cfg.max_connections;
}

void
limits_conn_start (struct limits_conn *lc, int fd)
{
  LOCK_FOR_SCOPE (&lock);
  lc->fd = fd;
  lc->deadline = clock_now_s () + cfg.head_timeout;
  lc->cut = false;
  lc->prev = NULL;
  lc->next = head;
  if (head)
    head->prev = lc;
  head = lc;
  nr_conns++;
}

void
limits_conn_end (struct limits_conn *lc)
{
  LOCK_FOR_SCOPE (&lock);
  if (lc->prev)
    lc->prev->next = lc->next;
  else
    head = lc->next;
  if (lc->next)
    lc->next->prev = lc->prev;
  lc->prev = lc->next = NULL;
  nr_conns--;
}

void
limits_conn_busy (struct limits_conn *lc)
{
  LOCK_FOR_SCOPE (&lock);
  lc->deadline = 0;
}

void
limits_conn_wait (struct limits_conn *lc, double seconds)
{
  LOCK_FOR_SCOPE (&lock);
  lc->deadline = clock_now_s () + seconds;
}

bool
limits_conn_was_cut (struct limits_conn *lc)
{
  LOCK_FOR_SCOPE (&lock);
  return lc->cut;
}

bool
limits_put_reserve (size_t bytes)
{
  LOCK_FOR_SCOPE (&lock);
  if (put_used + bytes > cfg.put_memory)
    return false;
  put_used += bytes;
  return true;
}

void
limits_put_release (size_t bytes)
{
  LOCK_FOR_SCOPE (&lock);
  put_used -= bytes;
}
