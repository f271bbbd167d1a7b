/* SPDX-License-Identifier: BSD-3-Clause */
/* Transfer statistics; see stats.h.  One line, printed from .cleanup:
 * nbdkit calls it on every way out (the last client gone with --run,
 * SIGTERM, SIGINT), after the final flush, so the line can say how the
 * transfer ended.  Printing per NBD connection instead gave two lines
 * for one nbdinfo and none when nbdkit exited before the last close.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "clock.h"
#include "locks.h"
#include "stats.h"

static uint64_t counters[STATS_NR_COUNTERS];

/* lock protects everything below. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t start_ms;
static bool failed, printed;
static char fail_why[300];
static uint64_t fail_bytes;

void
stats_add (enum stats_counter c, uint64_t n)
{
  __atomic_add_fetch (&counters[c], n, __ATOMIC_RELAXED);
}

void
stats_max (enum stats_counter c, uint64_t n)
{
  uint64_t old = __atomic_load_n (&counters[c], __ATOMIC_RELAXED);

  while (old < n
         && !__atomic_compare_exchange_n (&counters[c], &old, n, false,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

void
stats_client_open (void)
{
  LOCK_FOR_SCOPE (&lock);
  if (start_ms == 0)
    start_ms = clock_now_ms ();
}

void
stats_failed (const char *why, uint64_t bytes_at_risk)
{
  LOCK_FOR_SCOPE (&lock);
  if (bytes_at_risk > fail_bytes)
    fail_bytes = bytes_at_risk;
  if (!failed)
    snprintf (fail_why, sizeof fail_why, "%s", why);
  failed = true;
}

/* The summary of DURATION_S seconds, V holding every counter. */
static void
stats_format (char *buf, size_t len, const uint64_t *v, uint64_t connects,
              double duration_s, const char *result)
{
  double moved = v[STATS_BYTES_READ] + v[STATS_BYTES_WRITTEN];

  snprintf (
      buf, len,
      "read %" PRIu64 " bytes, wrote %" PRIu64 " bytes, zeroed %" PRIu64
      " bytes (%" PRIu64 " zero requests not sent: already zero), "
      "%" PRIu64 " requests sent again, %" PRIu64 " replays of "
      "unflushed writes (%" PRIu64 " writes resent, %" PRIu64
      " checkpoint flushes), %" PRIu64 " HTTP connections opened (%" PRIu64
      " closed after a failure), longest outage ridden out %.1f s, "
      "%.1f s, %.1f MiB/s read+written, result: %s",
      v[STATS_BYTES_READ], v[STATS_BYTES_WRITTEN], v[STATS_BYTES_ZEROED],
      v[STATS_ZEROES_ELIDED], v[STATS_REQUESTS_RETRIED], v[STATS_REPLAYS],
      v[STATS_WRITES_RESENT], v[STATS_CHECKPOINTS], connects,
      v[STATS_CONNS_CLOSED], v[STATS_LONGEST_OUTAGE_MS] / 1000.0, duration_s,
      duration_s > 0 ? moved / duration_s / (1024 * 1024) : 0.0, result);
}

void
stats_summary (uint64_t connects)
{
  uint64_t v[STATS_NR_COUNTERS];
  char line[1024], result[400];
  double duration_s;

  {
    LOCK_FOR_SCOPE (&lock);
    if (printed)
      return;
    for (int i = 0; i < STATS_NR_COUNTERS; i++)
      v[i] = __atomic_load_n (&counters[i], __ATOMIC_RELAXED);
    if (!failed
        && v[STATS_BYTES_READ] + v[STATS_BYTES_WRITTEN] + v[STATS_BYTES_ZEROED]
               == 0)
      return; /* nothing moved: a probe, not a transfer */
    printed = true;
    duration_s = start_ms ? (clock_now_ms () - start_ms) / 1000.0 : 0;
    if (failed)
      snprintf (result, sizeof result,
                "FAILED (%s, %" PRIu64 " bytes may be lost)", fail_why,
                fail_bytes);
    else
      snprintf (result, sizeof result, "ok");
  }
  stats_format (line, sizeof line, v, connects, duration_s, result);
  /* nbdkit has no log level between error and debug: standard error is
   * where nbdkit -f (as virt-v2v runs it) shows messages.
   */
  fprintf (stderr, "nbdkit: imageio: transfer summary: %s\n", line);
  fflush (stderr);
}
