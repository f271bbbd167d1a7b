/* SPDX-License-Identifier: BSD-3-Clause */
/* The file backend: a regular file or block device, pread/pwrite.
 * Zero punches holes when the ticket is sparse, else zeroes the range in
 * place (FALLOC_FL_ZERO_RANGE), writing zeroes when neither works.  Flush
 * is fdatasync.  A file shorter than the ticket reads as zeroes past its
 * end.  Extents: one data extent over the ticket size (no real map).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h> /* BLKGETSIZE64 */

#include "minmax.h"
#include "access.h"
#include "backend-file.h"
#include "tickets.h"

struct file_backend
{
  struct backend b;
  int fd;
  bool sparse;
  uint64_t size; /* ticket size */
};

#define FB(b) ((struct file_backend *)(b))

static int
fail (struct backend *b, const char *what)
{
  snprintf (b->err, sizeof b->err, "%s: %s", what, strerror (errno));
  return -1;
}

static int
file_pread (struct backend *b, void *buf, size_t count, uint64_t offset)
{
  char *p = buf;

  while (count > 0)
    {
      ssize_t r = pread (FB (b)->fd, p, count, offset);

      if (r == -1)
        {
          if (errno == EINTR)
            continue;
          return fail (b, "pread");
        }
      if (r == 0)
        {
          /* Past the end of a short file. */
          memset (p, 0, count);
          return 0;
        }
      p += r;
      count -= r;
      offset += r;
    }
  return 0;
}

static int
file_pwrite (struct backend *b, const void *buf, size_t count, uint64_t offset)
{
  const char *p = buf;

  while (count > 0)
    {
      ssize_t r = pwrite (FB (b)->fd, p, count, offset);

      if (r == -1)
        {
          if (errno == EINTR)
            continue;
          return fail (b, "pwrite");
        }
      p += r;
      count -= r;
      offset += r;
    }
  return 0;
}

static int
write_zeroes (struct backend *b, uint64_t offset, uint64_t count)
{
  static const char zeroes[65536];

  while (count > 0)
    {
      size_t n = MIN (count, sizeof zeroes);

      if (file_pwrite (b, zeroes, n, offset) == -1)
        return -1;
      offset += n;
      count -= n;
    }
  return 0;
}

static int
file_zero (struct backend *b, uint64_t offset, uint64_t count)
{
  int fd = FB (b)->fd;

  if (count == 0)
    return 0;
  if (FB (b)->sparse
      && fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                    count)
             == 0)
    return 0;
  if (fallocate (fd, FALLOC_FL_ZERO_RANGE, offset, count) == 0)
    return 0;
  return write_zeroes (b, offset, count);
}

static int
file_flush (struct backend *b)
{
  if (fdatasync (FB (b)->fd) == -1)
    return fail (b, "fdatasync");
  return 0;
}

static uint64_t
file_export_size (struct backend *b)
{
  return FB (b)->size;
}

static bool
file_can_dirty (struct backend *b)
{
  (void)b;
  return false;
}

static int
file_extents (struct backend *b, enum extents_context ctx, uint64_t offset,
              uint64_t length, extent_vec *out)
{
  struct extent e = { .start = offset, .length = FB (b)->size - offset };

  if (e.length > length)
    e.length = length;

  (void)ctx;
  if (extent_vec_append (out, e) == -1)
    return fail (b, "extents");
  return 0;
}

static void
file_close (struct backend *b)
{
  close (FB (b)->fd);
  free (b);
}

static const struct backend_ops file_ops = {
  .pread = file_pread,
  .pwrite = file_pwrite,
  .zero = file_zero,
  .flush = file_flush,
  .export_size = file_export_size,
  .can_dirty = file_can_dirty,
  .extents = file_extents,
  .close = file_close,
};

struct backend *
backend_file_open (const char *path, const struct ticket *t, char *err,
                   size_t errlen)
{
  struct file_backend *fb = calloc (1, sizeof *fb);
  struct stat st;
  uint64_t devsize;

  if (fb == NULL)
    {
      snprintf (err, errlen, "%s", strerror (errno));
      return NULL;
    }
  /* O_NONBLOCK: a FIFO put in the way must not hang the open. */
  fb->fd = open (path,
                 (t->can_write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
  if (fb->fd == -1)
    {
      snprintf (err, errlen, "open %s: %s", path, strerror (errno));
      free (fb);
      return NULL;
    }
  /* What was opened, not what the path names now, must lie under a
   * --file-root and be a regular file or a block device.
   */
  if (access_check_fd (fb->fd, err, errlen) == -1)
    goto refuse;
  if (fstat (fb->fd, &st) == -1
      || !(S_ISREG (st.st_mode) || S_ISBLK (st.st_mode)))
    {
      snprintf (err, errlen, "open %s: not a regular file or block device",
                path);
      goto refuse;
    }
  /* A block device cannot grow: the ticket must fit (a regular file
   * reads as zeroes past its end and grows when written).
   */
  if (S_ISBLK (st.st_mode) && ioctl (fb->fd, BLKGETSIZE64, &devsize) == 0
      && devsize < t->size)
    {
      snprintf (err, errlen,
                "the ticket's size (%llu bytes) is larger than the block "
                "device (%llu bytes)",
                (unsigned long long)t->size, (unsigned long long)devsize);
      goto refuse;
    }
  if (fcntl (fb->fd, F_SETFL, 0) == -1)
    {
      snprintf (err, errlen, "open %s: %s", path, strerror (errno));
      goto refuse;
    }
  fb->b.ops = &file_ops;
  fb->sparse = t->sparse;
  fb->size = t->size;
  return &fb->b;

refuse:
  close (fb->fd);
  free (fb);
  return NULL;
}
