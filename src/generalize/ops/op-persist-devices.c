/* winseal operation persist-devices: keep installed drivers through the
 * generalize pass — PersistAllDeviceInstalls and
 * DoNotCleanUpNonPresentDevices in the answer file (Microsoft-Windows-
 * PnpSysprep, generalize pass; the unattend operation writes them) and
 * the registry value Control\Windows\PersistAllDeviceInstalls=1 that the
 * reference-image checklist in the project's seeds documents. */
#include <config.h>

#include "generalize/generalize.h"
#include "util/json-out.h"
#include "util/util.h"

#define WIN_KEY "Control\\Windows"

/* Does the target get an answer file of winseal's (azure: none)? */
static int
has_answer_file (struct gen *g)
{
  return !g->o->target || g->o->target->answer != ANSWER_NONE;
}

static int
perform (struct gen *g)
{
  if (gen_set_all_sets (g, WIN_KEY, 1, "PersistAllDeviceInstalls", hive_t_REG_DWORD,
                        NULL, 1) == -1)
    return -1;
  if (op_enabled (g->sel, "unattend") && !has_answer_file (g))
    jadd_str (g->op, "answer_file", "none: the cloud's own answer file decides");
  else if (!op_enabled (g->sel, "unattend"))
    gen_warn (g, "persist-devices: the unattend operation is disabled, so the answer "
              "file's PnpSysprep settings are not written");
  return 0;
}

static void
verify (struct gen *g)
{
  gen_check_dword_all_sets (g, "persist-devices", WIN_KEY, "PersistAllDeviceInstalls", 1);
  if (!has_answer_file (g))
    return;
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Panther/unattend.xml");
  size_t len = 0;
  CLEANUP_FREE char *xml = gen_read_file (g, path, &len);
  if (!xml || !unattend_has_setting (xml, len, "generalize", "Microsoft-Windows-PnpSysprep",
                                     "PersistAllDeviceInstalls", "true"))
    gen_fail (g, "persist-devices: the answer file does not set PersistAllDeviceInstalls");
}

const struct operation op_persist_devices = {
  .name = "persist-devices",
  .heading = "Keep installed device drivers through generalize",
  .description =
    "Asks the generalize pass to keep device installations: "
    "PersistAllDeviceInstalls and DoNotCleanUpNonPresentDevices in "
    "Microsoft-Windows-PnpSysprep (generalize pass) of the answer file, and "
    "PersistAllDeviceInstalls=1 under Control\\Windows in every control set (the "
    "registry form given by the reference-image checklist this project started "
    "from, not by Microsoft documentation).  With --target azure there is no "
    "answer file of winseal's: Azure's own decides.  --no-persist-devices turns it off.",
  .enabled_by_default = 1,
  .options = "--no-persist-devices",
  .perform = perform,
  .verify = verify,
};
