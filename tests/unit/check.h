/* SPDX-License-Identifier: BSD-3-Clause */
/* CHECK for the unit tests: on failure print the condition and where, then
 * abort (so the test fails with a core dump the test runner reports).
 */
#ifndef IMAGEIO_TEST_CHECK_H
#define IMAGEIO_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                            \
  do                                                                           \
    {                                                                          \
      if (!(cond))                                                             \
        {                                                                      \
          fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
          abort ();                                                            \
        }                                                                      \
    }                                                                          \
  while (0)

#endif
