/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/json.c: the OPTIONS parser (all fields, missing
 * fields, wrong types, abstract and null unix_socket) and the streaming
 * extents parser (good documents fed whole and byte by byte, and every kind
 * of bad document, each with its one-line reason).  Aborts on failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#include "check.h"
#include "extent-collect.h"

/* ---------------------------------------------------------------- OPTIONS */

static int
opts (const char *body, struct imageio_options *o, char *err)
{
  int r = json_parse_options (body, strlen (body), o, err, 256);

  if (r == -1)
    {
      printf ("options error: %s\n", err);
      CHECK (strchr (err, '\n') == NULL && err[0] != '\0');
    }
  return r;
}

static void
expect_options_error (const char *body, const char *needle)
{
  struct imageio_options o;
  char err[256];

  CHECK (opts (body, &o, err) == -1);
  if (strstr (err, needle) == NULL)
    {
      fprintf (stderr, "body %s: error \"%s\" lacks \"%s\"\n", body, err,
               needle);
      abort ();
    }
}

static void
test_options (void)
{
  struct imageio_options o;
  char err[256];
  char *big;

  /* Everything, as a real daemon answers (abstract socket). */
  CHECK (
      opts ("{\"unix_socket\": \"\\u0000/org/ovirt/imageio\", "
            "\"features\": [\"checksum\", \"extents\", \"flush\", \"zero\"], "
            "\"max_readers\": 8, \"max_writers\": 1}\n",
            &o, err)
      == 0);
  CHECK (o.has_extents && o.has_zero && o.has_flush && o.has_checksum);
  CHECK (o.max_readers == 8 && o.max_writers == 1);
  CHECK (o.unix_socket_len == 19);
  CHECK (o.unix_socket[0] == '\0');
  CHECK (memcmp (o.unix_socket + 1, "/org/ovirt/imageio", 18) == 0);

  /* "*" answer: features only; read-only ticket: no zero/flush. */
  CHECK (opts ("{\"features\": [\"extents\", \"checksum\", \"new-thing\"]}", &o,
               err)
         == 0);
  CHECK (o.has_extents && !o.has_zero && !o.has_flush && o.has_checksum);
  CHECK (o.max_readers == 0 && o.max_writers == 0 && o.unix_socket_len == 0);

  CHECK (opts ("{}", &o, err) == 0);
  CHECK (!o.has_extents && !o.has_zero && o.unix_socket_len == 0);

  /* Null socket, path socket, unknown keys with nested values. */
  CHECK (opts ("{\"unix_socket\": null, \"features\": []}", &o, err) == 0);
  CHECK (o.unix_socket_len == 0);
  CHECK (opts ("{\"unix_socket\": \"/run/imageio.sock\", "
               "\"x\": {\"a\": [1, {\"b\": null}], \"c\": \"d\"}, "
               "\"y\": [[], {}], \"features\": [\"zero\"]}",
               &o, err)
         == 0);
  CHECK (o.unix_socket_len == 17
         && strcmp (o.unix_socket, "/run/imageio.sock") == 0);
  CHECK (o.has_zero);

  /* Wrong types and values. */
  expect_options_error ("[]", "not a JSON object");
  expect_options_error ("\"x\"", "not a JSON object");
  expect_options_error ("{\"features\": \"extents\"}", "features");
  expect_options_error ("{\"features\": [1]}", "features: expected strings");
  expect_options_error ("{\"features\": [[\"zero\"]]}", "features");
  expect_options_error ("{\"features\": null}", "features");
  expect_options_error ("{\"max_readers\": \"8\"}", "max_readers");
  expect_options_error ("{\"max_readers\": -1}", "max_readers: -1 is negative");
  expect_options_error ("{\"max_writers\": 1.5}",
                        "max_writers: 1.5 is not an integer");
  expect_options_error ("{\"max_writers\": 99999999999}", "too large");
  expect_options_error ("{\"max_writers\": true}", "max_writers");
  expect_options_error ("{\"unix_socket\": 5}", "unix_socket");
  expect_options_error ("{\"unix_socket\": [\"a\"]}", "unix_socket");
  expect_options_error ("{\"unix_socket\": \"/a\\u0000b\"}", "NUL");
  expect_options_error ("{\"features\": [\"zero\"]", "not JSON");
  expect_options_error ("{\"features\": [\"zero\"]} {}", "not JSON");
  expect_options_error ("", "not JSON");
  expect_options_error ("<html>", "not JSON");

  /* Too long socket names, and a body over the bound. */
  big = malloc (100000);
  CHECK (big);
  strcpy (big, "{\"unix_socket\": \"/");
  memset (big + strlen (big), 'a', 120);
  strcpy (big + 18 + 120, "\"}");
  expect_options_error (big, "too long");
  memset (big, ' ', 99999);
  big[0] = '{';
  big[99997] = '}';
  big[99999] = '\0';
  expect_options_error (big, "larger than");
  free (big);
}

/* ---------------------------------------------------------------- extents */

/* Feeds DOC in pieces of CHUNK bytes (0: all at once). */
static struct extent_map *
parse (const char *doc, size_t len, uint64_t size, uint64_t max, size_t chunk,
       char *err, size_t errlen)
{
  struct extents_parser *p = extents_parser_new (size, max);
  struct extent_map *m;
  size_t off = 0;
  int failed = 0;

  CHECK (p);
  CHECK (extents_parser_error (p) == NULL);
  if (chunk == 0)
    chunk = len ? len : 1;
  while (off < len)
    {
      size_t n = len - off < chunk ? len - off : chunk;

      if (extents_parser_feed (p, doc + off, n) == -1)
        {
          CHECK (extents_parser_error (p) != NULL);
          /* Once failed, it stays failed. */
          CHECK (extents_parser_feed (p, "[", 1) == -1);
          failed = 1;
          break;
        }
      off += n;
    }
  m = extents_parser_finish (p, err, errlen);
  CHECK (!(failed && m));
  extents_parser_free (p);
  return m;
}

static struct extent_map *
parse_str (const char *doc, uint64_t size, size_t chunk, char *err)
{
  return parse (doc, strlen (doc), size, 1 << 20, chunk, err, 256);
}

static void
expect_error (const char *doc, uint64_t size, const char *needle)
{
  char err[256];
  size_t chunk;

  /* The same reason whether fed whole or byte by byte. */
  for (chunk = 0; chunk <= 1; chunk++)
    {
      struct extent_map *m = parse_str (doc, size, chunk, err);

      if (m != NULL || strstr (err, needle) == NULL)
        {
          fprintf (stderr, "doc %s: error \"%s\" lacks \"%s\"\n", doc,
                   m ? "(none)" : err, needle);
          abort ();
        }
      CHECK (strchr (err, '\n') == NULL);
      if (chunk == 0)
        printf ("extents error: %s\n", err);
    }
}

static void
test_extents_good (void)
{
  const char *doc
      = "[{\"start\": 0, \"length\": 65536, \"zero\": false, \"hole\": "
        "false},\n"
        " {\"start\": 65536, \"length\": 1048576, \"zero\": true, \"hole\": "
        "true},\n"
        " {\"start\": 1114112, \"length\": 4096, \"zero\": true, \"hole\": "
        "false},\n"
        " {\"start\": 1118208, \"length\": 4096, \"zero\": false, \"hole\": "
        "true},\n"
        " {\"start\": 1122304, \"length\": 4096, \"zero\": false}]\n";
  const uint64_t size = 1126400;
  char err[256];
  size_t chunk;

  for (chunk = 0; chunk <= 7; chunk++)
    {
      struct extent_map *m = parse_str (doc, size, chunk, err);
      struct exts x = { 0 };

      CHECK (m);
      CHECK (extent_map_size (m) == size);
      /* data, hole+zero, zero, data (hole but not zero), data: merged. */
      CHECK (extent_map_count (m) == 4);
      CHECK (extent_map_query (m, 0, size, false, collect, &x) == 0);
      CHECK (x.n == 4);
      CHECK (x.e[0].start == 0 && x.e[0].length == 65536 && x.e[0].type == 0);
      CHECK (x.e[1].length == 1048576 && x.e[1].type == EXTENT_TYPE_HOLE_ZERO);
      CHECK (x.e[2].length == 4096 && x.e[2].type == EXTENT_TYPE_ZERO);
      CHECK (x.e[3].start == 1118208 && x.e[3].length == 8192
             && x.e[3].type == 0);
      extent_map_free (m);
    }

  /* Older servers: no "hole"; extra keys (e.g. "dirty") ignored, even
   * nested ones.
   */
  {
    struct extent_map *m = parse_str (
        "[{\"start\":0,\"length\":512,\"zero\":true,\"dirty\":false},"
        "{\"x\":[1,{\"y\":[null]}],\"start\":512,\"length\":512,"
        "\"zero\":false,\"z\":{}}]",
        1024, 0, err);
    struct exts x = { 0 };

    CHECK (m);
    CHECK (extent_map_query (m, 0, 1024, false, collect, &x) == 0);
    CHECK (x.n == 2 && x.e[0].type == EXTENT_TYPE_ZERO && x.e[1].type == 0);
    extent_map_free (m);
  }

  /* qemu rounds up to 512: a 52441145-byte ticket, extents to 52441600,
   * clipped to the image; extents wholly past it are validated but dropped.
   */
  {
    struct extent_map *m = parse_str (
        "[{\"start\":0,\"length\":52428800,\"zero\":false,\"hole\":false},"
        "{\"start\":52428800,\"length\":12800,\"zero\":true,\"hole\":true}]",
        52441145, 0, err);
    struct exts x = { 0 };

    CHECK (m);
    CHECK (extent_map_query (m, 52428800, 1 << 20, false, collect, &x) == 0);
    CHECK (x.n == 1 && x.e[0].start + x.e[0].length == 52441145);
    extent_map_free (m);
    m = parse_str ("[{\"start\":0,\"length\":1024,\"zero\":false},"
                   "{\"start\":1024,\"length\":512,\"zero\":true}]",
                   1000, 0, err);
    CHECK (m && extent_map_count (m) == 1);
    extent_map_free (m);
  }

  /* An empty image and an empty list. */
  {
    struct extent_map *m = parse_str ("[]", 0, 0, err);

    CHECK (m && extent_map_count (m) == 0);
    extent_map_free (m);
  }
}

/* A generated document of N extents fed in odd-sized pieces. */
static void
test_extents_large (void)
{
  const int n = 100000;
  size_t cap = (size_t)n * 80 + 16, len = 0, chunk;
  char *doc = malloc (cap);
  uint64_t pos = 0;
  char err[256];
  int i;

  CHECK (doc);
  doc[len++] = '[';
  for (i = 0; i < n; i++)
    {
      uint64_t l = 512 * (1 + i % 7);
      len += snprintf (doc + len, cap - len,
                       "%s{\"start\": %" PRIu64 ", \"length\": %" PRIu64
                       ", \"zero\": %s, \"hole\": %s}",
                       i ? ", " : "", pos, l, i % 2 ? "true" : "false",
                       i % 4 == 1 ? "true" : "false");
      pos += l;
    }
  doc[len++] = ']';
  for (chunk = 0; chunk < 3; chunk++)
    {
      size_t c = chunk == 0 ? 0 : chunk == 1 ? 16384 : 4093;
      struct extent_map *m = parse (doc, len, pos, 1 << 30, c, err, sizeof err);

      CHECK (m);
      CHECK (extent_map_count (m) == (uint64_t)n);
      extent_map_free (m);
    }
  /* Same document over the size limit. */
  CHECK (parse (doc, len, pos, len - 1, 4096, err, sizeof err) == NULL);
  CHECK (strstr (err, "larger than") != NULL);
  {
    struct extent_map *m = parse (doc, len, pos, len, 0, err, sizeof err);

    CHECK (m != NULL); /* exactly at the limit is fine */
    extent_map_free (m);
  }
  free (doc);
}

static void
test_extents_bad (void)
{
  char err[256];
  struct extent_map *m;

  expect_error ("[{\"start\":0,\"length\":65536,\"zero\":false},"
                "{\"start\":131072,\"length\":65536,\"zero\":false},"
                "{\"start\":65536,\"length\":65536,\"zero\":false}]",
                196608,
                "extent 1 starts at 131072, expected 65536 (gap or unsorted)");
  expect_error ("[{\"start\":0,\"length\":65536,\"zero\":false},"
                "{\"start\":4096,\"length\":65536,\"zero\":false}]",
                1 << 20, "extent 1 starts at 4096, expected 65536 (overlap");
  expect_error ("[{\"start\":512,\"length\":512,\"zero\":false}]", 1024,
                "extent 0 starts at 512, expected 0");
  expect_error ("[{\"start\":0,\"length\":0,\"zero\":false}]", 1024,
                "extent 0 at 0 has length 0");
  expect_error ("[{\"start\":0,\"length\":-512,\"zero\":false}]", 1024,
                "extent 0: \"length\" -512 is negative");
  expect_error (
      "[{\"start\":0,\"length\":99999999999999999999,\"zero\":false}]", 1024,
      "\"length\" 99999999999999999999 is too large");
  expect_error ("[{\"start\":0,\"length\":9223372036854775808,\"zero\":false}]",
                1024, "too large");
  expect_error ("[{\"start\":0,\"length\":9223372036854775807,\"zero\":false},"
                "{\"start\":9223372036854775807,\"length\":1,\"zero\":false}]",
                1024, "ends past 2^63");
  expect_error ("[{\"start\":0,\"length\":1.5,\"zero\":false}]", 1024,
                "\"length\" 1.5 is not an integer");
  expect_error ("[{\"start\":0,\"length\":1e3,\"zero\":false}]", 1024,
                "not an integer");
  expect_error ("[{\"start\":0,\"length\":\"512\",\"zero\":false}]", 1024,
                "\"length\" is a string, expected an integer");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":\"yes\"}]", 1024,
                "extent 0: \"zero\" is a string, expected a boolean");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":false,\"hole\":0}]",
                1024, "\"hole\" is 0, expected a boolean");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":null}]", 1024,
                "\"zero\" is null");
  expect_error ("[{\"start\":true,\"length\":1024,\"zero\":false}]", 1024,
                "\"start\" is a boolean");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":[false]}]", 1024,
                "\"zero\" is an array");
  expect_error ("[{\"start\":0,\"length\":1024,\"hole\":false}]", 1024,
                "extent 0 has no \"zero\"");
  expect_error ("[{\"length\":1024,\"zero\":false}]", 1024,
                "extent 0 has no \"start\"");
  expect_error ("[{\"start\":0,\"zero\":false}]", 1024,
                "extent 0 has no \"length\"");
  expect_error ("[{\"start\":0,\"length\":1048576,\"zero\":false}]", 2097152,
                "document ends at 1048576, before the image end 2097152");
  expect_error ("[]", 512, "document ends at 0, before the image end 512");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":false}, 5]", 1024,
                "extent 1 is a number, not an object");
  expect_error ("[[]]", 1024, "extent 0 is an array, not an object");
  expect_error ("{\"start\":0,\"length\":1024,\"zero\":false}", 1024,
                "not a JSON array");
  expect_error ("42", 1024, "not a JSON array");
  expect_error ("<html><body>Bad gateway</body></html>", 1024, "not JSON");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":false}] x", 1024,
                "not JSON");
  expect_error ("[{\"start\":0,\"length\":1024,\"zero\":false}", 1024,
                "not JSON");
  expect_error ("[{\"start\":0,\"len", 1024, "not JSON");
  expect_error ("", 1024, "empty document");
  expect_error ("   ", 1024, "not JSON");

  /* Over the size limit, fed whole and in pieces; exactly at it is fine. */
  {
    const char *d = "[{\"start\":0,\"length\":1024,\"zero\":false}]";
    size_t dl = strlen (d);

    m = parse (d, dl, 1024, dl - 1, 0, err, sizeof err);
    CHECK (m == NULL && strstr (err, "document larger than") != NULL);
    m = parse (d, dl, 1024, dl - 1, 3, err, sizeof err);
    CHECK (m == NULL && strstr (err, "document larger than") != NULL);
    m = parse (d, dl, 1024, dl, 3, err, sizeof err);
    CHECK (m != NULL);
    extent_map_free (m);
  }

  /* A parser freed without finishing leaks nothing (valgrind). */
  {
    struct extents_parser *p = extents_parser_new (1024, 1 << 20);
    CHECK (extents_parser_feed (p, "[{\"start\":0", 11) == 0);
    extents_parser_free (p);
    extents_parser_free (NULL);
  }
}

/* ------------------------------------------------- hostile documents */

/* A document made piece by piece: HEAD, then FILL repeated up to about
 * BODY bytes (or, when FILL is NULL, BODY contiguous 512-byte extents),
 * then TAIL; so a 32 MiB token costs no 32 MiB buffer.
 */
struct gen
{
  const char *head, *fill, *tail;
  uint64_t body;
};

/* The next fragment of G's document into BUF (at most 64 bytes); returns
 * its length, 0 at the end.  *STEP counts fragments.
 */
static size_t
gen_next (const struct gen *g, uint64_t *step, char *buf)
{
  uint64_t i = (*step)++;
  size_t fl, hl = strlen (g->head), hsteps = (hl + 62) / 63;

  if (i < hsteps) /* the head, 63 bytes at a time */
    return snprintf (buf, 64, "%.63s", g->head + i * 63);
  i -= hsteps;
  if (g->fill == NULL)
    {
      if (i < g->body)
        return snprintf (buf, 64,
                         "%s{\"start\":%" PRIu64 ",\"length\":512,"
                         "\"zero\":false}",
                         i ? "," : "", i * 512);
      i -= g->body;
    }
  else
    {
      fl = strlen (g->fill);
      if (i < g->body / fl)
        return snprintf (buf, 64, "%s", g->fill);
      i -= g->body / fl;
    }
  if (i == 0)
    return snprintf (buf, 64, "%s", g->tail);
  return 0;
}

/* Feeds the document of G in 64 KiB pieces until the parser refuses one.
 * Returns the offset of the refused piece's first byte (the document's
 * length when only the end refused it); *TOTAL gets the bytes made so far.
 * The reason goes to ERR.
 */
#define PIECE 65536
static uint64_t
feed_gen (const struct gen *g, uint64_t size, uint64_t max, char *err,
          uint64_t *total)
{
  static char piece[PIECE + 64];
  struct extents_parser *p = extents_parser_new (size, max);
  uint64_t off = 0, step = 0, refused = UINT64_MAX;
  size_t n = 0, k;
  struct extent_map *m;

  CHECK (p);
  do
    {
      k = gen_next (g, &step, piece + n);
      n += k;
      if (n >= PIECE || (k == 0 && n > 0))
        {
          size_t take = n < PIECE ? n : PIECE;

          if (extents_parser_feed (p, piece, take) == -1)
            {
              refused = off;
              break;
            }
          off += take;
          memmove (piece, piece + take, n - take);
          n -= take;
        }
    }
  while (k > 0 || n > 0);
  *total = off + n;
  m = extents_parser_finish (p, err, 256);
  extents_parser_free (p);
  if (refused == UINT64_MAX && m == NULL)
    refused = off; /* refused at the end */
  extent_map_free (m);
  return refused;
}

/* Each hostile shape is refused on the piece where it becomes invalid,
 * never after reading the rest: parse time cannot grow with it.
 */
static void
expect_refused_at (const struct gen *g, uint64_t size, uint64_t max,
                   uint64_t piece_off, const char *needle)
{
  char err[256] = "";
  uint64_t total;
  uint64_t at = feed_gen (g, size, max, err, &total);

  printf ("hostile %.24s%.8s...: refused at byte %" PRIu64 " (%" PRIu64
          " made): %s\n",
          g->head, g->fill ? g->fill : "entries", at, total, err);
  if (at != piece_off || strstr (err, needle) == NULL)
    {
      fprintf (stderr,
               "refused at %" PRIu64 " (expected %" PRIu64 "): %s "
               "(expected \"%s\")\n",
               at, piece_off, err, needle);
      abort ();
    }
  CHECK (strchr (err, '\n') == NULL);
}

static void
test_extents_hostile (void)
{
  const uint64_t big = 32 << 20;   /* 32 MiB of one token */
  const uint64_t pib = 1ULL << 50; /* no size limit gets in the way */
  struct gen g;
  char err[256];
  struct extent_map *m;
  char doc[2048];

  /* A 32 MiB number, string value, key: refused in the first piece. */
  g = (struct gen){ "[{\"start\": 0, \"length\": ", "1", "}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0,
                     "a number or literal longer than 32 bytes at byte 56");
  g = (struct gen){ "[{\"start\": 0, \"x\": \"", "a", "\"}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0,
                     "a string longer than 256 bytes at byte 276");
  g = (struct gen){ "[{\"", "k", "\": 0}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0,
                     "a string longer than 256 bytes at byte 259");
  /* Escapes are followed: \" does not end the string. */
  g = (struct gen){ "[{\"x\": \"", "\\\"", "\"}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "a string longer than 256");
  /* A literal, under an ignored key, and garbage yajl would lex. */
  g = (struct gen){ "[{\"x\": t", "r", "ue}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "not JSON");
  g = (struct gen){ "[{\"x\": 1", "0", "}]", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "longer than 32 bytes");
  /* The long token starts in the second piece: refused in that piece. */
  g = (struct gen){ "[", "{\"start\":0,\"length\":512,\"zero\":false},", "",
                    PIECE - 1 };
  {
    static char head[PIECE + 64];
    size_t n = 0;

    head[n++] = '[';
    while (n < PIECE + 8)
      head[n++] = ' ';
    strcpy (head + n, "{\"x\": ");
    g = (struct gen){ head, "9", "}]", big };
    expect_refused_at (&g, pib, UINT64_MAX, PIECE, "longer than 32 bytes");
  }

  /* Deep nesting: at the first array or object where a value belongs, or
   * after SKIP_MAX_DEPTH levels inside an ignored value.
   */
  g = (struct gen){ "[", "[", "", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "extent 0 is an array");
  g = (struct gen){ "[{\"start\": ", "{", "", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "\"start\" is an object");
  g = (struct gen){ "[{\"x\": ", "[", "", big };
  expect_refused_at (&g, pib, UINT64_MAX, 0, "nested too deeply");

  /* 10^7 entries: past the 2048 + 16 extents a 1 MiB image can have,
   * refused in the piece holding entry 2064, not 10^7 entries later.
   */
  g = (struct gen){ "[", NULL, "]", 10000000 };
  {
    char e[64];
    uint64_t at = 1, i;

    for (i = 0; i < 2064; i++)
      at += snprintf (e, sizeof e,
                      "%s{\"start\":%" PRIu64 ",\"length\":512,"
                      "\"zero\":false}",
                      i ? "," : "", i * 512);
    expect_refused_at (&g, 1 << 20, UINT64_MAX, at / PIECE * PIECE,
                       "more than 2064 extents, more than an image of "
                       "1048576 bytes can have");
  }
  /* White space: past 2064 * 256 + 4096 bytes for a 1 MiB image, refused
   * on the piece that crosses it.
   */
  g = (struct gen){ "[", " ", "]", big };
  expect_refused_at (&g, 1 << 20, UINT64_MAX,
                     (2064 * 256 + 4096) / PIECE * PIECE,
                     "document larger than 532480 bytes, more than the image "
                     "size can need");
  /* The caller's limit applies when it is lower (no "image" then). */
  expect_refused_at (&g, 1 << 20, 100000, 100000 / PIECE * PIECE,
                     "document larger than 100000 bytes");

  /* Right at the limits is fine: a 256-byte string and a 32-byte number
   * under ignored keys, 2064 extents for 1 MiB.
   */
  snprintf (doc, sizeof doc,
            "[{\"x\": \"%0256d\", \"y\": 1%031d, "
            "\"start\": 0, \"length\": 512, \"zero\": false}]",
            0, 0);
  for (size_t chunk = 0; chunk <= 7; chunk++)
    {
      m = parse_str (doc, 512, chunk, err);
      CHECK (m);
      extent_map_free (m);
    }
  snprintf (doc, sizeof doc,
            "[{\"x\": \"%0257d\", \"start\": 0, "
            "\"length\": 512, \"zero\": false}]",
            0);
  expect_error (doc, 512, "a string longer than 256 bytes at byte 264");
  snprintf (doc, sizeof doc,
            "[{\"y\": 1%032d, \"start\": 0, "
            "\"length\": 512, \"zero\": false}]",
            0);
  expect_error (doc, 512,
                "a number or literal longer than 32 bytes at byte 39");
  /* Escapes inside the limit. */
  m = parse_str ("[{\"x\\\"\\\\\": \"\\u0000\\\"]\", \"start\": 0, "
                 "\"length\": 512, \"zero\": false}]",
                 512, 1, err);
  CHECK (m);
  extent_map_free (m);
  {
    size_t cap = 2064 * 64 + 16, len = 0;
    char *d = malloc (cap);

    CHECK (d);
    d[len++] = '[';
    for (int i = 0; i < 2064; i++)
      len += snprintf (d + len, cap - len,
                       "%s{\"start\":%d,\"length\":%d,"
                       "\"zero\":%s}",
                       i ? "," : "", i * 508,
                       i < 2063 ? 508 : (1 << 20) - 2063 * 508,
                       i % 2 ? "true" : "false");
    d[len++] = ']';
    m = parse (d, len, 1 << 20, UINT64_MAX, 4093, err, sizeof err);
    CHECK (m); /* 508-byte extents: 2064 fit */
    CHECK (extent_map_count (m) == 2064);
    extent_map_free (m);
    free (d);
  }
}

/* "size" in OPTIONS (beyond imageio): used when it is an integer in
 * 0..INT64_MAX, ignored with a reason otherwise, never a failure.
 */
static void
test_options_size (void)
{
  static const struct
  {
    const char *value;
    int64_t want;
    const char *why;
  } cases[] = {
    { "53687091200", 53687091200LL, NULL },
    { "0", 0, NULL },
    { "9223372036854775807", INT64_MAX, NULL },
    { "9223372036854775808", -1, "size: 9223372036854775808, expected" },
    { "-1", -1, "size: -1, expected" },
    { "1.5", -1, "size: 1.5, expected" },
    { "1e9", -1, "size: 1e9, expected" },
    { "\"1024\"", -1, "size: a string, expected" },
    { "null", -1, "size: null, expected" },
    { "true", -1, "size: a boolean, expected" },
    { "{\"features\": [\"zero\"], \"size\": 1}", -1, "size: an object" },
    { "[1, {\"max_readers\": -5}]", -1, "size: an array" },
  };
  struct imageio_options o;
  char body[256], err[256];
  size_t i;

  for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      snprintf (body, sizeof body,
                "{\"features\": [\"extents\"], \"size\": %s, "
                "\"max_readers\": 4}",
                cases[i].value);
      CHECK (opts (body, &o, err) == 0);
      printf ("size %s: %" PRIi64 " %s\n", cases[i].value, o.size,
              o.size_error);
      CHECK (o.size == cases[i].want);
      /* The rest of the document is read as usual (nested values skipped). */
      CHECK (o.has_extents && !o.has_zero && o.max_readers == 4);
      if (cases[i].why)
        CHECK (strstr (o.size_error, cases[i].why) != NULL);
      else
        CHECK (o.size_error[0] == '\0');
    }
  /* Absent: -1 without a reason; a later good value wins. */
  CHECK (opts ("{\"features\": []}", &o, err) == 0);
  CHECK (o.size == -1 && o.size_error[0] == '\0');
  CHECK (opts ("{\"size\": \"x\", \"size\": 4096}", &o, err) == 0);
  CHECK (o.size == 4096 && o.size_error[0] == '\0');
  /* A failed document leaves no size behind. */
  CHECK (opts ("{\"size\": 4096, \"max_readers\": \"x\"}", &o, err) == -1);
  CHECK (o.size == -1);
}

/* Windowed parsing: the window asked for, the whole list from a server
 * that ignored the parameters, a window at 0 told from a whole list by its
 * end, an unclipped first extent, and the errors.
 */
static struct extent_map *
parse_window (const char *doc, uint64_t size, uint64_t ws, uint64_t wl,
              size_t chunk, uint64_t *base, char *err)
{
  struct extents_parser *p = extents_parser_new_window (size, ws, wl, 1 << 20);
  struct extent_map *m;
  size_t len = strlen (doc), off = 0;

  CHECK (p);
  if (chunk == 0)
    chunk = len;
  while (off < len)
    {
      size_t n = len - off < chunk ? len - off : chunk;

      if (extents_parser_feed (p, doc + off, n) == -1)
        break;
      off += n;
    }
  m = extents_parser_finish (p, err, 256);
  if (m)
    *base = extents_parser_base (p);
  else
    printf ("window error: %s\n", err);
  extents_parser_free (p);
  return m;
}

static void
test_extents_window (void)
{
  /* Image of 16 KiB: data 0-4K, zero+hole 4K-12K, data 12K-16K. */
  const char *whole
      = "[{\"start\": 0, \"length\": 4096, \"zero\": false, \"hole\": false},"
        " {\"start\": 4096, \"length\": 8192, \"zero\": true, \"hole\": true},"
        " {\"start\": 12288, \"length\": 4096, \"zero\": false}]";
  struct extent_map *m;
  struct exts x;
  uint64_t base;
  char err[256];
  size_t chunk;

  CHECK (extents_parser_new_window (16384, 16384, 1, 1 << 20) == NULL);
  CHECK (extents_parser_new_window (16384, 0, 0, 1 << 20) == NULL);
  CHECK (extents_parser_new_window (16384, 8192, 8193, 1 << 20) == NULL);
  for (chunk = 0; chunk <= 1; chunk++)
    {
      /* The window [6K, 14K), clipped by the server. */
      m = parse_window ("[{\"start\": 6144, \"length\": 6144, \"zero\": true, "
                        "\"hole\": true}, {\"start\": 12288, \"length\": 2048,"
                        " \"zero\": false}]",
                        16384, 6144, 8192, chunk, &base, err);
      CHECK (m && base == 6144 && extent_map_size (m) == 8192);
      memset (&x, 0, sizeof x);
      CHECK (extent_map_query (m, 0, 8192, false, collect, &x) == 0);
      CHECK (x.n == 2 && x.e[0].start == 0 && x.e[0].length == 6144
             && x.e[0].type == 3 && x.e[1].start == 6144
             && x.e[1].length == 2048 && x.e[1].type == 0);
      extent_map_free (m);

      /* A server that does not clip: the first and last extents run past. */
      m = parse_window (whole, 16384, 8192, 2048, chunk, &base, err);
      CHECK (m && base == 0 && extent_map_size (m) == 16384); /* whole! */
      extent_map_free (m);
      m = parse_window ("[{\"start\": 4096, \"length\": 8192, \"zero\": true, "
                        "\"hole\": true}, {\"start\": 12288, \"length\": 4096,"
                        " \"zero\": false}]",
                        16384, 6144, 8192, chunk, &base, err);
      CHECK (m && base == 6144 && extent_map_size (m) == 8192);
      memset (&x, 0, sizeof x);
      CHECK (extent_map_query (m, 0, 8192, false, collect, &x) == 0);
      CHECK (x.n == 2 && x.e[0].length == 6144 && x.e[1].length == 2048);
      extent_map_free (m);

      /* The whole list from a server that ignored start=. */
      m = parse_window (whole, 16384, 8192, 4096, chunk, &base, err);
      CHECK (m && base == 0 && extent_map_size (m) == 16384);
      extent_map_free (m);

      /* A window at 0: told by where the document ends. */
      m = parse_window ("[{\"start\": 0, \"length\": 4096, \"zero\": false},"
                        " {\"start\": 4096, \"length\": 4096, \"zero\": true}]",
                        16384, 0, 8192, chunk, &base, err);
      CHECK (m && base == 0 && extent_map_size (m) == 8192);
      extent_map_free (m);
      m = parse_window (whole, 16384, 0, 8192, chunk, &base, err);
      CHECK (m && base == 0 && extent_map_size (m) == 16384);
      extent_map_free (m);
      /* ... and one running past the window but not to the end: clipped. */
      m = parse_window ("[{\"start\": 0, \"length\": 4096, \"zero\": false},"
                        " {\"start\": 4096, \"length\": 8192, \"zero\": true}]",
                        16384, 0, 6144, chunk, &base, err);
      CHECK (m && base == 0 && extent_map_size (m) == 6144);
      memset (&x, 0, sizeof x);
      CHECK (extent_map_query (m, 0, 6144, false, collect, &x) == 0);
      CHECK (x.n == 2 && x.e[1].start == 4096 && x.e[1].length == 2048);
      extent_map_free (m);

      /* Errors: short of the window, starting elsewhere, a gap. */
      CHECK (parse_window ("[{\"start\": 6144, \"length\": 1024, \"zero\": "
                           "true}]",
                           16384, 6144, 8192, chunk, &base, err)
             == NULL);
      CHECK (strstr (err, "document ends at 7168, before the end 14336 of the "
                          "range asked for")
             != NULL);
      CHECK (parse_window ("[{\"start\": 8192, \"length\": 8192, \"zero\": "
                           "true}]",
                           16384, 6144, 8192, chunk, &base, err)
             == NULL);
      CHECK (strstr (err, "extent 0 starts at 8192, expected 6144") != NULL);
      CHECK (parse_window ("[{\"start\": 0, \"length\": 4096, \"zero\": "
                           "true}]",
                           16384, 0, 8192, chunk, &base, err)
             == NULL);
      CHECK (strstr (err, "before the end 8192 of the range asked for")
             != NULL);
      CHECK (parse_window ("[{\"start\": 0, \"length\": 4096, \"zero\": "
                           "true}]",
                           16384, 8192, 8192, chunk, &base, err)
             == NULL);
      CHECK (strstr (err, "before the image end 16384") != NULL);
    }
}

/* context=dirty: clean is a hole without zero, dirty zero is zero, dirty
 * is data; "zero" is optional (imageio < 2.2.0-1), "dirty" is not, and
 * "hole" is ignored.
 */
static void
test_extents_dirty (void)
{
  static const char doc[]
      = "[{\"start\":0,\"length\":65536,\"dirty\":true,\"zero\":false},"
        "{\"start\":65536,\"length\":65536,\"dirty\":false,\"zero\":true,"
        "\"hole\":true},"
        "{\"start\":131072,\"length\":65536,\"dirty\":true,\"zero\":true},"
        "{\"start\":196608,\"length\":65536,\"dirty\":true},"
        "{\"start\":262144,\"length\":65536,\"dirty\":false,"
        "\"zero\":false}]";
  static const uint32_t want[]
      = { EXTENT_TYPE_DATA, EXTENT_TYPE_HOLE, EXTENT_TYPE_ZERO,
          EXTENT_TYPE_DATA, EXTENT_TYPE_HOLE };
  char err[256];

  for (size_t chunk = 0; chunk <= 1; chunk++)
    {
      struct extents_parser *p = extents_parser_new (327680, 1 << 20);
      struct extent_map *m;
      struct exts x = { 0 };
      size_t off = 0, len = strlen (doc);

      CHECK (p);
      extents_parser_set_dirty (p);
      while (off < len)
        {
          size_t n = chunk ? 1 : len;

          CHECK (extents_parser_feed (p, doc + off, n) == 0);
          off += n;
        }
      m = extents_parser_finish (p, err, sizeof err);
      extents_parser_free (p);
      CHECK (m);
      CHECK (extent_map_query (m, 0, 327680, false, collect, &x) == 0);
      /* The two data extents are not adjacent: 5 runs, as sent. */
      CHECK (x.n == 5);
      for (int i = 0; i < x.n; i++)
        CHECK (x.e[i].start == (uint64_t)i * 65536 && x.e[i].type == want[i]);
      CHECK (!extent_map_is_zero (m, 65536, 65536)); /* clean: not zero */
      CHECK (extent_map_is_zero (m, 131072, 65536));
      extent_map_free (m);
    }

  /* No "dirty": refused. */
  {
    struct extents_parser *p = extents_parser_new (512, 1 << 20);
    static const char bad[] = "[{\"start\":0,\"length\":512,\"zero\":true}]";

    extents_parser_set_dirty (p);
    CHECK (extents_parser_feed (p, bad, strlen (bad)) == -1);
    CHECK (strstr (extents_parser_error (p), "has no \"dirty\"") != NULL);
    extents_parser_free (p);
  }
}

int
main (void)
{
  test_options ();
  test_options_size ();
  test_extents_window ();
  test_extents_good ();
  test_extents_dirty ();
  test_extents_bad ();
  test_extents_large ();
  test_extents_hostile ();
  printf ("ok\n");
  return 0;
}
