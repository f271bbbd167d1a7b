/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/journal.c: entries come back in the order they were
 * appended, with their own copy of the data; the bound is reported; clear
 * drops everything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#include "check.h"

struct seen
{
  unsigned n;
  uint64_t offsets[16];
  char first_bytes[16];
  int stop_at; /* entry index at which to stop, or -1 */
};

static int
collect (void *opaque, const struct journal_entry *e)
{
  struct seen *s = opaque;

  if ((int)s->n == s->stop_at)
    return 7;
  s->offsets[s->n] = e->offset;
  s->first_bytes[s->n] = e->data ? ((const char *)e->data)[0] : 0;
  s->n++;
  return 0;
}

int
main (void)
{
  struct journal j;
  char buf[4096];
  struct seen s = { .stop_at = -1 };

  journal_init (&j, 3 * 4096 + 4 * JOURNAL_ENTRY_COST);
  CHECK (journal_count (&j) == 0 && journal_bytes (&j) == 0);
  CHECK (journal_foreach (&j, collect, &s) == 0 && s.n == 0);

  /* The entry copies the data: later changes to the buffer do not show. */
  memset (buf, 'a', sizeof buf);
  struct journal_entry *e1 = journal_entry_new (buf, 0, sizeof buf);
  memset (buf, 'b', sizeof buf);
  struct journal_entry *e2 = journal_entry_new (buf, 4096, sizeof buf);
  struct journal_entry *z = journal_entry_new (NULL, 1 << 20, 1 << 30);
  CHECK (e1 && e2 && z && z->data == NULL);

  /* Appended out of creation order: the append order is what counts. */
  CHECK (!journal_append (&j, e2));
  CHECK (!journal_append (&j, e1));
  CHECK (!journal_append (&j, z));
  CHECK (journal_count (&j) == 3);
  CHECK (journal_bytes (&j) == 2 * 4096 + 3 * JOURNAL_ENTRY_COST);
  CHECK (journal_covered (&j) == 2 * 4096 + (1ULL << 30));

  CHECK (journal_foreach (&j, collect, &s) == 0);
  CHECK (s.n == 3);
  CHECK (s.offsets[0] == 4096 && s.first_bytes[0] == 'b');
  CHECK (s.offsets[1] == 0 && s.first_bytes[1] == 'a');
  CHECK (s.offsets[2] == 1 << 20 && s.first_bytes[2] == 0);

  /* A callback's nonzero answer stops the walk and is returned. */
  memset (&s, 0, sizeof s);
  s.stop_at = 1;
  CHECK (journal_foreach (&j, collect, &s) == 7 && s.n == 1);

  /* Past the bound, append says so (and still keeps the entry). */
  CHECK (!journal_append (
      &j, journal_entry_new (buf, 8192, 4096 - 2 * JOURNAL_ENTRY_COST)));
  CHECK (journal_append (&j, journal_entry_new (buf, 12288, 4096)));
  CHECK (journal_count (&j) == 5);

  /* A checkpoint drops the oldest entries, up to the one given. */
  {
    const struct journal_entry *h = journal_head (&j);

    CHECK (h && h->offset == 4096);
    journal_drop_before (&j, h->next->next); /* e2, e1 go; z stays */
    CHECK (journal_count (&j) == 3);
    CHECK (journal_head (&j)->offset == 1 << 20);
    CHECK (journal_bytes (&j)
           == 3 * JOURNAL_ENTRY_COST + 4096 - 2 * JOURNAL_ENTRY_COST + 4096);
    journal_drop_before (&j, journal_head (&j)); /* nothing */
    CHECK (journal_count (&j) == 3);
  }

  journal_clear (&j);
  CHECK (journal_count (&j) == 0 && journal_bytes (&j) == 0
         && journal_covered (&j) == 0);
  CHECK (journal_head (&j) == NULL);

  /* Dropping everything leaves a journal that appends again. */
  CHECK (!journal_append (&j, journal_entry_new (buf, 0, 512)));
  journal_drop_before (&j, NULL);
  CHECK (journal_count (&j) == 0 && journal_head (&j) == NULL);
  memset (&s, 0, sizeof s);
  s.stop_at = -1;
  CHECK (journal_foreach (&j, collect, &s) == 0 && s.n == 0);

  /* The ring (issue 17): copies of 8 MiB in a journal bounded at 16 MiB
   * (a ring of 16 + 32 MiB), given back first in, first out, wrapping
   * around, and malloc'd when they do not fit; every copy stays intact.
   */
  {
    struct journal r;
    enum
    {
      M8 = 8 << 20
    };
    char *big = malloc (M8);
    const struct journal_entry *e;
    int k = 0;

    CHECK (big != NULL);
    journal_init (&r, 16 << 20);
    for (int i = 0; i < 5; i++)
      {
        memset (big, 'A' + i, M8);
        CHECK (journal_append_copy (&r, big, (uint64_t)i * M8, M8) >= 0);
      }
    CHECK (journal_append_copy (&r, NULL, 1 << 30, 4096) == 1); /* a zero */
    CHECK (journal_count (&r) == 6);
    for (e = journal_head (&r); e; e = e->next, k++)
      CHECK (k == 5 ? e->data == NULL
                    : e->in_ring && e->ring_pos == (uint64_t)k * M8);
    /* Drop the three oldest: the ring's start moves to the 4th copy. */
    e = journal_head (&r)->next->next->next;
    journal_drop_before (&r, e);
    CHECK (r.ring_start == 3ULL * M8 && r.ring_end == 5ULL * M8);
    for (int i = 5; i < 9; i++)
      {
        memset (big, 'A' + i, M8);
        CHECK (journal_append_copy (&r, big, (uint64_t)i * M8, M8) >= 0);
      }
    /* 40-48 MiB, then wrapped to 0-8 and 8-16, then no room: malloc. */
    k = 0;
    for (e = journal_head (&r); e; e = e->next, k++)
      {
        static const int64_t pos[] = { 3 * M8, 4 * M8, -2, 5 * M8, 0, M8, -1 };

        if (pos[k] == -2)
          CHECK (e->data == NULL);
        else if (pos[k] == -1)
          CHECK (!e->in_ring && e->data != NULL);
        else
          CHECK (e->in_ring && e->ring_pos == (uint64_t)pos[k]);
        if (e->data)
          CHECK (((char *)e->data)[0] == 'A' + (int)(e->offset / M8)
                 && ((char *)e->data)[M8 - 1] == 'A' + (int)(e->offset / M8));
      }
    CHECK (k == 7);
    /* Dropping all but the last two (wrapped) copies: the start follows. */
    e = journal_head (&r);
    for (int i = 0; i < 5; i++)
      e = e->next;
    journal_drop_before (&r, e);
    CHECK (r.ring_start == M8 && r.ring_entries == 1);
    journal_clear (&r);
    CHECK (r.ring_entries == 0 && r.ring_start == 0 && r.ring_end == 0);
    CHECK (journal_append_copy (&r, big, 0, M8) == 0);
    CHECK (journal_head (&r)->in_ring && journal_head (&r)->ring_pos == 0);
    journal_free (&r);
    free (big);
  }

  /* Usable again after a clear; free releases what is left. */
  CHECK (!journal_append (&j, journal_entry_new (buf, 0, 512)));
  journal_entry_free (NULL);
  journal_free (&j);
  return 0;
}
