/* Fault injection and pretend modes (--fault SPEC), for tests only.
 *
 * Contract: main calls faults_parse for every --fault before any listener
 * starts; afterwards the settings are read-only (faults_get) and only the
 * image request counter changes (faults_next_image_request, thread safe).
 * With no --fault given, nothing here changes the server's behaviour.
 */
#ifndef SERVER_FAULTS_H
#define SERVER_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

enum extents_fault
{
  EXTENTS_FAULT_NONE,
  EXTENTS_FAULT_UNSORTED,
  EXTENTS_FAULT_GAP,
  EXTENTS_FAULT_OVERLAP,
  EXTENTS_FAULT_SHORT,
  EXTENTS_FAULT_GARBAGE,
  EXTENTS_FAULT_NEGATIVE,
  EXTENTS_FAULT_BADFLAG,
};

struct faults
{
  int options_status;           /* 0 (normal), 405 or 204 */
  bool no_zero;                 /* no "zero" feature, PATCH zero is 405 */
  bool no_extents;              /* no "extents" feature, GET extents 404 */
  enum extents_fault extents;   /* corrupt the extents document */
  unsigned extents_delay_ms;    /* sleep before answering GET extents */
  int max_readers, max_writers; /* -1: the backend's own values */
};

/* Parses one --fault SPEC.  Returns 0, or -1 after printing why. */
int faults_parse (const char *spec);

/* The settings (never NULL). */
const struct faults *faults_get (void);

enum fault_action
{
  FAULT_NONE,
  FAULT_DROP,  /* close the connection without answering */
  FAULT_ERROR, /* answer with *STATUS and a text body */
};

/* Counts one image request (any method on /images/...) and says what to do
 * with it.
 */
enum fault_action faults_next_image_request (int *status);

/* Prints the --fault help text. */
void faults_usage (void);

#endif
