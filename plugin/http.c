/* SPDX-License-Identifier: BSD-3-Clause */
/* The HTTP/1.1 client's protocol layer: one kept-alive connection per
 * struct http_conn, on a transport (transport.c: sockets, TLS, waiting).
 * This file frames requests, reads response heads (parsed by the pure
 * http-parse.c) and moves bodies.
 *
 * Contract (see http.h): one thread uses a connection at a time; every
 * request has one deadline for all its waits; request bodies are sent from
 * the caller's pointer and 2xx response bodies are received straight into
 * the caller's buffer; on any result but HTTP_OK the connection is closed.
 * HTTP_ERR_CLOSED means "closed or reset before the first byte of the
 * response": the caller may send the request again on a new connection.
 *
 * Only nbdkit_debug is used from nbdkit: failures are reported through the
 * result and ERRBUF, and the caller words the nbdkit_error.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "clock.h"
#include "http.h"
#include "redact.h"

/* -D imageio.http=1: each request line and response head (ticket
 * redacted).
 */
NBDKIT_DLL_PUBLIC int imageio_debug_http = 0;

/* Sockets opened by every connection object, for the transfer summary. */
static uint64_t total_connects;

uint64_t
http_total_connects (void)
{
  return __atomic_load_n (&total_connects, __ATOMIC_RELAXED);
}

/* The longest response head (status line and headers) we accept. */
#define HEAD_MAX (16 * 1024)
/* The connection's receive buffer: holds a head and the pieces handed to
 * a body callback or decoded from a chunked body.  Large 2xx bodies of
 * known length bypass it.
 */
#define RBUF_SIZE (256 * 1024)
/* Bytes asked for per read while reading a response head. */
#define HEAD_READ_SIZE 4096
/* Request head buffer; a TLS request body up to INLINE_BODY_MAX bytes is
 * appended to it so that a small PATCH goes out as one TLS record.
 */
#define WBUF_SIZE 8192
#define INLINE_BODY_MAX 4096
/* Error bodies longer than this are not drained: the connection closes. */
#define DISCARD_MAX (1024 * 1024)
/* How many 1xx interim responses we skip before giving up. */
#define MAX_INTERIM 16

#define DEFAULT_TIMEOUT_MS 60000

struct http_conn
{
  const struct http_endpoint *ep;
  struct transport *t; /* NULL when closed */
  uint64_t connects;
  size_t rstart, rend; /* unread bytes are rbuf[rstart..rend) */
  char wbuf[WBUF_SIZE + INLINE_BODY_MAX];
  char rbuf[RBUF_SIZE];
};

/* One request's state: its deadline, whether its response has started,
 * and where its failure is described.
 */
struct req_ctx
{
  struct http_conn *c;
  char *errbuf;
  size_t errlen;
  int64_t deadline;       /* CLOCK_MONOTONIC ms */
  int timeout_ms;         /* the request's whole time, for messages */
  bool got_response_byte; /* a byte of the response arrived */
};

static void seterr (struct req_ctx *x, const char *fs, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
seterr (struct req_ctx *x, const char *fs, ...)
{
  va_list ap;

  if (x->errlen == 0)
    return;
  va_start (ap, fs);
  vsnprintf (x->errbuf, x->errlen, fs, ap);
  va_end (ap);
}

/* A transport result, with a timeout worded as the request's. */
static enum http_result
transport_result (struct req_ctx *x, enum http_result r, const char *what)
{
  if (r == HTTP_ERR_TIMEOUT)
    seterr (x, "%s: request timed out after %d ms", what, x->timeout_ms);
  return r;
}

struct http_conn *
http_conn_new (const struct http_endpoint *ep)
{
  struct http_conn *c = malloc (sizeof *c);

  if (c == NULL)
    return NULL;
  c->ep = ep;
  c->t = NULL;
  c->connects = 0;
  c->rstart = c->rend = 0;
  return c;
}

/* Closes the transport.  GRACEFUL sends a TLS close_notify; after a
 * failure the TLS state may be broken, so it is skipped.
 */
static void
conn_close (struct http_conn *c, bool graceful)
{
  transport_close (c->t, graceful);
  c->t = NULL;
  c->rstart = c->rend = 0;
}

void
http_conn_close (struct http_conn *c)
{
  conn_close (c, true);
}

void
http_conn_free (struct http_conn *c)
{
  if (c == NULL)
    return;
  conn_close (c, true);
  free (c);
}

bool
http_conn_is_open (const struct http_conn *c)
{
  return c->t != NULL;
}

uint64_t
http_conn_connects (const struct http_conn *c)
{
  return c->connects;
}

/* Opens the transport: name lookup, connect and TLS handshake within
 * connect_timeout_ms, and within the request's own deadline.
 */
static enum http_result
conn_open (struct req_ctx *x)
{
  struct http_conn *c = x->c;
  const struct http_endpoint *ep = c->ep;
  int ms = ep->connect_timeout_ms > 0 ? ep->connect_timeout_ms
                                      : DEFAULT_TIMEOUT_MS;
  int64_t deadline = clock_now_ms () + ms;
  uint64_t n;

  if (deadline > x->deadline)
    deadline = x->deadline;
  c->t = transport_open (ep, deadline, x->errbuf, x->errlen);
  if (c->t == NULL)
    return HTTP_ERR_CONNECT;
  c->connects++;
  /* The process's count: every connection said #1 with the per-connection
   * count.
   */
  n = __atomic_add_fetch (&total_connects, 1, __ATOMIC_RELAXED);
  c->rstart = c->rend = 0;
  if (imageio_debug_http)
    {
      char name[300];

      http_endpoint_name (ep, name, sizeof name);
      nbdkit_debug ("http: connected to %s%s (connection #%" PRIu64 ")", name,
                    transport_is_tls (c->t) ? " with TLS" : "", n);
    }
  return HTTP_OK;
}

/* Receives at most LEN bytes into BUF: *GOT > 0, or 0 at the end of the
 * stream.
 */
static enum http_result
recv_some (struct req_ctx *x, void *buf, size_t len, size_t *got)
{
  enum http_result r = transport_recv (x->c->t, buf, len, got, x->deadline,
                                       x->errbuf, x->errlen);

  return transport_result (x, r, "recv");
}

/* Turns a "closed" result into HTTP_ERR_IO once the response has started. */
static enum http_result
after_start (struct req_ctx *x, enum http_result r)
{
  if (r == HTTP_ERR_CLOSED && x->got_response_byte)
    return HTTP_ERR_IO;
  return r;
}

/* Reads more bytes, at most MAX, into rbuf after rend (compacting first
 * when needed).  An end of stream is an error here: every caller needs
 * more bytes.
 */
static enum http_result
fill_upto (struct req_ctx *x, size_t max)
{
  struct http_conn *c = x->c;
  size_t got;
  enum http_result r;

  if (c->rstart == c->rend)
    c->rstart = c->rend = 0;
  else if (c->rend == RBUF_SIZE)
    {
      memmove (c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
      c->rend -= c->rstart;
      c->rstart = 0;
    }
  if (c->rend == RBUF_SIZE)
    {
      seterr (x, "receive buffer full");
      return HTTP_ERR_PROTOCOL;
    }
  if (max > RBUF_SIZE - c->rend)
    max = RBUF_SIZE - c->rend;
  r = recv_some (x, c->rbuf + c->rend, max, &got);
  if (r != HTTP_OK)
    return after_start (x, r);
  if (got == 0)
    {
      seterr (x, "connection closed by peer %s",
              x->got_response_byte ? "in the middle of a response"
                                   : "before the response");
      return x->got_response_byte ? HTTP_ERR_IO : HTTP_ERR_CLOSED;
    }
  x->got_response_byte = true;
  c->rend += got;
  return HTTP_OK;
}

static enum http_result
fill (struct req_ctx *x)
{
  return fill_upto (x, RBUF_SIZE);
}

/* ---------------------------------------------------------------------
 * Bodies.  A body is a sequence of spans (one for Content-Length, one per
 * chunk, or open-ended until close); each span goes to a sink.
 */

enum sink_kind
{
  SINK_BUF,        /* the caller's buffer */
  SINK_FN,         /* the caller's callback */
  SINK_DISCARD,    /* dropped */
  SINK_ERROR_TEXT, /* start kept in resp->error_text */
};

struct sink
{
  enum sink_kind kind;
  const struct http_request *req;
  struct http_response *resp;
  uint64_t limit; /* most bytes accepted */
  bool overflow;  /* the body went past LIMIT */
};

/* Hands LEN bytes at DATA, already in rbuf, to the sink. */
static enum http_result
sink_push (struct req_ctx *x, struct sink *s, const char *data, size_t len)
{
  struct http_response *resp = s->resp;

  switch (s->kind)
    {
    case SINK_BUF:
      memcpy ((char *)s->req->buf + resp->body_len, data, len);
      break;
    case SINK_FN:
      if (s->req->body_fn (s->req->opaque, data, len) == -1)
        {
          seterr (x, "response body rejected by the receiver");
          return HTTP_ERR_IO;
        }
      break;
    case SINK_DISCARD:
      break;
    case SINK_ERROR_TEXT:
      {
        size_t have = resp->body_len;
        size_t room = sizeof resp->error_text - 1;

        if (have < room)
          memcpy (resp->error_text + have, data,
                  len < room - have ? len : room - have);
      }
      break;
    }
  resp->body_len += len;
  return HTTP_OK;
}

/* Checks that LEN more bytes fit in the sink. */
static enum http_result
sink_room (struct req_ctx *x, struct sink *s, uint64_t len)
{
  if (len > s->limit - s->resp->body_len)
    {
      s->overflow = true;
      if (s->kind == SINK_BUF)
        seterr (x, "response body longer than the %zu byte buffer",
                s->req->buf_len);
      else
        seterr (x, "response body too long");
      return HTTP_ERR_PROTOCOL;
    }
  return HTTP_OK;
}

/* Reads exactly LEN bytes of body into the sink: first what rbuf holds,
 * then, for the caller's buffer, recv straight into it.
 */
static enum http_result
read_span (struct req_ctx *x, struct sink *s, uint64_t len)
{
  struct http_conn *c = x->c;
  enum http_result r;

  r = sink_room (x, s, len);
  if (r != HTTP_OK)
    return r;
  while (len > 0)
    {
      size_t avail = c->rend - c->rstart;

      if (avail > 0)
        {
          size_t n = avail < len ? avail : len;

          r = sink_push (x, s, c->rbuf + c->rstart, n);
          if (r != HTTP_OK)
            return r;
          c->rstart += n;
          len -= n;
        }
      else if (s->kind == SINK_BUF)
        {
          size_t got;

          r = recv_some (x, (char *)s->req->buf + s->resp->body_len, len, &got);
          if (r != HTTP_OK)
            return after_start (x, r);
          if (got == 0)
            {
              seterr (x, "connection closed by peer in the middle of a "
                         "response body");
              return HTTP_ERR_IO;
            }
          s->resp->body_len += got;
          len -= got;
        }
      else
        {
          r = fill (x);
          if (r != HTTP_OK)
            return r;
        }
    }
  return HTTP_OK;
}

/* A chunked body: bytes go through rbuf, decoded in place by the pure
 * http_decode_chunked, and the data goes to the sink.
 */
static enum http_result
read_chunked (struct req_ctx *x, struct sink *s)
{
  struct http_conn *c = x->c;
  struct http_chunked d = { 0 };
  enum http_result r;

  for (;;)
    {
      size_t n = c->rend - c->rstart;
      ssize_t tail = -2;

      if (n > 0)
        {
          tail = http_decode_chunked (&d, c->rbuf + c->rstart, &n);
          if (tail == -1)
            {
              seterr (x, "malformed chunked body");
              return HTTP_ERR_PROTOCOL;
            }
          r = sink_room (x, s, n);
          if (r == HTTP_OK)
            r = sink_push (x, s, c->rbuf + c->rstart, n);
          if (r != HTTP_OK)
            return r;
        }
      if (tail >= 0)
        {
          /* The bytes after the body were moved right after its data. */
          c->rstart += n;
          c->rend = c->rstart + tail;
          return HTTP_OK;
        }
      c->rstart = c->rend = 0;
      r = fill (x);
      if (r != HTTP_OK)
        return r;
    }
}

/* A body delimited by the end of the connection. */
static enum http_result
read_until_close (struct req_ctx *x, struct sink *s)
{
  struct http_conn *c = x->c;
  enum http_result r;

  for (;;)
    {
      size_t avail = c->rend - c->rstart, got;

      if (avail > 0)
        {
          r = sink_room (x, s, avail);
          if (r != HTTP_OK)
            return r;
          r = sink_push (x, s, c->rbuf + c->rstart, avail);
          if (r != HTTP_OK)
            return r;
        }
      c->rstart = c->rend = 0;
      r = recv_some (x, c->rbuf, RBUF_SIZE, &got);
      if (r != HTTP_OK)
        return after_start (x, r);
      if (got == 0)
        return HTTP_OK;
      c->rend = got;
    }
}

/* Error text: NUL-terminated, trailing whitespace and newlines trimmed,
 * then any control character left replaced by '?'.
 */
static void
finish_error_text (struct http_response *resp)
{
  size_t n = resp->body_len < sizeof resp->error_text - 1
                 ? resp->body_len
                 : sizeof resp->error_text - 1;
  char *t = resp->error_text;

  while (n > 0
         && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r'
             || t[n - 1] == '\n'))
    n--;
  t[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
      t[i] = '?';
}

/* ---------------------------------------------------------------------
 * Requests.
 */

/* Header values must not smuggle in more header lines. */
static bool
header_value_ok (const char *v)
{
  return v == NULL || strpbrk (v, "\r\n") == NULL;
}

/* Formats the request head into c->wbuf; returns its length or -1. */
static int
format_head (struct http_conn *c, const struct http_request *req)
{
  const struct http_endpoint *ep = c->ep;
  const char *host = ep->host_header ? ep->host_header
                     : ep->host      ? ep->host
                                     : "localhost";
  size_t len = 0;
  int n;

#define ADD(...)                                                               \
  do                                                                           \
    {                                                                          \
      n = snprintf (c->wbuf + len, WBUF_SIZE - len, __VA_ARGS__);              \
      if (n < 0 || (size_t)n >= WBUF_SIZE - len)                               \
        return -1;                                                             \
      len += n;                                                                \
    }                                                                          \
  while (0)

  ADD ("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nbdkit-imageio/%s\r\n",
       req->method, req->target, host, PACKAGE_VERSION);
  if (req->body)
    ADD ("Content-Length: %zu\r\n", req->body_len);
  if (req->range)
    ADD ("Range: %s\r\n", req->range);
  if (req->content_range)
    ADD ("Content-Range: %s\r\n", req->content_range);
  if (req->content_type)
    ADD ("Content-Type: %s\r\n", req->content_type);
  ADD ("\r\n");
#undef ADD
  return (int)len;
}

static void
debug_request (const struct http_conn *c, const struct http_request *req)
{
  char target[512];

  redact_url (req->target, target, sizeof target);
  nbdkit_debug ("http: > %s %s%s%s%s%s (conn #%" PRIu64 ")", req->method,
                target, req->range ? " Range: " : "",
                req->range ? req->range : "",
                req->content_range ? " Content-Range: " : "",
                req->content_range ? req->content_range : "", c->connects);
}

static void
debug_head (const char *head, size_t len)
{
  while (len > 0)
    {
      const char *eol = memchr (head, '\n', len);
      size_t l = eol ? (size_t)(eol - head) : len;
      size_t adv = eol ? l + 1 : l;

      if (l > 0 && head[l - 1] == '\r')
        l--;
      if (l > 0)
        nbdkit_debug ("http: < %.*s", (int)l, head);
      head += adv;
      len -= adv;
    }
}

/* Sends the request: head then body from the caller's memory. */
static enum http_result
send_request (struct req_ctx *x, const struct http_request *req)
{
  struct http_conn *c = x->c;
  int hlen = format_head (c, req);
  size_t blen = req->body ? req->body_len : 0;

  if (hlen == -1)
    {
      seterr (x, "request head too long");
      return HTTP_ERR_PROTOCOL;
    }
  struct iovec iov[2] = {
    { .iov_base = c->wbuf, .iov_len = hlen },
    { .iov_base = (void *)req->body, .iov_len = blen },
  };
  int iovcnt = blen > 0 ? 2 : 1;

  /* TLS: a small body rides in the head's record (one record, one
   * packet); a big one is written from the caller's buffer.
   */
  if (transport_is_tls (c->t) && blen > 0 && blen <= INLINE_BODY_MAX)
    {
      memcpy (c->wbuf + hlen, req->body, blen);
      iov[0].iov_len += blen;
      iovcnt = 1;
    }
  return transport_result (
      x, transport_send (c->t, iov, iovcnt, x->deadline, x->errbuf, x->errlen),
      "send");
}

/* A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a plain
 * response should begin: an http:// URL pointing at a TLS port.
 */
static bool
looks_like_tls (const struct http_conn *c)
{
  const unsigned char *p = (const unsigned char *)c->rbuf + c->rstart;

  return !transport_is_tls (c->t) && c->rend - c->rstart >= 2
         && (p[0] == 0x15 || p[0] == 0x16) && p[1] == 0x03;
}

/* Reads a response head into rbuf[rstart..), returning its length.  The
 * head ends at the first empty line (CRLF CRLF, or a bare LF variant that
 * the parser then rejects).
 */
static enum http_result
read_head (struct req_ctx *x, size_t *head_len)
{
  struct http_conn *c = x->c;
  size_t scanned = 0;

  for (;;)
    {
      const char *p = c->rbuf + c->rstart;
      size_t avail = c->rend - c->rstart;

      for (size_t i = scanned; i < avail && i < HEAD_MAX; i++)
        {
          size_t end = 0;

          if (p[i] != '\n')
            continue;
          if (i + 1 < avail && p[i + 1] == '\n')
            end = i + 2;
          else if (i + 2 < avail && p[i + 1] == '\r' && p[i + 2] == '\n')
            end = i + 3;
          if (end > 0 && end <= HEAD_MAX)
            {
              *head_len = end;
              return HTTP_OK;
            }
        }
      /* Rescan the last two bytes: the terminator may straddle reads. */
      scanned = avail > 2 ? avail - 2 : 0;
      if (avail >= HEAD_MAX)
        {
          seterr (x, "response head longer than %d bytes", HEAD_MAX);
          return HTTP_ERR_PROTOCOL;
        }
      if (c->rstart > 0 && RBUF_SIZE - c->rend < HEAD_MAX)
        {
          memmove (c->rbuf, p, avail);
          c->rstart = 0;
          c->rend = avail;
        }
      /* Small reads for the head, so that a GET body goes straight from
       * the socket into the caller's buffer instead of through rbuf.
       */
      enum http_result r = fill_upto (x, HEAD_READ_SIZE);
      if (r != HTTP_OK)
        return r;
      if (looks_like_tls (c))
        {
          seterr (x, "the server answered in TLS: use an https:// URL");
          return HTTP_ERR_PROTOCOL;
        }
    }
}

/* Reads the final response head (skipping 1xx) into RESP and consumes it
 * from rbuf; sets *CHUNKED.
 */
static enum http_result
read_final_head (struct req_ctx *x, struct http_response *resp, bool *chunked)
{
  struct http_conn *c = x->c;
  int interim = 0;

  for (;;)
    {
      size_t head_len;
      enum http_result r = read_head (x, &head_len);

      if (r != HTTP_OK)
        return r;
      if (imageio_debug_http)
        debug_head (c->rbuf + c->rstart, head_len);
      if (http_parse_head (c->rbuf + c->rstart, head_len, resp, chunked) == -1)
        {
          seterr (x, "malformed response head");
          return HTTP_ERR_PROTOCOL;
        }
      c->rstart += head_len;
      if (resp->status >= 200)
        return HTTP_OK;
      if (resp->status == 101 || ++interim > MAX_INTERIM)
        {
          seterr (x, "unexpected %d response", resp->status);
          return HTTP_ERR_PROTOCOL;
        }
    }
}

/* Where the body of RESP goes: the caller's buffer or callback for a 2xx,
 * the error text otherwise.
 */
static void
choose_sink (struct sink *s, const struct http_request *req,
             struct http_response *resp)
{
  *s = (struct sink){ .req = req, .resp = resp, .limit = UINT64_MAX };
  if (resp->status < 200 || resp->status > 299)
    {
      s->kind = SINK_ERROR_TEXT;
      s->limit = DISCARD_MAX;
    }
  else if (req->buf)
    {
      s->kind = SINK_BUF;
      s->limit = req->buf_len;
    }
  else if (req->body_fn)
    s->kind = SINK_FN;
  else
    s->kind = SINK_DISCARD;
}

/* Reads the response (skipping 1xx) and its body. */
static enum http_result
read_response (struct req_ctx *x, const struct http_request *req,
               struct http_response *resp)
{
  struct http_conn *c = x->c;
  struct sink s;
  bool chunked, ok;
  enum http_result r;

  r = read_final_head (x, resp, &chunked);
  if (r != HTTP_OK)
    return r;
  choose_sink (&s, req, resp);
  ok = s.kind != SINK_ERROR_TEXT;
  if (!ok && resp->content_length > DISCARD_MAX)
    {
      /* Not worth draining a big error body: what we already hold is
       * enough for the message; close instead.
       */
      size_t avail = c->rend - c->rstart;

      if (avail > sizeof resp->error_text - 1)
        avail = sizeof resp->error_text - 1;
      resp->keep_alive = false;
      resp->content_length = -1;
      sink_push (x, &s, c->rbuf + c->rstart, avail);
      finish_error_text (resp);
      return HTTP_OK;
    }

  if (strcmp (req->method, "HEAD") == 0 || resp->status == 204
      || resp->status == 304)
    r = HTTP_OK;
  else if (chunked)
    r = read_chunked (x, &s);
  else if (resp->content_length >= 0)
    r = read_span (x, &s, resp->content_length);
  else
    {
      /* Delimited by the close: the connection cannot be reused. */
      resp->keep_alive = false;
      r = read_until_close (x, &s);
    }
  if (!ok)
    finish_error_text (resp);
  if (r == HTTP_ERR_PROTOCOL && !ok && s.overflow)
    {
      /* An endless error body: we have the message, drop the connection. */
      resp->keep_alive = false;
      return HTTP_OK;
    }
  return r;
}

/* After a failed send: a server may answer and close before taking the
 * whole body (403, 416 on PUT).  If that answer is readable, it is the
 * result; else the send error R is.
 */
static enum http_result
answer_after_send_error (struct req_ctx *x, const struct http_request *req,
                         struct http_response *resp, enum http_result r)
{
  char saved[256];

  snprintf (saved, sizeof saved, "%s", x->errlen ? x->errbuf : "");
  if (read_response (x, req, resp) == HTTP_OK)
    {
      /* The TLS state after a failed send is not worth a close_notify. */
      resp->keep_alive = false;
      conn_close (x->c, false);
      return HTTP_OK;
    }
  if (x->errlen > 0)
    snprintf (x->errbuf, x->errlen, "%s", saved);
  memset (resp, 0, sizeof *resp);
  resp->content_length = -1;
  return r;
}

/* Whether the request's strings can go into a head as they are. */
static bool
request_ok (const struct http_request *req)
{
  return header_value_ok (req->target) && header_value_ok (req->range)
         && header_value_ok (req->content_range)
         && header_value_ok (req->content_type)
         && strpbrk (req->method, " \r\n") == NULL;
}

/* Sends REQ and reads its response on C, opening it when closed. */
static enum http_result
exchange (struct req_ctx *x, const struct http_request *req,
          struct http_response *resp)
{
  struct http_conn *c = x->c;
  enum http_result r;

  if (!request_ok (req))
    {
      seterr (x, "invalid character in the request");
      return HTTP_ERR_PROTOCOL;
    }
  if (c->t == NULL && (r = conn_open (x)) != HTTP_OK)
    return r;
  /* Bytes left from the previous response would be read as this one's. */
  c->rstart = c->rend = 0;
  if (imageio_debug_http)
    debug_request (c, req);
  r = send_request (x, req);
  if (r == HTTP_ERR_CLOSED || r == HTTP_ERR_IO)
    return answer_after_send_error (x, req, resp, r);
  if (r != HTTP_OK)
    return r;
  return read_response (x, req, resp);
}

enum http_result
http_request (struct http_conn *c, const struct http_request *req,
              struct http_response *resp, char *errbuf, size_t errlen)
{
  struct req_ctx x = { .c = c, .errbuf = errbuf, .errlen = errlen };
  enum http_result r;

  x.timeout_ms = req->timeout_ms > 0        ? req->timeout_ms
                 : c->ep->io_timeout_ms > 0 ? c->ep->io_timeout_ms
                                            : DEFAULT_TIMEOUT_MS;
  x.deadline = clock_now_ms () + x.timeout_ms;
  if (errlen > 0)
    errbuf[0] = '\0';
  memset (resp, 0, sizeof *resp);
  resp->content_length = -1;

  r = exchange (&x, req, resp);
  if (r != HTTP_OK)
    {
      if (imageio_debug_http)
        nbdkit_debug ("http: %s: %s", http_result_str (r),
                      errlen ? errbuf : "");
      conn_close (c, false);
      return r;
    }
  if (!resp->keep_alive)
    conn_close (c, true);
  else if (c->rstart != c->rend || transport_pending (c->t))
    {
      /* The server sent more than the response: do not trust the stream. */
      if (imageio_debug_http)
        nbdkit_debug ("http: %zu unexpected bytes after the response%s; "
                      "closing",
                      c->rend - c->rstart,
                      transport_pending (c->t) ? " (and in TLS)" : "");
      resp->keep_alive = false;
      conn_close (c, false);
    }
  return HTTP_OK;
}

void
http_send (struct http_conn *c, const struct http_request *req,
           struct http_outcome *o)
{
  o->r = http_request (c, req, &o->resp, o->errbuf, sizeof o->errbuf);
}

bool
http_outcome_ok (const struct http_outcome *o, int ok_status)
{
  if (o->r != HTTP_OK)
    return false;
  return ok_status ? o->resp.status == ok_status : o->resp.status / 100 == 2;
}
