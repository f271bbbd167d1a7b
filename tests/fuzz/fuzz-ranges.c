/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for common/ranges.c: Range and Content-Range values as
 * the server and the plugin receive them from the network.  Checks the
 * promises callers rely on after a successful parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s;
  uint64_t first, last, total, image_size;
  const char *why;

  if (size < 8)
    return 0;
  /* The first 8 bytes pick the image size; the rest is the header value. */
  memcpy (&image_size, data, 8);
  s = strndup ((const char *)data + 8, size - 8);
  if (s == NULL)
    return 0;

  if (range_parse_request (s, image_size, &first, &last, &why) == 0)
    {
      if (first > last || last >= image_size)
        abort ();
    }
  else if (why == NULL)
    abort ();

  if (range_parse_content_range (s, &first, &last, &total) == 0)
    {
      if (first != UINT64_MAX && first > last)
        abort ();
      if (first != UINT64_MAX && total != UINT64_MAX && last >= total)
        abort ();
    }
  free (s);
  return 0;
}
