/* The HTTP/1.1 client: one kept-alive connection per struct http_conn, over
 * TCP, a Unix path socket or an abstract Unix socket, with optional TLS.
 *
 * Contract (see http.h): one thread uses a connection at a time; every wait
 * is a poll() bounded by the endpoint's timeouts; request bodies are sent
 * from the caller's pointer and 2xx response bodies are received straight
 * into the caller's buffer; on any result but HTTP_OK the socket is closed.
 * HTTP_ERR_CLOSED means "closed or reset before the first byte of the
 * response": the pool retries those on a new connection.
 *
 * Only nbdkit_debug is used from nbdkit: failures are reported through the
 * result and ERRBUF, and the caller words the nbdkit_error.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
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

#include "http.h"
#include "redact.h"

NBDKIT_DLL_PUBLIC int imageio_debug_http = 0;

/* The longest response head (status line and headers) we accept. */
#define HEAD_MAX (16 * 1024)
/* The connection's receive buffer: holds a head, chunk-size lines and the
 * pieces handed to a body callback.  Large 2xx bodies bypass it.
 */
#define RBUF_SIZE (256 * 1024)
/* Bytes asked for per read while reading a response head. */
#define HEAD_READ_SIZE 4096
/* Request head buffer; a TLS request body up to INLINE_BODY_MAX bytes is
 * appended to it so that a small PATCH goes out as one TLS record.
 */
#define WBUF_SIZE 8192
#define INLINE_BODY_MAX 4096
/* Largest single SSL_write. */
#define TLS_WRITE_MAX (1024 * 1024)
/* A non-2xx body longer than this is not drained: the connection closes. */
#define DISCARD_MAX (1024 * 1024)
/* Longest chunk-size or trailer line. */
#define LINE_MAX_LEN 4096
/* How many 1xx interim responses we skip before giving up. */
#define MAX_INTERIM 16

#define DEFAULT_TIMEOUT_MS 60000

struct http_conn
{
  const struct http_endpoint *ep;
  int fd;   /* -1 when closed */
  SSL *ssl; /* NULL unless TLS and open */
  uint64_t connects;
  bool got_response_byte; /* a byte of the current response arrived */
  size_t rstart, rend;    /* unread bytes are rbuf[rstart..rend) */
  char wbuf[WBUF_SIZE + INLINE_BODY_MAX];
  char rbuf[RBUF_SIZE];
};

/* Per-request error reporting: the result plus a one-line message. */
struct req_ctx
{
  struct http_conn *c;
  char *errbuf;
  size_t errlen;
  int timeout_ms;               /* the request's own limit, or 0 */
  int64_t deadline;             /* when it runs out (now_ms clock) */
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

static int
io_timeout (const struct http_endpoint *ep)
{
  return ep->io_timeout_ms > 0 ? ep->io_timeout_ms : DEFAULT_TIMEOUT_MS;
}

static int64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until DEADLINE, at least 0. */
static int
remaining_ms (int64_t deadline)
{
  int64_t left = deadline - now_ms ();

  return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* How long the next wait may last: until the request's own deadline when
 * it has one, else the endpoint's io timeout.  LIMIT_MS is the limit to
 * name when a wait times out.
 */
static int
wait_ms (const struct req_ctx *x)
{
  return x->timeout_ms > 0 ? remaining_ms (x->deadline)
                           : io_timeout (x->c->ep);
}

static int
limit_ms (const struct req_ctx *x)
{
  return x->timeout_ms > 0 ? x->timeout_ms : io_timeout (x->c->ep);
}

/* Waits for EVENTS on FD for at most MS.  Returns 1 when ready, 0 on
 * timeout, -1 with errno on error.  A hang-up or error counts as ready: the
 * following read or write reports what happened.
 */
static int
wait_fd (int fd, short events, int ms)
{
  struct pollfd pfd = { .fd = fd, .events = events };
  int64_t deadline = now_ms () + ms;

  for (;;)
    {
      int r = poll (&pfd, 1, ms);

      if (r >= 0)
        return r > 0;
      if (errno != EINTR)
        return -1;
      ms = remaining_ms (deadline);
    }
}

/* A human name for the endpoint in messages: HOST:PORT or unix:PATH
 * (unix:@NAME for an abstract socket).
 */
static void
endpoint_name (const struct http_endpoint *ep, char *buf, size_t len)
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

/* ---------------------------------------------------------------------
 * SIGPIPE: OpenSSL's socket BIO writes with write(), which raises SIGPIPE
 * when the peer is gone, and nbdkit does not promise to ignore it.  Rather
 * than juggling the thread's signal mask around every SSL call, TLS goes
 * through this small BIO that calls send(MSG_NOSIGNAL) and recv() on our
 * non-blocking socket.  Plain sockets use send(MSG_NOSIGNAL) directly.
 * The method table is made once per process and never changes.
 */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int
nosig_write (BIO *b, const char *data, size_t len, size_t *written)
{
  int fd = (int)(intptr_t)BIO_get_data (b);
  ssize_t r;

  BIO_clear_retry_flags (b);
  do
    r = send (fd, data, len, MSG_NOSIGNAL);
  while (r == -1 && errno == EINTR);
  if (r == -1)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write (b);
      return 0;
    }
  *written = r;
  return 1;
}

static int
nosig_read (BIO *b, char *data, size_t len, size_t *readbytes)
{
  int fd = (int)(intptr_t)BIO_get_data (b);
  ssize_t r;

  BIO_clear_retry_flags (b);
  do
    r = recv (fd, data, len, 0);
  while (r == -1 && errno == EINTR);
  if (r == -1)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read (b);
      return 0;
    }
  if (r == 0)
    {
      /* EOF: errno 0 lets SSL_get_error tell it from a socket error. */
      errno = 0;
      return 0;
    }
  *readbytes = r;
  return 1;
}

static int
nosig_puts (BIO *b, const char *s)
{
  size_t written = 0;

  if (nosig_write (b, s, strlen (s), &written) != 1)
    return -1;
  return (int)written;
}

static long
nosig_ctrl (BIO *b, int cmd, long num, void *ptr)
{
  (void)num;
  switch (cmd)
    {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_C_GET_FD:
      if (ptr)
        *(int *)ptr = (int)(intptr_t)BIO_get_data (b);
      return (int)(intptr_t)BIO_get_data (b);
    default:
      return 0;
    }
}

static int
nosig_create (BIO *b)
{
  BIO_set_data (b, (void *)(intptr_t)-1);
  BIO_set_init (b, 1);
  return 1;
}

static void
nosig_make_method (void)
{
  BIO_METHOD *m = BIO_meth_new (BIO_get_new_index () | BIO_TYPE_SOURCE_SINK,
                                "imageio socket (MSG_NOSIGNAL)");

  if (m == NULL)
    return;
  if (!BIO_meth_set_write_ex (m, nosig_write)
      || !BIO_meth_set_read_ex (m, nosig_read)
      || !BIO_meth_set_puts (m, nosig_puts)
      || !BIO_meth_set_ctrl (m, nosig_ctrl)
      || !BIO_meth_set_create (m, nosig_create))
    {
      BIO_meth_free (m);
      return;
    }
  nosig_method = m;
}

static void __attribute__ ((destructor)) nosig_free_method (void)
{
  BIO_meth_free (nosig_method);
  nosig_method = NULL;
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

int
http_endpoint_init (struct http_endpoint *ep, char *errbuf, size_t errlen)
{
  SSL_CTX *ctx;
  char ebuf[256];

  ep->ssl_ctx = NULL;
  if (!ep->tls)
    return 0;

  pthread_once (&nosig_once, nosig_make_method);
  if (nosig_method == NULL)
    {
      snprintf (errbuf, errlen, "cannot create the TLS socket BIO method");
      return -1;
    }

  ERR_clear_error ();
  ctx = SSL_CTX_new (TLS_client_method ());
  if (ctx == NULL)
    goto err;
  if (!SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION))
    goto err;
  SSL_CTX_set_mode (ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                             | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (ep->insecure)
    SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
  else
    {
      SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, NULL);
      if (ep->cafile)
        {
          if (access (ep->cafile, R_OK) == -1)
            {
              snprintf (errbuf, errlen, "cannot read CA file %s: %s",
                        ep->cafile, strerror (errno));
              SSL_CTX_free (ctx);
              return -1;
            }
          if (!SSL_CTX_load_verify_locations (ctx, ep->cafile, NULL))
            {
              snprintf (errbuf, errlen, "cannot load CA file %s: %s",
                        ep->cafile,
                        ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
              SSL_CTX_free (ctx);
              return -1;
            }
        }
      else if (!SSL_CTX_set_default_verify_paths (ctx))
        goto err;
    }
  ep->ssl_ctx = ctx;
  return 0;

err:
  snprintf (errbuf, errlen, "cannot create the TLS context: %s",
            ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
  SSL_CTX_free (ctx);
  return -1;
}

void
http_endpoint_free (struct http_endpoint *ep)
{
  SSL_CTX_free (ep->ssl_ctx);
  ep->ssl_ctx = NULL;
}

struct http_conn *
http_conn_new (const struct http_endpoint *ep)
{
  struct http_conn *c = malloc (sizeof *c);

  if (c == NULL)
    return NULL;
  c->ep = ep;
  c->fd = -1;
  c->ssl = NULL;
  c->connects = 0;
  c->got_response_byte = false;
  c->rstart = c->rend = 0;
  return c;
}

/* Closes the socket.  GRACEFUL sends a TLS close_notify (one attempt, never
 * waiting); after a failure the TLS state may be broken, so it is skipped.
 */
static void
conn_close (struct http_conn *c, bool graceful)
{
  if (c->ssl)
    {
      if (graceful)
        {
          ERR_clear_error ();
          SSL_shutdown (c->ssl);
        }
      SSL_free (c->ssl);
      c->ssl = NULL;
    }
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
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
  return c->fd >= 0;
}

uint64_t
http_conn_connects (const struct http_conn *c)
{
  return c->connects;
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

  switch (wait_fd (fd, POLLOUT, remaining_ms (deadline)))
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

static int
connect_tcp (struct req_ctx *x, int64_t deadline)
{
  const struct http_endpoint *ep = x->c->ep;
  struct addrinfo hints = {
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_NUMERICSERV,
  };
  struct addrinfo *res, *ai;
  int r, fd = -1, err = 0;
  char name[300];

  endpoint_name (ep, name, sizeof name);
  r = getaddrinfo (ep->host, ep->port, &hints, &res);
  if (r != 0)
    {
      seterr (x, "%s: %s", name,
              r == EAI_SYSTEM ? strerror (errno) : gai_strerror (r));
      return -1;
    }
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
      seterr (x, "connect to %s: %s", name,
              err == ETIMEDOUT ? "timed out" : strerror (err));
      return -1;
    }

  /* Request heads are small and go out before the body: no Nagle delay. */
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int
connect_unix (struct req_ctx *x, int64_t deadline)
{
  const struct http_endpoint *ep = x->c->ep;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  char name[300];
  int fd;

  if (ep->unix_len > sizeof sun.sun_path)
    {
      seterr (x, "Unix socket name too long");
      return -1;
    }
  memcpy (sun.sun_path, ep->unix_path, ep->unix_len);
  fd = connect_addr (AF_UNIX, (struct sockaddr *)&sun,
                     offsetof (struct sockaddr_un, sun_path) + ep->unix_len,
                     deadline);
  if (fd == -1)
    {
      int err = errno;

      endpoint_name (ep, name, sizeof name);
      seterr (x, "connect to %s: %s", name,
              err == ETIMEDOUT ? "timed out" : strerror (err));
    }
  return fd;
}

static bool
is_ip_literal (const char *host)
{
  unsigned char buf[sizeof (struct in6_addr)];

  return inet_pton (AF_INET, host, buf) == 1
         || inet_pton (AF_INET6, host, buf) == 1;
}

/* TLS handshake on c->fd, verifying the peer and its name unless insecure. */
static int
tls_handshake (struct req_ctx *x, int64_t deadline)
{
  struct http_conn *c = x->c;
  const struct http_endpoint *ep = c->ep;
  char name[300], ebuf[256];
  BIO *bio;

  endpoint_name (ep, name, sizeof name);
  ERR_clear_error ();
  c->ssl = SSL_new (ep->ssl_ctx);
  if (c->ssl == NULL)
    {
      seterr (x, "TLS with %s: %s", name,
              ssl_err_text (ebuf, sizeof ebuf, "SSL_new failed"));
      return -1;
    }
  bio = BIO_new (nosig_method);
  if (bio == NULL)
    {
      seterr (x, "TLS with %s: cannot create BIO", name);
      return -1;
    }
  BIO_set_data (bio, (void *)(intptr_t)c->fd);
  SSL_set_bio (c->ssl, bio, bio);

  if (!is_ip_literal (ep->host))
    {
      /* SNI lets the server pick its certificate even when we do not
       * check it.
       */
      SSL_set_tlsext_host_name (c->ssl, ep->host);
      if (!ep->insecure && !SSL_set1_host (c->ssl, ep->host))
        {
          seterr (x, "TLS with %s: cannot set the expected host name", name);
          return -1;
        }
    }
  else if (!ep->insecure
           && !X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (c->ssl),
                                              ep->host))
    {
      seterr (x, "TLS with %s: cannot set the expected address", name);
      return -1;
    }

  for (;;)
    {
      int r, err, w;

      ERR_clear_error ();
      errno = 0;
      r = SSL_connect (c->ssl);
      if (r == 1)
        return 0;
      err = SSL_get_error (c->ssl, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        {
          w = wait_fd (c->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                       remaining_ms (deadline));
          if (w == 1)
            continue;
          seterr (x, "TLS handshake with %s failed: %s", name,
                  w == 0 ? "timed out" : strerror (errno));
          return -1;
        }

      long vr = SSL_get_verify_result (c->ssl);
      if (vr != X509_V_OK)
        seterr (x,
                "TLS handshake with %s failed: certificate verify failed "
                "(%s)",
                name, X509_verify_cert_error_string (vr));
      else if (err == SSL_ERROR_SYSCALL && ERR_peek_error () == 0)
        seterr (x, "TLS handshake with %s failed: %s", name,
                errno ? strerror (errno) : "connection closed by peer");
      else
        seterr (x, "TLS handshake with %s failed: %s", name,
                ssl_err_text (ebuf, sizeof ebuf, "unknown error"));
      return -1;
    }
}

/* Opens the socket (and TLS session) within connect_timeout_ms. */
static enum http_result
conn_open (struct req_ctx *x)
{
  struct http_conn *c = x->c;
  const struct http_endpoint *ep = c->ep;
  int ms = ep->connect_timeout_ms > 0 ? ep->connect_timeout_ms
                                      : DEFAULT_TIMEOUT_MS;
  int64_t deadline = now_ms () + ms;

  if (ep->unix_len > 0)
    c->fd = connect_unix (x, deadline);
  else
    c->fd = connect_tcp (x, deadline);
  if (c->fd == -1)
    return HTTP_ERR_CONNECT;
  c->connects++;
  c->rstart = c->rend = 0;

  if (ep->tls && ep->unix_len == 0)
    {
      if (ep->ssl_ctx == NULL)
        {
          seterr (x, "TLS requested but http_endpoint_init was not called");
          conn_close (c, false);
          return HTTP_ERR_CONNECT;
        }
      if (tls_handshake (x, deadline) == -1)
        {
          conn_close (c, false);
          return HTTP_ERR_CONNECT;
        }
    }
  if (imageio_debug_http)
    {
      char name[300];

      endpoint_name (ep, name, sizeof name);
      nbdkit_debug ("http: connected to %s%s (connection #%" PRIu64 ")", name,
                    c->ssl ? " with TLS" : "", c->connects);
    }
  return HTTP_OK;
}

/* ---------------------------------------------------------------------
 * Raw I/O.  Both functions return HTTP_OK or an error result with the
 * message set; "closed" errors (EOF, ECONNRESET, EPIPE) are returned as
 * HTTP_ERR_CLOSED and the callers turn them into HTTP_ERR_IO once a byte
 * of the response has arrived.
 */

static bool
errno_is_closed (int e)
{
  return e == ECONNRESET || e == EPIPE || e == ECONNABORTED;
}

/* Sends LEN bytes from the IOV pieces (plain sockets: one sendmsg may carry
 * the head and the body together).
 */
static enum http_result
send_all_plain (struct req_ctx *x, struct iovec *iov, int iovcnt)
{
  struct http_conn *c = x->c;

  while (iovcnt > 0)
    {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
      ssize_t r = sendmsg (c->fd, &msg, MSG_NOSIGNAL);

      if (r == -1)
        {
          int w;

          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              seterr (x, "send: %s", strerror (errno));
              return errno_is_closed (errno) ? HTTP_ERR_CLOSED : HTTP_ERR_IO;
            }
          w = wait_fd (c->fd, POLLOUT, wait_ms (x));
          if (w == 0)
            {
              seterr (x, "send: timed out after %d ms", limit_ms (x));
              return HTTP_ERR_TIMEOUT;
            }
          if (w == -1)
            {
              seterr (x, "poll: %s", strerror (errno));
              return HTTP_ERR_IO;
            }
          continue;
        }
      while (iovcnt > 0 && (size_t)r >= iov->iov_len)
        {
          r -= iov->iov_len;
          iov++, iovcnt--;
        }
      if (iovcnt > 0)
        {
          iov->iov_base = (char *)iov->iov_base + r;
          iov->iov_len -= r;
        }
    }
  return HTTP_OK;
}

/* Waits as SSL asked (want read or write) for one io timeout. */
static enum http_result
tls_wait (struct req_ctx *x, int sslerr, const char *what)
{
  struct http_conn *c = x->c;
  int w = wait_fd (c->fd, sslerr == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                   wait_ms (x));

  if (w == 1)
    return HTTP_OK;
  if (w == 0)
    {
      seterr (x, "%s: timed out after %d ms", what, limit_ms (x));
      return HTTP_ERR_TIMEOUT;
    }
  seterr (x, "poll: %s", strerror (errno));
  return HTTP_ERR_IO;
}

/* True when a failed SSL call means the peer ended the stream: close_notify,
 * a plain EOF without close_notify (errno 0), or OpenSSL 3's "unexpected
 * eof" error.  The callers decide what an end of stream means.
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

/* Classifies a failed SSL_read_ex/SSL_write_ex that is neither a
 * want-retry nor an end of stream.  Resets are HTTP_ERR_CLOSED.
 */
static enum http_result
tls_failure (struct req_ctx *x, int sslerr, const char *what)
{
  char ebuf[256];
  int e = errno;

  if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error () == 0)
    {
      seterr (x, "%s: %s", what, strerror (e));
      return errno_is_closed (e) ? HTTP_ERR_CLOSED : HTTP_ERR_IO;
    }
  seterr (x, "%s: %s", what, ssl_err_text (ebuf, sizeof ebuf, "TLS error"));
  return HTTP_ERR_IO;
}

static enum http_result
send_all_tls (struct req_ctx *x, const char *data, size_t len)
{
  struct http_conn *c = x->c;

  while (len > 0)
    {
      size_t n = len < TLS_WRITE_MAX ? len : TLS_WRITE_MAX, written = 0;
      int err;
      enum http_result r;

      ERR_clear_error ();
      errno = 0;
      if (SSL_write_ex (c->ssl, data, n, &written) == 1)
        {
          data += written;
          len -= written;
          continue;
        }
      err = SSL_get_error (c->ssl, 0);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        {
          r = tls_wait (x, err, "send");
          if (r != HTTP_OK)
            return r;
          continue;
        }
      if (tls_is_eof (err))
        {
          seterr (x, "send: connection closed by peer");
          return HTTP_ERR_CLOSED;
        }
      return tls_failure (x, err, "send");
    }
  return HTTP_OK;
}

/* Receives up to LEN bytes into BUF: *GOT > 0 on HTTP_OK, or 0 at a clean
 * end of stream (EOF, TLS close_notify).
 */
static enum http_result
recv_some (struct req_ctx *x, void *buf, size_t len, size_t *got)
{
  struct http_conn *c = x->c;

  *got = 0;
  for (;;)
    {
      if (c->ssl)
        {
          int err;
          enum http_result r;

          ERR_clear_error ();
          errno = 0;
          if (SSL_read_ex (c->ssl, buf, len, got) == 1)
            return HTTP_OK;
          err = SSL_get_error (c->ssl, 0);
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            {
              r = tls_wait (x, err, "recv");
              if (r != HTTP_OK)
                return r;
              continue;
            }
          if (tls_is_eof (err))
            {
              *got = 0;
              return HTTP_OK;
            }
          return tls_failure (x, err, "recv");
        }
      else
        {
          ssize_t r = recv (c->fd, buf, len, 0);
          int w;

          if (r >= 0)
            {
              *got = r;
              return HTTP_OK;
            }
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              seterr (x, "recv: %s", strerror (errno));
              return errno_is_closed (errno) ? HTTP_ERR_CLOSED : HTTP_ERR_IO;
            }
          w = wait_fd (c->fd, POLLIN, wait_ms (x));
          if (w == 0)
            {
              seterr (x, "recv: timed out after %d ms", limit_ms (x));
              return HTTP_ERR_TIMEOUT;
            }
          if (w == -1)
            {
              seterr (x, "poll: %s", strerror (errno));
              return HTTP_ERR_IO;
            }
        }
    }
}

/* Turns a "closed" result into HTTP_ERR_IO once the response has started. */
static enum http_result
after_start (struct http_conn *c, enum http_result r)
{
  if (r == HTTP_ERR_CLOSED && c->got_response_byte)
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
    return after_start (c, r);
  if (got == 0)
    {
      seterr (x, "connection closed by peer %s",
              c->got_response_byte ? "in the middle of a response"
                                   : "before the response");
      return c->got_response_byte ? HTTP_ERR_IO : HTTP_ERR_CLOSED;
    }
  c->got_response_byte = true;
  c->rend += got;
  return HTTP_OK;
}

static enum http_result
fill (struct req_ctx *x)
{
  return fill_upto (x, RBUF_SIZE);
}

/* Reads one CRLF-terminated line (chunk size, trailer) of at most
 * LINE_MAX_LEN bytes.  Returns its start in rbuf and length without CRLF;
 * the line stays valid until the next read.
 */
static enum http_result
read_line (struct req_ctx *x, const char **line, size_t *len)
{
  struct http_conn *c = x->c;

  for (;;)
    {
      const char *p = c->rbuf + c->rstart;
      size_t avail = c->rend - c->rstart;
      const char *lf = memchr (p, '\n', avail);

      if (lf)
        {
          if (lf == p || lf[-1] != '\r')
            {
              seterr (x, "line not ending with CRLF in a chunked body");
              return HTTP_ERR_PROTOCOL;
            }
          *line = p;
          *len = lf - p - 1;
          c->rstart += lf - p + 1;
          return HTTP_OK;
        }
      if (avail > LINE_MAX_LEN)
        {
          seterr (x, "line too long in a chunked body");
          return HTTP_ERR_PROTOCOL;
        }
      /* Keep the partial line contiguous. */
      if (c->rstart > 0 && RBUF_SIZE - c->rend < LINE_MAX_LEN + 2)
        {
          memmove (c->rbuf, p, avail);
          c->rstart = 0;
          c->rend = avail;
        }
      enum http_result r = fill (x);
      if (r != HTTP_OK)
        return r;
    }
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
            return after_start (c, r);
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

static enum http_result
read_chunked (struct req_ctx *x, struct sink *s)
{
  const char *line;
  size_t len, trailer_bytes = 0;
  uint64_t size;
  enum http_result r;

  for (;;)
    {
      r = read_line (x, &line, &len);
      if (r != HTTP_OK)
        return r;
      if (http_parse_chunk_size (line, len, &size) == -1)
        {
          seterr (x, "invalid chunk size line");
          return HTTP_ERR_PROTOCOL;
        }
      if (size == 0)
        break;
      r = read_span (x, s, size);
      if (r != HTTP_OK)
        return r;
      r = read_line (x, &line, &len);
      if (r != HTTP_OK)
        return r;
      if (len != 0)
        {
          seterr (x, "chunk data longer than its size");
          return HTTP_ERR_PROTOCOL;
        }
    }

  /* Trailer fields are skipped, up to the empty line. */
  for (;;)
    {
      r = read_line (x, &line, &len);
      if (r != HTTP_OK)
        return r;
      if (len == 0)
        return HTTP_OK;
      trailer_bytes += len + 2;
      if (trailer_bytes > HEAD_MAX)
        {
          seterr (x, "chunked trailer too long");
          return HTTP_ERR_PROTOCOL;
        }
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
        return after_start (c, r);
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
  if (c->ssl == NULL)
    {
      struct iovec iov[2] = {
        { .iov_base = c->wbuf, .iov_len = hlen },
        { .iov_base = (void *)req->body, .iov_len = blen },
      };
      return send_all_plain (x, iov, blen > 0 ? 2 : 1);
    }

  /* TLS: a small body rides in the head's record; a big one is written
   * from the caller's buffer.
   */
  if (blen <= INLINE_BODY_MAX)
    {
      if (blen > 0)
        memcpy (c->wbuf + hlen, req->body, blen);
      return send_all_tls (x, c->wbuf, hlen + blen);
    }
  enum http_result r = send_all_tls (x, c->wbuf, hlen);
  if (r != HTTP_OK)
    return r;
  return send_all_tls (x, req->body, blen);
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
    }
}

/* Reads the response (skipping 1xx) and its body. */
static enum http_result
read_response (struct req_ctx *x, const struct http_request *req,
               struct http_response *resp)
{
  struct http_conn *c = x->c;
  bool chunked;
  size_t head_len;
  enum http_result r;
  int interim = 0;

  for (;;)
    {
      r = read_head (x, &head_len);
      if (r != HTTP_OK)
        return r;
      if (imageio_debug_http)
        debug_head (c->rbuf + c->rstart, head_len);
      if (http_parse_head (c->rbuf + c->rstart, head_len, resp, &chunked) == -1)
        {
          seterr (x, "malformed response head");
          return HTTP_ERR_PROTOCOL;
        }
      c->rstart += head_len;
      if (resp->status >= 200)
        break;
      if (resp->status == 101 || ++interim > MAX_INTERIM)
        {
          seterr (x, "unexpected %d response", resp->status);
          return HTTP_ERR_PROTOCOL;
        }
    }

  struct sink s = { .req = req, .resp = resp, .limit = UINT64_MAX };
  bool ok = resp->status >= 200 && resp->status <= 299;

  if (!ok)
    {
      s.kind = SINK_ERROR_TEXT;
      s.limit = DISCARD_MAX;
      /* Not worth draining a big error body: close instead. */
      if (resp->content_length > DISCARD_MAX)
        {
          resp->keep_alive = false;
          resp->content_length = -1;
          chunked = false;
          /* What we already hold is enough for the message. */
          size_t avail = c->rend - c->rstart;
          if (avail > sizeof resp->error_text - 1)
            avail = sizeof resp->error_text - 1;
          sink_push (x, &s, c->rbuf + c->rstart, avail);
          finish_error_text (resp);
          return HTTP_OK;
        }
    }
  else if (req->buf)
    {
      s.kind = SINK_BUF;
      s.limit = req->buf_len;
    }
  else if (req->body_fn)
    s.kind = SINK_FN;
  else
    s.kind = SINK_DISCARD;

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

enum http_result
http_request (struct http_conn *c, const struct http_request *req,
              struct http_response *resp, char *errbuf, size_t errlen)
{
  struct req_ctx x = { .c = c, .errbuf = errbuf, .errlen = errlen,
                       .timeout_ms = req->timeout_ms,
                       .deadline = now_ms () + req->timeout_ms };
  enum http_result r;

  if (errlen > 0)
    errbuf[0] = '\0';
  memset (resp, 0, sizeof *resp);
  resp->content_length = -1;
  c->got_response_byte = false;

  if (!header_value_ok (req->target) || !header_value_ok (req->range)
      || !header_value_ok (req->content_range)
      || !header_value_ok (req->content_type) || strpbrk (req->method, " \r\n"))
    {
      seterr (&x, "invalid character in the request");
      r = HTTP_ERR_PROTOCOL;
      goto out;
    }

  if (c->fd == -1)
    {
      r = conn_open (&x);
      if (r != HTTP_OK)
        goto out;
    }
  /* Bytes left from the previous response would be read as this one's. */
  c->rstart = c->rend = 0;

  if (imageio_debug_http)
    debug_request (c, req);
  r = send_request (&x, req);
  if (r == HTTP_ERR_CLOSED || r == HTTP_ERR_IO)
    {
      /* A server may answer and close before taking the whole body (403,
       * 416 on PUT).  If that answer is readable, it is the result; else
       * the send error is.
       */
      char saved[256];
      enum http_result r2;

      snprintf (saved, sizeof saved, "%s", errlen ? errbuf : "");
      r2 = read_response (&x, req, resp);
      if (r2 == HTTP_OK)
        {
          resp->keep_alive = false;
          conn_close (c, false);
          return HTTP_OK;
        }
      if (errlen > 0)
        snprintf (errbuf, errlen, "%s", saved);
      memset (resp, 0, sizeof *resp);
      resp->content_length = -1;
      c->got_response_byte = false;
      goto out;
    }
  if (r != HTTP_OK)
    goto out;
  r = read_response (&x, req, resp);
  if (r != HTTP_OK)
    goto out;

  if (!resp->keep_alive)
    conn_close (c, true);
  else if (c->rstart != c->rend)
    {
      /* The server sent more than the response: do not trust the stream. */
      if (imageio_debug_http)
        nbdkit_debug ("http: %zu unexpected bytes after the response; "
                      "closing",
                      c->rend - c->rstart);
      resp->keep_alive = false;
      conn_close (c, false);
    }
  return HTTP_OK;

out:
  if (imageio_debug_http)
    nbdkit_debug ("http: %s: %s", http_result_str (r), errlen ? errbuf : "");
  conn_close (c, false);
  return r;
}
