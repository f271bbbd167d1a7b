/* imageio-server: a small imageio-compatible server (the plugin's test
 * peer).  This file owns the command line, the listening sockets, the
 * readiness files and the signals: it binds every listener, starts one
 * libmicrohttpd daemon on each, writes --port-file and --pid-file once all
 * accept connections, then waits for SIGTERM/SIGINT and stops cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "faults.h"
#include "http.h"
#include "log.h"
#include "tickets.h"

#define MAX_FILE (1024 * 1024)

/* Settings from the command line, read-only once the daemons start. */
static struct
{
  const char *tcp;
  const char *tls_cert, *tls_key;
  bool no_tls;
  const char *port_file, *pid_file;
  const char *unix_name;
  const char *control;
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
          "  --control PATH         control service on a Unix socket: "
          "PUT/GET/PATCH/\n"
          "                         DELETE /tickets/ID\n"
          "  --ticket FILE.json     add a ticket at start (repeatable), the "
          "JSON of\n"
          "                         PUT /tickets/ID\n"
          "  --pid-file FILE        write the pid once every listener "
          "accepts\n"
          "  --fault SPEC           fault injection for tests (repeatable), "
          "see below\n"
          "  -v, --verbose          log every connection and request to "
          "stderr\n"
          "  -h, --help             show this help\n"
          "\n"
          "At least one of --tcp and --unix is required.  SIGTERM or SIGINT "
          "stops the\n"
          "server.  Ticket ids are never printed whole.\n"
          "\n");
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
  if (t == NULL)
    {
      log_msg ("%s: %s", path, err);
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
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen (fd, 128) == 0)
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
 * name "\0NAME".  A stale socket file at the path is replaced.
 */
static int
bind_unix (const char *name, const char *what)
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
  if (fd == -1 || bind (fd, (struct sockaddr *)&sun, addrlen) == -1
      || listen (fd, 128) == -1)
    {
      log_msg ("%s %s: %s", what, name, strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
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
  { "verbose", no_argument, NULL, 'v' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

int
main (int argc, char *argv[])
{
  struct listener tcp = { .fd = -1 }, local = { .transport = "unix", .fd = -1 },
                  control
                  = { .transport = "control", .control = true, .fd = -1 };
  char *cert = NULL, *key = NULL;
  char buf[64];
  sigset_t sigs;
  int c, sig, port = 0, status = EXIT_FAILURE;
  bool tickets_bad = false;

  while ((c = getopt_long (argc, argv, "vh", long_options, NULL)) != -1)
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
        if (add_ticket_file (optarg) == -1)
          tickets_bad = true;
        break;
      case OPT_FAULT:
        if (faults_parse (optarg) == -1)
          exit (EXIT_FAILURE);
        break;
      case 'v':
        log_verbose = 1;
        break;
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
      goto out;
    }
  if (tickets_bad)
    goto out;
  if (opt.tcp == NULL && opt.unix_name == NULL)
    {
      log_msg ("at least one of --tcp and --unix is required (see --help)");
      goto out;
    }
  if (opt.tcp && !opt.no_tls && (opt.tls_cert == NULL || opt.tls_key == NULL))
    {
      log_msg ("--tcp needs --tls-cert and --tls-key, or --no-tls");
      goto out;
    }
  if (opt.tcp && !opt.no_tls)
    {
      cert = read_file (opt.tls_cert, NULL);
      key = read_file (opt.tls_key, NULL);
      if (cert == NULL || key == NULL)
        goto out;
    }

  /* Signals go to the main thread only: block them before any thread
   * starts, then wait for them below.
   */
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL);

  if (opt.tcp)
    {
      tcp.transport = opt.no_tls ? "tcp" : "tls";
      tcp.fd = bind_tcp (opt.tcp, &port);
      if (tcp.fd == -1 || http_start (&tcp, key, cert) == -1)
        goto out;
    }
  if (opt.unix_name)
    {
      local.fd = bind_unix (opt.unix_name, "--unix");
      if (local.fd == -1 || http_start (&local, NULL, NULL) == -1)
        goto out;
      if (opt.unix_name[0] == '@')
        {
          /* OPTIONS shows the abstract name with its leading NUL. */
          char name[110] = "";

          snprintf (name + 1, sizeof name - 1, "%s", opt.unix_name + 1);
          images_set_unix_socket (name, strlen (opt.unix_name));
        }
      else
        images_set_unix_socket (opt.unix_name, strlen (opt.unix_name));
    }
  if (opt.control)
    {
      control.fd = bind_unix (opt.control, "--control");
      if (control.fd == -1 || http_start (&control, NULL, NULL) == -1)
        goto out;
    }

  /* Every listener accepts connections now: tell whoever waits. */
  if (opt.port_file)
    {
      snprintf (buf, sizeof buf, "%d\n", port);
      if (write_file_atomic (opt.port_file, buf) == -1)
        goto out;
    }
  if (opt.pid_file)
    {
      snprintf (buf, sizeof buf, "%d\n", (int)getpid ());
      if (write_file_atomic (opt.pid_file, buf) == -1)
        goto out;
    }
  log_debug ("ready%s%s%s%s%s%s", opt.tcp ? " tcp=" : "",
             opt.tcp ? opt.tcp : "", opt.unix_name ? " unix=" : "",
             opt.unix_name ? opt.unix_name : "", opt.control ? " control=" : "",
             opt.control ? opt.control : "");

  do
    {
      if (sigwait (&sigs, &sig) != 0)
        break;
    }
  while (sig != SIGINT && sig != SIGTERM);
  log_debug ("stopping (signal %d)", sig);
  status = EXIT_SUCCESS;

out:
  /* MHD_stop_daemon closes the listening socket it was given. */
  http_stop (&control);
  http_stop (&local);
  http_stop (&tcp);
  if (opt.control && control.fd >= 0)
    unlink (opt.control);
  if (opt.unix_name && opt.unix_name[0] != '@' && local.fd >= 0)
    unlink (opt.unix_name);
  tickets_clear ();
  free (cert);
  free (key);
  exit (status);
}
