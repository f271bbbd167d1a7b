/* SPDX-License-Identifier: BSD-3-Clause */
/* Growth of the typed vectors; see vector.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vector.h"

/* Smallest first allocation, in bytes: small vectors grow a few times
 * at most before they reach a size worth doubling.
 */
#define VECTOR_MIN_BYTES 256

int
generic_vector_reserve (struct generic_vector *v, size_t n, size_t elem_size)
{
  size_t need, cap, bytes;
  void *p;

  assert (elem_size > 0 && v->len <= v->cap);
  if (__builtin_add_overflow (v->len, n, &need))
    goto too_big;
  if (need <= v->cap)
    return 0;
  /* At least double, at least VECTOR_MIN_BYTES, at least what is needed. */
  if (__builtin_mul_overflow (v->cap, 2, &cap))
    cap = need;
  if (cap < VECTOR_MIN_BYTES / elem_size)
    cap = VECTOR_MIN_BYTES / elem_size;
  if (cap < need)
    cap = need;
  if (__builtin_mul_overflow (cap, elem_size, &bytes) || bytes > PTRDIFF_MAX)
    {
      /* Doubling overflows: try exactly what is needed. */
      cap = need;
      if (__builtin_mul_overflow (cap, elem_size, &bytes)
          || bytes > PTRDIFF_MAX)
        goto too_big;
    }
  p = realloc (v->ptr, bytes);
  if (p == NULL)
    return -1;
  v->ptr = p;
  v->cap = cap;
  return 0;

too_big:
  errno = ENOMEM;
  return -1;
}
