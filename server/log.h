/* SPDX-License-Identifier: BSD-3-Clause */
/* imageio-server logging: one line per message on stderr, written with a
 * single write(2) so lines from connection threads never interleave.
 *
 * Contract: callers never pass a whole ticket id; they redact it first with
 * common/redact.h.  log_debug prints only with -v (log_verbose set by main).
 */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

/* Debug flag: -v sets it before any thread starts, read-only afterwards. */
extern int log_verbose;

/* Prints "imageio-server: MESSAGE\n" to stderr. */
void log_msg (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#define log_debug(...)                                                         \
  do                                                                           \
    {                                                                          \
      if (log_verbose)                                                         \
        log_msg (__VA_ARGS__);                                                 \
    }                                                                          \
  while (0)

#endif
