/* SPDX-License-Identifier: BSD-3-Clause */
/* Opening the backend a ticket names (backend-open.c). */
#ifndef SERVER_BACKEND_OPEN_H
#define SERVER_BACKEND_OPEN_H

#include <stddef.h>

#include "backend.h"

struct ticket;

enum backend_kind
{
  BACKEND_FILE,
  BACKEND_NBD,
};

enum backend_kind backend_kind_of_url (const char *url);
/* Opens the backend for ticket T.  NULL with a reason in ERR. */
struct backend *backend_open (const struct ticket *t, char *err, size_t errlen);
void backend_close (struct backend *b);

#endif
