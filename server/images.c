/* SPDX-License-Identifier: BSD-3-Clause */
/* The Images API (/images/TICKET, /images/TICKET/extents,
 * /images/TICKET/checksum[/algorithms], and "*" as the ticket for OPTIONS)
 * and GET /info/: OPTIONS, GET (read), PUT (write), PATCH (zero, flush),
 * GET extents, GET checksum, as ovirt-imageio answers them; see
 * docs/protocol.md.
 *
 * Contract: the service registers its routes on the image listeners
 * (images_register) and keeps its state in the HTTP layer's handler data:
 * per request a struct image_req (the busy ticket, what the log shows),
 * per connection a struct image_conn (its backend and PUT buffer), each
 * freed by http.c through its callback.  Every request on a ticket holds
 * it busy until it ends; image bytes go through the connection's own
 * backend, opened on the first request that needs it.  Bodies stream
 * through bounded buffers: a PUT is gathered into the connection's putbuf
 * and written PUT_BUFFER bytes at a time, a GET is read in READ_BLOCK
 * pieces as the socket takes them, a checksum in CHECKSUM_PIECE ones.
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

#include "minmax.h"
#include "backend-open.h"
#include "checksum.h"
#include "conn-limits.h"
#include "extents-json.h"
#include "faults.h"
#include "http.h"
#include "images.h"
#include "log.h"
#include "parse.h"
#include "ranges.h"
#include "redact.h"
#include "tickets.h"
#include "validate.h"
#include "work.h"

#define READ_BLOCK (1024 * 1024)
#define EXTENTS_BLOCK (256 * 1024)
#define PATCH_MAX 4096
#define FORBIDDEN "You are not allowed to access this resource"
#define CONTENT_LENGTH_REQUIRED "Content-Length header is required"
#define OUT_OF_RANGE "Requested range out of allowed range"

/* PUT bodies are written in pieces of this size. */
#define PUT_BUFFER (4 * 1024 * 1024)

/* Per connection (conn->data): the backend it opened for its current
 * ticket, closed with the connection or when it moves to another ticket.
 */
struct image_conn
{
  struct ticket *ticket;   /* the ticket the backend serves (a ref) */
  struct backend *backend; /* opened lazily, per ticket */
  char *putbuf;            /* gathers PUT bodies, PUT_BUFFER bytes */
};

/* Per request (request->data). */
struct image_req
{
  /* What the log line shows. */
  const char *op;                         /* "read", "write", ... or NULL */
  char ticket_shown[REDACT_TICKET_BUFSZ]; /* "" when none */
  bool show_range;
  uint64_t offset, length;
  int flush;           /* -1: not shown, 0: n, 1: y */
  const char *context; /* extents context or NULL */

  struct ticket *ticket; /* busy reference, released at the end */
  struct work work;      /* registered while the ticket is held */
  bool close_after;      /* ?close=y on PUT */

  /* Bytes of [offset, offset + length) done: read and handed out (GET),
   * or acknowledged (PUT, zero); counted in the ticket's "transferred".
   */
  uint64_t done;

  /* PUT */
  uint64_t written; /* bytes written to the backend */
  size_t buffered;  /* bytes in the connection's putbuf */
  bool failed;      /* a write failed; the rest is discarded */
  char failure[256];

  /* An injected error status to answer once the body is read. */
  int fault_status;

  struct extents_stream *xs;
};

#define Q(r) ((struct image_req *)(r)->data)
#define IC(r) ((struct image_conn *)(r)->conn->data)

static void
image_conn_free (void *data)
{
  struct image_conn *ic = data;

  backend_close (ic->backend);
  if (ic->ticket)
    ticket_unref (ic->ticket);
  if (ic->putbuf)
    {
      free (ic->putbuf);
      limits_put_release (PUT_BUFFER);
    }
  free (ic);
}

static void
image_req_free (void *data)
{
  struct image_req *q = data;

  work_end (&q->work);
  if (q->ticket && q->done && q->op)
    {
      bool read = strcmp (q->op, "read") == 0;

      if (read || strcmp (q->op, "write") == 0 || strcmp (q->op, "zero") == 0)
        tickets_count_transferred (q->ticket, q->offset, q->done, read);
    }
  if (q->ticket)
    tickets_release (q->ticket);
  extents_stream_free (q->xs);
  free (q);
}

static void
image_req_log_fields (struct request *r, char *buf, size_t len)
{
  struct image_req *q = r->data;
  size_t n = 0;

#define ADD(...)                                                               \
  do                                                                           \
    {                                                                          \
      if (n < len)                                                             \
        n += snprintf (buf + n, len - n, __VA_ARGS__);                         \
    }                                                                          \
  while (0)
  if (q->ticket_shown[0])
    ADD (" ticket=%s", q->ticket_shown);
  if (q->op)
    ADD (" op=%s", q->op);
  if (q->context)
    ADD (" context=%s", q->context);
  if (q->xs)
    ADD (" count=%llu", (unsigned long long)extents_stream_count (q->xs));
  if (q->show_range)
    ADD (" offset=%llu length=%llu", (unsigned long long)q->offset,
         (unsigned long long)q->length);
  if (q->flush >= 0)
    ADD (" flush=%c", q->flush ? 'y' : 'n');
#undef ADD
}

/* Gives the request and (once) its connection this service's state.
 * Returns false when out of memory.
 */
static bool
image_state_new (struct request *r)
{
  struct conn *cn = r->conn;

  if (cn->data == NULL)
    {
      cn->data = calloc (1, sizeof (struct image_conn));
      if (cn->data == NULL)
        return false;
      cn->data_free = image_conn_free;
    }
  r->data = calloc (1, sizeof (struct image_req));
  if (r->data == NULL)
    return false;
  r->data_free = image_req_free;
  r->log_fields = image_req_log_fields;
  Q (r)->flush = -1;
  return true;
}

/* The connection's PUT buffer (PUT_BUFFER bytes), allocated within the
 * PUT memory budget, or NULL when the budget is spent: then the body is
 * written through in the pieces libmicrohttpd hands over.
 */
static char *
get_putbuf (struct image_conn *ic)
{
  if (ic->putbuf == NULL && limits_put_reserve (PUT_BUFFER))
    {
      ic->putbuf = malloc (PUT_BUFFER);
      if (ic->putbuf == NULL)
        limits_put_release (PUT_BUFFER);
    }
  return ic->putbuf;
}

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

  redact_ticket (id, Q (r)->ticket_shown);
  t = tickets_acquire (id, &why);
  if (t == NULL)
    {
      *ret = http_reply_text (r, MHD_HTTP_FORBIDDEN, true,
                              FORBIDDEN ": %s ticket '%s'",
                              why == TICKET_EXPIRED    ? "Expired"
                              : why == TICKET_CANCELED ? "Canceled"
                                                       : "No such",
                              Q (r)->ticket_shown);
      return NULL;
    }
  Q (r)->ticket = t;
  work_begin (&Q (r)->work, t, http_conn_fd (r));
  /* As imageio: write allows reading too. */
  if ((write && !t->can_write) || (!write && !t->can_read && !t->can_write))
    {
      *ret = http_reply_text (r, MHD_HTTP_FORBIDDEN, true,
                              FORBIDDEN ": Ticket '%s' forbids %s",
                              Q (r)->ticket_shown, write ? "write" : "read");
      return NULL;
    }
  /* The ticket decides how long this connection may stay idle. */
  timeout = t->inactivity_timeout > UINT_MAX / 2 ? UINT_MAX / 2
                                                 : t->inactivity_timeout;
  http_set_idle_timeout (r, timeout);
  return t;
}

/* The connection's backend for Q (r)->ticket, opened if needed.  NULL with a
 * 500 answered on failure.
 */
static struct backend *
get_backend (struct request *r, enum MHD_Result *ret)
{
  struct image_conn *cn = IC (r);
  char err[256];

  if (cn->ticket != Q (r)->ticket)
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
          backend_open (Q (r)->ticket, err, sizeof err), Q (r)->ticket,
          http_conn_fd (r), r->conn->id, Q (r)->ticket_shown);
      if (cn->backend == NULL)
        {
          log_msg ("conn=%llu ticket=%s: %s", (unsigned long long)r->conn->id,
                   Q (r)->ticket_shown, err);
          *ret = http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                                  "Cannot open backend: %s", err);
          return NULL;
        }
      ticket_ref (Q (r)->ticket);
      cn->ticket = Q (r)->ticket;
    }
  return cn->backend;
}

static enum MHD_Result
backend_error (struct request *r, const char *what)
{
  log_msg ("conn=%llu ticket=%s: %s: %s", (unsigned long long)r->conn->id,
           Q (r)->ticket_shown, what, IC (r)->backend->err);
  return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false, "%s: %s",
                          what, IC (r)->backend->err);
}

static enum MHD_Result out_of_range_as (struct request *r, uint64_t size,
                                        bool close, bool content_range,
                                        const char *why);

static enum MHD_Result
out_of_range (struct request *r, uint64_t size, bool close, const char *why)
{
  return out_of_range_as (r, size, close, true, why);
}

/* 416 with "Content-Range: bytes *\/SIZE" only when CONTENT_RANGE: imageio
 * sends it for a range outside the image, not for a Range header it
 * cannot parse (tests/test-realimageio-conformance.sh).
 */
static enum MHD_Result
out_of_range_as (struct request *r, uint64_t size, bool close,
                 bool content_range, const char *why)
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
      if (content_range)
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

/* A 200 answer's response holding the JSON document in G and a newline,
 * typed application/json, or NULL.  Frees G.
 */
static struct MHD_Response *
json_response (yajl_gen g)
{
  struct MHD_Response *resp = NULL;
  const unsigned char *out;
  size_t outlen;

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
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "application/json");
  return resp;
}

static enum MHD_Result
handle_options (struct request *r, const char *id)
{
  const struct faults *f = faults_get ();
  bool all = strcmp (id, "*") == 0;
  struct ticket *t = NULL;
  enum MHD_Result ret;
  struct MHD_Response *resp;
  yajl_gen g;
  bool write;

  Q (r)->op = "options";
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
  gen_str (g, "checksum");
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
  resp = json_response (g);
  if (resp)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW,
                             write ? "OPTIONS,GET,PUT,PATCH" : "OPTIONS,GET");
  return http_reply (r, MHD_HTTP_OK, resp);
}

/* ---- GET: read ---- */

static ssize_t
read_cb (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct request *r = cls;
  struct backend *b = IC (r)->backend;
  uint64_t left = Q (r)->length - pos;
  size_t n = MIN (left, (uint64_t)max);

  const char *why;

  if (n == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (work_should_stop (&Q (r)->work, &why))
    {
      snprintf (r->error, sizeof r->error, "stopped after %llu bytes: %s",
                (unsigned long long)pos, why);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  if (b->ops->pread (b, buf, n, Q (r)->offset + pos) == -1)
    {
      log_msg ("conn=%llu ticket=%s: read offset %llu: %s",
               (unsigned long long)r->conn->id, Q (r)->ticket_shown,
               (unsigned long long)(Q (r)->offset + pos), b->err);
      snprintf (r->error, sizeof r->error, "%.80s", b->err);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  Q (r)->done = pos + n;
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

  Q (r)->op = "read";
  t = get_ticket (r, id, false, &ret);
  if (t == NULL)
    return ret;
  if (range)
    {
      if (range_parse_request (range, t->size, &first, &last, &why) == -1)
        {
          const char *why_syntax;
          bool parsed = range_parse_request (range, UINT64_MAX, &first, &last,
                                             &why_syntax)
                        == 0;

          return out_of_range_as (r, t->size, false, parsed, why);
        }
      Q (r)->length = last - first + 1;
    }
  else
    Q (r)->length = t->size;
  Q (r)->offset = first;
  Q (r)->show_range = true;
  if (get_backend (r, &ret) == NULL)
    return ret;

  if (Q (r)->length == 0)
    resp = MHD_create_response_from_buffer (0, (void *)"",
                                            MHD_RESPMEM_PERSISTENT);
  else
    resp = MHD_create_response_from_callback (Q (r)->length, READ_BLOCK,
                                              read_cb, r, NULL);
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
  struct backend *b = IC (r)->backend;

  if (Q (r)->buffered == 0 || Q (r)->failed)
    return;
  if (b->ops->pwrite (b, IC (r)->putbuf, Q (r)->buffered,
                      Q (r)->offset + Q (r)->written)
      == -1)
    {
      Q (r)->failed = true;
      snprintf (Q (r)->failure, sizeof Q (r)->failure, "%s", b->err);
    }
  else
    Q (r)->written += Q (r)->buffered;
  Q (r)->buffered = 0;
}

static int
put_data (struct request *r, const char *data, size_t len)
{
  struct backend *b = IC (r)->backend;
  char *buf = IC (r)->putbuf;

  if (Q (r)->failed)
    return 0; /* discard the rest; 500 at the end */
  while (len > 0)
    {
      size_t n;

      /* A large piece with nothing gathered goes straight through, and
       * every piece without a buffer (the PUT memory budget is spent).
       */
      if (buf == NULL || (Q (r)->buffered == 0 && len >= PUT_BUFFER))
        {
          if (b->ops->pwrite (b, data, len, Q (r)->offset + Q (r)->written)
              == -1)
            {
              Q (r)->failed = true;
              snprintf (Q (r)->failure, sizeof Q (r)->failure, "%s", b->err);
              return 0;
            }
          Q (r)->written += len;
          return 0;
        }
      n = PUT_BUFFER - Q (r)->buffered;
      if (n > len)
        n = len;
      memcpy (buf + Q (r)->buffered, data, n);
      Q (r)->buffered += n;
      data += n;
      len -= n;
      if (Q (r)->buffered == PUT_BUFFER)
        {
          put_drain (r);
          if (Q (r)->failed)
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
  struct backend *b = IC (r)->backend;

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
  struct backend *b = IC (r)->backend;
  struct MHD_Response *resp;
  struct loss_fault lf = { .name = NULL };
  enum MHD_Result ret;

  put_drain (r);
  if (!Q (r)->failed && Q (r)->written != Q (r)->length)
    {
      snprintf (Q (r)->failure, sizeof Q (r)->failure, "short body");
      Q (r)->failed = true;
    }
  if (Q (r)->failed)
    {
      log_msg ("conn=%llu ticket=%s: write offset %llu: %s",
               (unsigned long long)r->conn->id, Q (r)->ticket_shown,
               (unsigned long long)Q (r)->offset, Q (r)->failure);
      return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                              "Error writing: %s", Q (r)->failure);
    }
  if (faults_next_put (b, &lf) && lf.kind != LOSS_ACK_THEN_DROP)
    return loss_fault_answer (r, &lf);
  if (Q (r)->flush == 1 && b->ops->flush (b) == -1)
    return backend_error (r, "Error flushing");
  Q (r)->done = Q (r)->written;
  resp
      = MHD_create_response_from_buffer (0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (resp && Q (r)->close_after)
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

  Q (r)->op = "write";
  t = get_ticket (r, id, true, &ret);
  if (t == NULL)
    return ret;
  if (yes_no_arg (r, "flush", &Q (r)->flush) == -1)
    return bad_yes_no (r, "flush");
  if (http_query (r, "close") != NULL)
    {
      if (yes_no_arg (r, "close", &close_arg) == -1)
        return bad_yes_no (r, "close");
      Q (r)->close_after = close_arg;
    }
  if ((te && strcasecmp (te, "identity") != 0) || cl == NULL)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            CONTENT_LENGTH_REQUIRED);
  if (range_parse_u64 (cl, strlen (cl), &Q (r)->length) == -1)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid Content-Length header: %.40s", cl);
  if (cr
      && (range_parse_content_range (cr, &Q (r)->offset, &last, &total) == -1
          || Q (r)->offset == UINT64_MAX))
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                            "Invalid Content-Range header: %.60s", cr);
  Q (r)->show_range = true;
  if (Q (r)->offset > t->size || Q (r)->length > t->size - Q (r)->offset)
    return out_of_range (r, t->size, true, OUT_OF_RANGE);
  if (get_backend (r, &ret) == NULL)
    return ret;
  get_putbuf (IC (r)); /* NULL: written through, see put_data */
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
      Q (r)->op = "flush";
      if ((b = get_backend (r, &ret)) == NULL)
        return ret;
      if (faults_next_flush (b, &lf))
        return loss_fault_answer (r, &lf);
      if (b->ops->flush (b) == -1)
        return backend_error (r, "Error flushing");
      return http_reply_buffer (r, MHD_HTTP_OK, NULL, "", 0);
    }

  Q (r)->op = "zero";
  Q (r)->offset = p.offset;
  Q (r)->length = p.size;
  Q (r)->show_range = true;
  Q (r)->flush = p.flush;
  if (f->no_zero)
    return http_reply_405 (r, "OPTIONS,GET,PUT");
  if (Q (r)->offset > Q (r)->ticket->size
      || Q (r)->length > Q (r)->ticket->size - Q (r)->offset)
    return out_of_range (r, Q (r)->ticket->size, false, OUT_OF_RANGE);
  if ((b = get_backend (r, &ret)) == NULL)
    return ret;
  if (b->ops->zero (b, Q (r)->offset, Q (r)->length) == -1)
    return backend_error (r, "Error zeroing");
  if (p.flush && b->ops->flush (b) == -1)
    return backend_error (r, "Error flushing");
  Q (r)->done = Q (r)->length;
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
  const char *why;
  ssize_t n;

  (void)pos;
  if (work_should_stop (&Q (r)->work, &why))
    {
      snprintf (r->error, sizeof r->error, "extents stopped: %s", why);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  n = extents_stream_read (Q (r)->xs, buf, max);
  if (n == -1)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0)
    {
      snprintf (r->error, sizeof r->error, "extents failed");
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  return n;
}

/* Partial extents (imageio issue #83): start= and length= (STARTARG,
 * LENARG, either may be NULL) pick the range described.  Returns 0 with
 * *START and *LENGTH (0: to the end), or -1 with the answer in *RET (400
 * for a bad value, 416 past the ticket's size).
 */
static int
parse_extents_range (struct request *r, const struct ticket *t,
                     const char *startarg, const char *lenarg, uint64_t *start,
                     uint64_t *length, enum MHD_Result *ret)
{
  if (startarg && range_parse_u64 (startarg, strlen (startarg), start) == -1)
    {
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Invalid start: '%.40s' (expecting an integer "
                              ">= 0)",
                              startarg);
      return -1;
    }
  if (lenarg
      && (range_parse_u64 (lenarg, strlen (lenarg), length) == -1
          || *length == 0))
    {
      *ret = http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Invalid length: '%.40s' (expecting an integer "
                              "> 0)",
                              lenarg);
      return -1;
    }
  if ((startarg || lenarg)
      && (*start >= t->size || (lenarg && *length > t->size - *start)))
    {
      *ret = out_of_range (r, t->size, false, OUT_OF_RANGE);
      return -1;
    }
  return 0;
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

  Q (r)->op = "extents";
  t = get_ticket (r, id, false, &ret);
  if (t == NULL)
    return ret;
  if (f->no_extents)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "No handler for /images/%s/extents",
                            Q (r)->ticket_shown);
  if (ctxarg && strcmp (ctxarg, "dirty") == 0)
    ctx = EXTENTS_DIRTY;
  else if (ctxarg && strcmp (ctxarg, "zero") != 0)
    {
      validate_enum_error ("context", ctxarg, contexts, err, sizeof err);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
    }
  Q (r)->context = ctx == EXTENTS_DIRTY ? "dirty" : "zero";
  /* Under the extents-whole fault start= and length= are ignored, as by
   * imageio itself.
   */
  if (f->extents_whole)
    startarg = lenarg = NULL;
  if (parse_extents_range (r, t, startarg, lenarg, &start, &length, &ret) == -1)
    return ret;
  if (ctx == EXTENTS_DIRTY && !t->dirty)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "Ticket does not support dirty extents");
  if (f->extents_delay_ms)
    usleep (f->extents_delay_ms * 1000);
  if ((b = get_backend (r, &ret)) == NULL)
    return ret;
  if (ctx == EXTENTS_DIRTY && !b->ops->can_dirty (b))
    {
      /* imageio's words: a dirty ticket whose export has no bitmap. */
      const char *ex = strstr (t->url, ":exportname=");

      if (backend_kind_of_url (t->url) == BACKEND_FILE)
        return http_reply_text (
            r, MHD_HTTP_NOT_FOUND, false,
            "Operation not supported: Backend file does not support "
            "dirty extents");
      return http_reply_text (
          r, MHD_HTTP_NOT_FOUND, false,
          "Operation not supported: NBD export '%.64s' does not support "
          "dirty extents",
          ex ? ex + strlen (":exportname=") : "");
    }
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
      Q (r)->offset = start;
      Q (r)->length = length;
      Q (r)->show_range = true;
    }
  else
    length = esize;
  Q (r)->xs = extents_stream_new (b, ctx, start, length, err, sizeof err);
  if (Q (r)->xs == NULL)
    {
      log_msg ("conn=%llu ticket=%s: extents: %s",
               (unsigned long long)r->conn->id, Q (r)->ticket_shown, err);
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

/* ---- JSON answers ---- */

/* Answers 200 with the JSON document in G (and a newline). */
static enum MHD_Result
reply_json (struct request *r, yajl_gen g)
{
  return http_reply (r, MHD_HTTP_OK, json_response (g));
}

/* ---- GET checksum, checksum/algorithms ---- */

/* Server information: no ticket needed (any id in the path). */
static enum MHD_Result
handle_algorithms (struct request *r)
{
  yajl_gen g = yajl_gen_alloc (NULL);

  Q (r)->op = "algorithms";
  if (g == NULL)
    return MHD_NO;
  yajl_gen_map_open (g);
  gen_str (g, "algorithms");
  yajl_gen_array_open (g);
  for (size_t i = 0; checksum_algorithms[i] != NULL; i++)
    gen_str (g, checksum_algorithms[i]);
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
  return reply_json (r, g);
}

/* Answers 503: too many checksums run; the client may retry later. */
static enum MHD_Result
busy_reply (struct request *r)
{
  char msg[160];
  struct MHD_Response *resp;
  int n;

  n = snprintf (msg, sizeof msg,
                "Too many checksums in progress (at most %d per ticket, %u "
                "in all): retry later\n",
                WORK_CHECKSUMS_PER_TICKET, work_max_checksums);
  snprintf (r->error, sizeof r->error, "%.*s", n - 1, msg);
  resp = MHD_create_response_from_buffer (n, msg, MHD_RESPMEM_MUST_COPY);
  if (resp)
    {
      MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "text/plain; charset=UTF-8");
      MHD_add_response_header (resp, MHD_HTTP_HEADER_RETRY_AFTER, "2");
    }
  return http_reply (r, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
}

/* Like imageio: the query is checked first (400), then the ticket (403).
 * The checksum covers the ticket's size (what a client can read).
 */
static enum MHD_Result
handle_checksum (struct request *r, const char *id)
{
  const char *alg = http_query (r, "algorithm");
  char err[256], hex[2 * CHECKSUM_DIGEST_SIZE + 1];
  struct backend *b;
  struct ticket *t;
  enum MHD_Result ret;
  size_t block_size;
  yajl_gen g;
  size_t i;

  Q (r)->op = "checksum";
  if (alg == NULL)
    alg = CHECKSUM_DEFAULT_ALGORITHM;
  for (i = 0; checksum_algorithms[i] != NULL; i++)
    if (strcmp (alg, checksum_algorithms[i]) == 0)
      break;
  if (checksum_algorithms[i] == NULL)
    {
      validate_enum_error ("algorithm", alg, checksum_algorithms, err,
                           sizeof err);
      validate_oneline (err);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
    }
  if (checksum_parse_block_size (http_query (r, "block_size"), &block_size, err,
                                 sizeof err)
      == -1)
    {
      validate_oneline (err);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
    }
  t = get_ticket (r, id, false, &ret);
  if (t == NULL)
    return ret;
  Q (r)->offset = 0;
  Q (r)->length = t->size;
  Q (r)->show_range = true;
  if (!work_checksum_begin (&Q (r)->work))
    return busy_reply (r);
  if ((b = get_backend (r, &ret)) == NULL)
    return ret;
  if (checksum_compute (b, t->size, alg, block_size, &Q (r)->work, hex, err,
                        sizeof err)
      == -1)
    {
      if (work_should_stop (&Q (r)->work, NULL))
        {
          /* Nobody waits for an answer (or may have one). */
          snprintf (r->error, sizeof r->error, "checksum %.70s", err);
          return MHD_NO;
        }
      log_msg ("conn=%llu ticket=%s: checksum: %s",
               (unsigned long long)r->conn->id, Q (r)->ticket_shown, err);
      return http_reply_text (r, MHD_HTTP_INTERNAL_SERVER_ERROR, false,
                              "Error computing checksum: %s", err);
    }
  g = yajl_gen_alloc (NULL);
  if (g == NULL)
    return MHD_NO;
  yajl_gen_map_open (g);
  gen_str (g, "algorithm");
  gen_str (g, alg);
  gen_str (g, "block_size");
  yajl_gen_integer (g, block_size);
  gen_str (g, "checksum");
  gen_str (g, hex);
  yajl_gen_map_close (g);
  return reply_json (r, g);
}

/* ---- GET /info/ ---- */

static enum MHD_Result
info_handle (struct request *r, const char *url)
{
  yajl_gen g;

  (void)url;
  if (!image_state_new (r))
    return MHD_NO;
  if (strcmp (r->method, "GET") != 0)
    return http_reply_405 (r, "GET");
  Q (r)->op = "info";
  g = yajl_gen_alloc (NULL);
  if (g == NULL)
    return MHD_NO;
  yajl_gen_map_open (g);
  gen_str (g, "version");
  gen_str (g, PACKAGE_VERSION);
  yajl_gen_map_close (g);
  return reply_json (r, g);
}

/* ---- routing ---- */

static bool
has_body (const char *method)
{
  return strcmp (method, "PUT") == 0 || strcmp (method, "PATCH") == 0
         || strcmp (method, "POST") == 0;
}

/* Answers an injected error once the body was read (and discarded). */
static enum MHD_Result
fault_end (struct request *r)
{
  return http_reply_text (r, Q (r)->fault_status, false, "Injected error %d",
                          Q (r)->fault_status);
}

static enum MHD_Result
images_handle (struct request *r, const char *url)
{
  const char *rest = url + strlen ("/images/");
  size_t idlen = strcspn (rest, "/");
  const char *suffix = rest + idlen;
  const char *m = r->method;
  char id[256];
  int status;

  if (!image_state_new (r))
    return MHD_NO;
  if (idlen == 0 || idlen >= sizeof id
      || (*suffix && strcmp (suffix, "/extents") != 0
          && strcmp (suffix, "/checksum") != 0
          && strcmp (suffix, "/checksum/algorithms") != 0))
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false,
                            "No handler for this resource");
  memcpy (id, rest, idlen);
  id[idlen] = '\0';
  redact_ticket (id, Q (r)->ticket_shown);

  if (faults_conn_lost (IC (r)->backend))
    {
      snprintf (r->error, sizeof r->error, "dropped (fault: connection lost)");
      return MHD_NO;
    }
  switch (faults_next_image_request (r->conn->id, &status))
    {
    case FAULT_DROP:
      snprintf (r->error, sizeof r->error, "dropped (fault)");
      return MHD_NO;
    case FAULT_ERROR:
      if (has_body (m))
        {
          /* Answer once the body is read, keeping the connection. */
          Q (r)->fault_status = status;
          r->on_data = NULL;
          r->on_end = fault_end;
          return MHD_YES;
        }
      return http_reply_text (r, status, false, "Injected error %d", status);
    case FAULT_NONE:
      break;
    }

  if (strcmp (suffix, "/checksum/algorithms") == 0)
    {
      if (strcmp (m, "GET") == 0)
        return handle_algorithms (r);
      return http_reply_405 (r, "GET");
    }
  if (strcmp (id, "*") == 0)
    {
      if (*suffix == '\0' && strcmp (m, "OPTIONS") == 0)
        return handle_options (r, id);
      return http_reply_405 (r, "OPTIONS");
    }
  if (strcmp (suffix, "/checksum") == 0)
    {
      if (strcmp (m, "GET") == 0)
        return handle_checksum (r, id);
      return http_reply_405 (r, "GET");
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

int
images_register (struct listener *l)
{
  if (http_add_route (l, "/images/", true, images_handle) == -1
      || http_add_route (l, "/info/", false, info_handle) == -1)
    return -1;
  return 0;
}
