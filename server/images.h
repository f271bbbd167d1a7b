/* SPDX-License-Identifier: BSD-3-Clause */
/* The Images API service (images.c): /images/... and /info/ on the remote
 * and local listeners.
 *
 * Contract: main calls images_set_unix_socket (when there is a local
 * service) and images_register for each image listener before it starts;
 * afterwards everything here runs in connection threads through http.c.
 */
#ifndef SERVER_IMAGES_H
#define SERVER_IMAGES_H

#include <stddef.h>

struct listener;

/* Routes /images/... and /info/ on L to this service.  Returns 0 or -1. */
int images_register (struct listener *l);

/* Records the local service's socket name for OPTIONS (LEN bytes, may start
 * with NUL for an abstract socket).
 */
void images_set_unix_socket (const char *name, size_t len);

#endif
