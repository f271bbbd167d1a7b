/* SPDX-License-Identifier: BSD-3-Clause */
/* Checks values in small JSON documents (PATCH bodies, tickets) parsed with
 * yajl's tree parser, with imageio's one-line error messages:
 *   "Missing required value for 'size'", "Integer required '4096'",
 *   "Boolean required 'yes'", "Invalid value -1 < 0",
 *   "Unsupported value 'trim' for 'op', expecting one of ['flush', 'zero']".
 *
 * Contract: OBJ is a yajl object node (or NULL); each getter returns 0 and
 * sets *OUT (the default when the key is absent and not required), or -1
 * with the message in ERR (ERRLEN bytes).
 */
#ifndef SERVER_VALIDATE_H
#define SERVER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

int validate_int (yajl_val obj, const char *key, bool required, int64_t def,
                  int64_t min, int64_t *out, char *err, size_t errlen);
int validate_bool (yajl_val obj, const char *key, bool required, bool def,
                   bool *out, char *err, size_t errlen);
/* *OUT points into the tree (NULL when absent and not required). */
int validate_string (yajl_val obj, const char *key, bool required,
                     const char **out, char *err, size_t errlen);
/* CHOICES is NULL-terminated and sorted; sets *OUT to the index. */
int validate_enum (yajl_val obj, const char *key, const char *const *choices,
                   int *out, char *err, size_t errlen);
/* Message for a value of KEY that is not one of CHOICES. */
void validate_enum_error (const char *key, const char *value,
                          const char *const *choices, char *err, size_t errlen);

/* Replaces control bytes in the message ERR by '?', so that it stays one
 * line (a value quoted from a client may hold a newline).
 */
void validate_oneline (char *err);

/* Python-like repr of a JSON value for messages ('x', 42, True, None). */
void validate_repr (yajl_val v, char *buf, size_t bufsz);

#endif
