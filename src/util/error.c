/* winseal: error and warning reporting, and cleanup helpers. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/util.h"

struct ws_globals ws_globals;
__thread const char *ws_thread_context;

static __thread char last_error[1024];

/* After the one line that says the appliance was lost (the watchdog), the
 * errors of the calls that then fail are its consequences: recorded as
 * that line, not printed. */
static char lost[1024];
static volatile int lost_set;

void
ws_error_final (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char msg[1024];
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (__sync_lock_test_and_set (&lost_set, 1))
    return;                     /* said once */
  snprintf (lost, sizeof lost, "%s", msg);
  fflush (stdout);
  const char *ctx = ws_thread_context ? ws_thread_context : ws_globals.context;
  if (!ws_globals.quiet)
    fprintf (stderr, "winseal: %s%s%s\n", ctx ? ctx : "", ctx ? ": " : "", msg);
  snprintf (last_error, sizeof last_error, "%s", msg);
}

static void
report (const char *prefix, const char *fmt, va_list ap, int error)
{
  char msg[1024];
  vsnprintf (msg, sizeof msg, fmt, ap);
  if (error && lost_set) {
    snprintf (last_error, sizeof last_error, "%s", lost);
    return;
  }
  fflush (stdout);
  const char *ctx = ws_thread_context ? ws_thread_context : ws_globals.context;
  if (!ws_globals.quiet)
    fprintf (stderr, "winseal: %s%s%s%s\n", ctx ? ctx : "", ctx ? ": " : "", prefix, msg);
  if (error)
    snprintf (last_error, sizeof last_error, "%s", msg);
}

void
ws_error (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  report ("", fmt, ap, 1);
  va_end (ap);
}

const char *
ws_last_error (void)
{
  return last_error;
}

void
ws_clear_error (void)
{
  last_error[0] = '\0';
}

void
ws_warning (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  report ("warning: ", fmt, ap, 0);
  va_end (ap);
}

void
ws_cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}

void
ws_cleanup_fclose (void *ptr)
{
  FILE *fp = *(FILE **) ptr;
  if (fp)
    fclose (fp);
}

void
ws_cleanup_free_string_list (void *ptr)
{
  free_string_list (*(char ***) ptr);
}

void
ws_cleanup_close (void *ptr)
{
  int fd = *(int *) ptr;
  if (fd >= 0)
    close (fd);
}
