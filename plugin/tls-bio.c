/* SPDX-License-Identifier: BSD-3-Clause */
/* A socket BIO for OpenSSL that never raises SIGPIPE.
 *
 * OpenSSL's own socket BIO writes with write(), which raises SIGPIPE when
 * the peer is gone.  nbdkit ignores SIGPIPE only once it serves: the
 * plugin's start-up requests (.get_ready) run before, and a server that
 * closes during the handshake killed nbdkit there (measured: exit 141 in
 * test-plugin-errors.sh's TLS 1.1 case).  Rather than juggling the
 * thread's signal mask around every SSL call, TLS goes through this small
 * BIO that calls send(MSG_NOSIGNAL) and recv() on the non-blocking socket.
 * The method table is made once per process and never changes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include "tls-bio.h"

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

BIO *
tls_bio_new (int fd)
{
  BIO *bio;

  pthread_once (&nosig_once, nosig_make_method);
  if (nosig_method == NULL)
    return NULL;
  bio = BIO_new (nosig_method);
  if (bio)
    BIO_set_data (bio, (void *)(intptr_t)fd);
  return bio;
}
