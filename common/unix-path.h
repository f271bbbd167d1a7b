/* SPDX-License-Identifier: BSD-3-Clause */
/* The size of a Unix socket address's path, sun_path: one name for what
 * was written as 108 and 110 in several places.
 */
#ifndef IMAGEIO_UNIX_PATH_H
#define IMAGEIO_UNIX_PATH_H

#include <sys/un.h>

#define UNIX_PATH_MAX (sizeof ((struct sockaddr_un *)0)->sun_path)

#endif
