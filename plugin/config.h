/* SPDX-License-Identifier: BSD-3-Clause */
/* config.c: the plugin's parameters, parsed by .config, checked by
 * .config_complete, read-only afterwards.
 */
#ifndef IMAGEIO_CONFIG_H
#define IMAGEIO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

struct imageio_config
{
  const char *url;             /* url= as given (never logged whole) */
  const char *path;            /* "/images/TICKET" from the URL */
  struct http_endpoint remote; /* from the URL */
  bool port_given;             /* false: the scheme's default (443, 80) */
  int64_t size;                /* size=, or -1 to ask the server */
  const char *cafile;
  bool insecure;
  bool is_ovirt_host;
  unsigned connections;     /* connections=, default 4 */
  unsigned timeout;         /* timeout= seconds per request wait */
  unsigned connect_timeout; /* seconds for connect + TLS handshake */
  unsigned idle_flush;      /* flush a connection idle this long */
  unsigned retry_timeout;   /* seconds curable failures are retried */
  bool zero_elision;        /* skip zeroes the map says are zero */
  uint64_t max_unflushed;   /* journal bound in bytes; 0: no journal */
  unsigned extents_timeout; /* seconds for the whole extents download */
  bool extents_dirty;       /* extents=dirty: block status from dirty ones */
};

/* The journal's default bound: see the man page, "DATA SAFETY", and
 * bench/results-replay.md for the measurement behind it.
 */
#define DEFAULT_MAX_UNFLUSHED (64ULL << 20)
#define MAX_MAX_UNFLUSHED (16LL << 30)

/* retry_timeout='s default: 10x the longest restart seen on the real
 * daemon (qemu-nbd behind a ticket back within 3 s, the daemon itself
 * within 2.6 s), and 3x the fault suite's 10 s outage.  See the man page,
 * "DATA SAFETY", and docs/design.md.
 */
#define DEFAULT_RETRY_TIMEOUT 30

extern struct imageio_config config;

int config_set (const char *key, const char *value);
int config_complete (void);
void config_free (void);
#define CONFIG_HELP                                                            \
  "url=URL                  (required) imageio transfer URL,\n"                \
  "                         https://HOST:54322/images/TICKET\n"                \
  "url=+FILE|-FD|-          Read the URL from FILE, file descriptor FD "       \
  "(above "                                                                    \
  "2)\n"                                                                       \
  "                         or standard input (a terminal or a pipe).\n"       \
  "size=SIZE                Image size; default: asked from the server.\n"     \
  "cafile=FILE              CA certificates to verify the server.\n"           \
  "insecure=true            Do not verify the server's certificate.\n"         \
  "is_ovirt_host=true       Use the server's Unix socket when offered.\n"      \
  "connections=N            HTTP connections (default 4).\n"                   \
  "timeout=SECONDS          Longest wait for one request (default 60).\n"      \
  "idle_flush=SECONDS       Flush a connection idle this long (default 20).\n" \
  "retry_timeout=SECONDS    Ride out server outages this long (default 30).\n" \
  "max_unflushed=SIZE       Unflushed writes kept for resending (default "     \
  "64M).\n"                                                                    \
  "extents_timeout=SECONDS  Longest extents download (default 3600).\n"        \
  "extents=dirty            Incremental backup: report the extents changed "   \
  "since\n"                                                                    \
  "                         the checkpoint (read-only; default zero).\n"       \
  "zero_elision=false       Send every zero request, even over known "         \
  "zeroes.\n"                                                                  \
  "Debug flags (-D imageio.http=1, ...; see the man page) print only with -v."

#endif
