/* SPDX-License-Identifier: BSD-3-Clause */
/* Transfer statistics: what the plugin did for its NBD clients, logged as
 * one summary line when the last NBD connection closes (see the man page,
 * "TRANSFER SUMMARY").  Counters are atomic: any thread may add.
 */
#ifndef IMAGEIO_STATS_H
#define IMAGEIO_STATS_H

#include <stddef.h>
#include <stdint.h>

enum stats_counter
{
  STATS_BYTES_READ,
  STATS_BYTES_WRITTEN,
  STATS_BYTES_ZEROED,
  STATS_ZEROES_ELIDED,    /* zero requests not sent: already zero */
  STATS_REQUESTS_RETRIED, /* requests sent again after a failure */
  STATS_REPLAYS,          /* times the journal was sent again */
  STATS_WRITES_RESENT,    /* journal entries sent again */
  STATS_NR_COUNTERS
};

void stats_add (enum stats_counter c, uint64_t n);

/* An NBD connection opens or closes.  The close of the last one logs the
 * summary of everything since the first open, and starts over.
 * CONNECTS is how many HTTP connections were opened so far in all.
 */
void stats_client_open (void);
void stats_client_close (uint64_t connects);

#endif
