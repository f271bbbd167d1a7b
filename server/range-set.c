/* SPDX-License-Identifier: BSD-3-Clause */
/* A set of byte ranges (see range-set.h). */
#include "range-set.h"

/* The first range that ends at or after START (may be len). */
static size_t
first_reaching (const struct range_set *s, uint64_t start)
{
  size_t lo = 0, hi = s->ranges.len;

  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;

      if (s->ranges.ptr[mid].end < start)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

void
range_set_add (struct range_set *s, uint64_t start, uint64_t len)
{
  uint64_t end = len > UINT64_MAX - start ? UINT64_MAX : start + len;
  size_t i, j;

  if (start >= end)
    return;
  i = first_reaching (s, start);
  /* Ranges i .. j-1 touch or overlap [start, end): merged into one. */
  for (j = i; j < s->ranges.len && s->ranges.ptr[j].start <= end; j++)
    ;
  if (i == j)
    {
      /* Apart from every range kept: inserted, or (past the bound, or out
       * of memory) only counted.
       */
      if (s->ranges.len < RANGE_SET_MAX)
        (void)byte_range_vec_insert (&s->ranges,
                                     (struct byte_range){ start, end }, i);
      s->total += end - start;
      return;
    }
  {
    struct byte_range m = s->ranges.ptr[i];

    for (size_t k = i; k < j; k++)
      s->total -= s->ranges.ptr[k].end - s->ranges.ptr[k].start;
    if (start < m.start)
      m.start = start;
    m.end = s->ranges.ptr[j - 1].end > end ? s->ranges.ptr[j - 1].end : end;
    s->total += m.end - m.start;
    s->ranges.ptr[i] = m;
    while (j > i + 1)
      byte_range_vec_remove (&s->ranges, --j);
  }
}

void
range_set_reset (struct range_set *s)
{
  byte_range_vec_reset (&s->ranges);
  s->total = 0;
}
