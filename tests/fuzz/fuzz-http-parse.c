/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for plugin/http-parse.c: the response head parser and
 * the chunked body decoder get arbitrary bytes (not NUL-terminated).
 * Checks the invariants the client relies on after a successful parse,
 * and that the decoder gives the same answer whatever the pieces the body
 * arrives in.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Decodes DATA in pieces of STEP bytes into OUT; returns the last result
 * and sets *OUT_LEN (decoded bytes) and *USED (input bytes of the body).
 */
static ssize_t
decode (const uint8_t *data, size_t size, size_t step, char *out,
        size_t *out_len, size_t *used)
{
  struct http_chunked d = { 0 };
  ssize_t r = -2;

  *out_len = *used = 0;
  for (size_t off = 0; off < size && r == -2; off += step)
    {
      size_t n = size - off < step ? size - off : step, got = n;

      memcpy (out + *out_len, data + off, n);
      r = http_decode_chunked (&d, out + *out_len, &got);
      if (r == -1)
        break;
      if (got > n || (r >= 0 && got + (size_t)r > n))
        abort ();
      *out_len += got;
      *used = off + n - (r > 0 ? (size_t)r : 0);
    }
  return r;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct http_response resp;
  bool chunked;

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

  if (size > 0 && size <= 65536)
    {
      char *whole = malloc (size), *pieces = malloc (size);
      size_t wl, wu, pl, pu, step = 1 + data[0] % 7;
      ssize_t rw, rp;

      if (whole == NULL || pieces == NULL)
        abort ();
      rw = decode (data, size, size, whole, &wl, &wu);
      rp = decode (data, size, step, pieces, &pl, &pu);
      /* The same outcome: done (the tail count differs with the pieces),
       * a framing error, or more needed.
       */
      if ((rw >= 0 ? 0 : rw) != (rp >= 0 ? 0 : rp))
        abort ();
      if (rw >= 0 && (wl != pl || wu != pu || memcmp (whole, pieces, wl)))
        abort ();
      free (whole);
      free (pieces);
    }
  return 0;
}
