/* SPDX-License-Identifier: BSD-3-Clause */
/* Strict decimal parsing; see parse-uint.h. */
#include "parse-uint.h"

int
parse_uint64 (const char *s, size_t len, uint64_t max, uint64_t *out)
{
  uint64_t v = 0;
  int too_large = 0;

  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++)
    {
      unsigned d;

      if (s[i] < '0' || s[i] > '9')
        return -1;
      d = s[i] - '0';
      if (too_large || max < d || v > (max - d) / 10)
        too_large = 1; /* keep checking that the rest are digits */
      else
        v = v * 10 + d;
    }
  if (too_large)
    return -2;
  *out = v;
  return 0;
}
