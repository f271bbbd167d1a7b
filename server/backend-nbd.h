/* SPDX-License-Identifier: BSD-3-Clause */
/* The NBD backend (backend-nbd.c): an export on a Unix socket, via libnbd. */
#ifndef SERVER_BACKEND_NBD_H
#define SERVER_BACKEND_NBD_H

#include <stddef.h>

#include "backend.h"

struct ticket;

struct backend *backend_nbd_open (const char *socket, const char *export,
                                  const struct ticket *t, char *err,
                                  size_t errlen);

#endif
