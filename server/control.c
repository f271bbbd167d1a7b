/* SPDX-License-Identifier: BSD-3-Clause */
/* The control service (/tickets/ID on a Unix socket): PUT adds or replaces
 * a ticket, GET describes it, PATCH {"timeout": N} extends it, DELETE
 * cancels and removes it (204, also when there is no such ticket; its
 * running requests are stopped first, see handle_delete).
 *
 * Contract: only the manager (or a test) talks to it: http.c has already
 * refused every peer whose uid is not allowed (access.h); bodies are small
 * JSON documents of at most CONTROL_MAX bytes; a ticket is stored only if
 * its url lies under an allowed directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "control.h"
#include "http.h"
#include "log.h"
#include "parse.h"
#include "redact.h"
#include "tickets.h"
#include "work.h"

#define CONTROL_MAX (64 * 1024)
/* Seconds DELETE waits for a ticket's requests to stop (imageio's
 * control.remove_timeout).
 */
#define REMOVE_TIMEOUT 60

/* Per request (request->data): the ticket id from the path. */
struct control_req
{
  char id[256];
};

#define ID(r) (((struct control_req *)(r)->data)->id)

/* The redacted id for messages (per thread, so one at a time). */
static const char *
shown (struct request *r)
{
  static __thread char buf[REDACT_TICKET_BUFSZ];

  return redact_ticket (ID (r), buf);
}

static enum MHD_Result
too_large (struct request *r)
{
  return http_reply_text (r, MHD_HTTP_CONTENT_TOO_LARGE, false,
                          "Request body too large (limit %d bytes)",
                          CONTROL_MAX);
}

static enum MHD_Result
put_end (struct request *r)
{
  struct ticket *t;
  char err[256];

  if (r->body_too_large)
    return too_large (r);
  t = ticket_parse (r->body ? r->body : "", r->body_len, ID (r), err,
                    sizeof err);
  if (t == NULL)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
  if (access_check_url (t->url, err, sizeof err) == -1)
    {
      ticket_unref (t);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
    }
  tickets_add (t);
  return http_reply_buffer (r, MHD_HTTP_OK, NULL, "", 0);
}

static enum MHD_Result
patch_end (struct request *r)
{
  char err[256];
  uint64_t timeout;

  if (r->body_too_large)
    return too_large (r);
  if (parse_control_patch (r->body, r->body_len, &timeout, err, sizeof err)
      == -1)
    return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false, "%s", err);
  if (tickets_extend (ID (r), timeout) == -1)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false, "No such ticket '%s'",
                            shown (r));
  return http_reply_buffer (r, MHD_HTTP_OK, NULL, "", 0);
}

static enum MHD_Result
handle_get (struct request *r)
{
  size_t len;
  char *json = tickets_describe (ID (r), &len);
  struct MHD_Response *resp;

  if (json == NULL)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false, "No such ticket '%s'",
                            shown (r));
  resp = MHD_create_response_from_buffer (len, json, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL)
    {
      free (json);
      return MHD_NO;
    }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                           "application/json");
  return http_reply (r, MHD_HTTP_OK, resp);
}

/* As imageio: the ticket is canceled (no request may start on it), its
 * running requests are stopped, and once none is left it is removed
 * (204); 409 if one is still running after REMOVE_TIMEOUT.
 */
static enum MHD_Result
handle_delete (struct request *r)
{
  struct ticket *t = tickets_cancel (ID (r));
  unsigned n;

  if (t == NULL)
    return http_reply_buffer (r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
  n = work_cancel_ticket (t);
  if (n)
    log_debug ("ticket=%s: canceled, stopping %u requests", shown (r), n);
  if (tickets_remove_unused (t, REMOVE_TIMEOUT) == -1)
    return http_reply_text (r, MHD_HTTP_CONFLICT, false,
                            "Ticket '%s' is still in use after %d s", shown (r),
                            REMOVE_TIMEOUT);
  return http_reply_buffer (r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

/* DELETE /tickets/: every ticket, each as DELETE /tickets/ID, as imageio
 * does (204; 409 if one is still in use after REMOVE_TIMEOUT).
 */
static enum MHD_Result
handle_delete_all (struct request *r)
{
  struct ticket *t;
  unsigned n = 0, busy = 0;

  while ((t = tickets_cancel_next ()) != NULL)
    {
      n++;
      work_cancel_ticket (t);
      if (tickets_remove_unused (t, REMOVE_TIMEOUT) == -1)
        busy++;
    }
  log_debug ("all tickets deleted: %u canceled, %u still in use", n, busy);
  if (busy)
    return http_reply_text (r, MHD_HTTP_CONFLICT, false,
                            "%u tickets are still in use after %d s", busy,
                            REMOVE_TIMEOUT);
  return http_reply_buffer (r, MHD_HTTP_NO_CONTENT, NULL, "", 0);
}

static enum MHD_Result
control_handle (struct request *r, const char *url)
{
  const char *m = r->method;

  r->data = calloc (1, sizeof (struct control_req));
  if (r->data == NULL)
    return MHD_NO;
  r->data_free = free;
  http_shown_path (url, r->path_shown, sizeof r->path_shown);
  /* /tickets/ without an id: all of them for DELETE, else 400 (as
   * imageio).
   */
  if (strcmp (url, "/tickets/") == 0)
    {
      if (strcmp (m, "DELETE") == 0)
        return handle_delete_all (r);
      return http_reply_text (r, MHD_HTTP_BAD_REQUEST, false,
                              "Ticket id is required");
    }
  if (parse_control_path (url, ID (r), sizeof ID (r)) == -1)
    return http_reply_text (r, MHD_HTTP_NOT_FOUND, false, "No handler for %s",
                            r->path_shown);

  if (strcmp (m, "PUT") == 0)
    {
      http_collect_body (r, CONTROL_MAX, put_end);
      return MHD_YES;
    }
  if (strcmp (m, "PATCH") == 0)
    {
      http_collect_body (r, CONTROL_MAX, patch_end);
      return MHD_YES;
    }
  if (strcmp (m, "GET") == 0)
    return handle_get (r);
  if (strcmp (m, "DELETE") == 0)
    return handle_delete (r);
  return http_reply_405 (r, "GET,PUT,PATCH,DELETE");
}

int
control_register (struct listener *l)
{
  /* Every path: control_handle answers unknown ones itself. */
  return http_add_route (l, "/", true, control_handle);
}
