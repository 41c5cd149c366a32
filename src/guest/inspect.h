/* winseal: inspection of a mounted Windows into a report (JSON object). */
#ifndef WINSEAL_INSPECT_H
#define WINSEAL_INSPECT_H

#include <json-c/json.h>

#include "guest/windows.h"

/* Build the inspection report of w (read-only).  Hives are downloaded into
 * tmpdir.  Returns a new json_object (caller puts), or NULL with *fatal
 * (caller frees) saying why when the SYSTEM or SOFTWARE hive is corrupt. */
json_object *inspect_windows (struct windows *w, const char *tmpdir, char **fatal);
/* Print a report for people. */
void inspect_print_text (json_object *r);

#endif
