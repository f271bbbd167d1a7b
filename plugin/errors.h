/* SPDX-License-Identifier: BSD-3-Clause */
/* errors.c: how a failed request reaches the user and the NBD client. */
#ifndef IMAGEIO_ERRORS_H
#define IMAGEIO_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* The ticket id to shorten wherever it appears (the URL's path, after
 * "/images/"); NULL before the URL is known.
 */
void errors_set_ticket_path (const char *path);

/* nbdkit_error saying WHAT failed and how (O's transport failure, or its
 * status and the server's text with ticket ids shortened), and the
 * matching errno.
 */
void errors_report (const char *what, const struct http_outcome *o);
/* "WHAT: STATUS REASON: TEXT" or "WHAT: FAILURE: MESSAGE" into BUF, ticket
 * ids shortened: how a failed request is named in messages.  Returns BUF.
 */
const char *errors_describe (const char *what, const struct http_outcome *o,
                             char *buf, size_t len);
/* What to do about a failed first connection (ERRBUF from the transport):
 * "; ..." naming cafile= and insecure=true for a certificate the client
 * did not trust, or port 54322 when the URL had none and the connection
 * was refused.  "" when there is nothing to add.
 */
const char *errors_connect_hint (const char *errbuf, bool port_given,
                                 bool have_cafile);
/* TEXT with ticket ids shortened, in BUF. */
const char *errors_redact (const char *text, char *buf, size_t len);

#endif
