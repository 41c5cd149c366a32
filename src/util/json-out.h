/* winseal: small helpers around json-c for reports. */
#ifndef WINSEAL_JSON_OUT_H
#define WINSEAL_JSON_OUT_H

#include <json-c/json.h>
#include <stdint.h>

void jadd_str (json_object *o, const char *key, const char *val); /* NULL -> null */
void jadd_int (json_object *o, const char *key, int64_t val);
void jadd_bool (json_object *o, const char *key, int val);
void jadd_null (json_object *o, const char *key);
/* Lookups that tolerate absent keys: NULL / def. */
const char *jget_str (json_object *o, const char *key);
int64_t jget_int (json_object *o, const char *key, int64_t def);
int jget_bool (json_object *o, const char *key);
json_object *jget (json_object *o, const char *key);
/* Print pretty JSON and a newline to stdout. */
void json_print (json_object *o);

#endif
