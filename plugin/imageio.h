/* Declarations shared by the plugin's files, grouped by the file that
 * defines them.  The HTTP client, the extent map and the JSON parsers have
 * their own headers (http.h, extent-map.h, extents.h, json.h).
 */
#ifndef IMAGEIO_PLUGIN_H
#define IMAGEIO_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "http.h"
#include "json.h"

/* --- config.c: parameters, read-only after .config_complete --- */

struct imageio_config
{
  const char *url;              /* url= as given (never logged whole) */
  const char *path;             /* "/images/TICKET" from the URL */
  struct http_endpoint remote;  /* from the URL */
  int64_t size;                 /* size=, or -1 to ask the server */
  const char *cafile;
  bool insecure;
  bool is_ovirt_host;
  unsigned connections;         /* connections=, default 4 */
  unsigned timeout;             /* timeout= seconds per request wait */
  unsigned connect_timeout;     /* seconds for connect + TLS handshake */
  unsigned idle_flush;          /* flush a connection idle this long */
  bool zero_elision;            /* skip zeroes the map says are zero */
  uint64_t max_unflushed;       /* journal bound in bytes; 0: no journal */
  unsigned extents_timeout;     /* seconds for the whole extents download */
};

/* The journal's default bound: see the man page, "DATA SAFETY", and
 * bench/results-replay.md for the measurement behind it.
 */
#define DEFAULT_MAX_UNFLUSHED (64ULL << 20)
#define MAX_MAX_UNFLUSHED (16LL << 30)

extern struct imageio_config config;

int config_set (const char *key, const char *value);
int config_complete (void);
void config_free (void);
#define CONFIG_HELP \
  "url=URL|+FILE            (required) imageio transfer URL, https:// or http://\n" \
  "size=SIZE                Image size; default: asked from the server.\n" \
  "cafile=FILE              CA certificates to verify the server.\n" \
  "insecure=true            Do not verify the server's certificate.\n" \
  "is_ovirt_host=true       Use the server's Unix socket when offered.\n" \
  "connections=N            HTTP connections (default 4).\n" \
  "timeout=SECONDS          Longest wait for one request (default 60).\n" \
  "idle_flush=SECONDS       Flush a connection idle this long (default 20).\n" \
  "max_unflushed=SIZE       Unflushed writes kept for resending (default 64M).\n" \
  "extents_timeout=SECONDS  Longest extents download (default 3600).\n" \
  "zero_elision=false       Send every zero request, even over known zeroes."

/* --- imageio.c: what start-up learned from the server --- */

struct imageio_server
{
  bool can_write;               /* Allow lists PUT */
  bool has_zero, has_flush, has_extents;
  int max_readers, max_writers; /* 0: not reported */
  uint64_t size;                /* export size */
  const struct http_endpoint *ep;  /* where the pool connects */
};

extern struct imageio_server server;

/* --- pool.c: the connection pool ---
 *
 * A thread that takes a connection must give it back; pool_get_all takes
 * every connection (for flush and replay) and waits for requests in
 * flight.
 */
struct pool_conn
{
  unsigned id;
  struct http_conn *http;
  bool dirty;                   /* wrote since its last flush */
  struct timespec last_used;    /* CLOCK_MONOTONIC */
};

/* N connections to EP; FIRST (if not NULL, already connected to EP, e.g.
 * the one that probed the server) becomes the first of them.  The pool
 * owns FIRST from now on, even on failure.
 */
int pool_init (unsigned n, const struct http_endpoint *ep,
               struct http_conn *first);
void pool_free (void);
struct pool_conn *pool_get (void);
void pool_put (struct pool_conn *pc);
/* Takes all connections into OUT (pool size entries); returns the count. */
unsigned pool_get_all (struct pool_conn **out);
void pool_put_all (struct pool_conn **all, unsigned n);
unsigned pool_size (void);
/* Takes a free connection that is dirty and unused for IDLE seconds, or
 * returns NULL without waiting.
 */
struct pool_conn *pool_take_idle_dirty (unsigned idle);
/* Whether every connection is free and unused for IDLE seconds. */
bool pool_idle_for (unsigned idle);
/* The keeper thread flushes what stays unflushed while the pool idles. */
int pool_start_keeper (void);
void pool_stop_keeper (void);

extern int imageio_debug_pool;

/* --- replay.c: requests that lose nothing (journal, replay, flush) --- */

struct journal_entry;

/* Sends journal entry E again on C (a PUT of its data, or a zero). */
typedef enum http_result (*replay_send_entry_fn) (
    struct http_conn *c, const struct journal_entry *e,
    struct http_response *resp, char *errbuf, size_t errlen);

struct replay_params
{
  bool has_flush;               /* the server has flush: writes are kept */
  uint64_t max_unflushed;       /* journal bound in bytes; 0: no journal */
  unsigned retry_window_ms;     /* longest time spent retrying a request */
  replay_send_entry_fn send_entry;
};

void replay_init (const struct replay_params *p);
void replay_free (void);
bool replay_journal_on (void);
uint64_t replay_journal_bytes (void);
/* Whether writes were acknowledged since the last successful flush (and
 * may still be saved: false after a loss).
 */
bool replay_pending (void);
/* Sends REQ on a pooled connection, retrying with replay as the file's
 * comment says.  Returns 0 when the answer has status OK_STATUS (0: any
 * 2xx), else -1 after nbdkit_error, with nbdkit's errno set.  IS_WRITE:
 * a PUT or zero, sent with flush=y when FUA; ENTRY (owned from now on,
 * NULL without a journal) is what the journal keeps once the server
 * acknowledged it.
 */
int replay_send (const char *what, const struct http_request *req,
                 struct http_response *resp, int ok_status, bool is_write,
                 bool fua, struct journal_entry *entry);
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

/* --- errors.c: reporting a failed request --- */

/* nbdkit_error saying WHAT failed and how (R, or RESP's status and the
 * server's text with ticket ids shortened), and the matching errno.
 */
void errors_report (const char *what, enum http_result r,
                    const struct http_response *resp, const char *errbuf);
/* TEXT with ticket ids shortened, in BUF. */
const char *errors_redact (const char *text, char *buf, size_t len);

#endif
