/* libFuzzer target for plugin/http-parse.c: the response head parser and
 * the chunk-size parser get arbitrary bytes (not NUL-terminated).  Checks
 * the invariants the client relies on after a successful parse.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct http_response resp;
  bool chunked;
  uint64_t chunk_size;

  if (http_parse_head ((const char *)data, size, &resp, &chunked) == 0)
    {
      /* Never assert on network input in the product; here the parser's
       * own promises are checked.
       */
      if (resp.status < 100 || resp.status > 599)
        abort ();
      if (chunked && resp.content_length != -1)
        abort ();
      if (resp.content_length < -1)
        abort ();
      if (memchr (resp.reason, '\0', sizeof resp.reason) == NULL
          || memchr (resp.content_range, '\0', sizeof resp.content_range)
                 == NULL
          || memchr (resp.content_type, '\0', sizeof resp.content_type) == NULL
          || memchr (resp.allow, '\0', sizeof resp.allow) == NULL)
        abort ();
      if (size < 4 || memcmp (data + size - 4, "\r\n\r\n", 4) != 0)
        abort ();
    }
  http_parse_chunk_size ((const char *)data, size, &chunk_size);
  return 0;
}
