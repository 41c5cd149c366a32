/* winseal operation profile-cleanup: remove local user profiles other than
 * the built-in Administrator's (Default and Public are not in ProfileList
 * and stay; a ProfileImagePath leading anywhere else is refused): the profile directory, its ProfileList key and its
 * ProfileGuid entry; with --remove-accounts also the SAM account. */
#include <config.h>

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "registry/sam.h"
#include "util/util.h"

#define PROFILE_LIST PROFILE_LIST_KEY
#define PROFILE_GUID "Microsoft\\Windows NT\\CurrentVersion\\ProfileGuid"

/* Remove a SAM account: its Users\<RID> key, its Names entry, and its
 * alias memberships (the C member lists and the Members reverse index). */
static int
remove_account (struct gen *g, const struct sid *user, const char *label)
{
  struct ghive *gh = gen_ghive (g, "SAM");
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  uint32_t rid = user->sub[4];
  char ridkey[16];
  snprintf (ridkey, sizeof ridkey, "%08X", rid);
  hive_node_h users = hive_walk (h, hivex_root (h), "SAM\\Domains\\Account\\Users");
  hive_node_h uk = users ? hivex_node_get_child (h, users, ridkey) : 0;
  if (!uk) {
    gen_warn (g, "profile %s: no SAM account with RID %" PRIu32, label, rid);
    return 0;
  }
  if (hivex_node_delete_child (h, uk) == -1)
    return -1;
  gen_change (g, "SAM\\Domains\\Account\\Users\\%s: deleted", ridkey);
  /* Names\<name>: the default value's type number is the RID. */
  hive_node_h names = hivex_node_get_child (h, users, "Names");
  CLEANUP_FREE hive_node_h *nk = names ? hivex_node_children (h, names) : NULL;
  for (size_t i = 0; nk && nk[i]; ++i) {
    hive_value_h v = hivex_node_get_value (h, nk[i], "");
    hive_type t;
    size_t len;
    if (v && hivex_value_type (h, v, &t, &len) == 0 && (uint32_t) t == rid) {
      CLEANUP_FREE char *nm = hivex_node_name (h, nk[i]);
      if (hivex_node_delete_child (h, nk[i]) == -1)
        return -1;
      gen_change (g, "SAM\\Domains\\Account\\Users\\Names\\%s: deleted", nm);
      break;
    }
  }
  /* Alias memberships, in both domains. */
  char dom[SID_STRING_MAX];
  struct sid d = *user;
  d.count = 4;
  sid_to_string (&d, dom);
  static const char *const domains[] = { "Account", "Builtin" };
  for (int di = 0; di < 2; ++di) {
    CLEANUP_FREE char *ap = ws_asprintf ("SAM\\Domains\\%s\\Aliases", domains[di]);
    hive_node_h al = hive_walk (h, hivex_root (h), ap);
    CLEANUP_FREE hive_node_h *aks = al ? hivex_node_children (h, al) : NULL;
    for (size_t i = 0; aks && aks[i]; ++i) {
      size_t cl;
      hive_type t;
      CLEANUP_FREE uint8_t *c = hive_get_bytes (h, aks[i], "C", &cl, &t);
      if (!c)
        continue;
      uint8_t *nc;
      size_t nl;
      int r = sam_alias_remove_member (c, cl, user, &nc, &nl);
      if (r < 0) {
        CLEANUP_FREE char *an = hivex_node_name (h, aks[i]);
        gen_warn (g, "SAM alias %s\\%s: malformed member list; left alone", domains[di], an);
        continue;
      }
      if (r == 1) {
        CLEANUP_FREE char *an = hivex_node_name (h, aks[i]);
        int e = gen_set_value (g, gh, aks[i], "C", t, nc, nl);
        free (nc);
        if (e == -1)
          return -1;
        gen_change (g, "SAM\\Domains\\%s\\Aliases\\%s\\C: member %s removed",
                    domains[di], an, label);
      }
    }
    CLEANUP_FREE char *mp = ws_asprintf ("SAM\\Domains\\%s\\Aliases\\Members\\%s", domains[di], dom);
    hive_node_h mk = hive_walk (h, hivex_root (h), mp);
    hive_node_h rk = mk ? hivex_node_get_child (h, mk, ridkey) : 0;
    if (rk) {
      if (hivex_node_delete_child (h, rk) == -1)
        return -1;
      gen_change (g, "%s\\%s: deleted", mp, ridkey);
    }
  }
  gh->changed = 1;
  return 0;
}

/* Remove one local profile (unless it is kept): its folder, its
 * ProfileGuid and ProfileList keys, and with --remove-accounts its
 * account.  0 or -1. */
static int
remove_profile (struct gen *g, struct ghive *gh, hive_h *sw, const struct profile_entry *e,
                hive_node_h pg, json_object *removed, int64_t *freed_ret)
{
  const char *sidstr = e->sid_str, *pip = e->image_path;
  const struct sid s = e->sid;
  const char *dn = pip ? gen_profile_base (pip) : sidstr;
  if (gen_profile_kept (g, &s, dn))
    return 0;
  CLEANUP_FREE char *guid = hive_get_string (sw, e->node, "Guid");
  CLEANUP_FREE char *dir = NULL;
  const char *why = NULL;
  /* Checked before any operation ran (load_user_hives); again here, so
   * that nothing else is ever removed. */
  if (pip && gen_profile_dir (g, sidstr, pip, &dir, &why) == -1) {
    ws_error ("%s: profile %s: its ProfileImagePath \"%s\" %s; refused", g->w->image,
              sidstr, pip, why);
    return -1;
  }
  int64_t bytes = 0;
  if (dir && gen_rm_rf (g, dir, &bytes) == -1)
    return -1;
  *freed_ret += bytes;
  if (dir)
    gen_change (g, "%s: removed (%" PRId64 " bytes)", dir, bytes);
  else if (pip)
    gen_warn (g, "profile %s (%s) is not on the Windows volume; its directory is kept",
              sidstr, pip);
  /* ProfileGuid entries naming this SID (by the Guid value or SidString). */
  CLEANUP_FREE hive_node_h *gk = pg ? hivex_node_children (sw, pg) : NULL;
  for (size_t j = 0; gk && gk[j]; ++j) {
    CLEANUP_FREE char *gname = hivex_node_name (sw, gk[j]);
    CLEANUP_FREE char *ss = hive_get_string (sw, gk[j], "SidString");
    if ((guid && gname && strcasecmp (gname, guid) == 0) || (ss && strcasecmp (ss, sidstr) == 0)) {
      if (hivex_node_delete_child (sw, gk[j]) == -1)
        return -1;
      gen_change (g, "SOFTWARE\\%s\\%s: deleted", PROFILE_GUID, gname);
    }
  }
  if (hivex_node_delete_child (sw, e->node) == -1) {
    ws_error ("SOFTWARE hive: cannot delete ProfileList\\%s", sidstr);
    return -1;
  }
  gh->changed = 1;
  gen_change (g, "SOFTWARE\\%s\\%s: deleted", PROFILE_LIST, sidstr);
  json_object *p = json_object_new_object ();
  jadd_str (p, "sid", sidstr);
  jadd_str (p, "path", pip);
  jadd_int (p, "bytes", bytes);
  json_object_array_add (removed, p);
  /* sid-reset removes this user's recycle-bin folders afterwards. */
  g->removed_rids = ws_realloc (g->removed_rids, (g->n_removed_rids + 1) * sizeof *g->removed_rids);
  g->removed_rids[g->n_removed_rids++] = s.sub[4];
  if (g->o->remove_accounts && remove_account (g, &s, dn) == -1)
    return -1;
  return 0;
}

static int
perform (struct gen *g)
{
  struct ghive *gh = gen_ghive (g, "SOFTWARE");
  hive_h *sw = gen_ghive_handle (g, gh);
  if (!sw)
    return -1;
  hive_node_h pg = hive_walk (sw, hivex_root (sw), PROFILE_GUID);
  size_t n;
  struct profile_entry *pl = hive_profile_list (sw, &n);
  json_object *removed = json_object_new_array ();
  json_object_object_add (g->op, "profiles_removed", removed);
  int64_t freed = 0;
  int r = 0;
  for (size_t i = 0; i < n && r == 0; ++i)
    if (pl[i].local)            /* not the system profiles: S-1-5-18, -19, -20 */
      r = remove_profile (g, gh, sw, &pl[i], pg, removed, &freed);
  hive_profile_list_free (pl, n);
  if (r == -1)
    return -1;
  jadd_int (g->op, "bytes_freed", freed);
  return 0;
}

static void
verify (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE");
  size_t n;
  struct profile_entry *pl = hive_profile_list (sw, &n);
  for (size_t i = 0; i < n; ++i) {
    const char *sidstr = pl[i].sid_str, *pip = pl[i].image_path;
    if (pl[i].local && !gen_profile_kept (g, &pl[i].sid, pip ? gen_profile_base (pip) : sidstr))
      gen_fail (g, "profile-cleanup: profile %s (%s) is still there", sidstr,
                pip ? pip : "no path");
  }
  hive_profile_list_free (pl, n);
}

const struct operation op_profile_cleanup = {
  .name = "profile-cleanup",
  .heading = "Remove local user profiles",
  .description =
    "Removes every local user profile except the built-in Administrator's (RID "
    "500) and those named with --keep-profile (the profile directory's name): the "
    "directory, its ProfileList key and its ProfileGuid entry.  Default and Public "
    "are not in ProfileList and are never touched.  A ProfileImagePath that leads "
    "outside the profiles folder, to the volume root, a system folder or a built-in "
    "profile (see FILES AND PATHS) stops the run before anything changes, naming "
    "the profile.  The accounts stay in the SAM "
    "unless --remove-accounts is given; then the SAM user, its Names entry and its "
    "alias memberships (member lists and the Members index) are removed together.",
  .enabled_by_default = 1,
  .options = "--keep-profile NAME (repeatable), --remove-accounts",
  .perform = perform,
  .verify = verify,
};
