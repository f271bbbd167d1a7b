/* The journal of unflushed writes; see journal.h. */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "locks.h"

/* Copies freed by a flush, kept for the next entries.  glibc hands a
 * freed 4 MiB block back to the kernel, so the next copy faulted in (and
 * the kernel zeroed) fresh pages, which cost as much as the copy itself
 * (perf of an upload, issue 11); a kept buffer is already mapped.  The
 * cache holds at most cache_max bytes, the journal's own bound (memory the
 * journal held anyway), and is emptied by journal_free and by a clear of
 * an empty journal (nothing written since the last flush: the writing is
 * over).  A buffer is reused for a copy of at least half its size.
 */
struct cached
{
  struct cached *next;
  size_t cap;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache_head;
static uint64_t cache_bytes, cache_max;

/* A kept buffer of LENGTH bytes at least, or NULL; sets *CAP. */
static void *
cache_take (uint64_t length, size_t *cap)
{
  LOCK_FOR_SCOPE (&cache_lock);
  for (struct cached **p = &cache_head; *p; p = &(*p)->next)
    {
      struct cached *c = *p;

      if (c->cap >= length && c->cap / 2 <= length)
        {
          *p = c->next;
          cache_bytes -= c->cap;
          *cap = c->cap;
          return c;
        }
    }
  return NULL;
}

/* Keeps DATA (CAP bytes) for reuse, or frees it when the cache is full. */
static void
cache_put (void *data, size_t cap)
{
  if (cap >= sizeof (struct cached))
    {
      LOCK_FOR_SCOPE (&cache_lock);
      if (cache_bytes + cap <= cache_max)
        {
          struct cached *c = data;

          c->cap = cap;
          c->next = cache_head;
          cache_head = c;
          cache_bytes += cap;
          return;
        }
    }
  free (data);
}

static void
cache_drop (void)
{
  struct cached *c;

  {
    LOCK_FOR_SCOPE (&cache_lock);
    c = cache_head;
    cache_head = NULL;
    cache_bytes = 0;
  }
  while (c)
    {
      struct cached *next = c->next;

      free (c);
      c = next;
    }
}

uint64_t
journal_cached_bytes (void)
{
  LOCK_FOR_SCOPE (&cache_lock);
  return cache_bytes;
}

void
journal_init (struct journal *j, uint64_t max_bytes)
{
  pthread_mutex_init (&j->lock, NULL);
  j->head = j->tail = NULL;
  j->count = j->bytes = 0;
  j->max_bytes = max_bytes;
  LOCK_FOR_SCOPE (&cache_lock);
  cache_max = max_bytes;
}

void
journal_free (struct journal *j)
{
  journal_clear (j);
  cache_drop ();
  pthread_mutex_destroy (&j->lock);
}

struct journal_entry *
journal_entry_new (const void *buf, uint64_t offset, uint64_t length)
{
  struct journal_entry *e = calloc (1, sizeof *e);

  if (e == NULL)
    return NULL;
  e->offset = offset;
  e->length = length;
  if (buf)
    {
      e->data = cache_take (length, &e->cap);
      if (e->data == NULL)
        {
          e->data = malloc (length);
          e->cap = length;
        }
      if (e->data == NULL)
        {
          free (e);
          return NULL;
        }
      memcpy (e->data, buf, length);
    }
  return e;
}

void
journal_entry_free (struct journal_entry *e)
{
  if (e && e->data)
    cache_put (e->data, e->cap);
  free (e);
}

static uint64_t
entry_cost (const struct journal_entry *e)
{
  return JOURNAL_ENTRY_COST + (e->data ? e->length : 0);
}

bool
journal_append (struct journal *j, struct journal_entry *e)
{
  LOCK_FOR_SCOPE (&j->lock);
  e->next = NULL;
  if (j->tail)
    j->tail->next = e;
  else
    j->head = e;
  j->tail = e;
  j->count++;
  j->bytes += entry_cost (e);
  return j->bytes > j->max_bytes;
}

void
journal_clear (struct journal *j)
{
  struct journal_entry *e;

  {
    LOCK_FOR_SCOPE (&j->lock);
    e = j->head;
    j->head = j->tail = NULL;
    j->count = j->bytes = 0;
  }
  if (e == NULL)
    cache_drop ();
  while (e)
    {
      struct journal_entry *next = e->next;

      journal_entry_free (e);
      e = next;
    }
}

uint64_t
journal_bytes (struct journal *j)
{
  LOCK_FOR_SCOPE (&j->lock);
  return j->bytes;
}

uint64_t
journal_count (struct journal *j)
{
  LOCK_FOR_SCOPE (&j->lock);
  return j->count;
}

uint64_t
journal_covered (struct journal *j)
{
  uint64_t sum = 0;

  LOCK_FOR_SCOPE (&j->lock);
  for (const struct journal_entry *e = j->head; e; e = e->next)
    sum += e->length;
  return sum;
}

int
journal_foreach (struct journal *j,
                 int (*fn) (void *opaque, const struct journal_entry *e),
                 void *opaque)
{
  struct journal_entry *e;

  {
    LOCK_FOR_SCOPE (&j->lock);
    e = j->head;
  }
  for (; e; e = e->next)
    {
      int r = fn (opaque, e);

      if (r != 0)
        return r;
    }
  return 0;
}
