/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/extent-map.c: a randomized comparison against a
 * trivial model (one type byte per image byte), edge cases, and a timing
 * sanity check on 1,000,000 extents (printed, not asserted).
 *
 * Aborts on the first failure.  Seeded from $TEST_SEED or the time; the seed
 * is printed so a failure can be replayed.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extent-map.h"

#define CHECK(cond)                                                            \
  do                                                                           \
    {                                                                          \
      if (!(cond))                                                             \
        {                                                                      \
          fprintf (stderr, "%s:%d: check failed: %s (seed %u, op %d)\n",       \
                   __FILE__, __LINE__, #cond, seed, op_no);                    \
          abort ();                                                            \
        }                                                                      \
    }                                                                          \
  while (0)

static unsigned seed;
static int op_no;

/* xorshift64*: reproducible across libcs. */
static uint64_t rng_state;
static uint64_t
rnd (void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

/* Uniform-ish in [0, n). */
static uint64_t
rnd_below (uint64_t n)
{
  return n ? rnd () % n : 0;
}

static uint32_t
rnd_type (void)
{
  static const uint32_t types[]
      = { EXTENT_TYPE_DATA, EXTENT_TYPE_ZERO, EXTENT_TYPE_HOLE_ZERO };
  return types[rnd_below (3)];
}

/* Collects what extent_map_query reports. */
struct got
{
  size_t n;
  size_t cap;
  uint64_t *start, *len;
  uint32_t *type;
  int fail_after; /* return -1 on this call (0: never) */
};

static int
collect (void *opaque, uint64_t start, uint64_t length, uint32_t type)
{
  struct got *g = opaque;

  if (g->n == g->cap)
    {
      g->cap = g->cap ? g->cap * 2 : 64;
      g->start = realloc (g->start, g->cap * sizeof *g->start);
      g->len = realloc (g->len, g->cap * sizeof *g->len);
      g->type = realloc (g->type, g->cap * sizeof *g->type);
      if (!g->start || !g->len || !g->type)
        abort ();
    }
  g->start[g->n] = start;
  g->len[g->n] = length;
  g->type[g->n] = type;
  g->n++;
  if (g->fail_after && (int)g->n == g->fail_after)
    return -1;
  return 0;
}

static void
got_free (struct got *g)
{
  free (g->start);
  free (g->len);
  free (g->type);
  memset (g, 0, sizeof *g);
}

/* Number of runs in the model = the exact merged extent count. */
static uint64_t
model_count (const uint8_t *model, uint64_t size)
{
  uint64_t i, n = size ? 1 : 0;

  for (i = 1; i < size; i++)
    n += model[i] != model[i - 1];
  return n;
}

/* Checks one query against the model. */
static void
check_query (const struct extent_map *m, const uint8_t *model, uint64_t size,
             uint64_t offset, uint64_t count, bool one)
{
  struct got g = { 0 };
  uint64_t pos = offset, limit;
  size_t k;

  CHECK (extent_map_query (m, offset, count, one, collect, &g) == 0);
  if (offset >= size)
    {
      CHECK (g.n == 0);
      return;
    }
  CHECK (g.n >= 1);
  if (one)
    CHECK (g.n == 1);
  for (k = 0; k < g.n; k++)
    {
      uint64_t b;

      CHECK (g.start[k] == pos); /* from OFFSET, contiguous */
      CHECK (g.len[k] > 0);
      CHECK (g.start[k] + g.len[k] <= size); /* clipped to the map */
      for (b = g.start[k]; b < g.start[k] + g.len[k]; b++)
        CHECK (model[b] == g.type[k]);
      pos += g.len[k];
      /* Maximal: the next byte has another type. */
      if (pos < size)
        CHECK (model[pos] != g.type[k]);
    }
  limit = count > size - offset ? size : offset + count;
  if (!one)
    {
      CHECK (pos >= limit); /* covers the request */
      if (g.n >= 2)         /* and stops at the first past it */
        CHECK (g.start[g.n - 1] < limit);
    }
  got_free (&g);
}

static bool
model_is_zero (const uint8_t *model, uint64_t size, uint64_t offset,
               uint64_t length)
{
  uint64_t b;

  if (length == 0)
    return true;
  if (offset >= size || length > size - offset)
    return false;
  for (b = offset; b < offset + length; b++)
    if (!(model[b] & EXTENT_TYPE_ZERO))
      return false;
  return true;
}

static void
model_set (uint8_t *model, uint64_t size, uint64_t offset, uint64_t length,
           uint32_t type)
{
  uint64_t b;

  for (b = offset; b < size && b - offset < length; b++)
    model[b] = type;
}

/* An offset that is often near the interesting places. */
static uint64_t
rnd_offset (uint64_t size)
{
  switch (rnd_below (4))
    {
    case 0:
      return rnd_below (size + 10); /* sometimes past the end */
    case 1:
      return size ? size - 1 - rnd_below (size < 8 ? size : 8) : 0;
    case 2:
      return rnd_below (size < 16 ? size : 16);
    default:
      return rnd_below (size);
    }
}

static uint64_t
rnd_length (uint64_t size)
{
  switch (rnd_below (5))
    {
    case 0:
      return 1 + rnd_below (4);
    case 1:
      return rnd_below (size + 100);
    case 2:
      return UINT64_MAX - rnd_below (3); /* clipped */
    default:
      return 1 + rnd_below (64);
    }
}

/* One randomized round: build a map of a random size, then mix random
 * set / query / is_zero operations and compare with the model.
 */
static void
random_round (uint64_t size, int ops)
{
  uint8_t *model = malloc (size + 1);
  struct extent_map *m = extent_map_new (size);
  uint64_t pos = 0;
  const char *why;

  CHECK (model && m);
  /* Build: random lengths, the last may run past SIZE (clipped). */
  while (pos < size)
    {
      uint64_t len = 1 + rnd_below (rnd_below (4) == 0 ? 300 : 12);
      uint32_t t = rnd_type ();

      CHECK (extent_map_append (m, pos, len, t, &why) == 0);
      model_set (model, size, pos, len, t);
      pos += len;
    }
  if (rnd_below (2)) /* appends past SIZE are ignored */
    CHECK (extent_map_append (m, pos, 512, rnd_type (), &why) == 0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_size (m) == size);
  CHECK (extent_map_count (m) == model_count (model, size));

  for (op_no = 0; op_no < ops; op_no++)
    {
      uint64_t off = rnd_offset (size), len = rnd_length (size);

      switch (rnd_below (9))
        {
        case 8:
          {
            /* A write, zero or failure allocating clusters of ALIGN bytes. */
            uint32_t t = rnd_type () & EXTENT_TYPE_ZERO; /* data or zero */
            uint64_t align = 1ULL << rnd_below (8), end, lo, hi, b;

            CHECK (extent_map_set_allocating (m, off, len, t, align) == 0);
            if (off < size && len > 0)
              {
                end = len > size - off ? size : off + len;
                lo = off & ~(align - 1);
                hi = (end + align - 1) & ~(align - 1);
                model_set (model, size, off, len, t);
                for (b = lo; b < hi && b < size; b++)
                  if ((b < off || b >= end)
                      && model[b] == EXTENT_TYPE_HOLE_ZERO)
                    model[b] = EXTENT_TYPE_ZERO;
              }
            CHECK (extent_map_count (m) == model_count (model, size));
            break;
          }
        case 0:
        case 1:
        case 2:
        case 3:
          {
            uint32_t t = rnd_type ();
            CHECK (extent_map_set (m, off, len, t) == 0);
            if (off < size)
              model_set (model, size, off, len, t);
            CHECK (extent_map_count (m) == model_count (model, size));
            break;
          }
        case 4:
        case 5:
          check_query (m, model, size, off, len, rnd_below (4) == 0);
          break;
        case 6:
          CHECK (extent_map_is_zero (m, off, len)
                 == model_is_zero (model, size, off, len));
          break;
        case 7:
          check_query (m, model, size, 0, UINT64_MAX, false);
          break;
        }
    }
  check_query (m, model, size, 0, size, false);
  /* Blocks stay reasonably full: about 24 bytes per extent at worst, plus
   * the index and a few partly used blocks.
   */
  CHECK (extent_map_memory (m) <= 3 * 4700 + 1024 + 26 * extent_map_count (m));
  extent_map_free (m);
  free (model);
}

static void
test_random (void)
{
  int r;

  for (r = 0; r < 60; r++)
    {
      uint64_t size;

      switch (r % 4)
        {
        case 0:
          size = 1 + rnd_below (50);
          break;
        case 1:
          size = 1 + rnd_below (3000);
          break;
        default:
          size = 5000 + rnd_below (40000);
          break; /* many blocks */
        }
      random_round (size, 3000);
    }
}

static int
stop_fn (void *opaque, uint64_t s, uint64_t l, uint32_t t)
{
  (void)opaque;
  (void)s;
  (void)l;
  (void)t;
  return -1;
}

static void
test_edges (void)
{
  struct extent_map *m;
  const char *why;
  struct got g = { 0 };

  op_no = -1;

  /* Append errors. */
  m = extent_map_new (1000);
  CHECK (extent_map_append (m, 1, 10, 0, &why) == -1); /* not from 0 */
  CHECK (extent_map_append (m, 0, 0, 0, &why) == -1);  /* length 0 */
  CHECK (extent_map_append (m, 0, 10, 4, &why) == -1); /* bad type */
  CHECK (extent_map_append (m, 0, 100, 0, &why) == 0);
  CHECK (extent_map_append (m, 50, 100, 0, &why) == -1);         /* overlap */
  CHECK (extent_map_append (m, 200, 100, 0, &why) == -1);        /* gap */
  CHECK (extent_map_append (m, 100, UINT64_MAX, 0, &why) == -1); /* wraps */
  CHECK (extent_map_finish (m, &why) == -1);                     /* short */
  CHECK (extent_map_append (m, 100, 400, 0, &why) == 0);         /* merged */
  CHECK (extent_map_count (m) == 1);
  CHECK (extent_map_append (m, 500, 500, 2, &why) == 0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_append (m, 1000, 5, 2, &why) == -1); /* finished */
  CHECK (extent_map_count (m) == 2);

  /* Query from inside an extent, and ONE. */
  CHECK (extent_map_query (m, 10, 5, false, collect, &g) == 0);
  CHECK (g.n == 1 && g.start[0] == 10 && g.len[0] == 490 && g.type[0] == 0);
  got_free (&g);
  CHECK (extent_map_query (m, 10, 491, false, collect, &g) == 0);
  CHECK (g.n == 2 && g.start[1] == 500 && g.len[1] == 500);
  got_free (&g);
  CHECK (extent_map_query (m, 10, 1000, true, collect, &g) == 0);
  CHECK (g.n == 1);
  got_free (&g);
  CHECK (extent_map_query (m, 0, 1000, false, stop_fn, NULL) == -1);
  g.fail_after = 2;
  CHECK (extent_map_query (m, 0, 1000, false, collect, &g) == -1);
  got_free (&g);
  CHECK (extent_map_query (m, 1000, 10, false, collect, &g) == 0 && g.n == 0);

  /* is_zero. */
  CHECK (extent_map_is_zero (m, 500, 500));
  CHECK (!extent_map_is_zero (m, 499, 2));
  CHECK (!extent_map_is_zero (m, 900, 101)); /* past the end */
  CHECK (extent_map_is_zero (m, 0, 0));

  /* Re-setting a range to its own type does not grow the map. */
  CHECK (extent_map_set (m, 10, 20, 0) == 0);
  CHECK (extent_map_set (m, 600, 20, 2) == 0);
  CHECK (extent_map_count (m) == 2);
  /* Set everything, then split in the middle, then re-merge. */
  CHECK (extent_map_set (m, 0, UINT64_MAX, 3) == 0);
  CHECK (extent_map_count (m) == 1);
  CHECK (extent_map_set (m, 300, 1, 0) == 0);
  CHECK (extent_map_count (m) == 3);
  CHECK (extent_map_set (m, 300, 1, 3) == 0);
  CHECK (extent_map_count (m) == 1);
  CHECK (extent_map_set (m, 0, 0, 0) == 0);     /* empty range */
  CHECK (extent_map_set (m, 5000, 10, 0) == 0); /* past the end */
  CHECK (extent_map_set (m, 0, 1, 7) == -1);    /* bad type */
  CHECK (extent_map_count (m) == 1);
  extent_map_free (m);

  /* qemu rounds the export up to 512: 52441145 bytes, extents to 52441600. */
  m = extent_map_new (52441145);
  CHECK (extent_map_append (m, 0, 52428800, 0, &why) == 0);
  CHECK (extent_map_append (m, 52428800, 12800, 3, &why) == 0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_query (m, 52428800, 1 << 20, false, collect, &g) == 0);
  CHECK (g.n == 1 && g.start[0] + g.len[0] == 52441145 && g.type[0] == 3);
  got_free (&g);
  extent_map_free (m);

  /* An empty image. */
  m = extent_map_new (0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_count (m) == 0);
  CHECK (extent_map_query (m, 0, 10, false, collect, &g) == 0 && g.n == 0);
  CHECK (extent_map_set (m, 0, 10, 0) == 0);
  CHECK (!extent_map_is_zero (m, 0, 1));
  extent_map_free (m);
  extent_map_free (NULL);
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
rss_kib (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  long kib = -1;

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "VmRSS: %ld", &kib) == 1)
      break;
  fclose (f);
  return kib;
}

static int
count_fn (void *opaque, uint64_t s, uint64_t l, uint32_t t)
{
  (void)s;
  (void)l;
  (void)t;
  (*(uint64_t *)opaque)++;
  return 0;
}

/* Build 1,000,000 extents, then 100,000 random sets and queries.  Must take
 * seconds at most; the times are printed, not asserted (CI machines vary).
 */
static void
test_timing (void)
{
  const uint64_t n = 1000000;
  struct extent_map *m;
  const char *why;
  uint64_t pos = 0, i, size, reported = 0;
  long rss0 = rss_kib (), rss1;
  double t0 = now (), t1, t2, t3;

  op_no = -2;
  size = n * 131072 + 12345; /* > the sum of n-1 lengths */
  m = extent_map_new (size);
  CHECK (m);
  for (i = 0; i < n; i++)
    {
      uint64_t len = i == n - 1 ? size - pos : 1 + rnd_below (131071);
      CHECK (extent_map_append (m, pos, len, i % 2 ? 0 : 3, &why) == 0);
      pos += len;
    }
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_count (m) == n);
  t1 = now ();
  printf ("memory after building: %.1f bytes/extent\n",
          (double)extent_map_memory (m) / n);
  rss1 = rss_kib ();
  for (i = 0; i < 100000; i++)
    {
      uint64_t off = rnd_below (size);
      uint64_t len = 1 + rnd_below (rnd_below (2) ? 4096 : 1 << 20);
      CHECK (extent_map_set (m, off, len, rnd_below (2) ? 0 : 2) == 0);
    }
  t2 = now ();
  printf ("memory after the sets: %.1f bytes/extent\n",
          (double)extent_map_memory (m) / extent_map_count (m));
  for (i = 0; i < 100000; i++)
    CHECK (extent_map_query (m, rnd_below (size), 1 << 20, false, count_fn,
                             &reported)
           == 0);
  t3 = now ();
  printf ("timing: build 1M extents %.3f s (%.1f bytes/extent RSS), "
          "100k sets %.3f s (now %" PRIu64 " extents), "
          "100k queries %.3f s (%" PRIu64 " extents reported)\n",
          t1 - t0, (rss1 - rss0) * 1024.0 / n, t2 - t1, extent_map_count (m),
          t3 - t2, reported);
  /* Full map in one query equals the count. */
  reported = 0;
  CHECK (extent_map_query (m, 0, UINT64_MAX, false, count_fn, &reported) == 0);
  CHECK (reported == extent_map_count (m));
  extent_map_free (m);
}

/* The map's extents equal WANT (N runs of start, end, type). */
static void
expect_runs (const struct extent_map *m, const uint64_t (*want)[3], size_t n)
{
  struct got g = { 0 };
  size_t k;

  CHECK (extent_map_query (m, 0, UINT64_MAX, false, collect, &g) == 0);
  if (g.n != n)
    {
      for (k = 0; k < g.n; k++)
        fprintf (stderr, "  got %" PRIu64 "..%" PRIu64 " type %u\n", g.start[k],
                 g.start[k] + g.len[k], g.type[k]);
    }
  CHECK (g.n == n);
  for (k = 0; k < n; k++)
    {
      CHECK (g.start[k] == want[k][0]);
      CHECK (g.start[k] + g.len[k] == want[k][1]);
      CHECK (g.type[k] == want[k][2]);
    }
  got_free (&g);
}

#define RUNS(m, ...)                                                           \
  do                                                                           \
    {                                                                          \
      const uint64_t w_[][3] = { __VA_ARGS__ };                                \
      expect_runs ((m), w_, sizeof w_ / sizeof w_[0]);                         \
    }                                                                          \
  while (0)

/* A write inside a qcow2 hole allocates its whole cluster (up to 2 MiB):
 * the rest of the 2 MiB-aligned blocks it touches must not stay a hole.
 */
static void
test_allocating (void)
{
  const uint64_t K = 1024, M = 1024 * 1024, size = 8 * M;
  const uint32_t D = EXTENT_TYPE_DATA, Z = EXTENT_TYPE_ZERO,
                 H = EXTENT_TYPE_HOLE_ZERO;
  struct extent_map *m;
  const char *why;

  op_no = -2;
  /* 4 KiB in the middle of a hole. */
  m = extent_map_new (size);
  CHECK (extent_map_append (m, 0, size, H, &why) == 0);
  CHECK (extent_map_set_allocating (m, 3 * M + 4 * K, 4 * K, D, 2 * M) == 0);
  RUNS (m, { 0, 2 * M, H }, { 2 * M, 3 * M + 4 * K, Z },
        { 3 * M + 4 * K, 3 * M + 8 * K, D }, { 3 * M + 8 * K, 4 * M, Z },
        { 4 * M, size, H });
  /* Across a 2 MiB boundary: both blocks. */
  CHECK (extent_map_set_allocating (m, 6 * M - 4 * K, 8 * K, D, 2 * M) == 0);
  RUNS (m, { 0, 2 * M, H }, { 2 * M, 3 * M + 4 * K, Z },
        { 3 * M + 4 * K, 3 * M + 8 * K, D },
        { 3 * M + 8 * K, 6 * M - 4 * K, Z },
        { 6 * M - 4 * K, 6 * M + 4 * K, D }, { 6 * M + 4 * K, size, Z });
  extent_map_free (m);

  /* Data and zero in the block stay; only holes change.  A whole aligned
   * block changes nothing around it.
   */
  m = extent_map_new (size);
  CHECK (extent_map_append (m, 0, 64 * K, D, &why) == 0);
  CHECK (extent_map_append (m, 64 * K, 64 * K, H, &why) == 0);
  CHECK (extent_map_append (m, 128 * K, 64 * K, Z, &why) == 0);
  CHECK (extent_map_append (m, 192 * K, size - 192 * K, H, &why) == 0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_set_allocating (m, 2 * M, 2 * M, D, 2 * M) == 0);
  RUNS (m, { 0, 64 * K, D }, { 64 * K, 128 * K, H }, { 128 * K, 192 * K, Z },
        { 192 * K, 2 * M, H }, { 2 * M, 4 * M, D }, { 4 * M, size, H });
  CHECK (extent_map_set_allocating (m, 1 * M, 512, D, 2 * M) == 0);
  RUNS (m, { 0, 64 * K, D }, { 64 * K, 1 * M, Z }, { 1 * M, 1 * M + 512, D },
        { 1 * M + 512, 2 * M, Z }, { 2 * M, 4 * M, D }, { 4 * M, size, H });
  /* A zero request: zero, and its neighbourhood too. */
  CHECK (extent_map_set_allocating (m, 5 * M, 64 * K, Z, 2 * M) == 0);
  RUNS (m, { 0, 64 * K, D }, { 64 * K, 1 * M, Z }, { 1 * M, 1 * M + 512, D },
        { 1 * M + 512, 2 * M, Z }, { 2 * M, 4 * M, D }, { 4 * M, 6 * M, Z },
        { 6 * M, size, H });
  /* Past the end and at the end: clipped. */
  CHECK (extent_map_set_allocating (m, size - 512, 4096, D, 2 * M) == 0);
  RUNS (m, { 0, 64 * K, D }, { 64 * K, 1 * M, Z }, { 1 * M, 1 * M + 512, D },
        { 1 * M + 512, 2 * M, Z }, { 2 * M, 4 * M, D },
        { 4 * M, size - 512, Z }, { size - 512, size, D });
  CHECK (extent_map_set_allocating (m, size, 4096, D, 2 * M) == 0);
  CHECK (extent_map_set_allocating (m, 0, 0, D, 2 * M) == 0);
  CHECK (extent_map_count (m) == 7);
  extent_map_free (m);

  /* An odd image size: the last block is partial. */
  m = extent_map_new (3 * M + 777);
  CHECK (extent_map_append (m, 0, 3 * M + 1024, H, &why) == 0);
  CHECK (extent_map_set_allocating (m, 3 * M, 100, D, 2 * M) == 0);
  RUNS (m, { 0, 2 * M, H }, { 2 * M, 3 * M, Z }, { 3 * M, 3 * M + 100, D },
        { 3 * M + 100, 3 * M + 777, Z });
  /* A huge length near 2^64 does not wrap; [0, 1) is in its block. */
  CHECK (extent_map_set_allocating (m, 1, UINT64_MAX, D, 2 * M) == 0);
  RUNS (m, { 0, 1, Z }, { 1, 3 * M + 777, D });
  extent_map_free (m);

  /* unhole alone: only holes change, clipped to the map. */
  m = extent_map_new (1000);
  CHECK (extent_map_append (m, 0, 100, H, &why) == 0);
  CHECK (extent_map_append (m, 100, 100, D, &why) == 0);
  CHECK (extent_map_append (m, 200, 800, H, &why) == 0);
  CHECK (extent_map_unhole (m, 50, 200) == 0);
  RUNS (m, { 0, 50, H }, { 50, 100, Z }, { 100, 200, D }, { 200, 250, Z },
        { 250, 1000, H });
  CHECK (extent_map_unhole (m, 0, UINT64_MAX) == 0);
  RUNS (m, { 0, 100, Z }, { 100, 200, D }, { 200, 1000, Z });
  CHECK (extent_map_unhole (m, 1000, 5) == 0);
  extent_map_free (m);
}

/* extent_map_resize while building: a shrink drops the entries at or
 * past the new size (across block boundaries), and the map then behaves
 * as one built for that size.
 */
static void
test_resize (void)
{
  struct extent_map *m = extent_map_new (1 << 30);
  struct got g = { 0 };
  const char *why;
  uint64_t i;

  CHECK (m);
  /* 2000 extents of 512 bytes (several blocks), alternating. */
  for (i = 0; i < 2000; i++)
    CHECK (extent_map_append (m, i * 512, 512,
                              i % 2 ? EXTENT_TYPE_ZERO : EXTENT_TYPE_DATA, &why)
           == 0);
  extent_map_resize (m, 700 * 512 + 100); /* inside extent 700 */
  CHECK (extent_map_size (m) == 700 * 512 + 100);
  CHECK (extent_map_count (m) == 701);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_query (m, 0, UINT64_MAX, false, collect, &g) == 0);
  CHECK (g.n == 701 && g.start[700] == 700 * 512 && g.len[700] == 100);
  got_free (&g);
  /* Updates still work, to the new end only. */
  CHECK (extent_map_set (m, 1000, 1 << 20, EXTENT_TYPE_HOLE_ZERO) == 0);
  CHECK (extent_map_count (m) == 3); /* data, zero, hole */
  CHECK (extent_map_is_zero (m, 1000, 700 * 512 + 100 - 1000));
  extent_map_free (m);

  /* Shrinking before anything is appended, then appending past the end. */
  m = extent_map_new (1 << 20);
  CHECK (m);
  extent_map_resize (m, 4096);
  CHECK (extent_map_append (m, 0, 8192, EXTENT_TYPE_ZERO, &why) == 0);
  CHECK (extent_map_append (m, 8192, 512, EXTENT_TYPE_DATA, &why) == 0);
  CHECK (extent_map_finish (m, &why) == 0);
  CHECK (extent_map_count (m) == 1 && extent_map_size (m) == 4096);
  extent_map_free (m);
}

int
main (void)
{
  const char *s = getenv ("TEST_SEED");

  seed = s ? (unsigned)strtoul (s, NULL, 10) : (unsigned)time (NULL);
  rng_state = 0x9E3779B97F4A7C15ULL ^ seed;
  printf ("seed %u\n", seed);
  test_edges ();
  test_resize ();
  test_allocating ();
  test_random ();
  test_timing ();
  printf ("ok\n");
  return 0;
}
