/* SPDX-License-Identifier: BSD-3-Clause */
/* The plugin's cached allocation map (see extents.h).
 *
 * imageio serves only the whole image's extent list; our server (and any
 * server that implements imageio's proposal, its issue #83) also serves
 * the extents of a range, GET extents?start=S&length=L.  The image is cut
 * into units of WIN_SIZE bytes (a multiple of 2 MiB); a window is a run
 * of units fetched with one request the first time a request needs it
 * (its length follows the density the last window showed: see
 * EXTENTS_TARGET), streamed into an extent map of its own that every unit
 * of the window points at, and then kept exact locally: a write makes its
 * range data, a zero makes it zero, a failed write makes it data (always
 * safe).  Windows never overlap: a new one covers only absent units.
 *
 * Support is detected without a flag: the first download asks for a
 * window (none when one window covers the image).  A server that honours
 * the parameters answers from the window's start; one that ignores them
 * (imageio) answers the whole list from offset 0, which is then kept as
 * one window covering the image (mode WHOLE, the behaviour of old) and no
 * window is asked for again.  A window at offset 0 is told from a whole
 * list by where the document ends.
 *
 * Holes around an update: qcow2 allocates whole clusters (64 KiB by
 * default, up to 2 MiB), so a write inside a hole allocates the rest of
 * its cluster too, which then reads as zeroes but is no longer a hole.  A
 * zero request may allocate as well (a zero cluster, or zeroes written for
 * an unaligned head or tail), and a failed request may have done either.
 * Not knowing the cluster size, every update also turns the holes in the
 * rest of the 2 MiB-aligned blocks it touches into "zero" (never data,
 * never hole): conservative, and still exact about what reads as zeroes.
 * Windows start at multiples of 2 MiB, so no such block spans two.
 *
 * Modes (MODE):
 *   UNKNOWN --first good document--> WINDOWED (a window came back)
 *                                  | WHOLE (the whole list came back)
 *   any --bad doc / no doc / out of memory on an update--> FALLBACK
 * FALLBACK reports the whole image as data (one nbdkit_error says why);
 * it never tries again.  Each download has its own deadline (TIMEOUT,
 * extents_timeout=): the HTTP client waits for it instead of timeout=,
 * since a daemon may think for minutes before the first byte of a big
 * image's list, and the sink cuts a body still arriving when it has
 * passed, so a block status request can never hang.
 *
 * Units (WSTATE), a window's all at once: ABSENT --needed--> FETCHING
 * --good doc--> PRESENT --dropped--> ABSENT.  One download runs at a time; a
 * request for a window another thread is fetching waits for it.  A query past
 * the middle of a window starts fetching the next one in the background (one
 * prefetch thread at a time), so a sequential reader rarely waits.
 * Memory: the windows kept hold at most EXTENTS_MEMORY_BUDGET bytes of
 * maps (and at most -D imageio.extents_max_windows windows when set);
 * past that the least recently queried windows are dropped (freed, back
 * to ABSENT) and fetched again if a request needs them again.  The
 * window just fetched is always kept, so one window larger than the
 * budget still works.  The whole list (mode WHOLE) is never dropped: it
 * cannot be fetched again in parts.
 *
 * Exact under updates: writes and zeroes done while a window downloads
 * are queued and applied, in order, to the parsed map before it is
 * published (all of them while the mode is UNKNOWN, since the answer may
 * turn out to be the whole list).  An update to an ABSENT window changes
 * nothing: it was acknowledged before any later download of the window
 * started, so the server's answer holds it.
 *
 * Contract: extents_init before anything else, from one thread; afterwards
 * every function is thread-safe.  Only extents requests wait for a fetch.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extent-map.h"
#include "extents.h"
#include "json.h"
#include "locks.h"
#include "vector.h"

/* Largest extents document accepted: 256 MiB is about 4,000,000 extents at
 * imageio's ~65 bytes each, far more fragmentation than a real disk has;
 * it bounds what a broken or hostile server can make us parse.
 */
#define EXTENTS_MAX_DOC_BYTES (256ULL * 1024 * 1024)
/* Longest an extents request waits for another thread's download before it
 * answers "data" for its own range (the download itself continues).
 */
#define EXTENTS_WAIT_SECONDS 300
/* The largest qcow2 cluster: an update may allocate up to the boundaries
 * of the CLUSTER_MAX-aligned blocks it touches.
 */
#define CLUSTER_MAX (2 * 1024 * 1024)
/* Most updates queued during a download (after merging contiguous ones);
 * past it the map could not be kept exact, so we fall back.
 */
#define EXTENTS_MAX_PENDING (1024 * 1024)
/* Windows sized by density.  The image is cut into units of at least
 * 2 MiB (EXTENTS_MAX_WINDOWS of them at most), and a window is a run of
 * units fetched with one request.  The first asks for EXTENTS_FIRST_WINDOW
 * bytes; each next one is sized from the extent count the last returned,
 * to hold about EXTENTS_TARGET extents, growing at most EXTENTS_GROWTH
 * times per window.  Measured (bench/results-adaptive.md): the first
 * answer's time grows with the first window's extents, so it starts
 * small; a fixed 1 GiB window made the first answer on a dense image as
 * slow as the whole list, and a sparse 8 TiB image cost 8192 requests.
 * -D imageio.extents_window_mib=N gives fixed windows of N MiB instead.
 */
#define EXTENTS_FIRST_WINDOW (64ULL * 1024 * 1024)
#define EXTENTS_TARGET 32768
#define EXTENTS_GROWTH 8
/* Most units of an image: a larger image gets larger units, so the
 * per-unit arrays stay below a few MiB.
 */
#define EXTENTS_MAX_WINDOWS (64 * 1024)
/* Bytes of maps kept for the windows before the least recently used are
 * dropped: about 2,800,000 extents at worst (24 bytes each).
 */
#define EXTENTS_MEMORY_BUDGET (64ULL * 1024 * 1024)

/* -D imageio.extents=1: fetch time, size and count, dropped windows, and
 * every update.
 */
NBDKIT_DLL_PUBLIC int imageio_debug_extents = 0;
/* -D imageio.extents_window_mib=N: windows of N MiB (rounded up to 2 MiB)
 * instead of EXTENTS_WINDOW; for tests and measurements.
 */
NBDKIT_DLL_PUBLIC int imageio_debug_extents_window_mib = 0;
/* -D imageio.extents_max_windows=N: keep at most N windows (0: only the
 * memory budget limits them); for tests.
 */
NBDKIT_DLL_PUBLIC int imageio_debug_extents_max_windows = 0;

enum extents_mode
{
  M_UNKNOWN,
  M_WINDOWED,
  M_WHOLE,
  M_FALLBACK
};
enum window_state
{
  W_ABSENT,
  W_FETCHING,
  W_PRESENT
};

struct update
{
  uint64_t offset, length;
  uint32_t type;
};

/* Set by extents_init, read-only afterwards. */
static uint64_t image_size;
static unsigned fetch_timeout; /* seconds */
static extents_fetch_fn fetch_fn;
static void *fetch_opaque;
static bool initialized;
static bool dirty_context; /* extents_use_dirty: parse context=dirty */

/* Why the map fell back (the first reason), for extents_start; and whether
 * fetch_and_publish logs it (not while extents_start asks).
 */
static char fallback_reason[400];
static bool quiet_fallback;

/* state_lock protects MODE, WIN_SIZE, NWIN, WSTATE, WUSED, TICK, the
 * download slot (FETCH_BUSY, FETCH_WIN) and the PENDING queue;
 * STATE_COND is signalled when a download ends.  Held briefly (never
 * across a download).  MODE, WIN_SIZE and NWIN change only while
 * map_lock is held for writing too, so either lock lets a thread read
 * them.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cond;
static enum extents_mode mode = M_UNKNOWN;
static uint64_t win_size; /* bytes of a unit; changes only UNKNOWN -> WHOLE */
static uint64_t nwin;     /* units of the image */
static uint8_t *wstate;   /* enum window_state per unit */
static uint64_t *wused;   /* TICK of the last query, per window (first unit) */
static uint64_t tick;
static bool fetch_busy;               /* a download runs */
static uint64_t fetch_first, fetch_n; /* ... of these units */
static bool adaptive;       /* windows sized by density (no -D override) */
static uint64_t next_units; /* units the next window asks for */
DEFINE_VECTOR_TYPE (update_vec, struct update);
static update_vec pending;
static bool pending_overflow;

/* map_lock protects WMAP (the pointers and the maps' contents): queries
 * and is-zero checks take it shared, updates exclusive.  WMAP[W] is
 * non-NULL exactly while window W is PRESENT (in mode WHOLE, WMAP[0]
 * covers the image).  Lock order: prefetch_lock, state_lock, map_lock;
 * never the other way round.
 */
static pthread_rwlock_t map_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct extent_map **wmap;
/* WFIRST[W]: the first unit of the window unit W belongs to, while W is
 * PRESENT (every unit of a window points at the same map).  Written with
 * both locks held, like WMAP.
 */
static uint64_t *wfirst;

/* prefetch_lock protects the background fetch thread's fields. */
static pthread_mutex_t prefetch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t prefetch_thread;
static bool prefetch_started; /* PREFETCH_THREAD must be joined */
static bool prefetch_done;    /* ... and has finished */

static double
now_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
extents_init (uint64_t size, unsigned timeout, extents_fetch_fn fetch,
              void *opaque)
{
  uint64_t ws = CLUSTER_MAX;

  image_size = size;
  fetch_timeout = timeout;
  fetch_fn = fetch;
  fetch_opaque = opaque;
  if (!initialized)
    {
      /* Timed waits use the monotonic clock (immune to clock changes). */
      pthread_condattr_t attr;

      pthread_condattr_init (&attr);
      pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
      pthread_cond_init (&state_cond, &attr);
      pthread_condattr_destroy (&attr);
      initialized = true;
    }
  adaptive = imageio_debug_extents_window_mib <= 0;
  if (!adaptive)
    ws = (uint64_t)imageio_debug_extents_window_mib << 20;
  ws = (ws + CLUSTER_MAX - 1) / CLUSTER_MAX * CLUSTER_MAX;
  while (size / ws >= EXTENTS_MAX_WINDOWS)
    ws *= 2;
  mode = M_UNKNOWN;
  win_size = ws;
  nwin = size / ws + (size % ws != 0);
  next_units = adaptive ? (EXTENTS_FIRST_WINDOW + ws - 1) / ws : 1;
  tick = 0;
  fetch_busy = false;
  wstate = calloc (nwin ? nwin : 1, sizeof *wstate);
  wused = calloc (nwin ? nwin : 1, sizeof *wused);
  wmap = calloc (nwin ? nwin : 1, sizeof *wmap);
  wfirst = calloc (nwin ? nwin : 1, sizeof *wfirst);
  if (wstate == NULL || wused == NULL || wmap == NULL || wfirst == NULL)
    {
      nbdkit_error ("extents: out of memory for %" PRIu64 " windows; "
                    "reporting the whole image as data",
                    nwin);
      mode = M_FALLBACK;
    }
}

/* The unit after the last of the window whose first unit is FIRST (it
 * must be present; either lock held).
 */
static uint64_t
window_end_unit (uint64_t first)
{
  return first + (extent_map_size (wmap[first]) + win_size - 1) / win_size;
}

/* Frees every window's map (map_lock held for writing). */
static void
free_windows (void)
{
  uint64_t w;

  for (w = 0; wmap && w < nwin; w++)
    {
      if (wmap[w] && wfirst[w] == w)
        extent_map_free (wmap[w]);
      wmap[w] = NULL;
      if (wstate && wstate[w] == W_PRESENT)
        wstate[w] = W_ABSENT;
    }
}

void
extents_cleanup (void)
{
  bool join;

  /* Joined without the lock: the thread takes it as it ends. */
  {
    LOCK_FOR_SCOPE (&prefetch_lock);
    join = prefetch_started;
    prefetch_started = prefetch_done = false;
  }
  if (join)
    pthread_join (prefetch_thread, NULL);
  {
    LOCK_FOR_SCOPE (&state_lock);
    {
      WRLOCK_FOR_SCOPE (&map_lock);
      free_windows ();
      free (wmap);
      wmap = NULL;
      free (wfirst);
      wfirst = NULL;
    }
    free (wstate);
    free (wused);
    wstate = NULL;
    wused = NULL;
    nwin = 0;
    update_vec_reset (&pending);
    pending_overflow = false;
    mode = M_UNKNOWN;
    fallback_reason[0] = '\0';
  }
  dirty_context = false;
}

/* Queues an update made while a document downloads (state_lock held).
 * A contiguous update of the same type extends the previous one, so a
 * sequential copy queues a single entry (the merged update clears the same
 * holes around it as the two did).
 */
static void
queue_update (uint64_t offset, uint64_t length, uint32_t type)
{
  struct update *last = pending.len ? &pending.ptr[pending.len - 1] : NULL;

  if (pending_overflow)
    return;
  if (last && last->type == type && last->offset + last->length == offset)
    {
      last->length += length;
      return;
    }
  if (pending.len >= EXTENTS_MAX_PENDING
      || update_vec_append (&pending, (struct update){ .offset = offset,
                                                       .length = length,
                                                       .type = type })
             == -1)
    pending_overflow = true;
}

/* Applies the part of an update (in image offsets) that falls in map M,
 * whose offset 0 is BASE in the image.  Returns 0 or -1 (ENOMEM).
 */
static int
apply_update (struct extent_map *m, uint64_t base, uint64_t offset,
              uint64_t length, uint32_t type)
{
  uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
  uint64_t mend = base + extent_map_size (m);

  if (offset < base)
    offset = base;
  if (end > mend)
    end = mend;
  if (offset >= end)
    return 0;
  return extent_map_set_allocating (m, offset - base, end - offset, type,
                                    CLUSTER_MAX);
}

/* The bytes of units [FIRST, FIRST+N) (state_lock held): [*START,
 * *START + *LEN).
 */
static void
window_range (uint64_t first, uint64_t n, uint64_t *start, uint64_t *len)
{
  *start = first * win_size;
  *len
      = image_size - *start < n * win_size ? image_size - *start : n * win_size;
}

/* Marks units [FIRST, END) absent (both locks held; their map is freed or
 * not theirs).
 */
static void
clear_units (uint64_t first, uint64_t end)
{
  for (uint64_t u = first; u < end && u < nwin; u++)
    {
      wmap[u] = NULL;
      wstate[u] = W_ABSENT;
    }
}

/* Drops the least recently queried windows but KEEP while the maps kept
 * exceed the budget (state_lock and map_lock held).
 */
static void
drop_windows (uint64_t keep)
{
  for (;;)
    {
      uint64_t w, total = 0, present = 0, victim = UINT64_MAX;

      for (w = 0; w < nwin; w++)
        {
          if (wmap[w] == NULL || wfirst[w] != w)
            continue;
          present++;
          total += extent_map_memory (wmap[w]);
          if (w != keep && (victim == UINT64_MAX || wused[w] < wused[victim]))
            victim = w;
        }
      if (victim == UINT64_MAX
          || (total <= EXTENTS_MEMORY_BUDGET
              && (imageio_debug_extents_max_windows <= 0
                  || present <= (uint64_t)imageio_debug_extents_max_windows)))
        return;
      if (imageio_debug_extents)
        nbdkit_debug ("extents: dropped window %" PRIu64 " (%" PRIu64
                      " extents, %" PRIu64 " bytes of map; %" PRIu64
                      " windows, %" PRIu64 " bytes kept before)",
                      victim, extent_map_count (wmap[victim]),
                      extent_map_memory (wmap[victim]), present, total);
      {
        uint64_t end = window_end_unit (victim);

        extent_map_free (wmap[victim]);
        clear_units (victim, end);
      }
    }
}

/* Counts the bytes of the document on their way to the parser, and stops
 * a body that is still arriving at the deadline.
 */
struct fetch_sink
{
  struct extents_parser *parser;
  uint64_t bytes;
  double deadline; /* now_seconds clock */
  bool late;       /* cut at the deadline */
};

static int
fetch_sink_fn (void *opaque, const void *data, size_t len)
{
  struct fetch_sink *s = opaque;

  if (now_seconds () > s->deadline)
    {
      s->late = true;
      return -1;
    }
  s->bytes += len;
  return extents_parser_feed (s->parser, data, len);
}

/* What downloading a window gave. */
struct fetched
{
  struct extent_map *m;    /* NULL: failed, REASON says why */
  uint64_t base;           /* the map's offset 0 in the export */
  uint64_t wstart, wlen;   /* the window asked for */
  uint64_t bytes;          /* document bytes received */
  bool whole_asked, whole; /* asked for / got the whole list */
  char reason[400];
};

/* Downloads and parses window W into F (no lock held: it can take
 * seconds).
 */
static void
download_window (uint64_t w, uint64_t n, struct fetched *f)
{
  struct fetch_sink sink = { .deadline = now_seconds () + fetch_timeout };
  char errbuf[256];
  int fetched;

  {
    LOCK_FOR_SCOPE (&state_lock);
    window_range (w, n, &f->wstart, &f->wlen);
  }
  f->whole_asked = f->wstart == 0 && f->wlen == image_size;
  sink.parser = f->whole_asked
                    ? extents_parser_new (image_size, EXTENTS_MAX_DOC_BYTES)
                    : extents_parser_new_window (image_size, f->wstart, f->wlen,
                                                 EXTENTS_MAX_DOC_BYTES);
  if (sink.parser && dirty_context)
    extents_parser_set_dirty (sink.parser);
  if (sink.parser == NULL)
    snprintf (f->reason, sizeof f->reason, "out of memory");
  else if ((fetched
            = fetch_fn (fetch_opaque, f->wstart, f->whole_asked ? 0 : f->wlen,
                        fetch_sink_fn, &sink, errbuf, sizeof errbuf))
           < 0)
    {
      /* A download aborted by the parser failed because of the document. */
      const char *perr = extents_parser_error (sink.parser);

      if (perr)
        snprintf (f->reason, sizeof f->reason,
                  "invalid document from server: %s", perr);
      else if (sink.late || fetched == -2 || now_seconds () >= sink.deadline)
        snprintf (f->reason, sizeof f->reason,
                  "the server did not send them "
                  "within extents_timeout=%u seconds (%" PRIu64 " bytes "
                  "received: %s)",
                  fetch_timeout, sink.bytes,
                  sink.late ? "cut at the deadline" : errbuf);
      else
        snprintf (f->reason, sizeof f->reason,
                  "could not download the extents: %s", errbuf);
    }
  else
    {
      f->m = extents_parser_finish (sink.parser, errbuf, sizeof errbuf);
      if (f->m == NULL)
        snprintf (f->reason, sizeof f->reason,
                  "invalid document from server: %s", errbuf);
      else
        {
          f->base = extents_parser_base (sink.parser);
          f->whole = f->base == 0 && extent_map_size (f->m) == image_size;
        }
    }
  f->bytes = sink.bytes;
  extents_parser_free (sink.parser);
}

/* Applies the updates queued during the download to F's map, or gives it
 * up (state_lock held).  Returns how many were applied.
 */
static size_t
apply_queued (struct fetched *f)
{
  size_t applied = 0;

  if (f->m && pending_overflow)
    {
      snprintf (f->reason, sizeof f->reason,
                "too many writes while the extents were downloading");
      extent_map_free (f->m);
      f->m = NULL;
    }
  if (f->m && f->whole && !f->whole_asked && mode == M_WINDOWED)
    {
      /* Windows of old and a whole list now: not one server's answers. */
      snprintf (f->reason, sizeof f->reason,
                "the server answered the whole list "
                "after serving partial extents");
      extent_map_free (f->m);
      f->m = NULL;
    }
  for (size_t i = 0; f->m && i < pending.len; i++)
    {
      applied++;
      if (apply_update (f->m, f->base, pending.ptr[i].offset,
                        pending.ptr[i].length, pending.ptr[i].type)
          == -1)
        {
          snprintf (f->reason, sizeof f->reason,
                    "out of memory updating the map");
          extent_map_free (f->m);
          f->m = NULL;
        }
    }
  update_vec_reset (&pending);
  pending_overflow = false;
  return applied;
}

/* Publishes F's map as window *W (state_lock held; *W becomes 0 when the
 * answer was the whole list), or the fallback.  Returns the map's extent
 * count; *BECAME says when the server's kind became known.
 */
static uint64_t
publish (uint64_t *w, uint64_t n, struct fetched *f, const char **became)
{
  uint64_t count = 0, u;

  if (mode == M_FALLBACK)
    {
      /* An update ran out of memory meanwhile: nothing to publish into. */
      extent_map_free (f->m);
      f->m = NULL;
      f->reason[0] = '\0';
    }
  else if (f->m)
    {
      WRLOCK_FOR_SCOPE (&map_lock);

      count = extent_map_count (f->m); /* the map is shared from now on */
      for (u = *w; u < *w + n && u < nwin; u++)
        wstate[u] = W_ABSENT;
      if (f->whole)
        {
          if (mode == M_UNKNOWN && !f->whole_asked)
            *became = "the server answered the whole list (it does not "
                      "serve partial extents): one map for the image";
          win_size = image_size;
          nwin = 1;
          *w = 0;
          n = 1;
          mode = M_WHOLE;
        }
      else if (mode == M_UNKNOWN)
        {
          mode = M_WINDOWED;
          *became = "the server serves partial extents: fetching windows";
        }
      for (u = *w; u < *w + n && u < nwin; u++)
        {
          wmap[u] = f->m;
          wfirst[u] = *w;
          wstate[u] = W_PRESENT;
        }
      wused[*w] = ++tick;
      if (mode == M_WINDOWED)
        drop_windows (*w);
    }
  else
    {
      WRLOCK_FOR_SCOPE (&map_lock);

      free_windows ();
      mode = M_FALLBACK;
    }
  for (u = *w; f->m == NULL && u < *w + n && u < nwin; u++)
    if (wstate[u] == W_FETCHING)
      wstate[u] = W_ABSENT;
  return count;
}

/* Downloads and parses window W (no lock held: it can take seconds), then
 * applies the queued updates and publishes it (or the whole list), or
 * falls back with one error.  Called by the one thread that took the
 * download slot (FETCH_BUSY) for W; gives the slot back.
 */
static void
fetch_and_publish (uint64_t w, uint64_t n)
{
  double t0 = now_seconds (), t1;
  struct fetched f = { .m = NULL };
  const char *became = NULL;
  size_t applied;
  uint64_t count;

  download_window (w, n, &f);
  t1 = now_seconds ();
  {
    LOCK_FOR_SCOPE (&state_lock);

    applied = apply_queued (&f);
    count = publish (&w, n, &f, &became);
    if (adaptive && f.m && mode == M_WINDOWED)
      {
        /* The next window: about EXTENTS_TARGET extents at this density. */
        uint64_t next = n * EXTENTS_TARGET / (count ? count : 1);

        if (next > n * EXTENTS_GROWTH)
          next = n * EXTENTS_GROWTH;
        next_units = next ? next : 1;
      }
    fetch_busy = false;
    pthread_cond_broadcast (&state_cond);
  }

  if (f.m == NULL && f.reason[0])
    {
      bool quiet;

      {
        LOCK_FOR_SCOPE (&state_lock);
        quiet = quiet_fallback;
        if (fallback_reason[0] == '\0')
          snprintf (fallback_reason, sizeof fallback_reason, "%s", f.reason);
      }
      if (!quiet)
        nbdkit_error ("extents: %s; reporting the whole image as data",
                      f.reason);
    }
  if (became)
    nbdkit_debug ("extents: %s", became);
  if (imageio_debug_extents)
    nbdkit_debug (
        "extents: window %" PRIu64 " (offset %" PRIu64 " length %" PRIu64
        "%s): fetched %" PRIu64 " bytes in %.3f s: %s, %" PRIu64
        " extents, %zu queued updates applied",
        w, f.wstart, f.wlen, f.whole_asked ? ", the whole image" : "", f.bytes,
        t1 - t0, f.m ? (f.whole ? "whole list" : "window") : "fallback", count,
        applied);
}

/* Makes the window holding OFFSET known: fetches it (the download slot
 * free) or waits for the download running.  Returns true with *W, *BASE
 * and *STEP (the window's index, its first byte, the window size) while it
 * is present (it may be dropped again once state_lock is released: the
 * caller checks WMAP), false when there is no map to answer from.  QUERY:
 * a client's block status asks, so a window present counts as used now
 * (a prefetch or a start-up fetch that finds it present does not: it
 * would keep alive a window no client asked about).
 */
static bool
ensure_window (uint64_t offset, bool query, uint64_t *w, uint64_t *base,
               uint64_t *step)
{
  struct timespec deadline;
  bool have_deadline = false;

  pthread_mutex_lock (&state_lock);
  for (;;)
    {
      uint64_t k;

      if (mode == M_FALLBACK || nwin == 0)
        {
          pthread_mutex_unlock (&state_lock);
          return false;
        }
      k = offset / win_size;
      if (k >= nwin)
        k = nwin - 1;
      if (wstate[k] == W_PRESENT)
        {
          k = wfirst[k];
          if (query)
            wused[k] = ++tick;
          *w = k;
          *base = k * win_size;
          *step = extent_map_size (wmap[k]);
          pthread_mutex_unlock (&state_lock);
          return true;
        }
      if (!fetch_busy)
        {
          /* NEXT_UNITS from K, up to the next unit known or being fetched
           * (there is none while the mode is unknown) ...
           */
          uint64_t n = 1;

          while (n < next_units && k + n < nwin && wstate[k + n] == W_ABSENT)
            n++;
          /* ... and back from K while there is room: an image no larger
           * than a window is one request wherever the first query lands.
           */
          while (n < next_units && k > 0 && wstate[k - 1] == W_ABSENT)
            {
              k--;
              n++;
            }
          fetch_busy = true;
          fetch_first = k;
          fetch_n = n;
          for (uint64_t u = k; u < k + n; u++)
            wstate[u] = W_FETCHING;
          pthread_mutex_unlock (&state_lock);
          fetch_and_publish (k, n);
          pthread_mutex_lock (&state_lock);
          continue;
        }
      if (!have_deadline)
        {
          clock_gettime (CLOCK_MONOTONIC, &deadline);
          deadline.tv_sec += EXTENTS_WAIT_SECONDS;
          have_deadline = true;
        }
      if (pthread_cond_timedwait (&state_cond, &state_lock, &deadline)
          == ETIMEDOUT)
        {
          nbdkit_debug ("extents: still downloading after %d s, answering "
                        "without the map",
                        EXTENTS_WAIT_SECONDS);
          pthread_mutex_unlock (&state_lock);
          return false;
        }
    }
}

void
extents_ensure (void)
{
  uint64_t w, base, step;

  ensure_window (0, false, &w, &base, &step);
}

void
extents_use_dirty (void)
{
  dirty_context = true;
}

int
extents_start (char *errbuf, size_t errlen)
{
  uint64_t w, base, step;
  bool ok;

  {
    LOCK_FOR_SCOPE (&state_lock);
    quiet_fallback = true;
  }
  ok = ensure_window (0, false, &w, &base, &step);
  {
    LOCK_FOR_SCOPE (&state_lock);
    quiet_fallback = false;
    ok = ok && (mode == M_WINDOWED || mode == M_WHOLE);
    if (!ok)
      snprintf (errbuf, errlen, "%s",
                fallback_reason[0] ? fallback_reason
                                   : "no map (out of memory)");
  }
  return ok ? 0 : -1;
}

static void *
prefetch_main (void *arg)
{
  uint64_t offset = *(uint64_t *)arg, w, base, step;

  free (arg);
  ensure_window (offset, false, &w, &base, &step);
  {
    LOCK_FOR_SCOPE (&prefetch_lock);
    prefetch_done = true;
  }
  return NULL;
}

/* Starts fetching the window holding OFFSET in the background, unless it
 * is known or being fetched, or the prefetch thread is busy.  Never waits.
 */
static void
prefetch (uint64_t offset)
{
  uint64_t *arg;

  LOCK_FOR_SCOPE (&prefetch_lock);
  if (prefetch_started && !prefetch_done)
    return;
  {
    LOCK_FOR_SCOPE (&state_lock);
    uint64_t k;

    if (mode == M_FALLBACK || mode == M_WHOLE || nwin == 0
        || offset >= image_size)
      return;
    k = offset / win_size;
    if (wstate[k] != W_ABSENT || (fetch_busy && mode == M_UNKNOWN))
      return;
  }
  if (prefetch_started)
    pthread_join (prefetch_thread, NULL);
  prefetch_started = prefetch_done = false;
  arg = malloc (sizeof *arg);
  if (arg == NULL)
    return;
  *arg = offset;
  if (pthread_create (&prefetch_thread, NULL, prefetch_main, arg) != 0)
    {
      free (arg);
      return;
    }
  prefetch_started = true;
}

/* Reports extents found in window maps with image offsets. */
struct shifted
{
  int (*add) (void *opaque, uint64_t offset, uint64_t length, uint32_t type);
  void *opaque;
  uint64_t base;
  uint64_t next; /* end of the last extent reported */
};

static int
shifted_add (void *opaque, uint64_t start, uint64_t length, uint32_t type)
{
  struct shifted *s = opaque;

  s->next = s->base + start + length;
  return s->add (s->opaque, s->base + start, length, type);
}

int
extents_query (uint64_t offset, uint32_t count, bool req_one,
               int (*add) (void *opaque, uint64_t offset, uint64_t length,
                           uint32_t type),
               void *opaque)
{
  uint64_t w, base, step, limit, next_window = 0;
  int tries;

  if (offset >= image_size)
    return 0;
  limit = count < image_size - offset ? offset + count : image_size;
  for (tries = 0; tries < 3; tries++)
    {
      bool ahead = false;
      int r = 0;

      if (!ensure_window (offset, true, &w, &base, &step))
        break;
      {
        RDLOCK_FOR_SCOPE (&map_lock);
        struct shifted s = { add, opaque, base, offset };

        if (wmap[w] == NULL || wfirst[w] != w)
          continue; /* dropped meanwhile: fetch it again */
        /* This window, then the next ones while they are known. */
        for (;;)
          {
            uint64_t e;

            step = extent_map_size (wmap[w]);
            r = extent_map_query (wmap[w], s.next - s.base, limit - s.next,
                                  req_one, shifted_add, &s);
            e = window_end_unit (w);
            if (r == -1 || req_one || s.next >= limit || e >= nwin
                || wmap[e] == NULL)
              break;
            w = e;
            s.base = w * win_size;
          }
        /* A reader past the middle of the last window it reached will
         * want the next one.
         */
        ahead = r == 0 && mode == M_WINDOWED && s.base + step < image_size
                && wmap[window_end_unit (w)] == NULL
                && s.next - s.base >= step / 2;
        next_window = s.base + step;
      }
      if (ahead)
        prefetch (next_window);
      return r;
    }
  /* No exact map: all data, which is always true. */
  return add (opaque, offset, limit - offset, 0);
}

/* Applies one update according to the windows' states. */
static void
update (const char *what, uint64_t offset, uint64_t length, uint32_t type)
{
  const char *how = "";
  bool failed = false;
  uint64_t end;

  if (length == 0 || offset >= image_size)
    return;
  end = length > image_size - offset ? image_size : offset + length;
  {
    LOCK_FOR_SCOPE (&state_lock);

    if (mode == M_FALLBACK)
      how = " (no map)";
    else
      {
        uint64_t fs, fl, w;

        if (fetch_busy)
          {
            window_range (fetch_first, fetch_n, &fs, &fl);
            /* While the mode is unknown, the answer may be the whole list. */
            if (mode == M_UNKNOWN || (offset < fs + fl && end > fs))
              {
                queue_update (offset, end - offset, type);
                how = " (queued)";
              }
          }
        {
          WRLOCK_FOR_SCOPE (&map_lock);

          for (w = offset / win_size;
               !failed && w < nwin && w * win_size < end;)
            {
              uint64_t f = wfirst[w];

              if (wmap[w] == NULL)
                {
                  w++;
                  continue;
                }
              if (apply_update (wmap[f], f * win_size, offset, end - offset,
                                type)
                  == -1)
                {
                  /* The map misses this update: it is no longer exact. */
                  free_windows ();
                  mode = M_FALLBACK;
                  failed = true;
                  break;
                }
              w = window_end_unit (f);
            }
        }
      }
  }
  if (imageio_debug_extents)
    nbdkit_debug ("extents: %s offset %" PRIu64 " length %" PRIu64 "%s", what,
                  offset, length, how);
  if (failed)
    nbdkit_error ("extents: out of memory updating the map; reporting the "
                  "whole image as data");
}

void
extents_written (uint64_t offset, uint64_t length)
{
  update ("written", offset, length, EXTENT_TYPE_DATA);
}

void
extents_zeroed (uint64_t offset, uint64_t length)
{
  update ("zeroed", offset, length, EXTENT_TYPE_ZERO);
}

void
extents_failed (uint64_t offset, uint64_t length)
{
  update ("failed", offset, length, EXTENT_TYPE_DATA);
}

bool
extents_reads_as_zero (uint64_t offset, uint64_t length)
{
  uint64_t end, w, missing = UINT64_MAX;
  bool zero = true;

  if (offset >= image_size || length > image_size - offset)
    return false; /* bytes past the image never read as 0 */
  end = offset + length;
  {
    LOCK_FOR_SCOPE (&state_lock);
    RDLOCK_FOR_SCOPE (&map_lock);

    if (mode == M_FALLBACK || mode == M_UNKNOWN || nwin == 0)
      return false;
    for (w = offset / win_size; zero && w < nwin && w * win_size < end;)
      {
        uint64_t base, s, e;

        if (wmap[w] == NULL)
          {
            missing = offset > w * win_size ? offset : w * win_size;
            zero = false;
            break;
          }
        w = wfirst[w];
        base = w * win_size;
        s = offset > base ? offset : base;
        e = base + extent_map_size (wmap[w]);
        if (e > end)
          e = end;
        zero = extent_map_is_zero (wmap[w], s - base, e - s);
        w = window_end_unit (w);
      }
  }
  if (missing != UINT64_MAX)
    prefetch (missing);
  return zero;
}

bool
extents_known (void)
{
  LOCK_FOR_SCOPE (&state_lock);

  return mode == M_WINDOWED || mode == M_WHOLE;
}
