/* SPDX-License-Identifier: BSD-3-Clause */
/* Ticket redaction; see redact.h. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "minmax.h"
#include "redact.h"

const char *
redact_ticket (const char *id, char buf[REDACT_TICKET_BUFSZ])
{
  size_t n;

  if (id == NULL)
    id = "";
  n = strnlen (id, REDACT_KEEP + 1);
  if (n <= REDACT_KEEP)
    snprintf (buf, REDACT_TICKET_BUFSZ, "%s", id);
  else
    snprintf (buf, REDACT_TICKET_BUFSZ, "%.*s...", REDACT_KEEP, id);
  return buf;
}

/* Finds the ticket part after PREFIX in URL: returns its start and sets
 * *LEN to its length (up to '/', '?', '#' or the end), or returns NULL.
 */
static const char *
find_secret (const char *url, const char *prefix, size_t *len)
{
  /* Any case: "/IMAGES/ID" reaches no handler but still names a ticket. */
  const char *p = strcasestr (url, prefix);

  if (p == NULL)
    return NULL;
  p += strlen (prefix);
  *len = strcspn (p, "/?#");
  return p;
}

const char *
redact_url (const char *url, char *buf, size_t bufsz)
{
  const char *secret;
  size_t len = 0;
  char shown[REDACT_TICKET_BUFSZ];
  char tmp[REDACT_TICKET_BUFSZ + 1];

  if (bufsz == 0)
    return buf;
  if (url == NULL)
    url = "";
  secret = find_secret (url, "/images/", &len);
  if (secret == NULL)
    secret = find_secret (url, "/tickets/", &len);
  if (secret == NULL || len == 0)
    {
      snprintf (buf, bufsz, "%s", url);
      return buf;
    }
  snprintf (tmp, sizeof tmp, "%.*s", (int)MIN (len, (size_t)REDACT_KEEP + 1),
            secret);
  redact_ticket (tmp, shown);
  snprintf (buf, bufsz, "%.*s%s%s", (int)(secret - url), url, shown,
            secret + len);
  return buf;
}

/* Characters of a ticket id as imageio makes them (UUIDs) and as a careless
 * server might quote other secrets.
 */
static bool
is_id_char (char c)
{
  return isalnum ((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* Length of the id that starts at P when it follows one of the words
 * imageio puts before ids, else 0.
 */
static size_t
quoted_id_len (const char *text, const char *p)
{
  static const char *const before[] = { "ticket/", "ticket ", "ticket '" };

  for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
    {
      size_t n = strlen (before[i]);

      if ((size_t)(p - text) >= n && strncasecmp (p - n, before[i], n) == 0)
        {
          size_t len = 0;

          while (is_id_char (p[len]))
            len++;
          return len;
        }
    }
  return 0;
}

const char *
redact_text (const char *text, const char *secret, char *buf, size_t bufsz)
{
  size_t slen = secret ? strlen (secret) : 0, out = 0;
  const char *p;

  if (bufsz == 0)
    return buf;
  if (text == NULL)
    text = "";
  for (p = text; *p && out + 1 < bufsz;)
    {
      size_t len = 0, rest = strlen (p);

      if (slen > REDACT_KEEP && strncmp (p, secret, MIN (slen, rest)) == 0
          && (rest >= slen || rest > REDACT_KEEP))
        len = MIN (slen, rest);
      else if (p == text || !is_id_char (p[-1]))
        len = quoted_id_len (text, p);
      if (len > REDACT_KEEP)
        {
          int w = snprintf (buf + out, bufsz - out, "%.*s...", REDACT_KEEP, p);

          out += w < 0 ? 0 : (size_t)w;
          if (out >= bufsz)
            out = bufsz - 1;
          p += len;
          continue;
        }
      buf[out++] = *p++;
    }
  buf[out] = '\0';
  return buf;
}

/* Copies the N bytes at P into BUF at *OUT, each piece between SEPS
 * longer than LONGEST cut to a shown ticket prefix and "...".
 */
static void
copy_cut_pieces (const char *p, size_t n, const char *seps, size_t longest,
                 char *buf, size_t bufsz, size_t *out)
{
  const char *end = p + n;

  while (p < end && *out + 1 < bufsz)
    {
      size_t piece = 0;
      int w;

      while (p + piece < end && strchr (seps, p[piece]) == NULL)
        piece++;
      if (piece > longest)
        w = snprintf (buf + *out, bufsz - *out, "%.*s...", REDACT_KEEP, p);
      else
        w = snprintf (buf + *out, bufsz - *out, "%.*s", (int)piece, p);
      *out += w < 0 ? 0 : (size_t)w;
      if (*out >= bufsz)
        *out = bufsz - 1;
      p += piece;
      if (p < end && *out + 1 < bufsz)
        buf[(*out)++] = *p++;
    }
  buf[*out] = '\0';
}

/* Pieces of a scheme or a host name are shown unless this long: a DNS
 * label rarely is, a ticket (36) always.
 */
#define LONGEST_HOST_PIECE 24

const char *
redact_user_url (const char *url, char *buf, size_t bufsz)
{
  const char *scheme_end, *auth, *auth_end, *at;
  size_t out = 0;

  if (bufsz == 0)
    return buf;
  if (url == NULL)
    url = "";
  /* The scheme and the host stay as typed (the message is about them)
   * unless a piece is long enough to be a ticket typed in the wrong
   * place; the path, query and fragment are cut as redact_ticket cuts.
   */
  scheme_end = strstr (url, "://");
  auth = scheme_end ? scheme_end + 3 : url;
  auth_end = auth + strcspn (auth, "/?# \t");
  at = memchr (auth, '@', auth_end - auth);
  copy_cut_pieces (url, auth - url, ":/", LONGEST_HOST_PIECE, buf, bufsz, &out);
  if (at != NULL)
    {
      /* User information may hold a password: never shown. */
      copy_cut_pieces ("...", 3, "", 3, buf, bufsz, &out);
      auth = at;
    }
  copy_cut_pieces (auth, auth_end - auth, ".:[]@", LONGEST_HOST_PIECE, buf,
                   bufsz, &out);
  copy_cut_pieces (auth_end, strlen (auth_end), "/?#&=;,+ \t", REDACT_KEEP + 3,
                   buf, bufsz, &out);
  return buf;
}
