/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the streaming extents parser in plugin/json.c.
 *
 * Input: byte 0 picks how the document is cut into pieces (and a tiny size
 * limit when its top bit is set, a window request when bit 6 is), bytes
 * 1-2 the image size (in 512-byte units plus a remainder, so sizes are not
 * aligned), the rest is the document.  A returned map must cover the image
 * exactly, start at 0, be contiguous and merged, and survive a few updates
 * (plain and allocating).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

struct walk
{
  uint64_t next;
  int prev_type;
  bool dirty; /* context=dirty: holes without zero too */
};

static int
check_extent (void *opaque, uint64_t start, uint64_t length, uint32_t type)
{
  struct walk *w = opaque;

  if (start != w->next || length == 0)
    abort ();
  if (type != EXTENT_TYPE_DATA && type != EXTENT_TYPE_ZERO
      && type != (w->dirty ? EXTENT_TYPE_HOLE : EXTENT_TYPE_HOLE_ZERO))
    abort ();
  if ((int)type == w->prev_type) /* adjacent extents are merged */
    abort ();
  w->prev_type = type;
  w->next = start + length;
  return 0;
}

static void
check_map (const struct extent_map *m, uint64_t export_size, bool dirty)
{
  struct walk w = { 0, -1, dirty };

  if (extent_map_size (m) != export_size)
    abort ();
  if (extent_map_query (m, 0, UINT64_MAX, false, check_extent, &w) == -1)
    abort ();
  if (w.next != export_size)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct extents_parser *p;
  struct extent_map *m;
  uint64_t export_size, max_doc, win_start = 0, win_len = 0, base;
  bool windowed = false, dirty;
  size_t chunk, off;
  char err[256];

  if (size < 3)
    return 0;
  /* Bit 5 of byte 0: the context=dirty document. */
  dirty = data[0] & 0x20;
  chunk = data[0] & 0x1f;
  max_doc = data[0] & 0x80 ? 48 : 1 << 20;
  export_size = (uint64_t)data[1] * 512 + data[2] % 512;
  data += 3;
  size -= 3;

  /* Bit 6 of byte 0: a window request, its start and length taken from
   * byte 2 (in 512-byte units, clipped to the image).
   */
  if ((data[-3] & 0x40) && export_size > 0)
    {
      win_start = (uint64_t)(data[-1] >> 4) * 512 % export_size;
      win_len = (uint64_t)((data[-1] & 15) + 1) * 512;
      if (win_len > export_size - win_start)
        win_len = export_size - win_start;
      windowed = true;
      p = extents_parser_new_window (export_size, win_start, win_len, max_doc);
    }
  else
    p = extents_parser_new (export_size, max_doc);
  if (p == NULL)
    return 0;
  if (dirty)
    extents_parser_set_dirty (p);
  if (chunk == 0)
    chunk = size ? size : 1;
  for (off = 0; off < size; off += chunk)
    {
      size_t n = size - off < chunk ? size - off : chunk;

      if (extents_parser_feed (p, data + off, n) == -1)
        {
          if (extents_parser_error (p) == NULL)
            abort ();
          break;
        }
    }
  m = extents_parser_finish (p, err, sizeof err);
  base = m ? extents_parser_base (p) : 0;
  extents_parser_free (p);
  if (m == NULL)
    {
      if (err[0] == '\0' || memchr (err, '\n', strnlen (err, sizeof err)))
        abort (); /* one line, never empty */
      return 0;
    }
  /* A window answer describes exactly the window; anything else is the
   * whole image.
   */
  if (windowed && !(base == 0 && extent_map_size (m) == export_size)
      && !(base == win_start && extent_map_size (m) == win_len))
    abort ();
  export_size = extent_map_size (m);
  check_map (m, export_size, dirty);
  if (dirty)
    {
      /* Read-only exports: dirty maps are never updated. */
      extent_map_free (m);
      return 0;
    }
  /* A few updates taken from the input keep it valid. */
  for (off = 0; off + 4 <= size && off < 64; off += 4)
    {
      uint64_t o = (data[off] << 8 | data[off + 1]) * 7;
      uint64_t l = data[off + 2] * 13;
      static const uint32_t types[]
          = { EXTENT_TYPE_DATA, EXTENT_TYPE_ZERO, EXTENT_TYPE_HOLE_ZERO };

      uint32_t t = types[data[off + 3] % 3];

      /* Bit 2 of the type byte: a write that may allocate clusters of
       * 2^(bits 4-7) bytes; a hole must never remain inside the range.
       */
      if (data[off + 3] & 4)
        {
          if (extent_map_set_allocating (m, o, l, t & EXTENT_TYPE_ZERO,
                                         1ULL << (data[off + 3] >> 4))
                  == -1
              || (l > 0 && o < export_size && !(t & EXTENT_TYPE_ZERO)
                  && extent_map_is_zero (m, o, 1)))
            abort ();
        }
      else if (extent_map_set (m, o, l, t) == -1)
        abort ();
      check_map (m, export_size, false);
    }
  extent_map_free (m);
  return 0;
}
