/* winseal: the wire format between winseal-fshelper (which runs in the
 * appliance) and the file-system SID pass on the host
 * (generalize/fsids.c): one record per line, paths with '\\', newline and
 * tab escaped as \\, \n and \t (fshelper.c says what the records are).
 * Shared by both sides so that they cannot drift apart. */
#ifndef WINSEAL_HELPER_PROTO_H
#define WINSEAL_HELPER_PROTO_H

#include <stdio.h>

/* Write a path escaped. */
static inline void
helper_put_path (FILE *fp, const char *p)
{
  for (; *p; ++p) {
    switch (*p) {
    case '\\': fputs ("\\\\", fp); break;
    case '\n': fputs ("\\n", fp); break;
    case '\t': fputs ("\\t", fp); break;
    default: putc (*p, fp);
    }
  }
}

/* Undo helper_put_path's escapes in place. */
static inline void
helper_unescape (char *s)
{
  char *o = s;
  for (; *s; ++s) {
    if (*s == '\\' && s[1]) {
      ++s;
      *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
    }
    else
      *o++ = *s;
  }
  *o = '\0';
}

#endif
