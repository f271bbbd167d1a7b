/* SPDX-License-Identifier: BSD-3-Clause */
/* Parameters: parsed by .config, checked by .config_complete, read-only
 * afterwards.  Names and meanings of url, size, cafile, insecure and
 * is_ovirt_host match virt-v2v's Python plugin, so this is a drop-in.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "redact.h"

struct imageio_config config = {
  .size = -1,
  .connections = 4,
  .timeout = 60,
  .connect_timeout = 10,
  .idle_flush = 20,
  .retry_timeout = DEFAULT_RETRY_TIMEOUT,
  .max_unflushed = DEFAULT_MAX_UNFLUSHED,
  .zero_elision = true,
  .extents_timeout = 3600,
};

/* url= read with nbdkit_read_password (url=+FILE, url=-): ours to free. */
static char *url_read;

/* Upper bounds that keep a typo from doing harm. */
#define MAX_CONNECTIONS 64
#define MAX_TIMEOUT 3600

static int
parse_bool_param (const char *key, const char *value, bool *out)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1)
    {
      nbdkit_error ("%s=%s: expecting true or false", key, value);
      return -1;
    }
  *out = r;
  return 0;
}

static int
parse_uint_param (const char *key, const char *value, unsigned min,
                  unsigned max, unsigned *out)
{
  unsigned v;

  if (nbdkit_parse_unsigned (key, value, &v) == -1)
    return -1;
  if (v < min || v > max)
    {
      nbdkit_error ("%s=%s: must be between %u and %u", key, value, min, max);
      return -1;
    }
  *out = v;
  return 0;
}

/* url=URL, or url=+FILE / url=- (read as nbdkit's password=+FILE is),
 * which keeps the ticket out of nbdkit -v's echo of every parameter and
 * out of ps.  The last url= wins.
 */
static int
set_url (const char *value)
{
  free (url_read);
  url_read = NULL;
  config.url = value;
  if (value[0] != '+' && value[0] != '-')
    return 0;
  if (nbdkit_read_password (value, &url_read) == -1)
    {
      nbdkit_error ("url=%s: cannot read the URL", value);
      return -1;
    }
  url_read[strcspn (url_read, "\r\n")] = '\0';
  config.url = url_read;
  return 0;
}

/* A size parameter in MIN..MAX bytes, saying which parameter is wrong
 * (nbdkit's own message does not).
 */
static int
parse_size_param (const char *key, const char *value, int64_t min, int64_t max,
                  int64_t *out)
{
  int64_t v = nbdkit_parse_size (value);

  if (v == -1)
    {
      nbdkit_error ("%s=%s: expecting a size, e.g. 64M", key, value);
      return -1;
    }
  if (v < min || v > max)
    {
      nbdkit_error ("%s=%s: must be between %" PRIi64 " and %" PRIi64 " bytes",
                    key, value, min, max);
      return -1;
    }
  *out = v;
  return 0;
}

int
config_set (const char *key, const char *value)
{
  int64_t v;

  if (strcmp (key, "url") == 0)
    return set_url (value);
  if (strcmp (key, "size") == 0)
    return parse_size_param (key, value, 1, INT64_MAX, &config.size);
  if (strcmp (key, "cafile") == 0)
    {
      if (*value == '\0')
        {
          nbdkit_error ("cafile=: empty file name");
          return -1;
        }
      config.cafile = value;
      return 0;
    }
  if (strcmp (key, "insecure") == 0)
    return parse_bool_param (key, value, &config.insecure);
  if (strcmp (key, "is_ovirt_host") == 0)
    return parse_bool_param (key, value, &config.is_ovirt_host);
  if (strcmp (key, "connections") == 0)
    return parse_uint_param (key, value, 1, MAX_CONNECTIONS,
                             &config.connections);
  if (strcmp (key, "timeout") == 0)
    return parse_uint_param (key, value, 1, MAX_TIMEOUT, &config.timeout);
  if (strcmp (key, "retry_timeout") == 0)
    return parse_uint_param (key, value, 0, MAX_TIMEOUT, &config.retry_timeout);
  if (strcmp (key, "idle_flush") == 0)
    return parse_uint_param (key, value, 1, MAX_TIMEOUT, &config.idle_flush);
  if (strcmp (key, "max_unflushed") == 0)
    {
      if (parse_size_param (key, value, 0, MAX_MAX_UNFLUSHED, &v) == -1)
        return -1;
      config.max_unflushed = v;
      return 0;
    }
  if (strcmp (key, "zero_elision") == 0)
    return parse_bool_param (key, value, &config.zero_elision);
  if (strcmp (key, "extents_timeout") == 0)
    return parse_uint_param (key, value, 1, 86400, &config.extents_timeout);
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

/* The strings the URL was split into; config.remote and config.path point
 * into them.
 */
static char *url_host, *url_port, *url_host_header, *url_path;

/* Skips the scheme of URL (SHOWN: URL redacted), setting ep->tls; returns
 * what follows "://", or NULL after an error.
 */
static const char *
parse_scheme (const char *url, const char *shown, struct http_endpoint *ep)
{
  if (strncasecmp (url, "https://", 8) == 0)
    {
      ep->tls = true;
      return url + 8;
    }
  if (strncasecmp (url, "http://", 7) == 0)
    {
      ep->tls = false;
      return url + 7;
    }
  nbdkit_error ("url=%s: expecting an https:// or http:// URL", shown);
  return NULL;
}

/* Splits the authority P..END ("host", "host:port", "[v6]:port") into
 * url_host and url_port (the scheme's default when absent).
 */
static int
parse_authority (const char *p, const char *end, const char *shown, bool tls)
{
  const char *host_end;
  unsigned port;

  if (memchr (p, '@', end - p) != NULL)
    {
      nbdkit_error ("url=%s: user information in the URL is not supported",
                    shown);
      return -1;
    }
  if (*p == '[')
    {
      host_end = memchr (p, ']', end - p);
      if (host_end == NULL)
        {
          nbdkit_error ("url=%s: unterminated IPv6 address", shown);
          return -1;
        }
      url_host = strndup (p + 1, host_end - p - 1);
      host_end++;
    }
  else
    {
      host_end = memchr (p, ':', end - p);
      if (host_end == NULL)
        host_end = end;
      url_host = strndup (p, host_end - p);
    }
  if (url_host == NULL || *url_host == '\0')
    {
      nbdkit_error ("url=%s: missing host name", shown);
      return -1;
    }

  if (host_end == end)
    url_port = strdup (tls ? "443" : "80");
  else if (*host_end == ':')
    url_port = strndup (host_end + 1, end - host_end - 1);
  else
    {
      nbdkit_error ("url=%s: invalid host or port", shown);
      return -1;
    }
  if (url_port == NULL
      || nbdkit_parse_unsigned ("url port", url_port, &port) == -1 || port == 0
      || port > 65535)
    {
      nbdkit_error ("url=%s: invalid port", shown);
      return -1;
    }
  return 0;
}

/* Splits URL into scheme, host, port and path, filling config.remote and
 * config.path.  Accepts http://HOST[:PORT]/PATH and https://..., with
 * IPv6 literals in brackets.  User info and fragments are refused.
 */
static int
parse_url (const char *url)
{
  struct http_endpoint *ep = &config.remote;
  char shown[256];
  const char *p, *path;

  redact_url (url, shown, sizeof shown);
  p = parse_scheme (url, shown, ep);
  if (p == NULL)
    return -1;
  path = p + strcspn (p, "/?#");
  if (*path != '/')
    {
      nbdkit_error ("url=%s: missing the path (/images/TICKET)", shown);
      return -1;
    }
  if (parse_authority (p, path, shown, ep->tls) == -1)
    return -1;
  if (strchr (path, '#') != NULL || strchr (path, ' ') != NULL)
    {
      nbdkit_error ("url=%s: unexpected character in the path", shown);
      return -1;
    }
  url_path = strdup (path);
  /* Host header: keep the URL's spelling, brackets and port included. */
  url_host_header = strndup (p, path - p);
  if (url_path == NULL || url_host_header == NULL)
    {
      nbdkit_error ("strdup: %m");
      return -1;
    }
  ep->host = url_host;
  ep->port = url_port;
  ep->host_header = url_host_header;
  config.path = url_path;
  return 0;
}

int
config_complete (void)
{
  if (config.url == NULL)
    {
      nbdkit_error ("the url parameter is required, "
                    "e.g. url=https://HOST:54322/images/TICKET");
      return -1;
    }
  if (parse_url (config.url) == -1)
    return -1;
  /* A CA file named but unreadable is a mistake, even when it would not be
   * used (insecure=true, http://): better said now than found later.
   */
  if (config.cafile && access (config.cafile, R_OK) == -1)
    {
      nbdkit_error ("cafile=%s: cannot read it: %m", config.cafile);
      return -1;
    }
  if (!config.remote.tls && (config.cafile || config.insecure))
    nbdkit_debug ("cafile and insecure are ignored for an http:// URL");
  if (config.connect_timeout > config.timeout)
    config.connect_timeout = config.timeout;

  config.remote.cafile = config.cafile;
  config.remote.insecure = config.insecure;
  config.remote.connect_timeout_ms = config.connect_timeout * 1000;
  config.remote.io_timeout_ms = config.timeout * 1000;
  return 0;
}

void
config_free (void)
{
  http_endpoint_free (&config.remote);
  free (url_host);
  free (url_port);
  free (url_host_header);
  free (url_path);
  url_host = url_port = url_host_header = url_path = NULL;
  config.remote.host = config.remote.port = config.remote.host_header = NULL;
  config.path = NULL;
  free (url_read);
  url_read = NULL;
}
