/* SPDX-License-Identifier: BSD-3-Clause */
/* Transfer statistics; see stats.h. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "clock.h"
#include "locks.h"
#include "stats.h"

static uint64_t counters[STATS_NR_COUNTERS];

/* lock protects clients, start_ms and connects_at_start. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned clients;
static int64_t start_ms;
static uint64_t connects_at_start;

void
stats_add (enum stats_counter c, uint64_t n)
{
  __atomic_add_fetch (&counters[c], n, __ATOMIC_RELAXED);
}

void
stats_client_open (void)
{
  LOCK_FOR_SCOPE (&lock);
  if (clients++ == 0 && start_ms == 0)
    start_ms = clock_now_ms ();
}

/* The summary of DURATION_S seconds, V holding every counter. */
static void
stats_format (char *buf, size_t len, const uint64_t *v, uint64_t connects,
              double duration_s)
{
  double moved = v[STATS_BYTES_READ] + v[STATS_BYTES_WRITTEN];

  snprintf (buf, len,
            "read %" PRIu64 " bytes, wrote %" PRIu64 " bytes, zeroed %" PRIu64
            " bytes (%" PRIu64 " zero requests not sent: already zero), "
            "%" PRIu64 " requests sent again, %" PRIu64 " replays of "
            "unflushed writes (%" PRIu64 " writes resent), %" PRIu64
            " HTTP connections opened, %.1f s, %.1f MiB/s read+written",
            v[STATS_BYTES_READ], v[STATS_BYTES_WRITTEN], v[STATS_BYTES_ZEROED],
            v[STATS_ZEROES_ELIDED], v[STATS_REQUESTS_RETRIED], v[STATS_REPLAYS],
            v[STATS_WRITES_RESENT], connects, duration_s,
            duration_s > 0 ? moved / duration_s / (1024 * 1024) : 0.0);
}

void
stats_client_close (uint64_t connects)
{
  uint64_t v[STATS_NR_COUNTERS];
  char line[512];
  double duration_s;

  {
    LOCK_FOR_SCOPE (&lock);
    if (clients == 0 || --clients > 0)
      return;
    for (int i = 0; i < STATS_NR_COUNTERS; i++)
      v[i] = __atomic_exchange_n (&counters[i], 0, __ATOMIC_RELAXED);
    duration_s = (clock_now_ms () - start_ms) / 1000.0;
    start_ms = 0;
    connects -= connects_at_start;
    connects_at_start += connects;
  }
  stats_format (line, sizeof line, v, connects, duration_s);
  /* nbdkit has no log level between error and debug: standard error is
   * where nbdkit -f (as virt-v2v runs it) shows messages.
   */
  fprintf (stderr, "nbdkit: imageio: transfer summary: %s\n", line);
  fflush (stderr);
}
