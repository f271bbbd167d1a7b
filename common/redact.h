/* SPDX-License-Identifier: BSD-3-Clause */
/* Ticket redaction: the one way the plugin and the server print a ticket id.
 *
 * A ticket id is a bearer secret (whoever knows it may read or write the
 * disk), so logs show only its first 8 characters.  Every message that
 * names a ticket or a transfer URL goes through these helpers.
 */
#ifndef IMAGEIO_REDACT_H
#define IMAGEIO_REDACT_H

#include <stddef.h>

/* Characters of a ticket id that may be shown. */
#define REDACT_KEEP 8
/* Enough for REDACT_KEEP characters, "..." and the terminating NUL. */
#define REDACT_TICKET_BUFSZ (REDACT_KEEP + 4)

/* Writes the shown prefix of ID (followed by "..." when something was cut)
 * into BUF and returns BUF.  ID may be NULL.
 */
const char *redact_ticket (const char *id, char buf[REDACT_TICKET_BUFSZ]);

/* Copies URL into BUF (of BUFSZ bytes, truncating), with the path component
 * following "/images/" or "/tickets/" (in any case) redacted.  Returns BUF.
 */
const char *redact_url (const char *url, char *buf, size_t bufsz);

/* Copies URL, as a user typed it (any shape: a wrong path, no scheme,
 * only a ticket), into BUF (of BUFSZ bytes, truncating) with every piece
 * of the path, query and fragment longer than a shown ticket prefix cut
 * as redact_ticket cuts, pieces of the scheme or host longer than 24
 * characters cut the same way, and user information replaced by "...".
 * For messages about a URL that may not be a well-formed transfer URL.
 * Returns BUF.
 */
const char *redact_user_url (const char *url, char *buf, size_t bufsz);

/* Copies TEXT (a server's message) into BUF (of BUFSZ bytes, truncating)
 * with ticket ids shortened: every occurrence of SECRET (may be NULL), a
 * prefix of SECRET longer than REDACT_KEEP that ends TEXT (a message cut
 * short), and the word after "ticket/", "ticket " or "ticket '" (any
 * case), as imageio quotes ids: "No such ticket ID", "Transfer=(ticket/ID)
 * forbids write".  Returns BUF.
 */
const char *redact_text (const char *text, const char *secret, char *buf,
                         size_t bufsz);

#endif
