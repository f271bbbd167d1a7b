/* SPDX-License-Identifier: BSD-3-Clause */
/* The extent map: which ranges of the image are data, zero, or hole+zero.
 * Types use nbdkit's bits: 0 = data, NBDKIT_EXTENT_ZERO (2),
 * NBDKIT_EXTENT_HOLE|NBDKIT_EXTENT_ZERO (3), and NBDKIT_EXTENT_HOLE alone (1)
 * in maps of dirty extents (read-only exports: no updates).  Adjacent equal
 * extents are always merged.
 *
 * Pure data structure, no I/O, no locks (extents.c locks around it):
 * lookup is O(log n), and an update costs O(log n) amortized, independent of
 * the map's size (no copying of the whole array per write).
 */
#ifndef IMAGEIO_EXTENT_MAP_H
#define IMAGEIO_EXTENT_MAP_H

#include <stdbool.h>
#include <stdint.h>

#define EXTENT_TYPE_DATA 0
#define EXTENT_TYPE_HOLE 1      /* NBDKIT_EXTENT_HOLE: dirty context, clean */
#define EXTENT_TYPE_ZERO 2      /* NBDKIT_EXTENT_ZERO */
#define EXTENT_TYPE_HOLE_ZERO 3 /* NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO */

struct extent_map;

/* An empty map for an image of SIZE bytes, to be filled with
 * extent_map_append.  NULL on ENOMEM.
 */
struct extent_map *extent_map_new (uint64_t size);
void extent_map_free (struct extent_map *m);

/* While building: appends [START, START+LENGTH) of TYPE; START must equal the
 * end of the previous extent.  Parts past SIZE are clipped; appending after
 * SIZE is reached is ignored.  Returns 0, or -1 with *WHY set.
 */
int extent_map_append (struct extent_map *m, uint64_t start, uint64_t length,
                       uint32_t type, const char **why);
/* While building: makes the map SIZE bytes long, dropping what was
 * appended at or past SIZE (the last extent is clipped).  For a document
 * that turns out to describe less than first thought (a window of the
 * image rather than all of it).
 */
void extent_map_resize (struct extent_map *m, uint64_t size);
/* Ends building; fails unless the extents cover [0, SIZE). */
int extent_map_finish (struct extent_map *m, const char **why);

uint64_t extent_map_size (const struct extent_map *m);
/* Number of extents (after merging). */
uint64_t extent_map_count (const struct extent_map *m);
/* Bytes of memory the map holds (for debug output and tests). */
uint64_t extent_map_memory (const struct extent_map *m);

/* Calls FN for each extent overlapping [OFFSET, OFFSET+COUNT), starting with
 * the one that holds OFFSET (reported from OFFSET), clipped to the end of
 * the map but not to OFFSET+COUNT, in order; stops after the first when ONE
 * is true, or when FN returns -1 (then returns -1).
 */
int extent_map_query (const struct extent_map *m, uint64_t offset,
                      uint64_t count, bool one,
                      int (*fn) (void *opaque, uint64_t start, uint64_t length,
                                 uint32_t type),
                      void *opaque);

/* Sets [OFFSET, OFFSET+LENGTH) (clipped to the map) to TYPE.  Returns 0 or
 * -1 on ENOMEM (the map is then unchanged).
 */
int extent_map_set (struct extent_map *m, uint64_t offset, uint64_t length,
                    uint32_t type);

/* Turns the hole+zero parts of [OFFSET, OFFSET+LENGTH) (clipped to the
 * map) into ZERO; data and zero stay.  Walks the extents in the range
 * (O(log n) to find the first) and costs one extent_map_set per hole.
 * Returns 0, or -1 on ENOMEM (the map is then valid, but some of those
 * holes may remain).
 */
int extent_map_unhole (struct extent_map *m, uint64_t offset, uint64_t length);

/* What a write, zero or failed request does to a qcow2 image whose
 * clusters are at most ALIGN bytes (a power of 2): [OFFSET, OFFSET+LENGTH)
 * becomes TYPE, and the holes in the rest of the ALIGN-aligned blocks it
 * touches become ZERO (their clusters may now be allocated).  The two edges
 * hold fewer than ALIGN bytes each, so the extra cost is bounded by the
 * extents there.  A range past the end changes nothing.  Returns 0, or -1
 * on ENOMEM (the map is then valid but may miss part of the update).
 */
int extent_map_set_allocating (struct extent_map *m, uint64_t offset,
                               uint64_t length, uint32_t type, uint64_t align);

/* True when all of [OFFSET, OFFSET+LENGTH) reads as zeroes. */
bool extent_map_is_zero (const struct extent_map *m, uint64_t offset,
                         uint64_t length);

#endif
