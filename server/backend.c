/* SPDX-License-Identifier: BSD-3-Clause */
/* Backend selection from a ticket url and shared helpers; see backend.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "backend.h"
#include "tickets.h"

int
extent_vec_push (struct extent_vec *v, struct extent e)
{
  if (v->len == v->cap)
    {
      size_t cap = v->cap ? v->cap * 2 : 1024;
      struct extent *p = realloc (v->ptr, cap * sizeof *p);

      if (p == NULL)
        return -1;
      v->ptr = p;
      v->cap = cap;
    }
  v->ptr[v->len++] = e;
  return 0;
}

void
extent_vec_free (struct extent_vec *v)
{
  free (v->ptr);
  v->ptr = NULL;
  v->len = v->cap = 0;
}

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
