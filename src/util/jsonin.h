/* winseal: reading JSON inputs (catalogs, templates) strictly. */
#ifndef WINSEAL_JSONIN_H
#define WINSEAL_JSONIN_H

#include <json-c/json.h>
#include <stddef.h>

/* Scan len bytes of JSON text for an object holding one key twice.
 * Returns 1 with the first such key (decoded; caller frees) and its line,
 * 0 when there is none, -1 when the text is not JSON (json-c says how). */
int json_find_duplicate (const char *text, size_t len, char **key_ret, size_t *line_ret);
/* Parse len bytes of JSON, refusing syntax errors, trailing text, NUL
 * bytes and duplicate keys with one line naming name.  Caller puts it. */
json_object *json_parse_strict (const char *name, const char *text, size_t len);
/* paths.c: the same on a file of at most max bytes (ws_read_text: no
 * FIFOs or devices). */
json_object *json_read_strict (const char *path, size_t max);

/* An ARM template expression that only names a value:
 * "[parameters('NAME')]" ('p') or "[variables('NAME')]" ('v'), NAME
 * (non-empty, shorter than n) into name; 0 for any other string. */
int json_arm_reference (const char *s, char *name, size_t n);

#endif
