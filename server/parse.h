/* SPDX-License-Identifier: BSD-3-Clause */
/* Pure parsers of what clients send imageio-server: the request target,
 * the query string, the framing headers, PATCH bodies and the control
 * service's paths and bodies.  No I/O, no globals: each takes bytes and
 * returns a result or a one-line reason, so the fuzz targets
 * (tests/fuzz/) and unit tests call them directly.
 *
 * Contract: inputs are (pointer, length) and may hold any bytes (NUL
 * included); outputs are owned by the caller (free with the matching
 * *_free); ERR gets a one-line message without any ticket id in it.
 */
#ifndef SERVER_PARSE_H
#define SERVER_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

/* ---- request target ---- */

/* Checks a raw request target (as sent, before any %-decoding): no
 * control bytes or spaces, every '%' followed by two hex digits, no %00
 * anywhere, no encoded '/' or '\' (%2f, %5c) in the path, where they
 * would move a ticket id's end.  Sets *PATH_LEN to the length before '?'.
 * Returns 0, or -1 with a reason.
 */
int uri_check (const char *uri, size_t len, size_t *path_len, char *err,
               size_t errlen);

/* ---- query string ---- */

#define QUERY_MAX 16

/* A decoded query string: up to QUERY_MAX "key=value" pairs; a key given
 * without '=' has a NULL value, as libmicrohttpd reports it.
 */
struct query
{
  size_t n;
  const char *keys[QUERY_MAX];
  const char *values[QUERY_MAX];
  char *buf; /* owns the decoded strings */
};

/* Decodes RAW (LEN bytes after the '?', '&'-separated, %XX escapes).
 * Fails on a bad escape, %00, or more than QUERY_MAX arguments.  Returns
 * 0 (free with query_free), or -1 with a reason.
 */
int query_parse (const char *raw, size_t len, struct query *q, char *err,
                 size_t errlen);
/* The value of the first NAME, or NULL (absent, or given without '='). */
const char *query_get (const struct query *q, const char *name);
/* True when NAME is given at all. */
bool query_has (const struct query *q, const char *name);
void query_free (struct query *q);

/* Reads a y|n value (NULL gives DEF).  Returns 0 or -1 (another value). */
int parse_yes_no (const char *value, int def, int *out);

/* ---- framing ---- */

/* Checks the request's header fields (N names and values, as received)
 * for what makes its length ambiguous: more than one Content-Length
 * (equal or not), a Content-Length that is not only digits, Content-Length
 * together with Transfer-Encoding, more than one Transfer-Encoding or one
 * that is not exactly "chunked", a field name with white space or control
 * bytes in it.  Returns 0, or -1 with a reason (the request must then be
 * answered 400 and its connection closed).
 */
int framing_check (const char *const *names, const char *const *values,
                   size_t n, char *err, size_t errlen);

/* ---- JSON bodies ---- */

/* Parses BODY (LEN bytes) as one JSON object with imageio's messages
 * ("Invalid JSON: ...").  Returns the tree (yajl_tree_free it) or NULL.
 */
yajl_val parse_json_object (const char *body, size_t len, char *err,
                            size_t errlen);

enum patch_op
{
  PATCH_FLUSH,
  PATCH_ZERO,
};

struct patch_request
{
  enum patch_op op;
  uint64_t offset, size; /* zero only */
  bool flush;            /* zero only */
};

/* Parses a PATCH /images/TICKET body: {"op": "flush"} or {"op": "zero",
 * "size": N[, "offset": O][, "flush": B]}.  Returns 0 or -1 with
 * imageio's message.
 */
int parse_patch (const char *body, size_t len, struct patch_request *p,
                 char *err, size_t errlen);

/* ---- control service ---- */

/* Takes the ticket id out of a control path "/tickets/ID" (ID non-empty,
 * without '/', shorter than IDSZ).  Returns 0 or -1.
 */
int parse_control_path (const char *url, char *id, size_t idsz);

/* Parses a control PATCH body {"timeout": N}.  Returns 0 or -1. */
int parse_control_patch (const char *body, size_t len, uint64_t *timeout,
                         char *err, size_t errlen);

#endif
