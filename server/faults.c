/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault injection and pretend modes; see faults.h.  Every --fault option
 * lives here so they are easy to find.
 *
 * Loss model.  A real backend may keep acknowledged writes in a cache
 * until it is flushed, and imageio's contract lets a server lose them
 * ("500 ... send again all the data sent since the last flush").  Our
 * file backend writes into the page cache, which never forgets, so a test
 * could not tell a client that sends the data again from one that was
 * lucky.  With a loss fault set, each backend (one per HTTP connection)
 * is wrapped: its writes and zeroes are recorded, per ticket, as ranges
 * owned by that connection; a flush on the connection forgets its own
 * ranges (flush is per connection: docs/protocol.md); a later write by
 * any connection takes the bytes it covers away from the older owners (the
 * newer data is the newer writer's to lose).  To "lose" is to overwrite
 * the ranges with LOSS_BYTE and forget them: the connection's own ranges,
 * or with lose=ticket every connection's (a restarted qemu-nbd loses its
 * whole cache).  A connection closed normally keeps its data.  A loss
 * happens before the client can learn of the fault, so data the client
 * sends again afterwards (on any connection) is never overwritten.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "minmax.h"
#include "backend.h"
#include "faults.h"
#include "log.h"
#include "ranges.h"
#include "redact.h"
#include "vector.h"

/* What lost bytes read as afterwards: easy to recognise in a hex dump. */
#define LOSS_BYTE 0xEE
#define MAX_LOSS_SPECS 32
#define MAX_IDLE_CLOSE_MS 600000
#define MIN_IDLE_CLOSE_MS 10

#define MAX_NTH 32

/* An action for the Nth image request. */
struct nth
{
  uint64_t n;
  enum fault_action action;
  int status;
};

static struct faults settings = { .max_readers = -1, .max_writers = -1 };
static struct nth nths[MAX_NTH];
static size_t nr_nths;
/* Image requests seen so far, over all connections. */
static atomic_uint_fast64_t image_requests;

/* Which requests a loss fault counts. */
enum loss_class
{
  CLASS_PUT,
  CLASS_FLUSH,
};

/* A loss fault: fires on request FIRST of its class, then every STEP
 * (0: only once), COUNT times in all (0: no limit).
 */
struct loss_spec
{
  enum loss_kind kind;
  enum loss_class cls;
  const char *name;
  uint64_t first, step, count;
  unsigned ms;
};

static struct loss_spec loss_specs[MAX_LOSS_SPECS];

/* Restarts (restart=, backend-restart=): fire on image requests, WHEN as
 * for loss faults; ms is the outage.  restart_lock protects the state
 * after them.
 */
enum restart_kind
{
  RESTART_SERVER,  /* every connection dropped, requests dropped for ms */
  RESTART_BACKEND, /* old connections answer 500 until closed; new ones
                      500 for ms */
};
#define MAX_RESTART_SPECS 8
static struct
{
  enum restart_kind kind;
  struct loss_spec when;
} restart_specs[MAX_RESTART_SPECS];
static size_t nr_restart_specs;
static pthread_mutex_t restart_lock = PTHREAD_MUTEX_INITIALIZER;
static enum restart_kind restart_last;
static uint64_t restart_conn_floor;   /* connections up to this id are old */
static struct timespec restart_until; /* the outage ends */
static bool restarted;
/* Highest connection id seen by an image request. */
static atomic_uint_fast64_t max_conn_id;

/* error-every=N[:STATUS]: every Nth image request answers STATUS. */
static uint64_t error_every;
static int error_every_status = 500;
static size_t nr_loss_specs;
static unsigned idle_close_ms; /* 0: off */
/* idle-close=MSxCOUNT: closes still allowed (0: no limit); loss_lock. */
static uint64_t idle_close_left;
static bool idle_close_limited;
static bool lose_ticket; /* lose=ticket */
/* PUTs (with their body written) and PATCH flushes seen, all connections. */
static atomic_uint_fast64_t puts_seen, flushes_seen;

const struct faults *
faults_get (void)
{
  return &settings;
}

static int
parse_uint (const char *s, uint64_t max, uint64_t *out)
{
  if (range_parse_u64 (s, strlen (s), out) == -1 || *out > max)
    return -1;
  return 0;
}

/* Parses WHEN = N[+STEP[xCOUNT]] (LEN bytes of S) into SPEC. */
static int
parse_when (const char *s, size_t len, struct loss_spec *spec)
{
  const char *plus = memchr (s, '+', len);
  const char *x;
  size_t nlen = plus ? (size_t)(plus - s) : len;

  if (range_parse_u64 (s, nlen, &spec->first) == -1 || spec->first == 0)
    return -1;
  spec->step = 0;
  spec->count = 1;
  if (plus == NULL)
    return 0;
  plus++;
  len -= plus - s;
  x = memchr (plus, 'x', len);
  if (range_parse_u64 (plus, x ? (size_t)(x - plus) : len, &spec->step) == -1
      || spec->step == 0)
    return -1;
  spec->count = 0;
  if (x
      && (range_parse_u64 (x + 1, len - (x + 1 - plus), &spec->count) == -1
          || spec->count == 0))
    return -1;
  return 0;
}

/* Adds loss fault NAME=VAL; with MS, VAL is WHEN:MS. */
static int
add_loss (const char *name, enum loss_kind kind, enum loss_class cls,
          const char *val, bool with_ms)
{
  struct loss_spec spec = { .kind = kind, .cls = cls, .name = name };
  size_t len = strlen (val);

  if (nr_loss_specs == MAX_LOSS_SPECS)
    return -1;
  if (with_ms)
    {
      const char *colon = strrchr (val, ':');
      uint64_t ms;

      if (colon == NULL || parse_uint (colon + 1, 600000, &ms) == -1)
        return -1;
      spec.ms = ms;
      len = colon - val;
    }
  if (parse_when (val, len, &spec) == -1)
    return -1;
  loss_specs[nr_loss_specs++] = spec;
  return 0;
}

static int
add_nth (uint64_t n, enum fault_action action, int status)
{
  if (nr_nths == MAX_NTH || n == 0)
    return -1;
  nths[nr_nths++] = (struct nth){ .n = n, .action = action, .status = status };
  return 0;
}

/* The faults that lose unflushed data, for faults_parse. */
static const struct
{
  const char *name;
  enum loss_kind kind;
  enum loss_class cls;
  bool with_ms; /* WHEN:MS */
} loss_faults[] = {
  { "ack-then-drop", LOSS_ACK_THEN_DROP, CLASS_PUT, false },
  { "drop-before-answer", LOSS_DROP, CLASS_PUT, false },
  { "put-500", LOSS_500, CLASS_PUT, false },
  { "stall", LOSS_STALL, CLASS_PUT, true },
  { "flush-500", LOSS_500, CLASS_FLUSH, false },
  { "flush-drop", LOSS_DROP, CLASS_FLUSH, false },
};

/* extents=KIND */
static int
parse_extents_fault (const char *val)
{
  static const char *const names[] = {
    [EXTENTS_FAULT_UNSORTED] = "unsorted",
    [EXTENTS_FAULT_GAP] = "gap",
    [EXTENTS_FAULT_OVERLAP] = "overlap",
    [EXTENTS_FAULT_SHORT] = "short",
    [EXTENTS_FAULT_GARBAGE] = "garbage",
    [EXTENTS_FAULT_NEGATIVE] = "negative",
    [EXTENTS_FAULT_BADFLAG] = "badflag",
  };

  for (size_t i = 1; i < sizeof names / sizeof names[0]; i++)
    if (strcmp (val, names[i]) == 0)
      {
        settings.extents = (enum extents_fault)i;
        return 0;
      }
  return -1;
}

/* error=N:STATUS */
static int
parse_error_fault (const char *val)
{
  const char *colon = strchr (val, ':');
  uint64_t n, status;

  if (colon == NULL || range_parse_u64 (val, colon - val, &n) == -1
      || parse_uint (colon + 1, 599, &status) == -1 || status < 100)
    return -1;
  return add_nth (n, FAULT_ERROR, status);
}

/* idle-close=MS[xCOUNT] */
static int
parse_idle_close (const char *val)
{
  const char *x = strchr (val, 'x');
  uint64_t ms, count = 0;

  if (range_parse_u64 (val, x ? (size_t)(x - val) : strlen (val), &ms) == -1
      || ms < MIN_IDLE_CLOSE_MS || ms > MAX_IDLE_CLOSE_MS
      || (x && (parse_uint (x + 1, UINT32_MAX, &count) == -1 || count == 0)))
    return -1;
  idle_close_ms = ms;
  idle_close_left = count;
  idle_close_limited = count > 0;
  return 0;
}

/* restart=WHEN:MS, backend-restart=WHEN:MS */
static int
parse_restart (enum restart_kind kind, const char *name, const char *val)
{
  const char *colon = strrchr (val, ':');
  uint64_t ms;
  struct loss_spec when = { .name = name };

  if (nr_restart_specs == MAX_RESTART_SPECS || colon == NULL
      || parse_uint (colon + 1, 600000, &ms) == -1
      || parse_when (val, colon - val, &when) == -1)
    return -1;
  when.ms = ms;
  restart_specs[nr_restart_specs].kind = kind;
  restart_specs[nr_restart_specs].when = when;
  nr_restart_specs++;
  return 0;
}

/* error-every=N[:STATUS] */
static int
parse_error_every (const char *val)
{
  const char *colon = strchr (val, ':');
  uint64_t n, status = 500;

  if (range_parse_u64 (val, colon ? (size_t)(colon - val) : strlen (val), &n)
          == -1
      || n < 2
      || (colon
          && (parse_uint (colon + 1, 599, &status) == -1 || status < 100)))
    return -1;
  error_every = n;
  error_every_status = status;
  return 0;
}

/* A fault that takes a value: KEY (KLEN bytes) = VAL. */
static int
parse_valued (const char *key, size_t klen, const char *val)
{
  uint64_t v;

#define KEY(k) (klen == strlen (k) && strncmp (key, k, klen) == 0)
  for (size_t i = 0; i < sizeof loss_faults / sizeof loss_faults[0]; i++)
    if (KEY (loss_faults[i].name))
      return add_loss (loss_faults[i].name, loss_faults[i].kind,
                       loss_faults[i].cls, val, loss_faults[i].with_ms);
  if (KEY ("options"))
    {
      if (strcmp (val, "405") != 0 && strcmp (val, "204") != 0)
        return -1;
      settings.options_status = atoi (val);
      return 0;
    }
  if (KEY ("extents"))
    return parse_extents_fault (val);
  if (KEY ("extents-delay"))
    {
      if (parse_uint (val, 600000, &v) == -1)
        return -1;
      settings.extents_delay_ms = v;
      return 0;
    }
  if (KEY ("drop"))
    return parse_uint (val, UINT64_MAX, &v) == -1 ? -1
                                                  : add_nth (v, FAULT_DROP, 0);
  if (KEY ("error"))
    return parse_error_fault (val);
  if (KEY ("error-every"))
    return parse_error_every (val);
  if (KEY ("restart"))
    return parse_restart (RESTART_SERVER, "restart", val);
  if (KEY ("backend-restart"))
    return parse_restart (RESTART_BACKEND, "backend-restart", val);
  if (KEY ("idle-close"))
    return parse_idle_close (val);
  if (KEY ("lose"))
    {
      if (strcmp (val, "ticket") != 0 && strcmp (val, "conn") != 0)
        return -1;
      lose_ticket = strcmp (val, "ticket") == 0;
      return 0;
    }
  if (KEY ("max-writers") || KEY ("max-readers"))
    {
      if (parse_uint (val, 1024, &v) == -1)
        return -1;
      *(KEY ("max-writers") ? &settings.max_writers : &settings.max_readers)
          = v;
      return 0;
    }
#undef KEY
  return -1;
}

int
faults_parse (const char *spec)
{
  const char *eq = strchr (spec, '=');
  int r = -1;

  bool *flag = NULL;

  if (eq)
    r = parse_valued (spec, eq - spec, eq + 1);
  else if (strcmp (spec, "no-zero") == 0)
    flag = &settings.no_zero;
  else if (strcmp (spec, "no-extents") == 0)
    flag = &settings.no_extents;
  else if (strcmp (spec, "extents-whole") == 0)
    flag = &settings.extents_whole;
  if (flag)
    {
      *flag = true;
      r = 0;
    }
  if (r == -1)
    log_msg ("invalid --fault '%s' (see --help)", spec);
  return r;
}

/* Whether request N (counted from 1) is one WHEN fires on. */
static bool
when_fires (const struct loss_spec *sp, uint64_t n)
{
  uint64_t k;

  if (n < sp->first)
    return false;
  k = n - sp->first;
  if (sp->step == 0)
    return k == 0;
  return k % sp->step == 0 && (sp->count == 0 || k / sp->step < sp->count);
}

static void lose_everything (const char *name, uint64_t nth);

/* A restart of KIND fires on request N: the outage starts now. */
static void
start_restart (enum restart_kind kind, const char *name, uint64_t n,
               unsigned ms)
{
  {
    if (pthread_mutex_lock (&restart_lock) != 0)
      abort ();
    restart_last = kind;
    restart_conn_floor = atomic_load (&max_conn_id);
    clock_gettime (CLOCK_MONOTONIC, &restart_until);
    restart_until = timespec_add_ms (restart_until, ms);
    restarted = true;
    pthread_mutex_unlock (&restart_lock);
  }
  log_msg ("fault: %s nth=%llu: down for %ums, connections up to conn=%llu "
           "are old",
           name, (unsigned long long)n, ms,
           (unsigned long long)restart_conn_floor);
  /* What the backend had not flushed is gone (a restarted qemu-nbd, or
   * a daemon whose backends went with it).
   */
  lose_everything (name, n);
}

/* What a restart means for a request on connection CONN_ID now. */
static enum fault_action
after_restart (uint64_t conn_id, int *status)
{
  struct timespec now;
  bool down, old;
  enum restart_kind kind;

  if (pthread_mutex_lock (&restart_lock) != 0)
    abort ();
  if (!restarted)
    {
      pthread_mutex_unlock (&restart_lock);
      return FAULT_NONE;
    }
  clock_gettime (CLOCK_MONOTONIC, &now);
  down = now.tv_sec < restart_until.tv_sec
         || (now.tv_sec == restart_until.tv_sec
             && now.tv_nsec < restart_until.tv_nsec);
  old = conn_id <= restart_conn_floor;
  kind = restart_last;
  pthread_mutex_unlock (&restart_lock);
  if (kind == RESTART_SERVER)
    /* A new process: nothing of the old connections survives, and while
     * it is down nothing answers.
     */
    return old || down ? FAULT_DROP : FAULT_NONE;
  /* The real daemon answers 500 on a connection opened before the
   * backend restarted until the connection is closed.
   */
  if (old || down)
    {
      *status = 500;
      return FAULT_ERROR;
    }
  return FAULT_NONE;
}

enum fault_action
faults_next_image_request (uint64_t conn_id, int *status)
{
  uint64_t n, seen;
  enum fault_action a;

  if (nr_nths == 0 && nr_restart_specs == 0 && error_every == 0)
    return FAULT_NONE;
  seen = atomic_load (&max_conn_id);
  while (conn_id > seen
         && !atomic_compare_exchange_weak (&max_conn_id, &seen, conn_id))
    ;
  n = atomic_fetch_add (&image_requests, 1) + 1;
  for (size_t i = 0; i < nr_restart_specs; i++)
    if (when_fires (&restart_specs[i].when, n))
      start_restart (restart_specs[i].kind, restart_specs[i].when.name, n,
                     restart_specs[i].when.ms);
  a = after_restart (conn_id, status);
  if (a != FAULT_NONE)
    return a;
  if (error_every && n % error_every == 0)
    {
      log_msg ("fault: error-every nth=%llu: answering %d",
               (unsigned long long)n, error_every_status);
      *status = error_every_status;
      return FAULT_ERROR;
    }
  for (size_t i = 0; i < nr_nths; i++)
    if (nths[i].n == n)
      {
        *status = nths[i].status;
        return nths[i].action;
      }
  return FAULT_NONE;
}

/* ---- Loss tracker (see "Loss model" above) ---- */

struct tracked;

/* An unflushed range and the connection that wrote it last. */
struct loss_range
{
  uint64_t off, len;
  struct tracked *owner;
};

/* The unflushed ranges of one ticket, over all its connections. */
DEFINE_VECTOR_TYPE (loss_range_vec, struct loss_range);

struct loss_group
{
  const struct ticket *t; /* key; a connection with a backend holds a ref */
  loss_range_vec v;
  unsigned users; /* tracked backends of this ticket */
  struct loss_group *next;
};

/* A wrapped backend: one per HTTP connection and ticket. */
struct tracked
{
  struct backend b; /* first: what the connection sees */
  struct backend *inner;
  struct loss_group *g;
  uint64_t conn_id;
  int fd; /* the connection's socket, -1 if unknown */
  char ticket_shown[REDACT_TICKET_BUFSZ];
  bool lost;            /* a fault lost its data and closes the connection */
  struct timespec last; /* last activity, for idle-close */
  struct tracked *next; /* every tracked backend, for the watchdog */
};

/* Protects the groups, the tracked list and every tracked's lost, last and
 * ranges.  It is held across the inner backend's writes, zeroes and
 * flushes (network or disk I/O, on purpose): a loss on one connection must
 * never fall between another connection's write and its record, or it
 * would destroy data it does not own.  Only tests set loss faults.
 */
static pthread_mutex_t loss_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loss_group *groups;
static struct tracked *all_tracked;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;

#define TR(b) ((struct tracked *)(b))

static void
lock_loss (void)
{
  if (pthread_mutex_lock (&loss_lock) != 0)
    abort ();
}

static void
unlock_loss (void)
{
  if (pthread_mutex_unlock (&loss_lock) != 0)
    abort ();
}

static void
touch (struct tracked *tb)
{
  clock_gettime (CLOCK_MONOTONIC, &tb->last);
}

static int
range_push (struct loss_group *g, struct loss_range r)
{
  return loss_range_vec_append (&g->v, r);
}

/* Takes [OFF, OFF+LEN) away from every range of G (any owner). */
static void
ranges_subtract (struct loss_group *g, uint64_t off, uint64_t len)
{
  uint64_t end = off + len;
  size_t n = g->v.len; /* pieces appended below need no second look */

  for (size_t i = 0; i < n; i++)
    {
      struct loss_range r = g->v.ptr[i];
      uint64_t rend = r.off + r.len;

      if (r.len == 0 || rend <= off || r.off >= end)
        continue;
      g->v.ptr[i].len = 0; /* removed; the pieces outside remain */
      if (r.off < off)
        g->v.ptr[i] = (struct loss_range){ r.off, off - r.off, r.owner };
      if (rend > end)
        {
          struct loss_range right = { end, rend - end, r.owner };

          if (g->v.ptr[i].len == 0)
            g->v.ptr[i] = right;
          else if (range_push (g, right) == -1)
            log_msg ("fault: out of memory tracking unflushed ranges");
        }
    }
}

/* Drops the emptied ranges. */
static void
ranges_compact (struct loss_group *g)
{
  size_t j = 0;

  for (size_t i = 0; i < g->v.len; i++)
    if (g->v.ptr[i].len)
      g->v.ptr[j++] = g->v.ptr[i];
  g->v.len = j;
}

/* Records that TB wrote or zeroed [OFF, OFF+LEN) without a flush. */
static void
ranges_record (struct tracked *tb, uint64_t off, uint64_t len)
{
  struct loss_group *g = tb->g;

  if (len == 0)
    return;
  ranges_subtract (g, off, len);
  ranges_compact (g);
  /* Sequential writes extend the connection's last range. */
  for (size_t i = g->v.len; i-- > 0 && i + 8 >= g->v.len;)
    if (g->v.ptr[i].owner == tb && g->v.ptr[i].off + g->v.ptr[i].len == off)
      {
        g->v.ptr[i].len += len;
        return;
      }
  if (range_push (g, (struct loss_range){ off, len, tb }) == -1)
    log_msg ("fault: out of memory tracking unflushed ranges");
}

/* Forgets OWNER's ranges (all ranges when OWNER is NULL). */
static void
ranges_forget (struct loss_group *g, const struct tracked *owner)
{
  for (size_t i = 0; i < g->v.len; i++)
    if (owner == NULL || g->v.ptr[i].owner == owner)
      g->v.ptr[i].len = 0;
  ranges_compact (g);
}

static bool
has_ranges (const struct tracked *tb)
{
  for (size_t i = 0; i < tb->g->v.len; i++)
    if (tb->g->v.ptr[i].owner == tb)
      return true;
  return false;
}

/* Overwrites with LOSS_BYTE the ranges of OWNER (NULL: every owner) through
 * TB's inner backend, and forgets them.  Adds to *NR and *BYTES.
 */
static void
ranges_lose (struct tracked *tb, const struct tracked *owner, uint64_t *nr,
             uint64_t *bytes)
{
  static char garbage[64 * 1024];
  struct loss_group *g = tb->g;

  if (garbage[0] == 0)
    memset (garbage, LOSS_BYTE, sizeof garbage);
  for (size_t i = 0; i < g->v.len; i++)
    {
      struct loss_range r = g->v.ptr[i];

      if (owner && r.owner != owner)
        continue;
      (*nr)++;
      *bytes += r.len;
      for (uint64_t done = 0; done < r.len;)
        {
          size_t k = MIN (r.len - done, (uint64_t)sizeof garbage);

          if (tb->inner->ops->pwrite (tb->inner, garbage, k, r.off + done)
              == -1)
            {
              log_msg ("fault: conn=%llu: cannot overwrite lost data: %s",
                       (unsigned long long)tb->conn_id, tb->inner->err);
              break;
            }
          done += k;
        }
      g->v.ptr[i].len = 0;
    }
  ranges_compact (g);
}

/* The loss itself, with loss_lock held; logs one "fault:" line. */
static void
lose_locked (struct tracked *tb, const char *name, uint64_t nth,
             const char *extra, bool close)
{
  uint64_t nr = 0, bytes = 0;
  char which[32] = "";

  ranges_lose (tb, lose_ticket ? NULL : tb, &nr, &bytes);
  if (close)
    tb->lost = true;
  if (nth)
    snprintf (which, sizeof which, " nth=%llu", (unsigned long long)nth);
  log_msg ("fault: %s conn=%llu ticket=%s%s%s: lost ranges=%llu bytes=%llu "
           "lose=%s%s",
           name, (unsigned long long)tb->conn_id, tb->ticket_shown, which,
           extra, (unsigned long long)nr, (unsigned long long)bytes,
           lose_ticket ? "ticket" : "conn", close ? ", closing" : "");
}

/* A restart: every ticket's unflushed ranges are lost, and every
 * tracked connection is closed (as its backend died).
 */
static void
lose_everything (const char *name, uint64_t nth)
{
  uint64_t nr = 0, bytes = 0;

  lock_loss ();
  for (struct loss_group *g = groups; g; g = g->next)
    for (struct tracked *tb = all_tracked; tb; tb = tb->next)
      if (tb->g == g)
        {
          ranges_lose (tb, NULL, &nr, &bytes);
          break;
        }
  log_msg ("fault: %s nth=%llu: lost ranges=%llu bytes=%llu lose=ticket", name,
           (unsigned long long)nth, (unsigned long long)nr,
           (unsigned long long)bytes);
  unlock_loss ();
}

static double
ms_since (const struct timespec *t, const struct timespec *now)
{
  return (now->tv_sec - t->tv_sec) * 1e3 + (now->tv_nsec - t->tv_nsec) / 1e6;
}

/* idle-close: closes connections idle for idle_close_ms that hold
 * unflushed writes, losing them.  Runs until the process exits.
 */
static void *
watchdog_main (void *arg)
{
  unsigned period = idle_close_ms / 4;
  struct timespec ts;

  (void)arg;
  if (period < 5)
    period = 5;
  if (period > 250)
    period = 250;
  ts.tv_sec = period / 1000;
  ts.tv_nsec = (period % 1000) * 1000000L;
  for (;;)
    {
      struct timespec now;
      char extra[64];

      nanosleep (&ts, NULL);
      clock_gettime (CLOCK_MONOTONIC, &now);
      lock_loss ();
      for (struct tracked *tb = all_tracked; tb; tb = tb->next)
        {
          double idle = ms_since (&tb->last, &now);

          if (tb->lost || idle < idle_close_ms || !has_ranges (tb))
            continue;
          if (idle_close_limited)
            {
              if (idle_close_left == 0)
                break;
              idle_close_left--;
            }
          snprintf (extra, sizeof extra, " idle=%.0fms", idle);
          lose_locked (tb, "idle-close", 0, extra, true);
          /* The connection's thread sees end of file and closes it; its
           * socket stays open until the backend is closed (untracked).
           */
          if (tb->fd >= 0)
            shutdown (tb->fd, SHUT_RDWR);
        }
      unlock_loss ();
    }
  return NULL;
}

static void
start_watchdog (void)
{
  pthread_t th;
  int err = pthread_create (&th, NULL, watchdog_main, NULL);

  if (err)
    log_msg ("fault: cannot start the idle-close thread: %s", strerror (err));
  else
    pthread_detach (th);
}

static int
tracked_pread (struct backend *b, void *buf, size_t count, uint64_t offset)
{
  struct tracked *tb = TR (b);
  int r = tb->inner->ops->pread (tb->inner, buf, count, offset);

  if (r == -1)
    memcpy (b->err, tb->inner->err, sizeof b->err);
  lock_loss ();
  touch (tb);
  unlock_loss ();
  return r;
}

static int
tracked_pwrite (struct backend *b, const void *buf, size_t count,
                uint64_t offset)
{
  struct tracked *tb = TR (b);
  int r;

  lock_loss ();
  r = tb->inner->ops->pwrite (tb->inner, buf, count, offset);
  if (r == 0)
    ranges_record (tb, offset, count);
  else
    memcpy (b->err, tb->inner->err, sizeof b->err);
  touch (tb);
  unlock_loss ();
  return r;
}

static int
tracked_zero (struct backend *b, uint64_t offset, uint64_t count)
{
  struct tracked *tb = TR (b);
  int r;

  lock_loss ();
  r = tb->inner->ops->zero (tb->inner, offset, count);
  if (r == 0)
    ranges_record (tb, offset, count);
  else
    memcpy (b->err, tb->inner->err, sizeof b->err);
  touch (tb);
  unlock_loss ();
  return r;
}

static int
tracked_flush (struct backend *b)
{
  struct tracked *tb = TR (b);
  int r;

  lock_loss ();
  r = tb->inner->ops->flush (tb->inner);
  if (r == 0)
    ranges_forget (tb->g, tb);
  else
    memcpy (b->err, tb->inner->err, sizeof b->err);
  touch (tb);
  unlock_loss ();
  return r;
}

static uint64_t
tracked_export_size (struct backend *b)
{
  return TR (b)->inner->ops->export_size (TR (b)->inner);
}

static bool
tracked_can_dirty (struct backend *b)
{
  return TR (b)->inner->ops->can_dirty (TR (b)->inner);
}

static int
tracked_extents (struct backend *b, enum extents_context ctx, uint64_t offset,
                 uint64_t length, extent_vec *out)
{
  struct tracked *tb = TR (b);
  int r = tb->inner->ops->extents (tb->inner, ctx, offset, length, out);

  if (r == -1)
    memcpy (b->err, tb->inner->err, sizeof b->err);
  return r;
}

/* A connection closed normally keeps what it wrote (its ranges are
 * forgotten, not lost).
 */
static void
tracked_close (struct backend *b)
{
  struct tracked *tb = TR (b);
  struct tracked **pp;
  struct loss_group **gp;

  lock_loss ();
  ranges_forget (tb->g, tb);
  for (pp = &all_tracked; *pp; pp = &(*pp)->next)
    if (*pp == tb)
      {
        *pp = tb->next;
        break;
      }
  if (--tb->g->users == 0)
    for (gp = &groups; *gp; gp = &(*gp)->next)
      if (*gp == tb->g)
        {
          *gp = tb->g->next;
          loss_range_vec_reset (&tb->g->v);
          free (tb->g);
          break;
        }
  unlock_loss ();
  tb->inner->ops->close (tb->inner);
  free (tb);
}

static const struct backend_ops tracked_ops = {
  .pread = tracked_pread,
  .pwrite = tracked_pwrite,
  .zero = tracked_zero,
  .flush = tracked_flush,
  .export_size = tracked_export_size,
  .can_dirty = tracked_can_dirty,
  .extents = tracked_extents,
  .close = tracked_close,
};

static bool
is_tracked (const struct backend *b)
{
  return b && b->ops == &tracked_ops;
}

struct backend *
faults_track_backend (struct backend *b, const struct ticket *t, int fd,
                      uint64_t conn_id, const char *ticket_shown)
{
  struct tracked *tb;
  struct loss_group *g;

  if (b == NULL
      || (nr_loss_specs == 0 && idle_close_ms == 0 && nr_restart_specs == 0))
    return b;
  tb = calloc (1, sizeof *tb);
  if (tb == NULL)
    {
      log_msg ("fault: conn=%llu: cannot track unflushed writes: %s",
               (unsigned long long)conn_id, strerror (errno));
      return b;
    }
  tb->b.ops = &tracked_ops;
  tb->inner = b;
  tb->conn_id = conn_id;
  tb->fd = fd;
  snprintf (tb->ticket_shown, sizeof tb->ticket_shown, "%s", ticket_shown);
  touch (tb);
  lock_loss ();
  for (g = groups; g; g = g->next)
    if (g->t == t)
      break;
  if (g == NULL && (g = calloc (1, sizeof *g)) != NULL)
    {
      g->t = t;
      g->next = groups;
      groups = g;
    }
  if (g == NULL)
    {
      unlock_loss ();
      free (tb);
      log_msg ("fault: conn=%llu: cannot track unflushed writes: %s",
               (unsigned long long)conn_id, strerror (ENOMEM));
      return b;
    }
  g->users++;
  tb->g = g;
  tb->next = all_tracked;
  all_tracked = tb;
  unlock_loss ();
  if (idle_close_ms)
    pthread_once (&watchdog_once, start_watchdog);
  return &tb->b;
}

bool
faults_conn_lost (struct backend *b)
{
  bool lost;

  if (!is_tracked (b))
    return false;
  lock_loss ();
  lost = TR (b)->lost;
  touch (TR (b));
  unlock_loss ();
  return lost;
}

/* Counts one request of class CLS; true with *F set when a spec fires. */
static bool
next_loss (struct backend *b, enum loss_class cls, struct loss_fault *f)
{
  uint64_t n;

  if (!is_tracked (b) || nr_loss_specs == 0)
    return false;
  n = atomic_fetch_add (cls == CLASS_PUT ? &puts_seen : &flushes_seen, 1) + 1;
  for (size_t i = 0; i < nr_loss_specs; i++)
    {
      const struct loss_spec *sp = &loss_specs[i];
      uint64_t k;

      if (sp->cls != cls || n < sp->first)
        continue;
      k = n - sp->first;
      if (sp->step == 0
              ? k != 0
              : k % sp->step != 0 || (sp->count && k / sp->step >= sp->count))
        continue;
      *f = (struct loss_fault){
        .kind = sp->kind, .name = sp->name, .nth = n, .ms = sp->ms
      };
      return true;
    }
  return false;
}

bool
faults_next_put (struct backend *b, struct loss_fault *f)
{
  return next_loss (b, CLASS_PUT, f);
}

bool
faults_next_flush (struct backend *b, struct loss_fault *f)
{
  return next_loss (b, CLASS_FLUSH, f);
}

void
faults_lose (struct backend *b, const struct loss_fault *f, bool close)
{
  char extra[32] = "";

  if (!is_tracked (b))
    return;
  if (f->kind == LOSS_STALL)
    snprintf (extra, sizeof extra, " stall=%ums", f->ms);
  lock_loss ();
  lose_locked (TR (b), f->name, f->nth, extra, close);
  unlock_loss ();
}

void
faults_close_after_answer (struct backend *b)
{
  /* Reads see end of file; the answer queued before still goes out. */
  if (is_tracked (b) && TR (b)->fd >= 0)
    shutdown (TR (b)->fd, SHUT_RD);
}

void
faults_usage (void)
{
  printf (
      "Faults (--fault SPEC, repeatable; for tests):\n"
      "  options=405          OPTIONS answers 405 (old daemon)\n"
      "  options=204          OPTIONS answers 204, empty body (old proxy)\n"
      "  no-zero              no \"zero\" feature; PATCH op=zero is 405\n"
      "  no-extents           no \"extents\" feature; GET extents is 404\n"
      "  extents=KIND         corrupt the extents document; KIND is one of\n"
      "                       unsorted gap overlap short garbage negative "
      "badflag\n"
      "  extents-delay=MS     sleep MS ms before answering GET extents\n"
      "  extents-whole        GET extents ignores start= and length= and\n"
      "                       answers the whole list (as imageio does)\n"
      "  drop=N               close the connection without answering the\n"
      "                       Nth image request (counted from 1 over all\n"
      "                       connections, OPTIONS included)\n"
      "  error=N:STATUS       answer the Nth image request with STATUS\n"
      "  error-every=N[:STATUS]\n"
      "                       answer every Nth image request (N >= 2) with\n"
      "                       STATUS (default 500), as a flaky backend\n"
      "  max-readers=N, max-writers=N\n"
      "                       override what OPTIONS reports\n"
      "Faults that lose data (the server then tracks, per ticket, what each\n"
      "connection wrote or zeroed since its own last flush; to lose is to\n"
      "overwrite those ranges with 0xEE bytes, as a backend that lost its\n"
      "unflushed cache).  WHEN is N, N+STEP or N+STEPxCOUNT: the Nth\n"
      "matching request, then every STEP after it, COUNT times in all (no\n"
      "limit without xCOUNT).  PUTs count once their body is written, PATCH\n"
      "flushes once parsed, over all connections:\n"
      "  ack-then-drop=WHEN   answer the PUT 200 (keep-alive), lose, then\n"
      "                       close: the next request on it gets no answer\n"
      "  drop-before-answer=WHEN\n"
      "                       write the PUT, lose, close without answering\n"
      "  put-500=WHEN         write the PUT, lose, answer 500 (imageio: send\n"
      "                       again all data sent since the last flush)\n"
      "  stall=WHEN:MS        write the PUT, lose, sleep MS ms, close\n"
      "                       without answering (a client timeout)\n"
      "  flush-500=WHEN       lose instead of flushing, answer 500\n"
      "  flush-drop=WHEN      lose instead of flushing, close unanswered\n"
      "  idle-close=MS[xCOUNT]\n"
      "                       close a connection idle MS ms (10..600000)\n"
      "                       that holds unflushed writes, losing them (at\n"
      "                       most COUNT times; no limit without xCOUNT)\n"
      "  lose=conn|ticket     what a loss loses: the connection's unflushed\n"
      "                       ranges (default), or every connection's of the\n"
      "                       ticket (a restarted qemu-nbd)\n"
      "  restart=WHEN:MS      a server restart at the WHENth image request:\n"
      "                       unflushed data lost, every connection open\n"
      "                       then gets no answer, and for MS ms no\n"
      "                       request is answered (connections close)\n"
      "  backend-restart=WHEN:MS\n"
      "                       the backend behind the ticket restarts (as\n"
      "                       qemu-nbd killed and started again):\n"
      "                       unflushed data lost, every request on a\n"
      "                       connection opened before answers 500 until\n"
      "                       the client closes it (as ovirt-imageio does),\n"
      "                       and new connections get 500 for MS ms\n"
      "  Each logs one line \"fault: NAME conn=C ticket=T [nth=N]: lost\n"
      "  ranges=R bytes=B lose=SCOPE\".  A connection closed normally\n"
      "  keeps its data.\n");
}
