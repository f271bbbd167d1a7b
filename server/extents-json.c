/* SPDX-License-Identifier: BSD-3-Clause */
/* Streaming extents JSON with yajl_gen; see extents-json.h.
 *
 * Pipeline: backend chunks (batch) -> merge of adjacent equal extents
 * (pending) -> yajl generator -> output buffer -> response.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "extents-json.h"
#include "faults.h"
#include "log.h"
#include "vector.h"

DEFINE_VECTOR_TYPE (byte_vec, char);

/* Extents generated per refill step. */
#define GEN_BATCH 256

struct extents_stream
{
  struct backend *b;
  enum extents_context ctx;
  uint64_t end;     /* the list covers [start, end) */
  uint64_t next;    /* where the next backend chunk starts */
  extent_vec batch; /* current backend chunk */
  size_t batch_i;
  struct extent pending; /* merged, not yet emitted */
  bool has_pending;
  enum extents_fault fault;
  extent_vec all; /* only under a corruption fault */
  size_t all_i;

  yajl_gen g;
  byte_vec out; /* generated, not yet sent: out.ptr[off, out.len) */
  size_t off;
  bool oom;
  int state; /* 0 start, 1 items, 2 done */
  uint64_t count;
};

static void
print_cb (void *ctx, const char *s, size_t n)
{
  struct extents_stream *xs = ctx;

  if (byte_vec_append_n (&xs->out, s, n) == -1)
    xs->oom = true;
}

static bool
same_kind (const struct extent *a, const struct extent *b)
{
  return a->zero == b->zero && a->hole == b->hole && a->dirty == b->dirty;
}

/* Asks the backend for the chunk starting at next.  Returns 0 or -1 with
 * the reason in the backend's err.
 */
static int
fetch_batch (struct extents_stream *xs)
{
  xs->batch.len = 0;
  xs->batch_i = 0;
  if (xs->b->ops->extents (xs->b, xs->ctx, xs->next, xs->end - xs->next,
                           &xs->batch)
      == -1)
    return -1;
  if (xs->batch.len == 0)
    goto bad;
  /* Backends give contiguous extents starting at next. */
  for (size_t i = 0; i < xs->batch.len; i++)
    {
      const struct extent *x = &xs->batch.ptr[i];

      if (x->start != xs->next || x->length == 0
          || x->length > xs->end - xs->next)
        goto bad;
      xs->next += x->length;
    }
  return 0;

bad:
  snprintf (xs->b->err, sizeof xs->b->err,
            "backend returned bad extents at offset %llu",
            (unsigned long long)xs->next);
  return -1;
}

/* Gets the next merged extent from the backend.  Returns 1, 0 at the end,
 * -1 on error (logged).
 */
static int
next_merged (struct extents_stream *xs, struct extent *e)
{
  for (;;)
    {
      if (xs->batch_i < xs->batch.len)
        {
          struct extent x = xs->batch.ptr[xs->batch_i++];

          if (!xs->has_pending)
            {
              xs->pending = x;
              xs->has_pending = true;
            }
          else if (same_kind (&xs->pending, &x)
                   && xs->pending.start + xs->pending.length == x.start)
            xs->pending.length += x.length;
          else
            {
              *e = xs->pending;
              xs->pending = x;
              return 1;
            }
          continue;
        }
      if (xs->next >= xs->end)
        {
          if (!xs->has_pending)
            return 0;
          *e = xs->pending;
          xs->has_pending = false;
          return 1;
        }
      if (fetch_batch (xs) == -1)
        {
          log_msg ("extents: %s", xs->b->err);
          return -1;
        }
    }
}

/* Splits the first extent in two so a fault has two to work with. */
static int
ensure_two (extent_vec *v)
{
  struct extent a, b;

  if (v->len >= 2 || v->len == 0 || v->ptr[0].length < 2)
    return 0;
  a = v->ptr[0];
  b = a;
  a.length
      = a.length / 2 >= 512 ? (a.length / 2) & ~UINT64_C (511) : a.length / 2;
  b.start = a.start + a.length;
  b.length -= a.length;
  v->ptr[0] = a;
  return extent_vec_append (v, b);
}

/* Collects the whole list and corrupts it as the fault says. */
static int
prepare_fault (struct extents_stream *xs)
{
  struct extent e, t;
  extent_vec *v = &xs->all;
  int r;

  while ((r = next_merged (xs, &e)) == 1)
    if (extent_vec_append (v, e) == -1)
      return -1;
  if (r == -1 || ensure_two (v) == -1)
    return -1;
  if (v->len < 2)
    return 0;
  switch (xs->fault)
    {
    case EXTENTS_FAULT_UNSORTED:
      t = v->ptr[0];
      v->ptr[0] = v->ptr[1];
      v->ptr[1] = t;
      break;
    case EXTENTS_FAULT_GAP:
      v->ptr[0].length -= v->ptr[0].length / 2;
      break;
    case EXTENTS_FAULT_OVERLAP:
      v->ptr[0].length += v->ptr[1].length / 2 ? v->ptr[1].length / 2 : 1;
      break;
    case EXTENTS_FAULT_SHORT:
      v->len--;
      break;
    default:
      break; /* negative, badflag: while generating */
    }
  return 0;
}

struct extents_stream *
extents_stream_new (struct backend *b, enum extents_context ctx, uint64_t start,
                    uint64_t length, char *err, size_t errlen)
{
  struct extents_stream *xs = calloc (1, sizeof *xs);

  if (xs == NULL)
    goto nomem;
  xs->b = b;
  xs->ctx = ctx;
  xs->next = start;
  xs->end = start + length;
  xs->fault = faults_get ()->extents;
  xs->g = yajl_gen_alloc (NULL);
  if (xs->g == NULL)
    goto nomem;
  yajl_gen_config (xs->g, yajl_gen_print_callback, print_cb, xs);
  if (xs->fault == EXTENTS_FAULT_GARBAGE)
    return xs;
  if (xs->fault != EXTENTS_FAULT_NONE)
    {
      if (prepare_fault (xs) == -1)
        goto fail;
      return xs;
    }
  /* Fetch the first chunk now, so a failure is a 500, not a cut body. */
  if (xs->end > xs->next && fetch_batch (xs) == -1)
    goto fail;
  return xs;

nomem:
  snprintf (err, errlen, "%s", strerror (ENOMEM));
  extents_stream_free (xs);
  return NULL;
fail:
  snprintf (err, errlen, "%s", b->err[0] ? b->err : "extents failed");
  extents_stream_free (xs);
  return NULL;
}

static void
gen_key (yajl_gen g, const char *k)
{
  yajl_gen_string (g, (const unsigned char *)k, strlen (k));
}

/* yajl_gen_integer formats with sprintf, which was a quarter of the time
 * of a 1,000,000-extent answer; offsets only need plain digits.
 */
static void
gen_u64 (yajl_gen g, uint64_t v)
{
  char buf[20];
  size_t i = sizeof buf;

  do
    {
      buf[--i] = '0' + v % 10;
      v /= 10;
    }
  while (v > 0);
  yajl_gen_number (g, buf + i, sizeof buf - i);
}

static void
emit (struct extents_stream *xs, const struct extent *e)
{
  yajl_gen g = xs->g;
  bool first = xs->count == 0;

  yajl_gen_map_open (g);
  gen_key (g, "start");
  gen_u64 (g, e->start);
  gen_key (g, "length");
  if (first && xs->fault == EXTENTS_FAULT_NEGATIVE)
    yajl_gen_integer (g, -(long long)e->length);
  else
    gen_u64 (g, e->length);
  if (xs->ctx == EXTENTS_DIRTY)
    {
      gen_key (g, "dirty");
      yajl_gen_bool (g, e->dirty);
    }
  gen_key (g, "zero");
  if (first && xs->fault == EXTENTS_FAULT_BADFLAG)
    yajl_gen_string (g, (const unsigned char *)"yes", 3);
  else
    yajl_gen_bool (g, e->zero);
  if (xs->ctx == EXTENTS_ZERO)
    {
      gen_key (g, "hole");
      yajl_gen_bool (g, e->hole);
    }
  yajl_gen_map_close (g);
  xs->count++;
}

/* Generates up to GEN_BATCH more extents.  Returns 0 or -1. */
static int
produce (struct extents_stream *xs)
{
  struct extent e;
  int r = 1;

  if (xs->state == 0)
    {
      if (xs->fault == EXTENTS_FAULT_GARBAGE)
        {
          static const char garbage[]
              = "[{\"start\": 0, \"length\": 65536, \"zero\": fal}}garbage<<\n";

          print_cb (xs, garbage, strlen (garbage));
          xs->state = 2;
          return xs->oom ? -1 : 0;
        }
      yajl_gen_array_open (xs->g);
      xs->state = 1;
    }
  for (int i = 0; i < GEN_BATCH; i++)
    {
      if (xs->fault != EXTENTS_FAULT_NONE)
        {
          r = xs->all_i < xs->all.len;
          if (r)
            e = xs->all.ptr[xs->all_i++];
        }
      else
        r = next_merged (xs, &e);
      if (r <= 0)
        break;
      emit (xs, &e);
    }
  if (r == -1)
    return -1;
  if (r == 0)
    {
      yajl_gen_array_close (xs->g);
      print_cb (xs, "\n", 1);
      xs->state = 2;
    }
  return xs->oom ? -1 : 0;
}

ssize_t
extents_stream_read (struct extents_stream *xs, char *buf, size_t max)
{
  size_t n;

  while (xs->out.len - xs->off < max && xs->state != 2)
    {
      /* Keep the buffer small: drop what was sent. */
      if (xs->off > 0)
        {
          memmove (xs->out.ptr, xs->out.ptr + xs->off, xs->out.len - xs->off);
          xs->out.len -= xs->off;
          xs->off = 0;
        }
      if (produce (xs) == -1)
        return -2;
    }
  n = xs->out.len - xs->off;
  if (n == 0)
    return -1;
  if (n > max)
    n = max;
  memcpy (buf, xs->out.ptr + xs->off, n);
  xs->off += n;
  return n;
}

uint64_t
extents_stream_count (const struct extents_stream *xs)
{
  return xs->count;
}

void
extents_stream_free (struct extents_stream *xs)
{
  if (xs == NULL)
    return;
  if (xs->g)
    yajl_gen_free (xs->g);
  extent_vec_reset (&xs->batch);
  extent_vec_reset (&xs->all);
  byte_vec_reset (&xs->out);
  free (xs);
}
