/* SPDX-License-Identifier: BSD-3-Clause */
/* Backend selection from a ticket url; see backend-open.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "backend-file.h"
#include "backend-nbd.h"
#include "backend-open.h"
#include "tickets.h"

enum backend_kind
backend_kind_of_url (const char *url)
{
  return strncmp (url, "nbd:", 4) == 0 ? BACKEND_NBD : BACKEND_FILE;
}

struct backend *
backend_open (const struct ticket *t, char *err, size_t errlen)
{
  if (backend_kind_of_url (t->url) == BACKEND_FILE)
    /* file:///PATH: the path starts at the third slash. */
    return backend_file_open (t->url + strlen ("file://"), t, err, errlen);
  else
    {
      /* nbd:unix:/PATH[:exportname=NAME] */
      const char *sock = t->url + strlen ("nbd:unix:");
      const char *ex = strstr (sock, ":exportname=");
      char *path;
      struct backend *b;

      char resolved[PATH_MAX];

      path = ex ? strndup (sock, ex - sock) : strdup (sock);
      if (path == NULL)
        {
          snprintf (err, errlen, "%s", strerror (errno));
          return NULL;
        }
      /* Resolved again now: the socket must still lie under an
       * --nbd-root (docs/imageio-server-security.md).
       */
      if (access_resolve_nbd (path, resolved, err, errlen) == -1)
        {
          free (path);
          return NULL;
        }
      free (path);
      b = backend_nbd_open (resolved, ex ? ex + strlen (":exportname=") : "", t,
                            err, errlen);
      /* A read past the export's end would fail after a 200 or 206 was
       * sent: refuse the ticket's size now instead.
       */
      if (b && b->ops->export_size (b) < t->size)
        {
          snprintf (err, errlen,
                    "the ticket's size (%llu bytes) is larger than the NBD "
                    "export (%llu bytes)",
                    (unsigned long long)t->size,
                    (unsigned long long)b->ops->export_size (b));
          backend_close (b);
          return NULL;
        }
      return b;
    }
}

void
backend_close (struct backend *b)
{
  if (b)
    b->ops->close (b);
}
