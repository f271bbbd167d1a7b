/* Fault injection and pretend modes; see faults.h.  Every --fault option
 * lives here so they are easy to find.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "log.h"
#include "ranges.h"

#define MAX_NTH 32

/* An action for the Nth image request. */
struct nth
{
  uint64_t n;
  enum fault_action action;
  int status;
};

static struct faults settings = { .max_readers = -1, .max_writers = -1 };
static struct nth nths[MAX_NTH];
static size_t nr_nths;
/* Image requests seen so far, over all connections. */
static atomic_uint_fast64_t image_requests;

const struct faults *
faults_get (void)
{
  return &settings;
}

static int
parse_uint (const char *s, uint64_t max, uint64_t *out)
{
  if (range_parse_u64 (s, strlen (s), out) == -1 || *out > max)
    return -1;
  return 0;
}

static int
add_nth (uint64_t n, enum fault_action action, int status)
{
  if (nr_nths == MAX_NTH || n == 0)
    return -1;
  nths[nr_nths++] = (struct nth){ .n = n, .action = action, .status = status };
  return 0;
}

int
faults_parse (const char *spec)
{
  static const char *const extents_names[] = {
    [EXTENTS_FAULT_UNSORTED] = "unsorted",
    [EXTENTS_FAULT_GAP] = "gap",
    [EXTENTS_FAULT_OVERLAP] = "overlap",
    [EXTENTS_FAULT_SHORT] = "short",
    [EXTENTS_FAULT_GARBAGE] = "garbage",
    [EXTENTS_FAULT_NEGATIVE] = "negative",
    [EXTENTS_FAULT_BADFLAG] = "badflag",
  };
  const char *eq = strchr (spec, '=');
  const char *val = eq ? eq + 1 : "";
  size_t klen = eq ? (size_t)(eq - spec) : strlen (spec);
  uint64_t v;

#define KEY(k) (klen == strlen (k) && strncmp (spec, k, klen) == 0)
  if (KEY ("options") && eq)
    {
      if (strcmp (val, "405") == 0)
        settings.options_status = 405;
      else if (strcmp (val, "204") == 0)
        settings.options_status = 204;
      else
        goto bad;
    }
  else if (KEY ("no-zero") && !eq)
    settings.no_zero = true;
  else if (KEY ("no-extents") && !eq)
    settings.no_extents = true;
  else if (KEY ("extents") && eq)
    {
      size_t i;

      for (i = 1; i < sizeof extents_names / sizeof extents_names[0]; i++)
        if (strcmp (val, extents_names[i]) == 0)
          break;
      if (i == sizeof extents_names / sizeof extents_names[0])
        goto bad;
      settings.extents = (enum extents_fault)i;
    }
  else if (KEY ("extents-delay") && eq)
    {
      if (parse_uint (val, 600000, &v) == -1)
        goto bad;
      settings.extents_delay_ms = v;
    }
  else if (KEY ("drop") && eq)
    {
      if (parse_uint (val, UINT64_MAX, &v) == -1
          || add_nth (v, FAULT_DROP, 0) == -1)
        goto bad;
    }
  else if (KEY ("error") && eq)
    {
      const char *colon = strchr (val, ':');
      uint64_t status;

      if (colon == NULL || range_parse_u64 (val, colon - val, &v) == -1
          || parse_uint (colon + 1, 599, &status) == -1 || status < 100
          || add_nth (v, FAULT_ERROR, status) == -1)
        goto bad;
    }
  else if (KEY ("max-writers") && eq)
    {
      if (parse_uint (val, 1024, &v) == -1)
        goto bad;
      settings.max_writers = v;
    }
  else if (KEY ("max-readers") && eq)
    {
      if (parse_uint (val, 1024, &v) == -1)
        goto bad;
      settings.max_readers = v;
    }
  else
    goto bad;
#undef KEY
  return 0;

bad:
  log_msg ("invalid --fault '%s' (see --help)", spec);
  return -1;
}

enum fault_action
faults_next_image_request (int *status)
{
  uint64_t n;

  if (nr_nths == 0)
    return FAULT_NONE;
  n = atomic_fetch_add (&image_requests, 1) + 1;
  for (size_t i = 0; i < nr_nths; i++)
    if (nths[i].n == n)
      {
        *status = nths[i].status;
        return nths[i].action;
      }
  return FAULT_NONE;
}

void
faults_usage (void)
{
  printf (
      "Faults (--fault SPEC, repeatable; for tests):\n"
      "  options=405          OPTIONS answers 405 (old daemon)\n"
      "  options=204          OPTIONS answers 204, empty body (old proxy)\n"
      "  no-zero              no \"zero\" feature; PATCH op=zero is 405\n"
      "  no-extents           no \"extents\" feature; GET extents is 404\n"
      "  extents=KIND         corrupt the extents document; KIND is one of\n"
      "                       unsorted gap overlap short garbage negative "
      "badflag\n"
      "  extents-delay=MS     sleep MS ms before answering GET extents\n"
      "  drop=N               close the connection without answering the\n"
      "                       Nth image request (counted from 1 over all\n"
      "                       connections, OPTIONS included)\n"
      "  error=N:STATUS       answer the Nth image request with STATUS\n"
      "  max-readers=N, max-writers=N\n"
      "                       override what OPTIONS reports\n");
}
