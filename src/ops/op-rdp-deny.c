/* winseal operation rdp-deny: fDenyTSConnections=1 in every control set,
 * so Remote Desktop stays closed until the first boot has set a password
 * (as EC2Config and EC2Launch do before Sysprep). */
#include <config.h>

#include "generalize.h"
#include "hive.h"
#include "winseal.h"

#define TS_KEY "Control\\Terminal Server"

static int
perform (struct gen *g)
{
  size_t n;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &n);
  hive_h *h = gen_hive (g, "SYSTEM");
  if (!sets || !h)
    return -1;
  for (size_t i = 0; i < n; ++i) {
    hive_node_h k = gen_mkkey (g, h, sets[i], TS_KEY);
    CLEANUP_FREE char *cs = hivex_node_name (h, sets[i]);
    CLEANUP_FREE char *kp = ws_strconcat (cs, "\\", TS_KEY, NULL);
    if (!k || gen_set_dword (g, "SYSTEM", k, kp, "fDenyTSConnections", 1) == -1)
      return -1;
  }
  return 0;
}

static void
verify (struct gen *g)
{
  size_t n;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &n);
  hive_h *h = gen_hive (g, "SYSTEM");
  for (size_t i = 0; sets && i < n; ++i) {
    hive_node_h k = hive_walk (h, sets[i], TS_KEY);
    uint32_t v;
    if (!k || hive_get_dword (h, k, "fDenyTSConnections", &v) == -1 || v != 1) {
      CLEANUP_FREE char *cs = hivex_node_name (h, sets[i]);
      gen_fail (g, "rdp-deny: %s\\%s\\fDenyTSConnections is not 1", cs, TS_KEY);
    }
  }
  if (!sets)
    gen_fail (g, "rdp-deny: no control set");
}

const struct operation op_rdp_deny = {
  .name = "rdp-deny",
  .heading = "Keep Remote Desktop closed until the first boot",
  .description =
    "Sets fDenyTSConnections=1 under Control\\Terminal Server in every control "
    "set, so that Remote Desktop does not accept connections while the "
    "administrator password is still unset during the first boot.  The first-boot "
    "script (setupcomplete) opens it again unless --keep-rdp-closed is given.",
  .enabled_by_default = 1,
  .options = "--keep-rdp-closed",
  .perform = perform,
  .verify = verify,
};
