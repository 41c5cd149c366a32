/* winseal: the session's guest-file edits (remove, make, write, copy in
 * the host files a build places, read back), which honour --dry-run and
 * go into the report. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "registry/regedit.h"
#include "util/util.h"


/* NTFS keeps a small file's data inside its MFT record ("resident"), and
 * deleting the file leaves the record, data and all, where the free
 * cluster map does not reach.  So before a removal every regular file
 * small enough to be resident (an MFT record is 1 or 4 KiB) is
 * overwritten with zeros, through ntfs-3g, which writes them in place. */
#define RESIDENT_MAX 4096

static int
zero_one (struct gen *g, const char *path, int64_t size)
{
  static const char zeros[RESIDENT_MAX];
  for (int64_t done = 0; done < size;) {
    int n = guestfs_pwrite (g->g, path, zeros + done, (size_t) (size - done), done);
    if (n <= 0) {
      ws_error ("%s: cannot clear %s before removing it: %s", g->w->image, path,
                appliance_error (g->g));
      return -1;
    }
    done += n;
  }
  g->files_zeroed++;
  return 0;
}

static int
zero_small_files (struct gen *g, const char *path)
{
  if (win_is_file (g->w, path)) {
    int64_t size = win_filesize (g->w, path);
    return size > 0 && size <= RESIDENT_MAX ? zero_one (g, path, size) : 0;
  }
  CLEANUP_FREE_STRING_LIST char **names = guestfs_find (g->g, path);
  if (!names) {
    ws_error ("%s: cannot list %s: %s", g->w->image, path, appliance_error (g->g));
    return -1;
  }
  int r = 0;
  for (size_t i = 0; r == 0 && names[i]; ++i) {
    CLEANUP_FREE char *full = ws_strconcat (path, names[i][0] == '/' ? "" : "/", names[i], NULL);
    struct guestfs_statns *s = guestfs_lstatns (g->g, full);
    if (!s) {
      ws_error ("%s: cannot look at %s: %s", g->w->image, full, appliance_error (g->g));
      return -1;
    }
    if ((s->st_mode & 0170000) == 0100000 && s->st_size > 0 && s->st_size <= RESIDENT_MAX)
      r = zero_one (g, full, s->st_size);
    guestfs_free_statns (s);
  }
  return r;
}

int
gen_rm_rf (struct gen *g, const char *path, int64_t *bytes_ret)
{
  int64_t bytes = 0;
  if (win_is_file (g->w, path))
    bytes = win_filesize (g->w, path);
  else if (win_is_dir (g->w, path)) {
    int64_t kib = guestfs_du (g->g, path);
    bytes = kib > 0 ? kib * 1024 : 0;
  }
  else
    return 0;
  if (!g->o->dry_run && zero_small_files (g, path) == -1)
    return -1;
  if (!g->o->dry_run && guestfs_rm_rf (g->g, path) == -1) {
    ws_error ("%s: cannot remove %s: %s", g->w->image, path, appliance_error (g->g));
    return -1;
  }
  if (bytes > 0)
    g->bytes_freed += bytes;
  if (bytes_ret)
    *bytes_ret = bytes;
  return 0;
}

int
gen_clear_matching (struct gen *g, const char *dir, int (*match) (const char *name),
                    int count_only, long *n, int64_t *bytes)
{
  if (!win_is_dir (g->w, dir))
    return 0;
  CLEANUP_FREE_STRING_LIST char **names = guestfs_ls (g->g, dir);
  if (!names) {
    ws_error ("%s: cannot list %s: %s", g->w->image, dir, appliance_error (g->g));
    return -1;
  }
  for (size_t i = 0; names[i]; ++i) {
    if (match && !match (names[i]))
      continue;
    ++*n;
    if (count_only)
      continue;
    CLEANUP_FREE char *p = ws_strconcat (dir, "/", names[i], NULL);
    int64_t b = 0;
    if (gen_rm_rf (g, p, &b) == -1)
      return -1;
    *bytes += b;
  }
  return 0;
}

int
gen_clear (struct gen *g, const char *path, int contents, int count_only, long *n, int64_t *bytes)
{
  if (contents)
    return gen_clear_matching (g, path, NULL, count_only, n, bytes);
  if (!win_is_file (g->w, path))
    return 0;
  ++*n;
  return count_only ? 0 : gen_rm_rf (g, path, bytes);
}

int
gen_mkdir_p (struct gen *g, const char *path)
{
  if (g->o->dry_run || win_is_dir (g->w, path))
    return 0;
  if (guestfs_mkdir_p (g->g, path) == -1) {
    ws_error ("%s: cannot create %s: %s", g->w->image, path, appliance_error (g->g));
    return -1;
  }
  return 0;
}

int
gen_write_file (struct gen *g, const char *path, const char *content, size_t len)
{
  json_object_array_add (g->files_written, json_object_new_string (path));
  if (g->o->dry_run)
    return 0;
  if (guestfs_write (g->g, path, content, len) == -1) {
    ws_error ("%s: cannot write %s: %s", g->w->image, path, appliance_error (g->g));
    return -1;
  }
  return 0;
}

int
gen_place_files (struct gen *g)
{
  json_object *placed = json_object_new_array ();
  json_object_object_add (g->report, "files_placed", placed);
  for (size_t i = 0; i < g->o->n_files; ++i) {
    const struct guest_file *f = &g->o->files[i];
    const char *why;
    CLEANUP_FREE char *path = win_map_path (g->w, f->dest, &why);
    if (!path) {
      ws_error ("%s: %s %s", g->w->image, f->dest, why);
      return -1;
    }
    struct stat st;
    if (stat (f->host, &st) == -1) {
      ws_error ("%s: %s", f->host, strerror (errno));
      return -1;
    }
    if (win_is_dir (g->w, path)) {
      ws_error ("%s: %s is a folder in the image", g->w->image, f->dest);
      return -1;
    }
    int replaced = win_is_file (g->w, path);
    CLEANUP_FREE char *dir = ws_strdup (path);
    char *slash = strrchr (dir, '/');
    if (slash && slash > dir) {
      *slash = '\0';
      if (gen_mkdir_p (g, dir) == -1)
        return -1;
    }
    if (!g->o->dry_run && guestfs_upload (g->g, f->host, path) == -1) {
      ws_error ("%s: cannot write %s: %s", g->w->image, f->dest, appliance_error (g->g));
      return -1;
    }
    json_object *o = json_object_new_object ();
    jadd_str (o, "destination", f->dest);
    jadd_str (o, "path", path);
    jadd_int (o, "bytes", st.st_size);
    jadd_bool (o, "replaced", replaced);
    json_object_array_add (placed, o);
    json_object_array_add (g->files_written, json_object_new_string (path));
  }
  return 0;
}

char *
gen_read_file (struct gen *g, const char *path, size_t *len_ret)
{
  if (!win_is_file (g->w, path))
    return NULL;
  int64_t size = win_filesize (g->w, path);
  if (size < 0 || size > 16 << 20) {
    gen_warn (g, "%s is larger than 16 MiB; not read", path);
    return NULL;
  }
  size_t len = 0;
  char *r = guestfs_read_file (g->g, path, &len);
  *len_ret = len;
  return r;
}
