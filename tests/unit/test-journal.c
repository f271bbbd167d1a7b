/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/journal.c: entries come back in the order they were
 * appended, with their own copy of the data; the bound is reported; clear
 * drops everything.
 */
#include <stdint.h>
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

  /* Usable again after a clear; free releases what is left. */
  CHECK (!journal_append (&j, journal_entry_new (buf, 0, 512)));
  journal_entry_free (NULL);
  journal_free (&j);
  return 0;
}
