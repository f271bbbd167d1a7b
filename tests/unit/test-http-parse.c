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

static int
chunk (const char *s, size_t len, uint64_t *size)
{
  char *copy = malloc (len ? len : 1);
  int r;

  CHECK (copy != NULL);
  memcpy (copy, s, len);
  r = http_parse_chunk_size (copy, len, size);
  free (copy);
  return r;
}

#define CHUNK_OK(s, v)                                                         \
  do                                                                           \
    {                                                                          \
      uint64_t sz_ = 12345;                                                    \
      CHECK (chunk (s, strlen (s), &sz_) == 0);                                \
      CHECK (sz_ == (v));                                                      \
    }                                                                          \
  while (0)
#define CHUNK_BAD(s)                                                           \
  do                                                                           \
    {                                                                          \
      uint64_t sz_;                                                            \
      CHECK (chunk (s, strlen (s), &sz_) == -1);                               \
    }                                                                          \
  while (0)

static void
test_chunk_sizes (void)
{
  uint64_t sz;

  CHUNK_OK ("0", 0);
  CHUNK_OK ("1", 1);
  CHUNK_OK ("a", 10);
  CHUNK_OK ("1a", 26);
  CHUNK_OK ("1A", 26);
  CHUNK_OK ("fFfF", 0xffff);
  CHUNK_OK ("00000000000000000000000010", 16); /* leading zeros */
  CHUNK_OK ("7fffffffffffffff", INT64_MAX);
  CHUNK_OK ("FFFFFFFFFFFFFFFF", UINT64_MAX);
  CHUNK_OK ("10;name=value", 16);
  CHUNK_OK ("10;name=\"quoted value\"", 16);
  CHUNK_OK ("10 ;name", 16);
  CHUNK_OK ("10\t; a ; b=c", 16);
  CHUNK_OK ("10 ", 16);

  CHUNK_BAD ("");
  CHUNK_BAD (" 1");
  CHUNK_BAD ("g");
  CHUNK_BAD ("-1");
  CHUNK_BAD ("+1");
  CHUNK_BAD ("0x10");
  CHUNK_BAD ("1 2");
  CHUNK_BAD ("1,2");
  CHUNK_BAD (";ext");
  CHUNK_BAD ("10000000000000000"); /* 2^64 */
  CHUNK_BAD ("FFFFFFFFFFFFFFFF0");
  CHUNK_BAD ("1;\r");
  CHUNK_BAD ("1;a\nb");
  CHUNK_BAD ("1\r");

  /* NUL bytes and a length shorter than the buffer. */
  CHECK (chunk ("1\0", 2, &sz) == -1);
  CHECK (chunk ("1;\0", 3, &sz) == -1);
  CHECK (chunk ("12345", 2, &sz) == 0 && sz == 0x12);
  CHECK (chunk ("12345", 0, &sz) == -1);
}

int
main (void)
{
  test_good_heads ();
  test_bad_heads ();
  test_lengths ();
  test_chunk_sizes ();
  printf ("test-http-parse: ok\n");
  return 0;
}
