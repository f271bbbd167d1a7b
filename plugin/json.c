/* SPDX-License-Identifier: BSD-3-Clause */
/* The JSON documents the plugin reads (see json.h), both through yajl's
 * callback parser:
 *   - OPTIONS: small (bounded by OPTIONS_MAX_BYTES), parsed in one call.  Not
 *     the tree parser: yajl_tree hands strings out NUL-terminated without a
 *     length, so the abstract socket name "\u0000/org/ovirt/imageio" would
 *     come out as "".  The callback gives pointer and length.
 *   - GET /extents: streamed in pieces straight into an extent map and
 *     validated as it goes (a tree of 1,000,000 extents would need over
 *     600 MiB), so the only memory that grows is the map itself.
 * Each failure is kept as ONE line saying what is wrong and where.
 *
 * Numbers come through yajl's raw number callback, so we decide what an
 * integer is (no doubles, no exponents, no sign, at most INT64_MAX) and can
 * quote the offending text.
 *
 * The extents parser's time is linear in the bytes it is fed, whatever they
 * hold, and it stops early on a document no valid one resembles:
 *   - yajl keeps a token cut by a piece boundary and reads it again from its
 *     start with every new piece, so one 32 MiB number fed in 64 KiB pieces
 *     costs 38 s (bench/extents-gen --hostile).  Each piece is therefore
 *     scanned first (scan_tokens): a string longer than EXT_STRING_MAX or a
 *     number or literal longer than EXT_BARE_MAX is refused at the byte that
 *     makes it too long, before yajl holds more than that;
 *   - nesting inside ignored values stops at SKIP_MAX_DEPTH; an array or
 *     object where a value belongs is refused at once;
 *   - the image size bounds the number of extents (qemu reports allocation in
 *     units of at least 512 bytes) and so the document's bytes: past either
 *     bound the document is refused on the piece that crosses it.
 *
 * Pure: no nbdkit symbols (unit tests and fuzzers link it alone).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json.h"
#include "parse-uint.h"

#define OPTIONS_MAX_BYTES (64 * 1024)
#define STR_(x) #x
#define STR(x) STR_ (x)
/* Nesting allowed inside values we ignore (unknown keys). */
#define SKIP_MAX_DEPTH 32

/* Longest tokens of a valid extents document.  Keys are a few bytes;
 * EXT_STRING_MAX leaves room for unknown keys and string values a future
 * server may add.  Numbers are integers <= INT64_MAX (19 digits);
 * EXT_BARE_MAX also fits the 32 bytes error messages quote.
 */
#define EXT_STRING_MAX 256
#define EXT_BARE_MAX 32
/* Granularity of allocation: qemu reports block status in units of at least
 * 512 bytes, so an image of SIZE bytes has at most ceil(SIZE / 512)
 * extents; EXT_COUNT_SLACK more are accepted (an extent past the end, a
 * server that splits an odd tail).
 */
#define EXT_GRANULARITY 512
#define EXT_COUNT_SLACK 16
/* Bytes one entry may take, e.g. {"start": 9223372036854775807, "length":
 * 9223372036854775807, "zero": false, "hole": false} is 96, imageio's
 * typical entry about 65; 256 allows pretty-printing and a few unknown
 * keys.  Plus EXT_DOC_SLACK for the brackets and white space.
 */
#define EXT_ENTRY_MAX 256
#define EXT_DOC_SLACK 4096

/* Parses a JSON number's text as a non-negative integer <= MAX.  Returns 0,
 * or -1 with a short description of what is wrong in *WHAT.
 */
static int
parse_uint (const char *s, size_t len, uint64_t max, uint64_t *out,
            const char **what)
{
  if (len > 0 && s[0] == '-')
    {
      /* "-0" is harmless but odd; treat every sign as negative. */
      *what = "is negative";
      return -1;
    }
  switch (parse_uint64 (s, len, max, out))
    {
    case 0:
      return 0;
    case -2:
      *what = "is too large";
      return -1;
    default:
      *what = "is not an integer";
      return -1;
    }
}

/* Copies the start of a yajl error message ("parse error: xyz\n...") into
 * BUF as "xyz", one line.
 */
static void
yajl_short_error (yajl_handle h, const unsigned char *text, size_t len,
                  char *buf, size_t buflen)
{
  unsigned char *e = yajl_get_error (h, 0, text, len);
  const char *msg = (const char *)e;
  size_t n;

  if (msg == NULL)
    {
      snprintf (buf, buflen, "unknown error");
      return;
    }
  if (strncmp (msg, "parse error: ", 13) == 0)
    msg += 13;
  n = strcspn (msg, "\r\n");
  snprintf (buf, buflen, "%.*s", (int)n, msg);
  yajl_free_error (h, e);
}

/* ---------------------------------------------------------------- OPTIONS */

enum opt_key
{
  OK_OTHER,
  OK_FEATURES,
  OK_MAX_READERS,
  OK_MAX_WRITERS,
  OK_UNIX_SOCKET,
  OK_SIZE
};

struct opt_state
{
  struct imageio_options *opts;
  int depth; /* 0 outside, 1 in the object, 2 features */
  int skip;  /* > 0 inside an ignored nested value */
  bool done;
  enum opt_key key;
  char reason[200];
};

static int
opt_fail (struct opt_state *s, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (s->reason, sizeof s->reason, fmt, ap);
  va_end (ap);
  return 0; /* stops yajl */
}

static const char *
opt_key_name (enum opt_key k)
{
  switch (k)
    {
    case OK_FEATURES:
      return "features";
    case OK_MAX_READERS:
      return "max_readers";
    case OK_MAX_WRITERS:
      return "max_writers";
    case OK_UNIX_SOCKET:
      return "unix_socket";
    case OK_SIZE:
      return "size";
    default:
      return "?";
    }
}

/* "size" is ours, not imageio's: a value we cannot use is noted and
 * ignored (the plugin then asks for the size as with any imageio), not a
 * reason to refuse the server.
 */
static int
opt_bad_size (struct opt_state *s, const char *kind, int len, const char *text)
{
  s->opts->size = -1;
  snprintf (s->opts->size_error, sizeof s->opts->size_error,
            "size: %s%.*s, expected an integer in 0..%" PRIi64, kind, len, text,
            INT64_MAX);
  return 1;
}

/* The value of S->key has the wrong type KIND. */
static int
opt_wrong_type (struct opt_state *s, const char *kind)
{
  const char *want;

  if (s->key == OK_SIZE)
    return opt_bad_size (s, kind, 0, "");

  switch (s->key)
    {
    case OK_FEATURES:
      want = "an array of strings";
      break;
    case OK_UNIX_SOCKET:
      want = "a string or null";
      break;
    default:
      want = "a non-negative integer";
      break;
    }
  return opt_fail (s, "%s: expected %s, got %s", opt_key_name (s->key), want,
                   kind);
}

/* A scalar or the start of a nested value arrived; KIND names it for
 * messages.  Returns 1 to continue when it is acceptable here without
 * further handling (ignored), 0 on error, or 2 when the caller must
 * handle it as the value of s->key.
 */
static int
opt_value (struct opt_state *s, const char *kind)
{
  if (s->skip > 0)
    return 1;
  if (s->depth == 0)
    return opt_fail (s, "not a JSON object (starts with %s)", kind);
  if (s->depth == 2)
    return opt_fail (s, "features: expected strings, got %s", kind);
  if (s->key == OK_OTHER)
    return 1;
  return 2;
}

static int
opt_null (void *ctx)
{
  struct opt_state *s = ctx;
  int r = opt_value (s, "null");

  if (r != 2)
    return r;
  if (s->key == OK_UNIX_SOCKET)
    {
      s->opts->unix_socket_len = 0;
      return 1;
    }
  return opt_wrong_type (s, "null");
}

static int
opt_boolean (void *ctx, int b)
{
  struct opt_state *s = ctx;
  int r = opt_value (s, b ? "true" : "false");

  if (r != 2)
    return r;
  return opt_wrong_type (s, "a boolean");
}

static int
opt_number (void *ctx, const char *num, size_t len)
{
  struct opt_state *s = ctx;
  int r = opt_value (s, "a number");
  uint64_t v;
  const char *what;

  if (r != 2)
    return r;
  if (s->key == OK_SIZE)
    {
      if (parse_uint (num, len, INT64_MAX, &v, &what) == -1)
        return opt_bad_size (s, "", (int)(len > 32 ? 32 : len), num);
      s->opts->size = v;
      s->opts->size_error[0] = '\0';
      return 1;
    }
  if (s->key != OK_MAX_READERS && s->key != OK_MAX_WRITERS)
    return opt_wrong_type (s, "a number");
  if (parse_uint (num, len, INT_MAX, &v, &what) == -1)
    return opt_fail (s, "%s: %.*s %s, expected a non-negative integer",
                     opt_key_name (s->key), (int)(len > 32 ? 32 : len), num,
                     what);
  if (s->key == OK_MAX_READERS)
    s->opts->max_readers = v;
  else
    s->opts->max_writers = v;
  return 1;
}

static int
opt_string (void *ctx, const unsigned char *str, size_t len)
{
  struct opt_state *s = ctx;
  struct imageio_options *o = s->opts;
  int r;

  if (s->skip == 0 && s->depth == 2)
    { /* a feature */
#define IS(name) (len == sizeof name - 1 && memcmp (str, name, len) == 0)
      if (IS ("extents"))
        o->has_extents = true;
      else if (IS ("zero"))
        o->has_zero = true;
      else if (IS ("flush"))
        o->has_flush = true;
      else if (IS ("checksum"))
        o->has_checksum = true;
#undef IS
      return 1; /* unknown features are ignored */
    }
  r = opt_value (s, "a string");
  if (r != 2)
    return r;
  if (s->key != OK_UNIX_SOCKET)
    return opt_wrong_type (s, "a string");
  /* An abstract name (leading NUL) needs no terminator; a path does, and
   * cannot hold a NUL.
   */
  if (len > 0 && str[0] == '\0')
    {
      if (len > sizeof o->unix_socket)
        return opt_fail (s, "unix_socket: name of %zu bytes is too long", len);
    }
  else
    {
      if (len >= sizeof o->unix_socket)
        return opt_fail (s, "unix_socket: path of %zu bytes is too long", len);
      if (memchr (str, '\0', len) != NULL)
        return opt_fail (s, "unix_socket: path contains a NUL byte");
    }
  memset (o->unix_socket, 0, sizeof o->unix_socket);
  memcpy (o->unix_socket, str, len);
  o->unix_socket_len = len;
  return 1;
}

static int
opt_start_map (void *ctx)
{
  struct opt_state *s = ctx;
  int r;

  if (s->skip > 0)
    {
      if (++s->skip > SKIP_MAX_DEPTH)
        return opt_fail (s, "nested too deeply");
      return 1;
    }
  if (s->depth == 0 && !s->done)
    {
      s->depth = 1;
      return 1;
    }
  r = opt_value (s, "an object");
  if (r == 1 && s->depth == 1)
    { /* an ignored key's object */
      s->skip = 1;
      return 1;
    }
  if (r != 2)
    return r;
  if (s->key == OK_SIZE)
    s->skip = 1; /* ignored with its contents */
  return opt_wrong_type (s, "an object");
}

static int
opt_map_key (void *ctx, const unsigned char *key, size_t len)
{
  struct opt_state *s = ctx;

  if (s->skip > 0)
    return 1;
#define IS(name) (len == sizeof name - 1 && memcmp (key, name, len) == 0)
  if (IS ("features"))
    s->key = OK_FEATURES;
  else if (IS ("max_readers"))
    s->key = OK_MAX_READERS;
  else if (IS ("max_writers"))
    s->key = OK_MAX_WRITERS;
  else if (IS ("unix_socket"))
    s->key = OK_UNIX_SOCKET;
  else if (IS ("size"))
    s->key = OK_SIZE;
  else
    s->key = OK_OTHER;
#undef IS
  return 1;
}

static int
opt_end_map (void *ctx)
{
  struct opt_state *s = ctx;

  if (s->skip > 0)
    {
      s->skip--;
      return 1;
    }
  s->depth = 0; /* yajl guarantees it matches depth 1 */
  s->done = true;
  return 1;
}

static int
opt_start_array (void *ctx)
{
  struct opt_state *s = ctx;
  int r;

  if (s->skip > 0)
    {
      if (++s->skip > SKIP_MAX_DEPTH)
        return opt_fail (s, "nested too deeply");
      return 1;
    }
  r = opt_value (s, "an array");
  if (r == 1 && s->depth == 1)
    {
      s->skip = 1;
      return 1;
    }
  if (r != 2)
    return r;
  if (s->key == OK_SIZE)
    s->skip = 1; /* ignored with its contents */
  if (s->key != OK_FEATURES)
    return opt_wrong_type (s, "an array");
  s->depth = 2;
  return 1;
}

static int
opt_end_array (void *ctx)
{
  struct opt_state *s = ctx;

  if (s->skip > 0)
    s->skip--;
  else
    s->depth = 1; /* the end of features */
  return 1;
}

static const yajl_callbacks opt_callbacks = {
  .yajl_null = opt_null,
  .yajl_boolean = opt_boolean,
  .yajl_number = opt_number,
  .yajl_string = opt_string,
  .yajl_start_map = opt_start_map,
  .yajl_map_key = opt_map_key,
  .yajl_end_map = opt_end_map,
  .yajl_start_array = opt_start_array,
  .yajl_end_array = opt_end_array,
};

int
json_parse_options (const char *body, size_t len, struct imageio_options *opts,
                    char *errbuf, size_t errlen)
{
  struct opt_state s = { .opts = opts };
  yajl_handle h;
  yajl_status st;

  memset (opts, 0, sizeof *opts);
  opts->size = -1;
  if (len > OPTIONS_MAX_BYTES)
    {
      snprintf (errbuf, errlen, "OPTIONS body of %zu bytes is larger than %d",
                len, OPTIONS_MAX_BYTES);
      return -1;
    }
  h = yajl_alloc (&opt_callbacks, NULL, &s);
  if (h == NULL)
    {
      snprintf (errbuf, errlen, "out of memory");
      return -1;
    }
  st = yajl_parse (h, (const unsigned char *)body, len);
  if (st == yajl_status_ok)
    st = yajl_complete_parse (h);
  if (st == yajl_status_client_canceled)
    snprintf (errbuf, errlen, "%s", s.reason);
  else if (st != yajl_status_ok)
    {
      char e[128];

      yajl_short_error (h, (const unsigned char *)body, len, e, sizeof e);
      snprintf (errbuf, errlen, "not JSON: %s", e);
    }
  yajl_free (h);
  if (st != yajl_status_ok)
    {
      memset (opts, 0, sizeof *opts);
      opts->size = -1;
      return -1;
    }
  return 0;
}

/* ---------------------------------------------------------------- extents */

enum ext_key
{
  EK_OTHER,
  EK_START,
  EK_LENGTH,
  EK_ZERO,
  EK_HOLE,
  EK_DIRTY
};

struct extents_parser
{
  yajl_handle h;
  struct extent_map *map; /* owned until extents_parser_finish */
  uint64_t export_size;
  uint64_t max_doc_bytes;
  uint64_t max_extents;     /* most entries an image this size has */
  bool doc_bound_from_size; /* max_doc_bytes comes from export_size */
  uint64_t fed;             /* bytes fed so far */
  uint64_t index;           /* extents completed */
  /* scan_tokens's state, carried from one piece to the next. */
  bool in_string, escape;
  uint32_t run;      /* bytes of the current token so far */
  uint64_t expected; /* where the next extent must start */
  /* A window request (extents_parser_new_window): what was asked, and
   * where the map's offset 0 lies in the export (decided by the first
   * extent: WIN_START, or 0 for a whole list).
   */
  bool windowed;
  uint64_t win_start, win_len, base;
  /* context=dirty (extents_parser_set_dirty): items carry "dirty". */
  bool dirty_ctx;
  int depth; /* 0 outside, 1 in the array, 2 in an item */
  int skip;  /* > 0 inside an ignored nested value */
  bool done; /* the array was closed */
  enum ext_key key;
  /* The item being read. */
  bool has_start, has_length, has_zero, has_dirty;
  uint64_t start, length;
  bool zero, hole, dirty;
  bool failed;
  char reason[256];
};

static int
ext_fail (struct extents_parser *p, const char *fmt, ...)
{
  va_list ap;

  if (!p->failed)
    {
      va_start (ap, fmt);
      vsnprintf (p->reason, sizeof p->reason, fmt, ap);
      va_end (ap);
      p->failed = true;
    }
  return 0; /* stops yajl */
}

static const char *
ext_key_name (enum ext_key k)
{
  switch (k)
    {
    case EK_START:
      return "start";
    case EK_LENGTH:
      return "length";
    case EK_ZERO:
      return "zero";
    case EK_HOLE:
      return "hole";
    case EK_DIRTY:
      return "dirty";
    default:
      return "?";
    }
}

/* Common checks for a value; see opt_value for the return values. */
static int
ext_value (struct extents_parser *p, const char *kind)
{
  if (p->skip > 0)
    return 1;
  if (p->depth == 0)
    return ext_fail (p, "not a JSON array (starts with %s)", kind);
  if (p->depth == 1)
    return ext_fail (p, "extent %" PRIu64 " is %s, not an object", p->index,
                     kind);
  if (p->key == EK_OTHER)
    return 1;
  return 2;
}

static int
ext_null (void *ctx)
{
  struct extents_parser *p = ctx;
  int r = ext_value (p, "null");

  if (r != 2)
    return r;
  return ext_fail (p, "extent %" PRIu64 ": \"%s\" is null", p->index,
                   ext_key_name (p->key));
}

static int
ext_boolean (void *ctx, int b)
{
  struct extents_parser *p = ctx;
  int r = ext_value (p, b ? "true" : "false");

  if (r != 2)
    return r;
  switch (p->key)
    {
    case EK_ZERO:
      p->zero = b;
      p->has_zero = true;
      return 1;
    case EK_HOLE:
      p->hole = b;
      return 1;
    case EK_DIRTY:
      p->dirty = b;
      p->has_dirty = true;
      return 1;
    default:
      return ext_fail (p,
                       "extent %" PRIu64 ": \"%s\" is a boolean, expected "
                       "an integer",
                       p->index, ext_key_name (p->key));
    }
}

static int
ext_number (void *ctx, const char *num, size_t len)
{
  struct extents_parser *p = ctx;
  int r = ext_value (p, "a number");
  int shown = len > 32 ? 32 : len;
  const char *what;
  uint64_t v;

  if (r != 2)
    return r;
  if (p->key != EK_START && p->key != EK_LENGTH)
    return ext_fail (p,
                     "extent %" PRIu64 ": \"%s\" is %.*s, expected a "
                     "boolean",
                     p->index, ext_key_name (p->key), shown, num);
  if (parse_uint (num, len, INT64_MAX, &v, &what) == -1)
    return ext_fail (p, "extent %" PRIu64 ": \"%s\" %.*s %s", p->index,
                     ext_key_name (p->key), shown, num, what);
  if (p->key == EK_START)
    {
      p->start = v;
      p->has_start = true;
    }
  else
    {
      p->length = v;
      p->has_length = true;
    }
  return 1;
}

static int
ext_string (void *ctx, const unsigned char *str, size_t len)
{
  struct extents_parser *p = ctx;
  int r = ext_value (p, "a string");

  (void)str;
  (void)len;
  if (r != 2)
    return r;
  return ext_fail (p, "extent %" PRIu64 ": \"%s\" is a string, expected %s",
                   p->index, ext_key_name (p->key),
                   p->key == EK_START || p->key == EK_LENGTH ? "an integer"
                                                             : "a boolean");
}

static int
ext_start_nested (struct extents_parser *p, const char *kind)
{
  if (p->skip > 0)
    {
      if (++p->skip > SKIP_MAX_DEPTH)
        return ext_fail (p, "extent %" PRIu64 ": nested too deeply", p->index);
      return 1;
    }
  if (p->depth == 2 && p->key == EK_OTHER)
    {
      p->skip = 1;
      return 1;
    }
  if (p->depth == 2)
    return ext_fail (p, "extent %" PRIu64 ": \"%s\" is %s", p->index,
                     ext_key_name (p->key), kind);
  return ext_value (p, kind);
}

static int
ext_start_map (void *ctx)
{
  struct extents_parser *p = ctx;

  if (p->skip == 0 && p->depth == 1)
    {
      if (p->index >= p->max_extents)
        return ext_fail (p,
                         "more than %" PRIu64 " extents, more than an image "
                         "of %" PRIu64 " bytes can have",
                         p->max_extents, p->export_size);
      p->depth = 2;
      p->key = EK_OTHER;
      p->has_start = p->has_length = p->has_zero = p->has_dirty = false;
      p->zero = p->hole = p->dirty = false;
      return 1;
    }
  return ext_start_nested (p, "an object");
}

static int
ext_map_key (void *ctx, const unsigned char *key, size_t len)
{
  struct extents_parser *p = ctx;

  if (p->skip > 0)
    return 1;
#define IS(name) (len == sizeof name - 1 && memcmp (key, name, len) == 0)
  if (IS ("start"))
    p->key = EK_START;
  else if (IS ("length"))
    p->key = EK_LENGTH;
  else if (IS ("zero"))
    p->key = EK_ZERO;
  else if (IS ("hole"))
    p->key = EK_HOLE;
  else if (IS ("dirty") && p->dirty_ctx)
    p->key = EK_DIRTY;
  else
    p->key = EK_OTHER;
#undef IS
  return 1;
}

/* One extent is complete: validate it and add it to the map. */
static int
ext_end_map (void *ctx)
{
  struct extents_parser *p = ctx;
  const char *why;
  uint32_t type;

  if (p->skip > 0)
    {
      p->skip--;
      return 1;
    }
  p->depth = 1;
  if (!p->has_start)
    return ext_fail (p, "extent %" PRIu64 " has no \"start\"", p->index);
  if (!p->has_length)
    return ext_fail (p, "extent %" PRIu64 " has no \"length\"", p->index);
  /* Dirty extents have "zero" only since imageio 2.2.0-1: without it a
   * dirty extent is data (always safe).
   */
  if (!p->has_zero && !p->dirty_ctx)
    return ext_fail (p, "extent %" PRIu64 " has no \"zero\"", p->index);
  if (p->dirty_ctx && !p->has_dirty)
    return ext_fail (p, "extent %" PRIu64 " has no \"dirty\"", p->index);
  if (p->index == 0 && p->windowed && p->start == 0 && p->win_start > 0)
    {
      /* The server ignored start=: the whole list follows. */
      p->base = p->expected = 0;
    }
  else if (p->index == 0 && p->windowed && p->win_start > 0
           && p->start < p->win_start && p->length > p->win_start - p->start)
    {
      /* A server that does not clip the first extent to start=. */
      p->length -= p->win_start - p->start;
      p->start = p->win_start;
      extent_map_resize (p->map, p->win_len);
    }
  else if (p->index == 0 && p->windowed && p->start == p->win_start
           && p->win_start > 0)
    /* The window asked for: the map covers it alone.  (A window at 0
     * is told from a whole list only by where the document ends.)
     */
    extent_map_resize (p->map, p->win_len);
  if (p->start != p->expected)
    return ext_fail (
        p,
        "extent %" PRIu64 " starts at %" PRIu64 ", expected %" PRIu64 " (%s)",
        p->index, p->start, p->expected,
        p->start > p->expected ? "gap or unsorted" : "overlap or unsorted");
  if (p->length == 0)
    return ext_fail (p, "extent %" PRIu64 " at %" PRIu64 " has length 0",
                     p->index, p->start);
  if (p->length > (uint64_t)INT64_MAX - p->start)
    return ext_fail (p, "extent %" PRIu64 " ends past 2^63", p->index);

  /* Dirty context: a clean extent is a hole that does not read as zeroes
   * (a copy onto the previous backup leaves it to the backing file).
   * Otherwise never claim a hole that does not read as zeroes.
   */
  if (p->dirty_ctx)
    type = !p->dirty ? EXTENT_TYPE_HOLE
           : p->zero ? EXTENT_TYPE_ZERO
                     : EXTENT_TYPE_DATA;
  else if (!p->zero)
    type = EXTENT_TYPE_DATA;
  else if (p->hole)
    type = EXTENT_TYPE_HOLE_ZERO;
  else
    type = EXTENT_TYPE_ZERO;
  if (extent_map_append (p->map, p->start - p->base, p->length, type, &why)
      == -1)
    return ext_fail (p, "extent %" PRIu64 ": %s", p->index, why);
  p->expected = p->start + p->length;
  p->index++;
  return 1;
}

static int
ext_start_array (void *ctx)
{
  struct extents_parser *p = ctx;

  if (p->skip == 0 && p->depth == 0 && !p->done)
    {
      p->depth = 1;
      return 1;
    }
  return ext_start_nested (p, "an array");
}

static int
ext_end_array (void *ctx)
{
  struct extents_parser *p = ctx;

  if (p->skip > 0)
    {
      p->skip--;
      return 1;
    }
  p->depth = 0; /* yajl guarantees it matches depth 1 */
  p->done = true;
  return 1;
}

static const yajl_callbacks ext_callbacks = {
  .yajl_null = ext_null,
  .yajl_boolean = ext_boolean,
  .yajl_number = ext_number,
  .yajl_string = ext_string,
  .yajl_start_map = ext_start_map,
  .yajl_map_key = ext_map_key,
  .yajl_end_map = ext_end_map,
  .yajl_start_array = ext_start_array,
  .yajl_end_array = ext_end_array,
};

struct extents_parser *
extents_parser_new (uint64_t export_size, uint64_t max_doc_bytes)
{
  struct extents_parser *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->export_size = export_size;
  p->max_extents = export_size / EXT_GRANULARITY
                   + (export_size % EXT_GRANULARITY != 0) + EXT_COUNT_SLACK;
  p->max_doc_bytes = max_doc_bytes;
  /* No overflow: max_extents < 2^55 + 17, times 2^8. */
  if (p->max_extents * EXT_ENTRY_MAX + EXT_DOC_SLACK < max_doc_bytes)
    {
      p->max_doc_bytes = p->max_extents * EXT_ENTRY_MAX + EXT_DOC_SLACK;
      p->doc_bound_from_size = true;
    }
  p->map = extent_map_new (export_size);
  p->h = yajl_alloc (&ext_callbacks, NULL, p);
  if (p->map == NULL || p->h == NULL)
    {
      extents_parser_free (p);
      return NULL;
    }
  return p;
}

struct extents_parser *
extents_parser_new_window (uint64_t export_size, uint64_t win_start,
                           uint64_t win_len, uint64_t max_doc_bytes)
{
  struct extents_parser *p = extents_parser_new (export_size, max_doc_bytes);

  if (p == NULL)
    return NULL;
  if (win_start >= export_size || win_len == 0
      || win_len > export_size - win_start)
    {
      extents_parser_free (p);
      return NULL;
    }
  p->windowed = true;
  p->win_start = p->base = p->expected = win_start;
  p->win_len = win_len;
  return p;
}

void
extents_parser_set_dirty (struct extents_parser *p)
{
  p->dirty_ctx = true;
}

uint64_t
extents_parser_base (const struct extents_parser *p)
{
  return p->base;
}

/* Records yajl's own error (not a callback's) with the byte offset. */
static void
ext_yajl_error (struct extents_parser *p, const unsigned char *data, size_t len,
                uint64_t chunk_offset)
{
  char e[128];
  uint64_t at = chunk_offset + yajl_get_bytes_consumed (p->h);

  yajl_short_error (p->h, data, len, e, sizeof e);
  ext_fail (p, "not JSON at byte %" PRIu64 ": %s", at, e);
}

/* Byte classes for scan_tokens: what ends a number or literal. */
static const unsigned char ends_bare[256] = {
  [' '] = 1,  ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, ['\f'] = 1,
  ['\v'] = 1, ['['] = 1,  [']'] = 1,  ['{'] = 1,  ['}'] = 1,
  [':'] = 1,  [','] = 1,  ['"'] = 1,
};

/* Follows string and token boundaries through LEN bytes (the state is kept
 * across pieces, so a token cut by a boundary is counted whole).  Returns
 * the offset of the first byte that makes a token longer than valid ones
 * can be (and sets *WHAT), or LEN.  In valid JSON this finds exactly the
 * strings and the bare tokens (numbers, true, false, null); in anything
 * else yajl fails first or the text is refused anyway.
 */
static size_t
scan_tokens (struct extents_parser *p, const unsigned char *d, size_t len,
             const char **what)
{
  size_t i = 0, j;

  while (i < len)
    {
      if (p->in_string && p->escape)
        { /* the byte after a backslash */
          p->escape = false;
          if (++p->run > EXT_STRING_MAX)
            goto long_string;
          i++;
        }
      else if (p->in_string)
        {
          for (j = i; j < len && d[j] != '"' && d[j] != '\\'; j++)
            ;
          if (j - i > EXT_STRING_MAX - p->run)
            {
              i += EXT_STRING_MAX - p->run;
              goto long_string;
            }
          p->run += j - i;
          i = j;
          if (i == len)
            break;
          if (d[i] == '"')
            {
              p->in_string = false;
              p->run = 0;
            }
          else
            {
              p->escape = true;
              if (++p->run > EXT_STRING_MAX)
                goto long_string;
            }
          i++;
        }
      else
        {
          for (j = i; j < len && !ends_bare[d[j]]; j++)
            ;
          if (j - i > EXT_BARE_MAX - p->run)
            {
              i += EXT_BARE_MAX - p->run;
              goto long_bare;
            }
          p->run += j - i;
          i = j;
          if (i == len)
            break;
          p->run = 0; /* a delimiter ends the token */
          if (d[i] == '"')
            p->in_string = true;
          i++;
        }
    }
  return len;

long_string:
  *what = "a string longer than " STR (EXT_STRING_MAX) " bytes";
  return i;
long_bare:
  *what = "a number or literal longer than " STR (EXT_BARE_MAX) " bytes";
  return i;
}

int
extents_parser_feed (struct extents_parser *p, const void *data, size_t len)
{
  uint64_t chunk_offset = p->fed;
  const char *what = NULL;
  size_t ok_len;
  yajl_status st;

  if (p->failed)
    return -1;
  if (len > p->max_doc_bytes - p->fed)
    {
      ext_fail (p, "document larger than %" PRIu64 " bytes%s", p->max_doc_bytes,
                p->doc_bound_from_size ? ", more than the image size can need"
                                       : "");
      return -1;
    }
  /* Only the bytes before a too long token reach yajl, so its error (if
   * those bytes hold one) comes first, whatever the pieces are.
   */
  ok_len = scan_tokens (p, data, len, &what);
  p->fed += ok_len;
  st = yajl_parse (p->h, data, ok_len);
  if (st == yajl_status_ok && what == NULL)
    return 0;
  if (st == yajl_status_ok)
    ext_fail (p, "%s at byte %" PRIu64, what, chunk_offset + ok_len);
  else if (st != yajl_status_client_canceled)
    ext_yajl_error (p, data, ok_len, chunk_offset);
  return -1;
}

const char *
extents_parser_error (const struct extents_parser *p)
{
  return p->failed ? p->reason : NULL;
}

struct extent_map *
extents_parser_finish (struct extents_parser *p, char *errbuf, size_t errlen)
{
  struct extent_map *m;
  const char *why;

  if (p->map == NULL)
    {
      snprintf (errbuf, errlen, "extents parser already finished");
      return NULL;
    }
  if (!p->failed && p->fed == 0)
    ext_fail (p, "empty document");
  if (!p->failed)
    {
      yajl_status st = yajl_complete_parse (p->h);

      if (st == yajl_status_error)
        {
          char e[128];

          yajl_short_error (p->h, NULL, 0, e, sizeof e);
          ext_fail (p, "not JSON at the end of the document: %s", e);
        }
    }
  if (!p->failed && !p->done)
    ext_fail (p, "document is incomplete");
  /* A window at 0 that ends before the export does is the window (a
   * whole list would run to the export's end).
   */
  if (!p->failed && p->windowed && p->base == 0 && p->win_start == 0
      && p->expected < p->export_size && p->expected >= p->win_len)
    extent_map_resize (p->map, p->win_len);
  if (!p->failed && extent_map_finish (p->map, &why) == -1)
    {
      if (p->windowed && p->base == p->win_start)
        ext_fail (p,
                  "document ends at %" PRIu64 ", before the end %" PRIu64
                  " of the range asked for",
                  p->expected, p->win_start + p->win_len);
      else
        ext_fail (p,
                  "document ends at %" PRIu64 ", before the image end %" PRIu64,
                  p->expected, p->export_size);
    }
  if (p->failed)
    {
      snprintf (errbuf, errlen, "%s", p->reason);
      return NULL;
    }
  m = p->map;
  p->map = NULL;
  return m;
}

void
extents_parser_free (struct extents_parser *p)
{
  if (p == NULL)
    return;
  if (p->h)
    yajl_free (p->h);
  extent_map_free (p->map);
  free (p);
}
