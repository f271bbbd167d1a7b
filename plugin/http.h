/* A small HTTP/1.1 client for the imageio protocol: one kept-alive connection
 * per struct http_conn, over TCP, a Unix path socket or an abstract Unix
 * socket, with optional TLS (OpenSSL).
 *
 * Why not libcurl: Debian 12's libcurl (7.88) opens a new connection for
 * every request on an abstract Unix socket, which is what every oVirt host
 * uses; see DESIGN.md "The HTTP client".
 *
 * Contract: a struct http_conn is used by one thread at a time (the pool
 * hands it out).  Every wait is bounded by poll timeouts.  Request and
 * response bodies move straight between the socket and the caller's buffer.
 */
#ifndef IMAGEIO_HTTP_H
#define IMAGEIO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where connections go.  Filled by the caller, then http_endpoint_init;
 * read-only while connections exist.
 */
struct http_endpoint
{
  bool tls;                     /* https */
  char *host;                   /* TCP host name or address, no brackets */
  char *port;                   /* TCP port, decimal */
  char unix_path[108];          /* used when unix_len > 0; abstract when */
  size_t unix_len;              /*   unix_path[0] == '\0' (no terminator) */
  char *host_header;            /* value of the Host header */
  char *cafile;                 /* NULL: OpenSSL's default trust store */
  bool insecure;                /* skip peer and host name verification */
  int connect_timeout_ms;       /* connect + TLS handshake */
  int io_timeout_ms;            /* longest wait for any single read/write */
  void *ssl_ctx;                /* SSL_CTX *, made by http_endpoint_init */
};

/* Creates the TLS context when ep->tls.  Returns 0, or -1 with a message in
 * ERRBUF (ERRLEN bytes).
 */
int http_endpoint_init (struct http_endpoint *ep, char *errbuf, size_t errlen);
void http_endpoint_free (struct http_endpoint *ep);

enum http_result
{
  HTTP_OK = 0,         /* a complete response was read (any status) */
  HTTP_ERR_CONNECT,    /* could not connect or complete the TLS handshake */
  HTTP_ERR_CLOSED,     /* the connection was closed or reset before any byte
                        * of the response arrived: the request may be sent
                        * again on a new connection */
  HTTP_ERR_TIMEOUT,    /* a wait exceeded io_timeout_ms */
  HTTP_ERR_PROTOCOL,   /* malformed or unexpected response */
  HTTP_ERR_IO,         /* the connection broke in the middle of a response */
};

/* Receives the body of a 2xx response in pieces.  Returns 0, or -1 to abort
 * (the request then fails with HTTP_ERR_IO and the connection is closed).
 */
typedef int (*http_body_fn) (void *opaque, const void *data, size_t len);

struct http_request
{
  const char *method;          /* "GET", "PUT", "PATCH", "OPTIONS" */
  const char *target;          /* path and query, e.g. "/images/T?flush=n" */
  const char *range;           /* Range value or NULL */
  const char *content_range;   /* Content-Range value or NULL */
  const char *content_type;    /* Content-Type value or NULL */
  const void *body;            /* request body (PUT, PATCH) or NULL */
  size_t body_len;             /* Content-Length is sent when body != NULL */

  /* Where the body of a 2xx response goes: into BUF (at most BUF_LEN bytes;
   * a longer body is HTTP_ERR_PROTOCOL), or to BODY_FN when BUF is NULL.
   * With neither, a 2xx body is read and discarded.
   */
  void *buf;
  size_t buf_len;
  http_body_fn body_fn;
  void *opaque;

  /* When > 0, this request's own time limit in ms, used instead of the
   * endpoint's io_timeout_ms: each wait (for sending, for the answer to
   * start, for more of it) may last until this long after the request
   * began, so a server may think for minutes before its first byte.  A
   * body that keeps arriving is never cut here: BODY_FN stops it.
   * Connecting keeps connect_timeout_ms.
   */
  int timeout_ms;
};

struct http_response
{
  int status;                  /* e.g. 206 */
  char reason[64];             /* reason phrase, truncated */
  bool keep_alive;             /* false: the connection is now closed */
  int64_t content_length;      /* -1 when absent (chunked or until close) */
  uint64_t body_len;           /* body bytes received */
  char content_range[96];      /* "" when absent */
  char content_type[64];       /* "" when absent */
  char allow[128];             /* "" when absent */
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

/* Sends REQ and reads the whole response into RESP, connecting first when
 * the connection is not open.  Never retries: the caller decides.  On any
 * result but HTTP_OK the connection is closed.  ERRBUF receives a one-line
 * description of a failure (errno text, TLS verification error, ...).
 */
enum http_result http_request (struct http_conn *c,
                               const struct http_request *req,
                               struct http_response *resp,
                               char *errbuf, size_t errlen);

const char *http_result_str (enum http_result r);

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

/* Parses one chunk-size line (hex digits, optional ";ext") of LEN bytes, no
 * CRLF.  Returns 0 and sets *SIZE, or -1.
 */
int http_parse_chunk_size (const char *line, size_t len, uint64_t *size);

#endif
