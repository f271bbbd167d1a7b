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
typedef enum http_result (*replay_send_entry_fn) (struct http_conn *c,
                                                  const struct journal_entry *e,
                                                  struct http_response *resp,
                                                  char *errbuf, size_t errlen);

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
/* A write as the journal keeps it: DATA (NULL: a zero) is copied only
 * once the server acknowledged it.
 */
struct replay_write
{
  const void *data;
  uint64_t offset, length;
};

/* Whether a failure is one that waiting can cure (see replay.c). */
bool replay_curable (enum http_result r, const struct http_response *resp);

/* Sends REQ on a pooled connection, retrying and recovering as the file's
 * comment says.  Returns 0 when the answer has status OK_STATUS (0: any
 * 2xx), else -1 after nbdkit_error, with nbdkit's errno set.  W: a PUT or
 * zero (NULL: a read), sent with flush=y when FUA.
 */
int replay_send (const char *what, const struct http_request *req,
                 struct http_response *resp, int ok_status,
                 const struct replay_write *w, bool fua);
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
