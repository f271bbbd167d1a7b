/* The connection pool: a fixed set of kept-alive HTTP connections shared by
 * all nbdkit threads and NBD connections.
 *
 * Contract: a thread that takes a connection (pool_get) must give it back
 * (pool_put); flush takes all of them (pool_get_all), which also waits for
 * every request in flight.  Connections open lazily and reopen after they
 * break; pool_send sends a request again on a fresh connection when the old
 * one broke, since every imageio request is idempotent.
 *
 * imageio keeps one backend per HTTP connection and flushes per
 * connection, so each connection remembers whether it wrote since its last
 * flush (dirty).  A dirty connection that breaks may have lost writes the
 * server had not flushed: it is marked lost_unflushed and the next flush
 * fails with EIO, as fsync does.  The keeper thread flushes connections
 * idle with unflushed writes before the server's inactivity timeout
 * (60 s by default in imageio) can close them.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imageio.h"
#include "locks.h"

NBDKIT_DLL_PUBLIC int imageio_debug_pool = 0;

/* How often a request is sent when its connection keeps breaking. */
#define MAX_ATTEMPTS 3

/* lock protects free_list, nr_free, all_waiters and every pool_conn's
 * presence in free_list; a pool_conn's own fields belong to the thread
 * holding it.  A put wakes one waiter (cond), not all: with nbdkit's many
 * worker threads a broadcast per request would wake dozens for nothing.
 * A flush waiting for every connection (all_cond) goes first: new requests
 * wait behind it, so a busy client cannot starve it.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_cond = PTHREAD_COND_INITIALIZER;
static struct pool_conn *conns;
static struct pool_conn **free_list;
static unsigned nr_conns, nr_free, all_waiters;

/* The keeper thread; keeper_stop (under lock, signalled by keeper_cond)
 * asks it to end.
 */
static pthread_t keeper;
static pthread_cond_t keeper_cond = PTHREAD_COND_INITIALIZER;
static bool keeper_running, keeper_stop;

unsigned
pool_size (void)
{
  return nr_conns;
}

int
pool_init (unsigned n, const struct http_endpoint *ep, struct http_conn *first)
{
  conns = calloc (n, sizeof *conns);
  free_list = calloc (n, sizeof *free_list);
  if (conns == NULL || free_list == NULL)
    {
      nbdkit_error ("calloc: %m");
      http_conn_free (first);
      return -1;
    }
  for (unsigned i = 0; i < n; i++)
    {
      conns[i].id = i;
      conns[i].http = i == 0 && first ? first : http_conn_new (ep);
      if (conns[i].http == NULL)
        {
          nbdkit_error ("http_conn_new: %m");
          return -1;
        }
      clock_gettime (CLOCK_MONOTONIC, &conns[i].last_used);
      free_list[i] = &conns[i];
      nr_conns++;
    }
  nr_free = nr_conns;
  nbdkit_debug ("imageio: pool of %u connections", n);
  return 0;
}

void
pool_free (void)
{
  uint64_t connects = 0;

  for (unsigned i = 0; i < nr_conns; i++)
    {
      connects += http_conn_connects (conns[i].http);
      http_conn_free (conns[i].http);
    }
  if (nr_conns > 0)
    nbdkit_debug ("imageio: pool closed; %" PRIu64 " connections opened "
                  "in all", connects);
  free (conns);
  free (free_list);
  conns = NULL;
  free_list = NULL;
  nr_conns = nr_free = 0;
}

struct pool_conn *
pool_get (void)
{
  struct pool_conn *pc;

  {
    LOCK_FOR_SCOPE (&lock);
    while (nr_free == 0 || all_waiters > 0)
      pthread_cond_wait (&cond, &lock);
    pc = free_list[--nr_free];
  }
  if (imageio_debug_pool)
    nbdkit_debug ("pool: get connection %u", pc->id);
  return pc;
}

void
pool_put (struct pool_conn *pc)
{
  clock_gettime (CLOCK_MONOTONIC, &pc->last_used);
  if (imageio_debug_pool)
    nbdkit_debug ("pool: put connection %u", pc->id);
  LOCK_FOR_SCOPE (&lock);
  free_list[nr_free++] = pc;
  if (all_waiters > 0)
    {
      if (nr_free == nr_conns)
        pthread_cond_signal (&all_cond);
    }
  else
    pthread_cond_signal (&cond);
}

unsigned
pool_get_all (struct pool_conn **out)
{
  {
    LOCK_FOR_SCOPE (&lock);
    all_waiters++;
    while (nr_free < nr_conns)
      pthread_cond_wait (&all_cond, &lock);
    all_waiters--;
    for (unsigned i = 0; i < nr_conns; i++)
      out[i] = free_list[i];
    nr_free = 0;
  }
  if (imageio_debug_pool)
    nbdkit_debug ("pool: took all %u connections", nr_conns);
  return nr_conns;
}

void
pool_put_all (struct pool_conn **all, unsigned n)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  LOCK_FOR_SCOPE (&lock);
  for (unsigned i = 0; i < n; i++)
    {
      all[i]->last_used = now;
      free_list[nr_free++] = all[i];
    }
  /* Another flush waiting goes next; else every request waiting may go. */
  if (all_waiters > 0)
    pthread_cond_signal (&all_cond);
  else
    pthread_cond_broadcast (&cond);
}

/* Whether R means the connection broke and the request may be sent again
 * on a new connection.  A timeout is not retried: the server is alive but
 * slow, and sending again would double the wait.
 */
static bool
is_broken_connection (enum http_result r)
{
  return r == HTTP_ERR_CLOSED || r == HTTP_ERR_IO;
}

enum http_result
pool_send (struct pool_conn *pc, const struct http_request *req,
           struct http_response *resp, char *errbuf, size_t errlen)
{
  enum http_result r = HTTP_ERR_CLOSED;

  for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++)
    {
      bool was_open = http_conn_is_open (pc->http);

      r = http_request (pc->http, req, resp, errbuf, errlen);
      if (r == HTTP_OK)
        {
          /* The server closes after some errors (403, 416 on PUT); the
           * backend and its unflushed writes went with it.
           */
          if (!resp->keep_alive && pc->dirty)
            {
              pc->lost_unflushed = true;
              pc->dirty = false;
            }
          return r;
        }
      if (r != HTTP_ERR_CONNECT && pc->dirty)
        {
          nbdkit_debug ("imageio: connection %u broke with unflushed writes",
                        pc->id);
          pc->lost_unflushed = true;
          pc->dirty = false;
        }
      if (!is_broken_connection (r))
        return r;
      /* A connection that was not open before this request broke at once:
       * reconnecting again will not help.
       */
      if (!was_open && r == HTTP_ERR_CLOSED && attempt > 1)
        return r;
      if (attempt < MAX_ATTEMPTS && (imageio_debug_pool || attempt > 1))
        nbdkit_debug ("imageio: %s on connection %u (%s), sending again on a "
                      "new connection", http_result_str (r), pc->id, errbuf);
    }
  return r;
}

int
pool_flush_conn (struct pool_conn *pc)
{
  static const char body[] = "{\"op\": \"flush\"}";
  struct http_request req = {
    .method = "PATCH",
    .target = config.path,
    .content_type = "application/json",
    .body = body,
    .body_len = sizeof body - 1,
  };
  struct http_response resp;
  char errbuf[256] = "";
  enum http_result r;

  if (!pc->dirty)
    return 0;
  r = pool_send (pc, &req, &resp, errbuf, sizeof errbuf);
  if (r != HTTP_OK)
    {
      nbdkit_error ("flush on connection %u: %s: %s", pc->id,
                    http_result_str (r), errbuf);
      return -1;
    }
  if (resp.status != 200 && resp.status != 204)
    {
      nbdkit_error ("flush on connection %u: %d %s: %s", pc->id,
                    resp.status, resp.reason, resp.error_text);
      return -1;
    }
  pc->dirty = false;
  return 0;
}

static double
seconds_since (const struct timespec *t, const struct timespec *now)
{
  return (now->tv_sec - t->tv_sec) + (now->tv_nsec - t->tv_nsec) / 1e9;
}

/* Takes a free connection that is dirty and idle for idle_flush seconds,
 * or returns NULL.  Never waits: busy connections are not idle.
 */
static struct pool_conn *
take_idle_dirty (void)
{
  struct timespec now;
  struct pool_conn *pc = NULL;

  clock_gettime (CLOCK_MONOTONIC, &now);
  LOCK_FOR_SCOPE (&lock);
  for (unsigned i = 0; i < nr_free; i++)
    {
      if (free_list[i]->dirty
          && seconds_since (&free_list[i]->last_used, &now)
             >= config.idle_flush)
        {
          pc = free_list[i];
          free_list[i] = free_list[--nr_free];
          break;
        }
    }
  return pc;
}

static void *
keeper_main (void *arg)
{
  (void) arg;
  for (;;)
    {
      struct pool_conn *pc;
      struct timespec deadline;

      {
        LOCK_FOR_SCOPE (&lock);
        clock_gettime (CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        while (!keeper_stop
               && pthread_cond_timedwait (&keeper_cond, &lock, &deadline) == 0)
          ;
        if (keeper_stop)
          return NULL;
      }

      while ((pc = take_idle_dirty ()) != NULL)
        {
          if (imageio_debug_pool)
            nbdkit_debug ("pool: flushing idle connection %u", pc->id);
          /* A failure is logged; lost_unflushed reports it at the next
           * flush.
           */
          pool_flush_conn (pc);
          pool_put (pc);
        }
    }
}

int
pool_start_keeper (void)
{
  int err;

  if (keeper_running || !server.has_flush)
    return 0;
  keeper_stop = false;
  err = pthread_create (&keeper, NULL, keeper_main, NULL);
  if (err != 0)
    {
      errno = err;
      nbdkit_error ("pthread_create: %m");
      return -1;
    }
  keeper_running = true;
  return 0;
}

void
pool_stop_keeper (void)
{
  if (!keeper_running)
    return;
  {
    LOCK_FOR_SCOPE (&lock);
    keeper_stop = true;
    pthread_cond_signal (&keeper_cond);
  }
  pthread_join (keeper, NULL);
  keeper_running = false;
}
