/* winseal operation sid-reset: move the machine (account domain) SID to a
 * new one in every hive — binary SIDs (SAM V and C values, PolAcDmS,
 * ProfileList Sid, security descriptors in sk cells) and string SIDs
 * (key names such as ProfileList\<SID>, Aliases\Members\<SID>,
 * Policy\Accounts\<SID>, UsrClass's <SID>_Classes, and string values). */
#include <config.h>

#include <string.h>
#include <sys/random.h>

#include "generalize/fsids.h"
#include "generalize/tasks.h"
#include "generalize/generalize.h"
#include "util/json-out.h"
#include "registry/hive.h"
#include "registry/regedit.h"
#include "registry/sam.h"
#include "util/util.h"

static uint32_t
random_u32 (void)
{
  uint32_t v;
  if (getrandom (&v, sizeof v, 0) != sizeof v)
    abort ();
  return v;
}

static int
digits (uint32_t v)
{
  int d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

/* A random sub-authority with as many decimal digits as old, so that
 * string SIDs keep their length and most renames happen in place. */
static uint32_t
random_like (uint32_t old)
{
  uint64_t lo = 1, hi;
  for (int i = 1; i < digits (old); ++i)
    lo *= 10;
  hi = lo * 10 - 1;
  if (hi > UINT32_MAX)
    hi = UINT32_MAX;
  if (lo == 1)
    lo = 1;
  for (;;) {
    uint32_t v = (uint32_t) (lo + random_u32 () % (hi - lo + 1));
    if (v != old)
      return v;
  }
}

static int
perform (struct gen *g)
{
  hive_h *sam = gen_hive (g, "SAM"), *sec = gen_hive (g, "SECURITY");
  if (!sam || !sec)
    return -1;
  struct sid old, lsa;
  if (sam_domain_sid (sam, &old) == -1 || lsa_machine_sid (sec, &lsa) == -1)
    return -1;
  int lsa_differs = !sid_equal (&old, &lsa);
  struct sid nw = old;
  if (g->o->have_sid)
    nw = g->o->sid;
  else
    for (int i = 1; i <= 3; ++i)
      nw.sub[i] = random_like (old.sub[i]);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX], ls[SID_STRING_MAX];
  sid_to_string (&old, os);
  sid_to_string (&nw, ns);
  sid_to_string (&lsa, ls);
  if (sid_equal (&old, &nw)) {
    ws_error ("--sid %s is already the image's machine SID", ns);
    return -1;
  }
  if (lsa_differs)
    gen_warn (g, "SECURITY's PolAcDmS (%s) differs from the SAM's domain SID (%s); "
              "both are moved to %s", ls, os, ns);
  g->old_sid = old;
  g->new_sid = nw;
  g->have_new_sid = 1;
  jadd_str (g->op, "old_sid", os);
  jadd_str (g->op, "new_sid", ns);

  for (size_t i = 0; i < g->nhives; ++i) {
    struct ghive *gh = &g->hives[i];
    if (gen_hive_flush (g, gh) == -1)
      return -1;
    struct regf r;
    if (regf_load (&r, gh->local, gh->label) == -1)
      return -1;
    struct sid_rewrite_stats st, st2 = { 0 };
    long n = regf_rewrite_domain (&r, &old, &nw, &st);
    if (n >= 0 && lsa_differs)
      n = regf_rewrite_domain (&r, &lsa, &nw, &st2);
    /* The SID as text inside any value (binary ones, big-data ones such
     * as SAM's UserTile with its AccountPictures path): in place, which
     * only a new SID of the same length allows. */
    size_t tvals = 0, tv2 = 0;
    long t = 0, t2 = 0;
    if (n >= 0)
      t = regf_rewrite_value_text (&r, os, strlen (os) == strlen (ns) ? ns : os, &tvals);
    if (n >= 0 && t >= 0 && lsa_differs)
      t2 = regf_rewrite_value_text (&r, ls, strlen (ls) == strlen (ns) ? ns : ls, &tv2);
    if (t < 0 || t2 < 0)
      n = -1;
    if (n < 0 || (r.changed && regf_save (&r, gh->local) == -1)) {
      regf_free (&r);
      return -1;
    }
    int in_place = strlen (os) == strlen (ns) && (!lsa_differs || strlen (ls) == strlen (ns));
    if (r.changed) {
      gh->changed = 1;
      gen_change (g, "%s: %zu binary SIDs, %zu keys renamed, %zu value names, "
                  "%zu string values, %zu values holding it as text", gh->label,
                  st.binary + st2.binary, st.str.keys_renamed + st2.str.keys_renamed,
                  st.str.value_names + st2.str.value_names,
                  st.str.values + st2.str.values, in_place ? tvals + tv2 : 0);
    }
    if (!in_place && t + t2 > 0)
      gen_warn (g, "%s hive: %ld occurrences of the old SID as text in binary or big-data "
                "values were left: --sid %s has other digit counts than the old SID, so "
                "they cannot be rewritten in place", gh->label, t + t2, ns);
    if (st.bare)
      gen_warn (g, "%s hive: the old domain's 12 bytes occur %zu times outside any SID "
                "header; left as they are", gh->label, st.bare);
    if (st.str.skipped_big)
      gen_warn (g, "%s hive: %zu big-data values were not searched for the old SID",
                gh->label, st.str.skipped_big);
    regf_free (&r);
  }
  /* Scheduled tasks run as a local user or group name it by SID. */
  struct task_result tr;
  if (fs_sid_tasks (g, &old, &nw, 0, &tr) == -1)
    return -1;
  jadd_int (g->op, "tasks_scanned", tr.scanned);
  jadd_int (g->op, "tasks_rewritten", tr.rewritten);
  jadd_int (g->op, "task_hashes_recomputed", tr.hashes);
  return 0;
}

/* Report the first few paths of a list as warnings (generalize) or
 * failures (verify). */
static void
list_paths (struct gen *g, int fail, char **paths, size_t total, const char *what)
{
  size_t n = 0;
  for (; paths && paths[n]; ++n) {
    if (fail)
      gen_fail (g, "sid-reset: %s: %s", paths[n], what);
    else
      gen_warn (g, "%s: %s", paths[n], what);
  }
  if (total > n) {
    if (fail)
      gen_fail (g, "sid-reset: %zu more: %s", total - n, what);
    else
      gen_warn (g, "%zu more: %s", total - n, what);
  }
}

/* The file-system part, after profile-cleanup has removed what it
 * removes: every NTFS descriptor and SID-named folder. */
static int
finish (struct gen *g)
{
  if (!g->have_new_sid)
    return 0;
  struct fs_sid_result res;
  int r = fs_sid_pass (g, g->o->dry_run ? FS_COUNT : FS_REWRITE, &g->old_sid, &g->new_sid,
                       g->removed_rids, g->n_removed_rids, &res);
  if (r == 0) {
    json_object_object_add (g->op, "file_system", fs_sid_result_json (&res, g->o->dry_run));
    if (res.rewritten)
      gen_change (g, "%zu NTFS security descriptors of %zu files and folders on %zu "
                  "volume(s) rewritten", res.rewritten, res.scanned, res.volumes);
    if (res.secure_rewritten)
      gen_change (g, "%zu shared security descriptors ($Secure entries, both copies) moved to "
                  "the new SID, %zu index entries rehashed", res.secure_rewritten,
                  res.secure_index_entries);
    else if (g->o->dry_run && res.secure_with_old)
      gen_change (g, "%zu shared security descriptors ($Secure entries, both copies) would be "
                  "moved to the new SID", res.secure_with_old);
    list_paths (g, 0, res.bad_paths, res.bad,
                "malformed NTFS security descriptor, left as it was");
    list_paths (g, 0, res.unknown_paths, res.unknown,
                "security descriptor with ACEs of a type winseal does not parse, "
                "left as they are");
    list_paths (g, 0, res.error_paths, res.errors, "security descriptor not read or written");
    if (!g->o->dry_run)
      list_paths (g, 0, res.sd_paths, res.left,
                  "security descriptor still holds the old SID (in an ACE not parsed)");
  }
  fs_sid_result_free (&res);
  return r;
}

static void
verify (struct gen *g)
{
  hive_h *sam = gen_hive (g, "SAM"), *sec = gen_hive (g, "SECURITY");
  struct sid dom, lsa;
  char ds[SID_STRING_MAX], ls[SID_STRING_MAX];
  if (!sam || !sec || sam_domain_sid (sam, &dom) == -1 || lsa_machine_sid (sec, &lsa) == -1) {
    gen_fail (g, "sid-reset: cannot read the machine SID");
    return;
  }
  sid_to_string (&dom, ds);
  jadd_str (g->op, "machine_sid", ds);
  if (!sid_equal (&dom, &lsa))
    gen_fail (g, "sid-reset: SAM domain SID %s differs from SECURITY PolAcDmS %s", ds,
              sid_to_string (&lsa, ls));
  /* Every local profile belongs to the machine domain. */
  hive_h *sw = gen_hive (g, "SOFTWARE");
  size_t n;
  struct profile_entry *pl = hive_profile_list (sw, &n);
  for (size_t i = 0; i < n; ++i)
    if (pl[i].local && !sid_in_domain (&pl[i].sid, &dom))
      gen_fail (g, "sid-reset: ProfileList\\%s is not in the machine domain %s", pl[i].sid_str, ds);
  hive_profile_list_free (pl, n);
  if (!g->o->have_old_sid)
    return;
  char os[SID_STRING_MAX];
  sid_to_string (&g->o->old_sid, os);
  if (sid_equal (&dom, &g->o->old_sid))
    gen_fail (g, "sid-reset: the machine SID is still %s", os);
  uint8_t fb[12];
  for (int k = 0; k < 3; ++k)
    put_le32 (fb + 4 * k, g->o->old_sid.sub[1 + k]);
  for (size_t i = 0; i < g->nhives; ++i) {
    struct ghive *gh = &g->hives[i];
    struct regf r;
    if (regf_load (&r, gh->local, gh->label) == -1) {
      gen_fail (g, "sid-reset: %s hive cannot be read", gh->label);
      continue;
    }
    /* A byte search of the whole bins (names, values of every type, free
     * cells, slack), as a search of the output file would find it. */
    size_t bytes = regf_count_bytes (&r, fb, sizeof fb);
    size_t text = regf_count_text (&r, os);
    if (bytes || text)
      gen_fail (g, "sid-reset: %s hive still holds the old SID %s (%zu times its domain's "
                "bytes, %zu times as text)", gh->label, os, bytes, text);
    regf_free (&r);
  }
  /* The file system: descriptors, SID-named entries, tasks. */
  struct fs_sid_result res;
  if (fs_sid_pass (g, FS_COUNT, &g->o->old_sid, &dom, NULL, 0, &res) == -1)
    gen_fail (g, "sid-reset: the NTFS security descriptors could not be checked");
  else {
    json_object_object_add (g->op, "file_system", fs_sid_result_json (&res, 1));
    list_paths (g, 1, res.sd_paths, res.matched, "its security descriptor holds the old SID");
    list_paths (g, 1, res.name_paths, res.names, "its name holds the old SID");
    if (res.secure_with_old)
      gen_fail (g, "sid-reset: %zu shared security descriptors ($Secure entries) still name "
                "the old SID %s", res.secure_with_old, os);
    if (res.boot_with_old)
      gen_fail (g, "sid-reset: %zu boot store(s) (BCD) still hold the old SID %s",
                res.boot_with_old, os);
    if (res.secure_left)
      gen_fail (g, "sid-reset: the $Secure of %zu NTFS volume(s) could not be checked",
                res.secure_left);
    list_paths (g, 0, res.bad_paths, res.bad, "malformed NTFS security descriptor");
  }
  fs_sid_result_free (&res);
  struct task_result tr;
  if (fs_sid_tasks (g, &g->o->old_sid, &dom, 1, &tr) == 0) {
    for (size_t i = 0; tr.offenders && tr.offenders[i]; ++i)
      if (i < 5)
        gen_fail (g, "sid-reset: task %s still names the old SID", tr.offenders[i]);
    free_string_list (tr.offenders);
  }
  else
    gen_fail (g, "sid-reset: the scheduled tasks could not be checked");
}

const struct operation op_sid_reset = {
  .name = "sid-reset",
  .heading = "Give the image a new machine SID",
  .description =
    "Moves the machine (account domain) SID S-1-5-21-x-y-z to a new one in every hive: "
    "SAM, SECURITY, SYSTEM, SOFTWARE, DEFAULT and each profile's NTUSER.DAT and "
    "UsrClass.dat.  Binary SIDs are rewritten wherever they follow a SID header "
    "(SAM V and C values, PolAcDmS, ProfileList Sid, security descriptors in sk "
    "cells); string SIDs in key names (ProfileList, Aliases\\Members, "
    "Policy\\Accounts, <SID>_Classes), value names and string values.  Renamed keys "
    "keep their values, type numbers, subkeys, class and security cell, and are "
    "placed in sorted, correctly hashed subkey lists.  The new SID is random with "
    "as many digits per sub-authority as the old one, unless --sid is given; so the "
    "SID written as text (ASCII or UTF-16) inside values of any type, binary and "
    "big-data ones included (such as the AccountPictures path in a SAM user's "
    "UserTile), is rewritten in place too.  A --sid with other digit counts cannot "
    "reach those: each hive that keeps such text gets a warning naming the count, and "
    "verify fails on it.  Verify searches each hive's bins byte for byte (names, "
    "values, free cells, slack) for the old domain's 12 bytes and its text.  "
    "Then the file system: every NTFS security descriptor of every file and folder "
    "on every NTFS volume of the image (owner, group, and the trustee of every DACL "
    "and SACL ACE, object and callback ACEs included; ACEs of a type it does not "
    "parse are left untouched and reported), read and written through ntfs-3g's "
    "system.ntfs_acl by a small helper run inside the appliance; scheduled tasks "
    "under Windows\\System32\\Tasks naming a local user or group by SID, with "
    "their TaskCache Hash recomputed when it was the file's SHA-256; and files or "
    "folders named by an old SID (such as $Recycle.Bin\\S-1-5-21-...) are renamed, "
    "or removed for the recycle bins of profiles profile-cleanup removed.  Then, "
    "with the volumes unmounted, each volume's shared descriptors ($Secure): "
    "ntfs-3g keeps the descriptors it replaced there, so the domain is moved in "
    "every $SDS entry and its mirror copy by winseal's own code, their hashes "
    "recomputed, $SII updated and $SDH re-sorted (a $Secure that cannot be read "
    "so, such as one with an attribute list, is left with a warning, and verify "
    "fails on it).  And each boot store (Boot\\BCD on an NTFS volume, "
    "EFI\\Microsoft\\Boot\\BCD on an NTFS or FAT volume), a hive too: one that holds "
    "the old SID gets the same rewrite and the hive scrub, is written back in "
    "place, and its logs are emptied (one whose base block is dirty is left with a "
    "warning).  The file-system pass runs after the other operations.",
  .enabled_by_default = 1,
  .options = "--sid S-1-5-21-X-Y-Z",
  .perform = perform,
  .verify = verify,
  .finish = finish,
};
