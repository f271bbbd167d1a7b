/* SPDX-License-Identifier: BSD-3-Clause */
/* Who may do what on imageio-server (docs/imageio-server-security.md):
 * - the control service answers only peers whose uid (SO_PEERCRED) is the
 *   server's own or one given with --control-uid;
 * - a ticket may point only at a file under a --file-root directory or at
 *   an NBD socket under an --nbd-root directory, the path resolved first
 *   ("..", symlinks); the file backend checks again what it opened.
 *
 * Contract: main configures everything before any listener starts; the
 * rest is read-only afterwards, so the checks take no lock.
 */
#ifndef SERVER_ACCESS_H
#define SERVER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Adds an allowed directory (resolved now; it must exist).  Returns 0 or
 * -1 (logged).
 */
int access_add_file_root (const char *dir);
int access_add_nbd_root (const char *dir);

/* Allows UID on the control service besides the server's own uid. */
void access_allow_uid (uid_t uid);
bool access_uid_allowed (uid_t uid);

/* The uid of the peer of the Unix socket FD.  Returns 0 or -1. */
int access_peer_uid (int fd, uid_t *uid);

/* Checks that a ticket URL (file:///PATH or nbd:unix:/PATH[:...]) lies
 * under an allowed directory.  Returns 0, or -1 with a reason.
 */
int access_check_url (const char *url, char *err, size_t errlen);

/* Checks that the file open as FD lies under a --file-root (what was
 * opened, whatever happened to the path since the ticket was checked).
 * Returns 0, or -1 with a reason.
 */
int access_check_fd (int fd, char *err, size_t errlen);

/* Resolves an NBD socket PATH under an --nbd-root into RESOLVED (PATH_MAX
 * bytes).  Returns 0, or -1 with a reason.
 */
int access_resolve_nbd (const char *path, char *resolved, char *err,
                        size_t errlen);

#endif
