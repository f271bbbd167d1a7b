/* SPDX-License-Identifier: BSD-3-Clause */
/* The typed vector: appends, inserts, removes keep order and contents;
 * growth is amortised; sizes that overflow fail with ENOMEM and leave the
 * vector as it was.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "vector.h"

struct pair
{
  uint64_t a, b;
};

DEFINE_VECTOR_TYPE (int_vec, int);
DEFINE_VECTOR_TYPE (pair_vec, struct pair);
DEFINE_VECTOR_TYPE (byte_vec, char);

static void
test_append_and_growth (void)
{
  int_vec v = VECTOR_INIT;
  size_t reallocs = 0, last_cap = 0;

  for (int i = 0; i < 100000; i++)
    {
      CHECK (int_vec_append (&v, i) == 0);
      if (v.cap != last_cap)
        {
          reallocs++;
          last_cap = v.cap;
        }
    }
  CHECK (v.len == 100000 && v.cap >= v.len);
  for (int i = 0; i < 100000; i++)
    CHECK (v.ptr[i] == i);
  CHECK (reallocs <= 20); /* doubling: about log2 (100000 / 64) */
  int_vec_clear (&v);
  CHECK (v.len == 0 && v.cap == last_cap && v.ptr != NULL);
  int_vec_reset (&v);
  CHECK (v.len == 0 && v.cap == 0 && v.ptr == NULL);
  CHECK (int_vec_append (&v, 7) == 0 && v.ptr[0] == 7);
  int_vec_reset (&v);
}

static void
test_insert_remove (void)
{
  pair_vec v = VECTOR_INIT;

  for (uint64_t i = 0; i < 10; i++)
    CHECK (pair_vec_append (&v, (struct pair){ i, i * 2 }) == 0);
  CHECK (pair_vec_insert (&v, (struct pair){ 100, 200 }, 0) == 0);
  CHECK (pair_vec_insert (&v, (struct pair){ 101, 202 }, v.len) == 0);
  CHECK (pair_vec_insert (&v, (struct pair){ 102, 204 }, 5) == 0);
  CHECK (v.len == 13);
  CHECK (v.ptr[0].a == 100 && v.ptr[1].a == 0 && v.ptr[5].a == 102
         && v.ptr[6].a == 4 && v.ptr[12].a == 101);
  pair_vec_remove (&v, 5);
  pair_vec_remove (&v, 0);
  pair_vec_remove (&v, v.len - 1);
  CHECK (v.len == 10);
  for (uint64_t i = 0; i < 10; i++)
    CHECK (v.ptr[i].a == i && v.ptr[i].b == i * 2);
  pair_vec_reset (&v);
}

static void
test_append_n_and_steal (void)
{
  byte_vec v = VECTOR_INIT;
  char *p;

  CHECK (byte_vec_append_n (&v, "hello ", 6) == 0);
  CHECK (byte_vec_append_n (&v, "world", 6) == 0); /* with its NUL */
  CHECK (byte_vec_append_n (&v, NULL, 0) == 0);
  CHECK (v.len == 12 && strcmp (v.ptr, "hello world") == 0);
  p = byte_vec_steal (&v);
  CHECK (v.ptr == NULL && v.len == 0 && v.cap == 0);
  CHECK (strcmp (p, "hello world") == 0);
  free (p);
}

static void
test_overflow (void)
{
  pair_vec v = VECTOR_INIT;

  CHECK (pair_vec_append (&v, (struct pair){ 1, 2 }) == 0);
  errno = 0;
  CHECK (pair_vec_reserve (&v, SIZE_MAX) == -1 && errno == ENOMEM);
  errno = 0;
  CHECK (pair_vec_reserve (&v, SIZE_MAX / sizeof (struct pair)) == -1
         && errno == ENOMEM);
  errno = 0;
  CHECK (pair_vec_reserve (&v, PTRDIFF_MAX / sizeof (struct pair) + 1) == -1
         && errno == ENOMEM);
  /* Unchanged by the failures. */
  CHECK (v.len == 1 && v.ptr[0].a == 1 && v.ptr[0].b == 2);
  CHECK (pair_vec_reserve (&v, 1000) == 0 && v.cap >= 1001);
  pair_vec_reset (&v);
}

int
main (void)
{
  test_append_and_growth ();
  test_insert_remove ();
  test_append_n_and_steal ();
  test_overflow ();
  return 0;
}
