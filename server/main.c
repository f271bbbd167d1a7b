/* SPDX-License-Identifier: BSD-3-Clause */
/* imageio-server: a small imageio-compatible server (the plugin's test
 * peer).  This file owns the command line, the listening sockets, the
 * readiness files and the signals: it binds every listener, starts one
 * libmicrohttpd daemon on each, writes --port-file and --pid-file once all
 * accept connections, then waits for SIGTERM, SIGINT or SIGHUP and stops
 * cleanly, removing its Unix sockets.  What it allows whom is in
 * docs/imageio-server-security.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "minmax.h"
#include "access.h"
#include "conn-limits.h"
#include "control.h"
#include "faults.h"
#include "http.h"
#include "images.h"
#include "log.h"
#include "parse-uint.h"
#include "tickets.h"
#include "unix-path.h"
#include "work.h"

#define MAX_FILE (1024 * 1024)
#define MAX_TICKET_FILES 64
/* Listen backlog: deep enough that a burst of connections (refused or
 * not) does not delay a client's handshake.
 */
#define BACKLOG 1024
/* At a stop signal, how long open connections get to close before the
 * listeners stop regardless (cancelled work ends within a second).
 */
#define STOP_GRACE_SECONDS 2

/* Settings from the command line, read-only once the daemons start. */
static struct
{
  const char *tcp;
  const char *tls_cert, *tls_key;
  bool no_tls;
  const char *port_file, *pid_file;
  const char *unix_name;
  const char *control;
  const char *ticket_files[MAX_TICKET_FILES];
  size_t nr_ticket_files;
} opt;

static void
usage (void)
{
  printf ("Usage: imageio-server [options]\n"
          "A small ovirt-imageio compatible server (Images API and control "
          "service).\n"
          "\n"
          "  --tcp HOST:PORT        remote service, HTTPS unless --no-tls "
          "(IPv6 as\n"
          "                         [::1]:PORT; PORT 0 picks a free port)\n"
          "  --tls-cert FILE        certificate chain (PEM) for --tcp\n"
          "  --tls-key FILE         private key (PEM) for --tcp\n"
          "  --no-tls               plain HTTP on --tcp\n"
          "  --port-file FILE       write the bound TCP port once ready\n"
          "  --unix PATH|@NAME      local service, plain HTTP on a Unix "
          "socket;\n"
          "                         @NAME is the abstract socket \"\\0NAME\" "
          "(oVirt uses\n"
          "                         @/org/ovirt/imageio)\n"
          "  --control PATH         control service on a Unix socket "
          "(a path, made\n"
          "                         mode 0600): PUT/GET/PATCH/DELETE "
          "/tickets/ID\n"
          "  --control-uid UID      let UID use the control service too "
          "(repeatable;\n"
          "                         the server's own uid always may)\n"
          "  --ticket FILE.json     add a ticket at start (repeatable), the "
          "JSON of\n"
          "                         PUT /tickets/ID\n"
          "  --file-root DIR        tickets may name files under DIR "
          "(repeatable);\n"
          "                         without it no file:// ticket is "
          "accepted\n"
          "  --nbd-root DIR         tickets may name NBD sockets under DIR "
          "(repeatable);\n"
          "                         without it no nbd:unix: ticket is "
          "accepted\n"
          "  --max-connections N    connections on each listener "
          "(default %d)\n"
          "  --max-per-ip N         TCP connections from one address "
          "(default %d)\n"
          "  --head-timeout S       seconds to complete the TLS handshake "
          "and a request\n"
          "                         head (default %d)\n"
          "  --idle-timeout S       idle seconds allowed before a "
          "connection names a\n"
          "                         valid ticket (default %d; then the "
          "ticket's\n"
          "                         inactivity_timeout applies)\n"
          "  --put-memory MIB       MiB for all PUT buffers together "
          "(default %d);\n"
          "                         past it uploads are written "
          "unbuffered\n"
          "  --max-checksums N      checksums computed at once (default "
          "%d; at most %d\n"
          "                         per ticket); more are answered 503\n"
          "  --pid-file FILE        write the pid once every listener "
          "accepts\n"
          "  --fault SPEC           fault injection for tests (repeatable), "
          "see below\n"
          "  -v, --verbose          log every connection and request to "
          "stderr\n"
          "  -V, --version          print the version and exit\n"
          "  -h, --help             show this help\n"
          "\n"
          "At least one of --tcp and --unix is required.  SIGTERM, SIGINT "
          "or SIGHUP\n"
          "stops the server.  TLS 1.2 or later only.  Ticket ids are never "
          "printed\n"
          "whole.  See imageio-server(8) and imageio-server-security.md\n"
          "(/usr/share/doc/imageio-server/ once installed, docs/ in the "
          "source).\n"
          "\n",
          LIMITS_DEFAULT_MAX_CONNECTIONS, LIMITS_DEFAULT_MAX_PER_IP,
          LIMITS_DEFAULT_HEAD_TIMEOUT, LIMITS_DEFAULT_IDLE_TIMEOUT,
          LIMITS_DEFAULT_PUT_MEMORY_MIB, WORK_DEFAULT_MAX_CHECKSUMS,
          WORK_CHECKSUMS_PER_TICKET);
  faults_usage ();
}

/* Reads a whole (small) file into a NUL-terminated buffer. */
static char *
read_file (const char *path, size_t *lenp)
{
  FILE *fp = fopen (path, "re");
  char *buf = NULL;
  size_t len;

  if (fp == NULL)
    goto err;
  buf = malloc (MAX_FILE + 1);
  if (buf == NULL)
    goto err;
  len = fread (buf, 1, MAX_FILE + 1, fp);
  if (ferror (fp) || len > MAX_FILE)
    {
      errno = ferror (fp) ? EIO : EFBIG;
      goto err;
    }
  fclose (fp);
  buf[len] = '\0';
  if (lenp)
    *lenp = len;
  return buf;

err:
  log_msg ("%s: %s", path, strerror (errno));
  free (buf);
  if (fp)
    fclose (fp);
  return NULL;
}

static int
add_ticket_file (const char *path)
{
  char err[256];
  size_t len;
  char *json = read_file (path, &len);
  struct ticket *t;

  if (json == NULL)
    return -1;
  t = ticket_parse (json, len, NULL, err, sizeof err);
  free (json);
  if (t == NULL || access_check_url (t->url, err, sizeof err) == -1)
    {
      log_msg ("%s: %s", path, err);
      if (t)
        ticket_unref (t);
      return -1;
    }
  tickets_add (t);
  return 0;
}

/* Writes CONTENT to PATH atomically (a temporary file renamed over it), so
 * a reader never sees a partial file.
 */
static int
write_file_atomic (const char *path, const char *content)
{
  size_t n = strlen (path) + 16;
  char *tmp = malloc (n);
  int fd = -1;

  if (tmp == NULL)
    goto err;
  snprintf (tmp, n, "%s.XXXXXX", path);
  fd = mkstemp (tmp);
  if (fd == -1)
    goto err;
  if (write (fd, content, strlen (content)) != (ssize_t)strlen (content)
      || fchmod (fd, 0644) == -1 || close (fd) == -1)
    {
      fd = -1;
      unlink (tmp);
      goto err;
    }
  fd = -1;
  if (rename (tmp, path) == -1)
    {
      unlink (tmp);
      goto err;
    }
  free (tmp);
  return 0;

err:
  log_msg ("%s: %s", path, strerror (errno));
  if (fd >= 0)
    close (fd);
  free (tmp);
  return -1;
}

/* Binds and listens on HOST:PORT ("[v6]:PORT" for IPv6).  Returns the
 * socket and sets *PORT to the bound port, or -1.
 */
static int
bind_tcp (const char *spec, int *port)
{
  struct addrinfo hints
      = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
  struct addrinfo *res = NULL, *ai;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  char host[256];
  const char *colon, *portstr;
  int fd = -1, r, one = 1;

  if (spec[0] == '[')
    {
      const char *end = strchr (spec, ']');

      if (end == NULL || end[1] != ':' || (size_t)(end - spec) > sizeof host)
        goto bad;
      snprintf (host, sizeof host, "%.*s", (int)(end - spec - 1), spec + 1);
      portstr = end + 2;
    }
  else
    {
      colon = strrchr (spec, ':');
      if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
        goto bad;
      snprintf (host, sizeof host, "%.*s", (int)(colon - spec), spec);
      portstr = colon + 1;
    }
  if (*portstr == '\0')
    goto bad;
  r = getaddrinfo (host[0] ? host : NULL, portstr, &hints, &res);
  if (r != 0)
    {
      log_msg ("--tcp %s: %s", spec, gai_strerror (r));
      return -1;
    }
  for (ai = res; ai; ai = ai->ai_next)
    {
      fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                   ai->ai_protocol);
      if (fd == -1)
        continue;
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ai->ai_family == AF_INET6)
        setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0
          && listen (fd, BACKLOG) == 0)
        break;
      close (fd);
      fd = -1;
    }
  if (fd == -1)
    {
      log_msg ("--tcp %s: %s", spec, strerror (errno));
      freeaddrinfo (res);
      return -1;
    }
  freeaddrinfo (res);
  if (getsockname (fd, (struct sockaddr *)&ss, &sslen) == -1)
    {
      log_msg ("getsockname: %s", strerror (errno));
      close (fd);
      return -1;
    }
  *port = ntohs (ss.ss_family == AF_INET6
                     ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;

bad:
  log_msg ("--tcp %s: expecting HOST:PORT or [ADDR]:PORT", spec);
  return -1;
}

/* Binds and listens on a Unix socket: a path, or "@NAME" for the abstract
 * name "\0NAME".  A stale socket file at the path is replaced.  A path
 * socket is created with mode MODE whatever the umask (the umask is the
 * process's, and no other thread runs yet), or as the umask says when MODE
 * is 0.
 */
static int
bind_unix (const char *name, const char *what, mode_t mode)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  bool abstract = name[0] == '@';
  size_t len = strlen (name);
  socklen_t addrlen;
  struct stat st;
  int fd;

  if (len == 0 || len >= sizeof sun.sun_path)
    {
      log_msg ("%s %s: name too long", what, name);
      return -1;
    }
  if (abstract)
    {
      sun.sun_path[0] = '\0';
      memcpy (sun.sun_path + 1, name + 1, len - 1);
    }
  else
    {
      memcpy (sun.sun_path, name, len);
      if (lstat (name, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (name);
    }
  addrlen = offsetof (struct sockaddr_un, sun_path) + len;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    {
      mode_t old = mode ? umask (~mode & 0777) : 0;
      int r = bind (fd, (struct sockaddr *)&sun, addrlen);

      if (mode)
        umask (old);
      if (r == -1)
        {
          close (fd);
          fd = -1;
        }
    }
  if (fd == -1 || listen (fd, BACKLOG) == -1)
    {
      log_msg ("%s %s: %s", what, name, strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

/* Appends " NAME=ADDRESS" for the socket FD as bound: HOST:PORT or
 * [HOST]:PORT with the real port, a Unix path, or @NAME when abstract.
 */
static void
append_address (char *buf, size_t bufsz, const char *name, int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?", addr[160];
  size_t n = strlen (buf);

  if (n >= bufsz)
    return;
  memset (&ss, 0, sizeof ss);
  if (getsockname (fd, (struct sockaddr *)&ss, &len) == -1)
    snprintf (addr, sizeof addr, "?");
  else if (ss.ss_family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

      inet_ntop (AF_INET, &sin->sin_addr, host, sizeof host);
      snprintf (addr, sizeof addr, "%s:%d", host, ntohs (sin->sin_port));
    }
  else if (ss.ss_family == AF_INET6)
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

      inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof host);
      snprintf (addr, sizeof addr, "[%s]:%d", host, ntohs (sin6->sin6_port));
    }
  else if (ss.ss_family == AF_UNIX)
    {
      struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
      size_t pathlen = len > offsetof (struct sockaddr_un, sun_path)
                           ? len - offsetof (struct sockaddr_un, sun_path)
                           : 0;

      if (pathlen > 0 && sun->sun_path[0] == '\0')
        snprintf (addr, sizeof addr, "@%.*s", (int)(pathlen - 1),
                  sun->sun_path + 1);
      else
        snprintf (addr, sizeof addr, "%.*s",
                  (int)strnlen (sun->sun_path, pathlen), sun->sun_path);
    }
  else
    snprintf (addr, sizeof addr, "?");
  snprintf (buf + n, bufsz - n, " %s=%s", name, addr);
}

enum
{
  OPT_TCP = 256,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_NO_TLS,
  OPT_PORT_FILE,
  OPT_UNIX,
  OPT_CONTROL,
  OPT_TICKET,
  OPT_PID_FILE,
  OPT_FAULT,
  OPT_CONTROL_UID,
  OPT_FILE_ROOT,
  OPT_NBD_ROOT,
  OPT_MAX_CONNECTIONS,
  OPT_MAX_PER_IP,
  OPT_HEAD_TIMEOUT,
  OPT_IDLE_TIMEOUT,
  OPT_PUT_MEMORY,
  OPT_MAX_CHECKSUMS,
};

static const struct option long_options[] = {
  { "tcp", required_argument, NULL, OPT_TCP },
  { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
  { "tls-key", required_argument, NULL, OPT_TLS_KEY },
  { "no-tls", no_argument, NULL, OPT_NO_TLS },
  { "port-file", required_argument, NULL, OPT_PORT_FILE },
  { "unix", required_argument, NULL, OPT_UNIX },
  { "control", required_argument, NULL, OPT_CONTROL },
  { "ticket", required_argument, NULL, OPT_TICKET },
  { "pid-file", required_argument, NULL, OPT_PID_FILE },
  { "fault", required_argument, NULL, OPT_FAULT },
  { "control-uid", required_argument, NULL, OPT_CONTROL_UID },
  { "file-root", required_argument, NULL, OPT_FILE_ROOT },
  { "nbd-root", required_argument, NULL, OPT_NBD_ROOT },
  { "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
  { "max-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
  { "head-timeout", required_argument, NULL, OPT_HEAD_TIMEOUT },
  { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
  { "put-memory", required_argument, NULL, OPT_PUT_MEMORY },
  { "max-checksums", required_argument, NULL, OPT_MAX_CHECKSUMS },
  { "verbose", no_argument, NULL, 'v' },
  { "version", no_argument, NULL, 'V' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* Parses a whole number in MIN..MAX for option NAME.  Returns 0 or -1. */
static int
parse_uint (const char *name, const char *arg, unsigned long min,
            unsigned long max, unsigned long *out)
{
  uint64_t v;

  if (parse_uint64 (arg, strlen (arg), max, &v) != 0 || v < min)
    {
      log_msg ("--%s %s: expecting a number in %lu..%lu", name, arg, min, max);
      return -1;
    }
  *out = v;
  return 0;
}

/* Raises the open-file limit so that every allowed connection can have its
 * socket and its backend's descriptor, or lowers --max-connections.
 */
static void
fit_fd_limit (struct limits *lim)
{
  struct rlimit rl;
  /* Three listeners, each its pool and the connections cut to make room
   * (limits_hard_max) until they close, with a backend each.
   */
  rlim_t want = (rlim_t)(lim->max_connections * 3 / 2 + 16) * 3 * 2 + 64;

  if (getrlimit (RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
    return;
  rl.rlim_cur = MIN (rl.rlim_max, want);
  setrlimit (RLIMIT_NOFILE, &rl);
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
    {
      lim->max_connections
          = rl.rlim_cur > 400 ? ((rl.rlim_cur - 64) / 6 - 16) * 2 / 3 : 16;
      log_msg ("open-file limit %llu: --max-connections lowered to %u",
               (unsigned long long)rl.rlim_cur, lim->max_connections);
    }
}

/* The limits, from their defaults and the options. */
static struct limits lim = {
  .max_connections = LIMITS_DEFAULT_MAX_CONNECTIONS,
  .max_per_ip = LIMITS_DEFAULT_MAX_PER_IP,
  .head_timeout = LIMITS_DEFAULT_HEAD_TIMEOUT,
  .idle_timeout = LIMITS_DEFAULT_IDLE_TIMEOUT,
  .put_memory = (size_t)LIMITS_DEFAULT_PUT_MEMORY_MIB * 1024 * 1024,
};

/* --control-uid, --file-root or --nbd-root: who may do what, where. */
static int
parse_access (int c, const char *arg)
{
  unsigned long v;

  switch (c)
    {
    case OPT_CONTROL_UID:
      if (parse_uint ("control-uid", arg, 0, (uid_t)-2, &v) == -1)
        return -1;
      access_allow_uid (v);
      return 0;
    case OPT_FILE_ROOT:
      return access_add_file_root (arg);
    default: /* OPT_NBD_ROOT */
      return access_add_nbd_root (arg);
    }
}

/* One of the --max-*, --*-timeout and --put-memory options into lim. */
static int
parse_limit (int c, const char *arg)
{
  unsigned long v;

  switch (c)
    {
    case OPT_MAX_CONNECTIONS:
      if (parse_uint ("max-connections", arg, 1, 65536, &v) == -1)
        return -1;
      lim.max_connections = v;
      return 0;
    case OPT_MAX_PER_IP:
      if (parse_uint ("max-per-ip", arg, 1, 65536, &v) == -1)
        return -1;
      lim.max_per_ip = v;
      return 0;
    case OPT_HEAD_TIMEOUT:
      if (parse_uint ("head-timeout", arg, 1, 3600, &v) == -1)
        return -1;
      lim.head_timeout = v;
      return 0;
    case OPT_IDLE_TIMEOUT:
      if (parse_uint ("idle-timeout", arg, 1, 3600, &v) == -1)
        return -1;
      lim.idle_timeout = v;
      return 0;
    case OPT_MAX_CHECKSUMS:
      if (parse_uint ("max-checksums", arg, 1, 1024, &v) == -1)
        return -1;
      work_max_checksums = v;
      return 0;
    default: /* OPT_PUT_MEMORY */
      if (parse_uint ("put-memory", arg, 0, 1024 * 1024, &v) == -1)
        return -1;
      lim.put_memory = (size_t)v * 1024 * 1024;
      return 0;
    }
}

/* Reads the options into opt and lim; exits on a bad one (or after
 * --help and --version).
 */
static void
parse_args (int argc, char *argv[])
{
  int c;

  while ((c = getopt_long (argc, argv, "vVh", long_options, NULL)) != -1)
    switch (c)
      {
      case OPT_TCP:
        opt.tcp = optarg;
        break;
      case OPT_TLS_CERT:
        opt.tls_cert = optarg;
        break;
      case OPT_TLS_KEY:
        opt.tls_key = optarg;
        break;
      case OPT_NO_TLS:
        opt.no_tls = true;
        break;
      case OPT_PORT_FILE:
        opt.port_file = optarg;
        break;
      case OPT_UNIX:
        opt.unix_name = optarg;
        break;
      case OPT_CONTROL:
        opt.control = optarg;
        break;
      case OPT_PID_FILE:
        opt.pid_file = optarg;
        break;
      case OPT_TICKET:
        /* Added once every --file-root and --nbd-root is known. */
        if (opt.nr_ticket_files == MAX_TICKET_FILES)
          {
            log_msg ("--ticket: at most %d files", MAX_TICKET_FILES);
            exit (EXIT_FAILURE);
          }
        opt.ticket_files[opt.nr_ticket_files++] = optarg;
        break;
      case OPT_CONTROL_UID:
      case OPT_FILE_ROOT:
      case OPT_NBD_ROOT:
        if (parse_access (c, optarg) == -1)
          exit (EXIT_FAILURE);
        break;
      case OPT_MAX_CONNECTIONS:
      case OPT_MAX_PER_IP:
      case OPT_HEAD_TIMEOUT:
      case OPT_IDLE_TIMEOUT:
      case OPT_PUT_MEMORY:
      case OPT_MAX_CHECKSUMS:
        if (parse_limit (c, optarg) == -1)
          exit (EXIT_FAILURE);
        break;
      case OPT_FAULT:
        if (faults_parse (optarg) == -1)
          exit (EXIT_FAILURE);
        break;
      case 'v':
        log_verbose = 1;
        break;
      case 'V':
        printf ("imageio-server %s\n", PACKAGE_VERSION);
        exit (EXIT_SUCCESS);
      case 'h':
        usage ();
        exit (EXIT_SUCCESS);
      default:
        fprintf (stderr, "Try 'imageio-server --help'.\n");
        exit (EXIT_FAILURE);
      }
  if (optind < argc)
    {
      log_msg ("unexpected argument '%s' (see --help)", argv[optind]);
      exit (EXIT_FAILURE);
    }
}

/* Checks what the options mean together, adds the tickets, reads the TLS
 * files.  Returns 0 or -1 (logged).
 */
static int
check_args (char **cert, char **key)
{
  bool bad = false;

  for (size_t i = 0; i < opt.nr_ticket_files; i++)
    if (add_ticket_file (opt.ticket_files[i]) == -1)
      bad = true;
  if (bad)
    return -1;
  if (opt.control && opt.control[0] == '@')
    {
      /* An abstract socket has no owner or mode: any local user could
       * connect to it.
       */
      log_msg ("--control %s: the control service needs a path, not an "
               "abstract name",
               opt.control);
      return -1;
    }
  fit_fd_limit (&lim);
  limits_configure (&lim);
  if (opt.tcp == NULL && opt.unix_name == NULL)
    {
      log_msg ("at least one of --tcp and --unix is required (see --help)");
      return -1;
    }
  if (opt.tcp && !opt.no_tls && (opt.tls_cert == NULL || opt.tls_key == NULL))
    {
      log_msg ("--tcp needs --tls-cert and --tls-key, or --no-tls");
      return -1;
    }
  if (opt.tcp && !opt.no_tls)
    {
      *cert = read_file (opt.tls_cert, NULL);
      *key = read_file (opt.tls_key, NULL);
      if (*cert == NULL || *key == NULL)
        return -1;
    }
  return 0;
}

/* The three listeners; fd -1 when not started. */
static struct listener tcp = { .fd = -1 };
static struct listener local = { .transport = "unix", .fd = -1 };
static struct listener control
    = { .transport = "control", .control = true, .fd = -1 };

/* Binds and starts every listener asked for; *PORT gets the TCP port
 * bound.  Returns 0 or -1 (logged).
 */
static int
start_listeners (const char *cert, const char *key, int *port)
{
  if (opt.tcp)
    {
      tcp.transport = opt.no_tls ? "tcp" : "tls";
      tcp.fd = bind_tcp (opt.tcp, port);
      if (tcp.fd == -1 || images_register (&tcp) == -1
          || http_start (&tcp, key, cert) == -1)
        return -1;
    }
  if (opt.unix_name)
    {
      /* Mode from the umask: the ticket is the key, as in oVirt. */
      local.fd = bind_unix (opt.unix_name, "--unix", 0);
      if (local.fd == -1 || images_register (&local) == -1
          || http_start (&local, NULL, NULL) == -1)
        return -1;
      if (opt.unix_name[0] == '@')
        {
          /* OPTIONS shows the abstract name with its leading NUL. */
          char name[UNIX_PATH_MAX] = "";

          snprintf (name + 1, sizeof name - 1, "%s", opt.unix_name + 1);
          images_set_unix_socket (name, strlen (opt.unix_name));
        }
      else
        images_set_unix_socket (opt.unix_name, strlen (opt.unix_name));
    }
  if (opt.control)
    {
      control.fd = bind_unix (opt.control, "--control", 0600);
      if (control.fd == -1 || control_register (&control) == -1
          || http_start (&control, NULL, NULL) == -1)
        return -1;
    }
  return 0;
}

/* Every listener accepts connections now: says where (with the bound port,
 * not the one asked for), then tells whoever waits (port and pid files).
 */
static int
announce (int port)
{
  char where[700] = "", buf[64];

  if (opt.tcp)
    append_address (where, sizeof where, tcp.transport, tcp.fd);
  if (opt.unix_name)
    append_address (where, sizeof where, "unix", local.fd);
  if (opt.control)
    append_address (where, sizeof where, "control", control.fd);
  log_msg ("ready (version %s):%s", PACKAGE_VERSION, where);
  if (opt.port_file)
    {
      snprintf (buf, sizeof buf, "%d\n", port);
      if (write_file_atomic (opt.port_file, buf) == -1)
        return -1;
    }
  if (opt.pid_file)
    {
      snprintf (buf, sizeof buf, "%d\n", (int)getpid ());
      if (write_file_atomic (opt.pid_file, buf) == -1)
        return -1;
    }
  return 0;
}

int
main (int argc, char *argv[])
{
  char *cert = NULL, *key = NULL;
  sigset_t sigs;
  int sig, port = 0, status = EXIT_FAILURE;

  parse_args (argc, argv);
  if (check_args (&cert, &key) == -1)
    goto out;

  /* Signals go to the main thread only: block them before any thread
   * starts, then wait for them below.
   */
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL);
  if (limits_start () == -1 || start_listeners (cert, key, &port) == -1
      || announce (port) == -1)
    goto out;

  do
    {
      if (sigwait (&sigs, &sig) != 0)
        break;
    }
  while (sig != SIGINT && sig != SIGTERM && sig != SIGHUP);
  log_debug ("stopping (signal %d)", sig);
  status = EXIT_SUCCESS;

out:
  /* Long requests stop now rather than when they would end. */
  work_cancel_all ();
  /* Connections end before the listeners stop (conn-limits.h says why). */
  if (!limits_close_all (STOP_GRACE_SECONDS))
    log_debug ("connections still open after %d s; stopping anyway",
               STOP_GRACE_SECONDS);
  /* MHD_stop_daemon closes the listening socket it was given. */
  http_stop (&control);
  http_stop (&local);
  http_stop (&tcp);
  limits_stop ();
  if (status == EXIT_SUCCESS)
    log_debug ("PUT buffers: at most %zu KiB of the %zu KiB budget at once",
               limits_put_peak () / 1024, lim.put_memory / 1024);
  if (opt.control && control.fd >= 0)
    unlink (opt.control);
  if (opt.unix_name && opt.unix_name[0] != '@' && local.fd >= 0)
    unlink (opt.unix_name);
  tickets_clear ();
  free (cert);
  free (key);
  exit (status);
}
