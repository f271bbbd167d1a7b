/* The Images API (/images/TICKET, /images/TICKET/extents, and "*" as the
 * ticket for OPTIONS):
 * OPTIONS, GET (read), PUT (write), PATCH (zero, flush), GET extents; see
 * PROTOCOL.md.
 *
 * Contract: every request on a ticket holds it busy (r->ticket) until it
 * ends; image bytes go through the connection's own backend, opened on the
 * first request that needs it.  Bodies stream through bounded buffers: a
 * PUT is gathered into conn->putbuf and written PUT_BUFFER bytes at a time,
 * a GET is read in READ_BLOCK pieces as the socket takes them.
 *
 * Fault hooks (faults.h): with a loss fault set, get_backend wraps the
 * backend (faults_track_backend), a PUT or flush may be answered by
 * loss_fault_answer instead, and a connection whose data a fault lost gets
 * no more answers.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "backend.h"
#include "extents-json.h"
#include "faults.h"
#include "http.h"
#include "log.h"
#include "parse.h"
#include "ranges.h"
#include "redact.h"
#include "tickets.h"
#include "validate.h"

#define READ_BLOCK (1024 * 1024)
#define EXTENTS_BLOCK (256 * 1024)
#define PATCH_MAX 4096
#define FORBIDDEN "You are not allowed to access this resource"
#define CONTENT_LENGTH_REQUIRED "Content-Length header is required"
#define OUT_OF_RANGE "Requested range out of allowed range"

/* The local service's socket name, set once by main before any request. */
static char unix_socket[110];
static size_t unix_socket_len;

void
images_set_unix_socket (const char *name, size_t len)
{
  if (len > sizeof unix_socket)
    len = sizeof unix_socket;
  memcpy (unix_socket, name, len);
  unix_socket_len = len;
}

/* Finds the ticket, makes it busy for this request and checks that it
 * allows WRITE (else read).  On failure answers 403 (closing the
 * connection) and returns NULL with *RET set.
 */
static struct ticket *
get_ticket (struct request *r, const char *id, bool write, enum MHD_Result *ret)
{
  enum ticket_error why;
  struct ticket *t;
  unsigned timeout;

  redact_ticket (id, r->ticket_shown);
  t = tickets_acquire (id, &why);
  if (t == NULL)
    {
      *ret = http_reply_text (
          r, MHD_HTTP_FORBIDDEN, true, FORBIDDEN ": %s ticket '%s'",
          why == TICKET_EXPIRED ? "Expired" : "No such", r->ticket_shown);
      return NULL;
    }
  r->ticket = t;
  if ((write && !t->can_write) || (!write && !t->can_read))
    {
      *ret = http_reply_text (r, MHD_HTTP_FORBIDDEN, true,
                              FORBIDDEN ": Ticket '%s' forbids %s",
                              r->ticket_shown, write ? "write" : "read");
      return NULL;
    }
  /* The ticket decides how long this connection may stay idle. */
  timeout = t->inactivity_timeout > UINT_MAX / 2 ? UINT_MAX / 2
                                                 : t->inactivity_timeout;
  http_set_idle_timeout (r, timeout);
  return t;
}

/* The connection's socket (for faults that close it), or -1. */
static int
conn_fd (struct request *r)
{
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->c, MHD_CONNECTION_INFO_CONNECTION_FD);

  return ci ? ci->connect_fd : -1;
}

/* The connection's backend for r->ticket, opened if needed.  NULL with a
 * 500 answered on failure.
 */
static struct backend *
get_backend (struct request *r, enum MHD_Result *ret)
{
  struct conn *cn = r->conn;
  char err[256];

  if (cn->ticket != r->ticket)
    {
      backend_close (cn->backend);
      cn->backend = NULL;
      if (cn->ticket)
        ticket_unref (cn->ticket);
      cn->ticket = NULL;
    }
  if (cn->backend == NULL)
    {
      cn->backend = faults_track_backend (
          backend_open (r->ticket, err, sizeof err), r->ticket, conn_fd (r),
          cn->id, r->ticket_shown);
      if (cn->backend == NULL)
        {
          log_msg ("conn=%llu ticket=%s: %s", (unsigned long long)cn->id,
                   r->ticket_shown, err);
          *ret = http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                                  "Cannot open backend: %s", err);
          return NULL;
        }
      ticket_ref (r->ticket);
      cn->ticket = r->ticket;
    }
  return cn->backend;
}

static enum MHD_Result
backend_error (struct request *r, const char *what)
{
  log_msg ("conn=%llu ticket=%s: %s: %s", (unsigned long long)r->conn->id,
           r->ticket_shown, what, r->conn->backend->err);
  return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false, "%s: %s",
                          what, r->conn->backend->err);
}

static enum MHD_Result
out_of_range (struct request *r, uint64_t size, bool close, const char *why)
{
  char msg[256];
  char range[64];
  struct MHD_Response *resp;
  int n;

  n = snprintf (msg, sizeof msg, "%s\n", why);
  snprintf (r->error, sizeof r->error, "%s", why);
  snprintf (range, sizeof range, "bytes */%llu", (unsigned long long)size);
  resp = MHD_create_response_from_buffer (n, msg, MHD_RESPMEM_MUST_COPY);
  if (resp)
    {
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "text/plain; charset=UTF-8");
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_RANGE, range);
      if (close)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
  return http_reply (r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
}

/* ---- OPTIONS ---- */

static void
gen_str (yajl_gen g, const char *s)
{
  yajl_gen_string (g, (const unsigned char *)s, strlen (s));
}

/* The image facts of imageio issue #67 that we know without opening the
 * backend: the size a client may read or write (the ticket's: what Range
 * and Content-Range are checked against), the ticket's sparse and dirty
 * flags, its transfer id when the manager gave one (the default would
 * quote the ticket id), and for the file backend the smallest request
 * (buffered I/O: any byte).  An nbd export's block sizes are only known
 * after connecting to it, so they are not reported.
 */
static void
gen_image_facts (yajl_gen g, const struct ticket *t)
{
  gen_str (g, "size");
  yajl_gen_integer (g, (long long)t->size);
  if (backend_kind_of_url (t->url) == BACKEND_FILE)
    {
      gen_str (g, "minimum_block_size");
      yajl_gen_integer (g, 1);
    }
  gen_str (g, "sparse");
  yajl_gen_bool (g, t->sparse);
  gen_str (g, "dirty");
  yajl_gen_bool (g, t->dirty);
  if (t->transfer_id)
    {
      gen_str (g, "transfer_id");
      gen_str (g, t->transfer_id);
    }
}

static enum MHD_Result
handle_options (struct request *r, const char *id)
{
  const struct faults *f = faults_get ();
  bool all = strcmp (id, "*") == 0;
  struct ticket *t = NULL;
  enum MHD_Result ret;
  struct MHD_Response *resp;
  const unsigned char *out;
  size_t outlen;
  yajl_gen g;
  bool write;

  r->op = "options";
  if (!all)
    {
      t = get_ticket (r, id, false, &ret);
      if (t == NULL)
        return ret;
    }
  if (f->options_status == 405)
    return http_reply_405 (r, "GET,PUT");
  if (f->options_status == 204)
    return http_reply_buffer (r, MHD_HTTP_NO_CONTENT, NULL, "", 0);

  write = all || t->can_write;
  g = yajl_gen_alloc (NULL);
  if (g == NULL)
    return MHD_NO;
  yajl_gen_map_open (g);
  if (unix_socket_len)
    {
      gen_str (g, "unix_socket");
      yajl_gen_string (g, (const unsigned char *)unix_socket, unix_socket_len);
    }
  gen_str (g, "features");
  yajl_gen_array_open (g);
  if (!f->no_extents)
    gen_str (g, "extents");
  if (write)
    gen_str (g, "flush");
  if (write && !f->no_zero)
    gen_str (g, "zero");
  yajl_gen_array_close (g);
  if (!all)
    {
      bool nbd = backend_kind_of_url (t->url) == BACKEND_NBD;

      gen_str (g, "max_readers");
      yajl_gen_integer (g, f->max_readers >= 0 ? f->max_readers : 8);
      gen_str (g, "max_writers");
      yajl_gen_integer (g, f->max_writers >= 0 ? f->max_writers : nbd ? 8 : 1);
      gen_image_facts (g, t);
    }
  yajl_gen_map_close (g);
  resp = NULL;
  if (yajl_gen_get_buf (g, &out, &outlen) == yajl_gen_status_ok)
    {
      char *body = malloc (outlen + 1);

      if (body)
        {
          memcpy (body, out, outlen);
          body[outlen] = '\n';
          resp = MHD_create_response_from_buffer (outlen + 1, body,
                                                  MHD_RESPMEM_MUST_FREE);
          if (resp == NULL)
            free (body);
        }
    }
  yajl_gen_free (g);
  if (resp)
    {
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "application/json");
      MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW,
                               write ? "OPTIONS,GET,PUT,PATCH" : "OPTIONS,GET");
    }
  return http_reply (r, MHD_HTTP_OK, resp);
}

/* ---- GET: read ---- */

static ssize_t
read_cb (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct request *r = cls;
  struct backend *b = r->conn->backend;
  uint64_t left = r->length - pos;
  size_t n = left < max ? left : max;

  if (n == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (b->ops->pread (b, buf, n, r->offset + pos) == -1)
    {
      log_msg ("conn=%llu ticket=%s: read offset %llu: %s",
               (unsigned long long)r->conn->id, r->ticket_shown,
               (unsigned long long)(r->offset + pos), b->err);
      snprintf (r->error, sizeof r->error, "%.80s", b->err);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  return n;
}

static enum MHD_Result
handle_read (struct request *r, const char *id)
{
  const char *range = http_header (r, MHD_HTTP_HEADER_RANGE);
  struct ticket *t;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  uint64_t first = 0, last = 0;
  const char *why;
  char value[128];

  r->op = "read";
  t = get_ticket (r, id, false, &ret);
  if (t == NULL)
    return ret;
  if (range)
    {
      if (range_parse_request (range, t->size, &first, &last, &why) == -1)
        return out_of_range (r, t->size, false, why);
      r->length = last - first + 1;
    }
  else
    r->length = t->size;
  r->offset = first;
  r->show_range = true;
  if (get_backend (r, &ret) == NULL)
    return ret;

  if (r->length == 0)
    resp = MHD_create_response_from_buffer (0, (void *)"",
                                            MHD_RESPMEM_PERSISTENT);
  else
    resp = MHD_create_response_from_callback (r->length, READ_BLOCK, read_cb, r,
                                              NULL);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                           "application/octet-stream");
  if (t->filename)
    {
      snprintf (value, sizeof value, "attachment; filename=%s", t->filename);
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                               value);
    }
  else
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                             "attachment");
  if (range)
    {
      snprintf (value, sizeof value, "bytes %llu-%llu/%llu",
                (unsigned long long)first, (unsigned long long)last,
                (unsigned long long)t->size);
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_RANGE, value);
    }
  return http_reply (r, range ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
}

/* ---- PUT: write ---- */

/* Writes what is gathered in the connection's buffer. */
static void
put_drain (struct request *r)
{
  struct backend *b = r->conn->backend;

  if (r->buffered == 0 || r->failed)
    return;
  if (b->ops->pwrite (b, r->conn->putbuf, r->buffered, r->offset + r->written)
      == -1)
    {
      r->failed = true;
      snprintf (r->failure, sizeof r->failure, "%s", b->err);
    }
  else
    r->written += r->buffered;
  r->buffered = 0;
}

static int
put_data (struct request *r, const char *data, size_t len)
{
  struct backend *b = r->conn->backend;
  char *buf = r->conn->putbuf;

  if (r->failed)
    return 0; /* discard the rest; 500 at the end */
  while (len > 0)
    {
      size_t n;

      /* A large piece with nothing gathered goes straight through, and
       * every piece without a buffer (the PUT memory budget is spent).
       */
      if (buf == NULL || (r->buffered == 0 && len >= PUT_BUFFER))
        {
          if (b->ops->pwrite (b, data, len, r->offset + r->written) == -1)
            {
              r->failed = true;
              snprintf (r->failure, sizeof r->failure, "%s", b->err);
              return 0;
            }
          r->written += len;
          return 0;
        }
      n = PUT_BUFFER - r->buffered;
      if (n > len)
        n = len;
      memcpy (buf + r->buffered, data, n);
      r->buffered += n;
      data += n;
      len -= n;
      if (r->buffered == PUT_BUFFER)
        {
          put_drain (r);
          if (r->failed)
            return 0;
        }
    }
  return 0;
}

/* Answers a request on which loss fault LF (not ack-then-drop) fired:
 * loses the unflushed data, then answers 500 or (after a stall) drops the
 * connection.
 */
static enum MHD_Result
loss_fault_answer (struct request *r, const struct loss_fault *lf)
{
  struct backend *b = r->conn->backend;

  faults_lose (b, lf, lf->kind != LOSS_500);
  snprintf (r->error, sizeof r->error, "fault %s", lf->name);
  if (lf->kind == LOSS_500)
    return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                            "Injected error (fault %s): data sent since the "
                            "last flush was lost",
                            lf->name);
  if (lf->kind == LOSS_STALL)
    {
      struct timespec ts = { lf->ms / 1000, (lf->ms % 1000) * 1000000L };

      while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
    }
  return MHD_NO;
}

static enum MHD_Result
put_end (struct request *r)
{
  struct backend *b = r->conn->backend;
  struct MHD_Response *resp;
  struct loss_fault lf = { .name = NULL };
  enum MHD_Result ret;

  put_drain (r);
  if (!r->failed && r->written != r->length)
    {
      snprintf (r->failure, sizeof r->failure, "short body");
      r->failed = true;
    }
  if (r->failed)
    {
      log_msg ("conn=%llu ticket=%s: write offset %llu: %s",
               (unsigned long long)r->conn->id, r->ticket_shown,
               (unsigned long long)r->offset, r->failure);
      return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                              "Error writing: %s", r->failure);
    }
  if (faults_next_put (b, &lf) && lf.kind != LOSS_ACK_THEN_DROP)
    return loss_fault_answer (r, &lf);
  if (r->flush == 1 && b->ops->flush (b) == -1)
    return backend_error (r, "Error flushing");
  resp
      = MHD_create_response_from_buffer (0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (resp && r->close_after)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (lf.name && lf.kind == LOSS_ACK_THEN_DROP)
    {
      /* Acknowledged, then lost with the connection (no "close" header:
       * the client learns of it when it uses the connection again).
       */
      faults_lose (b, &lf, true);
      snprintf (r->error, sizeof r->error, "fault %s", lf.name);
      ret = http_reply (r, MHD_HTTP_OK, resp);
      faults_close_after_answer (b);
      return ret;
    }
  return http_reply (r, MHD_HTTP_OK, resp);
}

/* Reads a y|n query argument (default y). */
static int
yes_no_arg (struct request *r, const char *name, int *out)
{
  return parse_yes_no (http_query (r, name), 1, out);
}

static enum MHD_Result
bad_yes_no (struct request *r, const char *name)
{
  static const char *const choices[] = { "n", "y", NULL };
  char msg[200];

  validate_enum_error (name, http_query (r, name), choices, msg, sizeof msg);
  return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", msg);
}

static enum MHD_Result
handle_write (struct request *r, const char *id)
{
  const char *te = http_header (r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  const char *cl = http_header (r, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *cr = http_header (r, MHD_HTTP_HEADER_CONTENT_RANGE);
  struct ticket *t;
  enum MHD_Result ret;
  uint64_t last, total;
  int close_arg;

  r->op = "write";
  t = get_ticket (r, id, true, &ret);
  if (t == NULL)
    return ret;
  if (yes_no_arg (r, "flush", &r->flush) == -1)
    return bad_yes_no (r, "flush");
  if (http_query (r, "close") != NULL)
    {
      if (yes_no_arg (r, "close", &close_arg) == -1)
        return bad_yes_no (r, "close");
      r->close_after = close_arg;
    }
  if ((te && strcasecmp (te, "identity") != 0) || cl == NULL)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            CONTENT_LENGTH_REQUIRED);
  if (range_parse_u64 (cl, strlen (cl), &r->length) == -1)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid Content-Length header: %.40s", cl);
  if (cr
      && (range_parse_content_range (cr, &r->offset, &last, &total) == -1
          || r->offset == UINT64_MAX))
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid Content-Range header: %.60s", cr);
  r->show_range = true;
  if (r->offset > t->size || r->length > t->size - r->offset)
    return out_of_range (r, t->size, true, OUT_OF_RANGE);
  if (get_backend (r, &ret) == NULL)
    return ret;
  http_putbuf (r->conn); /* NULL: written through, see put_data */
  r->on_data = put_data;
  r->on_end = put_end;
  return MHD_YES;
}

/* ---- PATCH: zero, flush ---- */

static enum MHD_Result
patch_end (struct request *r)
{
  const struct faults *f = faults_get ();
  struct loss_fault lf;
  struct patch_request p;
  struct backend *b;
  enum MHD_Result ret;
  char err[256];

  if (r->body_too_large)
    return http_reply_too_large (r, PATCH_MAX);
  if (parse_patch (r->body, r->body_len, &p, err, sizeof err) == -1)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
  if (p.op == PATCH_FLUSH)
    {
      r->op = "flush";
      if ((b = get_backend (r, &ret)) == NULL)
        return ret;
      if (faults_next_flush (b, &lf))
        return loss_fault_answer (r, &lf);
      if (b->ops->flush (b) == -1)
        return backend_error (r, "Error flushing");
      return http_reply_buffer (r, MHD_HTTP_OK, NULL, "", 0);
    }

  r->op = "zero";
  r->offset = p.offset;
  r->length = p.size;
  r->show_range = true;
  r->flush = p.flush;
  if (f->no_zero)
    return http_reply_405 (r, "OPTIONS,GET,PUT");
  if (r->offset > r->ticket->size || r->length > r->ticket->size - r->offset)
    return out_of_range (r, r->ticket->size, false, OUT_OF_RANGE);
  if ((b = get_backend (r, &ret)) == NULL)
    return ret;
  if (b->ops->zero (b, r->offset, r->length) == -1)
    return backend_error (r, "Error zeroing");
  if (p.flush && b->ops->flush (b) == -1)
    return backend_error (r, "Error flushing");
  return http_reply_buffer (r, MHD_HTTP_OK, NULL, "", 0);
}

static enum MHD_Result
handle_patch (struct request *r, const char *id)
{
  const char *cl = http_header (r, MHD_HTTP_HEADER_CONTENT_LENGTH);
  enum MHD_Result ret;
  uint64_t len;

  if (get_ticket (r, id, true, &ret) == NULL)
    return ret;
  if (cl && range_parse_u64 (cl, strlen (cl), &len) == 0 && len > PATCH_MAX)
    return http_reply_text (r, MHD_HTTP_CONTENT_TOO_LARGE, true,
                            "Request body too large (limit %d bytes)",
                            PATCH_MAX);
  http_collect_body (r, PATCH_MAX, patch_end);
  return MHD_YES;
}

/* ---- GET extents ---- */

static ssize_t
extents_cb (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct request *r = cls;
  ssize_t n;

  (void)pos;
  n = extents_stream_read (r->xs, buf, max);
  if (n == -1)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0)
    {
      snprintf (r->error, sizeof r->error, "extents failed");
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  return n;
}

static enum MHD_Result
handle_extents (struct request *r, const char *id)
{
  static const char *const contexts[] = { "dirty", "zero", NULL };
  const struct faults *f = faults_get ();
  const char *ctxarg = http_query (r, "context");
  const char *startarg = http_query (r, "start");
  const char *lenarg = http_query (r, "length");
  enum extents_context ctx = EXTENTS_ZERO;
  struct MHD_Response *resp;
  struct backend *b;
  struct ticket *t;
  enum MHD_Result ret;
  uint64_t start = 0, length = 0, esize;
  char err[256];

  r->op = "extents";
  t = get_ticket (r, id, false, &ret);
  if (t == NULL)
    return ret;
  if (f->no_extents)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "No handler for /images/%s/extents",
                            r->ticket_shown);
  if (ctxarg && strcmp (ctxarg, "dirty") == 0)
    ctx = EXTENTS_DIRTY;
  else if (ctxarg && strcmp (ctxarg, "zero") != 0)
    {
      validate_enum_error ("context", ctxarg, contexts, err, sizeof err);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
    }
  r->context = ctx == EXTENTS_DIRTY ? "dirty" : "zero";
  /* Partial extents (imageio issue #83): start= and length= pick the range
   * described.  Under the extents-whole fault they are ignored, as by
   * imageio itself.
   */
  if (f->extents_whole)
    startarg = lenarg = NULL;
  if (startarg && range_parse_u64 (startarg, strlen (startarg), &start) == -1)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid start: '%.40s' (expecting an integer "
                            ">= 0)",
                            startarg);
  if (lenarg
      && (range_parse_u64 (lenarg, strlen (lenarg), &length) == -1
          || length == 0))
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid length: '%.40s' (expecting an integer "
                            "> 0)",
                            lenarg);
  if ((startarg || lenarg)
      && (start >= t->size || (lenarg && length > t->size - start)))
    return out_of_range (r, t->size, false, OUT_OF_RANGE);
  if (ctx == EXTENTS_DIRTY && !t->dirty)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "Ticket does not support dirty extents");
  if (f->extents_delay_ms)
    usleep (f->extents_delay_ms * 1000);
  if ((b = get_backend (r, &ret)) == NULL)
    return ret;
  if (ctx == EXTENTS_DIRTY && !b->ops->can_dirty (b))
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "Ticket does not support dirty extents");
  /* The whole list covers the export (qemu rounds its size up to 512);
   * without length= a range runs to the export's end as well.
   */
  esize = b->ops->export_size (b);
  if (startarg || lenarg)
    {
      if (start >= esize)
        return out_of_range (r, t->size, false, OUT_OF_RANGE);
      if (!lenarg || length > esize - start)
        length = esize - start;
      r->offset = start;
      r->length = length;
      r->show_range = true;
    }
  else
    length = esize;
  r->xs = extents_stream_new (b, ctx, start, length, err, sizeof err);
  if (r->xs == NULL)
    {
      log_msg ("conn=%llu ticket=%s: extents: %s",
               (unsigned long long)r->conn->id, r->ticket_shown, err);
      return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                              "Error getting extents: %s", err);
    }
  resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, EXTENTS_BLOCK,
                                            extents_cb, r, NULL);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                           "application/json");
  return http_reply (r, MHD_HTTP_OK, resp);
}

/* ---- routing ---- */

static bool
has_body (const char *method)
{
  return strcmp (method, "PUT") == 0 || strcmp (method, "PATCH") == 0
         || strcmp (method, "POST") == 0;
}

enum MHD_Result
images_handle (struct request *r, const char *url)
{
  const char *rest = url + strlen ("/images/");
  size_t idlen = strcspn (rest, "/");
  const char *suffix = rest + idlen;
  const char *m = r->method;
  char id[256];
  int status;

  if (idlen == 0 || idlen >= sizeof id
      || (*suffix && strcmp (suffix, "/extents") != 0))
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "No handler for this resource");
  memcpy (id, rest, idlen);
  id[idlen] = '\0';
  redact_ticket (id, r->ticket_shown);

  if (faults_conn_lost (r->conn->backend))
    {
      snprintf (r->error, sizeof r->error, "dropped (fault: connection lost)");
      return MHD_NO;
    }
  switch (faults_next_image_request (&status))
    {
    case FAULT_DROP:
      snprintf (r->error, sizeof r->error, "dropped (fault)");
      return MHD_NO;
    case FAULT_ERROR:
      if (has_body (m))
        {
          /* Answer once the body is read, keeping the connection. */
          r->fault_status = status;
          r->on_data = NULL;
          return MHD_YES;
        }
      return http_reply_text (r, status, false, "Injected error %d", status);
    case FAULT_NONE:
      break;
    }

  if (strcmp (id, "*") == 0)
    {
      if (*suffix == '\0' && strcmp (m, "OPTIONS") == 0)
        return handle_options (r, id);
      return http_reply_405 (r, "OPTIONS");
    }
  if (*suffix)
    {
      if (strcmp (m, "GET") == 0)
        return handle_extents (r, id);
      return http_reply_405 (r, "GET");
    }
  if (strcmp (m, "OPTIONS") == 0)
    return handle_options (r, id);
  if (strcmp (m, "GET") == 0)
    return handle_read (r, id);
  if (strcmp (m, "PUT") == 0)
    return handle_write (r, id);
  if (strcmp (m, "PATCH") == 0)
    return handle_patch (r, id);
  return http_reply_405 (r, "OPTIONS,GET,PUT,PATCH");
}
