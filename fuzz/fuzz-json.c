/* fuzz: the strict JSON reader of catalogs and templates (duplicate-key
 * scan, then json-c), the check of a shard manifest read back (batch
 * --merge), the UTF-8 checker of password files and the --shard I/N
 * parser, on arbitrary bytes. */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch-shard.h"
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
  struct shard_file sf;
  char why[256];
  if (o && shard_file_check (o, &sf, why, sizeof why) == 0) {
    /* What merge reads of a checked file. */
    for (size_t i = 0; i < json_object_array_length (sf.images); ++i)
      (void) json_object_get_string (json_object_array_get_idx (sf.images, i));
    if (sf.index < 0 || sf.index >= sf.count)
      abort ();
  }
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
    struct shard sh;
    if (shard_parse_spec (str, &sh, why, sizeof why) == 0 && (sh.index < 0 || sh.index >= sh.count))
      abort ();
    free (str);
  }
  return 0;
}
