/* SPDX-License-Identifier: BSD-3-Clause */
/* The keeper thread; see keeper.h.  It starts in .after_fork and stops in
 * .cleanup.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "keeper.h"
#include "locks.h"
#include "pool.h"
#include "replay.h"

/* lock protects stop; cond wakes the thread early to stop. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool stop;
static pthread_t thread;
static bool running;
static unsigned idle_seconds;

/* Sleeps one second; false when asked to stop. */
static bool
sleep_a_second (void)
{
  struct timespec deadline;

  LOCK_FOR_SCOPE (&lock);
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 1;
  while (!stop && pthread_cond_timedwait (&cond, &lock, &deadline) == 0)
    ;
  return !stop;
}

static void *
keeper_main (void *arg)
{
  (void)arg;
  while (sleep_a_second ())
    {
      struct pool_conn *pc;

      if (replay_pending () && pool_idle_for (idle_seconds))
        {
          if (imageio_debug_pool)
            nbdkit_debug ("pool: idle with unflushed writes: flushing");
          /* A failure is reported there and stays sticky. */
          replay_flush ();
          continue;
        }
      while ((pc = pool_take_idle_dirty (idle_seconds)) != NULL)
        {
          if (imageio_debug_pool)
            nbdkit_debug ("pool: flushing idle connection %u", pc->id);
          replay_flush_idle_conn (pc);
          pool_put (pc);
        }
    }
  return NULL;
}

int
keeper_start (unsigned idle_flush)
{
  int err;

  if (running)
    return 0;
  idle_seconds = idle_flush;
  stop = false;
  err = pthread_create (&thread, NULL, keeper_main, NULL);
  if (err != 0)
    {
      errno = err;
      nbdkit_error ("pthread_create: %m");
      return -1;
    }
  running = true;
  return 0;
}

void
keeper_stop (void)
{
  if (!running)
    return;
  {
    LOCK_FOR_SCOPE (&lock);
    stop = true;
    pthread_cond_signal (&cond);
  }
  pthread_join (thread, NULL);
  running = false;
}
