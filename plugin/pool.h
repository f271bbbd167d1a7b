/* SPDX-License-Identifier: BSD-3-Clause */
/* pool.c: the connection pool, a fixed set of kept-alive HTTP connections
 * shared by every nbdkit thread.
 *
 * A thread that takes a connection must give it back: borrow it for one
 * scope with POOL_CONN_FOR_SCOPE (or POOL_ALL_FOR_SCOPE for all of them,
 * as flush and replay do), so that no path can forget.
 */
#ifndef IMAGEIO_POOL_H
#define IMAGEIO_POOL_H

#include <stdbool.h>
#include <time.h>

#include "http.h"

struct pool_conn
{
  unsigned id;
  struct http_conn *http;
  bool dirty;                /* wrote since its last flush */
  unsigned epoch;            /* replay.c's failure epoch when last used */
  struct timespec last_used; /* CLOCK_MONOTONIC */
};

/* N connections to EP; FIRST (if not NULL, already connected to EP, e.g.
 * the one that probed the server) becomes the first of them.  The pool
 * owns FIRST from now on, even on failure.
 */
int pool_init (unsigned n, const struct http_endpoint *ep,
               struct http_conn *first);
void pool_free (void);
struct pool_conn *pool_get (void);
void pool_put (struct pool_conn *pc);
/* Takes every connection, waiting for those in use; returns the pool's
 * array of them (valid until pool_put_all) and their count in *N.  One
 * holder at a time: others wait.
 */
struct pool_conn **pool_get_all (unsigned *n);
void pool_put_all (void);
unsigned pool_size (void);
/* Takes a free connection that is dirty and unused for IDLE seconds, or
 * returns NULL without waiting.
 */
struct pool_conn *pool_take_idle_dirty (unsigned idle);
/* Whether every connection is free and unused for IDLE seconds. */
bool pool_idle_for (unsigned idle);
/* How many connections the calling thread holds (all of them after
 * pool_get_all): for the contracts of the functions that take them.
 */
unsigned pool_held (void);

static inline void
pool_put_cleanup (struct pool_conn **pc)
{
  if (*pc)
    pool_put (*pc);
}

static inline void
pool_put_all_cleanup (struct pool_conn ***all)
{
  if (*all)
    pool_put_all ();
}

/* A connection borrowed until the end of the enclosing scope. */
#define POOL_CONN_FOR_SCOPE(name)                                              \
  __attribute__ ((cleanup (pool_put_cleanup))) struct pool_conn *name          \
      = pool_get ()

/* Every connection, held until the end of the enclosing scope. */
#define POOL_ALL_FOR_SCOPE(name, n)                                            \
  __attribute__ ((cleanup (pool_put_all_cleanup))) struct pool_conn **name     \
      = pool_get_all (&(n))

extern int imageio_debug_pool;

#endif
