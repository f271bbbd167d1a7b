/* SPDX-License-Identifier: BSD-3-Clause */
/* A typed growable array, the only place in the project that grows memory
 * with realloc.
 *
 *   DEFINE_VECTOR_TYPE (extent_vec, struct extent);
 *   extent_vec v = VECTOR_INIT;
 *   if (extent_vec_append (&v, e) == -1) ... (errno is ENOMEM)
 *   for (size_t i = 0; i < v.len; i++) ... v.ptr[i] ...
 *   extent_vec_reset (&v);
 *
 * Capacity at least doubles when it grows, so appends are amortised O(1);
 * every size computation is checked for overflow (ENOMEM, never a short
 * allocation).  The functions return 0 or -1 and leave the vector unchanged
 * on failure.
 */
#ifndef IMAGEIO_VECTOR_H
#define IMAGEIO_VECTOR_H

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct generic_vector
{
  void *ptr;
  size_t len;
  size_t cap;
};

/* Makes room for N more elements of ELEM_SIZE bytes: cap >= len + n. */
int generic_vector_reserve (struct generic_vector *v, size_t n,
                            size_t elem_size);

#define VECTOR_INIT                                                            \
  {                                                                            \
    NULL, 0, 0                                                                 \
  }

#define DEFINE_VECTOR_TYPE(name, type)                                         \
  typedef struct                                                               \
  {                                                                            \
    type *ptr;                                                                 \
    size_t len;                                                                \
    size_t cap;                                                                \
  } name;                                                                      \
                                                                               \
  static inline                                                                \
      __attribute__ ((__unused__)) int name##_reserve (name *v, size_t n)      \
  {                                                                            \
    return generic_vector_reserve ((struct generic_vector *)v, n,              \
                                   sizeof (type));                             \
  }                                                                            \
                                                                               \
  static inline                                                                \
      __attribute__ ((__unused__)) int name##_append (name *v, type elem)      \
  {                                                                            \
    if (v->len == v->cap && name##_reserve (v, 1) == -1)                       \
      return -1;                                                               \
    v->ptr[v->len++] = elem;                                                   \
    return 0;                                                                  \
  }                                                                            \
                                                                               \
  /* Appends N elements copied from ELEMS. */                                  \
  static inline __attribute__ ((__unused__)) int name##_append_n (             \
      name *v, const type *elems, size_t n)                                    \
  {                                                                            \
    if (n == 0)                                                                \
      return 0;                                                                \
    if (name##_reserve (v, n) == -1)                                           \
      return -1;                                                               \
    memcpy (v->ptr + v->len, elems, n * sizeof (type));                        \
    v->len += n;                                                               \
    return 0;                                                                  \
  }                                                                            \
                                                                               \
  /* Inserts ELEM before index I (0 <= I <= len). */                           \
  static inline __attribute__ ((__unused__)) int name##_insert (               \
      name *v, type elem, size_t i)                                            \
  {                                                                            \
    assert (i <= v->len);                                                      \
    if (v->len == v->cap && name##_reserve (v, 1) == -1)                       \
      return -1;                                                               \
    memmove (v->ptr + i + 1, v->ptr + i, (v->len - i) * sizeof (type));        \
    v->ptr[i] = elem;                                                          \
    v->len++;                                                                  \
    return 0;                                                                  \
  }                                                                            \
                                                                               \
  /* Removes the element at index I (0 <= I < len). */                         \
  static inline                                                                \
      __attribute__ ((__unused__)) void name##_remove (name *v, size_t i)      \
  {                                                                            \
    assert (i < v->len);                                                       \
    memmove (v->ptr + i, v->ptr + i + 1, (v->len - i - 1) * sizeof (type));    \
    v->len--;                                                                  \
  }                                                                            \
                                                                               \
  /* Forgets the elements, keeps the memory. */                                \
  static inline __attribute__ ((__unused__)) void name##_clear (name *v)       \
  {                                                                            \
    v->len = 0;                                                                \
  }                                                                            \
                                                                               \
  /* Frees the memory; the vector is empty and usable again. */                \
  static inline __attribute__ ((__unused__)) void name##_reset (name *v)       \
  {                                                                            \
    free (v->ptr);                                                             \
    v->ptr = NULL;                                                             \
    v->len = v->cap = 0;                                                       \
  }                                                                            \
                                                                               \
  /* Hands the array to the caller (who frees it); the vector is empty. */     \
  static inline __attribute__ ((__unused__)) type *name##_steal (name *v)      \
  {                                                                            \
    type *p = v->ptr;                                                          \
    v->ptr = NULL;                                                             \
    v->len = v->cap = 0;                                                       \
    return p;                                                                  \
  }                                                                            \
  struct name##_semicolon_

#endif
