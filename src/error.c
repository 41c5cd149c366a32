/* winseal: error and warning reporting, and cleanup helpers. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "winseal.h"

struct ws_globals ws_globals;

static void
report (const char *prefix, const char *fmt, va_list ap)
{
  fflush (stdout);
  fprintf (stderr, "winseal: %s", prefix);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

void
ws_error (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  report ("", fmt, ap);
  va_end (ap);
}

void
ws_warning (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  report ("warning: ", fmt, ap);
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
