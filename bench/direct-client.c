/* SPDX-License-Identifier: BSD-3-Clause */
/* direct-client: the benchmarks' baseline.  Moves an image straight
 * between a file and imageio-server with libcurl, the way the plugin does
 * it for nbdcopy, so "plugin / direct" measures only the plugin's cost.
 *
 * Contract (bench/run-bench relies on it):
 *   direct-client [--unix PATH|@NAME] --url URL [--cafile F] [--insecure]
 *                 [--connections N] [--request-size N] [--extents]
 *                 [--timeout S] upload|download FILE
 * - N threads, each with one CURL easy handle kept alive for the whole run
 *   (one HTTP connection per thread); work is handed out in order.
 * - upload: the data extents of FILE (SEEK_DATA/SEEK_HOLE) go as
 *   PUT ?flush=n with Content-Range and an empty Expect header, in requests
 *   of at most --request-size bytes; holes go as PATCH op=zero (at most
 *   ZERO_MAX bytes each), as nbdcopy + plugin send them; at the end every
 *   connection sends PATCH op=flush.
 * - download: GET with Range in --request-size pieces into FILE ("null:"
 *   discards, like nbdcopy's null: target).  With --extents, only the data
 *   extents of GET /images/T/extents are read (the zero ones are left as
 *   holes), as nbdcopy does through the plugin.
 * - On success prints one line of key=value facts on stdout and exits 0;
 *   on any failed request prints what failed (ticket redacted) and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "redact.h"

#define ZERO_MAX (128 * 1024 * 1024) /* largest PATCH zero we send */
#define ERRBODY_MAX 200              /* bytes of an error answer kept */

/* One unit of work: write/read LENGTH bytes at OFFSET, or zero them. */
struct item
{
  uint64_t offset;
  uint64_t length;
  bool zero;
};

/* Options, set by main before the threads start; read-only afterwards. */
static const char *opt_url;
static const char *opt_unix;
static const char *opt_cafile;
static bool opt_insecure;
static bool opt_extents;
static unsigned opt_connections = 4;
static uint64_t opt_request_size = 256 * 1024; /* nbdcopy's default */
static long opt_timeout = 120;
static bool opt_upload;
static bool opt_null_output;
static int file_fd = -1;

/* The work list, built before the threads start. */
static struct item *items;
static size_t nr_items;

/* Protects next_item and failed: the work queue shared by the threads. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t next_item;
static bool failed;

/* Per-thread state: its handle, buffer, and what it moved. */
struct worker
{
  pthread_t tid;
  CURL *curl;
  char *buf;
  uint64_t want;  /* bytes expected in the current GET body */
  uint64_t got;   /* bytes of it received */
  size_t sent;    /* bytes of the current PUT body handed to curl */
  size_t put_len; /* length of the current PUT body */
  char errbody[ERRBODY_MAX + 1];
  size_t errlen;
  uint64_t data_bytes, zero_bytes, requests;
  long connects;
};

static void
redacted (char *out, size_t outsz)
{
  redact_url (opt_url, out, outsz);
}

/* Hides the ticket id wherever it appears in S (a server's error text may
 * quote it): every character after the first REDACT_KEEP becomes '*'.
 */
static void
mask_ticket (char *s)
{
  const char *t = strstr (opt_url, "/images/");
  size_t len;
  char *p;

  if (t == NULL)
    return;
  t += strlen ("/images/");
  len = strcspn (t, "/?#");
  if (len <= REDACT_KEEP)
    return;
  while ((p = memmem (s, strlen (s), t, len)) != NULL)
    memset (p + REDACT_KEEP, '*', len - REDACT_KEEP);
}

static void
fail_item (const char *what, const struct item *it, const char *detail)
{
  char u[256];

  redacted (u, sizeof u);
  fprintf (stderr,
           "direct-client: %s offset=%" PRIu64 " length=%" PRIu64
           " url=%s: %s\n",
           what, it ? it->offset : 0, it ? it->length : 0, u, detail);
}

/* Takes the next item off the queue; false when none is left or another
 * thread failed.
 */
static bool
queue_take (struct item *out)
{
  bool ok = false;

  pthread_mutex_lock (&queue_lock);
  if (!failed && next_item < nr_items)
    {
      *out = items[next_item++];
      ok = true;
    }
  pthread_mutex_unlock (&queue_lock);
  return ok;
}

static void
queue_fail (void)
{
  pthread_mutex_lock (&queue_lock);
  failed = true;
  pthread_mutex_unlock (&queue_lock);
}

/* GET bodies land in the worker's buffer; an error answer is kept short
 * for the message.  A body longer than asked for is an error.
 */
static size_t
on_body (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  struct worker *w = opaque;
  size_t n = size * nmemb;
  long code = 0;

  curl_easy_getinfo (w->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 300 || w->buf == NULL)
    {
      size_t k = n;
      if (k > ERRBODY_MAX - w->errlen)
        k = ERRBODY_MAX - w->errlen;
      memcpy (w->errbody + w->errlen, ptr, k);
      w->errlen += k;
      w->errbody[w->errlen] = '\0';
      return n;
    }
  if (n > w->want - w->got)
    return 0; /* makes curl fail the transfer */
  memcpy (w->buf + w->got, ptr, n);
  w->got += n;
  return n;
}

/* PUT bodies come from the worker's buffer. */
static size_t
on_read (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  struct worker *w = opaque;
  size_t n = size * nmemb;

  if (n > w->put_len - w->sent)
    n = w->put_len - w->sent;
  memcpy (ptr, w->buf + w->sent, n);
  w->sent += n;
  return n;
}

/* Settings every request of a handle shares. */
static int
setup_handle (struct worker *w)
{
  CURL *c = curl_easy_init ();

  if (c == NULL)
    return -1;
  w->curl = c;
  curl_easy_setopt (c, CURLOPT_URL, opt_url);
  if (opt_unix)
    {
      if (opt_unix[0] == '@')
        curl_easy_setopt (c, CURLOPT_ABSTRACT_UNIX_SOCKET, opt_unix + 1);
      else
        curl_easy_setopt (c, CURLOPT_UNIX_SOCKET_PATH, opt_unix);
    }
  if (opt_cafile)
    curl_easy_setopt (c, CURLOPT_CAINFO, opt_cafile);
  if (opt_insecure)
    {
      curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (c, CURLOPT_TIMEOUT, opt_timeout);
  curl_easy_setopt (c, CURLOPT_TCP_NODELAY, 1L);
  /* Larger buffers than the defaults (16 KiB / 64 KiB) are measurably
   * faster; docs/design.md, "Why the HTTP client is our own".  A libcurl
   * that refuses the size keeps its default.
   */
  if (curl_easy_setopt (c, CURLOPT_BUFFERSIZE, 1024L * 1024) != CURLE_OK)
    curl_easy_setopt (c, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt (c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, w);
  curl_easy_setopt (c, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt (c, CURLOPT_READDATA, w);
  return 0;
}

/* Runs the request set up on the handle and checks the status.  Returns
 * 0 on success.
 */
static int
perform (struct worker *w, const char *what, const struct item *it,
         long want_status)
{
  CURLcode r;
  long code = 0, connects = 0;
  char msg[ERRBODY_MAX + 64];

  w->errlen = 0;
  w->errbody[0] = '\0';
  r = curl_easy_perform (w->curl);
  curl_easy_getinfo (w->curl, CURLINFO_NUM_CONNECTS, &connects);
  w->connects += connects;
  w->requests++;
  if (r != CURLE_OK)
    {
      fail_item (what, it, curl_easy_strerror (r));
      return -1;
    }
  curl_easy_getinfo (w->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != want_status)
    {
      w->errbody[strcspn (w->errbody, "\r\n")] = '\0';
      mask_ticket (w->errbody);
      snprintf (msg, sizeof msg, "status %ld: %s", code, w->errbody);
      fail_item (what, it, msg);
      return -1;
    }
  return 0;
}

static int
do_put (struct worker *w, const struct item *it)
{
  struct curl_slist *h = NULL;
  char range[96];
  ssize_t n;
  int r;

  n = pread (file_fd, w->buf, it->length, it->offset);
  if (n != (ssize_t)it->length)
    {
      fail_item ("read source", it, n < 0 ? strerror (errno) : "short read");
      return -1;
    }
  snprintf (range, sizeof range,
            "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/*", it->offset,
            it->offset + it->length - 1);
  h = curl_slist_append (h, range);
  h = curl_slist_append (h, "Expect:");
  h = curl_slist_append (h, "Content-Type: application/octet-stream");
  curl_easy_setopt (w->curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt (w->curl, CURLOPT_CUSTOMREQUEST, NULL);
  curl_easy_setopt (w->curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt (w->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)it->length);
  w->put_len = it->length;
  w->sent = 0;
  w->want = w->got = 0;
  r = perform (w, "PUT", it, 200);
  curl_easy_setopt (w->curl, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all (h);
  if (r == 0)
    w->data_bytes += it->length;
  return r;
}

/* PATCH with a small JSON body (zero or flush). */
static int
do_patch (struct worker *w, const char *what, const struct item *it,
          const char *body)
{
  struct curl_slist *h = NULL;
  int r;

  h = curl_slist_append (h, "Content-Type: application/json");
  h = curl_slist_append (h, "Expect:");
  curl_easy_setopt (w->curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt (w->curl, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt (w->curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt (w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                    (curl_off_t)strlen (body));
  curl_easy_setopt (w->curl, CURLOPT_CUSTOMREQUEST, "PATCH");
  w->want = w->got = 0;
  r = perform (w, what, it, 200);
  curl_easy_setopt (w->curl, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt (w->curl, CURLOPT_CUSTOMREQUEST, NULL);
  curl_easy_setopt (w->curl, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt (w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
  curl_slist_free_all (h);
  return r;
}

static int
do_zero (struct worker *w, const struct item *it)
{
  char body[160];

  snprintf (body, sizeof body,
            "{\"op\": \"zero\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64
            ", \"flush\": false}",
            it->offset, it->length);
  if (do_patch (w, "PATCH zero", it, body) == -1)
    return -1;
  w->zero_bytes += it->length;
  return 0;
}

/* GET with Range into BUF (of at least LENGTH bytes). */
static int
do_get_into (struct worker *w, const struct item *it, char *buf)
{
  char range[64];
  char *saved = w->buf;
  int r;

  snprintf (range, sizeof range, "%" PRIu64 "-%" PRIu64, it->offset,
            it->offset + it->length - 1);
  curl_easy_setopt (w->curl, CURLOPT_CUSTOMREQUEST, NULL);
  curl_easy_setopt (w->curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (w->curl, CURLOPT_RANGE, range);
  w->buf = buf;
  w->want = it->length;
  w->got = 0;
  r = perform (w, "GET", it, 206);
  curl_easy_setopt (w->curl, CURLOPT_RANGE, NULL);
  w->buf = saved;
  if (r == 0 && w->got != it->length)
    {
      fail_item ("GET", it, "short body");
      r = -1;
    }
  return r;
}

static int
do_get (struct worker *w, const struct item *it)
{
  if (do_get_into (w, it, w->buf) == -1)
    return -1;
  if (!opt_null_output
      && pwrite (file_fd, w->buf, it->length, it->offset)
             != (ssize_t)it->length)
    {
      fail_item ("write output", it, strerror (errno));
      return -1;
    }
  w->data_bytes += it->length;
  return 0;
}

static void *
worker_run (void *opaque)
{
  struct worker *w = opaque;
  struct item it;
  bool wrote = false;

  while (queue_take (&it))
    {
      int r;

      if (!opt_upload)
        r = do_get (w, &it);
      else if (it.zero)
        r = do_zero (w, &it);
      else
        r = do_put (w, &it);
      if (r == -1)
        {
          queue_fail ();
          return NULL;
        }
      wrote = true;
    }
  /* Flush is per connection: every connection that wrote flushes its own
   * backend, as the plugin does on NBD flush.
   */
  if (opt_upload && wrote
      && do_patch (w, "PATCH flush", NULL, "{\"op\": \"flush\"}") == -1)
    queue_fail ();
  return NULL;
}

/* Appends [OFFSET, OFFSET+LENGTH) to the work list in pieces of at most
 * MAX bytes.
 */
static void
add_items (uint64_t offset, uint64_t length, bool zero, uint64_t max)
{
  static size_t cap;

  while (length > 0)
    {
      uint64_t n = length < max ? length : max;

      if (nr_items == cap)
        {
          cap = cap ? cap * 2 : 1024;
          items = realloc (items, cap * sizeof *items);
          if (items == NULL)
            {
              perror ("realloc");
              exit (EXIT_FAILURE);
            }
        }
      items[nr_items++] = (struct item){ offset, n, zero };
      offset += n;
      length -= n;
    }
}

/* Upload work: the data and hole extents of the source file. */
static void
plan_upload (uint64_t size)
{
  uint64_t pos = 0;

  while (pos < size)
    {
      off_t data = lseek (file_fd, pos, SEEK_DATA);
      off_t hole;

      if (data == -1 && errno != ENXIO)
        data = pos; /* no SEEK_DATA here: treat the rest as data */
      else if (data == -1 || (uint64_t)data >= size)
        data = size; /* ENXIO: only a hole is left */
      if ((uint64_t)data > pos)
        add_items (pos, data - pos, true, ZERO_MAX);
      if ((uint64_t)data >= size)
        break;
      hole = lseek (file_fd, data, SEEK_HOLE);
      if (hole == -1 || (uint64_t)hole > size)
        hole = size;
      add_items (data, hole - data, false, opt_request_size);
      pos = hole;
    }
}

/* A GET of the first byte tells the image size (Content-Range: .../SIZE). */
static struct
{
  uint64_t size;
  bool found;
} probe;

static size_t
on_probe_header (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  size_t n = size * nmemb;
  char line[256];
  const char *slash;
  (void)opaque;

  if (n >= sizeof line)
    return n;
  memcpy (line, ptr, n);
  line[n] = '\0';
  if (strncasecmp (line, "content-range:", 14) == 0
      && (slash = strchr (line, '/')) != NULL)
    {
      char *end;
      unsigned long long v;

      errno = 0;
      v = strtoull (slash + 1, &end, 10);
      if (errno == 0 && end != slash + 1)
        {
          probe.size = v;
          probe.found = true;
        }
    }
  return n;
}

static int
probe_size (struct worker *w, uint64_t *size)
{
  char byte[1];
  struct item it = { 0, 1, false };
  int r;

  curl_easy_setopt (w->curl, CURLOPT_HEADERFUNCTION, on_probe_header);
  r = do_get_into (w, &it, byte);
  curl_easy_setopt (w->curl, CURLOPT_HEADERFUNCTION, NULL);
  if (r == -1)
    return -1;
  if (!probe.found)
    {
      fail_item ("GET", &it, "no size in Content-Range");
      return -1;
    }
  *size = probe.size;
  return 0;
}

/* Growable buffer for the extents document. */
struct doc
{
  char *p;
  size_t len, cap;
};

static size_t
on_doc (char *ptr, size_t size, size_t nmemb, void *opaque)
{
  struct doc *d = opaque;
  size_t n = size * nmemb;

  if (d->len + n + 1 > d->cap)
    {
      size_t cap = (d->len + n + 1) * 2;
      char *p = realloc (d->p, cap);
      if (p == NULL)
        return 0;
      d->p = p;
      d->cap = cap;
    }
  memcpy (d->p + d->len, ptr, n);
  d->len += n;
  d->p[d->len] = '\0';
  return n;
}

/* Download work from GET /extents: the data extents only, clipped to the
 * image size.  The document is small for the images we benchmark; a
 * tree parse is enough for a baseline.
 */
static int
plan_download_extents (struct worker *w, uint64_t size)
{
  struct doc d = { NULL, 0, 0 };
  char url[4096], errbuf[256];
  const char *q;
  CURLcode r;
  long code = 0;
  yajl_val root;
  size_t i;
  int ret = -1;

  q = strchr (opt_url, '?');
  snprintf (url, sizeof url, "%.*s/extents",
            (int)(q ? (size_t)(q - opt_url) : strlen (opt_url)), opt_url);
  curl_easy_setopt (w->curl, CURLOPT_URL, url);
  curl_easy_setopt (w->curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (w->curl, CURLOPT_WRITEFUNCTION, on_doc);
  curl_easy_setopt (w->curl, CURLOPT_WRITEDATA, &d);
  r = curl_easy_perform (w->curl);
  curl_easy_getinfo (w->curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_setopt (w->curl, CURLOPT_URL, opt_url);
  curl_easy_setopt (w->curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (w->curl, CURLOPT_WRITEDATA, w);
  if (r != CURLE_OK || code != 200 || d.p == NULL)
    {
      snprintf (errbuf, sizeof errbuf, "%s, status %ld", curl_easy_strerror (r),
                code);
      fail_item ("GET extents", NULL, errbuf);
      free (d.p);
      return -1;
    }
  root = yajl_tree_parse (d.p, errbuf, sizeof errbuf);
  free (d.p);
  if (root == NULL || !YAJL_IS_ARRAY (root))
    {
      fail_item ("GET extents", NULL, root ? "not a JSON array" : errbuf);
      goto out;
    }
  for (i = 0; i < YAJL_GET_ARRAY (root)->len; i++)
    {
      yajl_val e = YAJL_GET_ARRAY (root)->values[i];
      const char *ks[] = { "start", NULL }, *kl[] = { "length", NULL },
                 *kz[] = { "zero", NULL };
      yajl_val s = yajl_tree_get (e, ks, yajl_t_number);
      yajl_val l = yajl_tree_get (e, kl, yajl_t_number);
      yajl_val z = yajl_tree_get (e, kz, yajl_t_any);
      long long start, len;

      if (s == NULL || l == NULL || z == NULL || !YAJL_IS_INTEGER (s)
          || !YAJL_IS_INTEGER (l))
        {
          fail_item ("GET extents", NULL, "bad extent");
          goto out;
        }
      start = YAJL_GET_INTEGER (s);
      len = YAJL_GET_INTEGER (l);
      if (start < 0 || len < 0 || (uint64_t)start >= size)
        continue;
      if ((uint64_t)(start + len) > size)
        len = size - start;
      if (!YAJL_IS_TRUE (z))
        add_items (start, len, false, opt_request_size);
    }
  ret = 0;
out:
  yajl_tree_free (root);
  return ret;
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage (FILE *f)
{
  fprintf (f, "usage: direct-client [--unix PATH|@NAME] --url URL [--cafile F] "
              "[--insecure]\n"
              "       [--connections N] [--request-size N] [--extents] "
              "[--timeout S]\n"
              "       upload|download FILE    (download FILE may be null:)\n");
}

static uint64_t
parse_size (const char *s, const char *what)
{
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull (s, &end, 0);
  if (errno == 0 && *end != '\0')
    {
      switch (*end)
        {
        case 'k':
        case 'K':
          v <<= 10;
          end++;
          break;
        case 'm':
        case 'M':
          v <<= 20;
          end++;
          break;
        default:
          break;
        }
    }
  if (errno != 0 || end == s || *end != '\0' || v == 0)
    {
      fprintf (stderr, "direct-client: bad %s '%s'\n", what, s);
      exit (EXIT_FAILURE);
    }
  return v;
}

int
main (int argc, char *argv[])
{
  enum
  {
    OPT_UNIX = 256,
    OPT_URL,
    OPT_CAFILE,
    OPT_INSECURE,
    OPT_CONN,
    OPT_REQ,
    OPT_EXTENTS,
    OPT_TIMEOUT
  };
  static const struct option longopts[] = {
    { "unix", required_argument, NULL, OPT_UNIX },
    { "url", required_argument, NULL, OPT_URL },
    { "cafile", required_argument, NULL, OPT_CAFILE },
    { "insecure", no_argument, NULL, OPT_INSECURE },
    { "connections", required_argument, NULL, OPT_CONN },
    { "request-size", required_argument, NULL, OPT_REQ },
    { "extents", no_argument, NULL, OPT_EXTENTS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct worker *w;
  const char *file;
  uint64_t size, data = 0, zero = 0, reqs = 0;
  long connects = 0;
  struct rusage ru;
  double t0, t1, secs;
  unsigned i;
  int c;

  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case OPT_UNIX:
        opt_unix = optarg;
        break;
      case OPT_URL:
        opt_url = optarg;
        break;
      case OPT_CAFILE:
        opt_cafile = optarg;
        break;
      case OPT_INSECURE:
        opt_insecure = true;
        break;
      case OPT_CONN:
        opt_connections = parse_size (optarg, "--connections");
        if (opt_connections > 64)
          opt_connections = 64;
        break;
      case OPT_REQ:
        opt_request_size = parse_size (optarg, "--request-size");
        if (opt_request_size > 64 * 1024 * 1024)
          {
            fprintf (stderr, "direct-client: --request-size too big\n");
            exit (EXIT_FAILURE);
          }
        break;
      case OPT_EXTENTS:
        opt_extents = true;
        break;
      case OPT_TIMEOUT:
        opt_timeout = parse_size (optarg, "--timeout");
        break;
      case 'h':
        usage (stdout);
        exit (EXIT_SUCCESS);
      default:
        usage (stderr);
        exit (EXIT_FAILURE);
      }
  if (argc - optind != 2 || opt_url == NULL)
    {
      usage (stderr);
      exit (EXIT_FAILURE);
    }
  if (strcmp (argv[optind], "upload") == 0)
    opt_upload = true;
  else if (strcmp (argv[optind], "download") != 0)
    {
      usage (stderr);
      exit (EXIT_FAILURE);
    }
  file = argv[optind + 1];

  if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
    {
      fprintf (stderr, "direct-client: curl_global_init failed\n");
      exit (EXIT_FAILURE);
    }

  w = calloc (opt_connections, sizeof *w);
  if (w == NULL)
    {
      perror ("calloc");
      exit (EXIT_FAILURE);
    }
  for (i = 0; i < opt_connections; i++)
    {
      w[i].buf = malloc (opt_request_size);
      if (w[i].buf == NULL || setup_handle (&w[i]) == -1)
        {
          fprintf (stderr, "direct-client: out of memory\n");
          exit (EXIT_FAILURE);
        }
    }

  /* The clock starts before the first request, as nbdcopy's does before
   * it connects: connecting, probing and planning are part of the run.
   */
  t0 = now ();
  if (opt_upload)
    {
      struct stat st;

      file_fd = open (file, O_RDONLY | O_CLOEXEC);
      if (file_fd == -1 || fstat (file_fd, &st) == -1)
        {
          perror (file);
          exit (EXIT_FAILURE);
        }
      size = st.st_size;
      plan_upload (size);
    }
  else
    {
      if (probe_size (&w[0], &size) == -1)
        exit (EXIT_FAILURE);
      if (strcmp (file, "null:") == 0)
        opt_null_output = true;
      else
        {
          file_fd = open (file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (file_fd == -1 || ftruncate (file_fd, size) == -1)
            {
              perror (file);
              exit (EXIT_FAILURE);
            }
        }
      if (opt_extents)
        {
          if (plan_download_extents (&w[0], size) == -1)
            exit (EXIT_FAILURE);
        }
      else
        add_items (0, size, false, opt_request_size);
    }

  for (i = 0; i < opt_connections; i++)
    if (pthread_create (&w[i].tid, NULL, worker_run, &w[i]) != 0)
      {
        fprintf (stderr, "direct-client: pthread_create failed\n");
        exit (EXIT_FAILURE);
      }
  for (i = 0; i < opt_connections; i++)
    pthread_join (w[i].tid, NULL);
  t1 = now ();

  if (file_fd != -1 && close (file_fd) == -1)
    {
      perror (file);
      failed = true;
    }
  for (i = 0; i < opt_connections; i++)
    {
      data += w[i].data_bytes;
      zero += w[i].zero_bytes;
      reqs += w[i].requests;
      connects += w[i].connects;
      curl_easy_cleanup (w[i].curl);
      free (w[i].buf);
    }
  free (w);
  free (items);
  curl_global_cleanup ();
  if (failed)
    exit (EXIT_FAILURE);

  getrusage (RUSAGE_SELF, &ru);
  secs = t1 - t0;
  printf ("direct-client: op=%s bytes=%" PRIu64 " data_bytes=%" PRIu64
          " zero_bytes=%" PRIu64 " requests=%" PRIu64
          " connections_opened=%ld seconds=%.3f MBps=%.1f MiBps=%.1f"
          " cpu_user=%.3f cpu_sys=%.3f\n",
          opt_upload ? "upload" : "download", size, data, zero, reqs, connects,
          secs, size / secs / 1e6, size / secs / 1048576.0,
          ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
          ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  return EXIT_SUCCESS;
}
