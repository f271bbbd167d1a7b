/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON value checks with imageio's messages; see validate.h. */
#include <stdio.h>
#include <string.h>

#include "validate.h"

static yajl_val
lookup (yajl_val obj, const char *key)
{
  if (obj == NULL || !YAJL_IS_OBJECT (obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      return obj->u.object.values[i];
  return NULL;
}

void
validate_oneline (char *err)
{
  for (; *err; err++)
    if ((unsigned char)*err < 0x20 || *err == 0x7f)
      *err = '?';
}

void
validate_repr (yajl_val v, char *buf, size_t bufsz)
{
  if (v == NULL || YAJL_IS_NULL (v))
    snprintf (buf, bufsz, "None");
  else if (YAJL_IS_TRUE (v))
    snprintf (buf, bufsz, "True");
  else if (YAJL_IS_FALSE (v))
    snprintf (buf, bufsz, "False");
  else if (YAJL_IS_STRING (v))
    snprintf (buf, bufsz, "'%.60s'", YAJL_GET_STRING (v));
  else if (YAJL_IS_NUMBER (v))
    snprintf (buf, bufsz, "%.40s", YAJL_GET_NUMBER (v));
  else if (YAJL_IS_ARRAY (v))
    snprintf (buf, bufsz, "[...]");
  else
    snprintf (buf, bufsz, "{...}");
}

static int
missing (const char *key, char *err, size_t errlen)
{
  snprintf (err, errlen, "Missing required value for '%s'", key);
  return -1;
}

static int
wrong_type (yajl_val v, const char *what, char *err, size_t errlen)
{
  char repr[80];

  validate_repr (v, repr, sizeof repr);
  snprintf (err, errlen, "%s required %s", what, repr);
  return -1;
}

int
validate_int (yajl_val obj, const char *key, bool required, int64_t def,
              int64_t min, int64_t *out, char *err, size_t errlen)
{
  yajl_val v = lookup (obj, key);

  if (v == NULL)
    {
      if (required)
        return missing (key, err, errlen);
      *out = def;
      return 0;
    }
  if (!YAJL_IS_INTEGER (v))
    return wrong_type (v, "Integer", err, errlen);
  if (YAJL_GET_INTEGER (v) < min)
    {
      snprintf (err, errlen, "Invalid value %lld < %lld",
                (long long)YAJL_GET_INTEGER (v), (long long)min);
      return -1;
    }
  *out = YAJL_GET_INTEGER (v);
  return 0;
}

int
validate_bool (yajl_val obj, const char *key, bool required, bool def,
               bool *out, char *err, size_t errlen)
{
  yajl_val v = lookup (obj, key);

  if (v == NULL)
    {
      if (required)
        return missing (key, err, errlen);
      *out = def;
      return 0;
    }
  if (!YAJL_IS_TRUE (v) && !YAJL_IS_FALSE (v))
    return wrong_type (v, "Boolean", err, errlen);
  *out = YAJL_IS_TRUE (v);
  return 0;
}

int
validate_string (yajl_val obj, const char *key, bool required, const char **out,
                 char *err, size_t errlen)
{
  yajl_val v = lookup (obj, key);

  if (v == NULL)
    {
      if (required)
        return missing (key, err, errlen);
      *out = NULL;
      return 0;
    }
  if (!YAJL_IS_STRING (v))
    return wrong_type (v, "String", err, errlen);
  *out = YAJL_GET_STRING (v);
  return 0;
}

void
validate_enum_error (const char *key, const char *value,
                     const char *const *choices, char *err, size_t errlen)
{
  char list[200] = "";
  size_t n = 0;

  for (size_t i = 0; choices[i] != NULL && n < sizeof list; i++)
    n += snprintf (list + n, sizeof list - n, "%s'%s'", i ? ", " : "",
                   choices[i]);
  snprintf (err, errlen,
            "Unsupported value '%.60s' for '%s', expecting one "
            "of [%s]",
            value, key, list);
}

int
validate_enum (yajl_val obj, const char *key, const char *const *choices,
               int *out, char *err, size_t errlen)
{
  const char *s;

  if (validate_string (obj, key, true, &s, err, errlen) == -1)
    return -1;
  for (int i = 0; choices[i] != NULL; i++)
    if (strcmp (s, choices[i]) == 0)
      {
        *out = i;
        return 0;
      }
  validate_enum_error (key, s, choices, err, errlen);
  return -1;
}
