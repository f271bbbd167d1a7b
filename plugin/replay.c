/* SPDX-License-Identifier: BSD-3-Clause */
/* Losing nothing: every data-path request goes through here.
 *
 * imageio acknowledges a PUT or zero sent with flush=n before the data is
 * safe, and documents what a client must do when the server fails: "500
 * Internal Server Error ... When using PUT you should send again all the
 * data sent since the last flush"; a flush "operates on the entire image".
 * So this file keeps every acknowledged write in the journal (journal.c)
 * until a flush on every connection that wrote has succeeded, and when a
 * request fails with a transport error (reset, EOF, timeout, no connect)
 * or a server failure (500, 502, 503, 504) it takes every connection,
 * sends the journal again in order on one of them (so a later write to a
 * range is never overtaken by an earlier one), flushes, and only then
 * sends the failed request again.  The NBD client never notices.
 *
 * When that cannot save the data (the journal is disabled with
 * max_unflushed=0, the server refuses with 403, the retries run out), the
 * loss is sticky: one nbdkit_error says what happened, and every later
 * write and flush fails with EIO, so a client that ignores one flush error
 * (qemu-img convert does) still fails.  See the man page, "DATA SAFETY".
 *
 * Contract: callers never hold a pool connection when they call in here.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

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

NBDKIT_DLL_PUBLIC int imageio_debug_replay = 0;

/* Sends of one request, the first included, when recovery lets it go on. */
#define MAX_ATTEMPTS 4
/* Replays of the journal within one recovery (each from the start). */
#define MAX_REPLAY_ROUNDS 4

static struct replay_params params;
static struct journal journal;

/* state_lock protects the fields below.  unflushed counts writes
 * acknowledged since the last successful flush (journaled or not).
 * replay_needed: a connection holding unflushed writes was closed, so its
 * server-side backend, and what it had not flushed, may be gone.
 * data_lost is the sticky failure.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t unflushed;
static bool replay_needed;
static bool data_lost;

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

/* Whether R (and RESP) says the server may have lost unflushed writes, so
 * that the journal must be sent again before the request is retried.  4xx
 * and a malformed answer are not: sending again would get the same.
 */
static bool
is_failure_to_recover (enum http_result r, const struct http_response *resp)
{
  switch (r)
    {
    case HTTP_OK:
      return resp->status == 500 || resp->status == 502 || resp->status == 503
             || resp->status == 504;
    case HTTP_ERR_CLOSED:
    case HTTP_ERR_IO:
    case HTTP_ERR_TIMEOUT:
    case HTTP_ERR_CONNECT:
      return true;
    default:
      return false;
    }
}

/* "WHAT: STATUS REASON: TEXT" or "WHAT: FAILURE: MESSAGE" into BUF, ticket
 * ids shortened: how a failed request is named in messages.
 */
static void
describe_failure (char *buf, size_t len, const char *what, enum http_result r,
                  const struct http_response *resp, const char *errbuf)
{
  char text[300];

  if (r == HTTP_OK)
    snprintf (buf, len, "%s: %d %s: %s", what, resp->status, resp->reason,
              errors_redact (resp->error_text, text, sizeof text));
  else
    snprintf (buf, len, "%s: %s: %s", what, http_result_str (r),
              errors_redact (errbuf, text, sizeof text));
}

/* Makes the loss sticky, reporting it once. */
static void
mark_lost (const char *why)
{
  uint64_t covered = journal_covered (&journal);
  LOCK_FOR_SCOPE (&state_lock);

  if (data_lost)
    return;
  data_lost = true;
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

/* Fails a write or flush after an earlier loss. */
static int
refuse_after_loss (const char *what)
{
  bool lost;

  {
    LOCK_FOR_SCOPE (&state_lock);
    lost = data_lost;
  }
  if (!lost)
    return 0;
  nbdkit_debug ("%s: refused: earlier acknowledged writes may have been lost",
                what);
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

/* Sends PATCH flush on PC. */
static enum http_result
flush_conn (struct pool_conn *pc, struct http_response *resp, char *errbuf,
            size_t errlen)
{
  static const char body[] = "{\"op\": \"flush\"}";
  struct http_request req = {
    .method = "PATCH",
    .target = params.target,
    .content_type = "application/json",
    .body = body,
    .body_len = sizeof body - 1,
  };
  enum http_result r = http_request (pc->http, &req, resp, errbuf, errlen);

  if (r == HTTP_OK && resp->status / 100 == 2)
    pc->dirty = false;
  note_closed (pc);
  return r;
}

/* One journal entry sent again on the replay connection.  A failure ends
 * the round: the server may have lost the entries this round already sent
 * (they are unflushed too), so the next round starts from the first entry
 * on a fresh connection.
 */
struct replay_ctx
{
  struct pool_conn *pc;
  int64_t deadline;
  char why[256];
  bool hopeless; /* a refusal that retrying cannot change */
};

static int
replay_entry (void *opaque, const struct journal_entry *e)
{
  struct replay_ctx *rc = opaque;
  struct http_response resp;
  char errbuf[256] = "", what[96];
  enum http_result r;

  r = params.send_entry (rc->pc->http, e, &resp, errbuf, sizeof errbuf);
  if (r == HTTP_OK && resp.status / 100 == 2)
    {
      rc->pc->dirty = true;
      stats_add (STATS_WRITES_RESENT, 1);
      return 0;
    }
  rc->hopeless = !is_failure_to_recover (r, &resp);
  snprintf (what, sizeof what, "resending offset %" PRIu64 " length %" PRIu64,
            e->offset, e->length);
  describe_failure (rc->why, sizeof rc->why, what, r, &resp, errbuf);
  /* Whatever this connection held unflushed goes with it. */
  http_conn_close (rc->pc->http);
  rc->pc->dirty = false;
  return -1;
}

/* Flushes every connection of ALL that wrote.  Returns 0; 1 when a
 * failure means the journal must be sent again; -1 when the server
 * refused.  WHY (WHYLEN bytes) says what failed, prefixed with WHAT.
 */
static int
flush_dirty (struct pool_conn **all, unsigned n, const char *what, char *why,
             size_t whylen)
{
  for (unsigned i = 0; i < n; i++)
    {
      struct http_response resp;
      char errbuf[256] = "";
      enum http_result r;

      if (!all[i]->dirty)
        continue;
      r = flush_conn (all[i], &resp, errbuf, sizeof errbuf);
      if (r == HTTP_OK && resp.status / 100 == 2)
        continue;
      describe_failure (why, whylen, what, r, &resp, errbuf);
      return is_failure_to_recover (r, &resp) ? 1 : -1;
    }
  return 0;
}

/* Every acknowledged write is safe: the journal empties. */
static void
flushed_all (void)
{
  journal_clear (&journal);
  LOCK_FOR_SCOPE (&state_lock);
  unflushed = 0;
  replay_needed = false;
}

/* With every connection held: sends the journal again on the first one,
 * then flushes every connection holding writes.  On success the journal
 * is empty and nothing is unflushed; else the loss is marked.
 */
static int
replay_and_flush (struct pool_conn **all, unsigned n, const char *cause)
{
  struct replay_ctx rc = { .pc = all[0] };
  uint64_t count = journal_count (&journal);
  int64_t start = clock_now_ms ();

  if (!replay_journal_on ())
    {
      mark_lost (cause);
      return -1;
    }
  rc.deadline = start + (int64_t)params.retry_window_ms;
  nbdkit_debug ("imageio: %s: sending again the %" PRIu64 " write(s) "
                "acknowledged since the last flush (%" PRIu64 " bytes held)",
                cause, count, journal_bytes (&journal));
  for (int round = 1; round <= MAX_REPLAY_ROUNDS; round++)
    {
      int r = 1;

      stats_add (STATS_REPLAYS, 1);
      if (journal_foreach (&journal, replay_entry, &rc) == 0)
        r = flush_dirty (all, n, "flush after resending", rc.why,
                         sizeof rc.why);
      else if (rc.hopeless)
        r = -1;
      if (r == 0)
        {
          flushed_all ();
          nbdkit_debug ("imageio: resent and flushed %" PRIu64 " write(s) "
                        "in %" PRIi64 " ms",
                        count, clock_now_ms () - start);
          return 0;
        }
      if (r == -1 || clock_now_ms () >= rc.deadline)
        break;
      nbdkit_debug ("imageio: %s; resending again", rc.why);
    }
  mark_lost (rc.why[0] ? rc.why : cause);
  return -1;
}

/* Takes every connection (waiting for requests in flight) and replays.
 * Nothing to do when nothing is unflushed.
 */
static int
recover (const char *cause)
{
  unsigned n;

  if (!replay_pending ())
    return 0;
  POOL_ALL_FOR_SCOPE (all, n);
  /* Another thread may have recovered while this one waited. */
  return replay_pending () ? replay_and_flush (all, n, cause) : 0;
}

/* One attempt of REQ on a borrowed connection.  An acknowledged write is
 * journaled (*ENTRY taken; *OVER_BOUND set when the journal passed its
 * bound) while the connection is still held, so that a recovery, which
 * takes every connection, sees it.  *REUSED_CLEAN: the connection was
 * open and held nothing unflushed before.
 */
static enum http_result
send_once (const struct http_request *req, struct http_response *resp,
           char *errbuf, size_t errlen, bool is_write, bool fua,
           struct journal_entry **entry, bool *over_bound, bool *reused_clean)
{
  POOL_CONN_FOR_SCOPE (pc);
  enum http_result r;

  *reused_clean = http_conn_is_open (pc->http) && !pc->dirty;
  r = http_request (pc->http, req, resp, errbuf, errlen);
  if (r == HTTP_OK && resp->status / 100 == 2 && is_write && params.has_flush)
    {
      pc->dirty = !fua;
      {
        LOCK_FOR_SCOPE (&state_lock);
        unflushed++;
      }
      if (*entry)
        {
          *over_bound = journal_append (&journal, *entry);
          *entry = NULL;
        }
    }
  note_closed (pc);
  return r;
}

/* After a request that finally failed: the error, and whether that makes
 * the loss sticky.
 */
static void
report_failure (const char *what, enum http_result r,
                const struct http_response *resp, const char *errbuf,
                bool is_write)
{
  errors_report (what, r, resp, errbuf);
  if (is_write && r == HTTP_OK && resp->status == 403 && replay_pending ())
    mark_lost ("the server refused a write (403)");
  else if (is_failure_to_recover (r, resp) && replay_pending ())
    mark_lost ("the server kept failing; giving up");
}

int
replay_send (const char *what, const struct http_request *req,
             struct http_response *resp, int ok_status, bool is_write, bool fua,
             struct journal_entry *entry)
{
  bool over_bound = false;
  int64_t give_up = clock_now_ms () + (int64_t)params.retry_window_ms;
  char errbuf[256] = "";
  enum http_result r;

  if (is_write && refuse_after_loss (what) == -1)
    {
      journal_entry_free (entry);
      return -1;
    }
  for (int attempt = 1;; attempt++)
    {
      char cause[400];
      bool reused_clean;

      r = send_once (req, resp, errbuf, sizeof errbuf, is_write, fua, &entry,
                     &over_bound, &reused_clean);
      if (!is_failure_to_recover (r, resp) || attempt == MAX_ATTEMPTS
          || clock_now_ms () >= give_up)
        break;
      stats_add (STATS_REQUESTS_RETRIED, 1);
      /* A kept-alive connection that the server closed while it was idle
       * (imageio does after inactivity_timeout) held nothing unflushed:
       * that is no server failure, just send again on a new connection.
       */
      if (r == HTTP_ERR_CLOSED && reused_clean && attempt == 1)
        {
          if (imageio_debug_replay)
            nbdkit_debug ("imageio: %s: idle connection was closed, sending "
                          "again",
                          what);
          continue;
        }
      describe_failure (cause, sizeof cause, what, r, resp, errbuf);
      nbdkit_debug ("imageio: %s; sending again (attempt %d)", cause,
                    attempt + 1);
      if (recover (cause) == -1 && is_write)
        break;
      /* A server that refuses connections may be restarting. */
      if (r == HTTP_ERR_CONNECT)
        nanosleep (&(struct timespec){ .tv_sec = 1 }, NULL);
    }
  journal_entry_free (entry);

  if (r != HTTP_OK
      || (ok_status ? resp->status != ok_status : resp->status / 100 != 2))
    {
      report_failure (what, r, resp, errbuf, is_write);
      return -1;
    }
  if (is_write && refuse_after_loss (what) == -1)
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

int
replay_flush (void)
{
  unsigned n;
  bool must_replay;
  char why[400] = "";
  int ret;

  if (refuse_after_loss ("flush") == -1)
    return -1;
  if (!params.has_flush)
    return 0;

  POOL_ALL_FOR_SCOPE (all, n);
  {
    LOCK_FOR_SCOPE (&state_lock);
    must_replay = replay_needed;
  }
  ret = must_replay ? 1 : flush_dirty (all, n, "flush", why, sizeof why);
  if (ret == 1)
    ret = replay_and_flush (all, n,
                            "flush: a connection holding unflushed "
                            "writes failed");
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
  struct http_response resp;
  char errbuf[256] = "";
  enum http_result r = flush_conn (pc, &resp, errbuf, sizeof errbuf);

  /* A failure here is not reported: the connection is marked, and the
   * next flush sends the journal again.
   */
  if (r != HTTP_OK || resp.status / 100 != 2)
    {
      nbdkit_debug ("imageio: flush of idle connection %u failed: %s", pc->id,
                    r == HTTP_OK ? resp.reason : errbuf);
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

  if (!replay_pending ())
    return 0;
  covered = journal_covered (&journal);
  if (replay_flush () == 0)
    return 0;
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
