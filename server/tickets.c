/* SPDX-License-Identifier: BSD-3-Clause */
/* Ticket parsing and the ticket store; see tickets.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "clock.h"
#include "tickets.h"
#include "vector.h"
#include "validate.h"

/* The store: a small array of tickets, searched linearly (a test server
 * holds a handful).  Protects the array and every ticket's expires, refs,
 * busy, in_store and transferred.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled whenever a ticket's busy count drops. */
static pthread_cond_t unbusy = PTHREAD_COND_INITIALIZER;
DEFINE_VECTOR_TYPE (ticket_vec, struct ticket *);
static ticket_vec store;

static void
ticket_free (struct ticket *t)
{
  free (t->id);
  free (t->url);
  free (t->transfer_id);
  free (t->filename);
  range_set_reset (&t->transferred);
  free (t);
}

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

/* Checks the url: file:///PATH or nbd:unix:/PATH[:exportname=NAME]. */
static int
check_url (const char *url, char *err, size_t errlen)
{
  if (strncmp (url, "file:///", 8) == 0 || strncmp (url, "nbd:unix:/", 10) == 0)
    return 0;
  snprintf (err, errlen,
            "Unsupported url '%.60s', expecting file:///PATH "
            "or nbd:unix:/PATH[:exportname=NAME]",
            url);
  return -1;
}

/* A ticket id is one path segment of printable ASCII that needs no
 * escaping in a URL or a log line.
 */
static bool
uuid_ok (const char *uuid)
{
  if (*uuid == '\0' || strcmp (uuid, "*") == 0)
    return false;
  for (const char *p = uuid; *p; p++)
    if (*p <= ' ' || *p >= 0x7f || strchr ("/?#%\\\"", *p) != NULL)
      return false;
  return true;
}

static int
parse_ops (yajl_val root, struct ticket *t, char *err, size_t errlen)
{
  static const char *const choices[] = { "read", "write", NULL };
  const char *path[] = { "ops", NULL };
  yajl_val ops = yajl_tree_get (root, path, yajl_t_any);
  char repr[80];

  if (ops == NULL)
    {
      snprintf (err, errlen, "Missing required value for 'ops'");
      return -1;
    }
  if (!YAJL_IS_ARRAY (ops))
    {
      validate_repr (ops, repr, sizeof repr);
      snprintf (err, errlen, "List required %s", repr);
      return -1;
    }
  for (size_t i = 0; i < ops->u.array.len; i++)
    {
      yajl_val v = ops->u.array.values[i];

      if (YAJL_IS_STRING (v) && strcmp (v->u.string, "read") == 0)
        t->can_read = true;
      else if (YAJL_IS_STRING (v) && strcmp (v->u.string, "write") == 0)
        t->can_write = true;
      else
        {
          if (YAJL_IS_STRING (v))
            snprintf (repr, sizeof repr, "%s", v->u.string);
          else
            validate_repr (v, repr, sizeof repr);
          validate_enum_error ("ops", repr, choices, err, errlen);
          return -1;
        }
    }
  /* The ops as given (GET shows them, "transferred" counts by them);
   * write also allows reading, as in imageio (images.c).
   */
  return 0;
}
/* Parses TEXT (NUL-terminated) as a JSON object; NULL with the reason. */
static yajl_val
parse_object (const char *text, char *err, size_t errlen)
{
  char yerr[128];
  yajl_val root = yajl_tree_parse (text, yerr, sizeof yerr);

  if (root == NULL)
    {
      yerr[strcspn (yerr, "\n")] = '\0';
      snprintf (err, errlen, "Invalid ticket JSON: %s", yerr);
      return NULL;
    }
  if (!YAJL_IS_OBJECT (root))
    {
      snprintf (err, errlen, "Invalid ticket: expecting a JSON object");
      yajl_tree_free (root);
      return NULL;
    }
  return root;
}

/* Fills T from the ticket object ROOT (WANT_ID: the id the URL names, or
 * NULL).  Returns 0 or -1 with the reason in ERR.
 */
static int
fill_ticket (struct ticket *t, yajl_val root, const char *want_id, char *err,
             size_t errlen)
{
  const char *uuid, *url, *transfer_id, *filename;
  int64_t size, timeout, inactivity;

  if (validate_string (root, "uuid", true, &uuid, err, errlen) == -1
      || validate_int (root, "size", true, 0, 0, &size, err, errlen) == -1
      || validate_string (root, "url", true, &url, err, errlen) == -1
      || check_url (url, err, errlen) == -1
      || parse_ops (root, t, err, errlen) == -1
      || validate_int (root, "timeout", true, 0, 0, &timeout, err, errlen) == -1
      || validate_int (root, "inactivity_timeout", false, 60, 1, &inactivity,
                       err, errlen)
             == -1
      || validate_bool (root, "sparse", false, false, &t->sparse, err, errlen)
             == -1
      || validate_bool (root, "dirty", false, false, &t->dirty, err, errlen)
             == -1
      || validate_string (root, "transfer_id", false, &transfer_id, err, errlen)
             == -1
      || validate_string (root, "filename", false, &filename, err, errlen)
             == -1)
    return -1;
  if (!uuid_ok (uuid))
    {
      snprintf (err, errlen, "Invalid ticket: bad uuid");
      return -1;
    }
  if (want_id != NULL && strcmp (uuid, want_id) != 0)
    {
      snprintf (err, errlen, "Invalid ticket: uuid does not match the URL");
      return -1;
    }
  t->size = size;
  t->timeout = timeout;
  t->inactivity_timeout = inactivity;
  t->id = strdup (uuid);
  t->url = strdup (url);
  t->transfer_id = dup_or_null (transfer_id);
  t->filename = dup_or_null (filename);
  if (t->id == NULL || t->url == NULL || (transfer_id && !t->transfer_id)
      || (filename && !t->filename))
    {
      snprintf (err, errlen, "%s", strerror (ENOMEM));
      return -1;
    }
  return 0;
}

struct ticket *
ticket_parse (const char *json, size_t len, const char *want_id, char *err,
              size_t errlen)
{
  char *text = strndup (json, len);
  yajl_val root = NULL;
  struct ticket *t = NULL;

  if (text == NULL || strlen (text) != len)
    {
      snprintf (err, errlen, "Invalid ticket: %s",
                text ? "NUL byte in JSON" : strerror (errno));
      goto err;
    }
  root = parse_object (text, err, errlen);
  if (root == NULL)
    goto err;
  t = calloc (1, sizeof *t);
  if (t == NULL)
    {
      snprintf (err, errlen, "%s", strerror (errno));
      goto err;
    }
  if (fill_ticket (t, root, want_id, err, errlen) == -1)
    goto err;
  t->refs = 1;
  yajl_tree_free (root);
  free (text);
  return t;

err:
  validate_oneline (err);
  if (t)
    ticket_free (t);
  yajl_tree_free (root);
  free (text);
  return NULL;
}

/* Called with the lock held. */
static void
unref_locked (struct ticket *t)
{
  if (--t->refs == 0)
    ticket_free (t);
}

/* Removes entry I from the store.  Called with the lock held. */
static void
drop_locked (size_t i)
{
  struct ticket *t = store.ptr[i];

  store.ptr[i] = store.ptr[--store.len];
  t->in_store = false;
  unref_locked (t);
}

/* Index of ticket ID, or -1.  Called with the lock held. */
static ssize_t
find_locked (const char *id)
{
  for (size_t i = 0; i < store.len; i++)
    if (strcmp (store.ptr[i]->id, id) == 0)
      return i;
  return -1;
}

/* Index of the live ticket ID, dropping it when expired, or -1.  Called
 * with the lock held.
 */
static ssize_t
find_live_locked (const char *id, enum ticket_error *why)
{
  ssize_t i = find_locked (id);

  *why = TICKET_MISSING;
  if (i == -1)
    return -1;
  if (store.ptr[i]->busy == 0 && clock_now_s () > store.ptr[i]->expires)
    {
      drop_locked (i);
      *why = TICKET_EXPIRED;
      return -1;
    }
  return i;
}

void
tickets_add (struct ticket *t)
{
  ssize_t i;

  pthread_mutex_lock (&lock);
  t->access_time = clock_now_s ();
  t->expires = t->access_time + t->timeout;
  t->in_store = true;
  i = find_locked (t->id);
  if (i >= 0)
    {
      store.ptr[i]->in_store = false;
      unref_locked (store.ptr[i]);
      store.ptr[i] = t;
    }
  else
    {
      if (ticket_vec_append (&store, t) == -1)
        {
          /* Out of memory: the ticket is not added. */
          t->in_store = false;
          unref_locked (t);
          pthread_mutex_unlock (&lock);
          return;
        }
    }
  pthread_mutex_unlock (&lock);
}

struct ticket *
tickets_acquire (const char *id, enum ticket_error *why)
{
  struct ticket *t = NULL;
  ssize_t i;

  pthread_mutex_lock (&lock);
  i = find_live_locked (id, why);
  if (i >= 0 && store.ptr[i]->canceled)
    *why = TICKET_CANCELED;
  else if (i >= 0)
    {
      t = store.ptr[i];
      t->busy++;
      t->refs++;
      t->expires = clock_now_s () + t->timeout;
    }
  pthread_mutex_unlock (&lock);
  return t;
}

void
tickets_release (struct ticket *t)
{
  pthread_mutex_lock (&lock);
  t->busy--;
  t->access_time = clock_now_s ();
  t->expires = t->access_time + t->timeout;
  pthread_cond_broadcast (&unbusy);
  unref_locked (t);
  pthread_mutex_unlock (&lock);
}

void
ticket_ref (struct ticket *t)
{
  pthread_mutex_lock (&lock);
  t->refs++;
  pthread_mutex_unlock (&lock);
}

void
ticket_unref (struct ticket *t)
{
  pthread_mutex_lock (&lock);
  unref_locked (t);
  pthread_mutex_unlock (&lock);
}

/* Marks T canceled and returns it with a reference for the caller. */
static struct ticket *
cancel_locked (struct ticket *t)
{
  /* Read without the lock by work_should_stop. */
  __atomic_store_n (&t->canceled, true, __ATOMIC_RELAXED);
  t->refs++;
  return t;
}

struct ticket *
tickets_cancel (const char *id)
{
  struct ticket *t = NULL;
  ssize_t i;

  pthread_mutex_lock (&lock);
  i = find_locked (id);
  if (i >= 0)
    t = cancel_locked (store.ptr[i]);
  pthread_mutex_unlock (&lock);
  return t;
}

struct ticket *
tickets_cancel_next (void)
{
  struct ticket *t = NULL;

  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < store.len && t == NULL; i++)
    if (!store.ptr[i]->canceled)
      t = cancel_locked (store.ptr[i]);
  pthread_mutex_unlock (&lock);
  return t;
}

int
tickets_remove_unused (struct ticket *t, double timeout)
{
  double deadline = clock_now_s () + timeout;
  struct timespec ts;
  ssize_t i;
  int r = 0;

  pthread_mutex_lock (&lock);
  while (t->busy > 0 && clock_now_s () < deadline)
    {
      ts = clock_realtime_after_ms (100);
      pthread_cond_timedwait (&unbusy, &lock, &ts);
    }
  if (t->busy > 0)
    r = -1;
  else if (t->in_store && (i = find_locked (t->id)) >= 0 && store.ptr[i] == t)
    drop_locked (i);
  unref_locked (t);
  pthread_mutex_unlock (&lock);
  return r;
}

int
tickets_extend (const char *id, uint64_t timeout)
{
  enum ticket_error why;
  ssize_t i;

  pthread_mutex_lock (&lock);
  i = find_live_locked (id, &why);
  if (i >= 0)
    store.ptr[i]->expires = clock_now_s () + timeout;
  pthread_mutex_unlock (&lock);
  return i >= 0 ? 0 : -1;
}

static void
gen_str (yajl_gen g, const char *s)
{
  yajl_gen_string (g, (const unsigned char *)s, strlen (s));
}

static void
gen_key_str (yajl_gen g, const char *key, const char *s)
{
  gen_str (g, key);
  gen_str (g, s);
}

static void
gen_key_int (yajl_gen g, const char *key, long long v)
{
  gen_str (g, key);
  yajl_gen_integer (g, v);
}

static void
gen_key_bool (yajl_gen g, const char *key, bool v)
{
  gen_str (g, key);
  yajl_gen_bool (g, v);
}

char *
tickets_describe (const char *id, size_t *len)
{
  enum ticket_error why;
  yajl_gen g;
  const unsigned char *out;
  size_t outlen;
  char *ret = NULL;
  ssize_t i;
  double t_now = clock_now_s ();

  g = yajl_gen_alloc (NULL);
  if (g == NULL)
    return NULL;
  pthread_mutex_lock (&lock);
  i = find_live_locked (id, &why);
  if (i >= 0)
    {
      struct ticket *t = store.ptr[i];

      yajl_gen_map_open (g);
      gen_key_str (g, "uuid", t->id);
      gen_key_int (g, "size", t->size);
      gen_key_str (g, "url", t->url);
      gen_str (g, "ops");
      yajl_gen_array_open (g);
      if (t->can_read)
        gen_str (g, "read");
      if (t->can_write)
        gen_str (g, "write");
      yajl_gen_array_close (g);
      gen_key_int (g, "timeout", t->timeout);
      gen_key_int (g, "inactivity_timeout", t->inactivity_timeout);
      gen_key_bool (g, "sparse", t->sparse);
      gen_key_bool (g, "dirty", t->dirty);
      if (t->transfer_id)
        gen_key_str (g, "transfer_id", t->transfer_id);
      else
        {
          /* imageio's name for a transfer the manager did not name. */
          char tid[32];

          snprintf (tid, sizeof tid, "(ticket/%.18s)", t->id);
          gen_key_str (g, "transfer_id", tid);
        }
      if (t->filename)
        gen_key_str (g, "filename", t->filename);
      gen_key_int (g, "expires", (long long)t->expires);
      gen_key_bool (g, "active", t->busy > 0);
      gen_key_bool (g, "canceled", t->canceled);
      gen_key_int (g, "connections", t->refs - 1 - t->busy);
      gen_key_int (g, "idle_time",
                   t->busy > 0 ? 0 : (long long)(t_now - t->access_time));
      if (t->can_read != t->can_write)
        gen_key_int (g, "transferred", (long long)t->transferred.total);
      yajl_gen_map_close (g);
    }
  pthread_mutex_unlock (&lock);
  if (i >= 0 && yajl_gen_get_buf (g, &out, &outlen) == yajl_gen_status_ok)
    {
      ret = malloc (outlen + 1);
      if (ret)
        {
          memcpy (ret, out, outlen);
          ret[outlen] = '\n';
          *len = outlen + 1;
        }
    }
  yajl_gen_free (g);
  return ret;
}

void
tickets_count_transferred (struct ticket *t, uint64_t start, uint64_t len,
                           bool read)
{
  if (t->can_read == t->can_write || read != t->can_read)
    return;
  pthread_mutex_lock (&lock);
  range_set_add (&t->transferred, start, len);
  pthread_mutex_unlock (&lock);
}

void
tickets_clear (void)
{
  pthread_mutex_lock (&lock);
  while (store.len > 0)
    drop_locked (store.len - 1);
  ticket_vec_reset (&store);
  pthread_mutex_unlock (&lock);
}
