/* SPDX-License-Identifier: BSD-3-Clause */
/* The HTTP client's transport; see transport.h. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "resolve.h"
#include "tls-bio.h"
#include "transport.h"

/* Largest single SSL_write. */
#define TLS_WRITE_MAX (1024 * 1024)
/* TLS reads ahead into a buffer of this size: one recv brings several
 * records.  Without read-ahead OpenSSL makes two recv calls per 16 KiB
 * record (its header, then the rest).
 */
#define TLS_READ_BUFFER (128 * 1024)
/* TLS writes go through a buffer of this size in front of the socket,
 * flushed at the end of every transport_send: a 1 MiB SSL_write is 64
 * records, otherwise one send call each.
 */
#define TLS_WRITE_BUFFER (256 * 1024)

struct transport
{
  const struct http_endpoint *ep;
  int fd;
  SSL *ssl; /* NULL for a plain stream */
};

static void seterr (char *errbuf, size_t errlen, const char *fs, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
seterr (char *errbuf, size_t errlen, const char *fs, ...)
{
  va_list ap;

  if (errlen == 0)
    return;
  va_start (ap, fs);
  vsnprintf (errbuf, errlen, fs, ap);
  va_end (ap);
}

const char *
http_result_str (enum http_result r)
{
  switch (r)
    {
    case HTTP_OK:
      return "ok";
    case HTTP_ERR_CONNECT:
      return "connect failed";
    case HTTP_ERR_CLOSED:
      return "connection closed";
    case HTTP_ERR_TIMEOUT:
      return "timed out";
    case HTTP_ERR_PROTOCOL:
      return "protocol error";
    case HTTP_ERR_IO:
      return "I/O error";
    }
  return "unknown error";
}

/* Milliseconds left until DEADLINE, at least 0. */
static int
remaining_ms (int64_t deadline)
{
  int64_t left = deadline - clock_now_ms ();

  return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits for EVENTS on FD until DEADLINE.  Returns 1 when ready, 0 on
 * timeout, -1 with errno on error.  A hang-up or error counts as ready: the
 * following read or write reports what happened.
 */
static int
wait_fd (int fd, short events, int64_t deadline)
{
  struct pollfd pfd = { .fd = fd, .events = events };

  for (;;)
    {
      int r = poll (&pfd, 1, remaining_ms (deadline));

      if (r >= 0)
        return r > 0;
      if (errno != EINTR)
        return -1;
    }
}

void
http_endpoint_name (const struct http_endpoint *ep, char *buf, size_t len)
{
  if (ep->unix_len > 0)
    {
      if (ep->unix_path[0] == '\0')
        snprintf (buf, len, "unix:@%.*s", (int)ep->unix_len - 1,
                  ep->unix_path + 1);
      else
        snprintf (buf, len, "unix:%.*s", (int)ep->unix_len, ep->unix_path);
    }
  else if (strchr (ep->host, ':'))
    snprintf (buf, len, "[%s]:%s", ep->host, ep->port);
  else
    snprintf (buf, len, "%s:%s", ep->host, ep->port);
}

/* Describes the first queued OpenSSL error, or FALLBACK. */
static const char *
ssl_err_text (char *buf, size_t len, const char *fallback)
{
  unsigned long e = ERR_get_error ();
  const char *reason;

  if (e == 0)
    return fallback;
  reason = ERR_reason_error_string (e);
  if (reason)
    snprintf (buf, len, "%s", reason);
  else
    ERR_error_string_n (e, buf, len);
  return buf;
}

/* --------------------------------------------------------------------- */

/* Loads the trust store into CTX unless EP is insecure. */
static int
load_trust (SSL_CTX *ctx, const struct http_endpoint *ep, char *errbuf,
            size_t errlen)
{
  char ebuf[256];

  if (ep->insecure)
    {
      SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
      return 0;
    }
  SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, NULL);
  if (ep->cafile == NULL)
    {
      if (SSL_CTX_set_default_verify_paths (ctx))
        return 0;
      seterr (errbuf, errlen, "cannot load the default CA store: %s",
              ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
      return -1;
    }
  if (access (ep->cafile, R_OK) == -1)
    {
      seterr (errbuf, errlen, "cannot read CA file %s: %s", ep->cafile,
              strerror (errno));
      return -1;
    }
  if (!SSL_CTX_load_verify_locations (ctx, ep->cafile, NULL))
    {
      seterr (errbuf, errlen, "cannot load CA file %s: %s", ep->cafile,
              ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
      return -1;
    }
  return 0;
}

int
http_endpoint_init (struct http_endpoint *ep, char *errbuf, size_t errlen)
{
  SSL_CTX *ctx;
  char ebuf[256];

  ep->ssl_ctx = NULL;
  if (!ep->tls)
    return 0;

  ERR_clear_error ();
  ctx = SSL_CTX_new (TLS_client_method ());
  if (ctx == NULL || !SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION))
    {
      seterr (errbuf, errlen, "cannot create the TLS context: %s",
              ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
      SSL_CTX_free (ctx);
      return -1;
    }
  SSL_CTX_set_mode (ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                             | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* Every wait for input first asks SSL_read, so bytes read ahead are
   * never left behind a poll (transport_recv).
   */
  SSL_CTX_set_read_ahead (ctx, 1);
  SSL_CTX_set_default_read_buffer_len (ctx, TLS_READ_BUFFER);
  if (load_trust (ctx, ep, errbuf, errlen) == -1)
    {
      SSL_CTX_free (ctx);
      return -1;
    }
  ep->ssl_ctx = ctx;
  return 0;
}

void
http_endpoint_free (struct http_endpoint *ep)
{
  SSL_CTX_free (ep->ssl_ctx);
  ep->ssl_ctx = NULL;
}

/* ---------------------------------------------------------------------
 * Connecting.
 */

/* Non-blocking connect of a new socket to ADDR, waiting until DEADLINE.
 * Returns the fd or -1 with errno set (ETIMEDOUT on timeout).
 */
static int
connect_addr (int family, const struct sockaddr *addr, socklen_t addrlen,
              int64_t deadline)
{
  int fd, err = 0;
  socklen_t errlen = sizeof err;

  fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return -1;

  for (;;)
    {
      if (connect (fd, addr, addrlen) == 0)
        return fd;
      if (errno == EINTR)
        continue;
      /* A Unix socket whose backlog is full says EAGAIN and must be tried
       * again; poll cannot wait for that, so sleep a little.
       */
      if (errno == EAGAIN && family == AF_UNIX)
        {
          if (remaining_ms (deadline) == 0)
            {
              errno = ETIMEDOUT;
              goto err;
            }
          nanosleep (&(struct timespec){ .tv_nsec = 5000000 }, NULL);
          continue;
        }
      if (errno != EINPROGRESS)
        goto err;
      break;
    }

  switch (wait_fd (fd, POLLOUT, deadline))
    {
    case -1:
      goto err;
    case 0:
      errno = ETIMEDOUT;
      goto err;
    }
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == -1)
    goto err;
  if (err != 0)
    {
      errno = err;
      goto err;
    }
  return fd;

err:
  err = errno;
  close (fd);
  errno = err;
  return -1;
}

static bool
is_ip_literal (const char *host)
{
  unsigned char buf[sizeof (struct in6_addr)];

  return inet_pton (AF_INET, host, buf) == 1
         || inet_pton (AF_INET6, host, buf) == 1;
}

/* Resolves the endpoint's host by DEADLINE: address literals at once,
 * names through resolve.c.  Returns 0, or -1 with the message set.
 */
static int
resolve (const struct http_endpoint *ep, const char *name, int64_t deadline,
         struct addrinfo **res, char *errbuf, size_t errlen)
{
  struct addrinfo hints = {
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST,
  };
  int r;

  if (!is_ip_literal (ep->host))
    return resolve_host (ep->host, ep->port, deadline, res, errbuf, errlen);
  r = getaddrinfo (ep->host, ep->port, &hints, res);
  if (r != 0)
    seterr (errbuf, errlen, "%s: %s", name, gai_strerror (r));
  return r == 0 ? 0 : -1;
}

static int
connect_tcp (const struct http_endpoint *ep, const char *name, int64_t deadline,
             char *errbuf, size_t errlen)
{
  struct addrinfo *res, *ai;
  int fd = -1, err = 0, one = 1;

  if (resolve (ep, name, deadline, &res, errbuf, errlen) == -1)
    return -1;
  for (ai = res; ai != NULL; ai = ai->ai_next)
    {
      fd = connect_addr (ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline);
      if (fd >= 0)
        break;
      err = errno;
      if (err == ETIMEDOUT)
        break;
    }
  freeaddrinfo (res);
  if (fd == -1)
    {
      seterr (errbuf, errlen, "connect to %s: %s", name,
              err == ETIMEDOUT ? "timed out" : strerror (err));
      return -1;
    }
  /* Request heads are small and go out before the body: no Nagle delay. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int
connect_unix (const struct http_endpoint *ep, const char *name,
              int64_t deadline, char *errbuf, size_t errlen)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  if (ep->unix_len > sizeof sun.sun_path)
    {
      seterr (errbuf, errlen, "Unix socket name too long");
      return -1;
    }
  memcpy (sun.sun_path, ep->unix_path, ep->unix_len);
  fd = connect_addr (AF_UNIX, (struct sockaddr *)&sun,
                     offsetof (struct sockaddr_un, sun_path) + ep->unix_len,
                     deadline);
  if (fd == -1)
    seterr (errbuf, errlen, "connect to %s: %s", name,
            errno == ETIMEDOUT ? "timed out" : strerror (errno));
  return fd;
}

/* What OpenSSL says when a plain HTTP server answers our ClientHello. */
static bool
is_plain_http_reply (unsigned long e)
{
  int reason = ERR_GET_REASON (e);

  return ERR_GET_LIB (e) == ERR_LIB_SSL
         && (reason == SSL_R_WRONG_VERSION_NUMBER
             || reason == SSL_R_PACKET_LENGTH_TOO_LONG
             || reason == SSL_R_HTTP_REQUEST);
}

/* Asks OpenSSL to check the peer's name (or address) unless insecure, and
 * sends SNI for names.
 */
static int
tls_set_peer (struct transport *t, const char *name, char *errbuf,
              size_t errlen)
{
  const struct http_endpoint *ep = t->ep;

  if (!is_ip_literal (ep->host))
    {
      /* SNI lets the server pick its certificate even when we do not
       * check it.
       */
      SSL_set_tlsext_host_name (t->ssl, ep->host);
      if (!ep->insecure && !SSL_set1_host (t->ssl, ep->host))
        {
          seterr (errbuf, errlen,
                  "TLS with %s: cannot set the expected host "
                  "name",
                  name);
          return -1;
        }
    }
  else if (!ep->insecure
           && !X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (t->ssl),
                                              ep->host))
    {
      seterr (errbuf, errlen, "TLS with %s: cannot set the expected address",
              name);
      return -1;
    }
  return 0;
}

/* Says why a handshake failed: certificate, peer gone, plain HTTP. */
static void
tls_handshake_error (struct transport *t, const char *name, int sslerr,
                     char *errbuf, size_t errlen)
{
  long vr = SSL_get_verify_result (t->ssl);
  char ebuf[256];

  if (vr != X509_V_OK)
    seterr (errbuf, errlen,
            "TLS handshake with %s failed: certificate "
            "verify failed (%s)",
            name, X509_verify_cert_error_string (vr));
  else if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error () == 0)
    /* A plain HTTP server may close (or reset) before its 400 to our
     * ClientHello arrives, so the reply that tells it apart can be lost.
     */
    seterr (errbuf, errlen,
            "TLS handshake with %s failed: %s (if this port does not "
            "speak TLS, use an http:// URL)",
            name, errno ? strerror (errno) : "connection closed by peer");
  else if (is_plain_http_reply (ERR_peek_error ()))
    seterr (errbuf, errlen,
            "TLS handshake with %s failed: the server does "
            "not speak TLS on this port: use an http:// URL",
            name);
  else
    seterr (errbuf, errlen, "TLS handshake with %s failed: %s", name,
            ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
}

/* TLS handshake on t->fd, verifying the peer and its name unless
 * insecure.
 */
static int
tls_handshake (struct transport *t, const char *name, int64_t deadline,
               char *errbuf, size_t errlen)
{
  char ebuf[256];
  BIO *bio, *wbio;

  ERR_clear_error ();
  t->ssl = SSL_new (t->ep->ssl_ctx);
  if (t->ssl == NULL)
    {
      seterr (errbuf, errlen, "TLS with %s: %s", name,
              ssl_err_text (ebuf, sizeof ebuf, "SSL_new failed"));
      return -1;
    }
  /* Reads from the socket BIO; writes through a buffer BIO in front of
   * it (the SSL object then holds a reference to each).
   */
  bio = tls_bio_new (t->fd);
  wbio = BIO_new (BIO_f_buffer ());
  if (bio == NULL || wbio == NULL
      || BIO_set_write_buffer_size (wbio, TLS_WRITE_BUFFER) != 1
      || !BIO_up_ref (bio))
    {
      BIO_free (bio);
      BIO_free (wbio);
      seterr (errbuf, errlen, "TLS with %s: cannot create the socket BIO",
              name);
      return -1;
    }
  BIO_push (wbio, bio);
  SSL_set_bio (t->ssl, bio, wbio);
  if (tls_set_peer (t, name, errbuf, errlen) == -1)
    return -1;

  for (;;)
    {
      int r, err, w;

      ERR_clear_error ();
      errno = 0;
      r = SSL_connect (t->ssl);
      if (r == 1)
        return 0;
      err = SSL_get_error (t->ssl, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        {
          tls_handshake_error (t, name, err, errbuf, errlen);
          return -1;
        }
      w = wait_fd (t->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                   deadline);
      if (w != 1)
        {
          seterr (errbuf, errlen, "TLS handshake with %s failed: %s", name,
                  w == 0 ? "timed out" : strerror (errno));
          return -1;
        }
    }
}

struct transport *
transport_open (const struct http_endpoint *ep, int64_t deadline, char *errbuf,
                size_t errlen)
{
  struct transport *t;
  char name[300];

  if (ep->tls && ep->unix_len == 0 && ep->ssl_ctx == NULL)
    {
      seterr (errbuf, errlen,
              "TLS requested but http_endpoint_init was not "
              "called");
      return NULL;
    }
  t = calloc (1, sizeof *t);
  if (t == NULL)
    {
      seterr (errbuf, errlen, "out of memory");
      return NULL;
    }
  t->ep = ep;
  http_endpoint_name (ep, name, sizeof name);
  if (ep->unix_len > 0)
    t->fd = connect_unix (ep, name, deadline, errbuf, errlen);
  else
    t->fd = connect_tcp (ep, name, deadline, errbuf, errlen);
  if (t->fd == -1)
    {
      free (t);
      return NULL;
    }
  if (ep->tls && ep->unix_len == 0
      && tls_handshake (t, name, deadline, errbuf, errlen) == -1)
    {
      transport_close (t, false);
      return NULL;
    }
  return t;
}

void
transport_close (struct transport *t, bool graceful)
{
  if (t == NULL)
    return;
  if (t->ssl)
    {
      if (graceful)
        {
          ERR_clear_error ();
          SSL_shutdown (t->ssl);
        }
      SSL_free (t->ssl);
    }
  close (t->fd);
  free (t);
}

bool
transport_is_tls (const struct transport *t)
{
  return t->ssl != NULL;
}

bool
transport_pending (const struct transport *t)
{
  return t->ssl != NULL && SSL_pending (t->ssl) > 0;
}

/* ---------------------------------------------------------------------
 * Moving bytes.  try_send and try_recv make one attempt, plain or TLS:
 * they return the bytes moved (> 0), 0 when the stream would block (*WANT
 * says for what), or -1 with *R and the message set.  try_recv returns -2
 * at a clean end of stream.  One loop around them waits until the deadline.
 */

static bool
errno_is_closed (int e)
{
  return e == ECONNRESET || e == EPIPE || e == ECONNABORTED;
}

/* True when a failed SSL call means the peer ended the stream: close_notify,
 * a plain EOF without close_notify (errno 0), or OpenSSL 3's "unexpected
 * eof" error.
 */
static bool
tls_is_eof (int sslerr)
{
  if (sslerr == SSL_ERROR_ZERO_RETURN)
    return true;
  if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error () == 0 && errno == 0)
    return true;
  if (sslerr == SSL_ERROR_SSL
      && ERR_GET_REASON (ERR_peek_error ())
             == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    {
      ERR_clear_error ();
      return true;
    }
  return false;
}

/* A failed system call or SSL call that is not "would block". */
static ssize_t
io_failure (struct transport *t, int sslerr, const char *what,
            enum http_result *r, char *errbuf, size_t errlen)
{
  char ebuf[256];
  int e = errno;

  if (t->ssl == NULL || (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error () == 0))
    {
      seterr (errbuf, errlen, "%s: %s", what, strerror (e));
      *r = errno_is_closed (e) ? HTTP_ERR_CLOSED : HTTP_ERR_IO;
    }
  else
    {
      seterr (errbuf, errlen, "%s: %s", what,
              ssl_err_text (ebuf, sizeof ebuf, "TLS error"));
      *r = HTTP_ERR_IO;
    }
  return -1;
}

static ssize_t
try_send (struct transport *t, struct iovec *iov, int iovcnt, short *want,
          enum http_result *r, char *errbuf, size_t errlen)
{
  if (t->ssl == NULL)
    {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
      ssize_t n = sendmsg (t->fd, &msg, MSG_NOSIGNAL);

      if (n >= 0)
        return n;
      *want = POLLOUT;
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return io_failure (t, 0, "send", r, errbuf, errlen);
    }
  else
    {
      size_t len = iov->iov_len < TLS_WRITE_MAX ? iov->iov_len : TLS_WRITE_MAX;
      size_t written = 0;
      int err;

      ERR_clear_error ();
      errno = 0;
      if (SSL_write_ex (t->ssl, iov->iov_base, len, &written) == 1)
        return written;
      err = SSL_get_error (t->ssl, 0);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        {
          *want = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
          return 0;
        }
      if (tls_is_eof (err))
        {
          seterr (errbuf, errlen, "send: connection closed by peer");
          *r = HTTP_ERR_CLOSED;
          return -1;
        }
      return io_failure (t, err, "send", r, errbuf, errlen);
    }
}

static ssize_t
try_recv (struct transport *t, void *buf, size_t len, short *want,
          enum http_result *r, char *errbuf, size_t errlen)
{
  if (t->ssl == NULL)
    {
      ssize_t n = recv (t->fd, buf, len, 0);

      if (n > 0)
        return n;
      if (n == 0)
        return -2;
      *want = POLLIN;
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return io_failure (t, 0, "recv", r, errbuf, errlen);
    }
  else
    {
      size_t got = 0;
      int err;

      ERR_clear_error ();
      errno = 0;
      if (SSL_read_ex (t->ssl, buf, len, &got) == 1)
        return got;
      err = SSL_get_error (t->ssl, 0);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        {
          *want = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
          return 0;
        }
      if (tls_is_eof (err))
        return -2;
      return io_failure (t, err, "recv", r, errbuf, errlen);
    }
}

/* Waits for WANT until DEADLINE. */
static enum http_result
wait_until (struct transport *t, short want, int64_t deadline, const char *what,
            char *errbuf, size_t errlen)
{
  int w = wait_fd (t->fd, want, deadline);

  if (w == 1)
    return HTTP_OK;
  if (w == 0)
    {
      seterr (errbuf, errlen, "%s: timed out", what);
      return HTTP_ERR_TIMEOUT;
    }
  seterr (errbuf, errlen, "poll: %s", strerror (errno));
  return HTTP_ERR_IO;
}

/* Sends what the TLS write buffer holds by DEADLINE. */
static enum http_result
tls_flush (struct transport *t, int64_t deadline, char *errbuf, size_t errlen)
{
  BIO *wbio = SSL_get_wbio (t->ssl);

  for (;;)
    {
      enum http_result r;
      int e;

      errno = 0;
      if (BIO_flush (wbio) > 0)
        return HTTP_OK;
      e = errno;
      if (!BIO_should_retry (wbio))
        {
          seterr (errbuf, errlen, "send: %s",
                  e ? strerror (e) : "connection closed by peer");
          return e == 0 || errno_is_closed (e) ? HTTP_ERR_CLOSED : HTTP_ERR_IO;
        }
      r = wait_until (t, POLLOUT, deadline, "send", errbuf, errlen);
      if (r != HTTP_OK)
        return r;
    }
}

enum http_result
transport_send (struct transport *t, struct iovec *iov, int iovcnt,
                int64_t deadline, char *errbuf, size_t errlen)
{
  while (iovcnt > 0)
    {
      enum http_result r = HTTP_OK;
      short want = 0;
      ssize_t n = try_send (t, iov, iovcnt, &want, &r, errbuf, errlen);

      if (n < 0)
        return r;
      if (n == 0)
        {
          r = wait_until (t, want, deadline, "send", errbuf, errlen);
          if (r != HTTP_OK)
            return r;
          continue;
        }
      while (iovcnt > 0 && (size_t)n >= iov->iov_len)
        {
          n -= iov->iov_len;
          iov++, iovcnt--;
        }
      if (iovcnt > 0)
        {
          iov->iov_base = (char *)iov->iov_base + n;
          iov->iov_len -= n;
        }
    }
  return t->ssl ? tls_flush (t, deadline, errbuf, errlen) : HTTP_OK;
}

enum http_result
transport_recv (struct transport *t, void *buf, size_t len, size_t *got,
                int64_t deadline, char *errbuf, size_t errlen)
{
  *got = 0;
  for (;;)
    {
      enum http_result r = HTTP_OK;
      short want = 0;
      ssize_t n = try_recv (t, buf, len, &want, &r, errbuf, errlen);

      if (n > 0)
        {
          *got = n;
          return HTTP_OK;
        }
      if (n == -2)
        return HTTP_OK; /* end of stream */
      if (n < 0)
        return r;
      r = wait_until (t, want, deadline, "recv", errbuf, errlen);
      if (r != HTTP_OK)
        return r;
    }
}
