/* SPDX-License-Identifier: BSD-3-Clause */
/* Tickets: parsing (PUT /tickets/ID, --ticket FILE) and the store.
 *
 * Contract:
 * - A ticket is immutable after ticket_parse except the store-owned fields
 *   (expiry, counters), which only tickets.c touches under its lock.
 * - tickets_acquire marks the ticket busy (a request in progress) and gives
 *   a reference; every acquire is paired with one tickets_release.  Busy
 *   tickets do not expire.
 * - DELETE cancels a ticket (tickets_cancel): no request may start on it
 *   any more; once its requests stopped it is removed
 *   (tickets_remove_unused), as imageio does.
 * - ticket_ref/ticket_unref keep the memory alive (a connection's backend
 *   remembers the ticket it was opened for) without making it busy.
 * - A ticket expires TIMEOUT seconds after it was added or last used; an
 *   expired ticket behaves as missing and is dropped from the store.
 */
#ifndef SERVER_TICKETS_H
#define SERVER_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "range-set.h"

struct ticket
{
  char *id;
  uint64_t size;
  char *url;
  bool can_read, can_write; /* the ops as given ("write" reads too) */
  uint64_t timeout;
  uint64_t inactivity_timeout;
  bool sparse, dirty;
  char *transfer_id, *filename; /* may be NULL */

  /* Store-owned, protected by the store lock. */
  double expires;     /* monotonic seconds */
  double access_time; /* monotonic seconds: added or last request ended */
  unsigned refs;
  unsigned busy;
  bool in_store;
  bool canceled; /* no new request may start (DELETE); set atomically,
                    read without the lock by work.c */
  /* What the ticket's completed requests covered, for "transferred". */
  struct range_set transferred;
};

/* Parses ticket JSON (LEN bytes).  WANT_ID, when not NULL, must equal its
 * uuid.  Returns a new ticket (refs 1) or NULL with a one-line reason.
 */
struct ticket *ticket_parse (const char *json, size_t len, const char *want_id,
                             char *err, size_t errlen);

/* Adds T to the store (taking over the caller's reference), replacing any
 * ticket with the same id.
 */
void tickets_add (struct ticket *t);

enum ticket_error
{
  TICKET_MISSING,
  TICKET_EXPIRED,
  TICKET_CANCELED,
};

/* Finds a live ticket, marks it busy and extends its expiry.  NULL if
 * missing or expired (*WHY says which).
 */
struct ticket *tickets_acquire (const char *id, enum ticket_error *why);
void tickets_release (struct ticket *t);

void ticket_ref (struct ticket *t);
void ticket_unref (struct ticket *t);

/* Marks ticket ID canceled and returns a reference to it (ticket_unref),
 * or NULL when there is no such ticket.
 */
struct ticket *tickets_cancel (const char *id);
/* The same for any one ticket not canceled yet (NULL: none is left). */
struct ticket *tickets_cancel_next (void);
/* Waits up to TIMEOUT seconds for canceled ticket T to have no request in
 * progress, then removes it from the store.  Returns 0 (removed, or
 * already gone) or -1 (still busy).
 */
int tickets_remove_unused (struct ticket *t, double timeout);

/* Sets a live ticket's expiry to TIMEOUT seconds from now (PATCH).  As in
 * imageio, its timeout stays: the next request's end sets the expiry to
 * the ticket's timeout from then.  Returns 0 or -1 (missing).
 */
int tickets_extend (const char *id, uint64_t timeout);

/* A request on T covered [START, START + LEN) of the image: READ (a GET)
 * or a write (PUT, zero).  Counted in "transferred" when it is the
 * ticket's one operation, as imageio counts: a read-only ticket counts
 * reads, a write-only one writes and zeroes (the reads write allows are
 * not counted), a read-write one nothing.
 */
void tickets_count_transferred (struct ticket *t, uint64_t start, uint64_t len,
                                bool read);

/* JSON description of a live ticket (malloc'd, *LEN bytes, ends in a
 * newline), or NULL if missing: the ticket's fields plus what imageio
 * reports: active (a request is running), canceled (a DELETE is
 * waiting for its requests to stop), connections (connections whose
 * backend serves it), expires (the CLOCK_MONOTONIC reading, in whole
 * seconds, at which it expires), idle_time (seconds since the last request
 * ended; 0 while active), transfer_id ("(ticket/" and the id's first 18
 * characters ")" unless given) and, for a ticket with one operation,
 * transferred (bytes its completed requests covered, each counted once).  It
 * holds the whole ticket id: it is the manager's own data, never for a log.
 */
char *tickets_describe (const char *id, size_t *len);

/* Drops every ticket (at exit). */
void tickets_clear (void);

#endif
