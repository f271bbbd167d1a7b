/* SPDX-License-Identifier: BSD-3-Clause */
/* Image checksums as ovirt-imageio computes them (GET
 * /images/TICKET/checksum): the image is split into blocks of BLOCK_SIZE
 * bytes (the last one shorter when the size is not a multiple), each block
 * is hashed with the algorithm at a 32-byte digest, and the checksum is the
 * hash, same algorithm and size, of the concatenated block digests.  A
 * block the backend's extents call zero is not read: its digest is that
 * of as many zero bytes, the same value reading it would give.
 *
 * Contract: the caller owns the backend (its connection's) for the whole
 * call; memory is one CHECKSUM_PIECE buffer whatever the block size.  BLAKE2
 * comes from libb2 (the reference implementation), not from our own code.
 */
#ifndef SERVER_CHECKSUM_H
#define SERVER_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

struct backend;
struct work;

#define CHECKSUM_DEFAULT_ALGORITHM "blake2b"
#define CHECKSUM_DEFAULT_BLOCK_SIZE (4 * 1024 * 1024)
#define CHECKSUM_MIN_BLOCK_SIZE (CHECKSUM_DEFAULT_BLOCK_SIZE / 4)
#define CHECKSUM_MAX_BLOCK_SIZE (CHECKSUM_DEFAULT_BLOCK_SIZE * 4)
#define CHECKSUM_ALIGNMENT 4096
#define CHECKSUM_DIGEST_SIZE 32
/* Bytes read (and hashed) at a time. */
#define CHECKSUM_PIECE (1024 * 1024)

/* The algorithms, sorted, NULL-terminated. */
extern const char *const checksum_algorithms[];

/* Checks the query's block_size value (NULL: the default) as imageio does:
 * returns 0 with *OUT set, or -1 with imageio's 400 message in ERR.
 */
int checksum_parse_block_size (const char *value, size_t *out, char *err,
                               size_t errlen);

/* Computes the checksum of the first SIZE bytes of backend B with
 * ALGORITHM (one of checksum_algorithms) and BLOCK_SIZE into HEX
 * (2 * CHECKSUM_DIGEST_SIZE + 1 bytes).  Stops between pieces once W
 * (may be NULL) says so (work.h).  Returns 0, or -1 with the reason in
 * ERR.
 */
int checksum_compute (struct backend *b, uint64_t size, const char *algorithm,
                      size_t block_size, struct work *w, char *hex, char *err,
                      size_t errlen);

#endif
