/* winseal: verify --target's readiness checks inside the image
 * (generalize.h gen_verify_target; the table is target.c). */
#include <config.h>

#include <string.h>

#include "guest/agents.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "util/util.h"

/* Remote Desktop is open, or SetupComplete.cmd opens it at first boot. */
static void
check_rdp (struct gen *g)
{
  hive_h *sys = gen_hive (g, "SYSTEM");
  hive_node_h ts = sys ? hive_current_set_walk (sys, "Control\\Terminal Server") : 0;
  uint32_t deny = 1;
  if (ts && hive_get_dword (sys, ts, "fDenyTSConnections", &deny) == 0 && deny == 0)
    return;
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Setup/Scripts/SetupComplete.cmd");
  size_t len = 0;
  CLEANUP_FREE char *s = gen_read_file (g, path, &len);
  if (s && memmem (s, len, GEN_RDP_REOPEN_CMD, strlen (GEN_RDP_REOPEN_CMD)))
    return;
  gen_fail (g, "target %s: Remote Desktop stays closed (fDenyTSConnections is not 0 and "
            "SetupComplete.cmd does not open it): the cloud's console login needs it",
            g->o->target->name);
}

/* The cloud's agent is installed (a warning when not). */
static void
check_agent (struct gen *g)
{
  const struct target *t = g->o->target;
  char *ev[CLOUD_AGENTS_MAX];
  agents_detect (g->w, gen_hive (g, "SYSTEM"), gen_hive (g, "SOFTWARE"), ev);
  int found = 0;
  char names[256] = "";
  for (size_t i = 0; i < n_cloud_agents; ++i) {
    if (strcmp (cloud_agents[i].kind, t->agent_kind) == 0) {
      size_t l = strlen (names);
      snprintf (names + l, sizeof names - l, "%s%s", l ? ", " : "", cloud_agents[i].title);
      found |= ev[i] != NULL;
    }
    free (ev[i]);
  }
  jadd_bool (g->op, "agent_installed", found);
  if (!found)
    gen_warn (g, "target %s: no %s installed: the instance will not get its password, "
              "name or user data from the cloud", t->name, names);
}

void
gen_verify_target (struct gen *g)
{
  const struct target *t = g->o->target;
  if (!t)
    return;
  json_object *ops = json_object_object_get (g->report, "operations");
  if (!ops)
    return;
  g->op = json_object_new_object ();
  g->changes = json_object_new_array ();
  jadd_str (g->op, "heading", "The target's readiness checks");
  jadd_str (g->op, "target", t->name);
  json_object_object_add (g->op, "failed", g->changes);
  json_object_object_add (ops, "target", g->op);
  if (t->checks & TARGET_CHECK_RDP_OPEN)
    check_rdp (g);
  if ((t->checks & TARGET_CHECK_AGENT) && t->agent_kind)
    check_agent (g);
  g->op = g->changes = NULL;
}
