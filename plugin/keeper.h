/* SPDX-License-Identifier: BSD-3-Clause */
/* keeper.c: the thread that flushes what stays unflushed while the pool
 * idles, before the server's inactivity timeout (60 s in imageio) closes
 * a connection holding unflushed writes.
 */
#ifndef IMAGEIO_KEEPER_H
#define IMAGEIO_KEEPER_H

/* Starts the thread: every second it flushes the image when the whole pool
 * idled IDLE_FLUSH seconds with writes unflushed, else each connection
 * holding writes and idle that long.
 */
int keeper_start (unsigned idle_flush);
void keeper_stop (void);

#endif
