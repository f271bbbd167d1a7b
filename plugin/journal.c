/* SPDX-License-Identifier: BSD-3-Clause */
/* The journal of unflushed writes; see journal.h. */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "locks.h"

void
journal_init (struct journal *j, uint64_t max_bytes)
{
  pthread_mutex_init (&j->lock, NULL);
  j->head = j->tail = NULL;
  j->count = j->bytes = 0;
  j->max_bytes = max_bytes;
}

void
journal_free (struct journal *j)
{
  journal_clear (j);
  pthread_mutex_destroy (&j->lock);
}

struct journal_entry *
journal_entry_new (const void *buf, uint64_t offset, uint64_t length)
{
  struct journal_entry *e = calloc (1, sizeof *e);

  if (e == NULL)
    return NULL;
  e->offset = offset;
  e->length = length;
  if (buf)
    {
      e->data = malloc (length);
      if (e->data == NULL)
        {
          free (e);
          return NULL;
        }
      memcpy (e->data, buf, length);
    }
  return e;
}

void
journal_entry_free (struct journal_entry *e)
{
  if (e)
    free (e->data);
  free (e);
}

static uint64_t
entry_cost (const struct journal_entry *e)
{
  return JOURNAL_ENTRY_COST + (e->data ? e->length : 0);
}

bool
journal_append (struct journal *j, struct journal_entry *e)
{
  LOCK_FOR_SCOPE (&j->lock);
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

void
journal_clear (struct journal *j)
{
  struct journal_entry *e;

  {
    LOCK_FOR_SCOPE (&j->lock);
    e = j->head;
    j->head = j->tail = NULL;
    j->count = j->bytes = 0;
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
  LOCK_FOR_SCOPE (&j->lock);
  return j->head;
}

void
journal_drop_before (struct journal *j, const struct journal_entry *next)
{
  struct journal_entry *e, *stop;

  {
    LOCK_FOR_SCOPE (&j->lock);
    e = j->head;
    for (stop = e; stop && stop != next; stop = stop->next)
      {
        j->count--;
        j->bytes -= entry_cost (stop);
      }
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
  LOCK_FOR_SCOPE (&j->lock);
  return j->bytes;
}

uint64_t
journal_count (struct journal *j)
{
  LOCK_FOR_SCOPE (&j->lock);
  return j->count;
}

uint64_t
journal_covered (struct journal *j)
{
  uint64_t sum = 0;

  LOCK_FOR_SCOPE (&j->lock);
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
    LOCK_FOR_SCOPE (&j->lock);
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
