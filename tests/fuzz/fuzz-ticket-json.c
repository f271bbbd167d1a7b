/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the ticket parser in server/tickets.c (the body of
 * control PUT /tickets/ID and --ticket files): arbitrary bytes, not
 * NUL-terminated.  A parsed ticket must have a non-empty id of printable
 * ASCII without '/', and a url of a kind the backends know; a refusal must
 * give one non-empty line.  Half of the inputs also require the uuid to
 * match a fixed id, as the control service does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tickets.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *want = size % 2 ? "0123abcd-0000-1111-2222-333344445555" : NULL;
  struct ticket *t;
  char err[256];

  memset (err, 0, sizeof err);
  t = ticket_parse ((const char *)data, size, want, err, sizeof err);
  if (t)
    {
      if (t->id == NULL || t->id[0] == '\0' || strchr (t->id, '/') != NULL)
        abort ();
      for (const char *p = t->id; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
          abort ();
      if (want && strcmp (t->id, want) != 0)
        abort ();
      if (strncmp (t->url, "file:///", 8) != 0
          && strncmp (t->url, "nbd:unix:/", 10) != 0)
        abort ();
      /* The ops as given: "write" alone is kept as such (it reads too,
       * in images.c, as in imageio).
       */
      if (t->inactivity_timeout < 1)
        abort ();
      ticket_unref (t);
    }
  else if (err[0] == '\0' || memchr (err, '\n', strnlen (err, sizeof err)))
    abort ();
  return 0;
}
