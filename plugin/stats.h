/* SPDX-License-Identifier: BSD-3-Clause */
/* Transfer statistics: what the plugin did for its NBD clients, logged as
 * exactly one summary line when nbdkit ends (see the man page, "TRANSFER
 * SUMMARY"), with the outcome.  Counters are atomic: any thread may add.
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
  STATS_ZEROES_ELIDED,     /* zero requests not sent: already zero */
  STATS_REQUESTS_RETRIED,  /* requests sent again after a failure */
  STATS_REPLAYS,           /* recoveries that sent the journal again */
  STATS_WRITES_RESENT,     /* journal entries sent again */
  STATS_CHECKPOINTS,       /* checkpoint flushes during replays */
  STATS_CONNS_CLOSED,      /* connections closed after a failure */
  STATS_LONGEST_OUTAGE_MS, /* longest failure ridden out (a maximum) */
  STATS_NR_COUNTERS
};

void stats_add (enum stats_counter c, uint64_t n);
/* Raises counter C to N when it is lower. */
void stats_max (enum stats_counter c, uint64_t n);

/* An NBD connection opened: the transfer's clock starts with the first. */
void stats_client_open (void);

/* The transfer failed: WHY (the first reason is kept), BYTES_AT_RISK the
 * bytes of image that may be lost.
 */
void stats_failed (const char *why, uint64_t bytes_at_risk);

/* Logs the summary once, at the end (.cleanup), unless nothing was moved
 * and nothing failed.  CONNECTS: HTTP connections opened in all.
 */
void stats_summary (uint64_t connects);

#endif
