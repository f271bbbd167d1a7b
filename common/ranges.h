/* SPDX-License-Identifier: BSD-3-Clause */
/* HTTP byte ranges, shared by the server (Range, Content-Range of PUT) and
 * the plugin (Content-Range of a 206 answer).  Pure functions, no I/O.
 *
 * HTTP ranges are inclusive: "bytes=0-511" is 512 bytes (RFC 9110 14.1.2).
 * Numbers are strict: decimal digits only, no sign, no spaces inside, no
 * overflow past UINT64_MAX.
 */
#ifndef IMAGEIO_RANGES_H
#define IMAGEIO_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a request "Range" header value for an image of SIZE bytes.
 * Accepts exactly one range, "bytes=FIRST-LAST" or "bytes=FIRST-".
 * A range ending past SIZE is refused, as imageio does (RFC 9110 would
 * clip it); "bytes=FIRST-" runs to the end.
 * On success sets *FIRST and *LAST (inclusive) and returns 0.
 * On failure returns -1 and sets *WHY to a one-line reason suitable for a
 * 416 body (multiple ranges, other unit, suffix form, malformed, reversed,
 * out of allowed range).
 */
int range_parse_request (const char *value, uint64_t size, uint64_t *first,
                         uint64_t *last, const char **why);

/* Parses a "Content-Range" value "bytes FIRST-LAST/TOTAL" where TOTAL may
 * be "*".  Sets *FIRST, *LAST and *TOTAL (UINT64_MAX for "*").  The form
 * "bytes * / TOTAL" (no spaces) (unsatisfied range) sets *FIRST = *LAST =
 * UINT64_MAX. Returns 0, or -1 when malformed (including LAST < FIRST, or LAST
 * >= TOTAL when TOTAL is known).
 */
int range_parse_content_range (const char *value, uint64_t *first,
                               uint64_t *last, uint64_t *total);

/* Parses a strict unsigned decimal of N characters at S.  Returns 0 or -1. */
int range_parse_u64 (const char *s, size_t n, uint64_t *out);

#endif
