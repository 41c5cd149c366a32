/* winseal operation rdp-deny: fDenyTSConnections=1 in every control set,
 * so Remote Desktop stays closed until the first boot has set a password
 * (as EC2Config and EC2Launch do before Sysprep). */
#include <config.h>

#include "generalize/generalize.h"
#include "util/util.h"

#define TS_KEY "Control\\Terminal Server"

static int
perform (struct gen *g)
{
  return gen_set_all_sets (g, TS_KEY, 1, "fDenyTSConnections", hive_t_REG_DWORD, NULL, 1);
}

static void
verify (struct gen *g)
{
  gen_check_dword_all_sets (g, "rdp-deny", TS_KEY, "fDenyTSConnections", 1);
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
