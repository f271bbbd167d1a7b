/* SPDX-License-Identifier: BSD-3-Clause */
/* Strict decimal parsing of unsigned numbers, the one way the plugin and
 * the server read a number from the network or the command line: digits
 * only (no sign, no space, no base prefix), at least one, and no larger
 * than a bound.
 */
#ifndef IMAGEIO_PARSE_UINT_H
#define IMAGEIO_PARSE_UINT_H

#include <stddef.h>
#include <stdint.h>

/* Parses the LEN bytes at S (not NUL-terminated) as a decimal number no
 * larger than MAX into *OUT.  Returns 0, -1 when S is not a number, or -2
 * when it is larger than MAX (overflow included).
 */
int parse_uint64 (const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
