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
  int max_readers, max_writers;   /* 0 when absent */
  char unix_socket[UNIX_PATH_MAX]; /* may start with NUL (abstract) */
  size_t unix_socket_len;         /* 0 when absent or null */
};

/* Parses the JSON body of OPTIONS.  Unknown keys are ignored.  Returns 0, or
 * -1 with a one-line reason in ERRBUF.
 */
int json_parse_options (const char *body, size_t len,
                        struct imageio_options *opts,
                        char *errbuf, size_t errlen);

/* Streaming parser of GET /extents (context=zero) into an extent map of an
 * export of EXPORT_SIZE bytes.  Its time is linear in the bytes fed.  It
 * fails, on the piece where the limit is crossed, a document larger than
 * MAX_DOC_BYTES or than an image of EXPORT_SIZE bytes can need, one with
 * more extents than such an image can have (one per 512 bytes), and one
 * holding a string or a number longer than any valid one.
 */
struct extents_parser;
struct extents_parser *extents_parser_new (uint64_t export_size,
                                           uint64_t max_doc_bytes);
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
