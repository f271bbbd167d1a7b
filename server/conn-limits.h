/* SPDX-License-Identifier: BSD-3-Clause */
/* Resource limits of imageio-server (docs/imageio-server-security.md):
 * how many connections each listener takes, and who may take them; how
 * long a connection may take to send a request head (the TLS handshake
 * included); and how much memory all PUT buffers may take together.
 *
 * Contract:
 * - main calls limits_configure, then limits_start before any listener
 *   and limits_stop after the last one stopped.
 * - Each listener has its own pool of max_connections slots, so strangers
 *   on TCP cannot take the local Unix socket's.  In a pool, connections
 *   that have not yet named a valid ticket ("strangers") may hold at most
 *   half the slots; one that named a ticket (limits_conn_ticketed) is
 *   never pushed out.  When a new connection finds the strangers' share or
 *   the pool full, limits_accept makes room by cutting the oldest stranger
 *   of the peer (IP address, or uid on a Unix socket) that holds the most
 *   strangers' slots: a flood from many addresses pushes out its own
 *   connections, not a client with one or two.  Only when every slot is
 *   held by ticket holders is the new connection refused.
 * - http.c registers every connection (limits_conn_start/end, in the
 *   connection's start and close notifications) with its socket; a
 *   watchdog thread shuts down the socket of a connection whose deadline
 *   has passed, and libmicrohttpd then closes it as a peer that went away
 *   (limits_accept cuts a connection the same way).
 *   The entry is removed before libmicrohttpd closes the socket, so the
 *   watchdog never touches a reused descriptor.
 * - limits_put_reserve/release account PUT buffers against the budget.
 * - At shutdown main calls limits_close_all before stopping the
 *   listeners: no connection is accepted any more, and each is closed
 *   while libmicrohttpd still runs normally (see limits_close_all).
 */
#ifndef SERVER_CONN_LIMITS_H
#define SERVER_CONN_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

struct limits
{
  unsigned max_connections; /* per listener */
  unsigned max_per_ip;      /* TCP connections from one address */
  unsigned head_timeout;    /* seconds to complete a request head */
  unsigned idle_timeout;    /* idle seconds before a valid ticket */
  size_t put_memory;        /* bytes, all PUT buffers together */
};

#define LIMITS_DEFAULT_MAX_CONNECTIONS 256
#define LIMITS_DEFAULT_MAX_PER_IP 64
#define LIMITS_DEFAULT_HEAD_TIMEOUT 10
#define LIMITS_DEFAULT_IDLE_TIMEOUT 10
#define LIMITS_DEFAULT_PUT_MEMORY_MIB 256

/* A listener's slots (embedded in struct listener, zeroed). */
struct limits_pool
{
  unsigned nr;               /* connections held, not counting cut ones */
  unsigned strangers;        /* of which have not named a valid ticket */
  struct limits_peer *peers; /* strangers per peer */
};

/* One registered connection (embedded in struct conn). */
struct limits_conn
{
  int fd;
  double deadline; /* monotonic seconds; 0: none */
  bool cut;        /* shut down by the watchdog or to make room */
  bool evicted;    /* ... to make room */
  bool ticketed;   /* named a valid ticket */
  double started;  /* monotonic seconds */
  struct limits_pool *pool;
  struct limits_peer *peer;
  struct limits_conn *prev, *next;
};

/* The longest peer key: an IPv6 address, or "uid=N". */
#define LIMITS_PEER_KEY 48

void limits_configure (const struct limits *l);
const struct limits *limits_get (void);
int limits_start (void);
void limits_stop (void);
/* Refuses new connections from now on, shuts down every registered
 * connection's socket, and waits (SECONDS at most) until their threads
 * have closed them all.  MHD_stop_daemon does the same, but it first
 * marks the daemon as stopping, and libmicrohttpd 0.9.75 then crashes
 * (a NULL response in build_header_response) in any connection thread
 * that is answering an over-long request head with 431 at that moment.
 * True when every connection closed in time.
 */
bool limits_close_all (double seconds);

/* Whether one more connection may be accepted in POOL now, making room
 * as the top of this file says.
 */
bool limits_accept (struct limits_pool *pool);
/* How many connections libmicrohttpd must allow on a listener: the pool
 * plus those cut to make room that have not closed yet.
 */
unsigned limits_hard_max (void);

/* Registers a new connection of POOL from peer KEY (an address or
 * "uid=N"): its head must arrive within head_timeout.
 */
void limits_conn_start (struct limits_conn *lc, struct limits_pool *pool,
                        int fd, const char *key);
void limits_conn_end (struct limits_conn *lc);
/* The connection named a valid ticket: it no longer counts as a
 * stranger.
 */
void limits_conn_ticketed (struct limits_conn *lc);
/* The connection is serving a request: no head deadline meanwhile. */
void limits_conn_busy (struct limits_conn *lc);
/* The connection waits for its next request head, which must be complete
 * within SECONDS from now.
 */
void limits_conn_wait (struct limits_conn *lc, double seconds);

/* Takes BYTES from the PUT budget.  False when the budget is spent. */
bool limits_put_reserve (size_t bytes);
void limits_put_release (size_t bytes);
/* The most bytes the PUT buffers held at once since the start. */
size_t limits_put_peak (void);

#endif
