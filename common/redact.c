/* Ticket redaction; see redact.h. */
#include <stdio.h>
#include <string.h>

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
  snprintf (tmp, sizeof tmp, "%.*s", (int) (len < REDACT_KEEP + 1 ? len : REDACT_KEEP + 1), secret);
  redact_ticket (tmp, shown);
  snprintf (buf, bufsz, "%.*s%s%s", (int) (secret - url), url, shown,
            secret + len);
  return buf;
}
