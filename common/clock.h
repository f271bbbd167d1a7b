/* SPDX-License-Identifier: BSD-3-Clause */
/* The monotonic clock in milliseconds, for deadlines: never goes back when
 * the wall clock is set.
 */
#ifndef IMAGEIO_CLOCK_H
#define IMAGEIO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
clock_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* TS plus MS (>= 0) milliseconds. */
static inline struct timespec
timespec_add_ms (struct timespec ts, int64_t ms)
{
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L)
    {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
  return ts;
}

/* The wall clock MS milliseconds from now: the deadline that
 * pthread_cond_timedwait takes (it waits on CLOCK_REALTIME).
 */
static inline struct timespec
clock_realtime_after_ms (int64_t ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return timespec_add_ms (ts, ms);
}

/* The same clock in seconds, for timeouts given in seconds. */
static inline double
clock_now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
