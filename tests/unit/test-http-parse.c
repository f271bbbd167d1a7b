/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/http-parse.c: response heads (each strictness rule)
 * and chunk-size lines.  Every input is copied into a buffer of exactly its
 * length, without a NUL, so ASan or valgrind catch a read past LEN.
 * Aborts on the first failure.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#include "check.h"

/* Parses LEN bytes of S from an exact-size heap copy. */
static int
parse_n (const char *s, size_t len, struct http_response *resp, bool *chunked)
{
  char *copy = malloc (len ? len : 1);
  int r;

  CHECK (copy != NULL);
  memcpy (copy, s, len);
  r = http_parse_head (copy, len, resp, chunked);
  free (copy);
  return r;
}

static int
parse (const char *s, struct http_response *resp, bool *chunked)
{
  return parse_n (s, strlen (s), resp, chunked);
}

static void
bad (const char *s)
{
  struct http_response resp;
  bool chunked;

  if (parse (s, &resp, &chunked) != -1)
    {
      fprintf (stderr, "accepted a bad head: \"%s\"\n", s);
      abort ();
    }
}

static void
good (const char *s, struct http_response *resp, bool *chunked)
{
  if (parse (s, resp, chunked) != 0)
    {
      fprintf (stderr, "rejected a good head: \"%s\"\n", s);
      abort ();
    }
}

static void
test_good_heads (void)
{
  struct http_response r;
  bool ch;

  good ("HTTP/1.1 200 OK\r\n\r\n", &r, &ch);
  CHECK (r.status == 200 && strcmp (r.reason, "OK") == 0);
  CHECK (r.keep_alive && !ch && r.content_length == -1);
  CHECK (r.content_range[0] == '\0' && r.content_type[0] == '\0');
  CHECK (r.allow[0] == '\0' && r.error_text[0] == '\0' && r.body_len == 0);

  good ("HTTP/1.1 206 Partial Content\r\n"
        "content-length: 4096\r\n"
        "content-range: bytes 0-4095/1048576\r\n"
        "content-type: application/octet-stream\r\n"
        "content-disposition: attachment\r\n"
        "\r\n",
        &r, &ch);
  CHECK (r.status == 206 && strcmp (r.reason, "Partial Content") == 0);
  CHECK (r.content_length == 4096 && !ch && r.keep_alive);
  CHECK (strcmp (r.content_range, "bytes 0-4095/1048576") == 0);
  CHECK (strcmp (r.content_type, "application/octet-stream") == 0);

  /* Names are case-insensitive; OWS around values is dropped. */
  good ("HTTP/1.1 200 OK\r\nCONTENT-Length: \t 5 \t\r\n"
        "Content-TYPE:text/plain\r\n\r\n",
        &r, &ch);
  CHECK (r.content_length == 5 && strcmp (r.content_type, "text/plain") == 0);

  /* Keep-alive rules. */
  good ("HTTP/1.0 200 OK\r\n\r\n", &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", &r, &ch);
  CHECK (r.keep_alive);
  good ("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\n\r\n", &r, &ch);
  CHECK (r.keep_alive);
  good ("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.1 200 OK\r\nConnection: CLOSE\r\n\r\n", &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.1 200 OK\r\nConnection: foo,  close ,bar\r\n\r\n", &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", &r, &ch);
  CHECK (r.keep_alive);
  good ("HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
        &r, &ch);
  CHECK (!r.keep_alive);
  good ("HTTP/1.9 200 OK\r\n\r\n", &r, &ch);
  CHECK (r.keep_alive);

  /* Equal duplicate Content-Length is allowed. */
  good ("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", &r,
        &ch);
  CHECK (r.content_length == 7);
  good ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &r, &ch);
  CHECK (r.content_length == 0);
  good ("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n", &r, &ch);
  CHECK (r.content_length == 7);
  good ("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n", &r,
        &ch);
  CHECK (r.content_length == INT64_MAX);

  /* Chunked. */
  good ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &r, &ch);
  CHECK (ch && r.content_length == -1);
  good ("HTTP/1.1 200 OK\r\ntransfer-encoding:  CHUNKED \r\n\r\n", &r, &ch);
  CHECK (ch);

  /* Reason phrase: optional, truncated, obs-text allowed. */
  good ("HTTP/1.1 204\r\n\r\n", &r, &ch);
  CHECK (r.status == 204 && r.reason[0] == '\0');
  good ("HTTP/1.1 204 \r\n\r\n", &r, &ch);
  CHECK (r.status == 204 && r.reason[0] == '\0');
  good ("HTTP/1.1 500 Internal \xc3\xa9rror\twith tab\r\n\r\n", &r, &ch);
  CHECK (r.status == 500
         && strcmp (r.reason, "Internal \xc3\xa9rror\twith tab") == 0);
  good ("HTTP/1.1 400 "
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "\r\n\r\n",
        &r, &ch);
  CHECK (strlen (r.reason) == sizeof r.reason - 1);
  CHECK (memcmp (r.reason, "0123456789", 10) == 0);

  /* Interim responses parse like any other. */
  good ("HTTP/1.1 100 Continue\r\n\r\n", &r, &ch);
  CHECK (r.status == 100);
  good ("HTTP/1.1 599 X\r\n\r\n", &r, &ch);
  CHECK (r.status == 599);

  /* Allow: several lines join; an empty value and unknown headers pass. */
  good ("HTTP/1.1 200 OK\r\nAllow: OPTIONS,GET\r\nX-Empty:\r\n"
        "allow: PUT\r\nX-Weird-!#$%&'*+.^_`|~: \x80\xff\r\n\r\n",
        &r, &ch);
  CHECK (strcmp (r.allow, "OPTIONS,GET, PUT") == 0);

  /* A long Allow is truncated, never overflowed. */
  {
    char big[600];
    int n = snprintf (big, sizeof big, "HTTP/1.1 200 OK\r\nAllow: ");
    for (int i = 0; i < 300; i++)
      big[n++] = 'A';
    snprintf (big + n, sizeof big - n, "\r\nAllow: B\r\n\r\n");
    good (big, &r, &ch);
    CHECK (strlen (r.allow) == sizeof r.allow - 1);
  }

  /* Content-Type is truncated. */
  {
    char big[300];
    int n = snprintf (big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Type: ");
    for (int i = 0; i < 100; i++)
      big[n++] = 't';
    snprintf (big + n, sizeof big - n, "\r\n\r\n");
    good (big, &r, &ch);
    CHECK (strlen (r.content_type) == sizeof r.content_type - 1);
  }

  /* The largest Content-Range fits. */
  good ("HTTP/1.1 206 OK\r\nContent-Range: bytes "
        "18446744073709551614-18446744073709551615/18446744073709551615"
        "\r\n\r\n",
        &r, &ch);
  CHECK (strncmp (r.content_range, "bytes 1844", 10) == 0);

  /* The parser re-initialises RESP completely. */
  memset (&r, 0x55, sizeof r);
  good ("HTTP/1.1 404 Not Found\r\n\r\n", &r, &ch);
  CHECK (r.status == 404 && r.content_length == -1 && r.body_len == 0);
  CHECK (r.content_range[0] == '\0' && r.error_text[0] == '\0');
}

static void
test_bad_heads (void)
{
  /* Framing. */
  bad ("");
  bad ("\r\n");
  bad ("\r\n\r\n");
  bad ("HTTP/1.1 200 OK");
  bad ("HTTP/1.1 200 OK\r\n");
  bad ("HTTP/1.1 200 OK\r\n\r");
  bad ("HTTP/1.1 200 OK\r\n\r\nX"); /* bytes after the end */
  bad ("HTTP/1.1 200 OK\r\n\r\n\r\n");
  bad ("HTTP/1.1 200 OK\n\n"); /* bare LF */
  bad ("HTTP/1.1 200 OK\r\nA: b\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nA: b\r\n\n");
  bad ("HTTP/1.1 200 OK\r\rA: b\r\n\r\n"); /* bare CR */
  bad ("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n");
  bad ("\r\nHTTP/1.1 200 OK\r\n\r\n"); /* leading empty line */

  /* Status line. */
  bad ("HTTP/2 200 OK\r\n\r\n");
  bad ("HTTP/2.0 200 OK\r\n\r\n");
  bad ("HTTP/1.x 200 OK\r\n\r\n");
  bad ("HTTP/1.10 200 OK\r\n\r\n");
  bad ("http/1.1 200 OK\r\n\r\n");
  bad ("HTTP/1.1  200 OK\r\n\r\n");
  bad ("HTTP/1.1 20 OK\r\n\r\n");
  bad ("HTTP/1.1 2000 OK\r\n\r\n");
  bad ("HTTP/1.1 200OK\r\n\r\n");
  bad ("HTTP/1.1 099 X\r\n\r\n");
  bad ("HTTP/1.1 600 X\r\n\r\n");
  bad ("HTTP/1.1 2a0 X\r\n\r\n");
  bad ("HTTP/1.1 -20 X\r\n\r\n");
  bad ("HTTP/1.1\t200 OK\r\n\r\n");
  bad ("HTTP/1.1 200 O\x01K\r\n\r\n");
  bad ("HTTP/1.1 200 O\x7fK\r\n\r\n");
  bad ("ICY 200 OK\r\n\r\n");
  bad (" HTTP/1.1 200 OK\r\n\r\n");

  /* Header lines. */
  bad ("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"); /* obs-fold */
  bad ("HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\n A: b\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"); /* space before : */
  bad ("HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\n: value\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nBad(Name): v\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nBad/Name: v\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n");

  /* Content-Length. */
  bad ("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5,5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 05x\r\n\r\n");

  /* Transfer-Encoding. */
  bad ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 5\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
       "Transfer-Encoding: chunked\r\n\r\n");
  bad ("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n");

  /* Fields we keep: no duplicates, no truncated Content-Range. */
  bad ("HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n");
  bad ("HTTP/1.1 206 OK\r\nContent-Range: bytes 0-1/2\r\n"
       "Content-Range: bytes 0-1/2\r\n\r\n");
  {
    char big[300];
    int n = snprintf (big, sizeof big, "HTTP/1.1 206 OK\r\nContent-Range: ");
    for (int i = 0; i < 96; i++)
      big[n++] = '1';
    snprintf (big + n, sizeof big - n, "\r\n\r\n");
    bad (big);
  }
}

/* Bytes that C strings cannot hold, and lengths shorter than the buffer. */
static void
test_lengths (void)
{
  struct http_response r;
  bool ch;
  static const char nul_reason[] = "HTTP/1.1 200 O\0K\r\n\r\n";
  static const char nul_value[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
  static const char nul_name[] = "HTTP/1.1 200 OK\r\nA\0: b\r\n\r\n";
  static const char good_head[]
      = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
  size_t head_len = sizeof good_head - 1 - 3;

  CHECK (parse_n (nul_reason, sizeof nul_reason - 1, &r, &ch) == -1);
  CHECK (parse_n (nul_value, sizeof nul_value - 1, &r, &ch) == -1);
  CHECK (parse_n (nul_name, sizeof nul_name - 1, &r, &ch) == -1);

  /* The exact head parses; every shorter prefix is incomplete; the head
   * with its body attached has trailing bytes.
   */
  CHECK (parse_n (good_head, head_len, &r, &ch) == 0);
  CHECK (r.content_length == 3 && !r.keep_alive);
  for (size_t n = 0; n < head_len; n++)
    CHECK (parse_n (good_head, n, &r, &ch) == -1);
  CHECK (parse_n (good_head, sizeof good_head - 1, &r, &ch) == -1);
}

/* Decodes the chunked body S (LEN bytes) fed in pieces of STEP bytes (a
 * new buffer each time, as bytes arrive): returns what the decoder
 * returned last, the decoded data in OUT (*OUT_LEN bytes) and the bytes
 * after the body in TAIL (*TAIL_LEN).
 */
static ssize_t
decode (const char *s, size_t len, size_t step, char *out, size_t *out_len,
        char *tail, size_t *tail_len)
{
  struct http_chunked d = { 0 };
  ssize_t r = -2;

  *out_len = *tail_len = 0;
  for (size_t off = 0; off < len && r == -2; off += step)
    {
      size_t n = len - off < step ? len - off : step, got = n;
      char *piece = malloc (n);

      CHECK (piece != NULL);
      memcpy (piece, s + off, n);
      r = http_decode_chunked (&d, piece, &got);
      if (r != -1)
        {
          CHECK (got <= n);
          memcpy (out + *out_len, piece, got);
          *out_len += got;
        }
      if (r >= 0)
        {
          CHECK (got + (size_t)r <= n);
          memcpy (tail, piece + got, r);
          *tail_len = r;
          /* What was not fed yet is after the body too. */
          memcpy (tail + r, s + off + n, len - off - n);
          *tail_len += len - off - n;
        }
      free (piece);
    }
  return r;
}

/* Every piece size gives the same answer. */
static void
decode_is (const char *s, const char *want, const char *want_tail)
{
  size_t len = strlen (s);
  char out[256], tail[256];
  size_t out_len, tail_len;

  for (size_t step = 1; step <= len; step++)
    {
      ssize_t r = decode (s, len, step, out, &out_len, tail, &tail_len);

      if (r < 0 || out_len != strlen (want) || memcmp (out, want, out_len)
          || tail_len != strlen (want_tail)
          || memcmp (tail, want_tail, tail_len))
        {
          fprintf (stderr,
                   "decode \"%s\" step %zu: r %zd, got \"%.*s\" "
                   "tail \"%.*s\"\n",
                   s, step, r, (int)out_len, out, (int)tail_len, tail);
          abort ();
        }
    }
}

/* Every piece size fails (-1), or (INCOMPLETE) never ends (-2). */
static void
decode_fails (const char *s, size_t len, ssize_t want)
{
  char out[4096], tail[4096];
  size_t out_len, tail_len;

  for (size_t step = 1; step <= len; step++)
    {
      ssize_t r = decode (s, len, step, out, &out_len, tail, &tail_len);

      if (r != want)
        {
          fprintf (stderr, "decode \"%.*s\" step %zu: %zd, expected %zd\n",
                   (int)len, s, step, r, want);
          abort ();
        }
    }
}
#define BAD(s) decode_fails (s, strlen (s), -1)
#define SHORT(s) decode_fails (s, strlen (s), -2)

static void
test_chunked (void)
{
  decode_is ("0\r\n\r\n", "", "");
  decode_is ("3\r\nabc\r\n0\r\n\r\n", "abc", "");
  decode_is ("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nHTTP/1.1", "abcde", "HTTP/1.1");
  decode_is ("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
             "01234567890123456789", "");
  decode_is ("3;name=value\r\nabc\r\n0;x\r\n\r\n", "abc", "");
  decode_is ("3 ;a\r\nabc\r\n0\t\r\n\r\n", "abc", "");
  decode_is ("03\r\nabc\r\n000\r\n\r\n", "abc", "");
  decode_is ("3\r\nabc\r\n0\r\nTrailer: x\r\nMore: y\r\n\r\nnext", "abc",
             "next");
  /* Data holding CRLFs and what looks like sizes. */
  decode_is ("4\r\n\r\n0\r\r\n0\r\n\r\n", "\r\n0\r", "");

  BAD ("g\r\n");
  BAD ("\r\n");
  BAD (" 3\r\nabc\r\n0\r\n\r\n");
  BAD ("-1\r\n");
  BAD ("0x3\r\n");
  BAD ("1 2\r\n");
  BAD (";x\r\n");
  BAD ("3\nabc\r\n0\r\n\r\n");    /* bare LF */
  BAD ("3\r\nabcd\r\n0\r\n\r\n"); /* data longer than the size */
  BAD ("3\r\nabc\n0\r\n\r\n");
  BAD ("3\r\nabc\r\n0\r\n\r\r\n");
  BAD ("10000000000000000\r\n"); /* 2^64 */
  BAD ("3;a\x01\r\n");
  BAD ("0\r\nX: a\x01\r\n\r\n");
  SHORT ("3\r\nab");
  SHORT ("3\r\nabc\r\n");
  SHORT ("0\r\n");
  SHORT ("0\r\nTrailer: x\r\n");
  /* NUL is fine in data, not in a size line. */
  {
    static const char s[] = "3\r\na\0c\r\n0\r\n\r\n";
    char out[16], tail[16];
    size_t ol, tl;

    CHECK (decode (s, sizeof s - 1, 1, out, &ol, tail, &tl) == 0);
    CHECK (ol == 3 && memcmp (out, "a\0c", 3) == 0);
    decode_fails ("3\0\r\n", 4, -1);
  }
  /* Lines and trailers are bounded. */
  {
    static char big[HTTP_CHUNK_TRAILER_MAX + 1024];
    size_t n;

    memset (big, ' ', sizeof big);
    memcpy (big, "1;", 2);
    n = HTTP_CHUNK_LINE_MAX + 8;
    decode_fails (big, n, -1);
    memcpy (big, "0\r\nX: ", 6);
    for (size_t i = 6; i + 2 < sizeof big; i += 100)
      memcpy (big + i, "\r\nY:", 4);
    decode_fails (big, sizeof big, -1);
  }
}

int
main (void)
{
  test_good_heads ();
  test_bad_heads ();
  test_lengths ();
  test_chunked ();
  printf ("test-http-parse: ok\n");
  return 0;
}
