/* winseal: cloud agents and external Sysprep providers in an image
 * (agents.h).
 *
 * Where each agent lives (../shared/review/sysprep-parity.md, sources
 * [21]-[25]): EC2Launch v2 runs as the service "EC2Launch" from
 * Program Files\Amazon\EC2Launch and keeps its state in
 * ProgramData\Amazon\EC2Launch; EC2Launch v1 is PowerShell scripts in
 * ProgramData\Amazon\EC2-Windows\Launch run from a scheduled task;
 * EC2Config is the service "Ec2Config" in Program Files\Amazon\
 * Ec2ConfigService; Cloudbase-Init is the service "cloudbase-init" with
 * its key SOFTWARE\Cloudbase Solutions\Cloudbase-Init; the Azure VM agent
 * is the services WindowsAzureGuestAgent and RdAgent in C:\WindowsAzure. */
#include <config.h>

#include <string.h>

#include "guest/agents.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "util/util.h"

const struct cloud_agent cloud_agents[] = {
  { "ec2launch-v2", "EC2Launch v2", "ec2", { "EC2Launch" },
    { "Program Files/Amazon/EC2Launch/EC2Launch.exe", "ProgramData/Amazon/EC2Launch/config" },
    NULL },
  { "ec2launch-v1", "EC2Launch v1", "ec2", { NULL },
    { "ProgramData/Amazon/EC2-Windows/Launch/Scripts/InitializeInstance.ps1" }, NULL },
  { "ec2config", "EC2Config", "ec2", { "Ec2Config" },
    { "Program Files/Amazon/Ec2ConfigService/Settings/Config.xml" }, NULL },
  { "cloudbase-init", "Cloudbase-Init", "cloudbase-init", { "cloudbase-init" },
    { "Program Files/Cloudbase Solutions/Cloudbase-Init" },
    "Cloudbase Solutions\\Cloudbase-Init" },
  { "azure-vm-agent", "Azure VM agent", "azure", { "WindowsAzureGuestAgent", "RdAgent" },
    { "WindowsAzure" }, NULL },
};
const size_t n_cloud_agents = sizeof cloud_agents / sizeof cloud_agents[0];

_Static_assert (sizeof cloud_agents / sizeof cloud_agents[0] <= CLOUD_AGENTS_MAX,
                "CLOUD_AGENTS_MAX");

/* Does a file or folder exist at this path below the volume root? */
static int
exists (struct windows *w, const char *path)
{
  CLEANUP_FREE char *p = win_path (w, path);
  return win_is_file (w, p) || win_is_dir (w, p);
}

size_t
agents_detect (struct windows *w, hive_h *sys, hive_h *sw, char *evidence[CLOUD_AGENTS_MAX])
{
  size_t found = 0;
  for (size_t i = 0; i < n_cloud_agents; ++i) {
    const struct cloud_agent *a = &cloud_agents[i];
    evidence[i] = NULL;
    for (size_t k = 0; !evidence[i] && k < 3 && a->services[k]; ++k) {
      char key[128];
      snprintf (key, sizeof key, "Services\\%s", a->services[k]);
      if (sys && hive_current_set_walk (sys, key))
        evidence[i] = ws_strconcat ("service ", a->services[k], NULL);
    }
    for (size_t k = 0; !evidence[i] && k < 3 && a->paths[k]; ++k)
      if (exists (w, a->paths[k]))
        evidence[i] = ws_strconcat ("file ", a->paths[k], NULL);
    if (!evidence[i] && a->software_key && sw && hive_walk (sw, hivex_root (sw), a->software_key))
      evidence[i] = ws_strconcat ("key SOFTWARE\\", a->software_key, NULL);
    found += evidence[i] != NULL;
  }
  return found;
}

char *
agents_cloudbase_unattend (struct windows *w)
{
  char *p = win_path (w, "Program Files/Cloudbase Solutions/Cloudbase-Init/conf/Unattend.xml");
  if (win_is_file (w, p))
    return p;
  free (p);
  return NULL;
}

/* One provider entry. */
static void
add_provider (json_object *arr, const char *pass, const char *name, const char *data)
{
  json_object *e = json_object_new_object ();
  jadd_str (e, "pass", pass);
  jadd_str (e, "name", name);
  jadd_str (e, "provider", data);
  json_object_array_add (arr, e);
}

json_object *
sysprep_providers (hive_h *sw, int *truncated_ret)
{
  *truncated_ret = 0;
  if (!sw)
    return NULL;
  json_object *arr = json_object_new_array ();
  hive_node_h ext = hive_walk (sw, hivex_root (sw), SYSPREP_EXTERNAL_KEY);
  if (!ext)
    return arr;
  CLEANUP_FREE hive_node_h *passes = hivex_node_children (sw, ext);
  size_t n = 0;
  for (size_t i = 0; passes && passes[i]; ++i) {
    CLEANUP_FREE char *pass = hivex_node_name (sw, passes[i]);
    if (!pass)
      continue;
    CLEANUP_FREE hive_value_h *vals = hivex_node_values (sw, passes[i]);
    for (size_t k = 0; vals && vals[k]; ++k) {
      if (n++ >= PROVIDERS_MAX) {
        *truncated_ret = 1;
        return arr;
      }
      CLEANUP_FREE char *name = hivex_value_key (sw, vals[k]);
      hive_type t;
      size_t len;
      CLEANUP_FREE char *data = NULL;
      if (hivex_value_type (sw, vals[k], &t, &len) == 0
          && (t == hive_t_REG_SZ || t == hive_t_REG_EXPAND_SZ))
        data = hivex_value_string (sw, vals[k]);
      add_provider (arr, pass, name && *name ? name : "(default)", data);
    }
    /* Some installers register a subkey per provider instead. */
    CLEANUP_FREE hive_node_h *subs = hivex_node_children (sw, passes[i]);
    for (size_t k = 0; subs && subs[k]; ++k) {
      if (n++ >= PROVIDERS_MAX) {
        *truncated_ret = 1;
        return arr;
      }
      CLEANUP_FREE char *name = hivex_node_name (sw, subs[k]);
      CLEANUP_FREE char *data = hive_get_string (sw, subs[k], "");
      add_provider (arr, pass, name, data);
    }
  }
  return arr;
}
