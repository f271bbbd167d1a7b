/* SPDX-License-Identifier: BSD-3-Clause */
/* GET /images/TICKET/extents: the JSON document, generated as it is sent.
 *
 * Contract: extents_stream_new asks the backend for the first chunk of
 * extents (so an error becomes a 500 before anything is sent), then
 * extents_stream_read fills the response body piece by piece with the
 * semantics of a libmicrohttpd content reader.  Memory is bounded by one
 * chunk of block status plus about one read's worth of JSON, whatever the
 * number of extents.  (Under an extents=... corruption fault the whole list
 * is collected first; that is for tests with small images.)
 */
#ifndef SERVER_EXTENTS_JSON_H
#define SERVER_EXTENTS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"

struct extents_stream;

/* The document describes [START, START+LENGTH) of the export (the caller
 * checked that it lies inside; 0 and the export size for the whole list):
 * the backend is asked about that range only, and the first and last
 * extents are clipped to it.
 */
struct extents_stream *extents_stream_new (struct backend *b,
                                           enum extents_context ctx,
                                           uint64_t start, uint64_t length,
                                           char *err, size_t errlen);
/* Returns bytes written to BUF (<= MAX), 0 never; -1 at the end of the
 * document, -2 on error (the reason in the log).
 */
ssize_t extents_stream_read (struct extents_stream *xs, char *buf, size_t max);
/* Extents emitted so far. */
uint64_t extents_stream_count (const struct extents_stream *xs);
void extents_stream_free (struct extents_stream *xs);

#endif
