/* SPDX-License-Identifier: BSD-3-Clause */
/* Pure parsers of client input; see parse.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "validate.h"

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int
uri_check (const char *uri, size_t len, size_t *path_len, char *err,
           size_t errlen)
{
  size_t plen = len;
  const char *q = memchr (uri, '?', len);

  if (q)
    plen = q - uri;
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = uri[i];

      if (c <= 0x20 || c >= 0x7f)
        {
          snprintf (err, errlen, "Invalid request target: byte 0x%02x", c);
          return -1;
        }
      if (c != '%')
        continue;
      if (i + 2 >= len || hexval (uri[i + 1]) < 0 || hexval (uri[i + 2]) < 0)
        {
          snprintf (err, errlen, "Invalid request target: bad %%-escape");
          return -1;
        }
      c = hexval (uri[i + 1]) * 16 + hexval (uri[i + 2]);
      if (c == 0)
        {
          snprintf (err, errlen, "Invalid request target: %%00");
          return -1;
        }
      if (i < plen && (c == '/' || c == '\\'))
        {
          snprintf (err, errlen,
                    "Invalid request target: encoded '%c' in the path", c);
          return -1;
        }
    }
  *path_len = plen;
  return 0;
}

/* Decodes the %XX escapes of SRC (LEN bytes) into DST (LEN + 1 bytes);
 * returns the decoded length, or -1 on a bad escape, %00 or a raw NUL.
 */
static ssize_t
unescape (const char *src, size_t len, char *dst)
{
  size_t n = 0;

  for (size_t i = 0; i < len; i++)
    {
      if (src[i] == '%')
        {
          int hi, lo;

          if (i + 2 >= len)
            return -1;
          hi = hexval (src[i + 1]);
          lo = hexval (src[i + 2]);
          if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
          dst[n++] = hi * 16 + lo;
          i += 2;
        }
      else if (src[i] == '\0')
        return -1;
      else
        dst[n++] = src[i];
    }
  dst[n] = '\0';
  return n;
}

int
query_parse (const char *raw, size_t len, struct query *q, char *err,
             size_t errlen)
{
  char *out;
  size_t pos = 0;

  memset (q, 0, sizeof *q);
  /* Decoded text never grows: LEN bytes plus one NUL per piece. */
  q->buf = out = malloc (len * 2 + 2);
  if (out == NULL)
    {
      snprintf (err, errlen, "Out of memory");
      return -1;
    }
  while (pos < len)
    {
      const char *amp = memchr (raw + pos, '&', len - pos);
      size_t plen = (amp ? (size_t)(amp - raw) : len) - pos;
      const char *piece = raw + pos;
      const char *eq = memchr (piece, '=', plen);
      size_t klen = eq ? (size_t)(eq - piece) : plen;
      ssize_t n;

      pos += plen + 1;
      if (plen == 0)
        continue;
      if (q->n == QUERY_MAX)
        {
          snprintf (err, errlen, "Too many query arguments (limit %d)",
                    QUERY_MAX);
          goto err;
        }
      n = unescape (piece, klen, out);
      if (n == -1)
        goto bad;
      q->keys[q->n] = out;
      out += n + 1;
      if (eq)
        {
          n = unescape (eq + 1, plen - klen - 1, out);
          if (n == -1)
            goto bad;
          q->values[q->n] = out;
          out += n + 1;
        }
      q->n++;
    }
  return 0;

bad:
  snprintf (err, errlen, "Invalid query string");
err:
  query_free (q);
  return -1;
}

const char *
query_get (const struct query *q, const char *name)
{
  for (size_t i = 0; i < q->n; i++)
    if (strcmp (q->keys[i], name) == 0)
      return q->values[i];
  return NULL;
}

bool
query_has (const struct query *q, const char *name)
{
  for (size_t i = 0; i < q->n; i++)
    if (strcmp (q->keys[i], name) == 0)
      return true;
  return false;
}

void
query_free (struct query *q)
{
  free (q->buf);
  memset (q, 0, sizeof *q);
}

int
parse_yes_no (const char *value, int def, int *out)
{
  if (value == NULL)
    *out = def;
  else if (strcmp (value, "y") == 0)
    *out = 1;
  else if (strcmp (value, "n") == 0)
    *out = 0;
  else
    return -1;
  return 0;
}

int
framing_check (const char *const *names, const char *const *values, size_t n,
               char *err, size_t errlen)
{
  unsigned cl = 0, te = 0;

  for (size_t i = 0; i < n; i++)
    {
      const char *name = names[i] ? names[i] : "";
      const char *value = values[i] ? values[i] : "";

      if (*name == '\0' || strpbrk (name, " \t\r\n\v\f") != NULL)
        {
          snprintf (err, errlen, "Malformed header field name");
          return -1;
        }
      for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
          {
            snprintf (err, errlen, "Malformed header field name");
            return -1;
          }
      if (strcasecmp (name, "Content-Length") == 0)
        {
          cl++;
          if (*value == '\0' || strspn (value, "0123456789") != strlen (value)
              || strlen (value) > 19)
            {
              snprintf (err, errlen, "Invalid Content-Length header");
              return -1;
            }
        }
      else if (strcasecmp (name, "Transfer-Encoding") == 0)
        {
          te++;
          if (strcasecmp (value, "chunked") != 0)
            {
              snprintf (err, errlen, "Unsupported Transfer-Encoding");
              return -1;
            }
        }
    }
  if (cl > 1)
    {
      snprintf (err, errlen, "More than one Content-Length header");
      return -1;
    }
  if (te > 1)
    {
      snprintf (err, errlen, "More than one Transfer-Encoding header");
      return -1;
    }
  if (cl && te)
    {
      snprintf (err, errlen, "Content-Length together with Transfer-Encoding");
      return -1;
    }
  return 0;
}

yajl_val
parse_json_object (const char *body, size_t len, char *err, size_t errlen)
{
  char yerr[256];
  char *text;
  yajl_val root;

  /* yajl_tree_parse wants a NUL-terminated string; an inner NUL would
   * hide the rest of the body from it.
   */
  if (body == NULL || len == 0 || memchr (body, '\0', len) != NULL)
    {
      snprintf (err, errlen, "Invalid JSON: %s",
                body && len ? "NUL byte in body" : "empty body");
      return NULL;
    }
  text = strndup (body, len);
  if (text == NULL)
    {
      snprintf (err, errlen, "Out of memory");
      return NULL;
    }
  root = yajl_tree_parse (text, yerr, sizeof yerr);
  free (text);
  if (root == NULL)
    {
      snprintf (err, errlen, "Invalid JSON: %.*s", (int)strcspn (yerr, "\n"),
                yerr);
      validate_oneline (err);
      return NULL;
    }
  if (!YAJL_IS_OBJECT (root))
    {
      yajl_tree_free (root);
      snprintf (err, errlen, "Invalid JSON: expecting an object");
      return NULL;
    }
  return root;
}

int
parse_patch (const char *body, size_t len, struct patch_request *p, char *err,
             size_t errlen)
{
  static const char *const ops[] = { "flush", "zero", NULL };
  yajl_val root = parse_json_object (body, len, err, errlen);
  int64_t offset, size;
  int op;

  memset (p, 0, sizeof *p);
  if (root == NULL)
    return -1;
  if (validate_enum (root, "op", ops, &op, err, errlen) == -1)
    goto bad;
  if (op == 0)
    {
      p->op = PATCH_FLUSH;
      yajl_tree_free (root);
      return 0;
    }
  p->op = PATCH_ZERO;
  if (validate_int (root, "size", true, 0, 0, &size, err, errlen) == -1
      || validate_int (root, "offset", false, 0, 0, &offset, err, errlen) == -1
      || validate_bool (root, "flush", false, false, &p->flush, err, errlen)
             == -1)
    goto bad;
  p->offset = offset;
  p->size = size;
  yajl_tree_free (root);
  return 0;

bad:
  validate_oneline (err);
  yajl_tree_free (root);
  return -1;
}

int
parse_control_path (const char *url, char *id, size_t idsz)
{
  const char *p;

  if (url == NULL || strncmp (url, "/tickets/", 9) != 0)
    return -1;
  p = url + 9;
  if (*p == '\0' || strchr (p, '/') != NULL || strlen (p) >= idsz)
    return -1;
  memcpy (id, p, strlen (p) + 1);
  return 0;
}

int
parse_control_patch (const char *body, size_t len, uint64_t *timeout, char *err,
                     size_t errlen)
{
  yajl_val root = parse_json_object (body, len, err, errlen);
  int64_t t;
  int r;

  if (root == NULL)
    return -1;
  r = validate_int (root, "timeout", true, 0, 0, &t, err, errlen);
  yajl_tree_free (root);
  if (r == 0)
    *timeout = t;
  else
    validate_oneline (err);
  return r;
}
