/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of plugin/extents.c with a scripted download (no HTTP): the
 * extents_timeout deadline cuts a body that keeps arriving, with one error
 * and the whole image as data; a refused document and a failed download
 * fall back the same way; updates made during the download are queued and
 * applied with the holes around them turned into zero.  Windows (a fake
 * server with start=/length=): a query fetches only its window, updates
 * during a window's download are applied to it and not to windows not
 * fetched, windows past the limit are dropped and fetched again, a reader
 * past a window's middle and zero elision get the next window fetched in
 * the background, and a server that ignores the parameters is asked once.
 * nbdkit_error and nbdkit_debug are stubs that count and print.  Aborts on
 * failure.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extent-map.h"
#include "extents.h"

#include "check.h"
#include "extent-collect.h"

static int errors;
static char last_error[512];

void
nbdkit_error (const char *fs, ...)
{
  va_list ap;

  va_start (ap, fs);
  vsnprintf (last_error, sizeof last_error, fs, ap);
  va_end (ap);
  errors++;
  printf ("error: %s\n", last_error);
}

void
nbdkit_debug (const char *fs, ...)
{
  (void)fs;
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MIB (1024 * 1024ULL)

/* The scripted download: what fetch() does. */
enum script
{
  TRICKLE,
  GOOD_WITH_UPDATES,
  BAD_DOC,
  NET_ERROR
};
static enum script script;
static int sink_refused; /* the sink returned -1 */

static int
fetch (void *opaque, uint64_t offset, uint64_t length, http_body_fn sink,
       void *sink_opaque, char *errbuf, size_t errlen)
{
  static char spaces[4096];
  char doc[256];
  int n;

  (void)opaque;
  CHECK (offset == 0 && length == 0); /* one window: the whole list */
  switch (script)
    {
    case TRICKLE:
      /* A valid start, then white space for ever, 4 KiB a millisecond (each
       * piece arrives at once: no wait of the HTTP client ever times out).
       */
      n = snprintf (doc, sizeof doc,
                    "[{\"start\": 0, \"length\": %llu, "
                    "\"zero\": true, \"hole\": true}",
                    64 * MIB);
      CHECK (sink (sink_opaque, doc, n) == 0);
      memset (spaces, ' ', sizeof spaces);
      for (;;)
        {
          if (sink (sink_opaque, spaces, sizeof spaces) == -1)
            {
              sink_refused++;
              snprintf (errbuf, errlen,
                        "response body rejected by the receiver");
              return -1;
            }
          usleep (1000);
        }
    case GOOD_WITH_UPDATES:
      /* 64 MiB: data 0-1 MiB, hole after.  While it downloads, a write of
       * 4 KiB at 10 MiB + 12 KiB and a zero of 8 KiB at 32 MiB - 4 KiB.
       */
      n = snprintf (doc, sizeof doc,
                    "[{\"start\": 0, \"length\": %llu, \"zero\": false, "
                    "\"hole\": false}, ",
                    MIB);
      CHECK (sink (sink_opaque, doc, n) == 0);
      extents_written (10 * MIB + 12288, 4096);
      extents_zeroed (32 * MIB - 4096, 8192);
      n = snprintf (doc, sizeof doc,
                    "{\"start\": %llu, \"length\": %llu, "
                    "\"zero\": true, \"hole\": true}]",
                    MIB, 63 * MIB);
      CHECK (sink (sink_opaque, doc, n) == 0);
      return 0;
    case BAD_DOC:
      n = snprintf (doc, sizeof doc, "[{\"start\": 0, \"length\": 1");
      CHECK (sink (sink_opaque, doc, n) == 0);
      memset (spaces, '1', sizeof spaces);
      if (sink (sink_opaque, spaces, sizeof spaces) == -1)
        {
          sink_refused++;
          snprintf (errbuf, errlen, "response body rejected by the receiver");
          return -1;
        }
      abort (); /* a 4 KiB number must be refused */
    case NET_ERROR:
      snprintf (errbuf, errlen, "recv: connection reset by peer");
      return -1;
    }
  abort ();
}

/* One run of SCRIPT on an image of SIZE with extents_timeout=TIMEOUT:
 * returns the map the plugin reports, in X.
 */
static double
run (enum script s, uint64_t size, unsigned timeout, struct exts *x)
{
  double t0 = now ();

  script = s;
  errors = sink_refused = 0;
  last_error[0] = '\0';
  memset (x, 0, sizeof *x);
  extents_init (size, timeout, fetch, NULL);
  CHECK (extents_query (0, size, false, collect, x) == 0);
  return now () - t0;
}

/* ------------------------------------------------------------- windows */

extern int imageio_debug_extents_window_mib;
extern int imageio_debug_extents_max_windows;

/* A server with a fixed layout: in every 8 MiB, 1 MiB of data then 7 MiB
 * of hole.  IGNORE: it ignores start=/length= (answers the whole list).
 * Counts the downloads and remembers the last window asked for; an update
 * may be made in the middle of a download (UPDATE_AT: the window whose
 * download does it).
 */
static bool win_ignore;
static int win_fetches;
static uint64_t win_last_offset, win_last_length;
static int update_at = -1;

static int
win_fetch (void *opaque, uint64_t offset, uint64_t length, http_body_fn sink,
           void *sink_opaque, char *errbuf, size_t errlen)
{
  uint64_t size = 64 * MIB, pos, end;
  char doc[256];
  int n;

  (void)opaque;
  (void)errbuf;
  (void)errlen;
  __atomic_add_fetch (&win_fetches, 1, __ATOMIC_SEQ_CST);
  win_last_offset = offset;
  win_last_length = length;
  if (win_ignore || length == 0)
    {
      offset = 0;
      length = size;
    }
  end = offset + length;
  CHECK (sink (sink_opaque, "[", 1) == 0);
  for (pos = offset; pos < end;)
    {
      uint64_t blk = pos / (8 * MIB) * (8 * MIB);
      bool data = pos < blk + MIB;
      uint64_t e = data ? blk + MIB : blk + 8 * MIB;

      if (e > end)
        e = end;
      n = snprintf (doc, sizeof doc,
                    "%s{\"start\": %" PRIu64 ", \"length\": %" PRIu64
                    ", \"zero\": %s, \"hole\": %s}",
                    pos == offset ? "" : ", ", pos, e - pos,
                    data ? "false" : "true", data ? "false" : "true");
      CHECK (sink (sink_opaque, doc, n) == 0);
      pos = e;
      if (update_at >= 0 && offset == (uint64_t)update_at * 8 * MIB
          && pos >= offset + MIB)
        {
          /* Made while the window downloads: in this window and in one not
           * fetched (window 7).
           */
          extents_written (offset + 4 * MIB, 4096);
          extents_written (56 * MIB + 2 * MIB, 4096);
          update_at = -1;
        }
    }
  CHECK (sink (sink_opaque, "]", 1) == 0);
  return 0;
}

/* Waits (2 s at most) until N downloads were made, and a little more
 * for the one running to be published.
 */
static void
wait_fetches (int n)
{
  for (int k = 0;
       k < 2000 && __atomic_load_n (&win_fetches, __ATOMIC_SEQ_CST) < n; k++)
    usleep (1000);
  usleep (20000);
}

/* The type reported at OFFSET (one extent). */
static uint32_t
type_at (uint64_t offset, uint64_t *end)
{
  struct exts x = { 0 };

  CHECK (extents_query (offset, 4096, true, collect, &x) == 0);
  CHECK (x.n == 1 && x.e[0].start == offset);
  if (end)
    *end = x.e[0].start + x.e[0].length;
  return x.e[0].type;
}

static void
test_windows (void)
{
  struct exts x = { 0 };
  uint64_t end;
  int i;

  imageio_debug_extents_window_mib = 8;
  imageio_debug_extents_max_windows = 2;
  errors = 0;

  /* A query fetches only its window, and answers from it at once. */
  win_ignore = false;
  win_fetches = 0;
  extents_init (64 * MIB, 10, win_fetch, NULL);
  CHECK (type_at (20 * MIB, &end) == 3 && end == 24 * MIB);
  CHECK (win_fetches == 1 && win_last_offset == 16 * MIB
         && win_last_length == 8 * MIB);
  CHECK (extents_known ());
  CHECK (type_at (16 * MIB + 100, &end) == 0 && end == 17 * MIB);
  CHECK (win_fetches == 1);

  /* Updates during a window's download: the one inside it is applied (the
   * holes of its 2 MiB block become zero); the one in a window not fetched
   * changes nothing (the server's answer will hold it: here it does not,
   * which shows the plugin did not touch it).
   */
  update_at = 3;
  CHECK (type_at (28 * MIB, &end) == 0 && end == 28 * MIB + 4096);
  CHECK (win_fetches == 2 && win_last_offset == 24 * MIB);
  CHECK (type_at (28 * MIB + 4096, &end) == 2 && end == 30 * MIB);
  CHECK (type_at (30 * MIB, NULL) == 3);
  CHECK (type_at (58 * MIB, &end) == 3 && end == 64 * MIB);
  CHECK (win_fetches == 3);
  /* A write into a known window applies at once. */
  extents_written (60 * MIB, 512);
  CHECK (type_at (60 * MIB, NULL) == 0);
  CHECK (type_at (60 * MIB + 512, &end) == 2 && end == 62 * MIB);

  /* At most 2 windows kept: windows 2 and 3 were dropped, so asking again
   * downloads again.
   */
  i = win_fetches;
  CHECK (type_at (16 * MIB, NULL) == 0);
  CHECK (win_fetches == i + 1);
  /* A query spanning windows stops at the end of what is known (and,
   * having reached the end of its window, has the next one fetched).
   */
  memset (&x, 0, sizeof x);
  CHECK (extents_query (23 * MIB, 4 * MIB, false, collect, &x) == 0);
  CHECK (x.n == 1 && x.e[0].start == 23 * MIB && x.e[0].length == MIB);
  wait_fetches (i + 2);
  CHECK (win_fetches == i + 2 && win_last_offset == 24 * MIB);
  /* Now known: the same query runs on into window 3 (and, past its
   * middle, has window 4 fetched).  Window 3 came from the server again:
   * its answer is the truth now (this fake server never holds writes).
   */
  memset (&x, 0, sizeof x);
  CHECK (extents_query (23 * MIB, 4 * MIB, false, collect, &x) == 0);
  CHECK (x.n == 3 && x.e[1].start == 24 * MIB && x.e[1].type == 0
         && x.e[2].start == 25 * MIB && x.e[2].length == 7 * MIB);
  wait_fetches (i + 3);
  CHECK (win_fetches == i + 3 && win_last_offset == 32 * MIB);

  /* A reader past the middle of a window gets the next one fetched in the
   * background.
   */
  i = win_fetches;
  CHECK (type_at (45 * MIB, NULL) == 3); /* window 5, fetched */
  CHECK (win_fetches == i + 1);
  wait_fetches (i + 2);
  printf ("prefetch: %d fetches (before %d), last offset %" PRIu64 "\n",
          win_fetches, i, win_last_offset);
  CHECK (win_fetches == i + 2 && win_last_offset == 48 * MIB);
  /* Zero elision asks for the window too, without waiting. */
  i = win_fetches;
  CHECK (!extents_reads_as_zero (2 * MIB, 4096)); /* window 0: absent */
  wait_fetches (i + 1);
  CHECK (win_fetches == i + 1 && win_last_offset == 0);
  for (int k = 0; k < 2000 && !extents_reads_as_zero (2 * MIB, 4096); k++)
    usleep (1000);
  CHECK (extents_reads_as_zero (2 * MIB, 4096));
  CHECK (!extents_reads_as_zero (0, 4096));
  CHECK (errors == 0);
  extents_cleanup ();

  /* A server that ignores the parameters: the whole list from the first
   * window request, and no request after it.
   */
  win_ignore = true;
  win_fetches = 0;
  extents_init (64 * MIB, 10, win_fetch, NULL);
  CHECK (type_at (20 * MIB, &end) == 3 && end == 24 * MIB);
  CHECK (win_fetches == 1 && win_last_length == 8 * MIB);
  memset (&x, 0, sizeof x);
  CHECK (extents_query (0, 64 * MIB - 1, false, collect, &x) == 0);
  CHECK (x.n == 16 && x.e[15].start == 57 * MIB);
  CHECK (type_at (60 * MIB, NULL) == 3);
  CHECK (win_fetches == 1 && errors == 0);
  extents_cleanup ();

  imageio_debug_extents_window_mib = 0;
  imageio_debug_extents_max_windows = 0;
}

int
main (void)
{
  struct exts x;
  double t;

  setvbuf (stdout, NULL, _IONBF, 0); /* printed before an abort */
  /* A body still arriving at the deadline is cut by the sink. */
  t = run (TRICKLE, 64 * MIB, 1, &x);
  printf ("trickle: fell back after %.3f s\n", t);
  CHECK (t >= 0.9 && t < 5);
  CHECK (sink_refused == 1 && errors == 1);
  CHECK (strstr (last_error, "within extents_timeout=1 seconds") != NULL);
  CHECK (strstr (last_error, "cut at the deadline") != NULL);
  CHECK (strstr (last_error, "reporting the whole image as data") != NULL);
  CHECK (x.n == 1 && x.e[0].length == 64 * MIB && x.e[0].type == 0);
  CHECK (!extents_known ());
  /* No second attempt, no second error. */
  CHECK (extents_query (0, 4096, false, collect, &x) == 0 && errors == 1);
  extents_cleanup ();

  /* Updates during the download: queued, then applied with the holes of
   * their 2 MiB blocks turned into zero.
   */
  t = run (GOOD_WITH_UPDATES, 64 * MIB, 10, &x);
  CHECK (errors == 0 && extents_known ());
  {
    static const struct ext want[] = {
      { 0, MIB, 0 },
      { MIB, 9 * MIB, 3 },
      { 10 * MIB, 12288, 2 },
      { 10 * MIB + 12288, 4096, 0 },
      { 10 * MIB + 16384, 2 * MIB - 16384, 2 },
      { 12 * MIB, 18 * MIB, 3 },
      { 30 * MIB, 4 * MIB, 2 }, /* the zero spans two blocks */
      { 34 * MIB, 30 * MIB, 3 },
    };

    for (int i = 0; i < x.n; i++)
      printf ("  %" PRIu64 " %" PRIu64 " %u\n", x.e[i].start, x.e[i].length,
              x.e[i].type);
    CHECK (x.n == (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < x.n; i++)
      CHECK (x.e[i].start == want[i].start && x.e[i].length == want[i].length
             && x.e[i].type == want[i].type);
  }
  /* Applied at once now that the map is known; 40 MiB starts a block. */
  extents_written (40 * MIB, 512);
  memset (&x, 0, sizeof x);
  CHECK (extents_query (38 * MIB, 6 * MIB, false, collect, &x) == 0);
  CHECK (x.n == 4);
  CHECK (x.e[x.n - 4].start == 38 * MIB && x.e[x.n - 4].type == 3);
  CHECK (x.e[x.n - 3].start == 40 * MIB && x.e[x.n - 3].type == 0);
  CHECK (x.e[x.n - 2].start == 40 * MIB + 512 && x.e[x.n - 2].type == 2);
  CHECK (x.e[x.n - 1].start == 42 * MIB && x.e[x.n - 1].type == 3);
  extents_cleanup ();

  /* A refused document: one error quoting the parser. */
  run (BAD_DOC, 64 * MIB, 10, &x);
  CHECK (sink_refused == 1 && errors == 1);
  CHECK (strstr (last_error, "invalid document from server: a number or "
                             "literal longer than 32 bytes at byte 56")
         != NULL);
  CHECK (x.n == 1 && x.e[0].type == 0);
  extents_cleanup ();

  /* A failed download. */
  run (NET_ERROR, 64 * MIB, 10, &x);
  CHECK (errors == 1);
  CHECK (strstr (last_error, "could not download the extents: recv: "
                             "connection reset by peer")
         != NULL);
  CHECK (x.n == 1 && x.e[0].type == 0);
  extents_cleanup ();

  test_windows ();
  printf ("ok\n");
  return 0;
}
