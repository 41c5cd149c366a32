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
  char *dev;
  char mp[32];
  int created, mounted;
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

int
fs_sid_pass (struct gen *g, enum fs_mode mode, const struct sid *old, const struct sid *nw,
             const uint32_t *removed, size_t nremoved, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  double t0 = now_s ();
  memset (res, 0, sizeof *res);
  CLEANUP_FREE char *helper = helper_path ();
  if (!helper) {
    ws_error ("cannot find %s (set WINSEAL_FSHELPER, or install winseal with it)", HELPER_NAME);
    return -1;
  }
  int ro = g->w->readonly || mode != FS_REWRITE;
  /* The NTFS volumes of the image's disk, the Windows one first.  (guestfs_list_filesystems
   * would probe every device for every file-system type: seconds under
   * TCG; blkid's answer per partition is enough here.) */
  CLEANUP_FREE_STRING_LIST char **parts = guestfs_list_partitions (gh);
  CLEANUP_FREE_STRING_LIST char **devs = guestfs_list_devices (gh);
  if (!parts || !devs) {
    ws_error ("%s: cannot list partitions: %s", g->w->image, appliance_error (gh));
    return -1;
  }
  size_t nv = 1;
  struct vol *v = ws_malloc ((count_strings (parts) + count_strings (devs) + 1) * sizeof *v);
  memset (v, 0, (count_strings (parts) + count_strings (devs) + 1) * sizeof *v);
  v[0].dev = g->w->root;
  char **lists[2] = { parts, devs };
  guestfs_push_error_handler (gh, NULL, NULL);
  for (int l = 0; l < 2; ++l)
    for (size_t i = 0; lists[l][i]; ++i) {
      if (!on_disk (lists[l][i], g->w->disk))
        continue;
      CLEANUP_FREE char *type = guestfs_vfs_type (gh, lists[l][i]);
      if (type && strcmp (type, "ntfs") == 0 && strcmp (lists[l][i], g->w->root) != 0)
        v[nv++].dev = lists[l][i];
    }
  guestfs_pop_error_handler (gh);
  for (size_t i = 0; i < nv; ++i)
    snprintf (v[i].mp, sizeof v[i].mp, MOUNT_PREFIX "%zu", i);

  int r = -1, uploaded = 0;
  char **names = NULL;
  CLEANUP_FREE char *out = NULL;
  const char **argv = ws_malloc ((nv + 7) * sizeof *argv);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  if (guestfs_umount_all (gh) == -1) {
    ws_error ("%s: cannot unmount: %s", g->w->image, appliance_error (gh));
    goto out;
  }
  size_t argc = 0;
  argv[argc++] = HELPER_GUEST;
  argv[argc++] = mode == FS_WALK ? "walk" : mode == FS_COUNT ? "count" : "rewrite";
  argv[argc++] = sid_to_string (old, os);
  argv[argc++] = sid_to_string (nw, ns);
  argv[argc++] = "20";
  for (size_t i = 0; i < nv; ++i) {
    if (guestfs_mkmountpoint (gh, v[i].mp) == -1) {
      ws_error ("%s: cannot make a mount point in the appliance: %s", g->w->image,
                appliance_error (gh));
      goto out;
    }
    v[i].created = 1;
    guestfs_push_error_handler (gh, NULL, NULL);
    int m = ro ? guestfs_mount_ro (gh, v[i].dev, v[i].mp) : guestfs_mount (gh, v[i].dev, v[i].mp);
    guestfs_pop_error_handler (gh);
    if (m == -1) {
      if (i == 0) {
        ws_error ("%s: cannot mount %s: %s", g->w->image, v[i].dev, appliance_error (gh));
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
  if (guestfs_upload (gh, helper, HELPER_GUEST) == -1
      || (uploaded = 1, guestfs_chmod (gh, 0755, HELPER_GUEST) == -1)) {
    ws_error ("%s: cannot put %s in the appliance: %s", g->w->image, HELPER_NAME,
              appliance_error (gh));
    goto out;
  }
  out = guestfs_command (gh, (char **) argv);
  if (!out) {
    ws_error ("%s: the file-system SID pass failed: %s", g->w->image, appliance_error (gh));
    goto out;
  }
  if (parse_output (g, out, v, nv, res, &names) == -1)
    goto out;
  if (mode == FS_REWRITE && !g->o->dry_run
      && fix_names (g, names, v, nv, old, nw, removed, nremoved, res) == -1)
    goto out;
  r = 0;
 out:
  if (uploaded)
    guestfs_rm_f (gh, HELPER_GUEST);
  for (size_t i = nv; i-- > 0; ) {
    if (v[i].mounted && guestfs_umount (gh, v[i].mp) == -1) {
      ws_error ("%s: cannot unmount %s: %s", g->w->image, v[i].dev, appliance_error (gh));
      r = -1;
    }
    if (v[i].created)
      guestfs_rmmountpoint (gh, v[i].mp);
  }
  if (windows_remount (g->w) == -1)
    r = -1;
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

int
fs_sid_tasks (struct gen *g, const struct sid *old, const struct sid *nw, int check_only,
              struct task_result *res)
{
  memset (res, 0, sizeof *res);
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "System32/Tasks");
  if (!dir || !win_is_dir (g->w, dir))
    return 0;
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (old, os);
  sid_to_string (nw, ns);
  CLEANUP_FREE_STRING_LIST char **files = guestfs_find (g->g, dir);
  if (!files) {
    ws_error ("%s: cannot list %s: %s", g->w->image, dir, appliance_error (g->g));
    return -1;
  }
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
    int utf16 = len >= 2 && (uint8_t) data[0] == 0xFF && (uint8_t) data[1] == 0xFE;
    uint8_t *nd;
    size_t nl;
    size_t n = sid_text_replace ((uint8_t *) data + (utf16 ? 2 : 0), len - (utf16 ? 2 : 0),
                                 utf16, os, ns, &nd, &nl);
    if (!n)
      continue;
    const char *rel = files[i];
    while (*rel == '/')
      rel++;
    CLEANUP_FREE char *task_path = ws_asprintf ("\\%s", rel);
    for (char *c = task_path; *c; ++c)
      if (*c == '/')
        *c = '\\';
    if (check_only) {
      res->offenders = strv_push (res->offenders, ws_strdup (task_path));
      free (nd);
      continue;
    }
    size_t bom = utf16 ? 2 : 0, wl = nl + bom;
    CLEANUP_FREE uint8_t *wp = ws_malloc (wl);
    if (bom) {
      wp[0] = 0xFF;
      wp[1] = 0xFE;
    }
    memcpy (wp + bom, nd, nl);
    free (nd);
    if (gen_write_file (g, path, (const char *) wp, wl) == -1)
      return -1;
    gen_change (g, "task %s: %zu occurrences of the old SID rewritten", task_path, n);
    res->rewritten++;
    if (update_task_cache (g, task_path, (uint8_t *) data, len, wp, wl, os, ns, res) == -1)
      return -1;
  }
  return 0;
}
