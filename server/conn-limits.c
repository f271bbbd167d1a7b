/* SPDX-License-Identifier: BSD-3-Clause */
/* Connection pools, head deadlines (a watchdog thread) and the PUT
 * memory budget; see conn-limits.h.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The strangers' connections of one peer in one pool. */
struct limits_peer
{
  char key[LIMITS_PEER_KEY];
  unsigned conns;     /* registered entries pointing here */
  unsigned strangers; /* of which strangers, not cut */
  struct limits_peer *next;
};

/* Protects the connection list (head, all pools), every pool, every
 * registered entry's fields but fd, put_used, put_peak, stopping and
 * closing.
 * Never held across I/O but shutdown(2), which does not block.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_gone = PTHREAD_COND_INITIALIZER;
static struct limits_conn *head;
static size_t put_used, put_peak;
static bool stopping, started, closing;
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

/* The strangers' share of a pool: half, at least one. */
static unsigned
strangers_max (void)
{
  return cfg.max_connections > 1 ? cfg.max_connections / 2 : 1;
}

unsigned
limits_hard_max (void)
{
  /* Room for the connections cut to make room until their threads
   * closed them (milliseconds).
   */
  return cfg.max_connections + cfg.max_connections / 2 + 16;
}

/* LC no longer holds a slot: it was cut, or it ends. */
static void
release_locked (struct limits_conn *lc)
{
  lc->pool->nr--;
  if (!lc->ticketed)
    {
      lc->pool->strangers--;
      lc->peer->strangers--;
    }
}

/* Shuts LC's socket down: the connection's own thread sees end of file
 * and closes it; the descriptor stays valid until limits_conn_end.
 */
static void
cut_locked (struct limits_conn *lc)
{
  shutdown (lc->fd, SHUT_RDWR);
  lc->cut = true;
  release_locked (lc);
}

/* Cuts the oldest stranger of the peer holding the most strangers' slots
 * in POOL.  False when POOL has no stranger.
 */
static bool
make_room_locked (struct limits_pool *pool)
{
  struct limits_peer *worst = NULL;
  struct limits_conn *victim = NULL;

  for (struct limits_peer *p = pool->peers; p; p = p->next)
    if (p->strangers > 0 && (worst == NULL || p->strangers > worst->strangers))
      worst = p;
  if (worst == NULL)
    return false;
  for (struct limits_conn *lc = head; lc; lc = lc->next)
    if (lc->peer == worst && !lc->cut && !lc->ticketed
        && (victim == NULL || lc->started <= victim->started))
      victim = lc;
  if (victim == NULL)
    return false;
  cut_locked (victim);
  victim->evicted = true;
  log_debug ("connection from %s cut to make room (%u connections, %u "
             "without a ticket)",
             worst->key, pool->nr, pool->strangers);
  return true;
}

static void *
watchdog_main (void *arg)
{
  (void)arg;
  LOCK_FOR_SCOPE (&lock);
  while (!stopping)
    {
      struct timespec ts = clock_realtime_after_ms (WATCHDOG_PERIOD_MS);
      double t = clock_now_s ();

      for (struct limits_conn *lc = head; lc; lc = lc->next)
        if (lc->deadline > 0 && t > lc->deadline && !lc->cut)
          cut_locked (lc);
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
limits_close_all (double seconds)
{
  struct timespec until = clock_realtime_after_ms ((int64_t)(seconds * 1000));

  LOCK_FOR_SCOPE (&lock);
  closing = true;
  for (struct limits_conn *lc = head; lc; lc = lc->next)
    if (!lc->cut)
      cut_locked (lc);
    else
      shutdown (lc->fd, SHUT_RDWR);
  while (head != NULL)
    if (pthread_cond_timedwait (&all_gone, &lock, &until) == ETIMEDOUT)
      break;
  return head == NULL;
}

bool
limits_accept (struct limits_pool *pool)
{
  LOCK_FOR_SCOPE (&lock);
  if (closing)
    return false;
  if (pool->strangers >= strangers_max () || pool->nr >= cfg.max_connections)
    return make_room_locked (pool);
  return true;
}

/* POOL's entry for peer KEY, created if needed (NULL: out of memory). */
static struct limits_peer *
peer_locked (struct limits_pool *pool, const char *key)
{
  struct limits_peer *p;

  for (p = pool->peers; p; p = p->next)
    if (strcmp (p->key, key) == 0)
      return p;
  p = calloc (1, sizeof *p);
  if (p == NULL)
    return NULL;
  snprintf (p->key, sizeof p->key, "%s", key);
  p->next = pool->peers;
  pool->peers = p;
  return p;
}

void
limits_conn_start (struct limits_conn *lc, struct limits_pool *pool, int fd,
                   const char *key)
{
  LOCK_FOR_SCOPE (&lock);
  lc->fd = fd;
  lc->started = clock_now_s ();
  lc->deadline = lc->started + cfg.head_timeout;
  lc->pool = pool;
  lc->peer = peer_locked (pool, key);
  lc->ticketed = false;
  lc->cut = lc->evicted = false;
  if (lc->peer == NULL)
    {
      /* Out of memory: no slot, no peer; cut at once. */
      shutdown (fd, SHUT_RDWR);
      lc->cut = true;
    }
  else
    {
      lc->peer->conns++;
      lc->peer->strangers++;
      pool->strangers++;
      pool->nr++;
      /* Accepted just before limits_close_all: closed like the rest. */
      if (closing)
        cut_locked (lc);
    }
  lc->prev = NULL;
  lc->next = head;
  if (head)
    head->prev = lc;
  head = lc;
}

void
limits_conn_end (struct limits_conn *lc)
{
  struct limits_peer **pp;

  LOCK_FOR_SCOPE (&lock);
  if (lc->prev)
    lc->prev->next = lc->next;
  else
    head = lc->next;
  if (lc->next)
    lc->next->prev = lc->prev;
  lc->prev = lc->next = NULL;
  if (head == NULL)
    pthread_cond_broadcast (&all_gone);
  if (lc->peer == NULL)
    return;
  if (!lc->cut)
    release_locked (lc);
  if (--lc->peer->conns == 0)
    {
      for (pp = &lc->pool->peers; *pp != lc->peer; pp = &(*pp)->next)
        ;
      *pp = lc->peer->next;
      free (lc->peer);
    }
  lc->peer = NULL;
}

void
limits_conn_ticketed (struct limits_conn *lc)
{
  LOCK_FOR_SCOPE (&lock);
  if (lc->ticketed || lc->peer == NULL)
    return;
  if (!lc->cut)
    {
      lc->pool->strangers--;
      lc->peer->strangers--;
    }
  lc->ticketed = true;
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
limits_put_reserve (size_t bytes)
{
  LOCK_FOR_SCOPE (&lock);
  if (put_used + bytes > cfg.put_memory)
    return false;
  put_used += bytes;
  if (put_used > put_peak)
    put_peak = put_used;
  return true;
}

void
limits_put_release (size_t bytes)
{
  LOCK_FOR_SCOPE (&lock);
  assert (put_used >= bytes);
  put_used -= bytes;
}

size_t
limits_put_peak (void)
{
  LOCK_FOR_SCOPE (&lock);
  return put_peak;
}
