/* SPDX-License-Identifier: BSD-3-Clause */
/* A socket BIO that never raises SIGPIPE; see tls-bio.c. */
#ifndef IMAGEIO_TLS_BIO_H
#define IMAGEIO_TLS_BIO_H

#include <openssl/bio.h>

/* A BIO reading and writing the non-blocking socket FD (not closed by the
 * BIO), or NULL.
 */
BIO *tls_bio_new (int fd);

#endif
