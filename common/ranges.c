/* SPDX-License-Identifier: BSD-3-Clause */
/* HTTP byte range parsing; see ranges.h. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "parse-uint.h"
#include "ranges.h"

int
range_parse_u64 (const char *s, size_t n, uint64_t *out)
{
  /* No more digits than UINT64_MAX has, leading zeros included. */
  if (n > 20)
    return -1;
  return parse_uint64 (s, n, UINT64_MAX, out) == 0 ? 0 : -1;
}

static const char *
skip_spaces (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Length of the run of decimal digits at P. */
static size_t
digits (const char *p)
{
  size_t n = 0;

  while (p[n] >= '0' && p[n] <= '9')
    n++;
  return n;
}

int
range_parse_request (const char *value, uint64_t size, uint64_t *first,
                     uint64_t *last, const char **why)
{
  const char *p = skip_spaces (value);
  size_t n;
  uint64_t a, b;
  bool to_end;

  if (strncasecmp (p, "bytes", 5) != 0 || skip_spaces (p + 5)[0] != '=')
    {
      *why = "Unsupported range unit, expecting 'bytes'";
      return -1;
    }
  p = skip_spaces (skip_spaces (p + 5) + 1);
  if (strchr (p, ',') != NULL)
    {
      *why = "Multiple ranges are not supported";
      return -1;
    }
  if (*p == '-')
    {
      *why = "Suffix range 'bytes=-N' is not supported";
      return -1;
    }
  n = digits (p);
  if (range_parse_u64 (p, n, &a) == -1)
    {
      *why = "Invalid range, expecting 'bytes=first-last' or 'bytes=first-'";
      return -1;
    }
  p = skip_spaces (p + n);
  if (*p != '-')
    {
      *why = "Invalid range, expecting 'bytes=first-last' or 'bytes=first-'";
      return -1;
    }
  p = skip_spaces (p + 1);
  n = digits (p);
  to_end = n == 0;
  if (to_end)
    b = UINT64_MAX;
  else if (range_parse_u64 (p, n, &b) == -1)
    {
      *why = "Invalid range, expecting 'bytes=first-last' or 'bytes=first-'";
      return -1;
    }
  if (*skip_spaces (p + n) != '\0')
    {
      *why = "Invalid range, expecting 'bytes=first-last' or 'bytes=first-'";
      return -1;
    }
  if (b < a)
    {
      *why = "Invalid range, last byte before first byte";
      return -1;
    }
  /* imageio refuses a range that ends past the image, where RFC 9110
   * would clip it: a client asking for bytes that do not exist has a bug.
   */
  if (a >= size || (!to_end && b >= size))
    {
      *why = "Requested range out of allowed range";
      return -1;
    }
  if (to_end)
    b = size - 1;
  *first = a;
  *last = b;
  return 0;
}

int
range_parse_content_range (const char *value, uint64_t *first, uint64_t *last,
                           uint64_t *total)
{
  const char *p = skip_spaces (value);
  size_t n;
  uint64_t a, b, t;

  if (strncasecmp (p, "bytes", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
    return -1;
  p = skip_spaces (p + 5);
  if (*p == '*')
    {
      a = b = UINT64_MAX;
      p++;
    }
  else
    {
      n = digits (p);
      if (range_parse_u64 (p, n, &a) == -1 || p[n] != '-')
        return -1;
      p += n + 1;
      n = digits (p);
      if (range_parse_u64 (p, n, &b) == -1 || b < a)
        return -1;
      p += n;
    }
  if (*p != '/')
    return -1;
  p++;
  if (*p == '*')
    {
      t = UINT64_MAX;
      p++;
      if (a == UINT64_MAX) /* both unknown says nothing */
        return -1;
    }
  else
    {
      n = digits (p);
      if (range_parse_u64 (p, n, &t) == -1)
        return -1;
      p += n;
      if (a != UINT64_MAX && b >= t)
        return -1;
    }
  if (*skip_spaces (p) != '\0')
    return -1;
  *first = a;
  *last = b;
  *total = t;
  return 0;
}
