/* imageio-server's HTTP layer on libmicrohttpd (thread per connection).
 *
 * Contract:
 * - One MHD daemon per listener; each accepted connection gets a struct
 *   conn (its id, and the backend it opened for its current ticket, closed
 *   with the connection).  Only that connection's thread touches it.
 * - Each request gets a struct request.  The route handler (images.c or
 *   control.c) runs once the headers are in: it answers at once (http_reply
 *   and friends), or sets on_data/on_end to take the body and answer when it
 *   has all of it, or returns MHD_NO to drop the connection.  An answer
 *   given before a body was read closes the connection (libmicrohttpd).
 * - When the request ends http.c logs it (-v), releases r->ticket and frees
 *   what the request owns.
 */
#ifndef SERVER_HTTP_H
#define SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>
#include <yajl/yajl_tree.h>

#include "conn-limits.h"
#include "parse.h"
#include "redact.h"

struct backend;
struct ticket;
struct extents_stream;

struct listener
{
  const char *transport; /* "tcp", "tls", "unix" or "control" */
  bool control;          /* serves /tickets, not /images */
  int fd;                /* bound and listening */
  struct MHD_Daemon *daemon;
};

struct conn
{
  uint64_t id;
  const struct listener *l;
  struct ticket *ticket;   /* the ticket the backend serves (a ref) */
  struct backend *backend; /* opened lazily, per ticket */
  char *putbuf;            /* gathers PUT bodies, PUT_BUFFER bytes */
  struct limits_conn lc;   /* registration with limits.c */
  unsigned ticket_idle;    /* idle seconds allowed by the last valid
                              ticket; 0 until one is named */
  bool peer_allowed;       /* control service: the peer's uid may use it */
  unsigned peer_uid;       /* for the log; (unsigned)-1 when unknown */
};

/* PUT bodies are written in pieces of this size. */
#define PUT_BUFFER (4 * 1024 * 1024)

struct request
{
  struct conn *conn;
  struct MHD_Connection *c; /* NULL until the head is complete */
  struct timespec start;

  /* The request target as sent (checked when its line arrives). */
  const char *raw_uri; /* in libmicrohttpd's buffer */
  size_t raw_uri_len;  /* up to the first NUL */
  char bad_uri[96];    /* why the target is refused, or "" */
  struct query query;  /* decoded query string */
  char method[16];

  /* What the log line shows. */
  const char *op;                         /* "read", "write", ... or NULL */
  char ticket_shown[REDACT_TICKET_BUFSZ]; /* "" when none */
  char path_shown[96];                    /* control requests: redacted path */
  bool show_range;
  uint64_t offset, length;
  int flush;           /* -1: not shown, 0: n, 1: y */
  const char *context; /* extents context or NULL */
  int status;          /* 0 until answered */
  char error[81];

  char id[256];          /* ticket id from the path */
  struct ticket *ticket; /* busy reference, released at the end */
  bool answered;
  /* libmicrohttpd closes the connection after a response queued before
   * the second call of the handler, so a request without a body keeps its
   * answer here until then.
   */
  bool first_call, has_body;
  struct MHD_Response *deferred;
  unsigned deferred_status;
  bool close_after; /* ?close=y on PUT */

  /* Body handling, set by the route handler. */
  int (*on_data) (struct request *r, const char *data, size_t len);
  enum MHD_Result (*on_end) (struct request *r);

  /* PUT */
  uint64_t written; /* bytes written to the backend */
  size_t buffered;  /* bytes in conn->putbuf */
  bool failed;      /* a write failed; the rest is discarded */
  char failure[256];

  /* Small bodies (PATCH, control PUT) */
  char *body;
  size_t body_len, body_max;
  bool body_too_large;

  /* An injected error status to answer once the body is read. */
  int fault_status;

  struct extents_stream *xs;
};

/* http.c */
/* Starts the daemon for L (TLS when KEY and CERT are given). */
int http_start (struct listener *l, const char *tls_key, const char *tls_cert);
void http_stop (struct listener *l);

/* Answers with a one-line text/plain body (FMT plus a newline).  CLOSE adds
 * "Connection: close" so the connection is closed after it.
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
/* Parses the body collected with http_collect_body (limit MAX) as one JSON
 * object: returns it (free with yajl_tree_free), or answers 413 or 400 with
 * imageio's message, stores the handler's result in *RET and returns NULL.
 */
yajl_val http_body_json_object (struct request *r, size_t max,
                                 enum MHD_Result *ret);
/* Answers 413 for a body over MAX bytes. */
enum MHD_Result http_reply_too_large (struct request *r, size_t max);
/* Value of a request header or query argument, or NULL. */
const char *http_header (struct request *r, const char *name);
const char *http_query (struct request *r, const char *name);
/* The connection named a valid ticket: it may now stay idle SECONDS. */
void http_set_idle_timeout (struct request *r, unsigned seconds);
/* The connection's PUT buffer (PUT_BUFFER bytes), allocated within the
 * PUT memory budget, or NULL when the budget is spent: then the body is
 * written through in the pieces libmicrohttpd hands over.
 */
char *http_putbuf (struct conn *cn);
/* PATH for messages and the log: any ticket id in it shortened, and every
 * path segment longer than a ticket id's shown prefix cut, since an
 * unknown path may hold a ticket id anywhere.  Returns BUF.
 */
const char *http_shown_path (const char *path, char *buf, size_t bufsz);

/* images.c */
/* Handles /images/... (URL without the query). */
enum MHD_Result images_handle (struct request *r, const char *url);
/* Handles GET /info/ (the server's version). */
enum MHD_Result images_info_handle (struct request *r, const char *url);
/* Records the local service's socket name for OPTIONS (LEN bytes, may start
 * with NUL for an abstract socket).
 */
void images_set_unix_socket (const char *name, size_t len);

/* control.c */
/* Handles the control service (/tickets/ID). */
enum MHD_Result control_handle (struct request *r, const char *url);

#endif
