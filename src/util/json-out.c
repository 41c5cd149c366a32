/* winseal: json-c helpers. */
#include <config.h>

#include <stdio.h>

#include "util/cleanup.h"
#include "util/json-out.h"

void
jadd_str (json_object *o, const char *key, const char *val)
{
  json_object_object_add (o, key, val ? json_object_new_string (val) : NULL);
}

void
jadd_int (json_object *o, const char *key, int64_t val)
{
  json_object_object_add (o, key, json_object_new_int64 (val));
}

void
jadd_bool (json_object *o, const char *key, int val)
{
  json_object_object_add (o, key, json_object_new_boolean (val != 0));
}

void
jadd_null (json_object *o, const char *key)
{
  json_object_object_add (o, key, NULL);
}

json_object *
jget (json_object *o, const char *key)
{
  json_object *v = NULL;
  if (o && json_object_object_get_ex (o, key, &v))
    return v;
  return NULL;
}

const char *
jget_str (json_object *o, const char *key)
{
  json_object *v = jget (o, key);
  return v && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
}

int64_t
jget_int (json_object *o, const char *key, int64_t def)
{
  json_object *v = jget (o, key);
  return v && json_object_is_type (v, json_type_int) ? json_object_get_int64 (v) : def;
}

int
jget_bool (json_object *o, const char *key)
{
  json_object *v = jget (o, key);
  return v && json_object_get_boolean (v);
}

void
json_print (json_object *o)
{
  fputs (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                         | JSON_C_TO_STRING_SPACED
                                         | JSON_C_TO_STRING_NOSLASHESCAPE),
         stdout);
  fputc ('\n', stdout);
}

void
ws_cleanup_json_put (void *ptr)
{
  json_object_put (*(json_object **) ptr);
}
