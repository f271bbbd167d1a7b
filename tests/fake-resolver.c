/* SPDX-License-Identifier: BSD-3-Clause */
/* LD_PRELOAD shim for the tests: one made-up host name resolving to the
 * addresses the test chooses, without touching /etc/hosts (shared by
 * everyone on the machine).
 *
 *   FAKE_RESOLVER_NAME    the name (others go to the real getaddrinfo)
 *   FAKE_RESOLVER_ADDRS   its addresses, in order, space separated
 *   FAKE_RESOLVER_GOOD    after this many lookups of the name (counted
 *                         per process: nbdkit's child inherits the
 *                         parent's count) ...
 *   FAKE_RESOLVER_THEN    ... "fail" (EAI_NONAME) or "hang" (sleeps 1 h)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int getaddrinfo_fn (const char *, const char *, const struct addrinfo *,
                            struct addrinfo **);

static int lookups;

/* Appends the numeric address ADDR's result to *TAIL. */
static int
add_numeric (const char *addr, const char *service,
             const struct addrinfo *hints, struct addrinfo ***tail,
             getaddrinfo_fn *real)
{
  struct addrinfo h = { .ai_socktype = SOCK_STREAM };
  struct addrinfo *r;
  int rc;

  if (hints)
    h = *hints;
  h.ai_flags |= AI_NUMERICHOST;
  h.ai_flags &= ~AI_ADDRCONFIG;
  rc = real (addr, service, &h, &r);
  if (rc != 0)
    return rc;
  **tail = r;
  while (r->ai_next)
    r = r->ai_next;
  *tail = &r->ai_next;
  return 0;
}

int
getaddrinfo (const char *node, const char *service,
             const struct addrinfo *hints, struct addrinfo **res)
{
  getaddrinfo_fn *real = (getaddrinfo_fn *)dlsym (RTLD_NEXT, "getaddrinfo");
  const char *name = getenv ("FAKE_RESOLVER_NAME");
  const char *addrs = getenv ("FAKE_RESOLVER_ADDRS");
  const char *good = getenv ("FAKE_RESOLVER_GOOD");
  const char *then = getenv ("FAKE_RESOLVER_THEN");
  struct addrinfo *head = NULL, **tail = &head;
  char *copy, *save = NULL;

  if (!node || !name || !addrs || strcasecmp (node, name) != 0)
    return real (node, service, hints, res);
  if (good && then
      && __atomic_add_fetch (&lookups, 1, __ATOMIC_RELAXED) > atoi (good))
    {
      if (strcmp (then, "hang") == 0)
        sleep (3600);
      return EAI_NONAME;
    }
  copy = strdup (addrs);
  if (copy == NULL)
    return EAI_MEMORY;
  for (char *a = strtok_r (copy, " ", &save); a;
       a = strtok_r (NULL, " ", &save))
    if (add_numeric (a, service, hints, &tail, real) != 0)
      {
        free (copy);
        if (head)
          freeaddrinfo (head);
        return EAI_FAIL;
      }
  free (copy);
  if (head == NULL)
    return EAI_NONAME;
  *res = head;
  return 0;
}
