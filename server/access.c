/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-service peers and ticket locations; see access.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "log.h"

#define MAX_ROOTS 16
#define MAX_UIDS 16

/* Written by main before the listeners start, read-only afterwards. */
static char *file_roots[MAX_ROOTS], *nbd_roots[MAX_ROOTS];
static size_t nr_file_roots, nr_nbd_roots;
static uid_t uids[MAX_UIDS];
static size_t nr_uids;

static int
add_root (char **roots, size_t *nr, const char *dir, const char *what)
{
  char *r;
  struct stat st;

  if (*nr == MAX_ROOTS)
    {
      log_msg ("%s %s: at most %d directories", what, dir, MAX_ROOTS);
      return -1;
    }
  r = realpath (dir, NULL);
  if (r == NULL || stat (r, &st) == -1 || !S_ISDIR (st.st_mode))
    {
      log_msg ("%s %s: %s", what, dir,
               r == NULL ? strerror (errno) : "not a directory");
      free (r);
      return -1;
    }
  roots[(*nr)++] = r;
  return 0;
}

int
access_add_file_root (const char *dir)
{
  return add_root (file_roots, &nr_file_roots, dir, "--file-root");
}

int
access_add_nbd_root (const char *dir)
{
  return add_root (nbd_roots, &nr_nbd_roots, dir, "--nbd-root");
}

void
access_allow_uid (uid_t uid)
{
  if (nr_uids < MAX_UIDS)
    uids[nr_uids++] = uid;
}

bool
access_uid_allowed (uid_t uid)
{
  if (uid == geteuid ())
    return true;
  for (size_t i = 0; i < nr_uids; i++)
    if (uids[i] == uid)
      return true;
  return false;
}

int
access_peer_uid (int fd, uid_t *uid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1
      || len != sizeof cred)
    return -1;
  *uid = cred.uid;
  return 0;
}

/* True when the resolved PATH lies under one of ROOTS. */
static bool
under (char *const *roots, size_t nr, const char *path)
{
  for (size_t i = 0; i < nr; i++)
    {
      size_t n = strlen (roots[i]);

      if (strcmp (roots[i], "/") == 0)
        return true;
      if (strncmp (path, roots[i], n) == 0 && path[n] == '/')
        return true;
    }
  return false;
}

/* Resolves PATH (absolute) into OUT (PATH_MAX bytes): symlinks followed
 * and ".." resolved; a path that does not exist yet resolves through its
 * directory (the NBD socket may appear later).  A ".." component is
 * refused outright.
 */
static int
resolve (const char *path, char *out, char *err, size_t errlen)
{
  char *dir, *slash;
  const char *base;
  char tmp[PATH_MAX];

  if (path[0] != '/')
    {
      snprintf (err, errlen, "path must be absolute");
      return -1;
    }
  for (const char *p = path; (p = strstr (p, "..")) != NULL; p += 2)
    if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
      {
        snprintf (err, errlen, "'..' in the path");
        return -1;
      }
  if (realpath (path, out) != NULL)
    return 0;
  if (errno != ENOENT)
    goto fail;
  if (strlen (path) >= sizeof tmp)
    {
      errno = ENAMETOOLONG;
      goto fail;
    }
  strcpy (tmp, path);
  slash = strrchr (tmp, '/');
  base = slash + 1;
  if (*base == '\0' || strcmp (base, ".") == 0)
    goto fail;
  *slash = '\0';
  dir = realpath (slash == tmp ? "/" : tmp, NULL);
  if (dir == NULL)
    goto fail;
  if ((size_t)snprintf (out, PATH_MAX, "%s/%s", strcmp (dir, "/") ? dir : "",
                        base)
      >= PATH_MAX)
    {
      free (dir);
      errno = ENAMETOOLONG;
      goto fail;
    }
  free (dir);
  return 0;

fail:
  snprintf (err, errlen, "cannot resolve the path: %s", strerror (errno));
  return -1;
}

int
access_check_url (const char *url, char *err, size_t errlen)
{
  char resolved[PATH_MAX], why[128];

  if (strncmp (url, "file://", 7) == 0)
    {
      if (resolve (url + 7, resolved, why, sizeof why) == -1)
        {
          snprintf (err, errlen, "Ticket url not allowed: %s", why);
          return -1;
        }
      if (!under (file_roots, nr_file_roots, resolved))
        {
          snprintf (err, errlen,
                    "Ticket url not allowed: the file is not under a "
                    "--file-root directory");
          return -1;
        }
      return 0;
    }
  if (strncmp (url, "nbd:unix:", 9) == 0)
    {
      const char *sock = url + 9;
      const char *ex = strstr (sock, ":exportname=");
      char path[PATH_MAX];
      size_t n = ex ? (size_t)(ex - sock) : strlen (sock);

      if (n >= sizeof path)
        {
          snprintf (err, errlen, "Ticket url not allowed: path too long");
          return -1;
        }
      memcpy (path, sock, n);
      path[n] = '\0';
      return access_resolve_nbd (path, resolved, err, errlen);
    }
  snprintf (err, errlen, "Ticket url not allowed");
  return -1;
}

int
access_resolve_nbd (const char *path, char *resolved, char *err, size_t errlen)
{
  char why[128];

  if (resolve (path, resolved, why, sizeof why) == -1)
    {
      snprintf (err, errlen, "Ticket url not allowed: %s", why);
      return -1;
    }
  if (!under (nbd_roots, nr_nbd_roots, resolved))
    {
      snprintf (err, errlen,
                "Ticket url not allowed: the socket is not under an "
                "--nbd-root directory");
      return -1;
    }
  return 0;
}

int
access_check_fd (int fd, char *err, size_t errlen)
{
  char link[64], path[PATH_MAX];
  ssize_t n;

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n == -1 || n == sizeof path - 1)
    {
      snprintf (err, errlen, "cannot check the opened file: %s",
                n == -1 ? strerror (errno) : "path too long");
      return -1;
    }
  path[n] = '\0';
  if (!under (file_roots, nr_file_roots, path))
    {
      snprintf (err, errlen,
                "the opened file is not under a --file-root "
                "directory");
      return -1;
    }
  return 0;
}
