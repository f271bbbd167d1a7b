/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON documents the plugin reads: the OPTIONS answer (yajl tree parser,
 * small) and the extents list (yajl callback parser, streamed straight into
 * an extent map, because a tree of 1,000,000 extents needs over 600 MiB).
 */
#ifndef IMAGEIO_JSON_H
#define IMAGEIO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extent-map.h"
#include "unix-path.h"

struct imageio_options
{
  bool has_extents, has_zero, has_flush, has_checksum;
  int max_readers, max_writers;    /* 0 when absent */
  char unix_socket[UNIX_PATH_MAX]; /* may start with NUL (abstract) */
  size_t unix_socket_len;          /* 0 when absent or null */
  /* "size" (beyond imageio; its issue #67): the image size, or -1 when
   * absent or unusable; a value that is not an integer in 0..INT64_MAX
   * does not fail the document (the size is then asked otherwise) and
   * SIZE_ERROR says why it was not used.
   */
  int64_t size;
  char size_error[96];
};

/* Parses the JSON body of OPTIONS.  Unknown keys are ignored.  Returns 0, or
 * -1 with a one-line reason in ERRBUF.
 */
int json_parse_options (const char *body, size_t len,
                        struct imageio_options *opts, char *errbuf,
                        size_t errlen);

/* Streaming parser of GET /extents (context=zero by default) into an extent map
 * of an export of EXPORT_SIZE bytes.  Its time is linear in the bytes fed.  It
 * fails, on the piece where the limit is crossed, a document larger than
 * MAX_DOC_BYTES or than an image of EXPORT_SIZE bytes can need, one with
 * more extents than such an image can have (one per 512 bytes), and one
 * holding a string or a number longer than any valid one.
 */
struct extents_parser;
struct extents_parser *extents_parser_new (uint64_t export_size,
                                           uint64_t max_doc_bytes);
/* As extents_parser_new, for the answer to a request for the window
 * [WIN_START, WIN_START+WIN_LEN) of the export (start= and length=,
 * beyond imageio): the document may describe that window (its first
 * extent starts at WIN_START; the last one may run past the window's end
 * and is clipped) or, from a server that ignores the parameters, be the
 * whole list (starting at 0, covering the export).  The map's offsets are
 * relative to extents_parser_base, and its size is what it describes.
 */
struct extents_parser *extents_parser_new_window (uint64_t export_size,
                                                  uint64_t win_start,
                                                  uint64_t win_len,
                                                  uint64_t max_doc_bytes);
/* Parses the context=dirty document instead (before the first feed):
 * items carry "dirty" (required) and "zero" (optional, as before imageio
 * 2.2.0-1); a clean extent becomes EXTENT_TYPE_HOLE (unchanged since the
 * checkpoint: left to the previous backup), a dirty zero one ZERO, a
 * dirty one DATA.  "hole" is ignored.
 */
void extents_parser_set_dirty (struct extents_parser *p);
/* After a successful extents_parser_finish: the offset in the export of
 * the map's offset 0 (WIN_START for a window, 0 for the whole list).
 */
uint64_t extents_parser_base (const struct extents_parser *p);
/* Feeds the next LEN bytes of the document.  Returns 0 or -1 (the
 * reason is kept for extents_parser_finish).
 */
int extents_parser_feed (struct extents_parser *p, const void *data,
                         size_t len);
/* The reason the parser failed (after a feed returned -1), or NULL while
 * it has not failed.  Lets a caller whose download broke tell a bad
 * document from a network error.
 */
const char *extents_parser_error (const struct extents_parser *p);
/* Ends the document and validates it (sorted, contiguous from 0, positive
 * lengths, boolean flags, covering at least export_size; clipped to it).
 * Returns the map (owned by the caller), or NULL with a reason in ERRBUF.
 */
struct extent_map *extents_parser_finish (struct extents_parser *p,
                                          char *errbuf, size_t errlen);
void extents_parser_free (struct extents_parser *p);

#endif
