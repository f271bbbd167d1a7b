/* SPDX-License-Identifier: BSD-3-Clause */
/* Test of plugin/http.c against a scripted server thread on a private
 * abstract Unix socket: keep-alive, body delivery, error text, result
 * classification (closed / I/O / timeout / protocol) and connection
 * counting.  TLS and TCP are covered by the shell tests with the real
 * server.  Aborts on the first failure.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"

#include "check.h"

/* http.c logs through nbdkit_debug; the test has no nbdkit. */
void
nbdkit_debug (const char *fs, ...)
{
  va_list ap;

  va_start (ap, fs);
  fprintf (stderr, "debug: ");
  vfprintf (stderr, fs, ap);
  fprintf (stderr, "\n");
  va_end (ap);
}

static int listen_fd;
static int accepted; /* connections accepted; only the server thread writes */

/* Reads one request head and its Content-Length body; returns the target
 * (static buffer) or NULL at EOF.
 */
static const char *
read_request (int fd, size_t *body_len)
{
  static char head[8192], target[256];
  size_t len = 0;
  char *cl;

  while (len < 4 || memcmp (head + len - 4, "\r\n\r\n", 4) != 0)
    {
      ssize_t r = read (fd, head + len, 1);
      if (r <= 0)
        return NULL;
      len++;
      CHECK (len < sizeof head - 1);
    }
  head[len] = '\0';
  CHECK (sscanf (head, "%*s %255s", target) == 1);
  CHECK (strstr (head, "User-Agent: nbdkit-imageio/") != NULL);
  CHECK (strstr (head, "Expect") == NULL);
  *body_len = 0;
  cl = strstr (head, "Content-Length: ");
  if (cl)
    *body_len = strtoull (cl + 16, NULL, 10);
  for (size_t n = 0; n < *body_len;)
    {
      char buf[65536];
      size_t want = *body_len - n < sizeof buf ? *body_len - n : sizeof buf;
      ssize_t r = read (fd, buf, want);
      if (r <= 0)
        return NULL;
      n += r;
    }
  return target;
}

static void
say (int fd, const char *s)
{
  size_t len = strlen (s);
  CHECK (send (fd, s, len, MSG_NOSIGNAL) == (ssize_t)len);
}

/* Answers by target; returns false to close the connection. */
static bool
respond (int fd, const char *t, size_t body_len)
{
  char buf[512];

  if (strcmp (t, "/hello") == 0)
    say (fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  else if (strcmp (t, "/put") == 0)
    {
      snprintf (buf, sizeof buf,
                "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n%020zu",
                body_len);
      say (fd, buf);
    }
  else if (strcmp (t, "/big") == 0)
    {
      /* 1 MiB of 'x' in one Content-Length body. */
      static char big[1 << 20];
      memset (big, 'x', sizeof big);
      say (fd, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n");
      CHECK (send (fd, big, sizeof big, MSG_NOSIGNAL) == sizeof big);
    }
  else if (strcmp (t, "/chunked") == 0)
    say (fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\n"
             "Trailer: x\r\n\r\n");
  else if (strcmp (t, "/continue") == 0)
    say (fd, "HTTP/1.1 100 Continue\r\n\r\n"
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  else if (strcmp (t, "/error") == 0)
    say (fd, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 31\r\n"
             "Content-Range: bytes */4096\r\n\r\n"
             "Requested \x01range\tout\r\nmore \n\r\n\t");
  else if (strcmp (t, "/close") == 0)
    {
      say (fd, "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"
               "Content-Length: 9\r\n\r\nforbidden");
      return false;
    }
  else if (strcmp (t, "/idle-close") == 0)
    {
      say (fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      return false;
    }
  else if (strcmp (t, "/drop") == 0)
    return false;
  else if (strcmp (t, "/partial") == 0)
    {
      say (fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      return false;
    }
  else if (strcmp (t, "/hang") == 0)
    {
      /* Hold the connection open past the client's io timeout; the client
       * closes it, which ends our read.
       */
      char c;
      while (read (fd, &c, 1) > 0)
        ;
      return false;
    }
  else if (strcmp (t, "/malformed") == 0)
    say (fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
             "\r\nab");
  else
    say (fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  return true;
}

static void *
server (void *arg)
{
  (void)arg;
  for (;;)
    {
      int fd = accept (listen_fd, NULL, NULL);
      const char *t;
      size_t body_len;

      if (fd == -1)
        return NULL;
      __atomic_add_fetch (&accepted, 1, __ATOMIC_SEQ_CST);
      while ((t = read_request (fd, &body_len)) != NULL)
        if (!respond (fd, t, body_len))
          break;
      close (fd);
    }
}

static int body_calls;
static char body_seen[64];
static size_t body_seen_len;

static int
collect (void *opaque, const void *data, size_t len)
{
  (void)opaque;
  body_calls++;
  CHECK (body_seen_len + len <= sizeof body_seen);
  memcpy (body_seen + body_seen_len, data, len);
  body_seen_len += len;
  return 0;
}

static enum http_result
get (struct http_conn *c, const char *target, void *buf, size_t len,
     struct http_response *resp, char *err, size_t errlen)
{
  struct http_request req = {
    .method = "GET",
    .target = target,
    .buf = buf,
    .buf_len = len,
  };
  return http_request (c, &req, resp, err, errlen);
}

int
main (void)
{
  struct http_endpoint ep
      = { .connect_timeout_ms = 2000, .io_timeout_ms = 300 };
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct http_response resp;
  struct http_conn *c;
  pthread_t thread;
  char err[256], buf[64];
  static char big[1 << 20];
  int n;

  /* A private abstract name: "\0imageio-test-http-PID". */
  n = snprintf (sun.sun_path + 1, sizeof sun.sun_path - 1,
                "imageio-test-http-%d", (int)getpid ());
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK (listen_fd >= 0);
  CHECK (bind (listen_fd, (struct sockaddr *)&sun,
               offsetof (struct sockaddr_un, sun_path) + 1 + n)
         == 0);
  CHECK (listen (listen_fd, 8) == 0);
  CHECK (pthread_create (&thread, NULL, server, NULL) == 0);

  memcpy (ep.unix_path, sun.sun_path, 1 + n);
  ep.unix_len = 1 + n;
  ep.host_header = "localhost";
  CHECK (http_endpoint_init (&ep, err, sizeof err) == 0);
  c = http_conn_new (&ep);
  CHECK (c != NULL && !http_conn_is_open (c) && http_conn_connects (c) == 0);

  /* Keep-alive: two requests, one connection. */
  CHECK (get (c, "/hello", buf, sizeof buf, &resp, err, sizeof err) == HTTP_OK);
  CHECK (resp.status == 200 && resp.body_len == 5
         && memcmp (buf, "hello", 5) == 0 && resp.keep_alive);
  CHECK (get (c, "/continue", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_OK);
  CHECK (resp.status == 200 && resp.body_len == 2);
  CHECK (http_conn_connects (c) == 1 && http_conn_is_open (c));

  /* A request body, and a large response body into the buffer. */
  {
    struct http_request req = {
      .method = "PUT",
      .target = "/put",
      .body = big,
      .body_len = sizeof big,
      .content_range = "bytes 0-1048575/*",
      .buf = buf,
      .buf_len = sizeof buf,
    };
    CHECK (http_request (c, &req, &resp, err, sizeof err) == HTTP_OK);
    CHECK (resp.status == 200 && resp.body_len == 20);
    CHECK (memcmp (buf, "00000000000001048576", 20) == 0);
  }
  CHECK (get (c, "/big", big, sizeof big, &resp, err, sizeof err) == HTTP_OK);
  CHECK (resp.body_len == sizeof big && big[0] == 'x'
         && big[sizeof big - 1] == 'x');

  /* Chunked into a callback. */
  {
    struct http_request req = {
      .method = "GET",
      .target = "/chunked",
      .body_fn = collect,
    };
    CHECK (http_request (c, &req, &resp, err, sizeof err) == HTTP_OK);
    CHECK (resp.body_len == 19 && body_seen_len == 19 && body_calls >= 1);
    CHECK (memcmp (body_seen, "abc0123456789abcdef", 19) == 0);
  }

  /* Error text: trimmed, control characters replaced; connection kept. */
  CHECK (get (c, "/error", buf, sizeof buf, &resp, err, sizeof err) == HTTP_OK);
  CHECK (resp.status == 416 && resp.keep_alive);
  CHECK (strcmp (resp.error_text, "Requested ?range?out??more") == 0);
  CHECK (strcmp (resp.content_range, "bytes */4096") == 0);
  CHECK (http_conn_connects (c) == 1);

  /* A 2xx body longer than the buffer. */
  CHECK (get (c, "/hello", buf, 3, &resp, err, sizeof err)
         == HTTP_ERR_PROTOCOL);
  CHECK (!http_conn_is_open (c));

  /* Connection: close. */
  CHECK (get (c, "/close", buf, sizeof buf, &resp, err, sizeof err) == HTTP_OK);
  CHECK (resp.status == 403 && !resp.keep_alive && !http_conn_is_open (c));
  CHECK (strcmp (resp.error_text, "forbidden") == 0);
  CHECK (http_conn_connects (c) == 2);

  /* The server closes an idle connection: the next request is CLOSED. */
  CHECK (get (c, "/idle-close", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_OK);
  CHECK (resp.keep_alive && http_conn_is_open (c));
  usleep (100000);
  CHECK (get (c, "/hello", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_ERR_CLOSED);
  CHECK (!http_conn_is_open (c));

  /* Closed without an answer; closed in the middle; malformed; timeout. */
  CHECK (get (c, "/drop", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_ERR_CLOSED);
  CHECK (get (c, "/partial", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_ERR_IO);
  CHECK (get (c, "/malformed", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_ERR_PROTOCOL);
  CHECK (get (c, "/hang", buf, sizeof buf, &resp, err, sizeof err)
         == HTTP_ERR_TIMEOUT);
  CHECK (strstr (err, "timed out") != NULL);
  CHECK (!http_conn_is_open (c));

  /* Recovers on a fresh connection; the counts agree with the server. */
  CHECK (get (c, "/hello", buf, sizeof buf, &resp, err, sizeof err) == HTTP_OK);
  CHECK (http_conn_connects (c) == 8);
  CHECK (__atomic_load_n (&accepted, __ATOMIC_SEQ_CST) == 8);

  http_conn_free (c);
  http_endpoint_free (&ep);
  shutdown (listen_fd, SHUT_RDWR);
  pthread_join (thread, NULL);
  close (listen_fd);
  printf ("test-http-client: ok\n");
  return 0;
}
