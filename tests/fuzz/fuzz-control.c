/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the control service's parsers (server/parse.c):
 * the path "/tickets/ID" and the PATCH body {"timeout": N}, over arbitrary
 * bytes.  An accepted path gives a non-empty id without '/' that fits its
 * buffer; an accepted body gives a timeout that fits int64.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *path = strndup ((const char *)data, size);
  char id[256], err[256];
  uint64_t timeout;

  if (path == NULL)
    return 0;
  if (parse_control_path (path, id, sizeof id) == 0)
    {
      if (id[0] == '\0' || strchr (id, '/') || strlen (id) >= sizeof id
          || strncmp (path, "/tickets/", 9) != 0 || strcmp (path + 9, id))
        abort ();
    }
  free (path);

  memset (err, 0, sizeof err);
  if (parse_control_patch ((const char *)data, size, &timeout, err, sizeof err)
      == 0)
    {
      if (timeout > INT64_MAX)
        abort ();
    }
  else if (err[0] == '\0' || memchr (err, '\n', strnlen (err, sizeof err)))
    abort ();
  return 0;
}
