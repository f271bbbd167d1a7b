/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target for the request-target checks and the query-string
 * parser (uri_check, query_parse, query_get in server/parse.c), and the
 * framing check over header fields cut from the same bytes.  Properties:
 * an accepted target has no control byte, no %00 and no encoded '/' or
 * '\' in its path; decoded keys and values hold no NUL and are found again
 * by query_get; at most QUERY_MAX arguments.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_framing (const char *s, size_t size)
{
  /* Lines "name: value" separated by '\n' (at most 8). */
  char *copy = strndup (s, size), *line, *save = NULL;
  const char *names[8], *values[8];
  size_t n = 0;
  char err[128];

  if (copy == NULL)
    return;
  for (line = strtok_r (copy, "\n", &save); line && n < 8;
       line = strtok_r (NULL, "\n", &save))
    {
      char *colon = strchr (line, ':');

      if (colon == NULL)
        continue;
      *colon = '\0';
      names[n] = line;
      values[n++] = colon + 1;
    }
  memset (err, 0, sizeof err);
  if (framing_check (names, values, n, err, sizeof err) == -1
      && (err[0] == '\0' || strchr (err, '\n')))
    abort ();
  free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  size_t path_len;
  struct query q;
  char err[128];

  memset (err, 0, sizeof err);
  if (uri_check (s, size, &path_len, err, sizeof err) == 0)
    {
      if (path_len > size)
        abort ();
      for (size_t i = 0; i < size; i++)
        {
          unsigned char c = s[i];

          if (c <= 0x20 || c >= 0x7f)
            abort ();
          if (c == '%'
              && (i + 2 >= size || (s[i + 1] == '0' && s[i + 2] == '0')))
            abort ();
          if (c == '%' && i < path_len && s[i + 1] == '2'
              && (s[i + 2] == 'f' || s[i + 2] == 'F'))
            abort ();
        }
    }
  else if (err[0] == '\0' || strchr (err, '\n'))
    abort ();

  memset (err, 0, sizeof err);
  if (query_parse (s, size, &q, err, sizeof err) == 0)
    {
      if (q.n > QUERY_MAX)
        abort ();
      for (size_t i = 0; i < q.n; i++)
        {
          if (q.keys[i] == NULL || !query_has (&q, q.keys[i]))
            abort ();
          if (strlen (q.keys[i]) > size
              || (q.values[i] && strlen (q.values[i]) > size))
            abort ();
        }
      if (q.n > 0 && query_get (&q, q.keys[0]) != q.values[0])
        abort ();
      query_free (&q);
    }
  else if (err[0] == '\0' || strchr (err, '\n'))
    abort ();

  check_framing (s, size);
  return 0;
}
