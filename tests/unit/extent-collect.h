/* SPDX-License-Identifier: BSD-3-Clause */
/* For the unit tests of the extent map and its users: a query callback
 * that collects up to 16 extents.
 */
#ifndef IMAGEIO_TEST_EXTENT_COLLECT_H
#define IMAGEIO_TEST_EXTENT_COLLECT_H

#include <stdint.h>

#include "check.h"

struct ext
{
  uint64_t start, length;
  uint32_t type;
};
struct exts
{
  int n;
  struct ext e[16];
};

static int
collect (void *opaque, uint64_t start, uint64_t length, uint32_t type)
{
  struct exts *x = opaque;

  CHECK (x->n < 16);
  x->e[x->n++] = (struct ext){ start, length, type };
  return 0;
}

#endif
