/* winseal: the table of generalize operations, in the order they run. */
#include <config.h>

#include <string.h>

#include "generalize/generalize.h"
#include "util/util.h"

extern const struct operation op_sid_reset, op_computer_name, op_machine_ids, op_network_state,
  op_secrets, op_profile_cleanup,
  op_event_logs, op_cleanup_files, op_cloud_agents, op_sysprep_providers, op_rdp_deny, op_persist_devices, op_unattend, op_setupcomplete,
  op_reseal;

/* sid-reset runs first: it edits hive files raw, before libhivex handles
 * are opened for the others. */
const struct operation *const operations[] = {
  &op_sid_reset, &op_computer_name, &op_machine_ids, &op_network_state,
  &op_secrets, &op_profile_cleanup, &op_event_logs, &op_cleanup_files,
  &op_cloud_agents, &op_sysprep_providers, &op_rdp_deny, &op_persist_devices, &op_unattend, &op_setupcomplete, &op_reseal,
};
const size_t n_operations = sizeof operations / sizeof operations[0];

void
operations_validate (void)
{
  if (n_operations > sizeof ((struct op_selection *) 0)->enabled / sizeof (int))
    abort ();
  for (size_t i = 0; i < n_operations; ++i) {
    const char *n = operations[i]->name;
    if (!n || !*n || strspn (n, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (n)
        || !operations[i]->heading || !operations[i]->perform) {
      fprintf (stderr, "winseal: internal error: bad operation record %zu\n", i);
      abort ();
    }
    for (size_t j = 0; j < i; ++j)
      if (strcmp (n, operations[j]->name) == 0) {
        fprintf (stderr, "winseal: internal error: operation %s listed twice\n", n);
        abort ();
      }
  }
}

static long
op_index (const char *name)
{
  for (size_t i = 0; i < n_operations; ++i)
    if (strcmp (operations[i]->name, name) == 0)
      return (long) i;
  return -1;
}

const struct operation *
operation_by_name (const char *name)
{
  long i = op_index (name);
  return i < 0 ? NULL : operations[i];
}

void
op_selection_default (struct op_selection *s)
{
  memset (s, 0, sizeof *s);
  for (size_t i = 0; i < n_operations; ++i)
    s->enabled[i] = operations[i]->enabled_by_default;
}

int
op_selection_set (struct op_selection *s, const char *name, int on)
{
  long i = op_index (name);
  if (i < 0) {
    ws_error ("unknown operation '%s' (see --list-operations)", name);
    return -1;
  }
  s->enabled[i] = on;
  return 0;
}

int
op_selection_only (struct op_selection *s, const char *list)
{
  memset (s, 0, sizeof *s);
  CLEANUP_FREE char *copy = ws_strdup (list);
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    if (op_selection_set (s, t, 1) == -1)
      return -1;
  return 0;
}

int
op_enabled (const struct op_selection *s, const char *name)
{
  long i = op_index (name);
  return i >= 0 && s->enabled[i];
}

int
op_selection_option (struct op_selection *s, const char *option, const char *arg)
{
  if (strcmp (option, "operations") == 0)
    return op_selection_only (s, arg);
  return op_selection_set (s, arg, strcmp (option, "enable") == 0);
}
