/* SPDX-License-Identifier: BSD-3-Clause */
/* server/range-set.c: a ticket's "transferred" counts each byte once. */
#include <stdio.h>

#include "check.h"
#include "range-set.h"

int
main (void)
{
  struct range_set s = { .ranges = VECTOR_INIT };

  /* What the real daemon showed: 64 KiB, then an overlapping 64 KiB
   * (96 KiB in all), then the first again (still 96 KiB).
   */
  range_set_add (&s, 0, 65536);
  CHECK (s.total == 65536);
  range_set_add (&s, 32768, 65536);
  CHECK (s.total == 98304 && s.ranges.len == 1);
  range_set_add (&s, 0, 65536);
  CHECK (s.total == 98304 && s.ranges.len == 1);

  /* Apart, touching, bridging, inside, covering, empty. */
  range_set_add (&s, 200000, 1000);
  CHECK (s.total == 99304 && s.ranges.len == 2);
  range_set_add (&s, 98304, 100); /* touches the first */
  CHECK (s.total == 99404 && s.ranges.len == 2);
  range_set_add (&s, 150000, 10); /* between them */
  CHECK (s.total == 99414 && s.ranges.len == 3);
  range_set_add (&s, 90000, 150000 - 90000); /* bridges the first two */
  CHECK (s.ranges.len == 2 && s.ranges.ptr[0].start == 0
         && s.ranges.ptr[0].end == 150010 && s.total == 150010 + 1000);
  range_set_add (&s, 200100, 10); /* inside */
  CHECK (s.total == 151010 && s.ranges.len == 2);
  range_set_add (&s, 0, 300000); /* covers everything */
  CHECK (s.total == 300000 && s.ranges.len == 1);
  range_set_add (&s, 5, 0);
  CHECK (s.total == 300000);
  /* Sorted and disjoint after ranges in reverse order. */
  range_set_reset (&s);
  for (int i = 99; i >= 0; i--)
    range_set_add (&s, (uint64_t)i * 10, 5);
  CHECK (s.ranges.len == 100 && s.total == 500);
  for (size_t i = 1; i < s.ranges.len; i++)
    CHECK (s.ranges.ptr[i - 1].end < s.ranges.ptr[i].start);
  /* The end of the address space. */
  range_set_add (&s, UINT64_MAX - 10, 100);
  CHECK (s.total == 510);
  /* Past RANGE_SET_MAX separate ranges: counted, not kept. */
  range_set_reset (&s);
  for (uint64_t i = 0; i < RANGE_SET_MAX + 10; i++)
    range_set_add (&s, i * 2, 1);
  CHECK (s.ranges.len == RANGE_SET_MAX && s.total == RANGE_SET_MAX + 10);
  range_set_reset (&s);
  CHECK (s.total == 0 && s.ranges.len == 0);
  printf ("range-set: ok\n");
  return 0;
}
