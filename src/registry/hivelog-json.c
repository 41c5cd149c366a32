/* winseal: a hive recovery as JSON (winseal hive --json, and the
 * hive_recovery entries of the generalize report). */
#include <config.h>

#include "registry/hivelog.h"
#include "util/json-out.h"

const char *
hive_recovery_state (const struct hive_recovery *r)
{
  if (!r->was_dirty)
    return "clean";
  if (r->ndropped)
    return "repaired";
  if (r->trimmed_from)
    return "trimmed";
  return r->entries || r->pages || r->base_from_log ? "recovered" : "dirty, nothing to replay";
}

const char *
hive_log_kind_name (enum hive_log_kind k)
{
  return k == HIVE_LOG_NEW ? "new" : k == HIVE_LOG_OLD ? "old" : "none";
}

json_object *
hive_recovery_json (const struct hive_recovery *r, char *const *names)
{
  json_object *j = json_object_new_object ();
  jadd_str (j, "state", hive_recovery_state (r));
  jadd_bool (j, "dirty", r->was_dirty);
  jadd_bool (j, "bad_base_block", r->bad_base_block);
  jadd_bool (j, "base_block_from_log", r->base_from_log);
  jadd_int (j, "reconciled_to", r->reconciled_to);
  jadd_int (j, "trimmed_from", r->trimmed_from);
  jadd_int (j, "entries", r->entries);
  jadd_int (j, "pages", r->pages);
  jadd_int (j, "bytes_changed", r->bytes_changed);
  jadd_int (j, "sequence", r->seq);
  jadd_int (j, "bins_size", r->bins_size);
  json_object *logs = json_object_new_array ();
  for (size_t i = 0; i < r->nlogs; ++i) {
    const struct hive_log_use *u = &r->logs[i];
    json_object *l = json_object_new_object ();
    jadd_str (l, "log", names[i]);
    jadd_str (l, "format", hive_log_kind_name (u->kind));
    jadd_bool (l, "valid", u->valid);
    jadd_bool (l, "applied", u->applied);
    jadd_int (l, "entries", u->entries);
    jadd_int (l, "sequence_first", u->seq_first);
    jadd_int (l, "sequence_last", u->seq_last);
    jadd_str (l, "note", u->note[0] ? u->note : NULL);
    json_object_array_add (logs, l);
  }
  json_object_object_add (j, "logs", logs);
  jadd_int (j, "dropped_count", r->ndropped);
  json_object *dr = json_object_new_array ();
  for (size_t i = 0; r->dropped && r->dropped[i]; ++i)
    json_object_array_add (dr, json_object_new_string (r->dropped[i]));
  json_object_object_add (j, "dropped", dr);
  jadd_bool (j, "repairable", r->repairable);
  return j;
}
