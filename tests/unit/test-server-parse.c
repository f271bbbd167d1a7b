/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of server/parse.c: request targets, query strings, framing
 * headers and PATCH/control bodies, each edge named.  Aborts on the first
 * failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#include "check.h"

static int
target (const char *uri)
{
  size_t plen;
  char err[128];

  return uri_check (uri, strlen (uri), &plen, err, sizeof err);
}

static void
test_target (void)
{
  size_t plen;
  char err[128];

  CHECK (target ("/images/abc") == 0);
  CHECK (target ("/images/abc/extents?context=zero") == 0);
  CHECK (target ("/images/a%41c") == 0);
  CHECK (target ("/images/abc?x=%2f") == 0); /* '/' in the query is fine */
  CHECK (target ("/images/abc%00") == -1);
  CHECK (target ("/images/abc?flush=y%00") == -1);
  CHECK (target ("/images/abc%2fextents") == -1);
  CHECK (target ("/images/abc%2Fextents") == -1);
  CHECK (target ("/images/abc%5cx") == -1);
  CHECK (target ("/images/abc%") == -1);
  CHECK (target ("/images/abc%4") == -1);
  CHECK (target ("/images/abc%zz") == -1);
  CHECK (target ("/images/a c") == -1);
  CHECK (target ("/images/a\tc") == -1);
  CHECK (target ("/images/a\x7f") == -1);
  CHECK (target ("/images/\xc3\xa9") == -1);
  CHECK (uri_check ("/a\0b", 4, &plen, err, sizeof err) == -1);
  CHECK (uri_check ("/a?b", 4, &plen, err, sizeof err) == 0 && plen == 2);
  CHECK (strstr (err, "\n") == NULL);
}

static void
test_query (void)
{
  struct query q;
  char err[128];
  const char *s;
  int v;

  s = "flush=n&close=y&context=zero";
  CHECK (query_parse (s, strlen (s), &q, err, sizeof err) == 0);
  CHECK (q.n == 3);
  CHECK (strcmp (query_get (&q, "flush"), "n") == 0);
  CHECK (strcmp (query_get (&q, "context"), "zero") == 0);
  CHECK (query_get (&q, "x") == NULL && !query_has (&q, "x"));
  query_free (&q);

  /* First wins; a key without '=' has no value; empty pieces skipped. */
  s = "flush=n&flush=y&close&&=v";
  CHECK (query_parse (s, strlen (s), &q, err, sizeof err) == 0);
  CHECK (strcmp (query_get (&q, "flush"), "n") == 0);
  CHECK (query_has (&q, "close") && query_get (&q, "close") == NULL);
  CHECK (strcmp (query_get (&q, ""), "v") == 0);
  query_free (&q);

  s = "fl%75sh=%79";
  CHECK (query_parse (s, strlen (s), &q, err, sizeof err) == 0);
  CHECK (strcmp (query_get (&q, "flush"), "y") == 0);
  query_free (&q);

  CHECK (query_parse ("flush=y%00", 10, &q, err, sizeof err) == -1);
  CHECK (query_parse ("flush=%0", 8, &q, err, sizeof err) == -1);
  CHECK (query_parse ("a=1&b=2", 7, &q, err, sizeof err) == 0);
  query_free (&q);
  s = "a&a&a&a&a&a&a&a&a&a&a&a&a&a&a&a&a";
  CHECK (query_parse (s, strlen (s), &q, err, sizeof err) == -1);
  CHECK (query_parse ("", 0, &q, err, sizeof err) == 0 && q.n == 0);
  query_free (&q);

  CHECK (parse_yes_no (NULL, 1, &v) == 0 && v == 1);
  CHECK (parse_yes_no ("n", 1, &v) == 0 && v == 0);
  CHECK (parse_yes_no ("y", 0, &v) == 0 && v == 1);
  CHECK (parse_yes_no ("", 1, &v) == -1);
  CHECK (parse_yes_no ("yes", 1, &v) == -1);
}

static int
framing (size_t n, const char *const *names, const char *const *values)
{
  char err[128];

  return framing_check (names, values, n, err, sizeof err);
}

static void
test_framing (void)
{
  const char *cl[] = { "Host", "Content-Length" };
  const char *ok[] = { "x", "5" };
  const char *two[] = { "Content-Length", "content-length" };
  const char *same[] = { "5", "5" };
  const char *diff[] = { "0", "40" };
  const char *clte[] = { "Content-Length", "Transfer-Encoding" };
  const char *clte_v[] = { "5", "chunked" };
  const char *te[] = { "Transfer-Encoding" };
  const char *chunked[] = { "chunked" };
  const char *gzip[] = { "gzip, chunked" };
  const char *te2[] = { "Transfer-Encoding", "TRANSFER-ENCODING" };
  const char *te2_v[] = { "chunked", "chunked" };
  const char *sp[] = { "Content-Length " };
  const char *bad[][1] = { { "5x" }, { "-1" }, { "+5" },
                           { "" },   { " 5" }, { "99999999999999999999" } };

  CHECK (framing (2, cl, ok) == 0);
  CHECK (framing (0, NULL, NULL) == 0);
  CHECK (framing (2, two, same) == -1);
  CHECK (framing (2, two, diff) == -1);
  CHECK (framing (2, clte, clte_v) == -1);
  CHECK (framing (1, te, chunked) == 0);
  CHECK (framing (1, te, gzip) == -1);
  CHECK (framing (2, te2, te2_v) == -1);
  CHECK (framing (1, sp, ok + 1) == -1);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK (framing (1, cl + 1, bad[i]) == -1);
}

static void
test_bodies (void)
{
  struct patch_request p;
  char err[256], id[16];
  uint64_t timeout;
  const char *s;

  s = "{\"op\": \"zero\", \"offset\": 4096, \"size\": 512, \"flush\": true}";
  CHECK (parse_patch (s, strlen (s), &p, err, sizeof err) == 0);
  CHECK (p.op == PATCH_ZERO && p.offset == 4096 && p.size == 512 && p.flush);
  s = "{\"op\": \"flush\", \"size\": \"x\"}";
  CHECK (parse_patch (s, strlen (s), &p, err, sizeof err) == 0);
  CHECK (p.op == PATCH_FLUSH);
  s = "{\"op\": \"zero\"}";
  CHECK (parse_patch (s, strlen (s), &p, err, sizeof err) == -1);
  CHECK (strcmp (err, "Missing required value for 'size'") == 0);
  s = "{\"op\": \"trim\"}";
  CHECK (parse_patch (s, strlen (s), &p, err, sizeof err) == -1);
  CHECK (strcmp (err, "Unsupported value 'trim' for 'op', expecting one of "
                      "['flush', 'zero']")
         == 0);
  s = "{\"op\": \"tr\\nim\"}";
  CHECK (parse_patch (s, strlen (s), &p, err, sizeof err) == -1);
  CHECK (strchr (err, '\n') == NULL);
  CHECK (parse_patch ("{\"op\": \"flush\"}\0x", 17, &p, err, sizeof err) == -1);
  CHECK (strcmp (err, "Invalid JSON: NUL byte in body") == 0);
  CHECK (parse_patch (NULL, 0, &p, err, sizeof err) == -1);
  CHECK (strcmp (err, "Invalid JSON: empty body") == 0);
  CHECK (parse_patch ("[1]", 3, &p, err, sizeof err) == -1);
  CHECK (strcmp (err, "Invalid JSON: expecting an object") == 0);

  CHECK (parse_control_path ("/tickets/abc", id, sizeof id) == 0);
  CHECK (strcmp (id, "abc") == 0);
  CHECK (parse_control_path ("/tickets/", id, sizeof id) == -1);
  CHECK (parse_control_path ("/tickets/a/b", id, sizeof id) == -1);
  CHECK (parse_control_path ("/TICKETS/abc", id, sizeof id) == -1);
  CHECK (parse_control_path ("/tickets/0123456789abcdef", id, sizeof id) == -1);
  CHECK (
      parse_control_patch ("{\"timeout\": 30}", 15, &timeout, err, sizeof err)
          == 0
      && timeout == 30);
  CHECK (
      parse_control_patch ("{\"timeout\": -1}", 15, &timeout, err, sizeof err)
      == -1);
}

int
main (void)
{
  test_target ();
  test_query ();
  test_framing ();
  test_bodies ();
  return 0;
}
