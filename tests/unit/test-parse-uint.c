/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of common/parse-uint.c: digits only, bounded, and a number too
 * large is told apart from one that is not a number.
 */
#include <stdint.h>
#include <string.h>

#include "parse-uint.h"

#include "check.h"

static int
p (const char *s, uint64_t max, uint64_t *v)
{
  return parse_uint64 (s, strlen (s), max, v);
}

int
main (void)
{
  uint64_t v = 7;

  CHECK (p ("0", 10, &v) == 0 && v == 0);
  CHECK (p ("10", 10, &v) == 0 && v == 10);
  CHECK (p ("0010", 10, &v) == 0 && v == 10);
  CHECK (p ("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX);
  CHECK (p ("9223372036854775807", INT64_MAX, &v) == 0 && v == INT64_MAX);

  v = 7;
  CHECK (p ("11", 10, &v) == -2 && v == 7);
  CHECK (p ("18446744073709551616", UINT64_MAX, &v) == -2);
  CHECK (p ("9223372036854775808", INT64_MAX, &v) == -2);
  CHECK (p ("99999999999999999999999999", UINT64_MAX, &v) == -2);
  CHECK (p ("5", 3, &v) == -2);
  CHECK (p ("1", 0, &v) == -2);
  CHECK (p ("0", 0, &v) == 0 && v == 0);
  /* Not numbers, even when too large as well. */
  CHECK (p ("", 10, &v) == -1);
  CHECK (p ("-1", 10, &v) == -1);
  CHECK (p ("+1", 10, &v) == -1);
  CHECK (p (" 1", 10, &v) == -1);
  CHECK (p ("1 ", 10, &v) == -1);
  CHECK (p ("0x1", 10, &v) == -1);
  CHECK (p ("1e3", 10, &v) == -1);
  CHECK (p ("99999999999999999999x", UINT64_MAX, &v) == -1);
  /* LEN bounds what is read. */
  CHECK (parse_uint64 ("123abc", 3, 1000, &v) == 0 && v == 123);
  CHECK (parse_uint64 ("1\0", 2, 10, &v) == -1);
  return 0;
}
