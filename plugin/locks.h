/* Scope-bound locking for the plugin: a lock taken with LOCK_FOR_SCOPE,
 * RDLOCK_FOR_SCOPE or WRLOCK_FOR_SCOPE is released when the enclosing scope
 * ends, on every path (GCC/clang cleanup attribute).
 */
#ifndef IMAGEIO_LOCKS_H
#define IMAGEIO_LOCKS_H

#include <pthread.h>

static inline pthread_mutex_t *
mutex_lock (pthread_mutex_t *m)
{
  pthread_mutex_lock (m);
  return m;
}

static inline void
mutex_unlock_cleanup (pthread_mutex_t **m)
{
  if (*m)
    pthread_mutex_unlock (*m);
}

static inline pthread_rwlock_t *
rwlock_rdlock (pthread_rwlock_t *l)
{
  pthread_rwlock_rdlock (l);
  return l;
}

static inline pthread_rwlock_t *
rwlock_wrlock (pthread_rwlock_t *l)
{
  pthread_rwlock_wrlock (l);
  return l;
}

static inline void
rwlock_unlock_cleanup (pthread_rwlock_t **l)
{
  if (*l)
    pthread_rwlock_unlock (*l);
}

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_ (a, b)
#define LOCK_FOR_SCOPE(m)                                               \
  __attribute__ ((cleanup (mutex_unlock_cleanup), unused))              \
  pthread_mutex_t *CONCAT (scope_lock_, __LINE__) = mutex_lock (m)
#define RDLOCK_FOR_SCOPE(l)                                             \
  __attribute__ ((cleanup (rwlock_unlock_cleanup), unused))             \
  pthread_rwlock_t *CONCAT (scope_lock_, __LINE__) = rwlock_rdlock (l)
#define WRLOCK_FOR_SCOPE(l)                                             \
  __attribute__ ((cleanup (rwlock_unlock_cleanup), unused))             \
  pthread_rwlock_t *CONCAT (scope_lock_, __LINE__) = rwlock_wrlock (l)

#endif
