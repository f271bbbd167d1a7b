/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the PATCH /images/TICKET body parser
 * (parse_patch in server/parse.c): arbitrary bytes, not NUL-terminated.
 * A parsed request is flush or zero with offset and size that fit in
 * int64; a refusal gives one non-empty line.
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
  struct patch_request p;
  char err[256];

  memset (err, 0, sizeof err);
  if (parse_patch ((const char *)data, size, &p, err, sizeof err) == 0)
    {
      if (p.op != PATCH_FLUSH && p.op != PATCH_ZERO)
        abort ();
      if (p.offset > INT64_MAX || p.size > INT64_MAX)
        abort ();
      if (p.op == PATCH_FLUSH && (p.offset || p.size || p.flush))
        abort ();
    }
  else if (err[0] == '\0' || memchr (err, '\n', strnlen (err, sizeof err)))
    abort ();
  return 0;
}
