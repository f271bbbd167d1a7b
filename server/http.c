/* SPDX-License-Identifier: BSD-3-Clause */
/* libmicrohttpd glue: daemons, per-connection and per-request state,
 * routing to the handlers registered on each listener, replies and the -v
 * log line of every request; see http.h.
 * libmicrohttpd's own messages go to the log (-v) with any ticket redacted.
 *
 * Before a request reaches a route it passes the checks libmicrohttpd
 * 0.9.75 lacks (docs/imageio-server-security.md): the request target as
 * sent (raw NUL, %00, encoded '/'), the framing headers (duplicate or
 * conflicting Content-Length and Transfer-Encoding; a failure closes the
 * connection), and on the control service the peer's uid.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "access.h"
#include "http.h"
#include "log.h"
#include "redact.h"

/* libmicrohttpd limits a connection's buffer to this; it hands PUT bodies
 * over in pieces of about half of it.
 */
#define CONNECTION_MEMORY (256 * 1024)
/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* The longest request target taken: a longer one is refused (414, as
 * imageio's HTTP server does past 64 KiB) before its query is decoded.
 */
#define MAX_TARGET 65536

/* The Server header of every answer. */
#define HTTP_SERVER_NAME "imageio-server/" PACKAGE_VERSION

/* Connection ids, over all listeners. */
static atomic_uint_fast64_t last_conn_id;

static double
elapsed_since (const struct timespec *start)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

const char *
http_header (struct request *r, const char *name)
{
  return MHD_lookup_connection_value (r->c, MHD_HEADER_KIND, name);
}

const char *
http_query (struct request *r, const char *name)
{
  return query_get (&r->query, name);
}

void
http_set_idle_timeout (struct request *r, unsigned seconds)
{
  r->conn->ticket_idle = seconds;
  limits_conn_ticketed (&r->conn->lc);
  MHD_set_connection_option (r->c, MHD_CONNECTION_OPTION_TIMEOUT, seconds);
}

int
http_conn_fd (struct request *r)
{
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->c, MHD_CONNECTION_INFO_CONNECTION_FD);

  return ci ? ci->connect_fd : -1;
}

const char *
http_shown_path (const char *path, char *buf, size_t bufsz)
{
  char tmp[512];
  size_t n = 0;

  redact_url (path, tmp, sizeof tmp);
  /* Every segment longer than a shown ticket prefix is cut the same way:
   * "/foo/<ticket>" shows "/foo/0123abcd...".
   */
  for (const char *p = tmp; *p && n + 1 < bufsz;)
    {
      size_t seg = strcspn (p, "/");

      if (seg > REDACT_KEEP + 3)
        n += snprintf (buf + n, bufsz - n, "%.*s...", REDACT_KEEP, p);
      else
        n += snprintf (buf + n, bufsz - n, "%.*s", (int)seg, p);
      if (n >= bufsz)
        break;
      p += seg;
      if (*p == '/' && n + 1 < bufsz)
        {
          buf[n++] = '/';
          buf[n] = '\0';
          p++;
        }
    }
  if (n == 0 && bufsz)
    buf[0] = '\0';
  return buf;
}

enum MHD_Result
http_reply (struct request *r, unsigned status, struct MHD_Response *resp)
{
  enum MHD_Result ret;

  if (resp == NULL)
    {
      log_msg ("conn=%llu: cannot create a response",
               (unsigned long long)r->conn->id);
      return MHD_NO;
    }
  /* Every answer names the server, as imageio's "server: imageio/X". */
  MHD_add_response_header (resp, "Server", HTTP_SERVER_NAME);
  r->status = status;
  r->answered = true;
  if (r->first_call && !r->has_body)
    {
      r->deferred = resp;
      r->deferred_status = status;
      return MHD_YES;
    }
  ret = MHD_queue_response (r->c, status, resp);
  MHD_destroy_response (resp);
  return ret;
}

enum MHD_Result
http_reply_buffer (struct request *r, unsigned status, const char *content_type,
                   const void *buf, size_t len)
{
  struct MHD_Response *resp;

  resp = MHD_create_response_from_buffer (len, (void *)buf,
                                          MHD_RESPMEM_MUST_COPY);
  if (resp && content_type)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  return http_reply (r, status, resp);
}

/* Replaces, in MSG (LEN bytes, NUL-terminated, rewritten in place), every
 * filesystem path by "<path>": a word starting with '/' after the start, a
 * blank, a quote, '(', '=' or ':' (as in "nbd:unix:/run/x.sock"), up to a
 * blank, a quote, ',', ')' or ": ".  Returns the new length, under 510
 * (MSG has room for 512 bytes).
 */
static int
hide_paths (char *msg, int len)
{
  char out[512];
  int in = 0, n = 0;

  while (in < len && n < (int)sizeof out - 12)
    {
      if (msg[in] == '/'
          && (in == 0 || strchr (" \t'\"(=:", msg[in - 1]) != NULL))
        {
          while (in < len && strchr (" \t'\",)", msg[in]) == NULL
                 && !(msg[in] == ':' && (in + 1 == len || msg[in + 1] == ' ')))
            in++;
          memcpy (out + n, "<path>", 6);
          n += 6;
        }
      else
        out[n++] = msg[in++];
    }
  memcpy (msg, out, n);
  msg[n] = '\0';
  return n;
}

enum MHD_Result
http_reply_text (struct request *r, unsigned status, bool close,
                 const char *fmt, ...)
{
  char msg[512];
  struct MHD_Response *resp;
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (msg, sizeof msg - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    n = 0;
  if ((size_t)n > sizeof msg - 2)
    n = sizeof msg - 2;
  /* One line: no newline inside the message. */
  for (int i = 0; i < n; i++)
    if (msg[i] == '\n' || msg[i] == '\r')
      msg[i] = ' ';
  if (status >= 400)
    snprintf (r->error, sizeof r->error, "%.*s", n, msg);
  if (status >= 500)
    n = hide_paths (msg, n);
  msg[n++] = '\n';
  resp = MHD_create_response_from_buffer (n, msg, MHD_RESPMEM_MUST_COPY);
  if (resp)
    {
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "text/plain; charset=UTF-8");
      if (close)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
  return http_reply (r, status, resp);
}

enum MHD_Result
http_reply_405 (struct request *r, const char *allow)
{
  char msg[128];
  struct MHD_Response *resp;
  int n;

  n = snprintf (msg, sizeof msg, "Method %s not allowed\n", r->method);
  snprintf (r->error, sizeof r->error, "%.*s", n - 1, msg);
  resp = MHD_create_response_from_buffer (n, msg, MHD_RESPMEM_MUST_COPY);
  if (resp)
    {
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "text/plain; charset=UTF-8");
      MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
  return http_reply (r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

static int
collect_data (struct request *r, const char *data, size_t len)
{
  if (r->body_too_large || r->body_len + len > r->body_max)
    {
      r->body_too_large = true;
      return 0;
    }
  if (r->body == NULL && (r->body = malloc (r->body_max + 1)) == NULL)
    return -1;
  memcpy (r->body + r->body_len, data, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  return 0;
}

enum MHD_Result
http_reply_too_large (struct request *r, size_t max)
{
  return http_reply_text (r, MHD_HTTP_CONTENT_TOO_LARGE, false,
                          "Request body too large (limit %zu bytes)", max);
}

void
http_collect_body (struct request *r, size_t max,
                   enum MHD_Result (*on_end) (struct request *r))
{
  r->body_max = max;
  r->on_data = collect_data;
  r->on_end = on_end;
}

/* Collects the header fields framing_check looks at: Content-Length,
 * Transfer-Encoding, and any name it would refuse.
 */
struct fields
{
  const char *names[32], *values[32];
  size_t n;
  bool too_many;
};

static enum MHD_Result
collect_field (void *cls, enum MHD_ValueKind kind, const char *key,
               const char *value)
{
  struct fields *f = cls;
  bool odd = *key == '\0';

  (void)kind;
  for (const char *p = key; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      odd = true;
  if (!odd && strcasecmp (key, "Content-Length") != 0
      && strcasecmp (key, "Transfer-Encoding") != 0)
    return MHD_YES;
  if (f->n == sizeof f->names / sizeof f->names[0])
    {
      f->too_many = true;
      return MHD_NO;
    }
  f->names[f->n] = key;
  f->values[f->n++] = value;
  return MHD_YES;
}

/* The checks every request passes before its route (see the top of this
 * file).  Returns true with an answer given (*RET) when it fails.
 */
static bool
refuse (struct request *r, const char *version, enum MHD_Result *ret)
{
  struct fields f = { .n = 0 };
  char err[128];

  MHD_get_connection_values (r->c, MHD_HEADER_KIND, collect_field, &f);
  if (f.too_many)
    snprintf (err, sizeof err, "Too many framing header fields");
  if (f.too_many
      || framing_check (f.names, f.values, f.n, err, sizeof err) == -1)
    {
      /* Nothing after this head can be told apart from its body: close. */
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, true, "%s", err);
      return true;
    }
  /* libmicrohttpd ends the target at its first NUL byte: a raw NUL shows
   * as a target shorter than the bytes before the version.
   */
  if (r->bad_uri[0] == '\0' && version && version[0] != '\0'
      && r->raw_uri != NULL && version > r->raw_uri
      && (size_t)(version - 1 - r->raw_uri) != r->raw_uri_len)
    snprintf (r->bad_uri, sizeof r->bad_uri,
              "Invalid request target: byte 0x00");
  if (r->bad_uri[0])
    {
      *ret = http_reply_text (
          r, r->bad_uri_status ? r->bad_uri_status : MHD_HTTP_BAD_REQUEST, true,
          "%s", r->bad_uri);
      return true;
    }
  if (r->conn->l->control && !r->conn->peer_allowed)
    {
      log_msg ("control: refused a request from uid %d",
               (int)r->conn->peer_uid);
      *ret = http_reply_text (r, MHD_HTTP_FORBIDDEN, true,
                              "Forbidden: this uid may not use the control "
                              "service");
      return true;
    }
  return false;
}

int
http_add_route (struct listener *l, const char *path, bool prefix,
                http_handler handle)
{
  if (l->nr_routes == HTTP_MAX_ROUTES)
    {
      log_msg ("%s: too many routes", l->transport);
      return -1;
    }
  l->routes[l->nr_routes++]
      = (struct http_route){ .path = path, .prefix = prefix, .handle = handle };
  return 0;
}

/* Routes a request once its headers are in: the first matching route of
 * its listener, else 404.
 */
static enum MHD_Result
route (struct request *r, const char *url)
{
  const struct listener *l = r->conn->l;

  for (size_t i = 0; i < l->nr_routes; i++)
    {
      const struct http_route *rt = &l->routes[i];

      if (rt->prefix ? strncmp (url, rt->path, strlen (rt->path)) == 0
                     : strcmp (url, rt->path) == 0)
        return rt->handle (r, url);
    }
  http_shown_path (url, r->path_shown, sizeof r->path_shown);
  return http_reply_text (r, MHD_HTTP_NOT_FOUND, false, "No handler for %s",
                          r->path_shown);
}

/* Frees R and what it owns (NULL: nothing), unlinking it from its
 * connection.
 */
static void
request_free (struct request *r)
{
  if (r == NULL)
    return;
  if (r->conn && r->conn->pending == r)
    r->conn->pending = NULL;
  if (r->deferred)
    MHD_destroy_response (r->deferred);
  if (r->data_free)
    r->data_free (r->data);
  query_free (&r->query);
  free (r->body);
  free (r);
}

/* libmicrohttpd parses the query right after uri_logger, one record per
 * argument in the connection's memory pool: thousands of short arguments
 * exhaust it, and 0.9.75 then answers 431 without telling the handler
 * (and, in its error path, may crash).  Handlers only use the query that
 * uri_logger parsed itself (http_query), so libmicrohttpd is made to see
 * a single argument: every '&' of the query in its buffer (URI, LEN bytes)
 * becomes '_'.
 */
static void
hide_query (const char *uri, size_t len)
{
  char *q = memchr (uri, '?', len);

  if (q == NULL)
    return;
  for (char *p = q + 1; p < uri + len; p++)
    if (*p == '&')
      *p = '_';
}

/* Called by libmicrohttpd as soon as a request line is in, with the target
 * as sent: creates the request and checks the target and query string
 * before libmicrohttpd decodes them.
 */
static void *
uri_logger (void *cls, const char *uri, struct MHD_Connection *c)
{
  const union MHD_ConnectionInfo *ci;
  struct request *r;
  size_t path_len, len = strlen (uri);
  char err[96];

  (void)cls;
  ci = MHD_get_connection_info (c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  if (ci == NULL || ci->socket_context == NULL)
    return NULL; /* the access handler drops the connection */
  r = calloc (1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->conn = ci->socket_context;
  /* A request libmicrohttpd dropped unseen (no second head arrives on a
   * connection before the first completes, but be safe).
   */
  request_free (r->conn->pending);
  r->conn->pending = r;
  r->raw_uri = uri;
  r->raw_uri_len = len;
  clock_gettime (CLOCK_MONOTONIC, &r->start);
  if (len > MAX_TARGET)
    {
      snprintf (r->bad_uri, sizeof r->bad_uri,
                "Request target too long: over %d bytes", MAX_TARGET);
      r->bad_uri_status = MHD_HTTP_URI_TOO_LONG;
    }
  else if (uri_check (uri, len, &path_len, r->bad_uri, sizeof r->bad_uri) == 0
           && path_len < len
           && query_parse (uri + path_len + 1, len - path_len - 1, &r->query,
                           err, sizeof err)
                  == -1)
    snprintf (r->bad_uri, sizeof r->bad_uri, "%s", err);
  hide_query (uri, len);
  return r;
}

static enum MHD_Result
access_handler (void *cls, struct MHD_Connection *c, const char *url,
                const char *method, const char *version,
                const char *upload_data, size_t *upload_data_size,
                void **req_cls)
{
  struct request *r = *req_cls;
  enum MHD_Result ret;

  (void)cls;
  if (r == NULL || r->conn == NULL)
    return MHD_NO; /* out of memory in uri_logger */
  if (r->c == NULL)
    {
      const char *cl;

      r->c = c;
      snprintf (r->method, sizeof r->method, "%s", method);
      limits_conn_busy (&r->conn->lc);
      cl = http_header (r, MHD_HTTP_HEADER_CONTENT_LENGTH);
      r->has_body
          = (cl != NULL && strcmp (cl, "0") != 0)
            || http_header (r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
      r->first_call = true;
      if (!refuse (r, version, &ret))
        ret = route (r, url);
      r->first_call = false;
      return ret;
    }
  if (*upload_data_size > 0)
    {
      if (!r->answered && r->on_data
          && r->on_data (r, upload_data, *upload_data_size) == -1)
        return MHD_NO;
      *upload_data_size = 0;
      return MHD_YES;
    }
  if (r->deferred)
    {
      ret = MHD_queue_response (c, r->deferred_status, r->deferred);
      MHD_destroy_response (r->deferred);
      r->deferred = NULL;
      return ret;
    }
  if (r->answered)
    return MHD_YES;
  if (r->on_end)
    return r->on_end (r);
  return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                          "Request not handled");
}

/* Logs the request (-v), then frees what it owns. */
static void
request_completed (void *cls, struct MHD_Connection *c, void **req_cls,
                   enum MHD_RequestTerminationCode toe)
{
  struct request *r = *req_cls;

  (void)cls;
  (void)c;
  if (r == NULL)
    return;
  *req_cls = NULL;
  if (r->conn)
    {
      const struct limits *lim = limits_get ();
      struct conn *cn = r->conn;

      /* The next head is due within the head timeout, or within the
       * ticket's inactivity timeout once one was named.
       */
      limits_conn_wait (&cn->lc, cn->ticket_idle
                                     ? cn->ticket_idle + lim->head_timeout
                                     : lim->head_timeout);
    }
  if (log_verbose && r->c != NULL)
    {
      char line[700];
      size_t n = 0;

#define ADD(...)                                                               \
  do                                                                           \
    {                                                                          \
      if (n < sizeof line)                                                     \
        n += snprintf (line + n, sizeof line - n, __VA_ARGS__);                \
    }                                                                          \
  while (0)
      ADD ("conn=%llu method=%s", (unsigned long long)r->conn->id, r->method);
      if (r->path_shown[0])
        ADD (" path=%s", r->path_shown);
      if (r->log_fields && n < sizeof line)
        {
          r->log_fields (r, line + n, sizeof line - n);
          n += strlen (line + n);
        }
      ADD (" status=%d elapsed=%.3f peer=%s", r->status,
           elapsed_since (&r->start), r->conn->peer);
      if (r->error[0])
        ADD (" error=\"%s\"", r->error);
      else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        ADD (" error=\"%s\"",
             toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT
                 ? "client closed the connection"
             : toe == MHD_REQUEST_TERMINATED_READ_ERROR
                 ? "connection closed before the body was complete"
             : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED
                 ? "timed out"
                 : "connection closed with an error");
#undef ADD
      log_msg ("%s", line);
    }
  request_free (r);
}

/* Fills CN->peer for the log (the client's address and port on TCP, its
 * uid on a Unix socket) and KEY for the connection limits (the address
 * without the port, or the uid).
 */
static void
describe_peer (struct MHD_Connection *c, struct conn *cn, char *key)
{
  const union MHD_ConnectionInfo *ci;
  char host[INET6_ADDRSTRLEN] = "?";

  if (!cn->l->tcp)
    {
      if (cn->peer_uid != (unsigned)-1)
        snprintf (cn->peer, sizeof cn->peer, "uid=%u", cn->peer_uid);
      else
        snprintf (cn->peer, sizeof cn->peer, "uid=?");
      snprintf (key, LIMITS_PEER_KEY, "%.40s", cn->peer);
      return;
    }
  ci = MHD_get_connection_info (c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const void *)ci->client_addr;

      inet_ntop (AF_INET, &sin->sin_addr, host, sizeof host);
      snprintf (cn->peer, sizeof cn->peer, "%s:%u", host,
                ntohs (sin->sin_port));
    }
  else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const void *)ci->client_addr;

      inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof host);
      snprintf (cn->peer, sizeof cn->peer, "[%s]:%u", host,
                ntohs (sin6->sin6_port));
    }
  else
    snprintf (cn->peer, sizeof cn->peer, "?");
  snprintf (key, LIMITS_PEER_KEY, "%s", host);
}

/* Creates and destroys the per-connection state. */
static void
connection_notify (void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe)
{
  struct listener *l = cls;
  struct conn *cn = *socket_context;

  if (toe == MHD_CONNECTION_NOTIFY_STARTED)
    {
      const union MHD_ConnectionInfo *ci
          = MHD_get_connection_info (c, MHD_CONNECTION_INFO_CONNECTION_FD);
      char key[LIMITS_PEER_KEY];
      uid_t uid;

      cn = calloc (1, sizeof *cn);
      if (cn == NULL || ci == NULL)
        {
          log_msg ("connection: %s", strerror (cn ? EINVAL : errno));
          free (cn);
          return; /* the access handler drops it */
        }
      cn->id = atomic_fetch_add (&last_conn_id, 1) + 1;
      cn->l = l;
      cn->peer_uid = (unsigned)-1;
      if (!l->tcp && access_peer_uid (ci->connect_fd, &uid) == 0)
        {
          cn->peer_uid = uid;
          cn->peer_allowed = l->control && access_uid_allowed (uid);
        }
      describe_peer (c, cn, key);
      limits_conn_start (&cn->lc, &l->pool, ci->connect_fd, key);
      *socket_context = cn;
      if (!l->control)
        log_debug ("conn=%llu open transport=%s peer=%s",
                   (unsigned long long)cn->id, l->transport, cn->peer);
    }
  else if (cn != NULL)
    {
      if (cn->pending)
        {
          log_debug ("conn=%llu peer=%s closed before its request head was "
                     "complete",
                     (unsigned long long)cn->id, cn->peer);
          request_free (cn->pending);
        }
      limits_conn_end (&cn->lc);
      if (cn->lc.evicted)
        log_debug ("conn=%llu closed: cut to make room for a new connection",
                   (unsigned long long)cn->id);
      else if (cn->lc.cut)
        log_debug ("conn=%llu closed: no request head in time",
                   (unsigned long long)cn->id);
      if (!l->control)
        log_debug ("conn=%llu close", (unsigned long long)cn->id);
      if (cn->data_free)
        cn->data_free (cn->data);
      free (cn);
      *socket_context = NULL;
    }
}

static void
mhd_logger (void *cls, const char *fmt, va_list ap)
{
  char msg[256], shown[256];
  size_t n;

  (void)cls;
  if (!log_verbose)
    return;
  vsnprintf (msg, sizeof msg, fmt, ap);
  n = strlen (msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  /* Its messages may quote the request URL, and so the ticket. */
  log_msg ("libmicrohttpd: %s", redact_url (msg, shown, sizeof shown));
}

/* Takes a connection into the listener's pool, making room if needed, or
 * refuses it (conn-limits.h).
 */
static enum MHD_Result
accept_policy (void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
  struct listener *l = cls;

  (void)addr;
  (void)addrlen;
  return limits_accept (&l->pool) ? MHD_YES : MHD_NO;
}

/* Appends one option to the array OPTS (N entries so far, room checked
 * by the caller's sizing).
 */
#define OPT(opt, val, ptr)                                                     \
  (opts[n++] = (struct MHD_OptionItem){ (opt), (intptr_t)(val), (ptr) })

int
http_start (struct listener *l, const char *tls_key, const char *tls_cert)
{
  const struct limits *lim = limits_get ();
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL
                   | MHD_USE_ERROR_LOG;
  bool tls = tls_key && tls_cert;
  bool tcp = strcmp (l->transport, "tcp") == 0 || tls;
  struct MHD_OptionItem opts[16];
  size_t n = 0;

  l->tcp = tcp;
  /* Options taking a callback and its closure carry the callback in
   * value, as MHD_OPTION_ARRAY expects.
   */
  OPT (MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL);
  OPT (MHD_OPTION_LISTEN_SOCKET, l->fd, NULL);
  OPT (MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l);
  OPT (MHD_OPTION_NOTIFY_COMPLETED, request_completed, l);
  OPT (MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL);
  OPT (MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL);
  OPT (MHD_OPTION_CONNECTION_LIMIT, limits_hard_max (), NULL);
  OPT (MHD_OPTION_CONNECTION_TIMEOUT, lim->idle_timeout, NULL);
  /* libmicrohttpd's per-address limit only knows IP addresses. */
  if (tcp)
    OPT (MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->max_per_ip, NULL);
  if (tls)
    {
      flags |= MHD_USE_TLS;
      OPT (MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key);
      OPT (MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert);
      OPT (MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
    }
  OPT (MHD_OPTION_END, 0, NULL);
  l->daemon = MHD_start_daemon (flags, 0, accept_policy, l, access_handler, l,
                                MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (l->daemon == NULL)
    {
      log_msg ("cannot start the %s service", l->transport);
      return -1;
    }
  return 0;
}
#undef OPT

void
http_stop (struct listener *l)
{
  if (l->daemon)
    {
      MHD_stop_daemon (l->daemon);
      l->daemon = NULL;
    }
}
