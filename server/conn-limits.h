/* SPDX-License-Identifier: BSD-3-Clause */
/* Resource limits of imageio-server (docs/imageio-server-security.md):
 * how many connections in all, how long a connection may take to send a
 * request head (the TLS handshake included), and how much memory all PUT
 * buffers may take together.
 *
 * Contract:
 * - main calls limits_configure, then limits_start before any listener
 *   and limits_stop after the last one stopped.
 * - http.c registers every connection (limits_conn_start/end, in the
 *   connection's start and close notifications) with its socket; a
 *   watchdog thread shuts down the socket of a connection whose deadline
 *   has passed, and libmicrohttpd then closes it as a peer that went away.
 *   The entry is removed before libmicrohttpd closes the socket, so the
 *   watchdog never touches a reused descriptor.
 * - limits_put_reserve/release account PUT buffers against the budget.
 */
#ifndef SERVER_CONN_LIMITS_H
#define SERVER_CONN_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

struct limits
{
  unsigned max_connections; /* over all listeners */
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

/* One registered connection (embedded in struct conn). */
struct limits_conn
{
  int fd;
  double deadline; /* monotonic seconds; 0: none */
  bool cut;        /* the watchdog shut it down */
  struct limits_conn *prev, *next;
};

void limits_configure (const struct limits *l);
const struct limits *limits_get (void);
int limits_start (void);
void limits_stop (void);

/* Whether one more connection may be accepted now. */
bool limits_accept_ok (void);

/* Registers a new connection: its head must arrive within head_timeout. */
void limits_conn_start (struct limits_conn *lc, int fd);
void limits_conn_end (struct limits_conn *lc);
/* The connection is serving a request: no head deadline meanwhile. */
void limits_conn_busy (struct limits_conn *lc);
/* The connection waits for its next request head, which must be complete
 * within SECONDS from now.
 */
void limits_conn_wait (struct limits_conn *lc, double seconds);
/* Whether the watchdog cut the connection (for the log). */
bool limits_conn_was_cut (struct limits_conn *lc);

/* Takes BYTES from the PUT budget.  False when the budget is spent. */
bool limits_put_reserve (size_t bytes);
void limits_put_release (size_t bytes);

#endif
