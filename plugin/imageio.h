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
  char *path;                   /* "/images/TICKET" from the URL */
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
  unsigned extents_timeout;     /* seconds for the whole extents download */
};

extern struct imageio_config config;

int config_set (const char *key, const char *value);
int config_complete (void);
void config_free (void);
#define CONFIG_HELP \
  "url=URL                  (required) imageio transfer URL, https:// or http://\n" \
  "size=SIZE                Image size; default: asked from the server.\n" \
  "cafile=FILE              CA certificates to verify the server.\n" \
  "insecure=true            Do not verify the server's certificate.\n" \
  "is_ovirt_host=true       Use the server's Unix socket when offered.\n" \
  "connections=N            HTTP connections (default 4).\n" \
  "timeout=SECONDS          Longest wait for one request (default 60).\n" \
  "idle_flush=SECONDS       Flush a connection idle this long (default 20).\n" \
  "zero_elision=false       Send every zero request, even over known zeroes.\n" \
  "extents_timeout=SECONDS  Longest extents download (default 3600)."

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
 * every connection (for flush) and waits for requests in flight.
 */
struct pool_conn
{
  unsigned id;
  struct http_conn *http;
  bool dirty;                   /* wrote since its last flush */
  bool lost_unflushed;          /* broke while dirty: report at flush */
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
/* Sends REQ on PC, reconnecting and sending again when the connection
 * broke (HTTP_ERR_CLOSED or HTTP_ERR_IO), a bounded number of times.
 * Marks PC lost_unflushed when a dirty connection broke.
 */
enum http_result pool_send (struct pool_conn *pc,
                            const struct http_request *req,
                            struct http_response *resp,
                            char *errbuf, size_t errlen);
/* The keeper thread flushes connections idle with unflushed writes. */
int pool_start_keeper (void);
void pool_stop_keeper (void);
/* Sends PATCH flush on PC when it is dirty.  Returns 0 or -1 (logged). */
int pool_flush_conn (struct pool_conn *pc);

extern int imageio_debug_pool;

#endif
