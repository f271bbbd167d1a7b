/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of common/ranges.c: Range and Content-Range parsing and strict
 * decimals.  Aborts on the first failure, printing the case.
 *
 * Covers both edges of inclusive ranges, refusal of LAST past the size,
 * overflow at UINT64_MAX, and every malformed form with the reason the
 * server puts in its 416 body.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

#define MAX UINT64_MAX

#include "check.h"

/* Reasons; must match ranges.c (the server sends them in 416 bodies). */
#define WHY_UNIT "Unsupported range unit, expecting 'bytes'"
#define WHY_MULTI "Multiple ranges are not supported"
#define WHY_SUFFIX "Suffix range 'bytes=-N' is not supported"
#define WHY_INVALID                                                            \
  "Invalid range, expecting 'bytes=first-last' or 'bytes=first-'"
#define WHY_REVERSED "Invalid range, last byte before first byte"
#define WHY_OUT "Requested range out of allowed range"

/* A Range value that must parse to FIRST..LAST for an image of SIZE. */
static void
request_ok (const char *value, uint64_t size, uint64_t first, uint64_t last)
{
  uint64_t a = 12345, b = 12345;
  const char *why = NULL;

  if (range_parse_request (value, size, &a, &b, &why) != 0 || a != first
      || b != last)
    {
      fprintf (stderr,
               "range_parse_request (\"%s\", %" PRIu64 "): expected %" PRIu64
               "-%" PRIu64 ", got %" PRIu64 "-%" PRIu64 " (%s)\n",
               value, size, first, last, a, b, why ? why : "no error");
      abort ();
    }
}

/* A Range value that must fail for an image of SIZE with reason WHY and
 * leave the outputs alone.
 */
static void
request_bad (const char *value, uint64_t size, const char *why)
{
  uint64_t a = 12345, b = 12345;
  const char *got = NULL;

  if (range_parse_request (value, size, &a, &b, &got) != -1 || got == NULL
      || strcmp (got, why) != 0 || a != 12345 || b != 12345)
    {
      fprintf (stderr,
               "range_parse_request (\"%s\", %" PRIu64 "): expected failure"
               " \"%s\", got \"%s\" (%" PRIu64 "-%" PRIu64 ")\n",
               value, size, why, got ? got : "success", a, b);
      abort ();
    }
  CHECK (strchr (got, '\n') == NULL);
}

static void
content_range_ok (const char *value, uint64_t first, uint64_t last,
                  uint64_t total)
{
  uint64_t a = 1, b = 2, t = 3;

  if (range_parse_content_range (value, &a, &b, &t) != 0 || a != first
      || b != last || t != total)
    {
      fprintf (stderr,
               "range_parse_content_range (\"%s\"): expected %" PRIu64
               "-%" PRIu64 "/%" PRIu64 ", got %" PRIu64 "-%" PRIu64 "/%" PRIu64
               "\n",
               value, first, last, total, a, b, t);
      abort ();
    }
}

static void
content_range_bad (const char *value)
{
  uint64_t a = 1, b = 2, t = 3;

  if (range_parse_content_range (value, &a, &b, &t) != -1 || a != 1 || b != 2
      || t != 3)
    {
      fprintf (
          stderr,
          "range_parse_content_range (\"%s\"): expected failure, got %" PRIu64
          "-%" PRIu64 "/%" PRIu64 "\n",
          value, a, b, t);
      abort ();
    }
}

static void
u64_ok (const char *s, size_t n, uint64_t want)
{
  uint64_t v = 7;

  if (range_parse_u64 (s, n, &v) != 0 || v != want)
    {
      fprintf (stderr,
               "range_parse_u64 (\"%.*s\"): expected %" PRIu64 ", got %" PRIu64
               "\n",
               (int)n, s, want, v);
      abort ();
    }
}

static void
u64_bad (const char *s, size_t n)
{
  uint64_t v = 7;

  if (range_parse_u64 (s, n, &v) != -1 || v != 7)
    {
      fprintf (stderr, "range_parse_u64 (\"%.*s\"): expected failure\n", (int)n,
               s);
      abort ();
    }
}

static void
test_u64 (void)
{
  u64_ok ("0", 1, 0);
  u64_ok ("1", 1, 1);
  u64_ok ("007", 3, 7);
  u64_ok ("4096", 4, 4096);
  u64_ok ("12345", 2, 12); /* only N characters are read */
  u64_ok ("18446744073709551615", 20, MAX);
  u64_ok ("18446744073709551614", 20, MAX - 1);
  u64_ok ("00000000000000000001", 20, 1);
  u64_ok ("9999999999999999999", 19, UINT64_C (9999999999999999999));

  u64_bad ("", 0);
  u64_bad ("1", 0);
  u64_bad ("18446744073709551616", 20); /* UINT64_MAX + 1 */
  u64_bad ("18446744073709551620", 20);
  u64_bad ("99999999999999999999", 20);
  u64_bad ("184467440737095516150", 21);
  u64_bad ("000000000000000000001", 21); /* more than 20 characters */
  u64_bad ("-1", 2);
  u64_bad ("+1", 2);
  u64_bad (" 1", 2);
  u64_bad ("1 ", 2);
  u64_bad ("1a", 2);
  u64_bad ("0x10", 4);
  u64_bad ("1.0", 3);
  u64_bad ("1\0"
           "2",
           3);
}

static void
test_request (void)
{
  /* Both edges of an inclusive range. */
  request_ok ("bytes=0-0", 1024, 0, 0);
  request_ok ("bytes=0-511", 1024, 0, 511);
  request_ok ("bytes=512-1023", 1024, 512, 1023);
  request_ok ("bytes=1023-1023", 1024, 1023, 1023);
  request_ok ("bytes=0-1023", 1024, 0, 1023);
  request_ok ("bytes=0-", 1024, 0, 1023);
  request_ok ("bytes=1023-", 1024, 1023, 1023);
  request_ok ("bytes=0-0", 1, 0, 0);
  request_ok ("bytes=0-", 1, 0, 0);

  /* LAST past the end is refused, as imageio does (RFC 9110 would clip). */
  request_bad ("bytes=0-1024", 1024, WHY_OUT);
  request_bad ("bytes=1000-5000", 1024, WHY_OUT);
  request_bad ("bytes=0-18446744073709551615", 1024, WHY_OUT);
  request_bad ("bytes=0-18446744073709551615", MAX, WHY_OUT);
  request_ok ("bytes=0-18446744073709551614", MAX, 0, MAX - 1);
  request_ok ("bytes=18446744073709551614-", MAX, MAX - 1, MAX - 1);

  /* Spelling that is still one valid range. */
  request_ok ("BYTES=1-2", 1024, 1, 2);
  request_ok ("Bytes=1-2", 1024, 1, 2);
  request_ok (" bytes=1-2 ", 1024, 1, 2);
  request_ok ("bytes = 1 - 2", 1024, 1, 2);
  request_ok ("bytes=\t1-2\t", 1024, 1, 2);
  request_ok ("bytes=0001-0002", 1024, 1, 2);

  /* The first byte at or past the end. */
  request_bad ("bytes=1024-", 1024, WHY_OUT);
  request_bad ("bytes=1024-1024", 1024, WHY_OUT);
  request_bad ("bytes=1024-2000", 1024, WHY_OUT);
  request_bad ("bytes=0-", 0, WHY_OUT);
  request_bad ("bytes=1-", 1, WHY_OUT);
  request_bad ("bytes=0-0", 0, WHY_OUT);
  request_bad ("bytes=18446744073709551615-", 1024, WHY_OUT);
  request_bad ("bytes=18446744073709551615-", MAX, WHY_OUT);

  /* Other units. */
  request_bad ("items=0-1", 1024, WHY_UNIT);
  request_bad ("byte=0-1", 1024, WHY_UNIT);
  request_bad ("bytesx=0-1", 1024, WHY_UNIT);
  request_bad ("bytes 0-1", 1024, WHY_UNIT);
  request_bad ("bytes", 1024, WHY_UNIT);
  request_bad ("", 1024, WHY_UNIT);
  request_bad ("=0-1", 1024, WHY_UNIT);

  /* Several ranges. */
  request_bad ("bytes=0-1,4-5", 1024, WHY_MULTI);
  request_bad ("bytes=0-1, 4-5", 1024, WHY_MULTI);
  request_bad ("bytes=0-1,", 1024, WHY_MULTI);
  request_bad ("bytes=-5,0-1", 1024, WHY_MULTI);

  /* Suffix form. */
  request_bad ("bytes=-5", 1024, WHY_SUFFIX);
  request_bad ("bytes=-0", 1024, WHY_SUFFIX);
  request_bad ("bytes=-", 1024, WHY_SUFFIX);
  request_bad ("bytes= -5", 1024, WHY_SUFFIX);

  /* Reversed (checked before the size). */
  request_bad ("bytes=10-5", 1024, WHY_REVERSED);
  request_bad ("bytes=1-0", 1024, WHY_REVERSED);
  request_bad ("bytes=2000-1500", 1024, WHY_REVERSED);

  /* Malformed. */
  request_bad ("bytes=", 1024, WHY_INVALID);
  request_bad ("bytes=5", 1024, WHY_INVALID);
  request_bad ("bytes=a-5", 1024, WHY_INVALID);
  request_bad ("bytes=5-a", 1024, WHY_INVALID);
  request_bad ("bytes=+5-6", 1024, WHY_INVALID);
  request_bad ("bytes=5-+6", 1024, WHY_INVALID);
  request_bad ("bytes=5--6", 1024, WHY_INVALID);
  request_bad ("bytes=0-1-2", 1024, WHY_INVALID);
  request_bad ("bytes=0x0-1", 1024, WHY_INVALID);
  request_bad ("bytes=1 2-3", 1024, WHY_INVALID);
  request_bad ("bytes=1-2 3", 1024, WHY_INVALID);
  request_bad ("bytes=1.5-3", 1024, WHY_INVALID);
  request_bad ("bytes=1-3;", 1024, WHY_INVALID);
  request_bad ("bytes==1-3", 1024, WHY_INVALID);
  /* Overflow of either number. */
  request_bad ("bytes=18446744073709551616-", 1024, WHY_INVALID);
  request_bad ("bytes=0-18446744073709551616", 1024, WHY_INVALID);
  request_bad ("bytes=0-99999999999999999999999", 1024, WHY_INVALID);
}

static void
test_content_range (void)
{
  /* Both edges. */
  content_range_ok ("bytes 0-0/1", 0, 0, 1);
  content_range_ok ("bytes 0-511/1024", 0, 511, 1024);
  content_range_ok ("bytes 0-1023/1024", 0, 1023, 1024);
  content_range_ok ("bytes 1023-1023/1024", 1023, 1023, 1024);
  content_range_ok ("bytes 512-1023/*", 512, 1023, MAX);
  content_range_ok ("bytes 0-0/*", 0, 0, MAX);
  content_range_ok ("bytes 0-18446744073709551614/18446744073709551615", 0,
                    MAX - 1, MAX);
  /* Unsatisfied range. */
  content_range_ok ("bytes */1024", MAX, MAX, 1024);
  content_range_ok ("bytes */0", MAX, MAX, 0);
  /* Spelling. */
  content_range_ok ("Bytes 1-2/3", 1, 2, 3);
  content_range_ok ("BYTES 1-2/3", 1, 2, 3);
  content_range_ok ("  bytes  1-2/3  ", 1, 2, 3);
  content_range_ok ("bytes\t1-2/3", 1, 2, 3);

  /* LAST at or past TOTAL, or before FIRST. */
  content_range_bad ("bytes 0-1024/1024");
  content_range_bad ("bytes 1024-1024/1024");
  content_range_bad ("bytes 0-0/0");
  content_range_bad ("bytes 5-4/10");
  content_range_bad ("bytes 5-4/*");
  /* Both unknown says nothing. */
  content_range_bad ("bytes */*");
  /* Malformed. */
  content_range_bad ("");
  content_range_bad ("bytes");
  content_range_bad ("bytes ");
  content_range_bad ("bytes=0-1/2");
  content_range_bad ("bytes0-1/2");
  content_range_bad ("items 0-1/2");
  content_range_bad ("bytes 0-1");
  content_range_bad ("bytes 0-1/");
  content_range_bad ("bytes 0-/2");
  content_range_bad ("bytes -1/2");
  content_range_bad ("bytes 0/2");
  content_range_bad ("bytes 0 -1/2");
  content_range_bad ("bytes 0- 1/2");
  content_range_bad ("bytes 0-1 /2");
  content_range_bad ("bytes 0-1/ 2");
  content_range_bad ("bytes 0-1/2/3");
  content_range_bad ("bytes 0-1/2x");
  content_range_bad ("bytes 0-1/*x");
  content_range_bad ("bytes +0-1/2");
  content_range_bad ("bytes 0-1/-2");
  content_range_bad ("bytes 0-1,3-4/9");
  content_range_bad ("bytes * /2");
  content_range_bad ("bytes */ 2");
  content_range_bad ("bytes **/2");
  /* Overflow. */
  content_range_bad ("bytes 0-1/18446744073709551616");
  content_range_bad ("bytes 0-18446744073709551616/*");
  content_range_bad ("bytes 18446744073709551616-18446744073709551617/*");
  content_range_bad ("bytes */18446744073709551616");
}

int
main (void)
{
  test_u64 ();
  test_request ();
  test_content_range ();
  return 0;
}
