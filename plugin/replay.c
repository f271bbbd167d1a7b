/* SPDX-License-Identifier: BSD-3-Clause */
/* Losing nothing and riding out outages: every data-path request goes
 * through here.  This file is recovery's one state machine.
 *
 * imageio acknowledges a PUT or zero sent with flush=n before the data is
 * safe, and documents what a client must do when the server fails: "500
 * Internal Server Error ... When using PUT you should send again all the
 * data sent since the last flush"; a flush "operates on the entire image".
 * So every acknowledged write is kept in the journal (journal.c) until a
 * flush made it durable.  Servers and their backends restart: the real
 * daemon refuses connections for ~2.6 s while it restarts, and after the
 * qemu-nbd behind a ticket restarts, every HTTP connection opened before
 * answers 500 until it is closed.  So a failure that waiting can cure is
 * retried, with growing waits, for retry_timeout= seconds.
 *
 * Curable failures: connect refused or reset, EOF, timeouts, 500, 502,
 * 503, 504; and, once an outage began with one of those, 403: a daemon
 * that restarted knows no ticket until the engine adds it again (the real
 * daemon answers "No such ticket" for that moment).  Hopeless: any other
 * answer (403 or 401 out of an outage, 4xx, malformed).
 *
 * States of one request (replay_send; a flush enters at RECOVER):
 *
 *   SEND     on a pooled connection; a clean connection last used before
 *            the latest failure is closed first (it may be one the server
 *            answers 500 on until it is closed).
 *            2xx -> DONE (a write is copied into the journal now)
 *            hopeless -> FAILED (403 during an outage is not hopeless)
 *            curable -> the connection is closed, never reused, and:
 *              idle keep-alive closed by the server, first send -> SEND
 *              window over -> FAILED
 *              acknowledged writes unflushed -> RECOVER
 *              else -> WAIT
 *   WAIT     sleep (50 ms doubling, at most 0.5 s, within the window) -> SEND
 *   RECOVER  hold every connection, close them all (their unflushed
 *            writes are in the journal); journal off (max_unflushed=0) or
 *            incomplete -> LOST; else -> REPLAY
 *   REPLAY   send the journal from its head (the last checkpoint) on one
 *            fresh connection; every checkpoint_bytes resent -> CHECKPOINT
 *            end of journal: flush ok -> CLEAN
 *            curable failure -> RWAIT; hopeless -> LOST
 *   CHECKPOINT flush ok -> drop the entries sent from the journal -> REPLAY
 *            (going on); failure as in REPLAY
 *   RWAIT    close the connection, halve checkpoint_bytes when the round
 *            resent something (progress even when every Nth request
 *            fails), sleep as WAIT (from the shortest wait again after a
 *            round that passed a checkpoint); window over -> LOST; else
 *            -> REPLAY
 *   CLEAN    journal empty, nothing unflushed -> SEND (the request; a
 *            flush is DONE)
 *   LOST     sticky: one nbdkit_error; this and every later write and
 *            flush fail with EIO, so a client that ignores one flush error
 *            (qemu-img convert does) still fails.  See the man page, "DATA
 *            SAFETY".
 *   FAILED   the request's error; a write refused with 403/401 while
 *            writes are unflushed -> LOST too.
 *
 * The extents download runs on a connection of its own, outside the pool,
 * and writes nothing: it has SEND and WAIT only (replay_retry_wait).
 * Its curable failures are retried within the same window on a new
 * connection while none of the document reached the parser (after that,
 * and on a timeout, which has its own deadline, extents_timeout=, the
 * map falls back to "all data", which is always safe).
 *
 * Order: the journal is replayed in acknowledgement order on one
 * connection, so a later write to a range is never overtaken by an older
 * one; a checkpoint drops only entries older than every entry not yet
 * resent.
 *
 * Where each transition is tested (tests/):
 *   SEND -> DONE, CLEAN: every upload test
 *   SEND -> FAILED (hopeless): test-plugin-403.sh, test-plugin-errors.sh
 *   idle keep-alive closed -> SEND: test-plugin-idle.sh
 *   SEND -> WAIT -> SEND (nothing at risk; reads): test-faults-outage.sh
 *     (download), test-plugin-summary.sh (probe-free copies)
 *   the same for the extents download: test-extents-outage.sh
 *   stale clean connections closed: test-faults-outage.sh
 *     (backend-restart: old connections answer 500 until closed)
 *   SEND -> RECOVER -> REPLAY -> CLEAN: test-faults-outage.sh,
 *     test-faults-suite.sh, test-plugin-replay.sh, test-plugin-faults.sh
 *   REPLAY -> CHECKPOINT, RWAIT -> REPLAY from the last checkpoint:
 *     test-plugin-replay.sh (checkpoint), test-faults-outage.sh
 *     (error-every)
 *   403 during an outage -> RWAIT/WAIT: test-plugin-restart.sh
 *   window over -> LOST/FAILED: test-faults-outage.sh (past the window),
 *     test-plugin-faults.sh (5b), test-plugin-restart.sh, test-plugin-
 *     summary.sh
 *   RECOVER -> LOST (journal off): test-faults-nojournal.sh,
 *     test-plugin-faults.sh; (journal incomplete, out of memory: untested)
 *   FAILED -> LOST (403 on a write, writes unflushed):
 *     test-plugin-refused-write.sh
 *
 * Contract: callers never hold a pool connection when they call in here
 * (but the keeper, which flushes the one it holds); the journal is walked
 * only with every connection held.  Both are asserted (pool_held), in
 * release builds too, as nbdkit keeps its own asserts.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errors.h"
#include "journal.h"
#include "locks.h"
#include "replay.h"
#include "stats.h"

/* -D imageio.replay=1: the journal: writes sent again, flushes at the
 * max_unflushed bound.
 */
NBDKIT_DLL_PUBLIC int imageio_debug_replay = 0;
/* -D imageio.checkpoint=BYTES: checkpoints that often (tests). */
NBDKIT_DLL_PUBLIC int imageio_debug_checkpoint = 0;

/* WAIT and RWAIT: the first sleep, doubling up to the cap.  The cap is
 * what recovery may lag behind a server that came back.
 */
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 500
/* REPLAY: a checkpoint flush after this many bytes resent (4 requests of
 * nbdcopy's 4 MiB), halved after each failure within one recovery.
 */
#define CHECKPOINT_BYTES (16 * 1024 * 1024)

static struct replay_params params;
static struct journal journal;

/* state_lock protects the fields below.  unflushed counts writes
 * acknowledged since the last successful flush (journaled or not).
 * replay_needed: a connection holding unflushed writes was closed, so its
 * server-side backend, and what it had not flushed, may be gone.
 * incomplete: an acknowledged write could not be copied (out of memory),
 * so the journal cannot restore everything.  data_lost is the sticky
 * failure.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t unflushed;
static bool replay_needed;
static bool incomplete;
static bool data_lost;

/* Bumped at every curable failure: connections last used before it are
 * not trusted again (see SEND).
 */
static unsigned failure_epoch;

void
replay_init (const struct replay_params *p)
{
  params = *p;
  journal_init (&journal, p->max_unflushed);
}

void
replay_free (void)
{
  journal_free (&journal);
}

bool
replay_journal_on (void)
{
  return params.has_flush && params.max_unflushed > 0;
}

bool
replay_pending (void)
{
  LOCK_FOR_SCOPE (&state_lock);
  /* After a loss nothing more can be saved, and it was reported. */
  return !data_lost && (unflushed > 0 || replay_needed);
}

enum replay_verdict
replay_classify (const struct http_outcome *o, int ok_status, bool in_outage)
{
  int status = o->resp.status;

  if (http_outcome_ok (o, ok_status))
    return REPLAY_OK;
  switch (o->r)
    {
    case HTTP_OK:
      /* Once an outage has begun, a restarted daemon answers 403 until
       * its ticket is added again.
       */
      if (status == 500 || status == 502 || status == 503 || status == 504
          || (in_outage && status == 403))
        return REPLAY_CURABLE;
      return REPLAY_HOPELESS;
    case HTTP_ERR_CLOSED:
    case HTTP_ERR_IO:
    case HTTP_ERR_TIMEOUT:
    case HTTP_ERR_CONNECT:
      return REPLAY_CURABLE;
    default:
      return REPLAY_HOPELESS;
    }
}

/* LOST: makes the loss sticky, reporting it once. */
static void
mark_lost (const char *why)
{
  uint64_t covered = journal_covered (&journal);

  {
    LOCK_FOR_SCOPE (&state_lock);
    if (data_lost)
      return;
    data_lost = true;
  }
  stats_failed (why, covered);
  if (covered > 0)
    nbdkit_error ("data safety: %s: writes the server acknowledged since the "
                  "last flush (%" PRIu64 " bytes of image) may be lost; this "
                  "and every later write and flush fail",
                  why, covered);
  else
    nbdkit_error ("data safety: %s: writes the server acknowledged since the "
                  "last flush may be lost; this and every later write and "
                  "flush fail",
                  why);
}

/* Fails a write (RQ) or, with RQ NULL, a flush after an earlier loss. */
static int
refuse_after_loss (const struct replay_request *rq)
{
  char what[96];
  bool lost;

  {
    LOCK_FOR_SCOPE (&state_lock);
    lost = data_lost;
  }
  if (!lost)
    return 0;
  nbdkit_debug ("%s: refused: earlier acknowledged writes may have been lost",
                rq ? replay_describe (rq, what, sizeof what) : "flush");
  nbdkit_set_error (EIO);
  return -1;
}

/* After a request on PC: a connection that closed while holding unflushed
 * writes took its server-side backend with it.
 */
static void
note_closed (struct pool_conn *pc)
{
  if (pc->dirty && !http_conn_is_open (pc->http))
    {
      pc->dirty = false;
      LOCK_FOR_SCOPE (&state_lock);
      replay_needed = true;
    }
}

/* A curable failure on PC: it is closed (a 5xx leaves it open) and never
 * used again; every connection last used before now is suspect.
 */
static void
drop_failed (struct pool_conn *pc)
{
  http_conn_close (pc->http);
  note_closed (pc);
  stats_add (STATS_CONNS_CLOSED, 1);
  pc->epoch = __atomic_add_fetch (&failure_epoch, 1, __ATOMIC_RELAXED);
}

/* WAIT and RWAIT: sleeps *BACKOFF ms (never past DEADLINE), and doubles
 * it up to the cap.
 */
static void
backoff_sleep (unsigned *backoff, int64_t deadline)
{
  int64_t left = deadline - clock_now_ms ();
  int64_t ms = *backoff < left ? *backoff : left;

  if (ms > 0)
    nanosleep (&(struct timespec){ .tv_sec = ms / 1000,
                                   .tv_nsec = (ms % 1000) * 1000000L },
               NULL);
  *backoff = *backoff * 2 < BACKOFF_MAX_MS ? *backoff * 2 : BACKOFF_MAX_MS;
}

/* Sends PATCH flush on PC; its outcome into O.  Returns the verdict
 * (outside an outage).
 */
static enum replay_verdict
flush_conn (struct pool_conn *pc, struct http_outcome *o)
{
  static const char body[] = "{\"op\": \"flush\"}";
  struct http_request req = {
    .method = "PATCH",
    .target = params.target,
    .content_type = "application/json",
    .body = body,
    .body_len = sizeof body - 1,
  };
  enum replay_verdict v;

  http_send (pc->http, &req, o);
  v = replay_classify (o, 0, false);
  if (v == REPLAY_OK)
    pc->dirty = false;
  else if (v == REPLAY_CURABLE)
    drop_failed (pc);
  note_closed (pc);
  return v;
}

/* Flushes every connection of ALL that wrote.  Returns 0; 1 when a
 * curable failure means the journal must be sent again; -1 when the server
 * refused.  WHY (WHYLEN bytes) says what failed, prefixed with WHAT.
 */
static int
flush_dirty (struct pool_conn **all, unsigned n, const char *what, char *why,
             size_t whylen)
{
  for (unsigned i = 0; i < n; i++)
    {
      struct http_outcome o;
      enum replay_verdict v;

      if (!all[i]->dirty)
        continue;
      v = flush_conn (all[i], &o);
      if (v == REPLAY_OK)
        continue;
      errors_describe (what, &o, why, whylen);
      return v == REPLAY_CURABLE ? 1 : -1;
    }
  return 0;
}

/* CLEAN: every acknowledged write is safe; the journal empties. */
static void
flushed_all (void)
{
  journal_clear (&journal);
  LOCK_FOR_SCOPE (&state_lock);
  unflushed = 0;
  replay_needed = false;
  incomplete = false;
}

/* A failed request (WHAT, outcome O) while resending on PC: WHY (WHYLEN
 * bytes) says what failed, PC is closed.  Returns 1 when the failure is
 * curable (in an outage: 403 too), else -1.
 */
static int
replay_failed (struct pool_conn *pc, const char *what,
               const struct http_outcome *o, char *why, size_t whylen)
{
  errors_describe (what, o, why, whylen);
  drop_failed (pc);
  return replay_classify (o, 0, true) == REPLAY_CURABLE ? 1 : -1;
}

/* REPLAY and CHECKPOINT, once: sends the journal from its head on PC,
 * flushing after every *CP_BYTES resent and at the end.  Returns 0 (the
 * journal was resent and flushed), 1 (a curable failure: PC is closed) or
 * -1 (hopeless); WHY (WHYLEN bytes) says what failed.
 */
static int
replay_from_head (struct pool_conn *pc, uint64_t cp_bytes, char *why,
                  size_t whylen, bool *sent_any)
{
  const struct journal_entry *e = journal_head (&journal);
  uint64_t since = 0;
  struct http_outcome o;
  char what[96];

  assert (pool_held () == pool_size ());
  for (const struct journal_entry *next; e; e = next)
    {
      next = e->next; /* a checkpoint below frees E */
      params.send_entry (pc->http, e, &o);
      if (!http_outcome_ok (&o, 0))
        {
          snprintf (what, sizeof what,
                    "resending offset %" PRIu64 " length %" PRIu64, e->offset,
                    e->length);
          return replay_failed (pc, what, &o, why, whylen);
        }
      pc->dirty = true;
      *sent_any = true;
      stats_add (STATS_WRITES_RESENT, 1);
      since += e->data ? e->length : 0;
      if (next && since >= cp_bytes)
        {
          if (flush_conn (pc, &o) != REPLAY_OK)
            return replay_failed (pc, "checkpoint flush while resending", &o,
                                  why, whylen);
          stats_add (STATS_CHECKPOINTS, 1);
          /* What was resent is durable: a failure resumes after it. */
          journal_drop_before (&journal, next);
          since = 0;
        }
    }
  if (flush_conn (pc, &o) != REPLAY_OK)
    return replay_failed (pc, "flush after resending", &o, why, whylen);
  return 0;
}

/* RECOVER, REPLAY, RWAIT with every connection held, until DEADLINE.  On
 * success the journal is empty and nothing is unflushed; else LOST.
 */
static int
replay_and_flush (struct pool_conn **all, unsigned n, const char *cause,
                  int64_t deadline)
{
  uint64_t count = journal_count (&journal), left = count;
  uint64_t cp_bytes = imageio_debug_checkpoint > 0 ? imageio_debug_checkpoint
                                                   : CHECKPOINT_BYTES;
  int64_t start = clock_now_ms ();
  unsigned backoff = BACKOFF_FIRST_MS, epoch;
  char why[400] = "";
  bool gaps;

  assert (n == pool_size () && pool_held () == n);
  {
    LOCK_FOR_SCOPE (&state_lock);
    gaps = incomplete;
  }
  if (!replay_journal_on () || gaps)
    {
      mark_lost (cause);
      return -1;
    }
  /* Every connection goes: one the server failed on answers 500 until it
   * is closed, and what they held unflushed is in the journal.
   */
  epoch = __atomic_load_n (&failure_epoch, __ATOMIC_RELAXED);
  for (unsigned i = 0; i < n; i++)
    {
      http_conn_close (all[i]->http);
      all[i]->dirty = false;
      all[i]->epoch = epoch;
    }
  stats_add (STATS_REPLAYS, 1);
  nbdkit_debug ("imageio: %s: sending again the %" PRIu64 " write(s) "
                "acknowledged since the last flush (%" PRIu64 " bytes held)",
                cause, count, journal_bytes (&journal));
  for (;;)
    {
      bool sent_any = false;
      int r = replay_from_head (all[0], cp_bytes, why, sizeof why, &sent_any);

      if (r == 0)
        {
          flushed_all ();
          stats_max (STATS_LONGEST_OUTAGE_MS, clock_now_ms () - start);
          nbdkit_debug ("imageio: resent and flushed %" PRIu64 " write(s) "
                        "in %" PRIi64 " ms",
                        count, clock_now_ms () - start);
          return 0;
        }
      if (r == -1 || clock_now_ms () >= deadline)
        break;
      /* A round that passed a checkpoint met a flaky server, not a dead
       * one: no reason to wait longer next time.
       */
      if (journal_count (&journal) < left)
        backoff = BACKOFF_FIRST_MS;
      left = journal_count (&journal);
      /* Failing in the middle of a round: checkpoint more often.  (A
       * round that sent nothing met a server still down.)
       */
      if (sent_any)
        cp_bytes /= 2;
      if (imageio_debug_replay)
        nbdkit_debug ("imageio: %s; resending again from the last "
                      "checkpoint (%" PRIu64 " write(s) left)",
                      why, journal_count (&journal));
      backoff_sleep (&backoff, deadline);
    }
  mark_lost (why[0] ? why : cause);
  return -1;
}

/* Takes every connection (waiting for requests in flight) and replays.
 * Nothing to do when nothing is unflushed.
 */
static int
recover (const char *cause, int64_t deadline)
{
  unsigned n;

  assert (pool_held () == 0);
  if (!replay_pending ())
    return 0;
  POOL_ALL_FOR_SCOPE (all, n);
  /* Another thread may have recovered while this one waited. */
  return replay_pending () ? replay_and_flush (all, n, cause, deadline) : 0;
}

/* SEND once on a borrowed connection.  An acknowledged write is copied
 * into the journal (*OVER_BOUND set when the journal passed its bound)
 * while the connection is still held, so that a recovery, which takes
 * every connection, sees it.  *REUSED_CLEAN: the connection was open and
 * held nothing unflushed before.
 */
static void
send_once (const struct replay_request *rq, struct http_outcome *o,
           bool *over_bound, bool *reused_clean)
{
  POOL_CONN_FOR_SCOPE (pc);
  unsigned epoch = __atomic_load_n (&failure_epoch, __ATOMIC_RELAXED);
  enum replay_verdict v;

  /* A clean connection from before the latest failure may be one the
   * server answers 500 on until it is closed: open a fresh one.  A dirty
   * one is kept: closing it would force a replay; if it is broken, its
   * failure leads to the replay anyway.
   */
  if (pc->epoch != epoch && !pc->dirty && http_conn_is_open (pc->http))
    http_conn_close (pc->http);
  pc->epoch = epoch;
  *reused_clean = http_conn_is_open (pc->http) && !pc->dirty;
  http_send (pc->http, rq->http, o);
  v = replay_classify (o, 0, false);
  if (v == REPLAY_OK && rq->write && params.has_flush)
    {
      pc->dirty = !rq->fua;
      {
        LOCK_FOR_SCOPE (&state_lock);
        unflushed++;
      }
      if (replay_journal_on ())
        {
          int a = journal_append_copy (&journal, rq->data, rq->offset,
                                       rq->length);

          if (a >= 0)
            *over_bound = a == 1;
          else
            {
              nbdkit_debug ("imageio: cannot keep a copy of an acknowledged "
                            "write: flushing now");
              LOCK_FOR_SCOPE (&state_lock);
              incomplete = true;
              *over_bound = true;
            }
        }
    }
  else if (o->r == HTTP_ERR_CLOSED && *reused_clean)
    http_conn_close (pc->http); /* maybe closed while idle: no failure */
  else if (v == REPLAY_CURABLE)
    drop_failed (pc);
  note_closed (pc);
}

/* FAILED: the error, and whether that makes the loss sticky. */
static void
report_failure (const struct replay_request *rq, const struct http_outcome *o)
{
  char what[96], why[400], lost[460];
  int status = o->resp.status;

  replay_describe (rq, what, sizeof what);
  errors_report (what, o);
  errors_describe (what, o, why, sizeof why);
  if (rq->write && o->r == HTTP_OK && (status == 403 || status == 401)
      && replay_pending ())
    {
      snprintf (lost, sizeof lost, "the server refused a write (%s)", why);
      mark_lost (lost);
    }
  else if (replay_classify (o, rq->ok_status, true) == REPLAY_CURABLE
           && replay_pending ())
    {
      snprintf (lost, sizeof lost,
                "the server kept failing past retry_timeout (%s)", why);
      mark_lost (lost);
    }
  stats_failed (why, 0);
}

const char *
replay_describe (const struct replay_request *rq, char *buf, size_t len)
{
  snprintf (buf, len, "%s offset %" PRIu64 " length %" PRIu64, rq->op,
            rq->offset, rq->length);
  return buf;
}

/* A curable failure of the request named WHAT, outcome O: the first one
 * opens RT's retry window.  False once the window is over; else true, with
 * CAUSE (CAUSELEN bytes) saying what failed (logged for the first tries).
 */
static bool
retry_within_window (struct replay_retry *rt, const char *what,
                     const struct http_outcome *o, char *cause, size_t causelen)
{
  int64_t now = clock_now_ms ();

  rt->attempts++;
  if (rt->first_failure == 0)
    {
      rt->first_failure = now;
      rt->deadline = now + (int64_t)params.retry_window_ms;
      rt->backoff = BACKOFF_FIRST_MS;
    }
  if (now >= rt->deadline)
    return false;
  errors_describe (what, o, cause, causelen);
  if (rt->attempts <= 2 || imageio_debug_replay)
    nbdkit_debug ("imageio: %s; sending again (attempt %d, %" PRIi64
                  " ms left)",
                  cause, rt->attempts + 1, rt->deadline - now);
  return true;
}

int
replay_send (const struct replay_request *rq, struct http_response *resp)
{
  bool over_bound = false;
  struct replay_retry rt = { 0 };
  struct http_outcome o;
  enum replay_verdict v;
  char what[96];

  assert (pool_held () == 0);
  if (rq->write && refuse_after_loss (rq) == -1)
    return -1;
  for (int attempt = 1;; attempt++)
    {
      char cause[400];
      bool reused_clean;

      send_once (rq, &o, &over_bound, &reused_clean);
      v = replay_classify (&o, rq->ok_status, rt.first_failure != 0);
      if (v != REPLAY_CURABLE)
        break;
      stats_add (STATS_REQUESTS_RETRIED, 1);
      /* A kept-alive connection that the server closed while it was idle
       * (imageio does after inactivity_timeout) held nothing unflushed:
       * that is no server failure, just send again on a new connection.
       */
      if (o.r == HTTP_ERR_CLOSED && reused_clean && attempt == 1)
        {
          if (imageio_debug_replay)
            nbdkit_debug ("imageio: %s: idle connection was closed, sending "
                          "again",
                          replay_describe (rq, what, sizeof what));
          continue;
        }
      if (!retry_within_window (&rt, replay_describe (rq, what, sizeof what),
                                &o, cause, sizeof cause))
        break;
      if (replay_pending ())
        {
          /* RECOVER waits for the server itself. */
          if (recover (cause, rt.deadline) == -1 && rq->write)
            break;
          if (!replay_pending ())
            continue;
        }
      backoff_sleep (&rt.backoff, rt.deadline);
    }

  if (v != REPLAY_OK)
    {
      report_failure (rq, &o);
      return -1;
    }
  if (resp)
    *resp = o.resp;
  if (rt.first_failure)
    replay_retry_end (&rt, replay_describe (rq, what, sizeof what));
  if (rq->write && refuse_after_loss (rq) == -1)
    return -1;
  if (over_bound)
    {
      if (imageio_debug_replay)
        nbdkit_debug ("imageio: unflushed writes passed max_unflushed: "
                      "flushing");
      return replay_flush ();
    }
  return 0;
}

bool
replay_retry_wait (struct replay_retry *rt, const char *what,
                   const struct http_outcome *o, int ok_status)
{
  char cause[400];

  if (replay_classify (o, ok_status, rt->first_failure != 0) != REPLAY_CURABLE)
    return false;
  stats_add (STATS_REQUESTS_RETRIED, 1);
  if (!retry_within_window (rt, what, o, cause, sizeof cause))
    return false;
  backoff_sleep (&rt->backoff, rt->deadline);
  return true;
}

void
replay_retry_end (struct replay_retry *rt, const char *what)
{
  int64_t outage;

  if (rt->first_failure == 0)
    return;
  outage = clock_now_ms () - rt->first_failure;
  stats_max (STATS_LONGEST_OUTAGE_MS, outage);
  nbdkit_debug ("imageio: %s: succeeded after %" PRIi64 " ms of failures", what,
                outage);
}

int
replay_flush (void)
{
  unsigned n;
  bool must_replay;
  char why[400] = "";
  int ret;

  assert (pool_held () == 0);
  if (refuse_after_loss (NULL) == -1)
    return -1;
  if (!params.has_flush)
    return 0;

  POOL_ALL_FOR_SCOPE (all, n);
  {
    LOCK_FOR_SCOPE (&state_lock);
    must_replay = replay_needed || incomplete;
  }
  ret = must_replay ? 1 : flush_dirty (all, n, "flush", why, sizeof why);
  if (ret == 1)
    ret = replay_and_flush (all, n,
                            why[0] ? why
                                   : "flush: a connection holding unflushed "
                                     "writes failed",
                            clock_now_ms () + (int64_t)params.retry_window_ms);
  else if (ret == -1)
    mark_lost (why);
  else
    flushed_all ();
  if (ret == -1)
    nbdkit_set_error (EIO);
  return ret;
}

int
replay_flush_idle_conn (struct pool_conn *pc)
{
  struct http_outcome o;

  assert (pool_held () == 1);
  /* A failure here is not reported: the connection is closed and marked,
   * and the next flush sends the journal again.
   */
  if (flush_conn (pc, &o) != REPLAY_OK)
    {
      nbdkit_debug ("imageio: flush of idle connection %u failed: %s", pc->id,
                    o.r == HTTP_OK ? o.resp.reason : o.errbuf);
      if (pc->dirty)
        {
          http_conn_close (pc->http);
          note_closed (pc);
        }
      return -1;
    }
  return 0;
}

int
replay_close (const char *when)
{
  uint64_t covered;
  char why[200];

  if (!replay_pending ())
    return 0;
  covered = journal_covered (&journal);
  if (replay_flush () == 0)
    return 0;
  snprintf (why, sizeof why, "%s: the final flush failed", when);
  stats_failed (why, covered);
  if (covered > 0)
    nbdkit_error ("%s: the final flush failed: %" PRIu64 " bytes of image "
                  "written since the last flush may be lost",
                  when, covered);
  else
    nbdkit_error ("%s: the final flush failed: writes since the last flush "
                  "may be lost",
                  when);
  return -1;
}
