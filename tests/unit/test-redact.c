/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of common/redact.c: ticket ids and transfer URLs are shown with
 * at most REDACT_KEEP characters of the ticket.  Aborts on the first
 * failure, printing the case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

#define UUID "0123abcd-4567-89ef-0123-456789abcdef"

#include "check.h"

static void
ticket_is (const char *id, const char *want)
{
  char buf[REDACT_TICKET_BUFSZ];
  const char *got;

  memset (buf, 'X', sizeof buf);
  got = redact_ticket (id, buf);
  if (got != buf || strcmp (got, want) != 0)
    {
      fprintf (stderr, "redact_ticket (\"%s\"): expected \"%s\", got \"%s\"\n",
               id ? id : "(null)", want, got);
      abort ();
    }
}

static void
url_is (const char *url, size_t bufsz, const char *want)
{
  char buf[256];
  const char *got;

  CHECK (bufsz <= sizeof buf - 1);
  memset (buf, 'X', sizeof buf);
  got = redact_url (url, buf, bufsz);
  if (got != buf || strcmp (got, want) != 0)
    {
      fprintf (stderr,
               "redact_url (\"%s\", %zu): expected \"%s\", got \"%s\"\n",
               url ? url : "(null)", bufsz, want, got);
      abort ();
    }
  /* Nothing written past BUFSZ. */
  CHECK (buf[bufsz] == 'X');
}

static void
test_ticket (void)
{
  CHECK (REDACT_KEEP == 8);
  CHECK (REDACT_TICKET_BUFSZ >= REDACT_KEEP + 4);

  ticket_is (NULL, "");
  ticket_is ("", "");
  ticket_is ("a", "a");
  ticket_is ("abcdefg", "abcdefg");
  ticket_is ("abcdefgh", "abcdefgh");     /* exactly KEEP: nothing cut */
  ticket_is ("abcdefghi", "abcdefgh..."); /* KEEP + 1 */
  ticket_is (UUID, "0123abcd...");
  ticket_is (UUID UUID UUID, "0123abcd...");
}

static void
test_url (void)
{
  char buf[8];

  url_is ("https://localhost:54322/images/" UUID, 200,
          "https://localhost:54322/images/0123abcd...");
  url_is ("https://localhost:54322/images/" UUID "?flush=n", 200,
          "https://localhost:54322/images/0123abcd...?flush=n");
  url_is ("https://localhost:54322/images/" UUID "/extents?context=zero", 200,
          "https://localhost:54322/images/0123abcd.../extents?context=zero");
  url_is ("https://localhost:54322/images/" UUID "#frag", 200,
          "https://localhost:54322/images/0123abcd...#frag");
  url_is ("http+unix://%2Ftmp%2Fs/images/" UUID, 200,
          "http+unix://%2Ftmp%2Fs/images/0123abcd...");
  url_is ("/images/" UUID, 200, "/images/0123abcd...");
  url_is ("/tickets/" UUID, 200, "/tickets/0123abcd...");
  url_is ("http://localhost/tickets/" UUID "?x=1", 200,
          "http://localhost/tickets/0123abcd...?x=1");

  /* Any case of the prefix. */
  url_is ("/IMAGES/" UUID, 200, "/IMAGES/0123abcd...");
  url_is ("https://h/Images/" UUID "/extents", 200,
          "https://h/Images/0123abcd.../extents");
  url_is ("/TICKETS/" UUID, 200, "/TICKETS/0123abcd...");

  /* Short or empty ticket parts are shown as they are. */
  url_is ("https://h/images/abcdefgh", 200, "https://h/images/abcdefgh");
  url_is ("https://h/images/abcdefghi", 200, "https://h/images/abcdefgh...");
  url_is ("https://h/images/", 200, "https://h/images/");
  url_is ("https://h/images/?x", 200, "https://h/images/?x");
  url_is ("https://h/images/*", 200, "https://h/images/*");

  /* No ticket at all. */
  url_is ("nbd:unix:/tmp/sock:exportname=" UUID, 200,
          "nbd:unix:/tmp/sock:exportname=" UUID);
  url_is ("file:///var/tmp/disk.img", 200, "file:///var/tmp/disk.img");
  url_is ("", 200, "");
  url_is (NULL, 200, "");

  /* Truncation to BUFSZ never shows more of the ticket. */
  url_is ("https://h/images/" UUID, 20, "https://h/images/01");
  url_is ("https://h/images/" UUID, 28, "https://h/images/0123abcd..");
  url_is ("https://h/images/" UUID, 1, "");
  url_is ("/images/" UUID, 12, "/images/012");

  /* BUFSZ 0: nothing written. */
  memset (buf, 'X', sizeof buf);
  CHECK (redact_url ("https://h/images/" UUID, buf, 0) == buf);
  CHECK (buf[0] == 'X');
}

/* Whatever the input, the output never holds the whole ticket. */
static void
test_never_whole (void)
{
  const char *forms[] = {
    "https://h:54322/images/%s",
    "https://h:54322/images/%s?close=y",
    "https://h:54322/images/%s/extents",
    "/images/%s",
    "/tickets/%s",
    "unix:///images/%s",
  };
  char url[200], buf[200], tbuf[REDACT_TICKET_BUFSZ];

  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    {
      snprintf (url, sizeof url, forms[i], UUID);
      redact_url (url, buf, sizeof buf);
      if (strstr (buf, UUID) != NULL || strstr (buf, &UUID[8]) != NULL)
        {
          fprintf (stderr, "redact_url (\"%s\") leaks the ticket: \"%s\"\n",
                   url, buf);
          abort ();
        }
    }
  redact_ticket (UUID, tbuf);
  CHECK (strstr (tbuf, &UUID[8]) == NULL);
}

static void
user_url_is (const char *url, size_t bufsz, const char *want)
{
  char buf[256];
  const char *got;

  CHECK (bufsz <= sizeof buf - 1);
  memset (buf, 'X', sizeof buf);
  got = redact_user_url (url, buf, bufsz);
  if (got != buf || strcmp (got, want) != 0)
    {
      fprintf (stderr,
               "redact_user_url (\"%s\", %zu): expected \"%s\", got \"%s\"\n",
               url ? url : "(null)", bufsz, want, got);
      abort ();
    }
  CHECK (buf[bufsz] == 'X');
}

/* A URL of any shape: whatever stands where the ticket would be is cut. */
static void
test_user_url (void)
{
  const char *forms[] = {
    "https://h:54322/images/%s",
    "https://h:54322/image/%s",
    "https://h:54322/%s",
    "https://h:54322/images/%s/extents",
    "https://h:54322/x/y/%s?a=%s",
    "https://user:%s@h/images/x",
    "h:54322/images/%s",
    "%s",
    "https:/h/images/%s",
    "https://h/images/%s#%s",
    "https://h/images/%s %s",
    "https://h/a;%s,b+%s&c=%s",
    "https://h:%s/images/%s",
    "https://%s.example/images/%s",
    "%s://h/images/%s",
  };
  char url[300], buf[300];

  user_url_is ("https://h:54322/image/" UUID, 200,
               "https://h:54322/image/0123abcd...");
  user_url_is ("https://h:54322/images/" UUID "/extents", 200,
               "https://h:54322/images/0123abcd.../extents");
  user_url_is ("https://u:" UUID "@h/images/x", 200, "https://...@h/images/x");
  user_url_is ("h:54322/images/" UUID, 200, "h:54322/images/0123abcd...");
  user_url_is (UUID, 200, "0123abcd...");
  user_url_is ("https://h:" UUID "/images/x", 200,
               "https://h:0123abcd.../images/x");
  user_url_is ("https://host.example.com:54322/images/abcdefghijk", 200,
               "https://host.example.com:54322/images/abcdefghijk");
  user_url_is ("https://h/images/" UUID, 20, "https://h/images/01");
  user_url_is (NULL, 200, "");
  user_url_is ("", 200, "");
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    {
      snprintf (url, sizeof url, forms[i], UUID, UUID, UUID);
      redact_user_url (url, buf, sizeof buf);
      if (strstr (buf, &UUID[8]) != NULL || strstr (buf, "0123abcd-") != NULL)
        {
          fprintf (stderr, "redact_user_url (\"%s\") leaks: \"%s\"\n", url,
                   buf);
          abort ();
        }
    }
}

static void
text_is (const char *text, const char *secret, size_t bufsz, const char *want)
{
  char buf[256];
  const char *got;

  CHECK (bufsz <= sizeof buf - 1);
  memset (buf, 'X', sizeof buf);
  got = redact_text (text, secret, buf, bufsz);
  if (got != buf || strcmp (got, want) != 0)
    {
      fprintf (stderr,
               "redact_text (\"%s\", %zu): expected \"%s\", got \"%s\"\n", text,
               bufsz, want, got);
      abort ();
    }
}

/* Server messages as imageio words them quote the whole id. */
static void
test_text (void)
{
  text_is ("You are not allowed to access this resource: No such ticket " UUID,
           NULL, 200,
           "You are not allowed to access this resource: No such ticket "
           "0123abcd...");
  text_is ("Transfer=(ticket/" UUID ") forbids write", NULL, 200,
           "Transfer=(ticket/0123abcd...) forbids write");
  text_is ("Transfer (TICKET/" UUID ") was canceled", NULL, 200,
           "Transfer (TICKET/0123abcd...) was canceled");
  text_is ("Ticket '" UUID "' forbids write", NULL, 200,
           "Ticket '0123abcd...' forbids write");
  /* The secret anywhere, and cut short at the end of a message. */
  text_is ("id=" UUID ", again " UUID, UUID, 200,
           "id=0123abcd..., again 0123abcd...");
  text_is ("cut: 0123abcd-4567-89", UUID, 200, "cut: 0123abcd...");
  text_is ("cut: 0123abcd", UUID, 200, "cut: 0123abcd");
  /* Short ids and ordinary text pass. */
  text_is ("No such ticket abc", NULL, 200, "No such ticket abc");
  text_is ("plain message", UUID, 200, "plain message");
  text_is ("", UUID, 200, "");
  text_is (NULL, NULL, 200, "");
  /* Truncation never shows more than the kept part. */
  text_is ("ticket/" UUID, NULL, 12, "ticket/0123");
  text_is ("abcdef", NULL, 1, "");
}

int
main (void)
{
  test_text ();
  test_ticket ();
  test_url ();
  test_never_whole ();
  test_user_url ();
  return 0;
}
