/* winseal operation unattend: write Windows\Panther\unattend.xml — the
 * user's answer file (validated before the appliance started) or one
 * generated in EC2Launch v2's style. */
#include <config.h>

#include <string.h>

#include "guest/agents.h"
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

/* The answer files Setup reads before removable media (where Azure's
 * provisioning answer file is), after SYSTEM\Setup UnattendFile: the
 * "implicit answer file search order" of "Windows Setup Automation
 * Overview" (sysprep-parity.md [5]).  Below the system root. */
static const char *const early_answers[] = {
  "Panther/Unattend/unattend.xml", "Panther/Unattend/autounattend.xml",
  "Panther/unattend.xml", "Panther/autounattend.xml",
};
#define N_EARLY (sizeof early_answers / sizeof early_answers[0])

/* SYSTEM\Setup UnattendFile, when set to a path. */
static int
unattend_file_value (struct gen *g, hive_node_h *setup_ret)
{
  hive_h *sys = gen_hive (g, "SYSTEM");
  hive_node_h setup = sys ? hivex_node_get_child (sys, hivex_root (sys), "Setup") : 0;
  *setup_ret = setup;
  if (!setup || !hivex_node_get_value (sys, setup, "UnattendFile"))
    return 0;
  CLEANUP_FREE char *v = hive_get_string (sys, setup, "UnattendFile");
  return !v || *v;
}

/* Remove (or, verify, fail on) every early answer file but keep
 * (Panther\unattend.xml when winseal writes it), and clear UnattendFile.
 * 0 or -1. */
static int
early_answers_clear (struct gen *g, const char *keep)
{
  for (size_t i = 0; i < N_EARLY; ++i) {
    if (keep && strcmp (early_answers[i], keep) == 0)
      continue;
    CLEANUP_FREE char *p = win_sysroot_path (g->w, early_answers[i]);
    if (!win_is_file (g->w, p))
      continue;
    if (g->verify) {
      gen_fail (g, "unattend: %s is there (Setup would read it before the %s answer file)",
                p, keep ? "generated" : "cloud's");
      continue;
    }
    if (gen_rm_rf (g, p, NULL) == -1)
      return -1;
    gen_change (g, "%s: removed (Setup would read it before the %s answer file)", p,
                keep ? "new" : "cloud's");
  }
  hive_node_h setup;
  if (unattend_file_value (g, &setup)) {
    if (g->verify)
      gen_fail (g, "unattend: SYSTEM\\Setup UnattendFile names an answer file");
    else if (gen_set_string (g, "SYSTEM", setup, "Setup", "UnattendFile", "", hive_t_REG_SZ) == -1)
      return -1;
  }
  return 0;
}

/* The image's Cloudbase-Init answer file (openstack), checked like
 * --unattend: caller frees; NULL with *err set on a bad file, NULL
 * and *path_ret NULL when there is none. */
static char *
cloudbase_answer (struct gen *g, char **path_ret, size_t *len_ret, int *err)
{
  *err = 0;
  *path_ret = agents_cloudbase_unattend (g->w);
  if (!*path_ret)
    return NULL;
  char *xml = gen_read_file (g, *path_ret, len_ret);
  if (!xml || unattend_check_buffer (xml, *len_ret, *path_ret,
                                     image_unattend_arch (g->w->arch)) == -1) {
    if (!xml)
      ws_error ("%s: cannot read %s", g->w->image, *path_ret);
    free (xml);
    *err = 1;
    return NULL;
  }
  return xml;
}

static int
perform (struct gen *g)
{
  const struct target *t = g->o->target ? g->o->target : target_default ();
  jadd_str (g->op, "target", t->name);
  if (t->answer == ANSWER_NONE) {
    jadd_str (g->op, "source", "none (the cloud provisions with its own)");
    return early_answers_clear (g, NULL);
  }
  CLEANUP_FREE char *xml = NULL;
  CLEANUP_FREE char *cb_path = NULL;
  size_t len = 0;
  if (t->answer == ANSWER_CLOUDBASE && !g->o->unattend_file) {
    int err;
    xml = cloudbase_answer (g, &cb_path, &len, &err);
    if (err)
      return -1;
    if (xml)
      jadd_str (g->op, "source", cb_path);
  }
  if (xml)
    ;
  else if (g->o->unattend_file) {
    if (!(xml = ws_read_file (g->o->unattend_file, UNATTEND_MAX, &len)))
      return -1;
    /* Checked before the appliance without the image's architecture:
     * now with it (a pass none of whose components Setup would apply
     * is refused, the ignored ones named). */
    if (unattend_check_buffer (xml, len, g->o->unattend_file, image_unattend_arch (g->w->arch)) == -1)
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
  return early_answers_clear (g, "Panther/unattend.xml");
}

static void
verify (struct gen *g)
{
  const struct target *t = g->o->target ? g->o->target : target_default ();
  if (t->answer == ANSWER_NONE) {
    (void) early_answers_clear (g, NULL);
    return;
  }
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Panther/unattend.xml");
  size_t len = 0;
  CLEANUP_FREE char *xml = gen_read_file (g, path, &len);
  if (!xml) {
    gen_fail (g, "unattend: %s is missing", path);
    return;
  }
  if (unattend_check_buffer (xml, len, path, image_unattend_arch (g->w->arch)) == -1)
    gen_fail (g, "unattend: %s is not a valid answer file", path);
  (void) early_answers_clear (g, "Panther/unattend.xml");
  if (t->answer == ANSWER_CLOUDBASE) {
    CLEANUP_FREE char *cb_path = NULL;
    size_t cblen = 0;
    int err;
    CLEANUP_FREE char *cb = cloudbase_answer (g, &cb_path, &cblen, &err);
    if (err)
      gen_fail (g, "unattend: Cloudbase-Init's %s is not a valid answer file", cb_path);
    else if (cb && (cblen != len || memcmp (cb, xml, len) != 0))
      gen_fail (g, "unattend: %s is not Cloudbase-Init's %s", path, cb_path);
  }
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
    "settings of persist-devices.  With --target openstack, the image's own "
    "Cloudbase-Init conf\\Unattend.xml (checked the same way) when Cloudbase-Init is "
    "installed and --unattend is not given.  The answer files Setup would read "
    "first (Panther\\Unattend\\unattend.xml and autounattend.xml, "
    "Panther\\autounattend.xml) are removed and a SYSTEM\\Setup UnattendFile value "
    "is cleared.  With --target azure no answer file is written: those and "
    "Panther\\unattend.xml are removed, as Azure provisions with its own answer file "
    "on media Setup reads after them.",
  .enabled_by_default = 1,
  .options = "--unattend FILE, --timezone TZ, --locale L, --org ORG, --owner NAME, "
             "--admin-password-file FILE, --copy-profile, --run-sync CMD",
  .perform = perform,
  .verify = verify,
};
