/* SPDX-License-Identifier: BSD-3-Clause */
/* Image checksums (imageio's blkhash); see checksum.h.
 *
 * BLAKE2 is libb2's: it is the BLAKE2 authors' reference library, small,
 * and gives both algorithms imageio names with a chosen digest size
 * (blake2b and blake2s at 32 bytes); OpenSSL 3.0 only has BLAKE2 at fixed
 * sizes (and the server does not link it), and libsodium has no blake2s.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blake2.h>

#include "minmax.h"
#include "backend.h"
#include "checksum.h"
#include "work.h"

const char *const checksum_algorithms[] = { "blake2b", "blake2s", NULL };

/* One running hash of either algorithm, at CHECKSUM_DIGEST_SIZE. */
struct hash
{
  bool s; /* blake2s, else blake2b */
  union
  {
    blake2b_state b;
    blake2s_state s;
  } u;
};

static void
hash_init (struct hash *h, bool s)
{
  h->s = s;
  if (s)
    blake2s_init (&h->u.s, CHECKSUM_DIGEST_SIZE);
  else
    blake2b_init (&h->u.b, CHECKSUM_DIGEST_SIZE);
}

static void
hash_update (struct hash *h, const void *data, size_t len)
{
  if (h->s)
    blake2s_update (&h->u.s, data, len);
  else
    blake2b_update (&h->u.b, data, len);
}

static void
hash_final (struct hash *h, uint8_t *digest)
{
  if (h->s)
    blake2s_final (&h->u.s, digest, CHECKSUM_DIGEST_SIZE);
  else
    blake2b_final (&h->u.b, digest, CHECKSUM_DIGEST_SIZE);
}

/* The digest of LEN zero bytes. */
static void
hash_zeroes (bool s, uint64_t len, uint8_t *digest)
{
  static const uint8_t zeroes[64 * 1024];
  struct hash h;

  hash_init (&h, s);
  while (len > 0)
    {
      size_t n = MIN (len, sizeof zeroes);

      hash_update (&h, zeroes, n);
      len -= n;
    }
  hash_final (&h, digest);
}

int
checksum_parse_block_size (const char *value, size_t *out, char *err,
                           size_t errlen)
{
  const char *p = value;
  bool negative = false, big = false;
  unsigned long long v = 0;
  size_t digits = 0;

  if (value == NULL)
    {
      *out = CHECKSUM_DEFAULT_BLOCK_SIZE;
      return 0;
    }
  /* What Python's int() takes: blanks, a sign, decimal digits, blanks. */
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  for (; *p >= '0' && *p <= '9'; p++, digits++)
    {
      if (v > UINT64_MAX / 10 - 1)
        big = true;
      else
        v = v * 10 + (*p - '0');
    }
  while (*p == ' ' || *p == '\t')
    p++;
  if (digits == 0 || *p != '\0')
    {
      snprintf (err, errlen, "Invalid block size: '%.40s'", value);
      return -1;
    }
  if (negative || big || v < CHECKSUM_MIN_BLOCK_SIZE
      || v > CHECKSUM_MAX_BLOCK_SIZE)
    {
      snprintf (err, errlen, "Block size out of allowed range: %d-%d",
                CHECKSUM_MIN_BLOCK_SIZE, CHECKSUM_MAX_BLOCK_SIZE);
      return -1;
    }
  if (v % CHECKSUM_ALIGNMENT)
    {
      snprintf (err, errlen, "Block size is not aligned to %d",
                CHECKSUM_ALIGNMENT);
      return -1;
    }
  *out = v;
  return 0;
}

/* Walks the backend's zero extents alongside the blocks. */
struct zero_map
{
  struct backend *b;
  extent_vec v;
  size_t i;    /* first extent that may still matter */
  bool no_map; /* extents failed: read everything */
};

/* Whether [START, END) reads as zeroes according to the extents.  Any doubt
 * (an error, a gap, past the export) says no: the block is then read.
 */
static bool
zero_map_is_zero (struct zero_map *zm, uint64_t start, uint64_t end)
{
  uint64_t pos = start;

  while (pos < end && !zm->no_map)
    {
      struct extent *e;

      while (zm->i < zm->v.len
             && zm->v.ptr[zm->i].start + zm->v.ptr[zm->i].length <= pos)
        zm->i++;
      if (zm->i == zm->v.len)
        {
          zm->v.len = 0;
          zm->i = 0;
          if (pos >= zm->b->ops->export_size (zm->b)
              || zm->b->ops->extents (zm->b, EXTENTS_ZERO, pos,
                                      zm->b->ops->export_size (zm->b) - pos,
                                      &zm->v)
                     == -1
              || zm->v.len == 0)
            zm->no_map = true;
          continue;
        }
      e = &zm->v.ptr[zm->i];
      if (e->start > pos || !e->zero)
        return false;
      pos = e->start + e->length;
    }
  return !zm->no_map;
}

int
checksum_compute (struct backend *b, uint64_t size, const char *algorithm,
                  size_t block_size, struct work *w, char *hex, char *err,
                  size_t errlen)
{
  bool s = strcmp (algorithm, "blake2s") == 0;
  struct zero_map zm = { .b = b };
  uint8_t digest[CHECKSUM_DIGEST_SIZE], zero_digest[CHECKSUM_DIGEST_SIZE];
  bool have_zero_digest = false;
  struct hash total;
  char *buf;
  int ret = -1;

  buf = malloc (CHECKSUM_PIECE);
  if (buf == NULL)
    {
      snprintf (err, errlen, "%s", strerror (errno));
      return -1;
    }
  hash_init (&total, s);
  for (uint64_t start = 0; start < size; start += block_size)
    {
      uint64_t len = MIN (size - start, block_size);
      const char *why;

      if (w && work_should_stop (w, &why))
        {
          snprintf (err, errlen, "stopped at offset %llu: %s",
                    (unsigned long long)start, why);
          goto out;
        }

      if (zero_map_is_zero (&zm, start, start + len))
        {
          if (len < block_size)
            hash_zeroes (s, len, digest);
          else
            {
              if (!have_zero_digest)
                hash_zeroes (s, block_size, zero_digest);
              have_zero_digest = true;
              memcpy (digest, zero_digest, sizeof digest);
            }
        }
      else
        {
          struct hash h;

          hash_init (&h, s);
          for (uint64_t done = 0; done < len;)
            {
              size_t n = MIN (len - done, (uint64_t)CHECKSUM_PIECE);

              if (b->ops->pread (b, buf, n, start + done) == -1)
                {
                  snprintf (err, errlen, "read offset %llu: %s",
                            (unsigned long long)(start + done), b->err);
                  goto out;
                }
              hash_update (&h, buf, n);
              done += n;
            }
          hash_final (&h, digest);
        }
      hash_update (&total, digest, sizeof digest);
    }
  hash_final (&total, digest);
  for (size_t i = 0; i < sizeof digest; i++)
    snprintf (hex + 2 * i, 3, "%02x", digest[i]);
  ret = 0;

out:
  extent_vec_reset (&zm.v);
  free (buf);
  return ret;
}
