/* Connection count, head deadlines (a watchdog thread) and the PUT
 * memory budget; see conn-limits.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn-limits.h"
#include "log.h"

/* How often the watchdog looks at the deadlines. */
#define WATCHDOG_PERIOD_MS 200

/* Set by main before limits_start, read-only afterwards. */
static struct limits cfg = {
  .max_connections = LIMITS_DEFAULT_MAX_CONNECTIONS,
  .max_per_ip = LIMITS_DEFAULT_MAX_PER_IP,
  .head_timeout = LIMITS_DEFAULT_HEAD_TIMEOUT,
  .idle_timeout = LIMITS_DEFAULT_IDLE_TIMEOUT,
  .put_memory = (size_t)LIMITS_DEFAULT_PUT_MEMORY_MIB * 1024 * 1024,
};

/* Protects the connection list (head), nr_conns, every registered
 * entry's deadline and cut, put_used and stopping.  Never held across I/O
 * but shutdown(2), which does not block.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct limits_conn *head;
static unsigned nr_conns;
static size_t put_used;
static bool stopping, started;
static pthread_t watchdog;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
limits_configure (const struct limits *l)
{
  cfg = *l;
}

const struct limits *
limits_get (void)
{
  return &cfg;
}

static void *
watchdog_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&lock);
  while (!stopping)
    {
      struct timespec ts;
      double t = now ();

      for (struct limits_conn *lc = head; lc; lc = lc->next)
        if (lc->deadline > 0 && t > lc->deadline && !lc->cut)
          {
            /* The connection's own thread sees end of file and closes
             * it; the descriptor stays valid until limits_conn_end.
             */
            shutdown (lc->fd, SHUT_RDWR);
            lc->cut = true;
          }
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += WATCHDOG_PERIOD_MS * 1000000L;
      if (ts.tv_nsec >= 1000000000L)
        {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
      pthread_cond_timedwait (&wake, &lock, &ts);
    }
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
limits_start (void)
{
  int r = pthread_create (&watchdog, NULL, watchdog_main, NULL);

  if (r != 0)
    {
      log_msg ("cannot start the watchdog: %s", strerror (r));
      return -1;
    }
  started = true;
  return 0;
}

void
limits_stop (void)
{
  if (!started)
    return;
  pthread_mutex_lock (&lock);
  stopping = true;
  pthread_cond_signal (&wake);
  pthread_mutex_unlock (&lock);
  pthread_join (watchdog, NULL);
  started = false;
}

bool
limits_accept_ok (void)
{
  bool ok;

  pthread_mutex_lock (&lock);
  ok = nr_conns < cfg.max_connections;
  pthread_mutex_unlock (&lock);
  return ok;
}

void
limits_conn_start (struct limits_conn *lc, int fd)
{
  pthread_mutex_lock (&lock);
  lc->fd = fd;
  lc->deadline = now () + cfg.head_timeout;
  lc->cut = false;
  lc->prev = NULL;
  lc->next = head;
  if (head)
    head->prev = lc;
  head = lc;
  nr_conns++;
  pthread_mutex_unlock (&lock);
}

void
limits_conn_end (struct limits_conn *lc)
{
  pthread_mutex_lock (&lock);
  if (lc->prev)
    lc->prev->next = lc->next;
  else
    head = lc->next;
  if (lc->next)
    lc->next->prev = lc->prev;
  lc->prev = lc->next = NULL;
  nr_conns--;
  pthread_mutex_unlock (&lock);
}

void
limits_conn_busy (struct limits_conn *lc)
{
  pthread_mutex_lock (&lock);
  lc->deadline = 0;
  pthread_mutex_unlock (&lock);
}

void
limits_conn_wait (struct limits_conn *lc, double seconds)
{
  pthread_mutex_lock (&lock);
  lc->deadline = now () + seconds;
  pthread_mutex_unlock (&lock);
}

bool
limits_conn_was_cut (struct limits_conn *lc)
{
  bool cut;

  pthread_mutex_lock (&lock);
  cut = lc->cut;
  pthread_mutex_unlock (&lock);
  return cut;
}

bool
limits_put_reserve (size_t bytes)
{
  bool ok;

  pthread_mutex_lock (&lock);
  ok = put_used + bytes <= cfg.put_memory;
  if (ok)
    put_used += bytes;
  pthread_mutex_unlock (&lock);
  return ok;
}

void
limits_put_release (size_t bytes)
{
  pthread_mutex_lock (&lock);
  put_used -= bytes;
  pthread_mutex_unlock (&lock);
}
