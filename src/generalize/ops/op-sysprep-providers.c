/* winseal operation sysprep-providers: list the external Sysprep
 * providers registered in the image and say which cannot run offline.
 *
 * Sysprep calls the DLL entry points registered under SOFTWARE\Microsoft\
 * Windows\CurrentVersion\Setup\SysPrepExternal\{Cleanup,Generalize,
 * Specialize} during its passes ("Sysprep providers", Microsoft's
 * Windows 7 deployment documentation; sysprep-parity.md [3], [25]).
 * winseal never runs the generalize pass, so a Generalize provider (the
 * Azure VM agent registers VMAgentDisabler.dll there) does not run: each
 * one is named in a warning.  Specialize providers run on the first boot
 * as usual; Cleanup providers run with /generalize only. */
#include <config.h>

#include <string.h>
#include <strings.h>

#include "guest/agents.h"
#include "generalize/generalize.h"
#include "util/json-out.h"
#include "util/util.h"

/* The DLL's file name in "path\x.dll,Entry" (for the warning). */
static void
dll_name (const char *provider, char *buf, size_t n)
{
  if (!provider) {
    snprintf (buf, n, "(no DLL named)");
    return;
  }
  const char *end = strchr (provider, ',');
  size_t len = end ? (size_t) (end - provider) : strlen (provider);
  const char *start = provider;
  for (size_t i = 0; i < len; ++i)
    if (provider[i] == '\\' || provider[i] == '/')
      start = provider + i + 1;
  len -= (size_t) (start - provider);
  snprintf (buf, n, "%.*s", (int) (len < 200 ? len : 200), start);
}

static int
perform (struct gen *g)
{
  int truncated;
  json_object *list = sysprep_providers (gen_hive (g, "SOFTWARE"), &truncated);
  if (!list)
    return 0;                   /* SOFTWARE missing: reported by gen_hive */
  json_object_object_add (g->op, "providers", list);
  size_t n = json_object_array_length (list), not_run = 0;
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_array_get_idx (list, i);
    const char *pass = jget_str (e, "pass");
    int offline = pass && strcasecmp (pass, "Generalize") != 0 && strcasecmp (pass, "Cleanup") != 0;
    jadd_bool (e, "runs", offline);
    if (offline)
      continue;
    not_run++;
    char dll[256];
    dll_name (jget_str (e, "provider"), dll, sizeof dll);
    gen_warn (g, "Sysprep %s provider %s (%s) is not run: winseal generalizes offline, "
              "without Sysprep's passes", pass, dll, jget_str (e, "name"));
  }
  if (truncated)
    gen_warn (g, "more than %d Sysprep providers are registered; the first %d are listed",
              PROVIDERS_MAX, PROVIDERS_MAX);
  jadd_int (g->op, "not_run", (int64_t) not_run);
  return 0;
}

const struct operation op_sysprep_providers = {
  .name = "sysprep-providers",
  .heading = "Name the external Sysprep providers that cannot run offline",
  .description =
    "Lists the providers registered under SOFTWARE\\Microsoft\\Windows\\"
    "CurrentVersion\\Setup\\SysPrepExternal (Cleanup, Generalize, Specialize).  "
    "Generalize and Cleanup providers are DLLs Sysprep calls during its generalize "
    "pass, which winseal does not run: each one is named in a warning (the Azure VM "
    "agent's VMAgentDisabler.dll is one), so nothing is skipped silently.  "
    "Specialize providers run on the first boot as usual.  Nothing is changed.",
  .enabled_by_default = 1,
  .perform = perform,
};
