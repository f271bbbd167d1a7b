/* SPDX-License-Identifier: BSD-3-Clause */
/* The backend interface: where a ticket's bytes live (file:///PATH or
 * nbd:unix:/PATH[:exportname=NAME]).  The backends (backend-file.c,
 * backend-nbd.c) implement it; backend-open.c picks one for a ticket, and
 * only it knows both, so nothing includes back up the chain.
 *
 * Contract: one backend per HTTP connection and ticket, used by that
 * connection's thread only, closed when the connection closes (or moves to
 * another ticket).  Every operation returns 0, or -1 with a one-line reason
 * in b->err.  Flush makes durable what this backend wrote.
 */
#ifndef SERVER_BACKEND_H
#define SERVER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vector.h"

struct ticket;

struct extent
{
  uint64_t start, length;
  bool zero, hole, dirty;
};

/* A growable array of extents. */
DEFINE_VECTOR_TYPE (extent_vec, struct extent);

enum extents_context
{
  EXTENTS_ZERO,
  EXTENTS_DIRTY,
};

struct backend;

struct backend_ops
{
  int (*pread) (struct backend *b, void *buf, size_t count, uint64_t offset);
  int (*pwrite) (struct backend *b, const void *buf, size_t count,
                 uint64_t offset);
  /* Makes [offset, offset+count) read as zeroes (holes when sparse). */
  int (*zero) (struct backend *b, uint64_t offset, uint64_t count);
  int (*flush) (struct backend *b);
  /* The size the extents list covers. */
  uint64_t (*export_size) (struct backend *b);
  /* Whether a dirty bitmap is available. */
  bool (*can_dirty) (struct backend *b);
  /* Appends extents starting at OFFSET (< export size) covering at least
   * one byte, in order, contiguous, none past OFFSET+LENGTH (LENGTH > 0;
   * the caller's range: the backend asks only for it).  May stop anywhere
   * before that end.
   */
  int (*extents) (struct backend *b, enum extents_context ctx, uint64_t offset,
                  uint64_t length, extent_vec *out);
  void (*close) (struct backend *b);
};

/* The common part; each backend embeds it first. */
struct backend
{
  const struct backend_ops *ops;
  char err[256];
};

#endif
