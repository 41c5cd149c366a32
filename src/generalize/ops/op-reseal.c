/* winseal operation reseal: make the next boot run specialize and OOBE —
 * ImageState in SOFTWARE and in Setup\State\State.ini, and the SYSTEM\Setup
 * values of the reseal table (generalize.c). */
#include <config.h>

#include <string.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/util.h"

/* The reseal table (DESIGN.md §4). */
struct reseal_value {
  const char *key;              /* below SYSTEM */
  const char *name;
  hive_type type;               /* hive_t_REG_SZ or hive_t_REG_DWORD */
  const char *sz;
  uint32_t dword;
};
/* Best knowledge of what a generalize pass leaves in SYSTEM\Setup
 * (community reports, not Microsoft documentation; DESIGN.md §4). */
static const struct reseal_value reseal_values[] = {
  { "Setup", "CmdLine", hive_t_REG_SZ, "oobe\\windeploy.exe", 0 },
  { "Setup", "SetupType", hive_t_REG_DWORD, NULL, 2 },
  { "Setup", "SystemSetupInProgress", hive_t_REG_DWORD, NULL, 1 },
  { "Setup", "OOBEInProgress", hive_t_REG_DWORD, NULL, 1 },
  { "Setup", "SetupPhase", hive_t_REG_DWORD, NULL, 4 },
  { "Setup\\Status\\SysprepStatus", "GeneralizationState", hive_t_REG_DWORD, NULL, 7 },
  { "Setup\\Status\\SysprepStatus", "CleanupState", hive_t_REG_DWORD, NULL, 2 },
};
static const size_t n_reseal_values = sizeof reseal_values / sizeof reseal_values[0];
#define IMAGE_STATE_RESEAL "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"

#define STATE_KEY "Microsoft\\Windows\\CurrentVersion\\Setup\\State"
#define STATE_INI "[State]\r\nImageState=" IMAGE_STATE_RESEAL "\r\n"

static int
perform (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE"), *sys = gen_hive (g, "SYSTEM");
  if (!sw || !sys)
    return -1;
  hive_node_h st = gen_mkkey (g, sw, hivex_root (sw), STATE_KEY);
  if (!st || gen_set_string (g, "SOFTWARE", st, STATE_KEY, "ImageState",
                             IMAGE_STATE_RESEAL, hive_t_REG_SZ) == -1)
    return -1;
  for (size_t i = 0; i < n_reseal_values; ++i) {
    const struct reseal_value *v = &reseal_values[i];
    hive_node_h k = gen_mkkey (g, sys, hivex_root (sys), v->key);
    if (!k)
      return -1;
    int r = v->type == hive_t_REG_SZ
      ? gen_set_string (g, "SYSTEM", k, v->key, v->name, v->sz, v->type)
      : gen_set_dword (g, "SYSTEM", k, v->key, v->name, v->dword);
    if (r == -1)
      return -1;
  }
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "Setup/State");
  CLEANUP_FREE char *ini = win_sysroot_path (g->w, "Setup/State/State.ini");
  if (gen_mkdir_p (g, dir) == -1 || gen_write_file (g, ini, STATE_INI, strlen (STATE_INI)) == -1)
    return -1;
  gen_change (g, "%s: ImageState=%s", ini, IMAGE_STATE_RESEAL);
  return 0;
}

static void
verify (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE"), *sys = gen_hive (g, "SYSTEM");
  hive_node_h st = sw ? hive_walk (sw, hivex_root (sw), STATE_KEY) : 0;
  CLEANUP_FREE char *is = st ? hive_get_string (sw, st, "ImageState") : NULL;
  if (!is || strcmp (is, IMAGE_STATE_RESEAL) != 0)
    gen_fail (g, "reseal: SOFTWARE ImageState is %s", is ? is : "not set");
  for (size_t i = 0; sys && i < n_reseal_values; ++i) {
    const struct reseal_value *v = &reseal_values[i];
    hive_node_h k = hive_walk (sys, hivex_root (sys), v->key);
    int ok = 0;
    if (k && v->type == hive_t_REG_SZ) {
      CLEANUP_FREE char *s = hive_get_string (sys, k, v->name);
      ok = s && strcmp (s, v->sz) == 0;
    }
    else if (k) {
      uint32_t d;
      ok = hive_get_dword (sys, k, v->name, &d) == 0 && d == v->dword;
    }
    if (!ok)
      gen_fail (g, "reseal: SYSTEM\\%s\\%s is not the reseal value", v->key, v->name);
  }
  CLEANUP_FREE char *ini = win_sysroot_path (g->w, "Setup/State/State.ini");
  size_t len = 0;
  CLEANUP_FREE char *text = gen_read_file (g, ini, &len);
  if (!text || !memmem (text, len, "ImageState=" IMAGE_STATE_RESEAL,
                        strlen ("ImageState=" IMAGE_STATE_RESEAL)))
    gen_fail (g, "reseal: %s does not say ImageState=%s", ini, IMAGE_STATE_RESEAL);
}

const struct operation op_reseal = {
  .name = "reseal",
  .heading = "Reseal: boot into specialize and OOBE",
  .description =
    "Sets ImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE in SOFTWARE "
    "(Microsoft\\Windows\\CurrentVersion\\Setup\\State) and in "
    "Windows\\Setup\\State\\State.ini, and the SYSTEM\\Setup values of one table: "
    "CmdLine=oobe\\windeploy.exe, SetupType=2, SystemSetupInProgress=1, "
    "OOBEInProgress=1, SetupPhase=4, Status\\SysprepStatus GeneralizationState=7 "
    "and CleanupState=2.  These values come from community reports of what "
    "Sysprep's generalize pass leaves, not from Microsoft documentation.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
