/* winseal: locating and mounting a Windows installation in the appliance. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "guest/appliance.h"
#include "guest/windows.h"

int
is_bitlocker_sector (const char *buf, size_t len)
{
  return len >= 11 && memcmp (buf + 3, "-FVE-FS-", 8) == 0;
}

int
is_hibernation_header (const char *buf, size_t len)
{
  return len >= 4 && (memcmp (buf, "hibr", 4) == 0 || memcmp (buf, "HIBR", 4) == 0);
}

/* Record the BitLocker volumes among the appliance's partitions/devices. */
int
on_disk (const char *dev, const char *disk)
{
  if (!disk)
    return 1;
  size_t l = strlen (disk);
  return strncmp (dev, disk, l) == 0 && (dev[l] == '\0' || (dev[l] >= '0' && dev[l] <= '9'));
}

static char **
find_bitlocker (guestfs_h *g, const char *disk)
{
  CLEANUP_FREE_STRING_LIST char **parts = guestfs_list_partitions (g);
  CLEANUP_FREE_STRING_LIST char **devs = guestfs_list_devices (g);
  char **found = ws_malloc (sizeof (char *));
  size_t n = 0;
  found[0] = NULL;
  for (int pass = 0; pass < 2; ++pass) {
    char **list = pass == 0 ? parts : devs;
    for (size_t i = 0; list && list[i]; ++i) {
      if (!on_disk (list[i], disk))
        continue;
      size_t len;
      char *sec = guestfs_pread_device (g, list[i], 512, 0, &len);
      if (sec && is_bitlocker_sector (sec, len)) {
        found = ws_realloc (found, (n + 2) * sizeof (char *));
        found[n++] = ws_strdup (list[i]);
        found[n] = NULL;
      }
      free (sec);
    }
  }
  return found;
}

static int
cmp_mp (const void *a, const void *b)
{
  /* Shorter mountpoints first, so "/" is mounted before "/boot". */
  const char *x = *(char *const *) a, *y = *(char *const *) b;
  return (int) strlen (x) - (int) strlen (y);
}

/* A hibernated Windows must not be changed (the hibernation image would
 * overwrite the changes at resume), and is refused for inspection too. */
static int
check_hibernation (struct windows *w)
{
  CLEANUP_FREE char *hib = win_path (w, "hiberfil.sys");
  if (hib && guestfs_is_file (w->g, hib) > 0) {
    size_t len;
    CLEANUP_FREE char *head = guestfs_pread (w->g, hib, 4, 0, &len);
    if (head && is_hibernation_header (head, len)) {
      ws_error ("%s: Windows is hibernated (hiberfil.sys holds a hibernation "
                "image); boot it and shut it down fully (no hibernation, no "
                "Fast Startup) before sealing", w->image);
      return WS_FAIL_HIBERNATED;
    }
  }
  return 0;
}

/* The architecture of a PE file from its COFF header's Machine field
 * (one small read instead of file(1) in the appliance); NULL if unknown. */
static const char *
pe_arch (guestfs_h *g, const char *path)
{
  size_t len = 0;
  CLEANUP_FREE char *h = guestfs_pread (g, path, 4096, 0, &len);
  if (!h || len < 0x40 || h[0] != 'M' || h[1] != 'Z')
    return NULL;
  uint32_t pe = (uint8_t) h[0x3c] | (uint8_t) h[0x3d] << 8 | (uint8_t) h[0x3e] << 16
                | (uint32_t) (uint8_t) h[0x3f] << 24;
  if (pe > len - 6 || memcmp (h + pe, "PE\0\0", 4) != 0)
    return NULL;
  unsigned machine = (uint8_t) h[pe + 4] | (uint8_t) h[pe + 5] << 8;
  return machine == 0x8664 ? "x86_64" : machine == 0x14c ? "i386"
         : machine == 0xaa64 ? "aarch64" : NULL;
}

int
windows_open_quick (guestfs_h *g, const char *image, const char *disk, int readonly,
                    struct windows *w)
{
  memset (w, 0, sizeof *w);
  w->g = g;
  w->image = image;
  w->readonly = readonly;
  w->disk = disk;
  CLEANUP_FREE_STRING_LIST char **parts = guestfs_list_partitions (g);
  CLEANUP_FREE_STRING_LIST char **devs = guestfs_list_devices (g);
  char **lists[2] = { parts, devs };
  char **ntfs = NULL;
  int mounted = 0;
  guestfs_push_error_handler (g, NULL, NULL);
  /* Every partition of the disk is typed (the file-system SID pass wants
   * the NTFS ones); the first holding Windows is the root.  Writable
   * sessions mount it read-write at once: a hibernated Windows then
   * fails here and windows_open says why. */
  for (int l = 0; l < 2; ++l)
    for (size_t i = 0; lists[l] && lists[l][i]; ++i) {
      if (!on_disk (lists[l][i], disk))
        continue;
      CLEANUP_FREE char *type = guestfs_vfs_type (g, lists[l][i]);
      if (!type || strcmp (type, "ntfs") != 0)
        continue;
      if (w->root || (readonly ? guestfs_mount_ro (g, lists[l][i], "/")
                               : guestfs_mount (g, lists[l][i], "/")) == -1) {
        ntfs = strv_push (ntfs, ws_strdup (lists[l][i]));
        continue;
      }
      CLEANUP_FREE char *sr = guestfs_case_sensitive_path (g, "/windows");
      CLEANUP_FREE char *sw = guestfs_case_sensitive_path (g, "/windows/system32/config/software");
      CLEANUP_FREE char *cmd = guestfs_case_sensitive_path (g, "/windows/system32/cmd.exe");
      if (sr && sw && guestfs_is_file (g, sw) > 0) {
        w->root = ws_strdup (lists[l][i]);
        w->systemroot = ws_strdup (sr);
        const char *pa = cmd ? pe_arch (g, cmd) : NULL;
        w->arch = ws_strdup (pa ? pa : "unknown");
        mounted = 1;
      }
      else {
        guestfs_umount_all (g);
        ntfs = strv_push (ntfs, ws_strdup (lists[l][i]));
      }
    }
  guestfs_pop_error_handler (g);
  w->bitlocker = ws_malloc (sizeof (char *));
  w->bitlocker[0] = NULL;
  if (!w->root) {
    free_string_list (ntfs);
    windows_close (w);
    return -1;
  }
  w->fs_vols = ntfs;
  w->fs_vols_known = 1;
  if (!mounted) {
    ws_error ("%s: cannot mount %s: %s", image, w->root, appliance_error (g));
    return WS_FAIL_UNREADABLE;
  }
  return check_hibernation (w);
}

int
windows_remount (struct windows *w)
{
  int r = w->readonly ? guestfs_mount_ro (w->g, w->root, "/") : guestfs_mount (w->g, w->root, "/");
  if (r == -1)
    ws_error ("%s: cannot mount %s again: %s", w->image, w->root, appliance_error (w->g));
  return r;
}

int
windows_open (guestfs_h *g, const char *image, const char *disk, int readonly,
              struct windows *w)
{
  memset (w, 0, sizeof *w);
  w->g = g;
  w->image = image;
  w->readonly = readonly;
  w->disk = disk;
  w->bitlocker = find_bitlocker (g, disk);

  CLEANUP_FREE_STRING_LIST char **roots = guestfs_inspect_os (g);
  if (!roots) {
    /* libguestfs's inspection reads SYSTEM and SOFTWARE with hivex and
     * passes a failure on as an OCaml exception: say what it means. */
    const char *e = appliance_error (g);
    if (strstr (e, "Hivex") || strstr (e, "hivex"))
      ws_error ("%s: inspection failed: a registry hive of this Windows (SYSTEM or "
                "SOFTWARE) is corrupt or truncated and cannot be read", image);
    else
      ws_error ("%s: inspection failed: %s", image, e);
    return WS_FAIL_UNREADABLE;
  }
  CLEANUP_FREE char *others = NULL;
  for (size_t i = 0; roots[i]; ++i) {
    if (!on_disk (roots[i], disk))
      continue;
    CLEANUP_FREE char *type = guestfs_inspect_get_type (g, roots[i]);
    if (type && strcmp (type, "windows") == 0) {
      if (w->root) {
        ws_warning ("%s: several Windows installations; using the one on %s",
                    image, w->root);
        continue;
      }
      w->root = ws_strdup (roots[i]);
    }
    else if (!others)
      others = ws_asprintf ("%s on %s", type ? type : "unknown", roots[i]);
  }
  if (!w->root) {
    if (w->bitlocker[0]) {
      ws_error ("%s: %s is a BitLocker-encrypted volume; winseal cannot read "
                "or seal it offline (decrypt it first, e.g. manage-bde -off)",
                image, w->bitlocker[0]);
      return WS_FAIL_ENCRYPTED;
    }
    if (others)
      ws_error ("%s: no Windows installation found (found %s)", image, others);
    else
      ws_error ("%s: no Windows installation found (no operating system "
                "recognised on any file system)", image);
    return WS_FAIL_NOT_WINDOWS;
  }

  w->product_name = guestfs_inspect_get_product_name (g, w->root);
  w->product_variant = guestfs_inspect_get_product_variant (g, w->root);
  w->arch = guestfs_inspect_get_arch (g, w->root);
  w->hostname = guestfs_inspect_get_hostname (g, w->root);
  w->major = guestfs_inspect_get_major_version (g, w->root);
  w->minor = guestfs_inspect_get_minor_version (g, w->root);
  w->systemroot = guestfs_inspect_get_windows_systemroot (g, w->root);

  CLEANUP_FREE_STRING_LIST char **mps = guestfs_inspect_get_mountpoints (g, w->root);
  if (!mps || !w->systemroot) {
    ws_error ("%s: cannot read inspection data: %s", image, appliance_error (g));
    return WS_FAIL_UNREADABLE;
  }
  size_t n = count_strings (mps) / 2;
  char **order = ws_malloc ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; ++i)
    order[i] = mps[2 * i];
  qsort (order, n, sizeof (char *), cmp_mp);
  for (size_t i = 0; i < n; ++i) {
    const char *dev = NULL;
    for (size_t j = 0; j < n; ++j)
      if (mps[2 * j] == order[i])
        dev = mps[2 * j + 1];
    int r = readonly ? guestfs_mount_ro (g, dev, order[i])
                     : guestfs_mount (g, dev, order[i]);
    if (r == -1) {
      const char *e = appliance_error (g);
      int hib = strcasestr (e, "hibernat") != NULL || strcasestr (e, "unsafe state") != NULL;
      ws_error ("%s: cannot mount %s%s: %s", image, dev,
                readonly ? " read-only" : "", e);
      free (order);
      return hib ? WS_FAIL_HIBERNATED : WS_FAIL_UNREADABLE;
    }
  }
  free (order);

  return check_hibernation (w);
}

void
windows_close (struct windows *w)
{
  free (w->root);
  free (w->systemroot);
  free (w->product_name);
  free (w->product_variant);
  free (w->arch);
  free (w->hostname);
  free_string_list (w->bitlocker);
  free_string_list (w->fs_vols);
  free (w->fs_vol_hit);
  memset (w, 0, sizeof *w);
}

char *
win_path (struct windows *w, const char *path)
{
  CLEANUP_FREE char *abs = ws_strconcat ("/", path, NULL);
  for (char *p = abs; *p; ++p)
    if (*p == '\\')
      *p = '/';
  char *r = guestfs_case_sensitive_path (w->g, abs);
  if (!r)
    return ws_strdup (abs);
  return r;
}

char *
win_sysroot_path (struct windows *w, const char *path)
{
  CLEANUP_FREE char *p = ws_strconcat (w->systemroot + 1, "/", path, NULL);
  return win_path (w, p);
}

/* "a\\.\\b\\..\\c" -> "a/c": the components of a path relative to the
 * volume root, with "." and ".." resolved inside the volume.  NULL (and
 * *why_ret) when ".." climbs above the root or a component names an
 * alternate data stream. */
static char *
normalize (const char *rel, const char **why_ret)
{
  size_t len = strlen (rel);
  char *out = ws_malloc (len + 1);
  size_t o = 0;
  for (const char *p = rel; *p; ) {
    while (*p == '\\' || *p == '/')
      p++;
    size_t n = strcspn (p, "\\/");
    if (n == 0)
      break;
    if (n == 1 && p[0] == '.')
      ;
    else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (o == 0) {
        free (out);
        *why_ret = "climbs out of the Windows volume";
        return NULL;
      }
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--;                    /* the slash */
    }
    else if (memchr (p, ':', n)) {
      free (out);
      *why_ret = "names an alternate data stream or another drive inside the path";
      return NULL;
    }
    else {
      if (o)
        out[o++] = '/';
      memcpy (out + o, p, n);
      o += n;
    }
    p += n;
  }
  out[o] = '\0';
  return out;
}

char *
win_map_path (struct windows *w, const char *winpath, const char **why_ret)
{
  const char *dummy;
  if (!why_ret)
    why_ret = &dummy;
  *why_ret = "is not on the Windows volume (C:)";
  const char *rest = NULL;
  CLEANUP_FREE char *sysrel = NULL;
  if (strncasecmp (winpath, "%SystemDrive%", 13) == 0)
    rest = winpath + 13;
  else if (strncasecmp (winpath, "%SystemRoot%", 12) == 0
           || strncasecmp (winpath, "%windir%", 8) == 0) {
    const char *r = winpath + (winpath[2] == 'y' || winpath[2] == 'Y' ? 12 : 8);
    rest = sysrel = ws_strconcat (w->systemroot + 1, "/", r, NULL);
  }
  else if ((winpath[0] == 'C' || winpath[0] == 'c') && winpath[1] == ':'
           && (winpath[2] == '\\' || winpath[2] == '/'))
    rest = winpath + 2;
  if (!rest || (!sysrel && rest[0] != '\\' && rest[0] != '/'))
    return NULL;
  CLEANUP_FREE char *norm = normalize (rest, why_ret);
  if (!norm)
    return NULL;
  return win_path (w, norm);
}

/* Folders a profile directory may never be, hold, or lie in (relative to
 * the volume root, matched case-insensitively): the system's own, and the
 * built-in profiles.  The system root is added from the image. */
static const char *const system_folders[] = {
  "Program Files", "Program Files (x86)", "ProgramData", "System Volume Information",
  "$Recycle.Bin", "Recovery", "Boot", "EFI", "PerfLogs",
  "Users/Default", "Users/Default User", "Users/Public", "Users/All Users",
  "Users/Administrator", NULL,
};

static int
under (const char *p, const char *dir)
{
  size_t l = strlen (dir);
  return strncasecmp (p, dir, l) == 0 && (p[l] == '\0' || p[l] == '/');
}

const char *
win_profile_dir_refused (struct windows *w, const char *dir)
{
  static __thread char why[200];
  const char *p = dir;
  while (*p == '/')
    p++;
  if (!*p)
    return "is the root of the Windows volume";
  if (strcasecmp (p, "users") == 0)
    return "is the folder that holds every profile";
  const char *sr = w->systemroot ? w->systemroot + (w->systemroot[0] == '/') : "Windows";
  for (int i = -1; i < 0 || system_folders[i]; ++i) {
    const char *f = i < 0 ? sr : system_folders[i];
    char shown[64];
    snprintf (shown, sizeof shown, "C:\\%s", f);
    for (char *c = shown; *c; ++c)
      if (*c == '/')
        *c = '\\';
    if (under (p, f)) {
      snprintf (why, sizeof why, "is %s%s", strlen (p) == strlen (f) ? "" : "inside ", shown);
      return why;
    }
    if (under (f, p)) {
      snprintf (why, sizeof why, "holds %s", shown);
      return why;
    }
  }
  /* A junction or link on the way would take the removal elsewhere. */
  CLEANUP_FREE char *real = guestfs_realpath (w->g, dir);
  if (real && strcasecmp (real, dir) != 0) {
    snprintf (why, sizeof why, "leads elsewhere through a link or junction (%.100s)", real);
    return why;
  }
  return NULL;
}

int
win_is_file (struct windows *w, const char *path)
{
  return guestfs_is_file_opts (w->g, path, GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 0, -1) > 0;
}

int
win_is_dir (struct windows *w, const char *path)
{
  return guestfs_is_dir (w->g, path) > 0;
}

int64_t
win_filesize (struct windows *w, const char *path)
{
  if (!win_is_file (w, path))
    return -1;
  return guestfs_filesize (w->g, path);
}

int
windows_find (guestfs_h *g, const char *image, const char *disk, int readonly,
              struct windows *w)
{
  int r = windows_open_quick (g, image, disk, readonly, w);
  if (r == -1)
    r = windows_open (g, image, disk, readonly, w);
  return r;
}
