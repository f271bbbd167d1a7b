/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault injection and pretend modes (--fault SPEC), for tests only.
 *
 * Test-only: nothing here belongs in production (see
 * docs/imageio-server-security.md).
 *
 * Contract: main calls faults_parse for every --fault before any listener
 * starts; afterwards the settings are read-only (faults_get) and only the
 * request counters and the loss tracker change (thread safe).  With no
 * --fault given, nothing here changes the server's behaviour.
 *
 * Data loss (ack-then-drop, drop-before-answer, put-500, stall, flush-500,
 * flush-drop, idle-close): when one of these is given, every backend is
 * wrapped by faults_track_backend, which remembers the ranges written or
 * zeroed since that backend's last flush; a fault that "loses" overwrites
 * them with 0xEE bytes, as a backend that lost its unflushed cache would
 * (see "Loss model" in faults.c).
 */
#ifndef SERVER_FAULTS_H
#define SERVER_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

enum extents_fault
{
  EXTENTS_FAULT_NONE,
  EXTENTS_FAULT_UNSORTED,
  EXTENTS_FAULT_GAP,
  EXTENTS_FAULT_OVERLAP,
  EXTENTS_FAULT_SHORT,
  EXTENTS_FAULT_GARBAGE,
  EXTENTS_FAULT_NEGATIVE,
  EXTENTS_FAULT_BADFLAG,
};

struct faults
{
  int options_status;           /* 0 (normal), 405 or 204 */
  bool no_zero;                 /* no "zero" feature, PATCH zero is 405 */
  bool no_extents;              /* no "extents" feature, GET extents 404 */
  enum extents_fault extents;   /* corrupt the extents document */
  unsigned extents_delay_ms;    /* sleep before answering GET extents */
  bool extents_whole;           /* ignore start=/length= (as imageio) */
  int max_readers, max_writers; /* -1: the backend's own values */
};

/* Parses one --fault SPEC.  Returns 0, or -1 after printing why. */
int faults_parse (const char *spec);

/* The settings (never NULL). */
const struct faults *faults_get (void);

enum fault_action
{
  FAULT_NONE,
  FAULT_DROP,  /* close the connection without answering */
  FAULT_ERROR, /* answer with *STATUS and a text body */
};

/* Counts one image request (any method on /images/...) on connection
 * CONN_ID and says what to do with it (restarts: see faults_usage).
 */
enum fault_action faults_next_image_request (uint64_t conn_id, int *status);

/* ---- Data loss ---- */

struct backend;
struct ticket;

enum loss_kind
{
  LOSS_ACK_THEN_DROP, /* answer 200, lose, close the connection */
  LOSS_DROP,          /* lose, close without answering */
  LOSS_500,           /* lose, answer 500 */
  LOSS_STALL,         /* lose, sleep ms, close without answering */
};

/* A loss fault chosen for one request. */
struct loss_fault
{
  enum loss_kind kind;
  const char *name; /* the --fault key, for the log */
  uint64_t nth;     /* which PUT or flush it fired on */
  unsigned ms;      /* LOSS_STALL: how long */
};

/* Wraps B (a backend just opened for T by connection CONN_ID, whose socket
 * is FD) so its unflushed writes are tracked, when a loss fault is set;
 * else, or when B is NULL, returns B.  TICKET_SHOWN is the redacted id.
 */
struct backend *faults_track_backend (struct backend *b, const struct ticket *t,
                                      int fd, uint64_t conn_id,
                                      const char *ticket_shown);

/* At the start of every image request on a connection whose backend is B
 * (may be NULL): true when a fault already lost this connection's data
 * and closed it, so the request must be dropped unanswered.
 */
bool faults_conn_lost (struct backend *b);

/* Count one PUT (whose body was written) or one PATCH flush on tracked
 * backend B; true with *F filled when a loss fault fires on it.
 */
bool faults_next_put (struct backend *b, struct loss_fault *f);
bool faults_next_flush (struct backend *b, struct loss_fault *f);

/* Performs F's loss on B (its connection's unflushed ranges, or the
 * ticket's with lose=ticket) and logs it.  With CLOSE the connection is
 * marked lost: faults_conn_lost is true from now on.
 */
void faults_lose (struct backend *b, const struct loss_fault *f, bool close);

/* After the answer of an ack-then-drop was queued: makes the connection
 * see end of file once the answer is sent, so the server closes it.
 */
void faults_close_after_answer (struct backend *b);

/* Prints the --fault help text. */
void faults_usage (void);

#endif
