/* SPDX-License-Identifier: BSD-3-Clause */
/* The journal of unflushed writes; see journal.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "journal.h"
#include "locks.h"

/* The contract of the *_locked functions (and those said to run with the
 * lock held): the calling thread holds J's lock.  Cheap enough to stay in
 * release builds.
 */
static void
assert_locked (const struct journal *j)
{
  assert (j->held && pthread_equal (j->holder, pthread_self ()));
}

/* j->lock, with its holder noted for the functions that require it:
 * released when the enclosing scope ends.
 */
#define JOURNAL_LOCK_FOR_SCOPE(j)                                              \
  __attribute__ ((cleanup (journal_unlock_cleanup), unused)) struct journal *  \
  LOCKS_UNIQUE (journal_lock_)                                                 \
      = journal_lock (j)

static struct journal *
journal_lock (struct journal *j)
{
  mutex_lock (&j->lock);
  j->holder = pthread_self ();
  j->held = true;
  return j;
}

static void
journal_unlock_cleanup (struct journal **j)
{
  assert_locked (*j);
  (*j)->held = false;
  locks_check (pthread_mutex_unlock (&(*j)->lock), "pthread_mutex_unlock");
}

void
journal_init (struct journal *j, uint64_t max_bytes)
{
  pthread_mutex_init (&j->lock, NULL);
  j->held = false;
  j->head = j->tail = NULL;
  j->count = j->bytes = 0;
  j->max_bytes = max_bytes;
  j->ring = NULL;
  j->ring_size = j->ring_start = j->ring_end = j->ring_entries = 0;
}

void
journal_free (struct journal *j)
{
  journal_clear (j);
  if (j->ring_size)
    munmap (j->ring, j->ring_size);
  j->ring = NULL;
  j->ring_size = 0;
  pthread_mutex_destroy (&j->lock);
}

static uint64_t
entry_cost (const struct journal_entry *e)
{
  return JOURNAL_ENTRY_COST + (e->data ? e->length : 0);
}

/* Links E at the tail (lock held); true when past the bound. */
static bool
append_locked (struct journal *j, struct journal_entry *e)
{
  assert_locked (j);
  e->next = NULL;
  if (j->tail)
    j->tail->next = e;
  else
    j->head = e;
  j->tail = e;
  j->count++;
  j->bytes += entry_cost (e);
  return j->bytes > j->max_bytes;
}

/* Takes LEN bytes of the ring (lock held) for a new copy; -1 when they
 * do not fit.  Copies are taken and given back first in, first out.
 */
static int
ring_take (struct journal *j, uint64_t len, uint64_t *pos)
{
  assert_locked (j);
  if (j->ring_size == 0 && j->max_bytes > 0)
    {
      uint64_t size = j->max_bytes + JOURNAL_SLACK;
      void *p = mmap (NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

      if (p == MAP_FAILED)
        return -1;
      j->ring = p;
      j->ring_size = size;
    }
  if (j->ring_entries == 0)
    j->ring_start = j->ring_end = 0;
  if (j->ring_end >= j->ring_start)
    {
      /* [start, end) used: room after end, or before start (strictly
       * less, so that end == start always means empty).
       */
      if (j->ring_size - j->ring_end >= len)
        *pos = j->ring_end;
      else if (len < j->ring_start)
        *pos = 0;
      else
        return -1;
    }
  else if (j->ring_start - j->ring_end > len)
    *pos = j->ring_end; /* wrapped: [end, start) is free */
  else
    return -1;
  j->ring_end = *pos + len;
  j->ring_entries++;
  return 0;
}

/* Gives back the ring copies of the entries from E up to STOP (lock
 * held): the oldest remaining copy is the ring's start.
 */
static void
ring_give_back (struct journal *j, const struct journal_entry *e,
                const struct journal_entry *stop)
{
  assert_locked (j);
  for (; e != stop; e = e->next)
    if (e->in_ring)
      {
        assert (j->ring_entries > 0);
        j->ring_entries--;
      }
  for (e = stop; e; e = e->next)
    if (e->in_ring)
      {
        j->ring_start = e->ring_pos;
        return;
      }
  j->ring_start = j->ring_end = 0;
}

/* Gives E a malloc'd copy of its LENGTH bytes from BUF.  -1 when out of
 * memory.
 */
static int
entry_copy_data (struct journal_entry *e, const void *buf)
{
  e->data = malloc (e->length);
  if (e->data == NULL)
    return -1;
  memcpy (e->data, buf, e->length);
  return 0;
}

int
journal_append_copy (struct journal *j, const void *buf, uint64_t offset,
                     uint64_t length)
{
  struct journal_entry *e = calloc (1, sizeof *e);
  uint64_t pos;

  if (e == NULL)
    return -1;
  e->offset = offset;
  e->length = length;
  if (buf)
    {
      JOURNAL_LOCK_FOR_SCOPE (j);
      if (ring_take (j, length, &pos) == 0)
        {
          e->in_ring = true;
          e->ring_pos = pos;
          e->data = j->ring + pos;
          /* Copied and linked under the lock, so that the list's order is
           * the ring's (copies are given back in list order).
           */
          memcpy (e->data, buf, length);
          return append_locked (j, e) ? 1 : 0;
        }
    }
  /* A zero, or a copy that does not fit in the ring. */
  if (buf && entry_copy_data (e, buf) == -1)
    {
      free (e);
      return -1;
    }
  return journal_append (j, e) ? 1 : 0;
}

struct journal_entry *
journal_entry_new (const void *buf, uint64_t offset, uint64_t length)
{
  struct journal_entry *e = calloc (1, sizeof *e);

  if (e == NULL)
    return NULL;
  e->offset = offset;
  e->length = length;
  if (buf && entry_copy_data (e, buf) == -1)
    {
      free (e);
      return NULL;
    }
  return e;
}

void
journal_entry_free (struct journal_entry *e)
{
  if (e && !e->in_ring)
    free (e->data);
  free (e);
}

bool
journal_append (struct journal *j, struct journal_entry *e)
{
  JOURNAL_LOCK_FOR_SCOPE (j);
  return append_locked (j, e);
}

void
journal_clear (struct journal *j)
{
  struct journal_entry *e;

  {
    JOURNAL_LOCK_FOR_SCOPE (j);
    e = j->head;
    j->head = j->tail = NULL;
    j->count = j->bytes = 0;
    j->ring_entries = 0;
    j->ring_start = j->ring_end = 0;
  }
  while (e)
    {
      struct journal_entry *next = e->next;

      journal_entry_free (e);
      e = next;
    }
}

const struct journal_entry *
journal_head (struct journal *j)
{
  JOURNAL_LOCK_FOR_SCOPE (j);
  return j->head;
}

void
journal_drop_before (struct journal *j, const struct journal_entry *next)
{
  struct journal_entry *e, *stop;

  {
    JOURNAL_LOCK_FOR_SCOPE (j);
    e = j->head;
    for (stop = e; stop && stop != next; stop = stop->next)
      {
        assert (j->count > 0 && j->bytes >= entry_cost (stop));
        j->count--;
        j->bytes -= entry_cost (stop);
      }
    ring_give_back (j, e, stop);
    j->head = stop;
    if (stop == NULL)
      j->tail = NULL;
  }
  while (e != stop)
    {
      struct journal_entry *after = e->next;

      journal_entry_free (e);
      e = after;
    }
}

uint64_t
journal_bytes (struct journal *j)
{
  JOURNAL_LOCK_FOR_SCOPE (j);
  return j->bytes;
}

uint64_t
journal_count (struct journal *j)
{
  JOURNAL_LOCK_FOR_SCOPE (j);
  return j->count;
}

uint64_t
journal_covered (struct journal *j)
{
  uint64_t sum = 0;

  JOURNAL_LOCK_FOR_SCOPE (j);
  for (const struct journal_entry *e = j->head; e; e = e->next)
    sum += e->length;
  return sum;
}

int
journal_foreach (struct journal *j,
                 int (*fn) (void *opaque, const struct journal_entry *e),
                 void *opaque)
{
  struct journal_entry *e;

  {
    JOURNAL_LOCK_FOR_SCOPE (j);
    e = j->head;
  }
  for (; e; e = e->next)
    {
      int r = fn (opaque, e);

      if (r != 0)
        return r;
    }
  return 0;
}
