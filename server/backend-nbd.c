/* SPDX-License-Identifier: BSD-3-Clause */
/* The nbd backend: one libnbd handle (one NBD connection, e.g. to
 * qemu-nbd) per HTTP connection.  Reads and writes are split into NBD
 * requests of at most 32 MiB; zero keeps allocation unless the ticket is
 * sparse (LIBNBD_CMD_FLAG_NO_HOLE).
 *
 * Extents come from NBD block status, asked in chunks of 1 GiB: zero from
 * base:allocation (NBD_STATE_ZERO), hole from qemu:allocation-depth
 * (depth 0), dirty from the first qemu:dirty-bitmap:* context.  The lists
 * of the contexts are merged into extents where every flag is constant.
 * Without base:allocation the export is one data extent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnbd.h>

#include "minmax.h"
#include "clock.h"
#include "backend-nbd.h"
#include "tickets.h"
#include "vector.h"

#define MAX_IO (32 * 1024 * 1024)
#define MAX_ZERO (1024 * 1024 * 1024)
#define STATUS_CHUNK (UINT64_C (1024) * 1024 * 1024)

#define BASE_ALLOCATION "base:allocation"
#define ALLOCATION_DEPTH "qemu:allocation-depth"
#define DIRTY_PREFIX "qemu:dirty-bitmap:"

/* Longest wait for qemu-nbd to accept and finish the handshake: a qemu-nbd
 * at its client limit (-e) accepts nothing, and the HTTP request must not
 * hang on it.
 */
#define CONNECT_TIMEOUT_MS 10000

#define NBD_STATE_ZERO 2
#define NBD_STATE_DIRTY 1

struct nbd_backend
{
  struct backend b;
  struct nbd_handle *h;
  bool sparse;
  uint64_t size; /* export size */
  bool has_base, has_depth;
  char *dirty_ctx; /* negotiated dirty bitmap context or NULL */
};

#define NB(b) ((struct nbd_backend *)(b))

static int
fail (struct backend *b, const char *what)
{
  snprintf (b->err, sizeof b->err, "%s: %s", what, nbd_get_error ());
  return -1;
}

static int
nbdb_pread (struct backend *b, void *buf, size_t count, uint64_t offset)
{
  char *p = buf;

  while (count > 0)
    {
      size_t n = MIN (count, (size_t)MAX_IO);

      if (nbd_pread (NB (b)->h, p, n, offset, 0) == -1)
        return fail (b, "nbd_pread");
      p += n;
      offset += n;
      count -= n;
    }
  return 0;
}

static int
nbdb_pwrite (struct backend *b, const void *buf, size_t count, uint64_t offset)
{
  const char *p = buf;

  while (count > 0)
    {
      size_t n = MIN (count, (size_t)MAX_IO);

      if (nbd_pwrite (NB (b)->h, p, n, offset, 0) == -1)
        return fail (b, "nbd_pwrite");
      p += n;
      offset += n;
      count -= n;
    }
  return 0;
}

static int
nbdb_zero (struct backend *b, uint64_t offset, uint64_t count)
{
  struct nbd_handle *h = NB (b)->h;
  uint32_t flags = NB (b)->sparse ? 0 : LIBNBD_CMD_FLAG_NO_HOLE;
  char *zeroes = NULL;

  while (count > 0)
    {
      uint64_t n = MIN (count, (uint64_t)MAX_ZERO);

      if (nbd_can_zero (h) == 1)
        {
          if (nbd_zero (h, n, offset, flags) == -1)
            return fail (b, "nbd_zero");
        }
      else
        {
          /* No write zeroes in this server: write them. */
          n = MIN (count, (size_t)MAX_IO);
          if (zeroes == NULL && (zeroes = calloc (1, MAX_IO)) == NULL)
            {
              snprintf (b->err, sizeof b->err, "zero: %s", strerror (errno));
              return -1;
            }
          if (nbd_pwrite (h, zeroes, n, offset, 0) == -1)
            {
              free (zeroes);
              return fail (b, "nbd_pwrite");
            }
        }
      offset += n;
      count -= n;
    }
  free (zeroes);
  return 0;
}

static int
nbdb_flush (struct backend *b)
{
  if (nbd_can_flush (NB (b)->h) == 1 && nbd_flush (NB (b)->h, 0) == -1)
    return fail (b, "nbd_flush");
  return 0;
}

static uint64_t
nbdb_export_size (struct backend *b)
{
  return NB (b)->size;
}

static bool
nbdb_can_dirty (struct backend *b)
{
  return NB (b)->dirty_ctx != NULL;
}

/* The (length, flags) pairs one context returned for one block status:
 * 2 entries per extent.
 */
DEFINE_VECTOR_TYPE (pairs, uint32_t);

struct status_lists
{
  struct nbd_backend *nb;
  pairs base, depth, dirty;
};

static int
status_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct status_lists *sl = user_data;
  pairs *p = NULL;

  (void)offset;
  if (*error)
    return 0;
  nr_entries &= ~(size_t)1;
  if (strcmp (metacontext, BASE_ALLOCATION) == 0)
    p = &sl->base;
  else if (strcmp (metacontext, ALLOCATION_DEPTH) == 0)
    p = &sl->depth;
  else if (sl->nb->dirty_ctx && strcmp (metacontext, sl->nb->dirty_ctx) == 0)
    p = &sl->dirty;
  if (p && pairs_append_n (p, entries, nr_entries) == -1)
    {
      *error = ENOMEM;
      return -1;
    }
  return 0;
}

/* Walks several pairs lists in step, cutting at every boundary. */
struct cursor
{
  const pairs *p;
  size_t i;      /* index of the current pair */
  uint64_t used; /* bytes of the current pair consumed */
};

static bool
cursor_skip_empty (struct cursor *c)
{
  while (c->i < c->p->len && c->p->ptr[c->i] == 0)
    c->i += 2;
  return c->i < c->p->len;
}

/* The cursors over the lists a query of CTX merges: the dirty bitmap,
 * base:allocation, qemu:allocation-depth, each when there is one.
 */
struct merge
{
  struct cursor cur[3];
  size_t nc;
  struct cursor *base, *depth, *dirty;
};

static void
merge_init (struct merge *mg, struct status_lists *sl, enum extents_context ctx,
            const struct nbd_backend *nb)
{
  *mg = (struct merge){ .nc = 0 };
  if (ctx == EXTENTS_DIRTY)
    {
      mg->cur[mg->nc] = (struct cursor){ .p = &sl->dirty };
      mg->dirty = &mg->cur[mg->nc++];
    }
  if (nb->has_base)
    {
      mg->cur[mg->nc] = (struct cursor){ .p = &sl->base };
      mg->base = &mg->cur[mg->nc++];
    }
  if (ctx == EXTENTS_ZERO && nb->has_depth)
    {
      mg->cur[mg->nc] = (struct cursor){ .p = &sl->depth };
      mg->depth = &mg->cur[mg->nc++];
    }
}

/* Appends to OUT the extents [POS, LIMIT) where no list changes state,
 * until LIMIT or the end of the shortest list.  Returns 0 or -1 (out of
 * memory).
 */
static int
merge_lists (struct merge *mg, uint64_t pos, uint64_t limit, extent_vec *out)
{
  while (pos < limit)
    {
      uint64_t step = limit - pos;
      struct extent e = { .start = pos };

      for (size_t k = 0; k < mg->nc; k++)
        {
          uint64_t left;

          if (!cursor_skip_empty (&mg->cur[k]))
            return 0;
          left = mg->cur[k].p->ptr[mg->cur[k].i] - mg->cur[k].used;
          if (left < step)
            step = left;
        }
      e.length = step;
      if (mg->base)
        e.zero = (mg->base->p->ptr[mg->base->i + 1] & NBD_STATE_ZERO) != 0;
      if (mg->depth)
        e.hole = mg->depth->p->ptr[mg->depth->i + 1] == 0;
      if (mg->dirty)
        e.dirty = (mg->dirty->p->ptr[mg->dirty->i + 1] & NBD_STATE_DIRTY) != 0;
      if (extent_vec_append (out, e) == -1)
        return -1;
      pos += step;
      for (size_t k = 0; k < mg->nc; k++)
        {
          mg->cur[k].used += step;
          if (mg->cur[k].used == mg->cur[k].p->ptr[mg->cur[k].i])
            {
              mg->cur[k].i += 2;
              mg->cur[k].used = 0;
            }
        }
    }
  return 0;
}

static int
nbdb_extents (struct backend *b, enum extents_context ctx, uint64_t offset,
              uint64_t length, extent_vec *out)
{
  struct nbd_backend *nb = NB (b);
  struct status_lists sl = { .nb = nb };
  struct merge mg;
  uint64_t len = nb->size - offset, limit;
  size_t before = out->len;
  int r = -1;

  if (len > length)
    len = length;
  if (len > STATUS_CHUNK)
    len = STATUS_CHUNK;
  /* A server may describe more than was asked: what lies past the
   * caller's range is not reported.
   */
  limit = offset + len;
  if (ctx == EXTENTS_DIRTY && nb->dirty_ctx == NULL)
    {
      snprintf (b->err, sizeof b->err, "no dirty bitmap");
      return -1;
    }
  if (ctx == EXTENTS_ZERO && !nb->has_base)
    {
      struct extent e = { .start = offset, .length = nb->size - offset };

      if (e.length > length)
        e.length = length;
      if (extent_vec_append (out, e) == -1)
        goto nomem;
      return 0;
    }
  if (nbd_block_status (
          nb->h, len, offset,
          (nbd_extent_callback){ .callback = status_cb, .user_data = &sl }, 0)
      == -1)
    {
      fail (b, "nbd_block_status");
      goto out;
    }
  merge_init (&mg, &sl, ctx, nb);
  if (merge_lists (&mg, offset, limit, out) == -1)
    goto nomem;
  if (out->len == before)
    {
      snprintf (b->err, sizeof b->err,
                "nbd_block_status returned no extents at offset %llu",
                (unsigned long long)offset);
      goto out;
    }
  r = 0;
  goto out;

nomem:
  snprintf (b->err, sizeof b->err, "extents: %s", strerror (ENOMEM));
out:
  pairs_reset (&sl.base);
  pairs_reset (&sl.depth);
  pairs_reset (&sl.dirty);
  return r;
}

static void
nbdb_close (struct backend *b)
{
  struct nbd_backend *nb = NB (b);

  if (nb->h)
    {
      nbd_shutdown (nb->h, 0);
      nbd_close (nb->h);
    }
  free (nb->dirty_ctx);
  free (nb);
}

static const struct backend_ops nbd_ops = {
  .pread = nbdb_pread,
  .pwrite = nbdb_pwrite,
  .zero = nbdb_zero,
  .flush = nbdb_flush,
  .export_size = nbdb_export_size,
  .can_dirty = nbdb_can_dirty,
  .extents = nbdb_extents,
  .close = nbdb_close,
};

/* Remembers the first dirty bitmap context the server lists. */
static int
list_cb (void *user_data, const char *name)
{
  struct nbd_backend *nb = user_data;

  if (nb->dirty_ctx == NULL
      && strncmp (name, DIRTY_PREFIX, strlen (DIRTY_PREFIX)) == 0
      && name[strlen (DIRTY_PREFIX)] != '\0')
    nb->dirty_ctx = strdup (name);
  return 0;
}

/* nbd_connect_unix with a deadline: connects and runs the handshake (up to
 * option negotiation in opt mode).  Sets *TIMED_OUT when the deadline
 * passed.
 */
static int
connect_bounded (struct nbd_handle *h, const char *socket, bool *timed_out)
{
  int64_t deadline = clock_now_ms () + CONNECT_TIMEOUT_MS;

  if (nbd_aio_connect_unix (h, socket) == -1)
    return -1;
  while (nbd_aio_is_connecting (h) == 1)
    {
      int64_t left = deadline - clock_now_ms ();

      if (left <= 0)
        {
          *timed_out = true;
          return -1;
        }
      if (nbd_poll (h, left) == -1)
        return -1;
    }
  if (nbd_aio_is_ready (h) != 1 && nbd_aio_is_negotiating (h) != 1)
    return -1;
  return 0;
}

/* Connects; for a dirty ticket first lists the server's qemu: contexts to
 * learn the bitmap's name, then asks for it with the others.
 */
static int
connect_export (struct nbd_backend *nb, const char *socket, const char *export,
                bool dirty, bool *timed_out)
{
  struct nbd_handle *h = nb->h;

  if (nbd_set_export_name (h, export) == -1
      || nbd_add_meta_context (h, BASE_ALLOCATION) == -1
      || nbd_add_meta_context (h, ALLOCATION_DEPTH) == -1)
    return -1;
  if (!dirty)
    return connect_bounded (h, socket, timed_out);

  if (nbd_set_opt_mode (h, true) == -1
      || nbd_add_meta_context (h, "qemu:") == -1
      || connect_bounded (h, socket, timed_out) == -1)
    return -1;
  if (nbd_aio_is_negotiating (h) != 1)
    return 0; /* old server: connected already */
  /* A server that cannot list contexts simply offers no dirty bitmap. */
  nbd_opt_list_meta_context (
      h, (nbd_context_callback){ .callback = list_cb, .user_data = nb });
  if (nbd_clear_meta_contexts (h) == -1
      || nbd_add_meta_context (h, BASE_ALLOCATION) == -1
      || nbd_add_meta_context (h, ALLOCATION_DEPTH) == -1
      || (nb->dirty_ctx && nbd_add_meta_context (h, nb->dirty_ctx) == -1))
    return -1;
  return nbd_opt_go (h);
}

struct backend *
backend_nbd_open (const char *socket, const char *export,
                  const struct ticket *t, char *err, size_t errlen)
{
  struct nbd_backend *nb = calloc (1, sizeof *nb);
  int64_t size;
  bool timed_out = false;

  if (nb == NULL)
    {
      snprintf (err, errlen, "%s", strerror (errno));
      return NULL;
    }
  nb->b.ops = &nbd_ops;
  nb->sparse = t->sparse;
  nb->h = nbd_create ();
  if (nb->h == NULL
      || connect_export (nb, socket, export, t->dirty, &timed_out) == -1)
    goto err;
  size = nbd_get_size (nb->h);
  if (size == -1)
    goto err;
  nb->size = size;
  nb->has_base = nbd_can_meta_context (nb->h, BASE_ALLOCATION) == 1;
  nb->has_depth = nbd_can_meta_context (nb->h, ALLOCATION_DEPTH) == 1;
  if (nb->dirty_ctx && nbd_can_meta_context (nb->h, nb->dirty_ctx) != 1)
    {
      free (nb->dirty_ctx);
      nb->dirty_ctx = NULL;
    }
  return &nb->b;

err:
  if (timed_out)
    snprintf (err, errlen,
              "nbd connect %s: no handshake within %d ms "
              "(is qemu-nbd at its client limit, -e?)",
              socket, CONNECT_TIMEOUT_MS);
  else
    snprintf (err, errlen, "nbd connect %s: %s", socket, nbd_get_error ());
  if (nb->h)
    nbd_close (nb->h);
  free (nb->dirty_ctx);
  free (nb);
  return NULL;
}
