/* The plugin's cached allocation map (see extents.h).
 *
 * imageio only serves the whole image's extent list, so it is downloaded
 * once, on the first extents request, streamed into an extent map, and
 * then kept exact locally: a write makes its range data, a zero makes it
 * zero, a failed write makes it data (always safe).
 *
 * Holes around an update: qcow2 allocates whole clusters (64 KiB by
 * default, up to 2 MiB), so a write inside a hole allocates the rest of
 * its cluster too, which then reads as zeroes but is no longer a hole.  A
 * zero request may allocate as well (a zero cluster, or zeroes written for
 * an unaligned head or tail), and a failed request may have done either.
 * Not knowing the cluster size, every update also turns the holes in the
 * rest of the 2 MiB-aligned blocks it touches into "zero" (never data,
 * never hole): conservative, and still exact about what reads as zeroes.
 *
 * State machine (STATE):
 *   UNKNOWN  --first extents_ensure-->  FETCHING  --good doc-->  READY
 *                                           |--bad doc / no doc-->  FALLBACK
 *   READY  --out of memory on an update-->  FALLBACK
 * FALLBACK reports the whole image as data (one nbdkit_error says why);
 * it never tries again.  The download has its own deadline (TIMEOUT,
 * extents_timeout=): the HTTP client waits for it instead of timeout=, since
 * a daemon may think for minutes before the first byte of a big image's
 * list, and the sink cuts a body still arriving when it has passed, so a
 * block status request can never hang.
 *
 * Contract: extents_init before anything else, from one thread; afterwards
 * every function is thread-safe.  Only extents requests wait for the fetch;
 * writes and zeroes done meanwhile are queued and applied, in order, to the
 * parsed map before it is published, so the map never misses one.
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

/* -D imageio.extents=1: fetch time, size and count, and every update. */
NBDKIT_DLL_PUBLIC int imageio_debug_extents = 0;

enum extents_state { UNKNOWN, FETCHING, READY, FALLBACK };

struct update
{
  uint64_t offset, length;
  uint32_t type;
};

/* Set by extents_init, read-only afterwards. */
static uint64_t image_size;
static unsigned fetch_timeout;  /* seconds */
static extents_fetch_fn fetch_fn;
static void *fetch_opaque;
static bool initialized;

/* state_lock protects STATE and the PENDING queue; STATE_COND is signalled
 * when STATE leaves FETCHING.  Held only briefly, never across the
 * download.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cond;
static enum extents_state state = UNKNOWN;
static struct update *pending;
static size_t npending, pending_cap;
static bool pending_overflow;

/* map_lock protects MAP (the pointer and the map's contents): queries and
 * is-zero checks take it shared, updates exclusive.  MAP is non-NULL only
 * while it is exact (STATE == READY).  Lock order: state_lock, then
 * map_lock; never the other way round.
 */
static pthread_rwlock_t map_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct extent_map *map;

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
  image_size = size;
  fetch_timeout = timeout;
  fetch_fn = fetch;
  fetch_opaque = opaque;
  if (!initialized) {
    /* Timed waits use the monotonic clock (immune to clock changes). */
    pthread_condattr_t attr;

    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&state_cond, &attr);
    pthread_condattr_destroy (&attr);
    initialized = true;
  }
  state = UNKNOWN;
}

void
extents_cleanup (void)
{
  {
    WRLOCK_FOR_SCOPE (&map_lock);
    extent_map_free (map);
    map = NULL;
  }
  {
    LOCK_FOR_SCOPE (&state_lock);
    free (pending);
    pending = NULL;
    npending = pending_cap = 0;
    pending_overflow = false;
    state = UNKNOWN;
  }
}

/* Queues an update made while the document downloads (state_lock held).
 * A contiguous update of the same type extends the previous one, so a
 * sequential copy queues a single entry (the merged update clears the same
 * holes around it as the two did).
 */
static void
queue_update (uint64_t offset, uint64_t length, uint32_t type)
{
  struct update *last = npending ? &pending[npending - 1] : NULL;

  if (pending_overflow)
    return;
  if (last && last->type == type && last->offset + last->length == offset) {
    last->length += length;
    return;
  }
  if (npending == pending_cap) {
    size_t cap = pending_cap ? pending_cap * 2 : 64;
    struct update *p;

    if (cap > EXTENTS_MAX_PENDING
        || (p = realloc (pending, cap * sizeof *p)) == NULL) {
      pending_overflow = true;
      return;
    }
    pending = p;
    pending_cap = cap;
  }
  pending[npending].offset = offset;
  pending[npending].length = length;
  pending[npending].type = type;
  npending++;
}

/* Counts the bytes of the document on their way to the parser, and stops
 * a body that is still arriving at the deadline.
 */
struct fetch_sink
{
  struct extents_parser *parser;
  uint64_t bytes;
  double deadline;              /* now_seconds clock */
  bool late;                    /* cut at the deadline */
};

static int
fetch_sink_fn (void *opaque, const void *data, size_t len)
{
  struct fetch_sink *s = opaque;

  if (now_seconds () > s->deadline) {
    s->late = true;
    return -1;
  }
  s->bytes += len;
  return extents_parser_feed (s->parser, data, len);
}

/* Downloads and parses the document (no lock held: it can take seconds),
 * then applies the queued updates and publishes READY, or FALLBACK with
 * one error.  Called by the one thread that moved STATE to FETCHING.
 */
static void
fetch_and_publish (void)
{
  double t0 = now_seconds (), t1;
  struct fetch_sink sink = { .deadline = t0 + fetch_timeout };
  struct extent_map *m = NULL;
  char errbuf[256], reason[400] = "";
  size_t applied = 0, i;
  uint64_t count = 0;
  int fetched;

  sink.parser = extents_parser_new (image_size, EXTENTS_MAX_DOC_BYTES);
  if (sink.parser == NULL)
    snprintf (reason, sizeof reason, "out of memory");
  else if ((fetched = fetch_fn (fetch_opaque, fetch_sink_fn, &sink, errbuf,
                                sizeof errbuf)) < 0) {
    /* A download aborted by the parser failed because of the document. */
    const char *perr = extents_parser_error (sink.parser);

    if (perr)
      snprintf (reason, sizeof reason, "invalid document from server: %s",
                perr);
    else if (sink.late || fetched == -2 || now_seconds () >= sink.deadline)
      snprintf (reason, sizeof reason, "the server did not send them "
                "within extents_timeout=%u seconds (%" PRIu64 " bytes "
                "received: %s)", fetch_timeout, sink.bytes,
                sink.late ? "cut at the deadline" : errbuf);
    else
      snprintf (reason, sizeof reason, "could not download the extents: %s",
                errbuf);
  }
  else {
    m = extents_parser_finish (sink.parser, errbuf, sizeof errbuf);
    if (m == NULL)
      snprintf (reason, sizeof reason, "invalid document from server: %s",
                errbuf);
  }
  extents_parser_free (sink.parser);
  t1 = now_seconds ();

  {
    LOCK_FOR_SCOPE (&state_lock);

    if (m && pending_overflow) {
      snprintf (reason, sizeof reason,
                "too many writes while the extents were downloading");
      extent_map_free (m);
      m = NULL;
    }
    for (i = 0; m && i < npending; i++) {
      applied++;
      if (extent_map_set_allocating (m, pending[i].offset,
                                     pending[i].length, pending[i].type,
                                     CLUSTER_MAX) == -1) {
        snprintf (reason, sizeof reason, "out of memory updating the map");
        extent_map_free (m);
        m = NULL;
      }
    }
    free (pending);
    pending = NULL;
    npending = pending_cap = 0;
    pending_overflow = false;

    if (m) {
      WRLOCK_FOR_SCOPE (&map_lock);
      count = extent_map_count (m);   /* M is shared from now on */
      map = m;
      state = READY;
    }
    else
      state = FALLBACK;
    pthread_cond_broadcast (&state_cond);
  }

  if (m == NULL)
    nbdkit_error ("extents: %s; reporting the whole image as data", reason);
  if (imageio_debug_extents)
    nbdkit_debug ("extents: fetched %" PRIu64 " bytes in %.3f s: %s, "
                  "%" PRIu64 " extents, %zu queued updates applied",
                  sink.bytes, t1 - t0, m ? "ok" : "fallback",
                  count, applied);
}

void
extents_ensure (void)
{
  struct timespec deadline;

  pthread_mutex_lock (&state_lock);
  if (state == UNKNOWN) {
    state = FETCHING;
    pthread_mutex_unlock (&state_lock);
    fetch_and_publish ();
    return;
  }
  clock_gettime (CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += EXTENTS_WAIT_SECONDS;
  while (state == FETCHING) {
    if (pthread_cond_timedwait (&state_cond, &state_lock, &deadline)
        == ETIMEDOUT) {
      nbdkit_debug ("extents: still downloading after %d s, answering "
                    "without the map", EXTENTS_WAIT_SECONDS);
      break;
    }
  }
  pthread_mutex_unlock (&state_lock);
}

int
extents_query (uint64_t offset, uint32_t count, bool req_one,
               int (*add) (void *opaque, uint64_t offset,
                           uint64_t length, uint32_t type),
               void *opaque)
{
  extents_ensure ();
  {
    RDLOCK_FOR_SCOPE (&map_lock);

    if (map)
      return extent_map_query (map, offset, count, req_one, add, opaque);
  }
  /* No exact map: all data, which is always true. */
  if (offset >= image_size)
    return 0;
  return add (opaque, offset,
              count < image_size - offset ? count : image_size - offset,
              0);
}

/* Applies one update according to STATE. */
static void
update (const char *what, uint64_t offset, uint64_t length, uint32_t type)
{
  enum extents_state st;
  bool failed = false;

  if (length == 0)
    return;
  {
    LOCK_FOR_SCOPE (&state_lock);

    st = state;
    if (st == FETCHING)
      queue_update (offset, length, type);
  }
  if (imageio_debug_extents)
    nbdkit_debug ("extents: %s offset %" PRIu64 " length %" PRIu64 "%s",
                  what, offset, length,
                  st == FETCHING ? " (queued)" : st == READY ? "" :
                  " (no map)");
  if (st != READY)
    return;
  {
    WRLOCK_FOR_SCOPE (&map_lock);

    if (map && extent_map_set_allocating (map, offset, length, type,
                                          CLUSTER_MAX) == -1) {
      /* The map misses this update: it is no longer exact. */
      extent_map_free (map);
      map = NULL;
      failed = true;
    }
  }
  if (failed) {
    {
      LOCK_FOR_SCOPE (&state_lock);
      state = FALLBACK;
    }
    nbdkit_error ("extents: out of memory updating the map; reporting the "
                  "whole image as data");
  }
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
  RDLOCK_FOR_SCOPE (&map_lock);

  return map != NULL && extent_map_is_zero (map, offset, length);
}

bool
extents_known (void)
{
  RDLOCK_FOR_SCOPE (&map_lock);

  return map != NULL;
}
