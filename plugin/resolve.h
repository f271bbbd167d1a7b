/* SPDX-License-Identifier: BSD-3-Clause */
/* resolve.c: a host name lookup with a deadline, safe across fork.
 *
 * getaddrinfo has no timeout of its own (a dead DNS server holds it 10 s
 * per try).  glibc's getaddrinfo_a keeps a helper thread and a request
 * queue that do not survive fork: used once before nbdkit forks (start-up
 * in .get_ready), every lookup in the child waited for a thread that no
 * longer exists (issue 19).  Each lookup here runs getaddrinfo in a
 * thread of its own, so no state outlives the call that made it.
 */
#ifndef IMAGEIO_RESOLVE_H
#define IMAGEIO_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

struct addrinfo;

/* Resolves HOST and the numeric PORT to stream addresses by DEADLINE
 * (CLOCK_MONOTONIC ms).  Returns 0 with *RES (free it with freeaddrinfo),
 * or -1 with a one-line message in ERRBUF naming HOST.  A lookup still
 * running at the deadline is abandoned and frees itself when it ends.
 */
int resolve_host (const char *host, const char *port, int64_t deadline,
                  struct addrinfo **res, char *errbuf, size_t errlen);

#endif
