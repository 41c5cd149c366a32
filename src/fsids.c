/* winseal: the machine SID in the file system (see fsids.h).
 *
 * The descriptors are read and written by winseal-fshelper inside the
 * appliance (src/fshelper.c explains why a helper: libguestfs 1.48 cannot
 * set a binary extended attribute).  To keep the helper out of the
 * image, every NTFS volume is mounted below the appliance's own root
 * (guestfs_mkmountpoint) and the helper is uploaded to that root, which is
 * scratch space the appliance throws away; nothing is written to a
 * Windows volume but the descriptors and renames themselves. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "appliance.h"
#include "format.h"
#include "fsids.h"
#include "hive.h"
#include "json-out.h"
#include "winseal.h"

#define HELPER_NAME "winseal-fshelper"
#define HELPER_GUEST "/" HELPER_NAME
#define HIVES_GUEST "/winseal-hives.bin"
#define LIST_GUEST "/winseal-fslist"
#define MOUNT_PREFIX "/winseal-vol"
#define LIST_MAX 5              /* offenders listed per kind */

/* ---- text SIDs ---- */

static int
unit_at (const uint8_t *p, size_t i, int utf16)
{
  return utf16 ? (p[2 * i] | (p[2 * i + 1] << 8)) : p[i];
}

size_t
sid_text_replace (const uint8_t *in, size_t len, int utf16, const char *old,
                  const char *nw, uint8_t **out, size_t *outlen)
{
  size_t w = utf16 ? 2 : 1, units = len / w, ol = strlen (old), nl = strlen (nw);
  size_t count = 0;
  uint8_t *o = NULL;
  size_t on = 0, cap = 0;
  size_t copied = 0;            /* units of in already copied to o */
  for (size_t i = 0; i + ol <= units; ) {
    size_t k = 0;
    while (k < ol) {
      int c = unit_at (in, i + k, utf16), e = (unsigned char) old[k];
      if (c != e && !(e == 'S' && c == 's'))
        break;
      k++;
    }
    int next = i + ol < units ? unit_at (in, i + ol, utf16) : -1;
    if (k < ol || (next >= '0' && next <= '9')) {
      i++;
      continue;
    }
    /* A match at unit i: copy what precedes it, then the new text. */
    size_t need = on + (i - copied) * w + nl * w + (units - i) * w + 2;
    if (need > cap) {
      cap = need * 2;
      o = ws_realloc (o, cap);
    }
    memcpy (o + on, in + copied * w, (i - copied) * w);
    on += (i - copied) * w;
    for (size_t j = 0; j < nl; ++j) {
      o[on++] = (uint8_t) nw[j];
      if (utf16)
        o[on++] = 0;
    }
    i += ol;
    copied = i;
    count++;
  }
  if (!count)
    return 0;
  size_t rest = len - copied * w;
  if (on + rest > cap)
    o = ws_realloc (o, on + rest);
  memcpy (o + on, in + copied * w, rest);
  on += rest;
  *out = o;
  *outlen = on;
  return count;
}

/* ---- the helper ---- */

/* Where the helper program is: $WINSEAL_FSHELPER, beside the winseal
 * binary (the build tree), or the installed pkglibexecdir. */
static char *
helper_path (void)
{
  const char *e = getenv ("WINSEAL_FSHELPER");
  if (e && *e)
    return access (e, X_OK) == 0 ? ws_strdup (e) : NULL;
  char self[4096];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *p = ws_asprintf ("%s/%s", dirname (self), HELPER_NAME);
    if (access (p, X_OK) == 0)
      return p;
    free (p);
  }
  char *p = ws_strdup (PKGLIBEXECDIR "/" HELPER_NAME);
  if (access (p, X_OK) == 0)
    return p;
  free (p);
  return NULL;
}

struct vol {
  const char *dev;
  char mp[32];
  int created, mounted;
  int hit;                      /* the walk found the old SID here */
};

/* "C:\Users\x" for the Windows volume, "DEVICE:/path" for others. */
static char *
display_path (struct vol *v, size_t nv, const char *path)
{
  for (size_t i = 0; i < nv; ++i) {
    size_t l = strlen (v[i].mp);
    if (strncmp (path, v[i].mp, l) == 0 && (path[l] == '/' || path[l] == '\0')) {
      const char *rest = path + l;
      if (i == 0) {
        char *r = ws_asprintf ("C:%s", *rest ? rest : "\\");
        for (char *c = r; *c; ++c)
          if (*c == '/')
            *c = '\\';
        return r;
      }
      return ws_asprintf ("%s:%s", v[i].dev, *rest ? rest : "/");
    }
  }
  return ws_strdup (path);
}

/* Undo the helper's escapes (\\, \n, \t) in place. */
static void
unescape (char *s)
{
  char *o = s;
  for (; *s; ++s) {
    if (*s == '\\' && s[1]) {
      ++s;
      *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
    }
    else
      *o++ = *s;
  }
  *o = '\0';
}

static size_t
total (const char *line, const char *key)
{
  CLEANUP_FREE char *k = ws_asprintf (" %s=", key);
  const char *p = strstr (line, k);
  return p ? strtoull (p + strlen (k), NULL, 10) : 0;
}

static void
push_capped (char ***list, char *s)
{
  size_t n = 0;
  while (*list && (*list)[n])
    n++;
  if (n < LIST_MAX)
    *list = strv_push (*list, s);       /* the list owns s now */
  else
    free (s);
}

/* Parse the helper's output.  Raw (sysroot) paths of N records go to
 * *names (all of them). */
static int
parse_output (struct gen *g, char *out, struct vol *v, size_t nv,
              struct fs_sid_result *res, char ***names)
{
  int have_totals = 0;
  char *save = NULL;
  for (char *line = strtok_r (out, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
    if (line[0] == 'T' && line[1] == ' ') {
      CLEANUP_FREE char *l = ws_asprintf (" %s", line + 2);
      res->scanned += total (l, "scanned");
      res->with_sd += total (l, "with_sd");
      res->matched += total (l, "matched");
      res->rewritten += total (l, "rewritten");
      res->left += total (l, "left");
      res->unknown += total (l, "unknown");
      res->bad += total (l, "bad");
      res->errors += total (l, "errors");
      res->names += total (l, "names");
      res->helper_ms += (long) total (l, "ms");
      have_totals = 1;
      continue;
    }
    if (!line[0] || line[1] != ' ')
      continue;
    char *path = line + 2, *extra = strchr (path, '\t');
    if (extra)
      *extra++ = '\0';
    unescape (path);
    char *shown = display_path (v, nv, path);
    switch (line[0]) {
    case 'S': push_capped (&res->sd_paths, shown); break;
    case 'N':
      *names = strv_push (*names, path);        /* points into out */
      push_capped (&res->name_paths, shown);
      break;
    case 'B': push_capped (&res->bad_paths, ws_asprintf ("%s (%s)", shown, extra ? extra : "?")); free (shown); break;
    case 'U': push_capped (&res->unknown_paths, shown); break;
    case 'V':
      for (size_t i = 0; i < nv; ++i)
        if (strcmp (path, v[i].mp) == 0)
          if (extra) {
            CLEANUP_FREE char *l = ws_asprintf (" %s", extra);
            v[i].hit = total (l, "matched") || total (l, "names");
          }
      free (shown);
      break;
    case 'E': push_capped (&res->error_paths, ws_asprintf ("%s (%s)", shown, extra ? extra : "?")); free (shown); break;
    default: free (shown);
    }
  }
  if (!have_totals) {
    ws_error ("%s: the file-system helper printed no totals", g->w->image);
    return -1;
  }
  return 0;
}

static int
depth_desc (const void *a, const void *b)
{
  const char *x = *(char *const *) a, *y = *(char *const *) b;
  size_t dx = 0, dy = 0;
  for (; *x; ++x) dx += *x == '/';
  for (; *y; ++y) dy += *y == '/';
  return dx < dy ? 1 : dx > dy ? -1 : 0;
}

/* Rename (or, for a removed user's recycle bin, delete) the entries whose
 * names hold the old SID, deepest first so that parents move last. */
static int
fix_names (struct gen *g, char **names, struct vol *v, size_t nv, const struct sid *old,
           const struct sid *nw, const uint32_t *removed, size_t nremoved,
           struct fs_sid_result *res)
{
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (old, os);
  sid_to_string (nw, ns);
  size_t n = 0;
  while (names && names[n])
    n++;
  qsort (names, n, sizeof *names, depth_desc);
  for (size_t i = 0; i < n; ++i) {
    char *path = names[i], *slash = strrchr (path, '/');
    if (!slash || slash == path)
      continue;
    const char *base = slash + 1;
    CLEANUP_FREE char *parent = ws_asprintf ("%.*s", (int) (slash - path), path);
    const char *pslash = strrchr (parent, '/');
    const char *pbase = pslash ? pslash + 1 : parent;
    CLEANUP_FREE char *shown = display_path (v, nv, path);
    struct sid s;
    int bin = strcasecmp (pbase, "$Recycle.Bin") == 0 && sid_parse (base, &s) == 0
              && sid_in_domain (&s, old);
    int gone = 0;
    for (size_t k = 0; bin && k < nremoved; ++k)
      gone |= s.sub[4] == removed[k];
    if (gone) {
      int64_t bytes = 0;
      if (gen_rm_rf (g, path, &bytes) == -1)
        return -1;
      gen_change (g, "%s: removed (the recycle bin of a removed profile, %" PRId64 " bytes)",
                  shown, bytes);
      res->removed++;
      continue;
    }
    uint8_t *nb;
    size_t nbl;
    if (!sid_text_replace ((const uint8_t *) base, strlen (base), 0, os, ns, &nb, &nbl))
      continue;
    CLEANUP_FREE char *target = ws_asprintf ("%s/%.*s", parent, (int) nbl, (char *) nb);
    free (nb);
    if (guestfs_exists (g->g, target) > 0) {
      gen_warn (g, "%s: not renamed: %s exists", shown, target + strlen (v[0].mp));
      continue;
    }
    if (guestfs_rename (g->g, path, target) == -1) {
      ws_error ("%s: cannot rename %s: %s", g->w->image, shown, appliance_error (g->g));
      return -1;
    }
    gen_change (g, "%s: renamed to %s", shown, strrchr (target, '/') + 1);
    res->renamed++;
  }
  return 0;
}

static double
now_s (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* The NTFS volumes of the image's disk other than the Windows one, found
 * once per appliance.  (guestfs_list_filesystems would probe every device
 * for every file-system type: seconds under TCG; blkid's answer per
 * partition is enough here.)  Returns 0 or -1. */
static int
other_volumes (struct gen *g)
{
  struct windows *w = g->w;
  guestfs_h *gh = g->g;
  if (w->fs_vols_known)
    return 0;
  CLEANUP_FREE_STRING_LIST char **parts = guestfs_list_partitions (gh);
  CLEANUP_FREE_STRING_LIST char **devs = guestfs_list_devices (gh);
  if (!parts || !devs) {
    ws_error ("%s: cannot list partitions: %s", w->image, appliance_error (gh));
    return -1;
  }
  char **list = NULL;
  char **lists[2] = { parts, devs };
  guestfs_push_error_handler (gh, NULL, NULL);
  for (int l = 0; l < 2; ++l)
    for (size_t i = 0; lists[l][i]; ++i) {
      if (!on_disk (lists[l][i], w->disk))
        continue;
      CLEANUP_FREE char *type = guestfs_vfs_type (gh, lists[l][i]);
      if (type && strcmp (type, "ntfs") == 0 && strcmp (lists[l][i], w->root) != 0)
        list = strv_push (list, ws_strdup (lists[l][i]));
    }
  guestfs_pop_error_handler (gh);
  w->fs_vols = list;
  w->fs_vols_known = 1;
  return 0;
}

/* Write the hives in *list into the Windows volume mounted at root, and
 * empty their stale logs, with one upload and one helper run.  Returns 0
 * or -1 (reported). */
static int
install_hives (struct gen *g, struct ghive **list, size_t n, const char *root)
{
  guestfs_h *gh = g->g;
  CLEANUP_FREE char *blob = ws_asprintf ("%s/hives.bin", g->tmpdir);
  FILE *fp = fopen (blob, "wb");
  if (!fp) {
    ws_error ("%s: %s", blob, strerror (errno));
    return -1;
  }
  char **argv = strv_push (NULL, HELPER_GUEST);
  argv = strv_push (argv, "install");
  argv = strv_push (argv, HIVES_GUEST);
  size_t nspecs = 0;
  uint64_t off = 0;
  int r = -1;
  char *res = NULL;
  for (size_t i = 0; i < n; ++i) {
    FILE *in = fopen (list[i]->local, "rb");
    char chunk[65536];
    size_t k, len = 0;
    while (in && (k = fread (chunk, 1, sizeof chunk, in)) > 0) {
      if (fwrite (chunk, 1, k, fp) != k)
        break;
      len += k;
    }
    if (!in || ferror (in) || ferror (fp)) {
      ws_error ("%s: cannot copy into %s: %s", list[i]->local, blob, strerror (errno));
      if (in)
        fclose (in);
      fclose (fp);
      goto out;
    }
    fclose (in);
    argv = strv_push (argv, ws_asprintf ("W:%" PRIu64 ":%zu:%s%s", off, len, root,
                                         list[i]->guest_path));
    nspecs++;
    off += len;
    for (int l = 1; l <= 2 && !list[i]->logs_emptied; ++l) {
      argv = strv_push (argv, ws_asprintf ("E:%s%s.LOG%d", root, list[i]->guest_path, l));
      nspecs++;
    }
  }
  if (fclose (fp) != 0) {
    ws_error ("%s: %s", blob, strerror (errno));
    goto out;
  }
  if (guestfs_upload (gh, blob, HIVES_GUEST) == -1) {
    ws_error ("%s: cannot put the hives in the appliance: %s", g->w->image, appliance_error (gh));
    goto out;
  }
  res = guestfs_command (gh, argv);
  guestfs_rm_f (gh, HIVES_GUEST);
  if (!res) {
    ws_error ("%s: cannot write the hives: %s", g->w->image, appliance_error (gh));
    goto out;
  }
  r = 0;
 out:
  free (res);
  unlink (blob);
  for (size_t i = 0; i < nspecs; ++i)
    free (argv[3 + i]);
  free (argv);
  if (r == 0)
    gen_hives_written (g, list, n);
  return r;
}

int
fs_sid_pass (struct gen *g, enum fs_mode mode, const struct sid *old, const struct sid *nw,
             const uint32_t *removed, size_t nremoved, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  struct windows *w = g->w;
  double t0 = now_s ();
  memset (res, 0, sizeof *res);
  CLEANUP_FREE char *helper = helper_path ();
  if (!helper) {
    ws_error ("cannot find %s (set WINSEAL_FSHELPER, or install winseal with it)", HELPER_NAME);
    return -1;
  }
  int ro = w->readonly || mode != FS_REWRITE;
  if (other_volumes (g) == -1)
    return -1;
  size_t nv = 1 + count_strings (w->fs_vols);
  struct vol *v = ws_malloc (nv * sizeof *v);
  memset (v, 0, nv * sizeof *v);
  v[0].dev = w->root;
  for (size_t i = 1; i < nv; ++i)
    v[i].dev = w->fs_vols[i - 1];
  for (size_t i = 0; i < nv; ++i)
    snprintf (v[i].mp, sizeof v[i].mp, MOUNT_PREFIX "%zu", i);
  /* A rewrite that follows one of this session whose new SID is this
   * one's old SID (clone) need not walk the volumes where that one found
   * no trace of its old SID: nothing has put the SID there since. */
  int follow = mode == FS_REWRITE && w->fs_after_valid && sid_equal (old, &w->fs_after)
               && w->fs_vol_hit;
  /* The changed hives are written by the helper while the volume is
   * mounted for it (a rewrite that writes: one upload and one command
   * instead of one upload per hive). */
  struct ghive **hives = NULL;
  size_t nhives = 0;
  if (mode == FS_REWRITE && !g->o->dry_run && !w->readonly
      && gen_hives_ready (g, &hives, &nhives) == -1)
    return free (v), -1;

  int r = -1;
  char **names = NULL;
  CLEANUP_FREE char *out = NULL;
  const char **argv = ws_malloc ((nv + 12) * sizeof *argv);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX], ps[SID_STRING_MAX];
  /* A clone after the first looks only where the previous pass found
   * anything (the entries it saved): the shared work is not walked again. */
  int use_list = follow && w->fs_list_valid;
  int saving = mode == FS_REWRITE && !g->o->dry_run;
  if (guestfs_umount_all (gh) == -1) {
    ws_error ("%s: cannot unmount: %s", w->image, appliance_error (gh));
    goto out;
  }
  size_t argc = 0;
  argv[argc++] = HELPER_GUEST;
  argv[argc++] = mode == FS_WALK ? "walk" : mode == FS_COUNT ? "count" : "rewrite";
  argv[argc++] = sid_to_string (old, os);
  argv[argc++] = sid_to_string (nw, ns);
  argv[argc++] = "20";
  if (saving) {
    argv[argc++] = "--save";
    argv[argc++] = LIST_GUEST;
  }
  if (use_list) {
    argv[argc++] = "--from";
    argv[argc++] = LIST_GUEST;
    argv[argc++] = sid_to_string (&w->fs_list_old, ps);
  }
  w->fs_list_valid = 0;         /* until this pass has saved a new list */
  for (size_t i = 0; i < nv; ++i) {
    if (follow && i > 0 && !w->fs_vol_hit[i]) {
      res->skipped++;
      continue;
    }
    if (guestfs_mkmountpoint (gh, v[i].mp) == -1) {
      ws_error ("%s: cannot make a mount point in the appliance: %s", w->image,
                appliance_error (gh));
      goto out;
    }
    v[i].created = 1;
    guestfs_push_error_handler (gh, NULL, NULL);
    int m = ro ? guestfs_mount_ro (gh, v[i].dev, v[i].mp) : guestfs_mount (gh, v[i].dev, v[i].mp);
    guestfs_pop_error_handler (gh);
    if (m == -1) {
      if (i == 0) {
        ws_error ("%s: cannot mount %s: %s", w->image, v[i].dev, appliance_error (gh));
        goto out;
      }
      gen_warn (g, "NTFS volume %s cannot be mounted%s (%s); its security descriptors "
                "were not checked", v[i].dev, ro ? "" : " for writing", appliance_error (gh));
      continue;
    }
    v[i].mounted = 1;
    argv[argc++] = v[i].mp;
    res->volumes++;
  }
  argv[argc] = NULL;
  /* The helper stays in the appliance's scratch root for later passes. */
  if (guestfs_is_file (gh, HELPER_GUEST) <= 0
      && (guestfs_upload (gh, helper, HELPER_GUEST) == -1
          || guestfs_chmod (gh, 0755, HELPER_GUEST) == -1)) {
    ws_error ("%s: cannot put %s in the appliance: %s", w->image, HELPER_NAME,
              appliance_error (gh));
    goto out;
  }
  if (nhives && install_hives (g, hives, nhives, v[0].mp) == -1)
    goto out;
  out = guestfs_command (gh, (char **) argv);
  if (!out) {
    ws_error ("%s: the file-system SID pass failed: %s", w->image, appliance_error (gh));
    goto out;
  }
  if (parse_output (g, out, v, nv, res, &names) == -1)
    goto out;
  if (mode == FS_REWRITE && !g->o->dry_run
      && fix_names (g, names, v, nv, old, nw, removed, nremoved, res) == -1)
    goto out;
  if (saving) {
    w->fs_list_valid = 1;
    w->fs_list_old = *old;
    res->from_list = use_list;
  }
  if (saving && !use_list) {
    /* What the next pass may skip: the volumes walked without a trace
     * of the old SID, and those it did not walk (skipped again).  (A
     * pass from the list keeps the previous answer.) */
    unsigned char *hit = ws_malloc (nv);
    for (size_t i = 0; i < nv; ++i) {
      if (i == 0)
        hit[i] = 1;
      else if (v[i].mounted)
        hit[i] = v[i].hit;
      else
        hit[i] = follow && !w->fs_vol_hit[i] ? 0 : 1;   /* skipped; or a mount failed */
    }
    free (w->fs_vol_hit);
    w->fs_vol_hit = hit;
  }
  if (saving) {
    w->fs_after = *nw;
    w->fs_after_valid = 1;
  }
  r = 0;
 out:
  for (size_t i = nv; i-- > 0; ) {
    if (v[i].mounted && guestfs_umount (gh, v[i].mp) == -1) {
      ws_error ("%s: cannot unmount %s: %s", w->image, v[i].dev, appliance_error (gh));
      r = -1;
    }
    if (v[i].created)
      guestfs_rmmountpoint (gh, v[i].mp);
  }
  if (windows_remount (w) == -1)
    r = -1;
  free (hives);
  free (names);
  free (argv);
  free (v);
  res->seconds = now_s () - t0;
  return r;
}

void
fs_sid_result_free (struct fs_sid_result *res)
{
  free_string_list (res->sd_paths);
  free_string_list (res->bad_paths);
  free_string_list (res->unknown_paths);
  free_string_list (res->error_paths);
  free_string_list (res->name_paths);
  memset (res, 0, sizeof *res);
}

json_object *
fs_sid_result_json (const struct fs_sid_result *res, int dry_run)
{
  json_object *o = json_object_new_object ();
  jadd_int (o, "volumes", res->volumes);
  jadd_int (o, "volumes_skipped", res->skipped);
  jadd_bool (o, "from_previous_pass", res->from_list);
  jadd_int (o, "files_scanned", res->scanned);
  jadd_int (o, "descriptors_read", res->with_sd);
  jadd_int (o, "descriptors_with_old_sid", res->matched);
  jadd_int (o, dry_run ? "descriptors_to_rewrite" : "descriptors_rewritten",
            dry_run ? res->matched : res->rewritten);
  jadd_int (o, "descriptors_with_unparsed_aces", res->unknown);
  jadd_int (o, "malformed_descriptors", res->bad);
  jadd_int (o, "errors", res->errors);
  jadd_int (o, "names_with_old_sid", res->names);
  jadd_int (o, "folders_renamed", res->renamed);
  jadd_int (o, "folders_removed", res->removed);
  json_object_object_add (o, "seconds", json_object_new_double (res->seconds));
  json_object_object_add (o, "walk_seconds", json_object_new_double (res->helper_ms / 1000.0));
  return o;
}

/* ---- scheduled tasks ---- */

#define TASKCACHE "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks"

/* The TaskCache\Tasks\{GUID} key whose Path is task_path, or 0. */
static hive_node_h
task_cache_entry (hive_h *sw, const char *task_path)
{
  hive_node_h tasks = hive_walk (sw, hivex_root (sw), TASKCACHE);
  CLEANUP_FREE hive_node_h *kids = tasks ? hivex_node_children (sw, tasks) : NULL;
  for (size_t i = 0; kids && kids[i]; ++i) {
    CLEANUP_FREE char *p = hive_get_string (sw, kids[i], "Path");
    if (p && strcasecmp (p, task_path) == 0)
      return kids[i];
  }
  return 0;
}

static int
update_task_cache (struct gen *g, const char *task_path, const uint8_t *old_xml, size_t old_len,
                   const uint8_t *new_xml, size_t new_len, const char *os, const char *ns,
                   struct task_result *res)
{
  struct ghive *gh = gen_ghive (g, "SOFTWARE");
  hive_h *sw = gh ? gen_ghive_handle (g, gh) : NULL;
  if (!sw)
    return -1;
  hive_node_h e = task_cache_entry (sw, task_path);
  if (!e) {
    gen_warn (g, "task %s has no TaskCache entry in SOFTWARE", task_path);
    return 0;
  }
  CLEANUP_FREE hive_value_h *vals = hivex_node_values (sw, e);
  for (size_t i = 0; vals && vals[i]; ++i) {
    CLEANUP_FREE char *name = hivex_value_key (sw, vals[i]);
    hive_type t;
    size_t len;
    CLEANUP_FREE char *data = name ? hivex_value_value (sw, vals[i], &t, &len) : NULL;
    if (!data || t != hive_t_REG_BINARY)
      continue;
    if (strcasecmp (name, "Hash") == 0) {
      /* Only a hash known to be the file's SHA-256 is recomputed. */
      uint8_t h[32];
      sha256_buffer (old_xml, old_len, h);
      if (len == 32 && memcmp (data, h, 32) == 0) {
        sha256_buffer (new_xml, new_len, h);
        if (gen_set_value (g, gh, e, "Hash", hive_t_REG_BINARY, h, 32) == -1)
          return -1;
        gen_change (g, "SOFTWARE\\...\\TaskCache\\Tasks entry of %s: Hash recomputed", task_path);
        res->hashes++;
      }
      else
        gen_warn (g, "task %s: its TaskCache Hash is not the SHA-256 of the task file; "
                  "left as it was (the Task Scheduler may report the task as changed)",
                  task_path);
      continue;
    }
    uint8_t *nd;
    size_t nl;
    if (!sid_text_replace ((uint8_t *) data, len, 1, os, ns, &nd, &nl))
      continue;
    if (nl != len) {
      gen_warn (g, "task %s: TaskCache value %s holds the old SID as text, and the new "
                "SID's text has another length; left as it was", task_path, name);
      free (nd);
      continue;
    }
    int sr = gen_set_value (g, gh, e, name, hive_t_REG_BINARY, nd, nl);
    free (nd);
    if (sr == -1)
      return -1;
    gen_change (g, "SOFTWARE\\...\\TaskCache\\Tasks entry of %s: %s rewritten", task_path, name);
  }
  return 0;
}

/* Rewrite one task file's content (data, len: as read) and its TaskCache
 * entry.  *written_ret (caller frees) / *wlen_ret: what was written, or
 * NULL when it holds no old SID.  Returns 0 or -1. */
static int
rewrite_task (struct gen *g, const char *path, const char *task_path, const uint8_t *data,
              size_t len, const char *os, const char *ns, int check_only,
              struct task_result *res, uint8_t **written_ret, size_t *wlen_ret)
{
  *written_ret = NULL;
  int utf16 = len >= 2 && data[0] == 0xFF && data[1] == 0xFE;
  size_t bom = utf16 ? 2 : 0;
  uint8_t *nd;
  size_t nl;
  size_t n = sid_text_replace (data + bom, len - bom, utf16, os, ns, &nd, &nl);
  if (!n)
    return 0;
  if (check_only) {
    res->offenders = strv_push (res->offenders, ws_strdup (task_path));
    free (nd);
    return 0;
  }
  size_t wl = nl + bom;
  uint8_t *wp = ws_malloc (wl);
  memcpy (wp, data, bom);
  memcpy (wp + bom, nd, nl);
  free (nd);
  if (gen_write_file (g, path, (const char *) wp, wl) == -1) {
    free (wp);
    return -1;
  }
  gen_change (g, "task %s: %zu occurrences of the old SID rewritten", task_path, n);
  res->rewritten++;
  if (update_task_cache (g, task_path, data, len, wp, wl, os, ns, res) == -1) {
    free (wp);
    return -1;
  }
  *written_ret = wp;
  *wlen_ret = wl;
  return 0;
}

int
fs_sid_tasks (struct gen *g, const struct sid *old, const struct sid *nw, int check_only,
              struct task_result *res)
{
  memset (res, 0, sizeof *res);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (old, os);
  sid_to_string (nw, ns);
  int remember = !check_only && !g->o->dry_run;
  if (remember && g->tasks_known && sid_equal (old, &g->tasks_sid)) {
    /* The next clone: the files the last rewrite changed, as it wrote
     * them (no other task file held the SID; nothing has changed them). */
    for (size_t i = 0; i < g->n_task_copies; ++i) {
      struct task_copy *c = &g->task_copies[i];
      uint8_t *wp;
      size_t wl;
      res->scanned++;
      if (rewrite_task (g, c->path, c->task_path, c->data, c->len, os, ns, 0, res, &wp, &wl) == -1)
        return -1;
      if (wp) {
        free (c->data);
        c->data = wp;
        c->len = wl;
      }
    }
    g->tasks_sid = *nw;
    return 0;
  }
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "System32/Tasks");
  if (!dir || !win_is_dir (g->w, dir))
    return 0;
  CLEANUP_FREE_STRING_LIST char **files = guestfs_find (g->g, dir);
  if (!files) {
    ws_error ("%s: cannot list %s: %s", g->w->image, dir, appliance_error (g->g));
    return -1;
  }
  for (size_t i = 0; remember && i < g->n_task_copies; ++i) {
    free (g->task_copies[i].path);
    free (g->task_copies[i].task_path);
    free (g->task_copies[i].data);
  }
  if (remember)
    g->n_task_copies = 0;
  for (size_t i = 0; files[i]; ++i) {
    CLEANUP_FREE char *path = ws_asprintf ("%s/%s", dir, files[i][0] == '/' ? files[i] + 1 : files[i]);
    if (!win_is_file (g->w, path))
      continue;
    int64_t size = win_filesize (g->w, path);
    if (size < 0 || size > (4 << 20)) {
      gen_warn (g, "task file %s is larger than 4 MiB; not read", path);
      continue;
    }
    size_t len;
    CLEANUP_FREE char *data = guestfs_read_file (g->g, path, &len);
    if (!data) {
      ws_error ("%s: cannot read %s: %s", g->w->image, path, appliance_error (g->g));
      return -1;
    }
    res->scanned++;
    const char *rel = files[i];
    while (*rel == '/')
      rel++;
    char *task_path = ws_asprintf ("\\%s", rel);
    for (char *c = task_path; *c; ++c)
      if (*c == '/')
        *c = '\\';
    uint8_t *wp;
    size_t wl;
    if (rewrite_task (g, path, task_path, (uint8_t *) data, len, os, ns, check_only, res,
                      &wp, &wl) == -1) {
      free (task_path);
      return -1;
    }
    if (wp && remember) {
      g->task_copies = ws_realloc (g->task_copies, (g->n_task_copies + 1) * sizeof *g->task_copies);
      g->task_copies[g->n_task_copies++] = (struct task_copy) { ws_strdup (path), task_path, wp, wl };
    }
    else {
      free (wp);
      free (task_path);
    }
  }
  if (remember) {
    g->tasks_sid = *nw;
    g->tasks_known = 1;
  }
  return 0;
}
