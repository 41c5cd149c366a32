/* winseal operation unattend: write Windows\Panther\unattend.xml — the
 * user's answer file (validated before the appliance started) or one
 * generated in EC2Launch v2's style. */
#include <config.h>

#include <string.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "util/util.h"

const char *
image_unattend_arch (const char *guestfs_arch)
{
  if (!guestfs_arch)
    return NULL;
  if (strcmp (guestfs_arch, "x86_64") == 0)
    return "amd64";
  if (strcmp (guestfs_arch, "i386") == 0)
    return "x86";
  if (strcmp (guestfs_arch, "aarch64") == 0)
    return "arm64";
  return NULL;
}

/* The locale EC2Launch v2 uses: HKU\.DEFAULT\Control Panel\International
 * LocaleName, from the DEFAULT hive. */
static char *
default_locale (struct gen *g)
{
  if (!gen_ghive (g, "DEFAULT"))
    return NULL;
  hive_h *h = gen_hive (g, "DEFAULT");
  hive_node_h k = h ? hive_walk (h, hivex_root (h), "Control Panel\\International") : 0;
  return k ? hive_get_string (h, k, "LocaleName") : NULL;
}

static int
perform (struct gen *g)
{
  CLEANUP_FREE char *xml = NULL;
  size_t len = 0;
  if (g->o->unattend_file) {
    if (!(xml = ws_read_file (g->o->unattend_file, 16 << 20, &len)))
      return -1;
    jadd_str (g->op, "source", g->o->unattend_file);
  }
  else {
    struct unattend_opts ua = g->o->ua;
    CLEANUP_FREE char *loc = NULL;
    if (!ua.locale)
      ua.locale = loc = default_locale (g);
    ua.arch = image_unattend_arch (g->w->arch);
    if (!ua.arch)
      gen_warn (g, "the image's architecture is unknown (%s); the answer file says amd64",
                g->w->arch ? g->w->arch : "no System32\\cmd.exe");
    ua.computer_name = g->o->computer_name;
    ua.persist_devices = op_enabled (g->sel, "persist-devices");
    xml = unattend_generate (&ua, &len);
    if (!xml) {
      ws_error ("cannot build the answer file");
      return -1;
    }
    jadd_str (g->op, "source", "generated");
    jadd_str (g->op, "locale", ua.locale ? ua.locale : "en-US");
    jadd_bool (g->op, "administrator_password", ua.password != NULL);
  }
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "Panther");
  if (gen_mkdir_p (g, dir) == -1)
    return -1;
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Panther/unattend.xml");
  /* The file can hold the (hidden, not encrypted) password: keep it out
   * of libguestfs traces (-x). */
  int trace = guestfs_get_trace (g->g);
  if (trace > 0)
    guestfs_set_trace (g->g, 0);
  int wr = gen_write_file (g, path, xml, len);
  if (trace > 0)
    guestfs_set_trace (g->g, trace);
  if (wr == -1)
    return -1;
  explicit_bzero (xml, len);
  gen_change (g, "%s: written (%zu bytes)", path, len);
  /* Setup would read these before Panther\unattend.xml. */
  CLEANUP_FREE char *sub = win_sysroot_path (g->w, "Panther/Unattend/unattend.xml");
  if (win_is_file (g->w, sub)) {
    if (gen_rm_rf (g, sub, NULL) == -1)
      return -1;
    gen_change (g, "%s: removed (Setup would read it first)", sub);
  }
  hive_h *sys = gen_hive (g, "SYSTEM");
  hive_node_h setup = sys ? hivex_node_get_child (sys, hivex_root (sys), "Setup") : 0;
  if (setup && hivex_node_get_value (sys, setup, "UnattendFile")
      && gen_set_string (g, "SYSTEM", setup, "Setup", "UnattendFile", "", hive_t_REG_SZ) == -1)
    return -1;
  return 0;
}

static void
verify (struct gen *g)
{
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Panther/unattend.xml");
  size_t len = 0;
  CLEANUP_FREE char *xml = gen_read_file (g, path, &len);
  if (!xml) {
    gen_fail (g, "unattend: %s is missing", path);
    return;
  }
  if (unattend_check_buffer (xml, len, path, image_unattend_arch (g->w->arch)) == -1)
    gen_fail (g, "unattend: %s is not a valid answer file", path);
}

const struct operation op_unattend = {
  .name = "unattend",
  .heading = "Write the answer file (Windows\\Panther\\unattend.xml)",
  .description =
    "Writes Windows\\Panther\\unattend.xml: the file given with --unattend (checked "
    "before the appliance starts: well-formed, the unattend namespace, known pass "
    "names, every component with its attributes and the image's "
    "processorArchitecture), or one generated in EC2Launch v2's style: locales "
    "(default: LocaleName of the DEFAULT hive), --timezone (default UTC), --org, "
    "--owner, HideEULAPage, ProtectYourPC, --admin-password-file (stored hidden, "
    "never printed), --copy-profile, --run-sync CMD (RunSynchronous in specialize, "
    "in order), ComputerName (* unless --computer-name), and the PnpSysprep "
    "settings of persist-devices.  A Panther\\Unattend\\unattend.xml and a "
    "SYSTEM\\Setup UnattendFile value, which Setup would read first, are removed.",
  .enabled_by_default = 1,
  .options = "--unattend FILE, --timezone TZ, --locale L, --org ORG, --owner NAME, "
             "--admin-password-file FILE, --copy-profile, --run-sync CMD",
  .perform = perform,
  .verify = verify,
};
