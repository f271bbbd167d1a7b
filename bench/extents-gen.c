/* extents-gen: makes and parses large imageio extents documents, to measure
 * the plugin's streaming extents parser (plugin/json.c) on its own.
 *
 *   extents-gen N > doc.json
 *       writes a document of N extents shaped like imageio's answer
 *       (alternating data and zero+hole, lengths 4 KiB..1 MiB), and prints
 *       the image size it covers on stderr;
 *   extents-gen --parse SIZE < doc.json
 *       feeds stdin in 64 KiB pieces (as an HTTP body arrives) through
 *       extents_parser for an image of SIZE bytes and prints the extent
 *       count, bytes and CPU time.  Exit 1 with the parser's reason if the
 *       document is rejected.
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

  for (i = 0; i < n; i++) {
    uint64_t len;
    int zero = i % 2;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    len = 4096 * (1 + x % 256);
    printf ("%s{\"start\": %" PRIu64 ", \"length\": %" PRIu64
            ", \"zero\": %s, \"hole\": %s}", i == 0 ? "[" : ", ", pos, len,
            zero ? "true" : "false", zero ? "true" : "false");
    pos += len;
  }
  printf (n ? "]\n" : "[]\n");
  fprintf (stderr, "size %" PRIu64 "\n", pos);
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

  if (p == NULL) {
    fprintf (stderr, "out of memory\n");
    return 1;
  }
  while ((r = read (0, buf, sizeof buf)) > 0) {
    bytes += r;
    if (extents_parser_feed (p, buf, r) == -1)
      break;
  }
  m = extents_parser_finish (p, err, sizeof err);
  extents_parser_free (p);
  if (m == NULL) {
    fprintf (stderr, "rejected: %s\n", err);
    return 1;
  }
  printf ("%" PRIu64 " bytes, %" PRIu64 " extents, %.3f s CPU\n", bytes,
          extent_map_count (m), (double) (clock () - c0) / CLOCKS_PER_SEC);
  extent_map_free (m);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 2 && strcmp (argv[1], "--help") != 0)
    return generate (strtoull (argv[1], NULL, 10));
  if (argc == 3 && strcmp (argv[1], "--parse") == 0)
    return parse (strtoull (argv[2], NULL, 10));
  fprintf (stderr, "usage: extents-gen N > doc.json\n"
           "       extents-gen --parse SIZE < doc.json\n");
  return 2;
}
