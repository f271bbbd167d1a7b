/* SPDX-License-Identifier: BSD-3-Clause */
/* Response head parsing and chunked body decoding for the HTTP client: pure
 * functions, no I/O and no nbdkit symbols, so the unit tests and the fuzzer
 * link this file alone.
 *
 * Contract: the input is a byte range that is NOT NUL-terminated and may
 * hold any bytes; nothing past LEN is read.  The parser is strict (RFC 9112
 * without the obsolete forms): a head that could be read in two ways is
 * rejected rather than guessed at, because a wrong body length would
 * desynchronise a kept-alive connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "http.h"
#include "parse-uint.h"

/* RFC 9110 tchar: the characters of a header name. */
static bool
is_tchar (unsigned char ch)
{
  if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
      || (ch >= 'A' && ch <= 'Z'))
    return true;
  return ch != '\0' && strchr ("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Field value and reason phrase characters: visible ASCII, space, tab and
 * obs-text (bytes >= 0x80).  Every other control character, NUL included,
 * is refused.
 */
static bool
is_text (unsigned char ch)
{
  return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static bool
is_ows (unsigned char ch)
{
  return ch == ' ' || ch == '\t';
}

/* Case-insensitive comparison of a counted string with a literal. */
static bool
name_is (const char *s, size_t len, const char *lit)
{
  return strlen (lit) == len && strncasecmp (s, lit, len) == 0;
}

/* Copies a counted value into a fixed field, truncating; NUL-terminates. */
static void
copy_field (char *dst, size_t dstsz, const char *src, size_t len)
{
  if (len >= dstsz)
    len = dstsz - 1;
  memcpy (dst, src, len);
  dst[len] = '\0';
}

/* Content-Length = 1*DIGIT.  A list ("5, 5"), a sign, spaces inside or an
 * overflow of int64_t are all refused.
 */
static int
parse_length (const char *s, size_t len, int64_t *out)
{
  uint64_t v;

  if (parse_uint64 (s, len, INT64_MAX, &v) != 0)
    return -1;
  *out = (int64_t)v;
  return 0;
}

/* Walks the comma-separated tokens of a Connection value. */
static void
parse_connection (const char *s, size_t len, bool *close, bool *keep_alive)
{
  size_t i = 0;

  while (i < len)
    {
      size_t start, end;

      while (i < len && (is_ows (s[i]) || s[i] == ','))
        i++;
      start = i;
      while (i < len && s[i] != ',')
        i++;
      end = i;
      while (end > start && is_ows (s[end - 1]))
        end--;
      if (name_is (s + start, end - start, "close"))
        *close = true;
      else if (name_is (s + start, end - start, "keep-alive"))
        *keep_alive = true;
    }
}

/* Status line: "HTTP/1.D SP 3DIGIT SP reason".  A missing reason (with or
 * without its space) is accepted: RFC 9112 makes the phrase optional and
 * some servers drop the space too.
 */
static int
parse_status_line (const char *s, size_t len, struct http_response *resp,
                   int *minor)
{
  size_t i;

  if (len < 12 || memcmp (s, "HTTP/1.", 7) != 0)
    return -1;
  if (s[7] < '0' || s[7] > '9' || s[8] != ' ')
    return -1;
  *minor = s[7] - '0';
  if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0'
      || s[11] > '9')
    return -1;
  resp->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  if (len == 12)
    return 0;
  if (s[12] != ' ')
    return -1;
  for (i = 13; i < len; i++)
    if (!is_text (s[i]))
      return -1;
  copy_field (resp->reason, sizeof resp->reason, s + 13, len - 13);
  return 0;
}

/* What the header fields seen so far said. */
struct head_state
{
  bool conn_close, conn_keep_alive;
  bool have_length, have_te, have_crange, have_ctype;
};

/* Splits a field line "name: value" (RFC 9112 5.1: no space before the
 * colon, no obs-fold) into its name length *N and its trimmed value.
 */
static int
split_field (const char *line, size_t llen, size_t *n, const char **value,
             size_t *vlen)
{
  size_t i = 0;

  while (i < llen && is_tchar (line[i]))
    i++;
  if (i == 0 || i == llen || line[i] != ':')
    return -1;
  *n = i;
  *value = line + i + 1;
  *vlen = llen - i - 1;
  while (*vlen > 0 && is_ows ((*value)[0]))
    (*value)++, (*vlen)--;
  while (*vlen > 0 && is_ows ((*value)[*vlen - 1]))
    (*vlen)--;
  for (size_t k = 0; k < *vlen; k++)
    if (!is_text ((*value)[k]))
      return -1;
  return 0;
}

/* Takes in one header field.  Duplicates that could be read two ways are
 * refused.
 */
static int
apply_field (struct head_state *st, struct http_response *resp,
             const char *name, size_t n, const char *value, size_t vlen)
{
  if (name_is (name, n, "content-length"))
    {
      int64_t v;

      if (parse_length (value, vlen, &v) == -1
          || (st->have_length && v != resp->content_length))
        return -1;
      st->have_length = true;
      resp->content_length = v;
    }
  else if (name_is (name, n, "transfer-encoding"))
    {
      /* Only "chunked", once: any other coding is one we cannot decode,
       * and chunked twice is invalid.
       */
      if (st->have_te || !name_is (value, vlen, "chunked"))
        return -1;
      st->have_te = true;
    }
  else if (name_is (name, n, "connection"))
    parse_connection (value, vlen, &st->conn_close, &st->conn_keep_alive);
  else if (name_is (name, n, "content-range"))
    {
      /* Truncating would change the meaning: refuse instead. */
      if (st->have_crange || vlen >= sizeof resp->content_range)
        return -1;
      st->have_crange = true;
      copy_field (resp->content_range, sizeof resp->content_range, value, vlen);
    }
  else if (name_is (name, n, "content-type"))
    {
      if (st->have_ctype)
        return -1;
      st->have_ctype = true;
      copy_field (resp->content_type, sizeof resp->content_type, value, vlen);
    }
  else if (name_is (name, n, "allow"))
    {
      /* A list header: several lines join with ", ". */
      size_t used = strlen (resp->allow);

      if (used > 0 && used + 2 < sizeof resp->allow)
        {
          memcpy (resp->allow + used, ", ", 2);
          used += 2;
        }
      copy_field (resp->allow + used, sizeof resp->allow - used, value, vlen);
    }
  return 0;
}

int
http_parse_head (const char *head, size_t len, struct http_response *resp,
                 bool *chunked)
{
  struct head_state st = { 0 };
  size_t pos = 0;
  bool first = true, ended = false;
  int minor = 0;

  memset (resp, 0, sizeof *resp);
  resp->content_length = -1;
  *chunked = false;

  while (pos < len && !ended)
    {
      const char *line = head + pos, *value;
      const char *cr = memchr (line, '\r', len - pos);
      size_t llen, n, vlen;

      /* Lines end with CRLF; a bare CR or LF anywhere is refused (a bare
       * LF shows up as a control character in the line).
       */
      if (cr == NULL || (size_t)(cr - head) + 1 >= len || cr[1] != '\n')
        return -1;
      llen = cr - line;
      pos += llen + 2;
      if (first)
        {
          if (parse_status_line (line, llen, resp, &minor) == -1)
            return -1;
          first = false;
        }
      else if (llen == 0)
        ended = true;
      else if (split_field (line, llen, &n, &value, &vlen) == -1
               || apply_field (&st, resp, line, n, value, vlen) == -1)
        return -1;
    }

  /* The empty line must be there and must be the last thing. */
  if (first || !ended || pos != len)
    return -1;
  if (st.have_te && st.have_length)
    return -1;

  *chunked = st.have_te;
  if (minor == 0)
    resp->keep_alive = st.conn_keep_alive && !st.conn_close;
  else
    resp->keep_alive = !st.conn_close;
  return 0;
}

/* Decoding a chunked body (RFC 9112 section 7.1), in place.  States: */
enum
{
  CH_SIZE,    /* hex digits of a chunk-size */
  CH_SIZE_WS, /* white space after them, before ";" or CR */
  CH_EXT,     /* a chunk extension, ignored, up to CR */
  CH_SIZE_LF, /* the LF ending the size line */
  CH_DATA,    /* chunk data */
  CH_DATA_CR, /* the CRLF after chunk data */
  CH_DATA_LF,
  CH_TRAILER, /* trailer field lines, ignored, up to an empty line */
  CH_TRAILER_LF,
  CH_END_LF, /* the LF of the empty line that ends the body */
  CH_DONE,
};

static bool
is_hex (unsigned char c, unsigned *v)
{
  if (c >= '0' && c <= '9')
    *v = c - '0';
  else if (c >= 'a' && c <= 'f')
    *v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F')
    *v = c - 'A' + 10;
  else
    return false;
  return true;
}

/* One byte of a size or trailer line; -1 on a framing error. */
static int
chunked_line_byte (struct http_chunked *d, unsigned char c)
{
  unsigned v;

  if (++d->line_len > HTTP_CHUNK_LINE_MAX)
    return -1;
  switch (d->state)
    {
    case CH_SIZE:
      if (is_hex (c, &v))
        {
          if (d->remaining > (UINT64_MAX >> 4))
            return -1;
          d->remaining = (d->remaining << 4) | v;
          d->digits++;
          return 0;
        }
      if (d->digits == 0)
        return -1;
      d->state = CH_SIZE_WS;
      /* fall through */
    case CH_SIZE_WS:
      if (c == '\r')
        d->state = CH_SIZE_LF;
      else if (c == ';')
        d->state = CH_EXT;
      else if (!is_ows (c))
        return -1;
      return 0;
    case CH_EXT:
      if (c == '\r')
        d->state = CH_SIZE_LF;
      else if (!is_text (c))
        return -1;
      return 0;
    case CH_TRAILER:
      if (++d->trailer_bytes > HTTP_CHUNK_TRAILER_MAX)
        return -1;
      if (c == '\r')
        d->state = d->line_len == 1 ? CH_END_LF : CH_TRAILER_LF;
      else if (!is_text (c))
        return -1;
      return 0;
    }
  return -1;
}

ssize_t
http_decode_chunked (struct http_chunked *d, char *buf, size_t *len)
{
  size_t in = 0, out = 0, n = *len;

  while (in < n)
    {
      unsigned char c = buf[in];

      switch (d->state)
        {
        case CH_DATA:
          {
            size_t k = n - in < d->remaining ? n - in : d->remaining;

            memmove (buf + out, buf + in, k);
            out += k;
            in += k;
            d->remaining -= k;
            if (d->remaining == 0)
              d->state = CH_DATA_CR;
            continue;
          }
        case CH_DATA_CR:
          if (c != '\r')
            return -1;
          d->state = CH_DATA_LF;
          break;
        case CH_DATA_LF:
        case CH_SIZE_LF:
        case CH_TRAILER_LF:
          if (c != '\n')
            return -1;
          d->line_len = 0;
          if (d->state == CH_DATA_LF)
            {
              d->state = CH_SIZE;
              d->digits = 0;
            }
          else if (d->state == CH_TRAILER_LF || d->remaining == 0)
            d->state = CH_TRAILER;
          else
            d->state = CH_DATA;
          break;
        case CH_END_LF:
          if (c != '\n')
            return -1;
          d->state = CH_DONE;
          in++;
          memmove (buf + out, buf + in, n - in);
          *len = out;
          return n - in;
        case CH_DONE:
          return -1;
        default:
          if (chunked_line_byte (d, c) == -1)
            return -1;
          break;
        }
      in++;
    }
  *len = out;
  return -2;
}
