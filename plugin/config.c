/* SPDX-License-Identifier: BSD-3-Clause */
/* Parameters: parsed by .config, checked by .config_complete, read-only
 * afterwards.  Names and meanings of url, size, cafile, insecure and
 * is_ovirt_host match virt-v2v's Python plugin, so this is a drop-in.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "parse-uint.h"
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

/* url= read from a file, a descriptor or stdin: ours to free. */
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

/* A whole number in MIN..MAX (of UNIT), saying which parameter is wrong,
 * what it got and what it expects (nbdkit_parse_unsigned says "empty
 * string where we expected a number" for timeout=abc).
 */
static int
parse_uint_param (const char *key, const char *value, unsigned min,
                  unsigned max, const char *unit, unsigned *out)
{
  uint64_t v;
  int r = parse_uint64 (value, strlen (value), UINT_MAX, &v);

  if (r == -1)
    {
      nbdkit_error ("%s=%s: expecting a whole number of %s from %u to %u, "
                    "e.g. %s=%u",
                    key, value, unit, min, max, key,
                    min > 10   ? min
                    : max < 10 ? max
                               : 10);
      return -1;
    }
  if (r == -2 || v < min || v > max)
    {
      nbdkit_error ("%s=%s: must be between %u and %u %s", key, value, min, max,
                    unit);
      return -1;
    }
  *out = v;
  return 0;
}

/* Longest URL read from a file, a descriptor or standard input. */
#define URL_READ_MAX 8192
/* url=- on a pipe waits this long for the URL. */
#define URL_STDIN_TIMEOUT_MS 30000

/* Reads the first line of standard input (not a terminal) into url_read
 * by a deadline, so that `echo URL | nbdkit imageio url=-` works: nbdkit's
 * own "-" reads only from a terminal.  Reads a byte at a time so that
 * nothing after the line is taken from whoever else reads stdin.
 */
static int
read_url_from_stdin (void)
{
  int64_t deadline = clock_now_ms () + URL_STDIN_TIMEOUT_MS;
  size_t n = 0;

  url_read = malloc (URL_READ_MAX + 1);
  if (url_read == NULL)
    {
      nbdkit_error ("malloc: %m");
      return -1;
    }
  for (;;)
    {
      struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
      int64_t left = deadline - clock_now_ms ();
      int ready = left > 0 ? poll (&pfd, 1, left) : 0;
      ssize_t r;
      char c;

      if (ready == -1 && errno == EINTR)
        continue;
      if (ready == -1)
        {
          nbdkit_error ("url=-: poll on standard input: %m");
          return -1;
        }
      if (ready == 0)
        {
          nbdkit_error ("url=-: no URL on standard input after %d s: "
                        "use url=+FILE, url=-FD or url=URL",
                        URL_STDIN_TIMEOUT_MS / 1000);
          return -1;
        }
      r = read (STDIN_FILENO, &c, 1);
      if (r == -1 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (r == -1)
        {
          nbdkit_error ("url=-: reading standard input: %m");
          return -1;
        }
      if (r == 0 || c == '\n')
        break;
      if (n == URL_READ_MAX)
        {
          nbdkit_error ("url=-: the line on standard input is longer than "
                        "%d bytes",
                        URL_READ_MAX);
          return -1;
        }
      url_read[n++] = c;
    }
  url_read[n] = '\0';
  return 0;
}

/* url=URL, url=+FILE, url=-FD (a descriptor the caller opened) or url=-
 * (standard input: typed at a terminal without echo, or a line from a
 * pipe), which keep the ticket out of nbdkit -v's echo of every parameter
 * and out of ps.  The last url= wins.
 */
static int
set_url (const char *value)
{
  free (url_read);
  url_read = NULL;
  config.url = value;
  if (value[0] != '+' && value[0] != '-')
    return 0;
  if (strcmp (value, "-") == 0 && !nbdkit_stdio_safe ())
    {
      nbdkit_error ("url=-: standard input is the NBD connection (nbdkit -s): "
                    "use url=+FILE or url=-FD");
      return -1;
    }
  if (strcmp (value, "-") == 0 && !isatty (STDIN_FILENO))
    {
      if (read_url_from_stdin () == -1)
        return -1;
    }
  else if (nbdkit_read_password (value, &url_read) == -1)
    {
      nbdkit_error ("url=%s: cannot read the URL (url=+FILE reads a file, "
                    "url=-FD a descriptor above 2, url=- standard input)",
                    value);
      return -1;
    }
  /* One line, without the blanks an editor or a paste leaves around it. */
  url_read[strcspn (url_read, "\r\n")] = '\0';
  for (size_t n = strlen (url_read);
       n > 0 && isblank ((unsigned char)url_read[n - 1]); n--)
    url_read[n - 1] = '\0';
  memmove (url_read, url_read + strspn (url_read, " \t"),
           strlen (url_read + strspn (url_read, " \t")) + 1);
  if (url_read[0] == '\0')
    {
      nbdkit_error ("url=%s: the URL read is empty", value);
      return -1;
    }
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

/* Edit distance between A and B (short names: parameters). */
static size_t
edit_distance (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b), row[64];

  if (lb >= sizeof row / sizeof row[0])
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++)
    {
      size_t diag = row[0];

      row[0] = i;
      for (size_t j = 1; j <= lb; j++)
        {
          size_t up = row[j];
          size_t best = diag + (tolower ((unsigned char)a[i - 1]) != b[j - 1]);

          if (up + 1 < best)
            best = up + 1;
          if (row[j - 1] + 1 < best)
            best = row[j - 1] + 1;
          diag = up;
          row[j] = best;
        }
    }
  return row[lb];
}

/* Says KEY is unknown, naming the closest known parameter.  The known
 * names are taken from --help (CONFIG_HELP: "name=..." at the start of
 * each line), which tests/test-plugin-docs.sh keeps complete.
 */
static void
report_unknown (const char *key)
{
  char best[64] = "";
  size_t best_d = SIZE_MAX;

  for (const char *p = CONFIG_HELP; *p;)
    {
      size_t len = strcspn (p, "=\n");
      char name[64];
      size_t d;

      if (islower ((unsigned char)*p) && p[len] == '=' && len < sizeof name)
        {
          memcpy (name, p, len);
          name[len] = '\0';
          d = edit_distance (key, name);
          /* A prefix counts as close: "conn" for "connections". */
          if (strlen (key) >= 3 && strncasecmp (name, key, strlen (key)) == 0)
            d = 1;
          if (d < best_d)
            {
              best_d = d;
              snprintf (best, sizeof best, "%s", name);
            }
        }
      p += strcspn (p, "\n");
      if (*p == '\n')
        p++;
    }
  if (best[0] && best_d <= 3 && best_d < strlen (key))
    nbdkit_error ("unknown parameter '%s': did you mean '%s'? "
                  "(nbdkit imageio --help lists them)",
                  key, best);
  else
    nbdkit_error ("unknown parameter '%s' (nbdkit imageio --help lists them)",
                  key);
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
    return parse_uint_param (key, value, 1, MAX_CONNECTIONS, "connections",
                             &config.connections);
  if (strcmp (key, "timeout") == 0)
    return parse_uint_param (key, value, 1, MAX_TIMEOUT, "seconds",
                             &config.timeout);
  if (strcmp (key, "retry_timeout") == 0)
    return parse_uint_param (key, value, 0, MAX_TIMEOUT, "seconds",
                             &config.retry_timeout);
  if (strcmp (key, "idle_flush") == 0)
    return parse_uint_param (key, value, 1, MAX_TIMEOUT, "seconds",
                             &config.idle_flush);
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
    return parse_uint_param (key, value, 1, 86400, "seconds",
                             &config.extents_timeout);
  if (strcmp (key, "extents") == 0)
    {
      /* imageio's two contexts: zero (allocation) and dirty (backup). */
      if (strcmp (value, "zero") == 0 || strcmp (value, "dirty") == 0)
        {
          config.extents_dirty = value[0] == 'd';
          return 0;
        }
      nbdkit_error ("extents=%s: expecting zero (the image's allocation, the "
                    "default) or dirty (what changed since the backup's "
                    "checkpoint)",
                    value);
      return -1;
    }
  report_unknown (key);
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
  nbdkit_error ("url=%s: expecting an https:// or http:// URL, as in "
                "https://HOST:54322/images/TICKET",
                shown);
  return NULL;
}

/* Splits the authority P..END ("host", "host:port", "[v6]:port") into
 * url_host and url_port (the scheme's default when absent).
 */
static int
parse_authority (const char *p, const char *end, const char *shown, bool tls)
{
  const char *host_end;
  uint64_t port;

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

  config.port_given = host_end != end;
  if (host_end == end)
    url_port = strdup (tls ? "443" : "80");
  else if (*host_end == ':')
    url_port = strndup (host_end + 1, end - host_end - 1);
  else
    {
      nbdkit_error ("url=%s: invalid host or port", shown);
      return -1;
    }
  /* Not nbdkit_parse_unsigned: its message would quote the port whole. */
  if (url_port == NULL
      || parse_uint64 (url_port, strlen (url_port), 65535, &port) != 0
      || port == 0)
    {
      nbdkit_error ("url=%s: invalid port", shown);
      return -1;
    }
  return 0;
}

/* What every URL message ends with: the shape expected. */
#define URL_SHAPE "expecting https://HOST:54322/images/TICKET"

/* Checks that PATH is [/PREFIX]/images/TICKET, nothing after the ticket
 * (a proxy may put a prefix before /images/; imageio itself has none).
 * SHOWN is the URL redacted.
 */
static int
check_path (const char *path, const char *shown)
{
  const char *images = strstr (path, "/images/"), *ticket, *after;

  if (path[strcspn (path, "?#")] != '\0')
    {
      nbdkit_error ("url=%s: a transfer URL has no query or fragment "
                    "('?' or '#'); " URL_SHAPE,
                    shown);
      return -1;
    }
  if (strchr (path, ' ') != NULL || strchr (path, '\t') != NULL)
    {
      nbdkit_error ("url=%s: space in the path; " URL_SHAPE, shown);
      return -1;
    }
  if (images == NULL)
    {
      nbdkit_error ("url=%s: the path is not /images/TICKET; " URL_SHAPE
                    " (copy the transfer URL as oVirt gives it)",
                    shown);
      return -1;
    }
  ticket = images + strlen ("/images/");
  after = strchr (ticket, '/');
  if (ticket == after || *ticket == '\0')
    {
      nbdkit_error ("url=%s: no ticket after /images/; " URL_SHAPE, shown);
      return -1;
    }
  if (after != NULL)
    {
      char rest[64];

      redact_user_url (after, rest, sizeof rest);
      nbdkit_error ("url=%s: '%s' follows the ticket; " URL_SHAPE
                    ", with nothing after the ticket",
                    shown, rest);
      return -1;
    }
  if (images != path)
    nbdkit_debug ("imageio: url: %d bytes of prefix before /images/ "
                  "(a proxy)",
                  (int)(images - path));
  return 0;
}

/* Splits URL into scheme, host, port and path, filling config.remote and
 * config.path.  Accepts http://HOST[:PORT]/PATH and https://..., with
 * IPv6 literals in brackets, PATH as check_path wants it.  Every message
 * shows the URL with whatever stands where the ticket would be cut.
 */
static int
parse_url (const char *url)
{
  struct http_endpoint *ep = &config.remote;
  char shown[256];
  const char *p, *path;

  redact_user_url (url, shown, sizeof shown);
  p = parse_scheme (url, shown, ep);
  if (p == NULL)
    return -1;
  path = p + strcspn (p, "/?#");
  if (*path != '/')
    {
      nbdkit_error ("url=%s: missing the path; " URL_SHAPE, shown);
      return -1;
    }
  if (parse_authority (p, path, shown, ep->tls) == -1)
    return -1;
  if (check_path (path, shown) == -1)
    return -1;
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
