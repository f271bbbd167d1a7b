/* SPDX-License-Identifier: BSD-3-Clause */
/* Registry of work in progress, cancellation and checksum slots; see
 * work.h.
 */
#include <poll.h> /* POLLRDHUP: _GNU_SOURCE, from meson */
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#include "locks.h"
#include "tickets.h"
#include "work.h"

unsigned work_max_checksums = WORK_DEFAULT_MAX_CHECKSUMS;

/* Protects the list, every registered entry's links and checksum flag,
 * nr_checksums and stopping.  Held across shutdown(2) only, which does
 * not block.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct work *head;
static unsigned nr_checksums;
static bool stopping;

void
work_begin (struct work *w, const struct ticket *t, int fd)
{
  LOCK_FOR_SCOPE (&lock);
  w->t = t;
  w->fd = fd;
  w->checksum = false;
  atomic_store (&w->stop, stopping);
  w->prev = NULL;
  w->next = head;
  if (head)
    head->prev = w;
  head = w;
}

void
work_end (struct work *w)
{
  LOCK_FOR_SCOPE (&lock);
  if (w->t == NULL)
    return;
  if (w->checksum)
    nr_checksums--;
  if (w->prev)
    w->prev->next = w->next;
  else
    head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
  w->t = NULL;
}

/* Whether the client closed its end (or the socket failed): a request's
 * client never half-closes while it waits for the answer.
 */
static bool
client_gone (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLRDHUP };

  if (fd < 0)
    return false;
  return poll (&p, 1, 0) == 1
         && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

bool
work_should_stop (struct work *w, const char **why)
{
  const char *dummy;

  if (why == NULL)
    why = &dummy;
  /* The ticket's flag too: a request that acquired it just before the
   * DELETE may have registered just after work_cancel_ticket looked.
   */
  if (atomic_load (&w->stop)
      || (w->t && __atomic_load_n (&w->t->canceled, __ATOMIC_RELAXED)))
    {
      *why = "canceled";
      return true;
    }
  if (client_gone (w->fd))
    {
      *why = "client went away";
      return true;
    }
  return false;
}

bool
work_checksum_begin (struct work *w)
{
  unsigned same = 0;

  LOCK_FOR_SCOPE (&lock);
  if (w->t == NULL || nr_checksums >= work_max_checksums)
    return false;
  for (struct work *o = head; o; o = o->next)
    if (o->checksum && o->t == w->t)
      same++;
  if (same >= WORK_CHECKSUMS_PER_TICKET)
    return false;
  w->checksum = true;
  nr_checksums++;
  return true;
}

/* Stops W: its loops see the flag, a wait on its socket ends. */
static void
stop_locked (struct work *w)
{
  atomic_store (&w->stop, true);
  shutdown (w->fd, SHUT_RDWR);
}

unsigned
work_cancel_ticket (const struct ticket *t)
{
  unsigned n = 0;

  LOCK_FOR_SCOPE (&lock);
  for (struct work *w = head; w; w = w->next)
    if (w->t == t)
      {
        stop_locked (w);
        n++;
      }
  return n;
}

void
work_cancel_all (void)
{
  LOCK_FOR_SCOPE (&lock);
  stopping = true;
  for (struct work *w = head; w; w = w->next)
    stop_locked (w);
}
