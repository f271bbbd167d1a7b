/* SPDX-License-Identifier: BSD-3-Clause */
/* How a failed imageio request reaches the user and the NBD client: one
 * nbdkit_error saying what was attempted, then the transport failure or
 * the HTTP status and the server's own text (ticket ids shortened), and
 * the errno an NBD client understands.  See the man page, "ERRORS".
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "redact.h"

/* The ticket id, for redaction: what follows "/images/" in the URL's
 * path.  Set once at start-up.
 */
static const char *ticket;

void
errors_set_ticket_path (const char *path)
{
  const char *p = path ? strstr (path, "/images/") : NULL;

  ticket = p ? p + strlen ("/images/") : NULL;
}

const char *
errors_redact (const char *text, char *buf, size_t len)
{
  return redact_text (text, ticket, buf, len);
}

/* The errno for an HTTP error status.  Everything the client cannot fix by
 * changing its request is EIO, which every NBD client treats as an I/O
 * error (nbdkit turns ETIMEDOUT into EINVAL on the wire, which clients
 * read as "invalid argument": a timeout must not look like a bad request).
 */
static int
status_errno (int status)
{
  switch (status)
    {
    case 403:
      return EPERM;
    case 413:
    case 416:
      return EINVAL;
    case 507:
      return ENOSPC;
    default:
      return EIO;
    }
}

/* imageio answers a write to a read-only ticket with 403 "... forbids
 * write"; nbdkit's "Permission denied" alone would not say why.
 */
static bool
is_read_only_refusal (const struct http_response *resp)
{
  return resp->status == 403 && strcasestr (resp->error_text, "forbids write");
}

void
errors_report (const char *what, const struct http_outcome *o)
{
  const struct http_response *resp = &o->resp;
  char text[sizeof resp->error_text + 32];

  if (o->r != HTTP_OK)
    {
      nbdkit_error ("%s: %s: %s", what, http_result_str (o->r),
                    errors_redact (o->errbuf, text, sizeof text));
      nbdkit_set_error (EIO);
      return;
    }
  errors_redact (resp->error_text, text, sizeof text);
  if (is_read_only_refusal (resp))
    nbdkit_error ("%s: 403 %s: the ticket is read-only: %s", what, resp->reason,
                  text);
  else if (resp->status == 403)
    nbdkit_error ("%s: 403 %s: ticket not found, expired or canceled: %s", what,
                  resp->reason, text);
  else
    nbdkit_error ("%s: %d %s: %s", what, resp->status, resp->reason, text);
  nbdkit_set_error (status_errno (resp->status));
}

const char *
errors_describe (const char *what, const struct http_outcome *o, char *buf,
                 size_t len)
{
  char text[sizeof o->resp.error_text + 32];

  if (o->r == HTTP_OK)
    snprintf (buf, len, "%s: %d %s: %s", what, o->resp.status, o->resp.reason,
              errors_redact (o->resp.error_text, text, sizeof text));
  else
    snprintf (buf, len, "%s: %s: %s", what, http_result_str (o->r),
              errors_redact (o->errbuf, text, sizeof text));
  return buf;
}

const char *
errors_connect_hint (const char *errbuf, bool port_given, bool have_cafile)
{
  if (strstr (errbuf, "certificate verify failed") != NULL)
    {
      if (strcasestr (errbuf, "hostname mismatch") != NULL
          || strcasestr (errbuf, "IP address mismatch") != NULL)
        return "; the server's certificate does not name this host: use the "
               "host name it was issued for in the URL, or insecure=true to "
               "skip verification";
      if (have_cafile)
        return "; the CA in cafile= did not sign the server's certificate: "
               "give the right one with cafile=FILE (oVirt: the engine's "
               "CA), or insecure=true to skip verification";
      return "; give the CA that signed the server's certificate with "
             "cafile=FILE (oVirt: the engine's CA, "
             "/etc/pki/ovirt-engine/ca.pem on the engine), or insecure=true "
             "to skip verification";
    }
  if (!port_given && strstr (errbuf, "Connection refused") != NULL)
    return "; the URL has no port, so the scheme's default was used: "
           "imageio listens on 54322 (https://HOST:54322/images/TICKET)";
  return "";
}
