/* SPDX-License-Identifier: BSD-3-Clause */
/* replay.c: requests that lose nothing: the journal of unflushed writes,
 * its replay after a failure, the image-wide flush, sticky loss.
 */
#ifndef IMAGEIO_REPLAY_H
#define IMAGEIO_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "pool.h"

struct journal_entry;

/* Sends journal entry E again on C (a PUT of its data, or a zero). */
typedef void (*replay_send_entry_fn) (struct http_conn *c,
                                      const struct journal_entry *e,
                                      struct http_outcome *o);

struct replay_params
{
  const char *target;       /* the image's request target (PATCH) */
  bool has_flush;           /* the server has flush: writes are kept */
  uint64_t max_unflushed;   /* journal bound in bytes; 0: no journal */
  unsigned retry_window_ms; /* retry_timeout=: how long failures that
                               waiting can cure are retried */
  replay_send_entry_fn send_entry;
};

void replay_init (const struct replay_params *p);
void replay_free (void);
bool replay_journal_on (void);
/* Whether writes were acknowledged since the last successful flush (and
 * may still be saved: false after a loss).
 */
bool replay_pending (void);
/* One data-path request: what it is (named in messages only when one is
 * printed), what goes on the wire and what answer it wants.
 */
struct replay_request
{
  const char *op;                  /* "pread", "pwrite", "zero", ... */
  uint64_t offset, length;         /* the range it reads or writes */
  const struct http_request *http; /* the HTTP request sent */
  int ok_status;                   /* the status wanted; 0: any 2xx */
  /* A write (PUT or zero) is journaled once the server acknowledged it:
   * DATA (NULL: a zero) is copied then.  FUA: sent with flush=y.
   */
  bool write;
  const void *data;
  bool fua;
};

/* "OP offset OFFSET length LENGTH" into BUF: how RQ is named in messages.
 * Returns BUF.
 */
const char *replay_describe (const struct replay_request *rq, char *buf,
                             size_t len);

/* What a request's outcome means to recovery (see replay.c). */
enum replay_verdict
{
  REPLAY_OK,       /* the answer wanted */
  REPLAY_CURABLE,  /* a failure that waiting can cure */
  REPLAY_HOPELESS, /* a failure that waiting cannot cure */
};

/* O judged against the status wanted, OK_STATUS (0: any 2xx).  IN_OUTAGE:
 * an outage has begun, so 403 is curable too.
 */
enum replay_verdict replay_classify (const struct http_outcome *o,
                                     int ok_status, bool in_outage);

/* Sends RQ on a pooled connection, retrying and recovering as the file's
 * comment says.  Returns 0 when the answer has the status wanted (its
 * response into RESP unless NULL), else -1 after nbdkit_error, with
 * nbdkit's errno set.
 */
int replay_send (const struct replay_request *rq, struct http_response *resp);
/* One request's retry window (replay_send keeps one per request).  A
 * request outside the pool, on a connection of the caller's own (the
 * extents download), which puts nothing at risk, has SEND and WAIT only
 * through replay_retry_wait.  Zeroed before the first attempt.
 */
struct replay_retry
{
  int64_t first_failure, deadline; /* ms (clock_now_ms); 0: no failure */
  unsigned backoff;                /* the next WAIT, ms */
  int attempts;                    /* failed attempts so far */
};

/* After a failed attempt of such a request, named WHAT in messages, with
 * outcome O (OK_STATUS as replay_classify): true, after the WAIT sleep,
 * when O is curable and retry_timeout= has not passed since the first
 * failure; the caller then sends again on a new connection.
 */
bool replay_retry_wait (struct replay_retry *rt, const char *what,
                        const struct http_outcome *o, int ok_status);
/* After a successful attempt: reports the outage ridden out, if any. */
void replay_retry_end (struct replay_retry *rt, const char *what);

/* Image-wide flush: every connection that wrote, replaying first when one
 * of them broke.  Returns 0 or -1 (reported, errno set).
 */
int replay_flush (void);
/* Flushes one idle connection held by the caller (the keeper). */
int replay_flush_idle_conn (struct pool_conn *pc);
/* At close or unload (WHEN says which): flushes what is unflushed; a
 * failure is reported with the bytes that may be lost.
 */
int replay_close (const char *when);

extern int imageio_debug_replay;

#endif
