/* SPDX-License-Identifier: BSD-3-Clause */
/* Scope-bound locking: a lock taken with LOCK_FOR_SCOPE, RDLOCK_FOR_SCOPE or
 * WRLOCK_FOR_SCOPE is released when the enclosing scope ends, on every path
 * (GCC/clang cleanup attribute).  Taking or releasing a lock cannot fail in
 * a correct program (EDEADLK, EINVAL are our bugs), so a failure aborts
 * with the reason instead of going on unlocked.  Each use gets a unique
 * variable name (__COUNTER__), so two locks in one scope do not clash.
 */
#ifndef IMAGEIO_LOCKS_H
#define IMAGEIO_LOCKS_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void
locks_check (int err, const char *what)
{
  if (err != 0)
    {
      fprintf (stderr, "%s: %s\n", what, strerror (err));
      abort ();
    }
}

static inline pthread_mutex_t *
mutex_lock (pthread_mutex_t *m)
{
  locks_check (pthread_mutex_lock (m), "pthread_mutex_lock");
  return m;
}

static inline void
mutex_unlock_cleanup (pthread_mutex_t **m)
{
  if (*m)
    locks_check (pthread_mutex_unlock (*m), "pthread_mutex_unlock");
}

static inline pthread_rwlock_t *
rwlock_rdlock (pthread_rwlock_t *l)
{
  locks_check (pthread_rwlock_rdlock (l), "pthread_rwlock_rdlock");
  return l;
}

static inline pthread_rwlock_t *
rwlock_wrlock (pthread_rwlock_t *l)
{
  locks_check (pthread_rwlock_wrlock (l), "pthread_rwlock_wrlock");
  return l;
}

static inline void
rwlock_unlock_cleanup (pthread_rwlock_t **l)
{
  if (*l)
    locks_check (pthread_rwlock_unlock (*l), "pthread_rwlock_unlock");
}

#define LOCKS_CONCAT_(a, b) a##b
#define LOCKS_CONCAT(a, b) LOCKS_CONCAT_ (a, b)
#define LOCKS_UNIQUE(name) LOCKS_CONCAT (name, __COUNTER__)

#define LOCK_FOR_SCOPE(m)                                                      \
  __attribute__ ((cleanup (mutex_unlock_cleanup), unused)) pthread_mutex_t *   \
  LOCKS_UNIQUE (scope_lock_)                                                   \
      = mutex_lock (m)
#define RDLOCK_FOR_SCOPE(l)                                                    \
  __attribute__ ((cleanup (rwlock_unlock_cleanup), unused)) pthread_rwlock_t * \
  LOCKS_UNIQUE (scope_lock_)                                                   \
      = rwlock_rdlock (l)
#define WRLOCK_FOR_SCOPE(l)                                                    \
  __attribute__ ((cleanup (rwlock_unlock_cleanup), unused)) pthread_rwlock_t * \
  LOCKS_UNIQUE (scope_lock_)                                                   \
      = rwlock_wrlock (l)

#endif
