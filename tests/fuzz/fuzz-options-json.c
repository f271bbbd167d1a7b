/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the OPTIONS parser in plugin/json.c: arbitrary bytes
 * (not NUL-terminated).  On success the socket name must fit sockaddr_un
 * and the size be -1 or a usable one (an ignored size's reason one line);
 * on failure the reason must be one non-empty line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct imageio_options o;
  char err[256];

  memset (err, 0, sizeof err);
  if (json_parse_options ((const char *)data, size, &o, err, sizeof err) == 0)
    {
      if (o.unix_socket_len > sizeof o.unix_socket)
        abort ();
      if (o.unix_socket_len > 0 && o.unix_socket[0] != '\0'
          && (o.unix_socket_len >= sizeof o.unix_socket
              || o.unix_socket[o.unix_socket_len] != '\0'))
        abort (); /* a path is NUL-terminated */
      if (o.max_readers < 0 || o.max_writers < 0)
        abort ();
      /* size: -1 (absent or ignored, then with or without a reason) or a
       * usable size without one.
       */
      if (o.size < -1 || (o.size >= 0 && o.size_error[0] != '\0')
          || memchr (o.size_error, '\0', sizeof o.size_error) == NULL
          || strchr (o.size_error, '\n') != NULL)
        abort ();
    }
  else if (err[0] == '\0' || memchr (err, '\n', strnlen (err, sizeof err)))
    abort ();
  return 0;
}
