/* SPDX-License-Identifier: BSD-3-Clause */
/* The HTTP client's transport: a connected byte stream to an endpoint, over
 * TCP, a Unix path socket or an abstract Unix socket, with TLS (OpenSSL)
 * when the endpoint asks for it.  It knows nothing of HTTP.
 *
 * Contract: every call has a deadline (CLOCK_MONOTONIC ms, common/clock.h)
 * and never waits past it; a failure is a result plus a one-line message
 * in ERRBUF.  Sending and receiving are one code path for plain sockets
 * and TLS.  Nothing raises SIGPIPE: plain sends use MSG_NOSIGNAL and TLS
 * goes through tls-bio.c (nbdkit ignores SIGPIPE only once it serves, and
 * start-up requests come before).
 */
#ifndef IMAGEIO_TRANSPORT_H
#define IMAGEIO_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "unix-path.h"

/* Where connections go.  Filled by the caller, then http_endpoint_init;
 * read-only while connections exist.  The strings belong to the caller.
 */
struct http_endpoint
{
  bool tls;                      /* https */
  const char *host;              /* TCP host name or address, no brackets */
  const char *port;              /* TCP port, decimal */
  char unix_path[UNIX_PATH_MAX]; /* used when unix_len > 0; abstract when */
  size_t unix_len;               /*   unix_path[0] == '\0' (no terminator) */
  const char *host_header;       /* value of the Host header */
  const char *cafile;            /* NULL: OpenSSL's default trust store */
  bool insecure;                 /* skip peer and host name verification */
  int connect_timeout_ms;        /* name lookup + connect + TLS handshake */
  int io_timeout_ms;             /* longest time one request may take */
  void *ssl_ctx;                 /* SSL_CTX *, made by http_endpoint_init */
};

/* Creates the TLS context when ep->tls.  Returns 0, or -1 with a message in
 * ERRBUF (ERRLEN bytes).
 */
int http_endpoint_init (struct http_endpoint *ep, char *errbuf, size_t errlen);
void http_endpoint_free (struct http_endpoint *ep);
/* HOST:PORT, [V6]:PORT, unix:PATH or unix:@NAME, for messages. */
void http_endpoint_name (const struct http_endpoint *ep, char *buf, size_t len);

enum http_result
{
  HTTP_OK = 0,       /* done (for a request: a complete response, any
                      * status) */
  HTTP_ERR_CONNECT,  /* could not connect or complete the TLS handshake */
  HTTP_ERR_CLOSED,   /* the peer closed or reset the stream: a request
                      * may be sent again on a new connection when no
                      * byte of its response arrived */
  HTTP_ERR_TIMEOUT,  /* the deadline passed */
  HTTP_ERR_PROTOCOL, /* malformed or unexpected response */
  HTTP_ERR_IO,       /* the connection broke in the middle of a response,
                      * or another I/O error */
};

const char *http_result_str (enum http_result r);

struct transport;

/* Connects to EP by DEADLINE: name lookup, connect and, for https, the
 * TLS handshake verifying the peer (unless insecure).  Returns NULL with
 * a message in ERRBUF.
 */
struct transport *transport_open (const struct http_endpoint *ep,
                                  int64_t deadline, char *errbuf,
                                  size_t errlen);
/* Closes and frees.  GRACEFUL sends a TLS close_notify (never waiting). */
void transport_close (struct transport *t, bool graceful);
bool transport_is_tls (const struct transport *t);
/* Whether received bytes wait inside the transport (TLS reads ahead:
 * decrypted data not yet handed out), which poll cannot see.
 */
bool transport_pending (const struct transport *t);

/* Sends every byte of the IOVCNT pieces at IOV (which it updates) by
 * DEADLINE.  HTTP_ERR_CLOSED when the peer closed or reset the stream.
 */
enum http_result transport_send (struct transport *t, struct iovec *iov,
                                 int iovcnt, int64_t deadline, char *errbuf,
                                 size_t errlen);
/* Receives at most LEN bytes by DEADLINE: *GOT > 0, or 0 at a clean end of
 * stream (EOF, TLS close_notify).  HTTP_ERR_CLOSED on a reset.
 */
enum http_result transport_recv (struct transport *t, void *buf, size_t len,
                                 size_t *got, int64_t deadline, char *errbuf,
                                 size_t errlen);

#endif
