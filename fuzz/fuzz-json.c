/* fuzz: the strict JSON reader of catalogs and templates (duplicate-key
 * scan, then json-c) and the UTF-8 checker of password files, on
 * arbitrary bytes. */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonin.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  char *key = NULL;
  size_t line;
  if (json_find_duplicate (text, size, &key, &line) == 1)
    free (key);
  ws_globals.quiet = 1;
  json_object *o = json_parse_strict ("fuzz", text, size);
  json_object_put (o);
  (void) utf8_count (text, size);
  /* ARM references (winseal build's expressions), on the input as a
   * string. */
  char *str = malloc (size + 1);
  if (str) {
    memcpy (str, data, size);
    str[size] = '\0';
    char name[128];
    (void) json_arm_reference (str, name, sizeof name);
    free (str);
  }
  return 0;
}
