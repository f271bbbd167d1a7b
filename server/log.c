/* SPDX-License-Identifier: BSD-3-Clause */
/* imageio-server logging; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int log_verbose = 0;

void
log_msg (const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  int n;
  size_t len;

  n = snprintf (line, sizeof line, "imageio-server: ");
  va_start (ap, fmt);
  vsnprintf (line + n, sizeof line - n - 1, fmt, ap);
  va_end (ap);
  len = strlen (line);
  line[len++] = '\n';
  /* One write: stderr is unbuffered, and lines must not mix. */
  if (write (STDERR_FILENO, line, len) == -1)
    return;
}
