/* winseal operation cloud-agents: find the cloud agents the image has
 * (guest/agents.h) and put each one back in its first-boot state,
 * whatever the target: an agent that believes it already ran skips the
 * password, user data and computer name of the new instance.
 *
 * What each agent keeps (../shared/review/sysprep-parity.md, sources
 * [21]-[25]):
 *   EC2Launch v2: its run-once tasks are skipped while
 *     ProgramData\Amazon\EC2Launch\state\.run-once exists; `ec2launch
 *     reset` deletes it and state.json (and, with --clean, the logs).
 *   EC2Launch v1: instance initialization runs from the task that
 *     `InitializeInstance.ps1 -Schedule` registers; the task removes
 *     itself after the first run.  Offline, SetupComplete.cmd runs
 *     -Schedule (winseal does not register tasks in an offline image) and
 *     then starts the task, which would otherwise first run at the next
 *     boot (its trigger is startup, and SetupComplete.cmd runs after it).
 *   EC2Config: sets Ec2SetPassword (and the user-data and computer-name
 *     plugins) to Disabled in Settings\Config.xml after the first launch.
 *   Cloudbase-Init: one key per instance id under SOFTWARE\Cloudbase
 *     Solutions\Cloudbase-Init holding its plugins' done states; without
 *     it every plugin runs again.
 *   Azure VM agent: its logs name the golden VM; its generalize step
 *     (the VMAgentDisabler provider) cannot run offline and is reported
 *     by sysprep-providers. */
#include <config.h>

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "guest/agents.h"
#include "generalize/agentconf.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "util/util.h"

#define EC2V1_SCHEDULE \
  "powershell.exe -NoProfile -ExecutionPolicy Bypass -File " \
  "\"%SystemDrive%\\ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\InitializeInstance.ps1\" -Schedule"
/* A task with a startup trigger registered after startup would first run
 * at the next boot: start it now (SetupComplete.cmd runs as LocalSystem,
 * as the task does). */
#define EC2V1_TASK "Amazon Ec2 Launch - Instance Initialization"
#define EC2V1_RUN "schtasks.exe /Run /TN \"" EC2V1_TASK "\""
#define EC2CONFIG_XML "Program Files/Amazon/Ec2ConfigService/Settings/Config.xml"
#define CLOUDBASE_KEY "Cloudbase Solutions\\Cloudbase-Init"

/* State files and log folders, per agent id: removed / emptied. */
static const struct agent_place {
  const char *agent;
  const char *path;             /* below the volume root */
  int contents;                 /* a folder whose entries go */
} places[] = {
  { "ec2launch-v2", "ProgramData/Amazon/EC2Launch/state/.run-once", 0 },
  { "ec2launch-v2", "ProgramData/Amazon/EC2Launch/state/state.json", 0 },
  { "ec2launch-v2", "ProgramData/Amazon/EC2Launch/log", 1 },
  { "ec2launch-v1", "ProgramData/Amazon/EC2-Windows/Launch/Log", 1 },
  { "ec2config", "Program Files/Amazon/Ec2ConfigService/Logs", 1 },
  { "cloudbase-init", "Program Files/Cloudbase Solutions/Cloudbase-Init/log", 1 },
  { "azure-vm-agent", "WindowsAzure/Logs", 1 },
};

/* The Cloudbase-Init instance keys (those with a Plugins subkey) under
 * SOFTWARE\[WOW6432Node\]Cloudbase Solutions\Cloudbase-Init: deleted, or
 * counted.  Returns how many, or -1. */
static int
cloudbase_instances (struct gen *g, int count_only)
{
  hive_h *sw = gen_hive (g, "SOFTWARE");
  if (!sw)
    return 0;
  static const char *const roots[] = { CLOUDBASE_KEY, "WOW6432Node\\" CLOUDBASE_KEY };
  int n = 0;
  for (size_t r = 0; r < 2; ++r) {
    hive_node_h k = hive_walk (sw, hivex_root (sw), roots[r]);
    if (!k)
      continue;
    CLEANUP_FREE hive_node_h *ch = hivex_node_children (sw, k);
    for (size_t i = 0; ch && ch[i]; ++i) {
      if (!hivex_node_get_child (sw, ch[i], "Plugins"))
        continue;
      n++;
      if (count_only) {
        CLEANUP_FREE char *name = hivex_node_name (sw, ch[i]);
        gen_fail (g, "cloud-agents: SOFTWARE\\%s\\%s: Cloudbase-Init's state of instance %s "
                  "is still there", roots[r], name ? name : "?", name ? name : "?");
      }
      else if (gen_delete_key (g, "SOFTWARE", ch[i], roots[r]) == -1)
        return -1;
    }
  }
  return n;
}

/* EC2Config's first-boot plugins: enabled, or checked.  0 or -1. */
static int
ec2config (struct gen *g, int count_only, json_object *rep)
{
  CLEANUP_FREE char *path = win_path (g->w, EC2CONFIG_XML);
  size_t len = 0;
  CLEANUP_FREE char *xml = gen_read_file (g, path, &len);
  if (!xml)
    return 0;
  CLEANUP_FREE char *out = NULL;
  size_t outlen;
  int changed, missing;
  char why[160];
  if (ec2config_enable (xml, len, &out, &outlen, &changed, &missing, why, sizeof why) == -1) {
    if (count_only)
      gen_fail (g, "cloud-agents: %s: %s", path, why);
    else
      ws_error ("%s: %s: %s; winseal does not guess at EC2Config's settings", g->w->image,
                path, why);
    return -1;
  }
  if (count_only) {
    if (changed)
      gen_fail (g, "cloud-agents: %s: %d first-boot plugin%s of EC2Config disabled", path,
                changed, changed == 1 ? "" : "s");
    return 0;
  }
  if (missing)
    gen_warn (g, "%s lists %d of EC2Config's first-boot plugins (Ec2SetPassword, "
              "Ec2HandleUserData, Ec2SetComputerName) not at all; left so", path, missing);
  if (changed) {
    if (gen_write_file (g, path, out, outlen) == -1)
      return -1;
    gen_change (g, "%s: %d first-boot plugin%s set to Enabled", path, changed,
                changed == 1 ? "" : "s");
  }
  jadd_int (rep, "plugins_enabled", changed);
  return 0;
}

/* SetupComplete.cmd runs the line (when setupcomplete runs). */
static int
setupcomplete_has (struct gen *g, const char *line)
{
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Setup/Scripts/SetupComplete.cmd");
  size_t len = 0;
  CLEANUP_FREE char *s = gen_read_file (g, path, &len);
  return s && memmem (s, len, line, strlen (line)) != NULL;
}

/* Reset (or, count_only, check) one agent.  0 or -1. */
static int
reset_agent (struct gen *g, const struct cloud_agent *a, int count_only, json_object *rep)
{
  long entries = 0;
  int64_t bytes = 0;
  json_object *removed = json_object_new_array ();
  json_object_object_add (rep, "removed", removed);
  for (size_t i = 0; i < sizeof places / sizeof places[0]; ++i) {
    if (strcmp (places[i].agent, a->id) != 0)
      continue;
    CLEANUP_FREE char *path = win_path (g->w, places[i].path);
    long n = 0;
    int64_t b = 0;
    if (gen_clear (g, path, places[i].contents, count_only, &n, &b) == -1)
      return -1;
    if (!n)
      continue;
    entries += n;
    bytes += b;
    if (count_only)
      gen_fail (g, "cloud-agents: %s: %s: %ld %s left", a->title, path, n,
                places[i].contents ? "entries" : "file");
    else {
      gen_change (g, "%s: %s: %s (%ld %s)", a->title, path,
                  places[i].contents ? "emptied" : "removed", n, n == 1 ? "entry" : "entries");
      json_object_array_add (removed, json_object_new_string (path));
    }
  }
  jadd_int (rep, "entries_removed", entries);
  jadd_int (rep, "bytes_freed", bytes);
  if (strcmp (a->id, "ec2config") == 0 && ec2config (g, count_only, rep) == -1)
    return -1;
  if (strcmp (a->id, "cloudbase-init") == 0) {
    int n = cloudbase_instances (g, count_only);
    if (n == -1)
      return -1;
    jadd_int (rep, "instance_keys_deleted", count_only ? 0 : n);
  }
  if (strcmp (a->id, "ec2launch-v1") == 0) {
    if (count_only) {
      if (op_enabled (g->sel, "setupcomplete")
          && (!setupcomplete_has (g, EC2V1_SCHEDULE) || !setupcomplete_has (g, EC2V1_RUN)))
        gen_fail (g, "cloud-agents: EC2Launch v1: SetupComplete.cmd does not schedule and "
                  "start InitializeInstance.ps1");
    }
    else if (op_enabled (g->sel, "setupcomplete")) {
      g->firstboot_extra = strv_push (g->firstboot_extra, ws_strdup (EC2V1_SCHEDULE));
      g->firstboot_extra = strv_push (g->firstboot_extra, ws_strdup (EC2V1_RUN));
      gen_change (g, "EC2Launch v1: SetupComplete.cmd schedules instance initialization "
                  "(InitializeInstance.ps1 -Schedule) and starts the task (" EC2V1_TASK ")");
      jadd_bool (rep, "initialization_scheduled", 1);
    }
    else {
      gen_warn (g, "EC2Launch v1 is installed but setupcomplete is off: nothing schedules "
                "its instance initialization (run InitializeInstance.ps1 -Schedule before "
                "the first boot)");
      jadd_bool (rep, "initialization_scheduled", 0);
    }
  }
  if (strcmp (a->id, "azure-vm-agent") == 0 && !count_only)
    jadd_str (rep, "not_offline", "its generalize provider (VMAgentDisabler) cannot run "
              "offline; sysprep-providers names it");
  return 0;
}

static int
walk (struct gen *g, int count_only)
{
  char *ev[CLOUD_AGENTS_MAX];
  agents_detect (g->w, gen_hive (g, "SYSTEM"), gen_hive (g, "SOFTWARE"), ev);
  json_object *found = json_object_new_array ();
  if (!count_only)
    json_object_object_add (g->op, "agents", found);
  int r = 0;
  for (size_t i = 0; i < n_cloud_agents; ++i) {
    if (!ev[i])
      continue;
    json_object *rep = json_object_new_object ();
    jadd_str (rep, "agent", cloud_agents[i].id);
    jadd_str (rep, "name", cloud_agents[i].title);
    jadd_str (rep, "found_by", ev[i]);
    json_object_array_add (found, rep);
    if (r == 0 && reset_agent (g, &cloud_agents[i], count_only, rep) == -1)
      r = -1;
    free (ev[i]);
  }
  if (count_only)
    json_object_put (found);
  return r;
}

static int
perform (struct gen *g)
{
  return walk (g, 0);
}

static void
verify (struct gen *g)
{
  (void) walk (g, 1);
}

const struct operation op_cloud_agents = {
  .name = "cloud-agents",
  .heading = "Put the cloud agents the image has back in their first-boot state",
  .description =
    "Finds the cloud agents installed (by their service, files or key) and resets "
    "each one, whatever the target: EC2Launch v2 (ProgramData\\Amazon\\EC2Launch\\"
    "state\\.run-once and state.json removed, its log folder emptied, as `ec2launch "
    "reset -c` does); EC2Launch v1 (SetupComplete.cmd runs InitializeInstance.ps1 "
    "-Schedule and starts the task it registers, \"Amazon Ec2 Launch - Instance "
    "Initialization\", which would otherwise first run at the next boot; its Log "
    "folder emptied); "
    "EC2Config (Settings\\Config.xml: Ec2SetPassword, Ec2HandleUserData and "
    "Ec2SetComputerName back to Enabled, a Config.xml winseal cannot read refused; "
    "its Logs emptied); Cloudbase-Init (the per-instance keys under SOFTWARE\\"
    "Cloudbase Solutions\\Cloudbase-Init that hold its plugins' done states deleted, "
    "so every plugin runs for the new instance; its log folder emptied); the Azure VM "
    "agent (WindowsAzure\\Logs emptied; its generalize provider cannot run offline, "
    "see sysprep-providers).  The report names each agent found, how, and what was "
    "reset.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
