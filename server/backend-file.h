/* SPDX-License-Identifier: BSD-3-Clause */
/* The file backend (backend-file.c): a regular file or a block device. */
#ifndef SERVER_BACKEND_FILE_H
#define SERVER_BACKEND_FILE_H

#include <stddef.h>

#include "backend.h"

struct ticket;

struct backend *backend_file_open (const char *path, const struct ticket *t,
                                   char *err, size_t errlen);

#endif
