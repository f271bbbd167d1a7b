/* SPDX-License-Identifier: BSD-3-Clause */
/* imageio-server's HTTP layer on libmicrohttpd (thread per connection).
 * It knows no handler: services register routes on a listener.
 *
 * Contract:
 * - One MHD daemon per listener; each accepted connection gets a struct
 *   conn (its id, its limits registration, and the handler's per-connection
 *   data, freed with its callback when the connection closes).  Only that
 *   connection's thread touches it.
 * - Each request gets a struct request, freed when it completes or with
 *   its connection, whether or not it was answered.  Once its headers are in
 * and it passed the checks every request passes (target, framing, the control
 *   service's peer uid), the first route of its listener whose path
 *   matches runs (else 404): it answers at once (http_reply and friends),
 *   or sets on_data/on_end to take the body and answer when it has all of
 *   it, or returns MHD_NO to drop the connection.  An answer given before a
 *   body was read closes the connection (libmicrohttpd).
 * - A handler keeps its per-request state in r->data (freed with
 *   r->data_free when the request ends) and may add fields to the -v log
 *   line with r->log_fields.  When the request ends http.c logs it, then
 *   frees what the request owns.
 */
#ifndef SERVER_HTTP_H
#define SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "conn-limits.h"
#include "parse.h"

struct request;

/* A route's handler: URL is the decoded path without the query. */
typedef enum MHD_Result (*http_handler) (struct request *r, const char *url);

struct http_route
{
  const char *path; /* the path, or its prefix */
  bool prefix;      /* match paths starting with PATH, else PATH only */
  http_handler handle;
};

#define HTTP_MAX_ROUTES 8

struct listener
{
  const char *transport; /* "tcp", "tls", "unix" or "control" */
  bool control;          /* peers' uids checked; connections not logged */
  bool tcp;              /* TCP (plain or TLS), else a Unix socket */
  int fd;                /* bound and listening */
  struct MHD_Daemon *daemon;
  struct limits_pool pool; /* its connection slots (conn-limits.h) */
  struct http_route routes[HTTP_MAX_ROUTES];
  size_t nr_routes;
};

struct conn
{
  uint64_t id;
  const struct listener *l;
  struct limits_conn lc; /* registration with conn-limits.c */
  unsigned ticket_idle;  /* idle seconds a handler allowed (a valid
                            ticket was named); 0 until then */
  bool peer_allowed;     /* control service: the peer's uid may use it */
  unsigned peer_uid;     /* for the log; (unsigned)-1 when unknown */
  char peer[64];         /* for the log: "ADDR:PORT" or "uid=N" */
  /* The request whose line arrived and that libmicrohttpd may drop
   * without telling (the connection closed before its head was
   * complete): freed with the connection unless it completes.
   */
  struct request *pending;
  /* The handler's per-connection state, freed with DATA_FREE when the
   * connection closes.
   */
  void *data;
  void (*data_free) (void *data);
};

struct request
{
  struct conn *conn;
  struct MHD_Connection *c; /* NULL until the head is complete */
  struct timespec start;

  /* The request target as sent (checked when its line arrives). */
  const char *raw_uri;     /* in libmicrohttpd's buffer */
  size_t raw_uri_len;      /* up to the first NUL */
  char bad_uri[96];        /* why the target is refused, or "" */
  unsigned bad_uri_status; /* its status; 0: 400 */
  struct query query;      /* decoded query string */
  char method[16];

  /* What the log line shows besides the handler's fields. */
  char path_shown[96]; /* redacted path, when a handler sets it */
  int status;          /* 0 until answered */
  char error[81];

  bool answered;
  /* libmicrohttpd closes the connection after a response queued before
   * the second call of the handler, so a request without a body keeps its
   * answer here until then.
   */
  bool first_call, has_body;
  struct MHD_Response *deferred;
  unsigned deferred_status;

  /* Body handling, set by the route handler. */
  int (*on_data) (struct request *r, const char *data, size_t len);
  enum MHD_Result (*on_end) (struct request *r);

  /* Small bodies gathered by http_collect_body. */
  char *body;
  size_t body_len, body_max;
  bool body_too_large;

  /* The handler's per-request state, freed with DATA_FREE at the end. */
  void *data;
  void (*data_free) (void *data);
  /* Appends " key=value" fields to the log line in BUF (LEN bytes). */
  void (*log_fields) (struct request *r, char *buf, size_t len);
};

/* Adds a route to L (before http_start): requests whose path is PATH (or
 * starts with it, with PREFIX) go to HANDLE.  Returns 0 or -1 (full).
 */
int http_add_route (struct listener *l, const char *path, bool prefix,
                    http_handler handle);
/* Starts the daemon for L (TLS when KEY and CERT are given). */
int http_start (struct listener *l, const char *tls_key, const char *tls_cert);
void http_stop (struct listener *l);

/* Answers with a one-line text/plain body (FMT plus a newline).  CLOSE adds
 * "Connection: close" so the connection is closed after it.  A 5xx body
 * shows no filesystem path (each becomes "<path>"); the log keeps them.
 */
enum MHD_Result http_reply_text (struct request *r, unsigned status, bool close,
                                 const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* Answers with RESP (which this takes over) and STATUS. */
enum MHD_Result http_reply (struct request *r, unsigned status,
                            struct MHD_Response *resp);
/* Answers with a copy of BUF as the body. */
enum MHD_Result http_reply_buffer (struct request *r, unsigned status,
                                   const char *content_type, const void *buf,
                                   size_t len);
/* Answers 405 with an Allow header. */
enum MHD_Result http_reply_405 (struct request *r, const char *allow);
/* Makes the request collect its body (at most MAX bytes, the rest is
 * discarded and body_too_large set) then call ON_END.
 */
void http_collect_body (struct request *r, size_t max,
                        enum MHD_Result (*on_end) (struct request *r));
/* Answers 413 for a body over MAX bytes. */
enum MHD_Result http_reply_too_large (struct request *r, size_t max);
/* Value of a request header or query argument, or NULL. */
const char *http_header (struct request *r, const char *name);
const char *http_query (struct request *r, const char *name);
/* The connection named a valid ticket: it may now stay idle SECONDS. */
void http_set_idle_timeout (struct request *r, unsigned seconds);
/* The connection's socket, or -1. */
int http_conn_fd (struct request *r);
/* PATH for messages and the log: any ticket id in it shortened, and every
 * path segment longer than a ticket id's shown prefix cut, since an
 * unknown path may hold a ticket id anywhere.  Returns BUF.
 */
const char *http_shown_path (const char *path, char *buf, size_t bufsz);

#endif
