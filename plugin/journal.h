/* SPDX-License-Identifier: BSD-3-Clause */
/* The journal of unflushed writes: every write the server acknowledged
 * since the last image-wide flush, in the order the acknowledgements
 * arrived, kept so that it can be sent again if the server loses it.
 * imageio documents that after a 500 or a broken connection a client
 * "should send again all the data sent since the last flush"; this is the
 * client side of that contract, as NFS clients keep unstable writes until
 * COMMIT.  See docs/nbdkit-imageio-plugin.pod, "DATA SAFETY".
 *
 * Contract: an entry is made (the data copied) only once the server
 * acknowledged the write, and appended while the writer still holds its
 * connection, so that anyone holding every connection sees all
 * acknowledged writes, and a write in flight costs no second copy: the
 * journal's memory is what its bound says, not that plus every request in
 * flight (issue 17).  journal_foreach, journal_head and journal_drop_before
 * need no lock for the walk: their caller must hold every connection, so
 * that no append can happen meanwhile.  Pure: no nbdkit calls, unit
 * tested.
 */
#ifndef IMAGEIO_JOURNAL_H
#define IMAGEIO_JOURNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct journal_entry
{
  struct journal_entry *next;
  uint64_t offset;
  uint64_t length;
  void *data;   /* a copy of the PUT body; NULL: a zero */
  bool in_ring; /* data lives in the journal's ring, not malloc'd */
  uint64_t ring_pos;
};

struct journal
{
  pthread_mutex_t lock; /* protects everything below */
  /* Who holds lock (held): the *_locked functions assert it is them. */
  bool held;
  pthread_t holder;
  struct journal_entry *head, *tail;
  uint64_t count;
  uint64_t bytes;     /* memory held: data and entry overhead */
  uint64_t max_bytes; /* the bound (max_unflushed=) */

  /* Copies live in one ring mapped once (the bound plus JOURNAL_SLACK):
   * the journal is first in, first out, so its memory is exactly the
   * ring's, and freed copies are reused without going back to malloc
   * (whose per-thread arenas kept 2-4x the bound: issue 17).  A copy
   * that does not fit (appends race past the bound) is malloc'd.
   */
  char *ring;
  uint64_t ring_size;            /* 0: not mapped (yet) */
  uint64_t ring_start, ring_end; /* oldest copy's start; after the newest */
  uint64_t ring_entries;         /* copies in the ring */
};

/* Room in the ring past the bound: requests in flight on other
 * connections are appended while the flush at the bound waits for them.
 */
#define JOURNAL_SLACK (32ULL << 20)

/* Memory an entry costs besides its data, counted against the bound. */
#define JOURNAL_ENTRY_COST 64

void journal_init (struct journal *j, uint64_t max_bytes);
/* Drops every entry. */
void journal_free (struct journal *j);

/* A new entry holding a copy of LEN bytes of BUF (a write), or none (BUF
 * NULL: a zero).  NULL when out of memory.
 */
struct journal_entry *journal_entry_new (const void *buf, uint64_t offset,
                                         uint64_t length);
void journal_entry_free (struct journal_entry *e);

/* Appends E, which the journal now owns.  Returns true when the journal
 * holds more than its bound: the caller should flush.
 */
bool journal_append (struct journal *j, struct journal_entry *e);

/* Appends a copy of LENGTH bytes of BUF (NULL: a zero) at OFFSET, into
 * the ring when it fits.  Returns 1 when the journal holds more than its
 * bound, 0, or -1 when out of memory (nothing appended).
 */
int journal_append_copy (struct journal *j, const void *buf, uint64_t offset,
                         uint64_t length);

/* Drops every entry: a flush on every connection succeeded. */
void journal_clear (struct journal *j);

/* The oldest entry, or NULL (the caller holds every connection). */
const struct journal_entry *journal_head (struct journal *j);
/* Drops the entries older than NEXT (NULL: all of them): a checkpoint
 * flush made them durable.  NEXT must be in the journal or NULL.
 */
void journal_drop_before (struct journal *j, const struct journal_entry *next);

uint64_t journal_bytes (struct journal *j);
uint64_t journal_count (struct journal *j);
/* Bytes of image the entries cover (what may be lost if they are). */
uint64_t journal_covered (struct journal *j);

/* Calls FN on each entry, oldest first, until FN returns nonzero (which is
 * returned).  The caller holds every connection (see the contract).
 */
int journal_foreach (struct journal *j,
                     int (*fn) (void *opaque, const struct journal_entry *e),
                     void *opaque);

#endif
