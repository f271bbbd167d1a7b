/* SPDX-License-Identifier: BSD-3-Clause */
/* extents-gen: makes and parses large imageio extents documents, to measure
 * the plugin's streaming extents parser (plugin/json.c) on its own.
 *
 *   extents-gen N > doc.json
 *       writes a document of N extents shaped like imageio's answer
 *       (alternating data and zero+hole, lengths 4 KiB..1 MiB), and prints
 *       the image size it covers on stderr;
 *   extents-gen --hostile SHAPE BYTES > doc.json
 *       writes a hostile document of about BYTES bytes, one of the shapes a
 *       broken or malicious server could send to make parsing slow:
 *         number   one number of BYTES digits ("length": 1111...)
 *         string   one string value of BYTES chars under an unknown key
 *         key      one key of BYTES chars
 *         nest     BYTES '[' under an unknown key
 *         entries  BYTES/40 small valid entries, all but the first past a
 *                  one-sector (512-byte) image
 *         space    BYTES spaces inside the array
 *   extents-gen --parse SIZE < doc.json
 *       feeds stdin in 64 KiB pieces (as an HTTP body arrives) through
 *       extents_parser for an image of SIZE bytes and prints the extent
 *       count, bytes and CPU time.  Exit 1 with the parser's reason if the
 *       document is rejected (then it prints the bytes fed until the
 *       rejection and the CPU time too).
 *
 * Measure with: /usr/bin/time -v extents-gen --parse SIZE < doc.json
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

static int
generate (uint64_t n)
{
  uint64_t i, pos = 0, x = 88172645463325252ULL;

  for (i = 0; i < n; i++)
    {
      uint64_t len;
      int zero = i % 2;

      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      len = 4096 * (1 + x % 256);
      printf ("%s{\"start\": %" PRIu64 ", \"length\": %" PRIu64
              ", \"zero\": %s, \"hole\": %s}",
              i == 0 ? "[" : ", ", pos, len, zero ? "true" : "false",
              zero ? "true" : "false");
      pos += len;
    }
  printf (n ? "]\n" : "[]\n");
  fprintf (stderr, "size %" PRIu64 "\n", pos);
  return ferror (stdout) ? 1 : 0;
}

static void
repeat (int c, uint64_t n)
{
  static char buf[65536];

  memset (buf, c, sizeof buf);
  while (n > 0)
    {
      size_t k = n < sizeof buf ? n : sizeof buf;

      fwrite (buf, 1, k, stdout);
      n -= k;
    }
}

static int
hostile (const char *shape, uint64_t bytes)
{
  if (strcmp (shape, "number") == 0)
    {
      printf ("[{\"start\": 0, \"length\": ");
      repeat ('1', bytes);
      printf (", \"zero\": false}]\n");
    }
  else if (strcmp (shape, "string") == 0)
    {
      printf ("[{\"start\": 0, \"x\": \"");
      repeat ('a', bytes);
      printf ("\", \"length\": 512, \"zero\": false}]\n");
    }
  else if (strcmp (shape, "key") == 0)
    {
      printf ("[{\"");
      repeat ('k', bytes);
      printf ("\": 0, \"start\": 0, \"length\": 512, \"zero\": false}]\n");
    }
  else if (strcmp (shape, "nest") == 0)
    {
      printf ("[{\"x\": ");
      repeat ('[', bytes);
      repeat (']', bytes);
      printf (", \"start\": 0, \"length\": 512, \"zero\": false}]\n");
    }
  else if (strcmp (shape, "entries") == 0)
    {
      uint64_t i, n = bytes / 40;

      for (i = 0; i < n; i++)
        printf ("%s{\"start\":%" PRIu64 ",\"length\":512,\"zero\":false}",
                i ? "," : "[", i * 512);
      printf ("]\n");
    }
  else if (strcmp (shape, "space") == 0)
    {
      printf ("[{\"start\": 0, \"length\": 512, \"zero\": false}");
      repeat (' ', bytes);
      printf ("]\n");
    }
  else
    {
      fprintf (stderr, "unknown shape %s\n", shape);
      return 2;
    }
  return ferror (stdout) ? 1 : 0;
}

static int
parse (uint64_t size)
{
  static char buf[65536];
  struct extents_parser *p = extents_parser_new (size, UINT64_MAX);
  struct extent_map *m;
  char err[256];
  uint64_t bytes = 0;
  ssize_t r;
  clock_t c0 = clock ();

  if (p == NULL)
    {
      fprintf (stderr, "out of memory\n");
      return 1;
    }
  while ((r = read (0, buf, sizeof buf)) > 0)
    {
      bytes += r;
      if (extents_parser_feed (p, buf, r) == -1)
        break;
    }
  m = extents_parser_finish (p, err, sizeof err);
  extents_parser_free (p);
  if (m == NULL)
    {
      printf ("rejected after %" PRIu64 " bytes, %.3f s CPU: %s\n", bytes,
              (double)(clock () - c0) / CLOCKS_PER_SEC, err);
      return 1;
    }
  printf ("%" PRIu64 " bytes, %" PRIu64 " extents, %.3f s CPU\n", bytes,
          extent_map_count (m), (double)(clock () - c0) / CLOCKS_PER_SEC);
  extent_map_free (m);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 2 && strcmp (argv[1], "--help") != 0)
    return generate (strtoull (argv[1], NULL, 10));
  if (argc == 4 && strcmp (argv[1], "--hostile") == 0)
    return hostile (argv[2], strtoull (argv[3], NULL, 10));
  if (argc == 3 && strcmp (argv[1], "--parse") == 0)
    return parse (strtoull (argv[2], NULL, 10));
  fprintf (stderr, "usage: extents-gen N > doc.json\n"
                   "       extents-gen --hostile SHAPE BYTES > doc.json\n"
                   "       extents-gen --parse SIZE < doc.json\n");
  return 2;
}
