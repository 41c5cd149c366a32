/* Unit tests: the raw hive editor on the real hives of ../shared/hives —
 * machine SID moves (binary and string, with key renames that change the
 * name's length), list order and hashes afterwards, libhivex re-reading
 * the result, and malformed hives refused. */
#include <config.h>

#include <hivex.h>
#include <unistd.h>

#include "registry/hive.h"
#include "registry/regedit.h"
#include "registry/sam.h"
#include "unit.h"
#include "util/util.h"

/* Every key name below node, as "a\\b\\c" lines, sorted as walked. */
static void
collect (hive_h *h, hive_node_h node, const char *path, char **acc)
{
  CLEANUP_FREE hive_node_h *kids = hivex_node_children (h, node);
  for (size_t i = 0; kids && kids[i]; ++i) {
    CLEANUP_FREE char *name = hivex_node_name (h, kids[i]);
    char *p = ws_strconcat (path, "\\", name, NULL);
    char *n = ws_strconcat (*acc, p, "\n", NULL);
    free (*acc);
    *acc = n;
    collect (h, kids[i], p, acc);
    free (p);
  }
}

static char *
tree (const char *file)
{
  hive_h *h = hivex_open (file, 0);
  if (!h)
    return NULL;
  char *acc = ws_strdup ("");
  collect (h, hivex_root (h), "", &acc);
  hivex_close (h);
  return acc;
}

/* Replace every occurrence of a in s by b: caller frees. */
static char *
subst (const char *s, const char *a, const char *b)
{
  char *out = ws_strdup ("");
  const char *p;
  while ((p = strstr (s, a))) {
    char *pre = strndup (s, p - s);
    char *n = ws_strconcat (out, pre, b, NULL);
    free (pre);
    free (out);
    out = n;
    s = p + strlen (a);
  }
  char *n = ws_strconcat (out, s, NULL);
  free (out);
  return n;
}

static void
move_sam (const char *dir, const char *sam, const char *new_sid, const char *tag)
{
  struct sid old, nw;
  char os[SID_STRING_MAX];
  hive_h *h = hivex_open (sam, 0);
  CHECK (h && sam_domain_sid (h, &old) == 0);
  if (h)
    hivex_close (h);
  sid_to_string (&old, os);
  CHECK (sid_parse (new_sid, &nw) == 0);

  struct regf r;
  CHECK (regf_load (&r, sam, "SAM") == 0);
  struct sid_rewrite_stats st;
  long n = regf_rewrite_domain (&r, &old, &nw, &st);
  /* Binary: the domain SID, 3 users' descriptors (own SID), 2 Administrators
   * members, ... at least 6; strings: the Aliases\Members\<SID> keys. */
  CHECK (n > 0 && st.binary >= 6);
  CHECK (st.str.keys_renamed >= 1);
  CLEANUP_FREE char *out = ws_asprintf ("%s/SAM.%s", dir, tag);
  CHECK (regf_save (&r, out) == 0);
  uint8_t fb[12];
  for (int i = 0; i < 3; ++i)
    put_le32 (fb + 4 * i, old.sub[1 + i]);
  CHECK (regf_count_bytes (&r, fb, 12) == 0);
  const char *why = NULL;
  CHECK (regf_check_lists (&r, &why) == 0);
  if (why)
    fprintf (stderr, "%s\n", why);
  regf_free (&r);

  /* libhivex reads the result; the SID moved; the users are the same. */
  h = hivex_open (out, 0);
  CHECK (h != NULL);
  if (h) {
    struct sid s;
    char buf[SID_STRING_MAX];
    CHECK (sam_domain_sid (h, &s) == 0);
    CHECK_STR (sid_to_string (&s, buf), new_sid);
    struct sam_user *u;
    size_t nu;
    CHECK (sam_users (h, &u, &nu) == 0 && nu == 3);
    sam_free_users (u, nu);
    unit_check_admins (h, &s);
    /* The Members reverse index now names the new SID and keeps its RIDs. */
    CLEANUP_FREE char *mp = ws_strconcat ("SAM\\Domains\\Builtin\\Aliases\\Members\\", new_sid, NULL);
    hive_node_h mk = hive_walk (h, hivex_root (h), mp);
    CHECK (mk != 0);
    CLEANUP_FREE char *op = ws_strconcat ("SAM\\Domains\\Builtin\\Aliases\\Members\\", os, NULL);
    CHECK (hive_walk (h, hivex_root (h), op) == 0);
    hivex_close (h);
  }
  /* Same tree as before with the SID substituted: nothing lost, nothing
   * added (compared in walk order, which follows the sorted lists). */
  CLEANUP_FREE char *before = tree (sam), *after = tree (out);
  CLEANUP_FREE char *want = before ? subst (before, os, new_sid) : NULL;
  CHECK (want && after);
  if (want && after) {
    /* Walk order may differ where a renamed key moved: compare as sets. */
    CHECK (strlen (want) == strlen (after));
    for (char *line = want, *nl; line && *line; line = nl ? nl + 1 : NULL) {
      nl = strchr (line, '\n');
      CLEANUP_FREE char *l = strndup (line, nl ? (size_t) (nl - line + 1) : strlen (line));
      if (!strstr (after, l)) {
        CHECK (!"a key is missing after the rewrite");
        fprintf (stderr, "missing: %s", l);
        break;
      }
    }
  }
}

int
main (void)
{
  static const char *const names[] = { "SAM", "NTUSER.DAT", "corrupted_system_hive", NULL };
  char *dir, *paths[3] = { NULL };
  int have = unit_shared_hives (&dir, names, paths) == 0;
  CLEANUP_FREE char *sam = paths[0], *nt = paths[1], *bad = paths[2];
  if (!have) {
    ws_rmtree (dir);
    return 77;
  }
  /* Same digit counts (names keep their length, edits in place), shorter
   * and longer ones (keys move into new cells and new bins). */
  move_sam (dir, sam, "S-1-5-21-1111111111-2222222222-333333333", "same");
  move_sam (dir, sam, "S-1-5-21-1-2-3", "short");
  move_sam (dir, sam, "S-1-5-21-4294967295-4294967294-4294967293", "long");

  /* A user's hive: its owner SIDs move too; a foreign domain changes
   * nothing. */
  struct regf r;
  CHECK (regf_load (&r, nt, "NTUSER.DAT") == 0);
  struct sid a, b;
  sid_parse ("S-1-5-21-1-2-3", &a);
  sid_parse ("S-1-5-21-4-5-6", &b);
  CHECK (regf_rewrite_domain (&r, &a, &b, NULL) == 0);
  CHECK (!r.changed);
  CHECK (regf_check_lists (&r, NULL) == 0);
  regf_free (&r);

  /* A damaged hive is refused with an error, never a crash. */
  if (regf_load (&r, bad, "SYSTEM") == 0) {
    struct sid_rewrite_stats st;
    long n = regf_rewrite_domain (&r, &a, &b, &st);
    CHECK (n <= 0);
  }
  regf_free (&r);
  ws_rmtree (dir);
  return unit_done ("unit-regedit");
}
