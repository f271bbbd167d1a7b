/* libmicrohttpd glue: daemons, per-connection and per-request state,
 * routing, replies and the -v log line of every request; see http.h.
 * libmicrohttpd's own messages go to the log (-v) with any ticket redacted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "extents-json.h"
#include "http.h"
#include "log.h"
#include "tickets.h"

/* libmicrohttpd limits a connection's buffer to this; it hands PUT bodies
 * over in pieces of about half of it.
 */
#define CONNECTION_MEMORY (256 * 1024)
/* Idle seconds before a connection is closed until its ticket is known. */
#define DEFAULT_IDLE_TIMEOUT 60

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
  return MHD_lookup_connection_value (r->c, MHD_GET_ARGUMENT_KIND, name);
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

yajl_val
http_body_json_object (struct request *r, size_t max, enum MHD_Result *ret)
{
  char err[256];
  yajl_val root;

  if (r->body_too_large)
    {
      *ret = http_reply_text (r, MHD_HTTP_CONTENT_TOO_LARGE, false,
                              "Request body too large (limit %zu bytes)", max);
      return NULL;
    }
  /* yajl_tree_parse wants a NUL-terminated string; an inner NUL would
   * hide the rest of the body from it.
   */
  if (r->body == NULL || memchr (r->body, '\0', r->body_len) != NULL)
    {
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Invalid JSON: %s",
                              r->body ? "NUL byte in body" : "empty body");
      return NULL;
    }
  root = yajl_tree_parse (r->body, err, sizeof err);
  if (root == NULL)
    {
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Invalid JSON: %.*s", (int) strcspn (err, "\n"),
                              err);
      return NULL;
    }
  if (!YAJL_IS_OBJECT (root))
    {
      yajl_tree_free (root);
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Invalid JSON: expecting an object");
      return NULL;
    }
  return root;
}

void
http_collect_body (struct request *r, size_t max,
                   enum MHD_Result (*on_end) (struct request *r))
{
  r->body_max = max;
  r->on_data = collect_data;
  r->on_end = on_end;
}

/* Routes a request once its headers are in. */
static enum MHD_Result
route (struct request *r, const char *url)
{
  if (r->conn->l->control)
    return control_handle (r, url);
  if (strncmp (url, "/images/", 8) == 0)
    return images_handle (r, url);
  redact_url (url, r->path_shown, sizeof r->path_shown);
  return http_reply_text (r, MHD_HTTP_NOT_FOUND, false, "No handler for %s",
                          r->path_shown);
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
  (void)version;
  if (r == NULL)
    {
      const union MHD_ConnectionInfo *ci;
      const char *cl;

      ci = MHD_get_connection_info (c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
      if (ci == NULL || ci->socket_context == NULL)
        return MHD_NO;
      r = calloc (1, sizeof *r);
      if (r == NULL)
        return MHD_NO;
      r->conn = ci->socket_context;
      r->c = c;
      r->flush = -1;
      clock_gettime (CLOCK_MONOTONIC, &r->start);
      snprintf (r->method, sizeof r->method, "%s", method);
      *req_cls = r;
      cl = http_header (r, MHD_HTTP_HEADER_CONTENT_LENGTH);
      r->has_body
          = (cl != NULL && strcmp (cl, "0") != 0)
            || http_header (r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
      r->first_call = true;
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
  if (r->fault_status)
    return http_reply_text (r, r->fault_status, false, "Injected error %d",
                            r->fault_status);
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
  if (log_verbose)
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
      if (r->ticket_shown[0])
        ADD (" ticket=%s", r->ticket_shown);
      if (r->path_shown[0])
        ADD (" path=%s", r->path_shown);
      if (r->op)
        ADD (" op=%s", r->op);
      if (r->context)
        ADD (" context=%s", r->context);
      if (r->xs)
        ADD (" count=%llu", (unsigned long long)extents_stream_count (r->xs));
      if (r->show_range)
        ADD (" offset=%llu length=%llu", (unsigned long long)r->offset,
             (unsigned long long)r->length);
      if (r->flush >= 0)
        ADD (" flush=%c", r->flush ? 'y' : 'n');
      ADD (" status=%d elapsed=%.3f", r->status, elapsed_since (&r->start));
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
  if (r->deferred)
    MHD_destroy_response (r->deferred);
  if (r->ticket)
    tickets_release (r->ticket);
  extents_stream_free (r->xs);
  free (r->body);
  free (r);
}

/* Creates and destroys the per-connection state. */
static void
connection_notify (void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe)
{
  const struct listener *l = cls;
  struct conn *cn = *socket_context;

  (void)c;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED)
    {
      cn = calloc (1, sizeof *cn);
      if (cn == NULL)
        {
          log_msg ("connection: %s", strerror (errno));
          return; /* the access handler drops it */
        }
      cn->id = atomic_fetch_add (&last_conn_id, 1) + 1;
      cn->l = l;
      *socket_context = cn;
      if (!l->control)
        log_debug ("conn=%llu open transport=%s", (unsigned long long)cn->id,
                   l->transport);
    }
  else if (cn != NULL)
    {
      if (!l->control)
        log_debug ("conn=%llu close", (unsigned long long)cn->id);
      backend_close (cn->backend);
      if (cn->ticket)
        ticket_unref (cn->ticket);
      free (cn->putbuf);
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

int
http_start (struct listener *l, const char *tls_key, const char *tls_cert)
{
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL
                   | MHD_USE_ERROR_LOG;
  bool tls = tls_key && tls_cert;

  if (tls)
    flags |= MHD_USE_TLS;
  l->daemon = MHD_start_daemon (
      flags, 0, NULL, NULL, access_handler, l, MHD_OPTION_EXTERNAL_LOGGER,
      mhd_logger, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd,
      MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l,
      MHD_OPTION_NOTIFY_COMPLETED, request_completed, l,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)DEFAULT_IDLE_TIMEOUT,
      tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, tls_key,
      MHD_OPTION_HTTPS_MEM_CERT, tls_cert, MHD_OPTION_END);
  if (l->daemon == NULL)
    {
      log_msg ("cannot start the %s service", l->transport);
      return -1;
    }
  return 0;
}

void
http_stop (struct listener *l)
{
  if (l->daemon)
    {
      MHD_stop_daemon (l->daemon);
      l->daemon = NULL;
    }
}
