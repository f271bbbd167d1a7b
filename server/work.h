/* SPDX-License-Identifier: BSD-3-Clause */
/* Work in progress on tickets, and how it stops: nothing outlives its
 * client, its ticket or the server (docs/imageio-server-security.md).
 *
 * Contract:
 * - Every image request that holds a ticket registers a struct work (its
 *   ticket and its connection's socket) from the moment the ticket is
 *   acquired until the request ends (work_begin/work_end), in that
 *   request's own thread.
 * - Long loops (a checksum, a large GET, a long extents list) ask
 *   work_should_stop between pieces of at most a few MiB: it says yes once
 *   the ticket was canceled (DELETE), the server is stopping, or the client
 *   went away (its socket saw the peer close).
 * - work_cancel_ticket and work_cancel_all set the stop flag of the works
 *   concerned and shut their sockets down, which also wakes a request that
 *   waits for a client that does not read.  The entry leaves the list
 *   before its connection closes the socket, so a shut-down descriptor is
 *   never a reused one.
 * - Checksums are limited: at most work_max_checksums at once over the
 *   server and WORK_CHECKSUMS_PER_TICKET per ticket (work_checksum_begin;
 *   released by work_end).
 */
#ifndef SERVER_WORK_H
#define SERVER_WORK_H

#include <stdatomic.h>
#include <stdbool.h>

struct ticket;

#define WORK_CHECKSUMS_PER_TICKET 2
#define WORK_DEFAULT_MAX_CHECKSUMS 4

/* Set by main before any listener starts. */
extern unsigned work_max_checksums;

struct work
{
  const struct ticket *t; /* NULL when not registered */
  int fd;                 /* the client's socket */
  atomic_bool stop;
  bool checksum; /* holds a checksum slot */
  struct work *prev, *next;
};

void work_begin (struct work *w, const struct ticket *t, int fd);
/* Unregisters W (no-op when not registered), releasing its slots. */
void work_end (struct work *w);

/* Whether W should stop now; *WHY (may be NULL) says why. */
bool work_should_stop (struct work *w, const char **why);

/* Takes a checksum slot for W.  False when the server or W's ticket runs
 * as many checksums as allowed.
 */
bool work_checksum_begin (struct work *w);

/* Stops every work on T; returns how many there were. */
unsigned work_cancel_ticket (const struct ticket *t);
/* Stops every work, and any begun later (server stopping). */
void work_cancel_all (void);

#endif
