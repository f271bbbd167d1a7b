/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-imageio-plugin: an ovirt-imageio transfer URL as an NBD export.
 *
 * This file holds the nbdkit callbacks: start-up (OPTIONS and the size,
 * before nbdkit serves), and the data path, each NBD request mapped to
 * imageio requests on a pooled connection (pool.c):
 *   pread  -> GET with Range
 *   pwrite -> PUT with Content-Range, ?flush=y only with FUA
 *   zero   -> PATCH {"op": "zero"} (or PUTs of zeroes on servers without it)
 *   flush  -> PATCH {"op": "flush"} on every connection that wrote
 *   extents-> the cached map (extents.c)
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/opensslv.h>
#include <yajl/yajl_version.h>

#include "clock.h"
#include "config.h"
#include "errors.h"
#include "extents.h"
#include "journal.h"
#include "json.h"
#include "keeper.h"
#include "locks.h"
#include "pool.h"
#include "ranges.h"
#include "redact.h"
#include "replay.h"
#include "stats.h"

/* Requests on different connections run in parallel; the pool serialises
 * use of each connection, and imageio allows concurrent requests.
 */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* What start-up learned from the server; read-only once nbdkit serves. */
static struct
{
  bool can_write; /* Allow lists PUT */
  bool has_zero, has_flush, has_extents;
  int max_readers, max_writers;   /* 0: not reported */
  uint64_t size;                  /* export size */
  const struct http_endpoint *ep; /* where the pool connects */
} server;

/* Request targets, made once at start-up. */
static char *target_flush_y, *target_flush_n, *target_extents;

/* Where the pool connects when is_ovirt_host picked the Unix socket. */
static struct http_endpoint local;

/* Servers without the zero feature get PUTs from this buffer of zeroes. */
#define ZERO_BUF_SIZE (8 * 1024 * 1024)
static void *zero_buf;

/* Zero requests are split so none can take longer than the timeout on a
 * server that has to write the zeroes.
 */
#define MAX_ZERO_REQUEST (256 * 1024 * 1024)

/* The first zero request starts downloading the extent map in this thread,
 * so that no request waits for it; fetch_lock protects fetch_started.
 */
static pthread_mutex_t fetch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t fetch_thread;
static bool fetch_started;

/* Largest OPTIONS answer accepted (a real one is about 150 bytes). */
#define OPTIONS_BODY_MAX (64 * 1024)

/* Start-up (OPTIONS, the size, the Unix socket probe) ends within this, so
 * that a server that accepts and never answers fails well inside the 30 s
 * virt-v2v waits for nbdkit's pidfile.
 */
#define STARTUP_TIMEOUT_MS 20000
static int64_t startup_deadline;

/* The time a start-up request may take: what is left of the start-up
 * bound, and never more than timeout=.
 */
static int
startup_request_ms (void)
{
  int64_t left = startup_deadline - clock_now_ms ();

  if (left > (int64_t)config.timeout * 1000)
    left = (int64_t)config.timeout * 1000;
  return left < 1 ? 1 : (int)left;
}

/* nbdkit allocates a buffer for every request (4 MiB in virt-v2v's shape)
 * and frees it after the reply.  glibc's defaults give such blocks back to
 * the kernel at once (mmap, or trimming the heap), so every request
 * faulted in fresh, kernel-zeroed pages: 130k page faults for a 2 GiB
 * upload, 62k with these settings, and 8-10% less CPU in nbdkit (issue
 * 11).  Blocks up to 32 MiB (the largest NBD request) now come from the
 * heap, and up to 64 MiB free at its top stays mapped, so memory stays
 * bounded by what the requests in flight use at once.
 */
#define MALLOC_MMAP_THRESHOLD (32 * 1024 * 1024)
#define MALLOC_TRIM_THRESHOLD (64 * 1024 * 1024)

static void
imageio_load (void)
{
  if (mallopt (M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) != 1
      || mallopt (M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD) != 1)
    nbdkit_debug ("imageio: mallopt failed; glibc's defaults stay");
}

/* A final flush failed (at a client's close or at unload): the writes
 * it covered may be lost and no client can be told any more.
 */
static bool final_flush_failed;

static void
imageio_unload (void)
{
  config_free ();
  free (target_flush_y);
  free (target_flush_n);
  free (target_extents);
  free (zero_buf);
  /* nbdkit would exit 0 after SIGTERM whatever happened: a lost final
   * flush must not look like success in the exit status either.  Unload
   * is nbdkit's last call into the plugin.
   */
  if (__atomic_load_n (&final_flush_failed, __ATOMIC_RELAXED))
    {
      fflush (stderr);
      exit (EXIT_FAILURE);
    }
}

static int
imageio_config (const char *key, const char *value)
{
  return config_set (key, value);
}

static int
imageio_config_complete (void)
{
  return config_complete ();
}

static void
imageio_dump_plugin (void)
{
  printf ("imageio_version=%s\n", PACKAGE_VERSION);
  printf ("imageio_http_client=builtin\n");
  printf ("imageio_openssl_version=%s\n", OPENSSL_VERSION_TEXT);
  printf ("imageio_yajl_version=%d\n", YAJL_VERSION);
  printf ("imageio_features=tls unix_socket abstract_socket extents "
          "zero_elision partial_extents options_size\n");
}

/* The image size OPTIONS reported (beyond imageio: our server does), or
 * -1; set by probe_options.
 */
static int64_t options_size = -1;

/* Why the ticket makes the export read-only, for the start-up line. */
static char read_only_why[200];

/* Says once, on standard error (nbdkit has no level between error and
 * debug), that the export is read-only and why: without it a client's
 * write fails with nothing but "Permission denied".
 */
static void
say_read_only (const char *why)
{
  static bool said;

  if (__atomic_exchange_n (&said, true, __ATOMIC_RELAXED))
    return;
  fprintf (stderr,
           "nbdkit: imageio: the export is read-only: %s; writes will fail "
           "with \"Permission denied\"\n",
           why);
  fflush (stderr);
}

/* Sends OPTIONS on C and fills server.  Returns 0 or -1 (logged). */
static int
probe_options (struct http_conn *c, const char *where)
{
  char body[OPTIONS_BODY_MAX];
  struct http_request req = {
    .method = "OPTIONS",
    .target = config.path,
    .buf = body,
    .buf_len = sizeof body,
    .timeout_ms = startup_request_ms (),
  };
  struct http_outcome o;
  const struct http_response *resp = &o.resp;
  enum http_result r;
  struct imageio_options opts;
  char errbuf[256] = "", what[300];

  snprintf (what, sizeof what, "OPTIONS %s", where);
  http_send (c, &req, &o);
  r = o.r;
  if (r == HTTP_ERR_CLOSED && !config.remote.tls)
    {
      /* A TLS server closes a plain connection without a word. */
      nbdkit_error ("%s: %s: %s (if this port speaks TLS, use an https:// "
                    "URL)",
                    what, http_result_str (r), o.errbuf);
      return -1;
    }
  if (r == HTTP_ERR_CONNECT)
    {
      char text[300];

      nbdkit_error ("%s: %s: %s%s", what, http_result_str (r),
                    errors_redact (o.errbuf, text, sizeof text),
                    errors_connect_hint (o.errbuf, config.port_given,
                                         config.cafile != NULL));
      return -1;
    }
  if (r != HTTP_OK)
    {
      errors_report (what, &o);
      return -1;
    }
  if (resp->status == 405 || (resp->status == 204 && resp->body_len == 0))
    {
      /* Old daemon (405) or proxy (204): only GET and PUT, one connection. */
      nbdkit_debug ("imageio: server has no OPTIONS (%d): old server mode, "
                    "no zero, flush or extents",
                    resp->status);
      server.can_write = true;
      server.max_readers = server.max_writers = 1;
      return 0;
    }
  if (resp->status != 200)
    {
      errors_report (what, &o);
      return -1;
    }
  if (json_parse_options (body, resp->body_len, &opts, errbuf, sizeof errbuf)
      == -1)
    {
      nbdkit_error ("%s: invalid answer from server: %s", what, errbuf);
      return -1;
    }
  server.has_zero = opts.has_zero;
  server.has_flush = opts.has_flush;
  server.has_extents = opts.has_extents;
  server.max_readers = opts.max_readers;
  server.max_writers = opts.max_writers;
  options_size = opts.size;
  if (opts.size_error[0])
    nbdkit_debug ("imageio: OPTIONS: ignoring %s", opts.size_error);
  /* Without an Allow header, trust the features: zero means writable. */
  if (resp->allow[0] != '\0')
    server.can_write = strcasestr (resp->allow, "PUT") != NULL;
  else
    server.can_write = opts.has_zero;
  if (!server.can_write)
    snprintf (read_only_why, sizeof read_only_why,
              "the ticket does not allow writing (the server allows %.100s)",
              resp->allow[0] ? resp->allow : "no zero, so no writes");

  if (config.is_ovirt_host && opts.unix_socket_len > 0)
    {
      local.unix_len = opts.unix_socket_len;
      memcpy (local.unix_path, opts.unix_socket, opts.unix_socket_len);
    }
  return 0;
}

/* Asks the server for the image size with a one-byte GET, whose answer is
 * "Content-Range: bytes 0-0/SIZE".  Returns the size or -1, logged as an
 * error when REQUIRED (no size= given), else as a debug message: the size
 * is then only checked when the server tells it.
 */
static int64_t
probe_size (struct http_conn *c, bool required)
{
  char byte;
  struct http_request req = {
    .method = "GET",
    .target = config.path,
    .range = "bytes=0-0",
    .buf = &byte,
    .buf_len = 1,
    .timeout_ms = startup_request_ms (),
  };
  struct http_outcome o;
  uint64_t first, last, total;

  http_send (c, &req, &o);
  if (!http_outcome_ok (&o, 206))
    {
      if (required)
        errors_report ("GET bytes=0-0 (to learn the image size)", &o);
      else
        nbdkit_debug ("imageio: cannot check size=: GET bytes=0-0: %s",
                      o.r != HTTP_OK ? o.errbuf : o.resp.reason);
      return -1;
    }
  if (range_parse_content_range (o.resp.content_range, &first, &last, &total)
          == -1
      || total == UINT64_MAX || total > INT64_MAX)
    {
      if (required)
        nbdkit_error ("the server did not report the image size "
                      "(Content-Range: %.80s); give size=",
                      o.resp.content_range);
      return -1;
    }
  return total;
}

/* Makes the Unix socket endpoint reported by OPTIONS the pool's endpoint
 * when it answers, returning the connection that asked (for the pool);
 * otherwise the URL stays in use and this returns NULL.
 */
static struct http_conn *
try_local_socket (void)
{
  struct http_conn *c;
  char errbuf[256] = "";
  bool ok;

  local.tls = false;
  local.host_header = "localhost";
  local.connect_timeout_ms = config.remote.connect_timeout_ms;
  local.io_timeout_ms = config.remote.io_timeout_ms;
  if (http_endpoint_init (&local, errbuf, sizeof errbuf) == -1)
    {
      nbdkit_debug ("imageio: is_ovirt_host: %s", errbuf);
      return NULL;
    }
  c = http_conn_new (&local);
  if (c == NULL)
    return NULL;
  {
    struct http_request req = { .method = "OPTIONS",
                                .target = config.path,
                                .timeout_ms = startup_request_ms () };
    struct http_outcome o;

    http_send (c, &req, &o);
    ok = http_outcome_ok (&o, 200);
    if (!ok)
      nbdkit_debug ("imageio: is_ovirt_host: OPTIONS via the Unix socket: %s",
                    o.r != HTTP_OK ? o.errbuf : o.resp.reason);
  }
  if (!ok)
    {
      http_conn_free (c);
      nbdkit_debug ("imageio: is_ovirt_host: the Unix socket does not "
                    "answer, using the URL");
      return NULL;
    }
  server.ep = &local;
  nbdkit_debug ("imageio: is_ovirt_host: using the server's Unix socket "
                "%s%.*s",
                local.unix_path[0] == '\0' ? "@" : "",
                (int)local.unix_len - (local.unix_path[0] == '\0'),
                local.unix_path + (local.unix_path[0] == '\0'));
  return c;
}

static char *
make_target (const char *suffix)
{
  char *s;

  if (asprintf (&s, "%s%s", config.path, suffix) == -1)
    {
      nbdkit_error ("asprintf: %m");
      return NULL;
    }
  return s;
}

/* The extents documents are downloaded on a connection of their own, so
 * the pool keeps serving reads and writes while a big document arrives;
 * it is kept alive from one window to the next (extents.c runs one
 * download at a time, so one thread uses it at a time) and closed at
 * cleanup.
 */
static struct http_conn *extents_conn;

/* Counts what reaches the parser, to tell whether a failed request may be
 * sent again.
 */
struct counting_sink
{
  http_body_fn sink;
  void *opaque;
  uint64_t bytes;
};

static int
counting_sink_fn (void *opaque, const void *data, size_t len)
{
  struct counting_sink *cs = opaque;

  cs->bytes += len;
  return cs->sink (cs->opaque, data, len);
}

/* The status of the last extents answer (0: none), for start-up errors. */
static int extents_status;

static int
fetch_extents (void *opaque, uint64_t offset, uint64_t length,
               http_body_fn sink, void *sink_opaque, char *errbuf,
               size_t errlen)
{
  char *target = NULL;
  struct counting_sink cs = { sink, sink_opaque, 0 };
  struct http_request req = {
    .method = "GET",
    .target = target_extents,
    .body_fn = counting_sink_fn,
    .opaque = &cs,
    .timeout_ms = config.extents_timeout * 1000, /* not timeout= */
  };
  struct http_outcome o;
  struct replay_retry rt = { 0 };
  bool reused;

  (void)opaque;
  if (length > 0)
    {
      /* A window (beyond imageio): extents.c detects from the answer
       * whether the server honoured it.
       */
      if (asprintf (&target, "%s%cstart=%" PRIu64 "&length=%" PRIu64,
                    target_extents, strchr (target_extents, '?') ? '&' : '?',
                    offset, length)
          == -1)
        {
          snprintf (errbuf, errlen, "out of memory");
          return -1;
        }
      req.target = target;
    }
  if (extents_conn == NULL
      && (extents_conn = http_conn_new (server.ep)) == NULL)
    {
      free (target);
      snprintf (errbuf, errlen, "out of memory");
      return -1;
    }
  reused = http_conn_is_open (extents_conn);
  http_send (extents_conn, &req, &o);
  if (o.r == HTTP_ERR_CLOSED && reused && cs.bytes == 0)
    /* The server closed the idle connection: once more on a new one. */
    http_send (extents_conn, &req, &o);
  /* An outage: sent again, on a new connection (after a backend restart
   * the old one answers 500 until it is closed), within retry_timeout=
   * (replay.c), while nothing reached the parser.  extents_timeout= is a
   * deadline of its own: a timeout is not retried.
   */
  while (!http_outcome_ok (&o, 200) && cs.bytes == 0 && o.r != HTTP_ERR_TIMEOUT)
    {
      http_conn_close (extents_conn);
      if (!replay_retry_wait (&rt, "GET extents", &o, 200))
        break;
      http_send (extents_conn, &req, &o);
    }
  if (http_outcome_ok (&o, 200))
    replay_retry_end (&rt, "GET extents");
  free (target);
  if (o.r != HTTP_OK)
    {
      snprintf (errbuf, errlen, "%s", o.errbuf);
      return o.r == HTTP_ERR_TIMEOUT ? -2 : -1;
    }
  extents_status = o.resp.status;
  if (o.resp.status != 200)
    {
      char text[sizeof o.resp.error_text + 32];

      snprintf (errbuf, errlen, "GET extents%s: %d %s: %s",
                config.extents_dirty ? "?context=dirty" : "", o.resp.status,
                o.resp.reason,
                errors_redact (o.resp.error_text, text, sizeof text));
      return -1;
    }
  return 0;
}

static void send_entry (struct http_conn *c, const struct journal_entry *e,
                        struct http_outcome *o);

/* Sets server.size from the server's answer and size=: without size= the
 * server must tell; with it, a size= larger than the image is refused.
 */
static int
learn_size (struct http_conn *c)
{
  int64_t size;

  /* A server that reports the size in OPTIONS needs no probe. */
  if (options_size >= 0)
    nbdkit_debug ("imageio: size %" PRIi64 " from OPTIONS", options_size);
  size = options_size >= 0 ? options_size : probe_size (c, config.size == -1);
  if (config.size == -1)
    {
      if (size == -1)
        return -1;
      server.size = size;
      return 0;
    }
  if (size != -1 && config.size > size)
    {
      nbdkit_error ("size=%" PRIi64 " is larger than the image "
                    "(%" PRIi64 " bytes)",
                    config.size, size);
      return -1;
    }
  server.size = config.size;
  return 0;
}

/* connections=, lowered to what the server allows for this ticket. */
static unsigned
pool_connections (void)
{
  unsigned n = config.connections;
  int max = server.can_write ? server.max_writers : server.max_readers;

  if (max > 0 && (unsigned)max < n)
    n = max;
  return n;
}

/* The request targets and buffers the data path needs. */
static int
make_request_targets (void)
{
  target_flush_y = make_target ("?flush=y");
  target_flush_n = make_target ("?flush=n");
  target_extents = make_target (config.extents_dirty ? "/extents?context=dirty"
                                                     : "/extents");
  if (!target_flush_y || !target_flush_n || !target_extents)
    return -1;
  if (!server.has_zero && server.can_write)
    {
      zero_buf = calloc (1, ZERO_BUF_SIZE);
      if (zero_buf == NULL)
        {
          nbdkit_error ("calloc: %m");
          return -1;
        }
    }
  return 0;
}

/* Connects and asks OPTIONS and the size; returns the connection that
 * asked (the pool's first, or the Unix socket's when is_ovirt_host takes
 * it), or NULL after an error.
 */
static struct http_conn *
probe_server (const char *shown)
{
  char errbuf[256] = "";
  struct http_conn *c, *lc;

  if (http_endpoint_init (&config.remote, errbuf, sizeof errbuf) == -1)
    {
      nbdkit_error ("%s: %s", shown, errbuf);
      return NULL;
    }
  server.ep = &config.remote;
  c = http_conn_new (&config.remote);
  if (c == NULL)
    {
      nbdkit_error ("http_conn_new: %m");
      return NULL;
    }
  if (probe_options (c, shown) == -1 || learn_size (c) == -1)
    {
      http_conn_free (c);
      return NULL;
    }
  if (local.unix_len > 0 && (lc = try_local_socket ()) != NULL)
    {
      http_conn_free (c);
      c = lc;
    }
  return c;
}

/* extents=dirty before anything is fetched: the transfer must be
 * read-only (a write would change the image without showing in the
 * dirty extents, so the backup would miss it) and the server must have
 * extents at all.
 */
static int
check_dirty_server (void)
{
  if (server.can_write)
    {
      nbdkit_error ("extents=dirty is for a backup's download: this transfer "
                    "allows writing (its ticket has the write op), and a write "
                    "would not show in the dirty extents; use a read-only "
                    "(download) transfer, or extents=zero");
      return -1;
    }
  if (!server.has_extents)
    {
      nbdkit_error ("extents=dirty: the server does not offer extents "
                    "(no \"extents\" in OPTIONS' features), so it cannot "
                    "tell what changed; an incremental backup needs "
                    "ovirt-imageio 2.0 or later");
      return -1;
    }
  return 0;
}

/* extents=dirty: fetches the start of the dirty map now, so that a
 * transfer that is not part of an incremental backup fails at start-up
 * instead of copying everything.
 */
static int
start_dirty_extents (void)
{
  char why[400];

  extents_use_dirty ();
  if (extents_start (why, sizeof why) == 0)
    return 0;
  if (extents_status == 404)
    nbdkit_error ("extents=dirty: the server has no dirty extents for this "
                  "transfer (%s): it is not part of an incremental backup "
                  "(in oVirt, a backup's download transfer; with "
                  "imageio-server, a ticket with \"dirty\": true over "
                  "qemu-nbd --bitmap=NAME); for a full copy use extents=zero",
                  why);
  else
    nbdkit_error ("extents=dirty: cannot get the dirty extents: %s", why);
  return -1;
}

/* Learns what the server offers, before nbdkit serves, so that a bad URL,
 * a TLS failure or an expired ticket stops nbdkit at once.
 */
static int
imageio_get_ready (void)
{
  char shown[256];
  struct http_conn *c;
  unsigned n;

  startup_deadline = clock_now_ms () + STARTUP_TIMEOUT_MS;
  errors_set_ticket_path (config.path);
  redact_user_url (config.url, shown, sizeof shown);
  c = probe_server (shown);
  if (c == NULL)
    return -1;
  if (make_request_targets () == -1)
    {
      http_conn_free (c);
      return -1;
    }
  if (config.extents_dirty && check_dirty_server () == -1)
    {
      http_conn_free (c);
      return -1;
    }
  n = pool_connections ();
  if (pool_init (n, server.ep, c) == -1)
    return -1; /* the pool owns C now */
  /* Before the extents: their download retries within its window. */
  replay_init (&(struct replay_params){
      .target = config.path,
      .has_flush = server.has_flush && server.can_write,
      .max_unflushed = config.max_unflushed,
      .retry_window_ms = config.retry_timeout * 1000,
      .send_entry = send_entry,
  });
  extents_init (server.size, config.extents_timeout, fetch_extents, NULL);
  if (config.extents_dirty && start_dirty_extents () == -1)
    return -1;

  if (!server.can_write)
    say_read_only (read_only_why);
  nbdkit_debug ("imageio: size %" PRIu64 ", %s, zero %s, flush %s, "
                "extents %s, %u connections%s, journal %s",
                server.size, server.can_write ? "writable" : "read-only",
                server.has_zero ? "yes" : "no", server.has_flush ? "yes" : "no",
                server.has_extents ? "yes" : "no", n,
                server.ep == &local ? " via the Unix socket" : "",
                replay_journal_on () ? "on" : "off");
  return 0;
}

static void *
fetch_main (void *arg)
{
  (void)arg;
  extents_ensure ();
  return NULL;
}

/* Starts the map download in the background, once. */
static void
start_background_fetch (void)
{
  LOCK_FOR_SCOPE (&fetch_lock);
  if (!fetch_started)
    fetch_started = pthread_create (&fetch_thread, NULL, fetch_main, NULL) == 0;
}

static int
imageio_after_fork (void)
{
  return server.has_flush ? keeper_start (config.idle_flush) : 0;
}

/* Flushes what is still unflushed (the client may have disconnected
 * without flushing; a failure names the bytes that may be lost) and closes
 * every connection, so that oVirt can finalize the transfer at once.
 */
static void
imageio_cleanup (void)
{
  keeper_stop ();
  if (fetch_started)
    pthread_join (fetch_thread, NULL);
  if (pool_size () > 0 && replay_close ("unloading") == -1)
    __atomic_store_n (&final_flush_failed, true, __ATOMIC_RELAXED);
  stats_summary (http_total_connects ());
  pool_free ();
  replay_free ();
  extents_cleanup ();
  http_conn_free (extents_conn);
  extents_conn = NULL;
  http_endpoint_free (&local);
}

/* All state is the plugin's (the pool is shared by every NBD connection),
 * so NBD connections need no handle of their own.
 */
static void *
imageio_open (int readonly)
{
  if (readonly && server.can_write)
    say_read_only ("nbdkit runs with -r (the ticket allows writing)");
  stats_client_open ();
  return NBDKIT_HANDLE_NOT_NEEDED;
}

/* A client that disconnects without flushing (nbdcopy without --flush)
 * would otherwise leave its last writes to the keeper, or to nothing.
 */
static void
imageio_close (void *handle)
{
  (void)handle;
  if (replay_close ("closing the NBD connection") == -1)
    __atomic_store_n (&final_flush_failed, true, __ATOMIC_RELAXED);
}

static int64_t
imageio_get_size (void *handle)
{
  (void)handle;
  return server.size;
}

static int
imageio_can_write (void *handle)
{
  (void)handle;
  /* extents=dirty refuses writable transfers; read-only either way. */
  return server.can_write && !config.extents_dirty;
}

/* Old servers flush every PUT, so flush has nothing left to do there. */
static int
imageio_can_flush (void *handle)
{
  (void)handle;
  return server.can_write;
}

static int
imageio_can_fua (void *handle)
{
  (void)handle;
  return NBDKIT_FUA_NATIVE;
}

static int
imageio_can_zero (void *handle)
{
  (void)handle;
  return server.can_write;
}

static int
imageio_can_fast_zero (void *handle)
{
  (void)handle;
  return 0;
}

static int
imageio_can_trim (void *handle)
{
  (void)handle;
  return 0;
}

static int
imageio_can_multi_conn (void *handle)
{
  (void)handle;
  return 1;
}

static int
imageio_can_extents (void *handle)
{
  (void)handle;
  return server.has_extents;
}

static int
imageio_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  char range[64], what[96];
  struct http_request req = {
    .method = "GET",
    .target = config.path,
    .range = range,
    .buf = buf,
    .buf_len = count,
  };
  const struct replay_request rq = {
    .op = "pread",
    .offset = offset,
    .length = count,
    .http = &req,
    .ok_status = 206,
  };
  struct http_response resp;
  uint64_t first, last, total;

  (void)handle;
  (void)flags;
  snprintf (range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, offset,
            offset + count - 1);
  if (replay_send (&rq, &resp) == -1)
    return -1;
  if (range_parse_content_range (resp.content_range, &first, &last, &total)
          == -1
      || first != offset || last != offset + count - 1)
    {
      nbdkit_error ("%s: server answered with Content-Range '%.80s'",
                    replay_describe (&rq, what, sizeof what),
                    resp.content_range);
      return -1;
    }
  if (resp.body_len != count)
    {
      nbdkit_error ("%s: short answer, %" PRIu64 " bytes",
                    replay_describe (&rq, what, sizeof what), resp.body_len);
      return -1;
    }
  stats_add (STATS_BYTES_READ, count);
  return 0;
}

/* The PUT of COUNT bytes of BUF at OFFSET into REQ (CONTENT_RANGE is its
 * buffer, 96 bytes).  FUA asks the server to flush before answering.
 */
static void
make_put (struct http_request *req, char *content_range, const void *buf,
          uint64_t count, uint64_t offset, bool fua)
{
  *req = (struct http_request){
    .method = "PUT",
    .content_range = content_range,
    .body = buf,
    .body_len = count,
  };
  /* Without the flush feature the server flushes every PUT (flush=y is its
   * default), and an old server may not know the parameter.
   */
  if (!server.has_flush)
    req->target = config.path;
  else
    req->target = fua ? target_flush_y : target_flush_n;
  snprintf (content_range, 96, "bytes %" PRIu64 "-%" PRIu64 "/*", offset,
            offset + count - 1);
}

/* The PATCH zero of SIZE bytes at OFFSET into REQ (BODY is its buffer, 160
 * bytes).
 */
static void
make_patch_zero (struct http_request *req, char *body, uint64_t offset,
                 uint64_t size, bool fua)
{
  *req = (struct http_request){
    .method = "PATCH",
    .target = config.path,
    .content_type = "application/json",
    .body = body,
  };
  req->body_len = snprintf (body, 160,
                            "{\"op\": \"zero\", \"offset\": %" PRIu64
                            ", \"size\": %" PRIu64 ", \"flush\": %s}",
                            offset, size, fua ? "true" : "false");
}

/* Sends a journal entry again, unflushed (the replay flushes after). */
static void
send_entry (struct http_conn *c, const struct journal_entry *e,
            struct http_outcome *o)
{
  struct http_request req;
  char buf[160];

  if (e->data)
    make_put (&req, buf, e->data, e->length, e->offset, false);
  else if (server.has_zero)
    make_patch_zero (&req, buf, e->offset, e->length, false);
  else
    make_put (&req, buf, zero_buf, e->length, e->offset, false);
  http_send (c, &req, o);
}

/* PUTs COUNT bytes of BUF at OFFSET.  FUA asks the server to flush first.
 * A zero sent as PUTs (server without the zero feature) is journaled as a
 * zero, without a copy.
 */
static int
put_data (const void *buf, uint32_t count, uint64_t offset, bool fua,
          const char *op)
{
  char content_range[96];
  struct http_request req;
  const struct replay_request rq = {
    .op = op,
    .offset = offset,
    .length = count,
    .http = &req,
    .write = true,
    .data = buf == zero_buf ? NULL : buf,
    .fua = fua,
  };

  make_put (&req, content_range, buf, count, offset, fua);
  return replay_send (&rq, NULL);
}

static int
imageio_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  int ret;

  (void)handle;
  ret = put_data (buf, count, offset, flags & NBDKIT_FLAG_FUA, "pwrite");
  if (ret == 0)
    {
      extents_written (offset, count);
      stats_add (STATS_BYTES_WRITTEN, count);
    }
  else
    extents_failed (offset, count);
  return ret;
}

static int imageio_flush (void *handle, uint32_t flags);

/* PATCH zero for at most MAX_ZERO_REQUEST bytes. */
static int
patch_zero (uint64_t offset, uint64_t size, bool fua)
{
  char body[160];
  struct http_request req;
  const struct replay_request rq = {
    .op = "zero",
    .offset = offset,
    .length = size,
    .http = &req,
    .write = true,
    .data = NULL, /* a zero */
    .fua = fua,
  };

  make_patch_zero (&req, body, offset, size, fua);
  return replay_send (&rq, NULL);
}

static int
imageio_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  bool fua = flags & NBDKIT_FLAG_FUA;
  uint64_t done = 0;
  int ret = 0;

  /* Zero elision: the map knows this range already reads as zeroes, so
   * there is nothing to send.  The first zero starts fetching the map;
   * zeroes are sent until it is known.
   */
  if (config.zero_elision && server.has_extents)
    {
      start_background_fetch ();
      if (extents_reads_as_zero (offset, count))
        {
          if (imageio_debug_pool)
            nbdkit_debug ("zero offset %" PRIu64 " length %" PRIu32
                          ": already zero, not sent",
                          offset, count);
          stats_add (STATS_ZEROES_ELIDED, 1);
          stats_add (STATS_BYTES_ZEROED, count);
          return fua ? imageio_flush (handle, 0) : 0;
        }
    }

  while (ret == 0 && done < count)
    {
      uint64_t n;

      if (server.has_zero)
        {
          n = count - done < MAX_ZERO_REQUEST ? count - done : MAX_ZERO_REQUEST;
          ret = patch_zero (offset + done, n, fua);
        }
      else
        {
          n = count - done < ZERO_BUF_SIZE ? count - done : ZERO_BUF_SIZE;
          ret = put_data (zero_buf, n, offset + done, fua, "zero (PUT)");
        }
      done += n;
    }
  if (ret == 0)
    {
      extents_zeroed (offset, count);
      stats_add (STATS_BYTES_ZEROED, count);
    }
  else
    extents_failed (offset, count);
  return ret;
}

/* Image-wide: every connection that wrote is flushed, and when one of them
 * broke holding unflushed writes, the journal is sent again first (see
 * replay.c).
 */
static int
imageio_flush (void *handle, uint32_t flags)
{
  (void)handle;
  (void)flags;
  return replay_flush ();
}

/* Most extents in one block status reply, as qemu-nbd does: the client
 * asks again from where the reply ends.  Without a bound, one request over
 * a fragmented 4 GiB range makes a reply of a million extents, which costs
 * nbdkit tens of MiB and seconds to build and send.
 */
#define MAX_EXTENTS_PER_REPLY 65536

struct extents_reply
{
  struct nbdkit_extents *exts;
  unsigned count;
  bool full;
};

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct extents_reply *reply = opaque;

  if (reply->count == MAX_EXTENTS_PER_REPLY)
    {
      reply->full = true;
      return -1; /* stops the query; not an error */
    }
  reply->count++;
  return nbdkit_add_extent (reply->exts, offset, length, type);
}

static int
imageio_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *exts)
{
  struct extents_reply reply = { .exts = exts };
  int r;

  (void)handle;
  r = extents_query (offset, count, flags & NBDKIT_FLAG_REQ_ONE, add_extent,
                     &reply);
  return reply.full ? 0 : r;
}

static struct nbdkit_plugin plugin = {
  .name = "imageio",
  .longname = "nbdkit ovirt-imageio plugin",
  .version = PACKAGE_VERSION,
  .description = "Exposes an ovirt-imageio transfer URL as an NBD export.",
  .load = imageio_load,
  .unload = imageio_unload,
  .config = imageio_config,
  .config_complete = imageio_config_complete,
  .config_help = CONFIG_HELP,
  .magic_config_key = "url",
  .dump_plugin = imageio_dump_plugin,
  .get_ready = imageio_get_ready,
  .after_fork = imageio_after_fork,
  .cleanup = imageio_cleanup,
  .open = imageio_open,
  .close = imageio_close,
  .get_size = imageio_get_size,
  .can_write = imageio_can_write,
  .can_flush = imageio_can_flush,
  .can_fua = imageio_can_fua,
  .can_zero = imageio_can_zero,
  .can_fast_zero = imageio_can_fast_zero,
  .can_trim = imageio_can_trim,
  .can_multi_conn = imageio_can_multi_conn,
  .can_extents = imageio_can_extents,
  .pread = imageio_pread,
  .pwrite = imageio_pwrite,
  .zero = imageio_zero,
  .flush = imageio_flush,
  .extents = imageio_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
