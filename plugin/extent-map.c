/* SPDX-License-Identifier: BSD-3-Clause */
/* The extent map (see extent-map.h): a sorted list of extent starts, each
 * with a type; extent I covers [start[I], start[I+1]) and the last one ends
 * at the map's size.  Adjacent extents always differ in type.
 *
 * Structure: a chunked array.  Entries live in fixed-size blocks of at most
 * BLOCK_MAX entries (starts and types in separate arrays, 9 bytes per
 * entry), and a small index holds each block's pointer and first start.
 *   - lookup: binary search of the index, then of one block: O(log n);
 *   - set: removes the entries inside the range and inserts at most two, so
 *     it touches one block (plus the blocks it empties) and moves at most
 *     BLOCK_MAX entries; the index moves only when a block splits (after at
 *     least BLOCK_MAX/2 inserts into it) or disappears, so its O(n/BLOCK_MAX)
 *     cost is amortized away.  Neighbouring blocks that together hold at most
 *     MERGE_MAX entries are merged, so blocks stay at least 3/8 full on
 *     average (<= 24 bytes per extent plus the index), and a map built by
 *     extent_map_append has full blocks (about 9 bytes per extent).
 * Why not a main array plus an overlay: range updates over an overlay make
 * every lookup merge two lists; blocks keep each operation local and simple.
 *
 * extent_map_set never fails half-way: the memory a split may need (a spare
 * block, index room) is reserved before anything changes.
 *
 * Pure: no I/O, no locks, no nbdkit symbols (unit tests link it alone).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extent-map.h"
#include "vector.h"

#define BLOCK_MAX 512
#define MERGE_MAX (BLOCK_MAX * 3 / 4)

struct block
{
  uint32_t n; /* entries used */
  uint64_t start[BLOCK_MAX];
  uint8_t type[BLOCK_MAX];
};

/* One index entry: a block and its first start, side by side so the binary
 * search of the index reads one array.
 */
struct index_entry
{
  uint64_t first; /* == block->start[0] */
  struct block *block;
};
DEFINE_VECTOR_TYPE (block_index, struct index_entry);

struct extent_map
{
  uint64_t size;
  uint64_t end; /* building: end of the appended extents */
  bool finished;
  uint64_t count;      /* entries in all blocks */
  block_index index;   /* index.len blocks, none empty */
  struct block *spare; /* reserved for the next split, or NULL */
};

/* A position in the entry list: block BI, entry I (I == n means "after the
 * block's last entry"; BI == index.len means "the end").
 */
struct pos
{
  size_t bi;
  uint32_t i;
};

struct extent_map *
extent_map_new (uint64_t size)
{
  struct extent_map *m = calloc (1, sizeof *m);

  if (m == NULL)
    return NULL;
  m->size = size;
  return m;
}

void
extent_map_free (struct extent_map *m)
{
  size_t i;

  if (m == NULL)
    return;
  for (i = 0; i < m->index.len; i++)
    free (m->index.ptr[i].block);
  block_index_reset (&m->index);
  free (m->spare);
  free (m);
}

/* Makes room in the index for at least WANT blocks. */
static int
reserve_index (struct extent_map *m, size_t want)
{
  if (want <= m->index.cap)
    return 0;
  return block_index_reserve (&m->index, want - m->index.len);
}

static struct block *
new_block (struct extent_map *m)
{
  struct block *b = m->spare;

  if (b != NULL)
    m->spare = NULL;
  else
    {
      b = malloc (sizeof *b);
      if (b == NULL)
        return NULL;
    }
  b->n = 0;
  return b;
}

/* Keeps a freed block as the spare (saves an allocation later). */
static void
drop_block (struct extent_map *m, struct block *b)
{
  if (m->spare == NULL)
    m->spare = b;
  else
    free (b);
}

/* Adds one entry at the end (building only). */
static int
push_entry (struct extent_map *m, uint64_t start, uint8_t type)
{
  struct block *b = m->index.len ? m->index.ptr[m->index.len - 1].block : NULL;

  if (b == NULL || b->n == BLOCK_MAX)
    {
      if (reserve_index (m, m->index.len + 1) == -1)
        return -1;
      b = new_block (m);
      if (b == NULL)
        return -1;
      /* Cannot fail: room reserved above. */
      block_index_append (&m->index, (struct index_entry){ start, b });
    }
  b->start[b->n] = start;
  b->type[b->n] = type;
  b->n++;
  m->count++;
  return 0;
}

static bool
valid_type (uint32_t type)
{
  return type == EXTENT_TYPE_DATA || type == EXTENT_TYPE_ZERO
         || type == EXTENT_TYPE_HOLE_ZERO || type == EXTENT_TYPE_HOLE;
}

/* The type of the last entry, or -1 when there is none. */
static int
last_type (const struct extent_map *m)
{
  const struct block *b;

  if (m->index.len == 0)
    return -1;
  b = m->index.ptr[m->index.len - 1].block;
  return b->type[b->n - 1];
}

int
extent_map_append (struct extent_map *m, uint64_t start, uint64_t length,
                   uint32_t type, const char **why)
{
  if (m->finished)
    {
      *why = "the map is already complete";
      return -1;
    }
  if (start != m->end)
    {
      *why = "extent does not start where the previous one ended";
      return -1;
    }
  if (length == 0)
    {
      *why = "extent has length 0";
      return -1;
    }
  if (length > UINT64_MAX - start)
    {
      *why = "extent ends past 2^64";
      return -1;
    }
  if (!valid_type (type))
    {
      *why = "invalid extent type";
      return -1;
    }
  m->end = start + length;
  if (start >= m->size) /* past the image: clipped away */
    return 0;
  if (last_type (m) == (int)type) /* merge with the previous one */
    return 0;
  if (push_entry (m, start, type) == -1)
    {
      *why = "out of memory";
      return -1;
    }
  return 0;
}

void
extent_map_resize (struct extent_map *m, uint64_t size)
{
  assert (!m->finished);
  while (m->index.len > 0)
    {
      struct block *b = m->index.ptr[m->index.len - 1].block;

      if (b->start[b->n - 1] < size)
        break;
      b->n--;
      m->count--;
      if (b->n == 0)
        {
          m->index.len--;
          drop_block (m, b);
        }
    }
  m->size = size;
}

int
extent_map_finish (struct extent_map *m, const char **why)
{
  if (m->end < m->size)
    {
      *why = "the extents end before the end of the image";
      return -1;
    }
  m->finished = true;
  return 0;
}

uint64_t
extent_map_size (const struct extent_map *m)
{
  return m->size;
}

uint64_t
extent_map_count (const struct extent_map *m)
{
  return m->count;
}

uint64_t
extent_map_memory (const struct extent_map *m)
{
  return sizeof *m
         + (uint64_t)(m->index.len + (m->spare != NULL)) * sizeof (struct block)
         + (uint64_t)m->index.cap * sizeof m->index.ptr[0];
}

/* The position of the entry holding X (the last start <= X).  The map must
 * be non-empty and X < size.
 */
static struct pos
find (const struct extent_map *m, uint64_t x)
{
  size_t lo = 0, hi = m->index.len; /* last block with first <= x */
  const struct block *b;
  uint32_t l, h;
  struct pos p;

  while (hi - lo > 1)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (m->index.ptr[mid].first <= x)
        lo = mid;
      else
        hi = mid;
    }
  b = m->index.ptr[lo].block;
  l = 0;
  h = b->n;
  while (h - l > 1)
    {
      uint32_t mid = l + (h - l) / 2;
      if (b->start[mid] <= x)
        l = mid;
      else
        h = mid;
    }
  p.bi = lo;
  p.i = l;
  return p;
}

static inline struct pos
next_pos (const struct extent_map *m, struct pos p)
{
  if (++p.i >= m->index.ptr[p.bi].block->n)
    {
      p.bi++;
      p.i = 0;
    }
  return p;
}

static inline uint64_t
pos_start (const struct extent_map *m, struct pos p)
{
  return m->index.ptr[p.bi].block->start[p.i];
}

static inline uint8_t
pos_type (const struct extent_map *m, struct pos p)
{
  return m->index.ptr[p.bi].block->type[p.i];
}

/* End of the extent at P. */
static inline uint64_t
pos_end (const struct extent_map *m, struct pos p)
{
  struct pos q = next_pos (m, p);

  return q.bi < m->index.len ? pos_start (m, q) : m->size;
}

int
extent_map_query (const struct extent_map *m, uint64_t offset, uint64_t count,
                  bool one,
                  int (*fn) (void *opaque, uint64_t start, uint64_t length,
                             uint32_t type),
                  void *opaque)
{
  uint64_t limit, from;
  struct pos p;

  if (offset >= m->size || m->count == 0)
    return 0;
  limit = count > m->size - offset ? m->size : offset + count;
  p = find (m, offset);
  from = offset;
  for (;;)
    {
      uint64_t end = pos_end (m, p);

      if (fn (opaque, from, end - from, pos_type (m, p)) == -1)
        return -1;
      if (one || end >= limit)
        return 0;
      p = next_pos (m, p);
      from = end;
    }
}

bool
extent_map_is_zero (const struct extent_map *m, uint64_t offset,
                    uint64_t length)
{
  uint64_t end;
  struct pos p;

  if (length == 0)
    return true;
  if (offset >= m->size || length > m->size - offset || m->count == 0)
    return false; /* bytes past the image never read as 0 */
  end = offset + length;
  p = find (m, offset);
  for (;;)
    {
      if (!(pos_type (m, p) & EXTENT_TYPE_ZERO))
        return false;
      if (pos_end (m, p) >= end)
        return true;
      p = next_pos (m, p);
    }
}

/* Removes block BI from the index (it must be empty). */
static void
remove_block (struct extent_map *m, size_t bi)
{
  drop_block (m, m->index.ptr[bi].block);
  block_index_remove (&m->index, bi);
}

/* Merges block BI+1 into block BI when both fit in MERGE_MAX.  Returns
 * true when it merged.
 */
static bool
try_merge (struct extent_map *m, size_t bi)
{
  struct block *a, *b;

  if (bi + 1 >= m->index.len)
    return false;
  a = m->index.ptr[bi].block;
  b = m->index.ptr[bi + 1].block;
  if (a->n + b->n > MERGE_MAX)
    return false;
  memcpy (&a->start[a->n], b->start, b->n * sizeof b->start[0]);
  memcpy (&a->type[a->n], b->type, b->n);
  a->n += b->n;
  b->n = 0;
  remove_block (m, bi + 1);
  return true;
}

/* Inserts entry (START, TYPE) at position P (P.i <= block's n); splits the
 * block when it is full, using the spare block and index room reserved by
 * the caller.  Returns the position just after the new entry.
 */
static struct pos
insert_at (struct extent_map *m, struct pos p, uint64_t start, uint8_t type)
{
  struct block *b = m->index.ptr[p.bi].block;

  if (b->n == BLOCK_MAX)
    {
      struct block *c = m->spare; /* reserved by extent_map_set */
      uint32_t half = BLOCK_MAX / 2;

      assert (c != NULL);
      m->spare = NULL;
      memcpy (c->start, &b->start[half],
              (BLOCK_MAX - half) * sizeof b->start[0]);
      memcpy (c->type, &b->type[half], BLOCK_MAX - half);
      c->n = BLOCK_MAX - half;
      b->n = half;
      /* Cannot fail: index room reserved by extent_map_set. */
      block_index_insert (&m->index, (struct index_entry){ c->start[0], c },
                          p.bi + 1);
      if (p.i > half)
        {
          p.bi++;
          p.i -= half;
          b = c;
        }
    }
  memmove (&b->start[p.i + 1], &b->start[p.i],
           (b->n - p.i) * sizeof b->start[0]);
  memmove (&b->type[p.i + 1], &b->type[p.i], b->n - p.i);
  b->start[p.i] = start;
  b->type[p.i] = type;
  b->n++;
  if (p.i == 0)
    m->index.ptr[p.bi].first = start;
  m->count++;
  p.i++;
  return p;
}

/* Removes the entries from P1 up to (not including) P2. */
static void
remove_range (struct extent_map *m, struct pos p1, struct pos p2)
{
  struct block *b1 = m->index.ptr[p1.bi].block;
  size_t gone, k;

  if (p1.bi == p2.bi)
    {
      memmove (&b1->start[p1.i], &b1->start[p2.i],
               (b1->n - p2.i) * sizeof b1->start[0]);
      memmove (&b1->type[p1.i], &b1->type[p2.i], b1->n - p2.i);
      b1->n -= p2.i - p1.i;
      m->count -= p2.i - p1.i;
      if (b1->n > 0)
        m->index.ptr[p1.bi].first = b1->start[0];
      return;
    }

  /* Truncate block p1.bi, free the blocks in between, cut the head of
   * block p2.bi (if it exists).
   */
  m->count -= b1->n - p1.i;
  b1->n = p1.i;
  for (k = p1.bi + 1; k < p2.bi; k++)
    {
      m->count -= m->index.ptr[k].block->n;
      m->index.ptr[k].block->n = 0;
      drop_block (m, m->index.ptr[k].block);
    }
  gone = p2.bi - p1.bi - 1;
  if (gone > 0)
    {
      memmove (&m->index.ptr[p1.bi + 1], &m->index.ptr[p2.bi],
               (m->index.len - p2.bi) * sizeof m->index.ptr[0]);
      m->index.len -= gone;
    }
  if (p1.bi + 1 < m->index.len && p2.i > 0)
    {
      struct block *b2 = m->index.ptr[p1.bi + 1].block;

      memmove (b2->start, &b2->start[p2.i],
               (b2->n - p2.i) * sizeof b2->start[0]);
      memmove (b2->type, &b2->type[p2.i], b2->n - p2.i);
      b2->n -= p2.i;
      m->count -= p2.i;
      if (b2->n > 0)
        m->index.ptr[p1.bi + 1].first = b2->start[0];
    }
}

/* Set [OFFSET, END) to TYPE:
 *   1. remember BEFORE, the type just before OFFSET, and AFTER, the type
 *      at END;
 *   2. remove every entry starting in [OFFSET, END];
 *   3. insert (OFFSET, TYPE) unless BEFORE == TYPE (merged with it), and
 *      (END, AFTER) unless END is the map's end or AFTER == TYPE.
 * The result is sorted and merged: the entry after END (if any) differed
 * from AFTER before, and nothing else changed.
 */
/* Reserves what a split may need, so nothing in extent_map_set can fail
 * after it changed the map.
 */
static int
reserve_for_set (struct extent_map *m)
{
  if (m->spare == NULL)
    {
      m->spare = malloc (sizeof *m->spare);
      if (m->spare == NULL)
        return -1;
    }
  return reserve_index (m, m->index.len + 1);
}

/* The extents that [OFFSET, END) replaces run from *P1 to *P2 (excluded);
 * *BEFORE and *AFTER get the types around the range (-1 at the edges of
 * the image).
 */
static void
find_bounds (struct extent_map *m, uint64_t offset, uint64_t end,
             struct pos *p1, struct pos *p2, int *before, int *after)
{
  *before = *after = -1;
  *p1 = find (m, offset);
  if (pos_start (m, *p1) < offset)
    {
      *before = pos_type (m, *p1);
      *p1 = next_pos (m, *p1);
    }
  else if (offset > 0)
    {
      /* p1 starts at OFFSET; the extent before it ends at OFFSET. */
      struct pos q = find (m, offset - 1);
      *before = pos_type (m, q);
    }
  if (end < m->size)
    {
      *p2 = find (m, end);
      *after = pos_type (m, *p2);
      *p2 = next_pos (m, *p2);
    }
  else
    {
      p2->bi = m->index.len;
      p2->i = 0;
    }
}

/* Normalizes an insert position after a removal: past a block's end goes
 * to the end of that block, past the last block to the end of the last
 * block, into an emptied block to the end of the previous one.
 */
static struct pos
insert_pos (struct extent_map *m, struct pos p1)
{
  if (p1.bi >= m->index.len)
    {
      if (m->index.len == 0)
        {
          /* Everything was removed (OFFSET == 0, END == size): start afresh
           * with the spare block.
           */
          m->index.ptr[0].block = new_block (m);
          m->index.ptr[0].first = 0;
          m->index.len = 1;
          p1.bi = 0;
          p1.i = 0;
        }
      else
        {
          p1.bi = m->index.len - 1;
          p1.i = m->index.ptr[p1.bi].block->n;
        }
    }
  if (m->index.ptr[p1.bi].block->n == 0 && p1.bi > 0)
    {
      /* An emptied block: insert at the end of the previous one instead. */
      remove_block (m, p1.bi);
      p1.bi--;
      p1.i = m->index.ptr[p1.bi].block->n;
    }
  else if (p1.i == 0 && p1.bi > 0)
    {
      /* Prefer appending to the previous block (keeps first[] untouched). */
      p1.bi--;
      p1.i = m->index.ptr[p1.bi].block->n;
    }
  return p1;
}

/* Drops an empty block near BI (possible when nothing was inserted), then
 * merges small neighbours around the change.
 */
static void
tidy_around (struct extent_map *m, size_t bi)
{
  if (bi >= m->index.len)
    bi = m->index.len - 1;
  if (m->index.len > 1 && m->index.ptr[bi].block->n == 0)
    {
      remove_block (m, bi);
      if (bi > 0)
        bi--;
    }
  if (bi + 1 < m->index.len && m->index.ptr[bi + 1].block->n == 0)
    remove_block (m, bi + 1);
  while (bi > 0 && try_merge (m, bi - 1))
    bi--;
  while (try_merge (m, bi))
    ;
}

int
extent_map_set (struct extent_map *m, uint64_t offset, uint64_t length,
                uint32_t type)
{
  uint64_t end;
  int before, after;
  bool ins_start, ins_end;
  struct pos p1, p2;

  if (!valid_type (type))
    {
      errno = EINVAL;
      return -1;
    }
  if (length == 0 || offset >= m->size || m->count == 0)
    return 0;
  end = length > m->size - offset ? m->size : offset + length;
  if (reserve_for_set (m) == -1)
    return -1;

  find_bounds (m, offset, end, &p1, &p2, &before, &after);
  ins_start = before != (int)type;
  ins_end = end < m->size && after != (int)type;
  /* P2 is never before P1 (END > OFFSET); equal means nothing to remove. */
  if (p1.bi != p2.bi || p1.i != p2.i)
    remove_range (m, p1, p2);
  else if (!ins_start && !ins_end)
    return 0; /* the range already has TYPE */

  p1 = insert_pos (m, p1);
  /* An insert splits a full block with the spare; after a split both
   * halves have room, so the second insert never needs another spare.
   */
  if (ins_start)
    p1 = insert_at (m, p1, offset, type);
  if (ins_end)
    {
      assert (m->index.ptr[p1.bi].block->n < BLOCK_MAX || m->spare != NULL);
      p1 = insert_at (m, p1, end, after);
    }
  tidy_around (m, p1.bi);
  return 0;
}

int
extent_map_unhole (struct extent_map *m, uint64_t offset, uint64_t length)
{
  uint64_t end, pos;
  struct pos p;

  if (length == 0 || offset >= m->size || m->count == 0)
    return 0;
  end = length > m->size - offset ? m->size : offset + length;
  pos = offset;
  p = find (m, pos);
  while (pos < end)
    {
      uint64_t e = pos_end (m, p);

      if (e > end)
        e = end;
      if (pos_type (m, p) == EXTENT_TYPE_HOLE_ZERO)
        {
          if (extent_map_set (m, pos, e - pos, EXTENT_TYPE_ZERO) == -1)
            return -1;
          if (e < end) /* the set moved entries: look again */
            p = find (m, e);
        }
      else if (e < end)
        p = next_pos (m, p);
      pos = e;
    }
  return 0;
}

int
extent_map_set_allocating (struct extent_map *m, uint64_t offset,
                           uint64_t length, uint32_t type, uint64_t align)
{
  uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
  uint64_t lo = offset & ~(align - 1);
  uint64_t hi = end > UINT64_MAX - align ? UINT64_MAX
                                         : (end + align - 1) & ~(align - 1);

  assert (align > 0 && (align & (align - 1)) == 0);
  if (length == 0 || offset >= m->size)
    return 0; /* nothing written, nothing allocated */
  if (extent_map_set (m, offset, length, type) == -1
      || extent_map_unhole (m, lo, offset - lo) == -1
      || extent_map_unhole (m, end, hi - end) == -1)
    return -1;
  return 0;
}
