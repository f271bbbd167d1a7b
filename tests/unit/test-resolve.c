/* SPDX-License-Identifier: BSD-3-Clause */
/* resolve_host: a name resolves, before and after fork (the bug of issue
 * 19: glibc's getaddrinfo_a did not survive fork), in the child of a fork
 * made while no lookup runs; a deadline already past gives the timeout
 * message, never a wait; abandoned lookups free themselves (ASan and
 * valgrind see no leak).
 */
#include <netdb.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "resolve.h"

/* Resolves localhost within 10 s; returns the time it took in ms. */
static int64_t
resolve_localhost (void)
{
  struct addrinfo *res = NULL;
  char err[256] = "";
  int64_t start = clock_now_ms ();

  if (resolve_host ("localhost", "54322", start + 10000, &res, err, sizeof err)
      != 0)
    {
      fprintf (stderr, "resolve localhost: %s\n", err);
      abort ();
    }
  CHECK (res != NULL);
  freeaddrinfo (res);
  return clock_now_ms () - start;
}

int
main (void)
{
  struct addrinfo *res = NULL;
  char err[256] = "";
  int64_t start;
  pid_t pid;
  int status;

  resolve_localhost ();

  /* After fork, in the child: well within the 10 s the old code hung. */
  pid = fork ();
  CHECK (pid != -1);
  if (pid == 0)
    _exit (resolve_localhost () < 5000 ? 0 : 1);
  CHECK (waitpid (pid, &status, 0) == pid);
  CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);

  /* A deadline already past: no wait, a message naming the host (unless
   * the lookup won the race, which is fine too).
   */
  for (int i = 0; i < 20; i++)
    {
      start = clock_now_ms ();
      if (resolve_host ("localhost", "80", start - 1, &res, err, sizeof err)
          == 0)
        freeaddrinfo (res);
      else
        CHECK (strstr (err, "name lookup of localhost timed out") != NULL);
      CHECK (clock_now_ms () - start < 1000);
    }

  /* A name that does not exist fails with the host named. */
  if (resolve_host ("no-such-host.invalid", "80", clock_now_ms () + 10000, &res,
                    err, sizeof err)
      == 0)
    freeaddrinfo (res);
  else
    CHECK (strstr (err, "name lookup of no-such-host.invalid") != NULL);

  /* Let the abandoned lookups end and free themselves before exit. */
  sleep (1);
  return 0;
}
