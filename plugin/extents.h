/* SPDX-License-Identifier: BSD-3-Clause */
/* The plugin's cached allocation map (see extents.c): fetched lazily, in
 * windows when the server serves partial extents, kept exact by writes and
 * zeroes, and a safe all-data answer when the server's document is bad.
 * Thread-safe.
 */
#ifndef IMAGEIO_EXTENTS_H
#define IMAGEIO_EXTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* Downloads the extents of [OFFSET, OFFSET+LENGTH) (GET extents with
 * start= and length=; LENGTH 0: the whole list, without parameters),
 * feeding the body to SINK (an http_body_fn) with SINK_OPAQUE.  Returns 0,
 * or -1 with a one-line reason in ERRBUF (-2 when the download ran out of
 * time).
 */
typedef int (*extents_fetch_fn) (void *opaque, uint64_t offset, uint64_t length,
                                 http_body_fn sink, void *sink_opaque,
                                 char *errbuf, size_t errlen);

/* Called once at start-up, before any other extents_ call.  Each download
 * (FETCH) may take up to TIMEOUT seconds in total; past that it is cut and
 * the image is reported as data.
 */
void extents_init (uint64_t size, unsigned timeout, extents_fetch_fn fetch,
                   void *opaque);
void extents_cleanup (void);

/* Before the first fetch: the documents are context=dirty ones (FETCH
 * asks for them), parsed by extents_parser_set_dirty's rules.
 */
void extents_use_dirty (void);

/* As extents_ensure, for start-up checks: returns 0 when the map of the
 * start of the image is known, or -1 with the reason in ERRBUF, without
 * logging it (the map is then the all-data fallback).
 */
int extents_start (char *errbuf, size_t errlen);

/* Makes sure the map of the start of the image is known (the first caller
 * fetches it, the others wait); this also learns whether the server serves
 * windows.  A failed fetch or a bad document logs one nbdkit_error and the
 * whole image is reported as data from then on.  Never fails.
 */
void extents_ensure (void);

/* Reports the extents covering [OFFSET, OFFSET+COUNT) through ADD (which
 * has nbdkit_add_extent's meaning), fetching the window that holds OFFSET
 * first when it is not known.  May stop before OFFSET+COUNT (at the end of
 * what is known), never before OFFSET+1.  Returns 0 or -1.
 */
int extents_query (uint64_t offset, uint32_t count, bool req_one,
                   int (*add) (void *opaque, uint64_t offset, uint64_t length,
                               uint32_t type),
                   void *opaque);

/* Updates after requests.  A write or zero that is in flight while its
 * window is being fetched is applied after the fetch, so the map stays
 * exact; one in a window not fetched changes nothing (the server's answer
 * will hold it).  Each also turns the holes in the rest of the 2 MiB-aligned
 * blocks it touches into zero (qcow2 may have allocated them).
 */
void extents_written (uint64_t offset, uint64_t length); /* now data */
void extents_zeroed (uint64_t offset, uint64_t length);  /* now ZERO */
void extents_failed (uint64_t offset, uint64_t length);  /* now data */

/* True only when the map of the range is known and exact and the whole
 * range reads as zeroes (for zero elision).  Never waits: when the range's
 * window is not known it starts fetching it in the background.
 */
bool extents_reads_as_zero (uint64_t offset, uint64_t length);
/* True when the map of the start of the image (or of all of it) has been
 * fetched and is exact (not the fallback).
 */
bool extents_known (void);

#endif
