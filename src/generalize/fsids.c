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

#include "guest/appliance.h"
#include "formats/format.h"
#include "generalize/fsids.h"
#include "helper/helper-proto.h"
#include "registry/hive.h"
#include "registry/regedit.h"
#include "util/json-out.h"
#include "util/util.h"

#define HELPER_NAME "winseal-fshelper"
#define HELPER_GUEST "/" HELPER_NAME
#define HIVES_GUEST "/winseal-hives.bin"
#define LIST_GUEST "/winseal-fslist"
#define MOUNT_PREFIX "/winseal-vol"
#define LIST_MAX 5              /* offenders listed per kind */

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
    helper_unescape (path);
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

/* ---- $Secure: the shared descriptors themselves ----
 *
 * ntfs-3g gives a file a new descriptor by appending it to $Secure and
 * leaves the one it replaced; the old ones still name the old machine's
 * accounts.  Once the helper has run and the volumes are unmounted, the
 * domain is moved inside every $Secure entry by winseal's own code
 * (formats/ntfs-secure.c) through the volume's device, the one ntfs-3g
 * wrote through. */

#define DEV_CHUNK (1u << 20)

struct devio { guestfs_h *g; const char *dev; };

static int
dev_pread (void *opaque, void *buf, size_t len, uint64_t off)
{
  struct devio *d = opaque;
  uint8_t *b = buf;
  while (len) {
    size_t k = len < DEV_CHUNK ? len : DEV_CHUNK, got = 0;
    char *p = guestfs_pread_device (d->g, d->dev, (int) k, (int64_t) off, &got);
    if (!p || got != k) {
      free (p);
      return -1;
    }
    memcpy (b, p, k);
    free (p);
    b += k, off += k, len -= k;
  }
  return 0;
}

static int
dev_pwrite (void *opaque, const void *buf, size_t len, uint64_t off)
{
  struct devio *d = opaque;
  const char *b = buf;
  while (len) {
    size_t k = len < DEV_CHUNK ? len : DEV_CHUNK;
    if (guestfs_pwrite_device (d->g, d->dev, b, k, (int64_t) off) != (int) k)
      return -1;
    b += k, off += k, len -= k;
  }
  return 0;
}

static void
secure_pass (struct gen *g, const struct vol *v, size_t nv, const struct sid *old,
             const struct sid *nw, int write, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  uint8_t from[12], to[12];
  for (int k = 0; k < 3; ++k) {
    put_le32 (from + 4 * k, old->sub[1 + k]);
    put_le32 (to + 4 * k, nw->sub[1 + k]);
  }
  guestfs_push_error_handler (gh, NULL, NULL);
  for (size_t i = 0; i < nv; ++i) {
    int64_t size = guestfs_blockdev_getsize64 (gh, v[i].dev);
    char why[256] = "its size cannot be read";
    int r = -1;
    struct ntfs_secure_stats st = { 0 };
    if (size > 0) {
      struct devio d = { gh, v[i].dev };
      struct image *img = image_open_callbacks (v[i].dev, (uint64_t) size, dev_pread, &d);
      r = ntfs_secure_move (img, 0, (uint64_t) size, from, to, write ? dev_pwrite : NULL, &d,
                            &st, why, sizeof why);
      image_close (img);
    }
    if (r == -1) {
      res->secure_left++;
      gen_warn (g, "%s: its shared security descriptors ($Secure) were %s: %s", v[i].dev,
                write ? "left as they are" : "not checked", why);
      continue;
    }
    res->secure_entries += st.entries;
    res->secure_with_old += st.with_domain;
    res->secure_rewritten += st.rewritten;
    res->secure_index_entries += st.index_entries;
  }
  guestfs_pop_error_handler (gh);
}

/* ---- boot stores ----
 *
 * The Boot Configuration Data store (Boot\BCD on the system or Windows
 * volume, EFI\Microsoft\Boot\BCD on the EFI system partition) is a
 * registry hive outside the Windows volume's config folder; its security
 * cells may name a local account.  One that holds the old domain is put
 * through sid-reset's raw rewrite and the hive scrub, written back in
 * place (same size: the same clusters), and its logs emptied (zeroed,
 * then truncated).  A store whose base block is dirty (its sequence
 * numbers differ: the newest data is in its logs) is left with a
 * warning. */

#define BOOT_MP "/winseal-boot"
static const char *const bcd_paths[] = { "/Boot/BCD", "/EFI/Microsoft/Boot/BCD" };

static int
zero_file (guestfs_h *gh, const char *path, int64_t size)
{
  static const char zeros[65536];
  for (int64_t off = 0; off < size; off += sizeof zeros) {
    size_t k = size - off < (int64_t) sizeof zeros ? (size_t) (size - off) : sizeof zeros;
    if (guestfs_pwrite (gh, path, zeros, k, off) != (int) k)
      return -1;
  }
  return 0;
}

static int
write_in_place (guestfs_h *gh, const char *path, const uint8_t *buf, size_t len)
{
  for (size_t off = 0; off < len; off += DEV_CHUNK) {
    size_t k = len - off < DEV_CHUNK ? len - off : DEV_CHUNK;
    if (guestfs_pwrite (gh, path, (const char *) buf + off, k, (int64_t) off) != (int) k)
      return -1;
  }
  return 0;
}

static void
boot_store (struct gen *g, const char *root, const char *rel, const char *dev,
            const struct sid *old, const struct sid *nw, int write, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  CLEANUP_FREE char *want = ws_asprintf ("%s%s", root, rel);
  CLEANUP_FREE char *path = guestfs_case_sensitive_path (gh, want);
  if (!path || guestfs_is_file (gh, path) <= 0)
    return;
  CLEANUP_FREE char *shown = ws_asprintf ("%s:%s", dev, rel);
  CLEANUP_FREE char *local = ws_asprintf ("%s/bcd", g->tmpdir);
  CLEANUP_FREE char *saved = NULL;      /* before the first goto out */
  if (guestfs_download (gh, path, local) == -1) {
    gen_warn (g, "boot store %s cannot be read: %s", shown, appliance_error (gh));
    return;
  }
  struct regf r;
  if (regf_load (&r, local, shown) == -1) {
    gen_warn (g, "boot store %s is not a hive winseal can read; it was not searched for the "
              "old SID", shown);
    unlink (local);
    return;
  }
  uint8_t from[12];
  for (int k = 0; k < 3; ++k)
    put_le32 (from + 4 * k, old->sub[1 + k]);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (old, os);
  sid_to_string (nw, ns);
  size_t hits = regf_count_bytes (&r, from, sizeof from) + regf_count_text (&r, os);
  if (!hits)
    goto out;
  res->boot_with_old++;
  if (!write)
    goto out;
  if (le32 (r.buf + 4) != le32 (r.buf + 8)) {
    gen_warn (g, "boot store %s holds the old SID but is dirty (its newest data is in its "
              "logs); it was left as it is", shown);
    res->boot_left++;
    goto out;
  }
  int64_t before = guestfs_filesize (gh, path);
  struct sid_rewrite_stats st;
  size_t tv = 0;
  struct regf_scrub_stats sc;
  saved = ws_asprintf ("%s/bcd.new", g->tmpdir);
  if (regf_rewrite_domain (&r, old, nw, &st) < 0
      || (strlen (os) == strlen (ns) && regf_rewrite_value_text (&r, os, ns, &tv) < 0)
      || regf_scrub (&r, &sc) == -1 || regf_save (&r, saved) == -1) {
    gen_warn (g, "boot store %s could not be rewritten; it was left as it is", shown);
    res->boot_left++;
    goto out;
  }
  regf_free (&r);
  if (regf_load (&r, saved, shown) == -1) {
    res->boot_left++;
    unlink (saved);
    unlink (local);
    return;
  }
  size_t len = 4096 + (size_t) r.bins_size;
  int ok = (int64_t) len == before ? write_in_place (gh, path, r.buf, len) == 0
                                   : guestfs_upload (gh, saved, path) == 0;
  unlink (saved);
  if (!ok) {
    gen_warn (g, "boot store %s could not be written: %s", shown, appliance_error (gh));
    res->boot_left++;
    goto out;
  }
  static const char *const logs[] = { ".LOG", ".LOG1", ".LOG2" };
  for (size_t k = 0; k < sizeof logs / sizeof *logs; ++k) {
    CLEANUP_FREE char *lw = ws_asprintf ("%s%s", want, logs[k]);
    CLEANUP_FREE char *lp = guestfs_case_sensitive_path (gh, lw);
    int64_t size = lp && guestfs_is_file (gh, lp) > 0 ? guestfs_filesize (gh, lp) : 0;
    if (size > 0 && (zero_file (gh, lp, size) == -1 || guestfs_truncate (gh, lp) == -1))
      gen_warn (g, "the log %s of boot store %s could not be emptied", logs[k] + 1, shown);
  }
  res->boot_rewritten++;
  gen_change (g, "boot store %s: %zu binary SIDs moved to the new SID, %zu values holding it "
              "as text; scrubbed (%zu free cells, %zu slack bytes zeroed)", shown, st.binary, tv,
              sc.free_cells, sc.slack_bytes);
 out:
  regf_free (&r);
  unlink (local);
}

/* The boot stores on the mounted NTFS volumes, then on each FAT volume of
 * the disk (mounted here for it). */
static void
boot_stores (struct gen *g, const struct vol *v, size_t nv, const struct sid *old,
             const struct sid *nw, int write, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  guestfs_push_error_handler (gh, NULL, NULL);
  for (size_t i = 0; i < nv; ++i)
    for (size_t k = 0; v[i].mounted && k < sizeof bcd_paths / sizeof *bcd_paths; ++k)
      boot_store (g, v[i].mp, bcd_paths[k], v[i].dev, old, nw, write, res);
  CLEANUP_FREE_STRING_LIST char **parts = guestfs_list_partitions (gh);
  for (size_t i = 0; parts && parts[i]; ++i) {
    if (!on_disk (parts[i], g->w->disk))
      continue;
    CLEANUP_FREE char *type = guestfs_vfs_type (gh, parts[i]);
    if (!type || strcmp (type, "vfat") != 0 || guestfs_mkmountpoint (gh, BOOT_MP) == -1)
      continue;
    if ((write ? guestfs_mount (gh, parts[i], BOOT_MP)
               : guestfs_mount_ro (gh, parts[i], BOOT_MP)) == 0) {
      for (size_t k = 0; k < sizeof bcd_paths / sizeof *bcd_paths; ++k)
        boot_store (g, BOOT_MP, bcd_paths[k], parts[i], old, nw, write, res);
      if (guestfs_umount (gh, BOOT_MP) == -1)
        gen_warn (g, "cannot unmount %s: %s", parts[i], appliance_error (gh));
    }
    guestfs_rmmountpoint (gh, BOOT_MP);
  }
  guestfs_pop_error_handler (gh);
}

int
fs_sid_pass (struct gen *g, enum fs_mode mode, const struct sid *old, const struct sid *nw,
             const uint32_t *removed, size_t nremoved, struct fs_sid_result *res)
{
  guestfs_h *gh = g->g;
  struct windows *w = g->w;
  double t0 = ws_now ();
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
  if (mode != FS_WALK)
    boot_stores (g, v, nv, old, nw, mode == FS_REWRITE && !g->o->dry_run && !w->readonly, res);
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
  if (r == 0 && mode != FS_WALK)
    secure_pass (g, v, nv, old, nw, mode == FS_REWRITE && !g->o->dry_run && !w->readonly, res);
  if (windows_remount (w) == -1)
    r = -1;
  free (hives);
  free (names);
  free (argv);
  free (v);
  res->seconds = ws_now () - t0;
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

/* "WHAT_to_rewrite": planned (a dry run), or "WHAT_rewritten": done. */
static void
jadd_rewrite (json_object *o, int dry_run, const char *what, int64_t planned, int64_t done)
{
  char key[64];
  snprintf (key, sizeof key, dry_run ? "%s_to_rewrite" : "%s_rewritten", what);
  jadd_int (o, key, dry_run ? planned : done);
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
  jadd_rewrite (o, dry_run, "descriptors", res->matched, res->rewritten);
  jadd_int (o, "descriptors_with_unparsed_aces", res->unknown);
  jadd_int (o, "malformed_descriptors", res->bad);
  jadd_int (o, "errors", res->errors);
  jadd_int (o, "names_with_old_sid", res->names);
  jadd_int (o, "folders_renamed", res->renamed);
  jadd_int (o, "folders_removed", res->removed);
  jadd_int (o, "secure_entries", res->secure_entries);
  jadd_int (o, "secure_entries_with_old_sid", res->secure_with_old);
  jadd_rewrite (o, dry_run, "secure_entries", res->secure_with_old, res->secure_rewritten);
  jadd_int (o, "secure_index_entries_rehashed", res->secure_index_entries);
  jadd_int (o, "secure_volumes_left", res->secure_left);
  jadd_int (o, "boot_stores_with_old_sid", res->boot_with_old);
  jadd_rewrite (o, dry_run, "boot_stores", res->boot_with_old, res->boot_rewritten);
  jadd_int (o, "boot_stores_left", res->boot_left);
  json_object_object_add (o, "seconds", json_object_new_double (res->seconds));
  json_object_object_add (o, "walk_seconds", json_object_new_double (res->helper_ms / 1000.0));
  return o;
}
