/* SPDX-License-Identifier: BSD-3-Clause */
/* The connection pool: a fixed set of kept-alive HTTP connections shared by
 * all nbdkit threads and NBD connections.
 *
 * Contract: a thread that takes a connection (pool_get) must give it back
 * (pool_put); flush and replay take all of them (pool_get_all), which also
 * waits for every request in flight.  Connections open lazily and reopen
 * after they break.  Retrying, replaying and flushing are replay.c's.
 *
 * imageio keeps one backend per HTTP connection and flushes per
 * connection, so each connection remembers whether it wrote since its last
 * flush (dirty); keeper.c flushes what stays unflushed while the pool
 * idles.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "locks.h"
#include "pool.h"

/* -D imageio.pool=1: connections taken and given back, retries, idle
 * flushes, elided zeroes.
 */
NBDKIT_DLL_PUBLIC int imageio_debug_pool = 0;

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

/* What pool_get_all hands out: every connection (its holder owns it). */
static struct pool_conn **all_list;

/* Connections the calling thread holds.  A thread that holds one must not
 * wait for another, nor for all of them: a flush waiting for every
 * connection makes new requests wait behind it, so both would wait
 * forever.  Checked by assert (kept in release builds, as nbdkit does).
 */
static __thread unsigned held;

unsigned
pool_held (void)
{
  return held;
}

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
  all_list = calloc (n, sizeof *all_list);
  if (conns == NULL || free_list == NULL || all_list == NULL)
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
                  "in all",
                  connects);
  free (conns);
  free (free_list);
  free (all_list);
  conns = NULL;
  free_list = NULL;
  all_list = NULL;
  nr_conns = nr_free = 0;
}

struct pool_conn *
pool_get (void)
{
  struct pool_conn *pc;

  assert (held == 0);
  {
    LOCK_FOR_SCOPE (&lock);
    while (nr_free == 0 || all_waiters > 0)
      pthread_cond_wait (&cond, &lock);
    assert (nr_free > 0);
    pc = free_list[--nr_free];
  }
  held++;
  if (imageio_debug_pool)
    nbdkit_debug ("pool: get connection %u", pc->id);
  return pc;
}

void
pool_put (struct pool_conn *pc)
{
  assert (held == 1);
  held--;
  clock_gettime (CLOCK_MONOTONIC, &pc->last_used);
  if (imageio_debug_pool)
    nbdkit_debug ("pool: put connection %u", pc->id);
  LOCK_FOR_SCOPE (&lock);
  assert (nr_free < nr_conns);
  free_list[nr_free++] = pc;
  if (all_waiters > 0)
    {
      if (nr_free == nr_conns)
        pthread_cond_signal (&all_cond);
    }
  else
    pthread_cond_signal (&cond);
}

struct pool_conn **
pool_get_all (unsigned *n)
{
  assert (held == 0);
  {
    LOCK_FOR_SCOPE (&lock);
    all_waiters++;
    while (nr_free < nr_conns)
      pthread_cond_wait (&all_cond, &lock);
    all_waiters--;
    for (unsigned i = 0; i < nr_conns; i++)
      all_list[i] = free_list[i];
    nr_free = 0;
  }
  held = nr_conns;
  if (imageio_debug_pool)
    nbdkit_debug ("pool: took all %u connections", nr_conns);
  *n = nr_conns;
  return all_list;
}

void
pool_put_all (void)
{
  struct timespec now;

  assert (held == nr_conns);
  held = 0;
  clock_gettime (CLOCK_MONOTONIC, &now);
  LOCK_FOR_SCOPE (&lock);
  assert (nr_free == 0);
  for (unsigned i = 0; i < nr_conns; i++)
    {
      all_list[i]->last_used = now;
      free_list[nr_free++] = all_list[i];
    }
  /* Another flush waiting goes next; else every request waiting may go. */
  if (all_waiters > 0)
    pthread_cond_signal (&all_cond);
  else
    pthread_cond_broadcast (&cond);
}

static double
seconds_since (const struct timespec *t, const struct timespec *now)
{
  return (now->tv_sec - t->tv_sec) + (now->tv_nsec - t->tv_nsec) / 1e9;
}

struct pool_conn *
pool_take_idle_dirty (unsigned idle)
{
  struct timespec now;
  struct pool_conn *pc = NULL;

  assert (held == 0);
  clock_gettime (CLOCK_MONOTONIC, &now);
  LOCK_FOR_SCOPE (&lock);
  if (all_waiters > 0)
    return NULL;
  for (unsigned i = 0; i < nr_free; i++)
    {
      if (free_list[i]->dirty
          && seconds_since (&free_list[i]->last_used, &now) >= idle)
        {
          pc = free_list[i];
          free_list[i] = free_list[--nr_free];
          held++;
          break;
        }
    }
  return pc;
}

bool
pool_idle_for (unsigned idle)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  LOCK_FOR_SCOPE (&lock);
  if (nr_free < nr_conns)
    return false;
  for (unsigned i = 0; i < nr_conns; i++)
    if (seconds_since (&conns[i].last_used, &now) < idle)
      return false;
  return true;
}
