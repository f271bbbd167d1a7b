/* SPDX-License-Identifier: BSD-3-Clause */
/* The control service (control.c): /tickets/ID on the control listener.
 *
 * Contract: main calls control_register for the control listener before
 * it starts; http.c has checked the peer's uid before any request arrives.
 */
#ifndef SERVER_CONTROL_H
#define SERVER_CONTROL_H

struct listener;

/* Routes every path on L to the control service.  Returns 0 or -1. */
int control_register (struct listener *l);

#endif
