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

/* The same clock in seconds, for timeouts given in seconds. */
static inline double
clock_now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
