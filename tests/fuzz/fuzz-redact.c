/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for redact_user_url: a URL of any shape as a user may
 * type it, with a ticket put anywhere in it.  The output never shows more
 * than the ticket's first 8 characters, is NUL-terminated within the
 * buffer, and never grows past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

#define TICKET "0123abcd-4567-89ef-0123-456789abcdef"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char url[4200], out[300];
  size_t at, bufsz, n;

  if (size < 2 || size > 4096)
    return 0;
  /* Byte 0: where the ticket goes; byte 1: the output buffer's size. */
  n = size - 2;
  at = n ? data[0] % (n + 1) : 0;
  bufsz = 1 + data[1] % (sizeof out - 1);
  memcpy (url, data + 2, at);
  memcpy (url + at, TICKET, strlen (TICKET));
  memcpy (url + at + strlen (TICKET), data + 2 + at, n - at);
  url[n + strlen (TICKET)] = '\0';

  memset (out, 'X', sizeof out);
  redact_user_url (url, out, bufsz);
  if (memchr (out, '\0', bufsz) == NULL)
    abort ();
  if (bufsz < sizeof out && out[bufsz] != 'X')
    abort ();
  /* The ticket's tail has no separator: whatever piece holds it is cut. */
  if (strstr (out, &TICKET[8]) != NULL)
    abort ();
  return 0;
}
