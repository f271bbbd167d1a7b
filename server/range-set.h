/* SPDX-License-Identifier: BSD-3-Clause */
/* A set of byte ranges, for a ticket's "transferred": the bytes its
 * completed requests covered, each byte counted once however often it was
 * read or written (as imageio counts them).
 *
 * Contract: pure, no locking (the ticket store's lock covers it).  Ranges
 * are kept sorted, disjoint and not touching; adding one is O(log n) to
 * find its place plus the merge.  At most RANGE_SET_MAX ranges are kept:
 * past that a new separate range is counted in the total without being
 * kept (the total may then count a byte twice, an over-estimate that only
 * a client scattering tens of thousands of separate requests can cause).
 */
#ifndef SERVER_RANGE_SET_H
#define SERVER_RANGE_SET_H

#include <stdint.h>

#include "vector.h"

#define RANGE_SET_MAX 65536

struct byte_range
{
  uint64_t start, end; /* [start, end) */
};

DEFINE_VECTOR_TYPE (byte_range_vec, struct byte_range);

struct range_set
{
  byte_range_vec ranges;
  uint64_t total; /* bytes covered */
};

/* Adds [START, START + LEN).  Out of memory: counted, not kept. */
void range_set_add (struct range_set *s, uint64_t start, uint64_t len);
void range_set_reset (struct range_set *s);

#endif
