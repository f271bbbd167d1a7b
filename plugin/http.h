/* SPDX-License-Identifier: BSD-3-Clause */
/* A small HTTP/1.1 client for the imageio protocol: one kept-alive connection
 * per struct http_conn, on a transport (transport.h: TCP, a Unix path
 * socket or an abstract Unix socket, with optional TLS).
 *
 * Why not libcurl: Debian 12's libcurl (7.88) opens a new connection for
 * every request on an abstract Unix socket, which is what every oVirt host
 * uses; see docs/design.md, "Why the HTTP client is our own".
 *
 * Contract: a struct http_conn is used by one thread at a time (the pool
 * hands it out).  Every request has a total deadline (name lookup,
 * connect, TLS handshake, sending and receiving included).  Request and
 * response bodies move straight between the socket and the caller's buffer.
 */
#ifndef IMAGEIO_HTTP_H
#define IMAGEIO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport.h"

/* Receives the body of a 2xx response in pieces.  Returns 0, or -1 to abort
 * (the request then fails with HTTP_ERR_IO and the connection is closed).
 */
typedef int (*http_body_fn) (void *opaque, const void *data, size_t len);

struct http_request
{
  const char *method;        /* "GET", "PUT", "PATCH", "OPTIONS" */
  const char *target;        /* path and query, e.g. "/images/T?flush=n" */
  const char *range;         /* Range value or NULL */
  const char *content_range; /* Content-Range value or NULL */
  const char *content_type;  /* Content-Type value or NULL */
  const void *body;          /* request body (PUT, PATCH) or NULL */
  size_t body_len;           /* Content-Length is sent when body != NULL */

  /* Where the body of a 2xx response goes: into BUF (at most BUF_LEN bytes;
   * a longer body is HTTP_ERR_PROTOCOL), or to BODY_FN when BUF is NULL.
   * With neither, a 2xx body is read and discarded.
   */
  void *buf;
  size_t buf_len;
  http_body_fn body_fn;
  void *opaque;

  /* The whole time the request may take, connecting included, in ms;
   * 0: the endpoint's io_timeout_ms.
   */
  int timeout_ms;
};

struct http_response
{
  int status;             /* e.g. 206 */
  char reason[64];        /* reason phrase, truncated */
  bool keep_alive;        /* false: the connection is now closed */
  int64_t content_length; /* -1 when absent (chunked or until close) */
  uint64_t body_len;      /* body bytes received */
  char content_range[96]; /* "" when absent */
  char content_type[64];  /* "" when absent */
  char allow[128];        /* "" when absent */
  /* For a non-2xx status: the start of the body, NUL-terminated, trailing
   * whitespace trimmed (the server's one-line message).
   */
  char error_text[256];
};

struct http_conn;

/* A new connection object; no socket is opened until the first request. */
struct http_conn *http_conn_new (const struct http_endpoint *ep);
/* Closes the socket (if any) and frees. */
void http_conn_free (struct http_conn *c);
/* Closes the socket; the next request opens a new one. */
void http_conn_close (struct http_conn *c);
bool http_conn_is_open (const struct http_conn *c);
/* How many sockets this object has opened so far. */
uint64_t http_conn_connects (const struct http_conn *c);
/* How many sockets all connection objects have opened so far. */
uint64_t http_total_connects (void);

/* Sends REQ and reads the whole response into RESP, connecting first when
 * the connection is not open.  Never retries: the caller decides.  On any
 * result but HTTP_OK the connection is closed.  ERRBUF receives a one-line
 * description of a failure (errno text, TLS verification error, ...).
 */
enum http_result http_request (struct http_conn *c,
                               const struct http_request *req,
                               struct http_response *resp, char *errbuf,
                               size_t errlen);

/* What one request came to: the transport's result, the answer (when R is
 * HTTP_OK) and the transport's one-line error (when it is not), kept
 * together from the socket to the message.
 */
struct http_outcome
{
  enum http_result r;
  struct http_response resp;
  char errbuf[256];
};

/* http_request into O. */
void http_send (struct http_conn *c, const struct http_request *req,
                struct http_outcome *o);
/* Whether O is an answer with status OK_STATUS (0: any 2xx). */
bool http_outcome_ok (const struct http_outcome *o, int ok_status);

/* Debug flag: log each request line and response head (-D imageio.http=1). */
extern int imageio_debug_http;

/* --- http-parse.c: pure response head parsing (fuzzed, unit tested) --- */

/* Parses a complete response head (status line and headers, ending with an
 * empty line) of LEN bytes.  Fills status, reason, keep_alive,
 * content_length, content_range, content_type, allow; sets *CHUNKED.
 * Strict: a malformed status line, header line, duplicate or conflicting
 * Content-Length, or a non-numeric length gives -1.  Never reads past LEN.
 */
int http_parse_head (const char *head, size_t len, struct http_response *resp,
                     bool *chunked);

/* A chunked body being decoded: zero it before the first call. */
struct http_chunked
{
  int state;
  uint64_t remaining; /* chunk-size, then data bytes left */
  unsigned digits;    /* hex digits of the chunk-size so far */
  size_t line_len;    /* bytes of the size or trailer line */
  size_t trailer_bytes;
};

/* Longest chunk-size line and trailer section accepted. */
#define HTTP_CHUNK_LINE_MAX 4096
#define HTTP_CHUNK_TRAILER_MAX (16 * 1024)

/* Decodes, in place, the next *LEN bytes of a chunked body at BUF (RFC
 * 9112 7.1; strict: CRLF line ends, hex sizes that fit 64 bits, bounded
 * lines): the body's data is moved to the start of BUF and *LEN set to
 * its length.  Returns -2 when the body needs more bytes (all input was
 * used), -1 on a framing error, or, at the end of the body, the number of
 * bytes that followed it, moved to BUF + *LEN.  Pure: the I/O loop and
 * the fuzzer call it the same way (the model is picohttpparser's
 * phr_decode_chunked).
 */
ssize_t http_decode_chunked (struct http_chunked *d, char *buf, size_t *len);

#endif
