/* winseal operation cleanup-files: remove what the golden machine leaves
 * that no machine made from the image needs and that Windows recreates
 * (the paging, swap and hibernation files, temporary files, crash dumps,
 * Windows Error Reporting queues, prefetch traces, Windows Update's
 * download cache and database, servicing logs), reporting the bytes
 * freed.  Removals go through gen_rm_rf: small files are zeroed first,
 * and the freed clusters are left out of the output like all free space.
 *
 * Sources: Microsoft's "Sysprep (Generalize) a Windows installation" and
 * the Azure/AWS image-preparation guides recommend removing the page
 * file and hibernation file before capture (they are machine-sized and
 * recreated at boot); Windows Update's SoftwareDistribution\Download and
 * DataStore may be deleted with the service stopped (Microsoft's
 * "reset Windows Update components" procedure); the others are caches
 * and logs the system recreates. */
#include <config.h>

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "guest/appliance.h"
#include "generalize/generalize.h"
#include "util/json-out.h"
#include "util/util.h"

/* What goes: a file (removed), or a folder's contents (the folder, which
 * Windows expects, stays). */
enum kind { FILE_, CONTENTS };
static const struct place {
  const char *path;             /* below the volume root, or the system root */
  int sysroot;
  enum kind kind;
  const char *what;
} places[] = {
  { "pagefile.sys", 0, FILE_, "paging file" },
  { "swapfile.sys", 0, FILE_, "swap file" },
  { "hiberfil.sys", 0, FILE_, "hibernation file (not a hibernated system: that is refused)" },
  { "MEMORY.DMP", 1, FILE_, "kernel crash dump" },
  { "Minidump", 1, CONTENTS, "crash minidumps" },
  { "Temp", 1, CONTENTS, "Windows temporary files" },
  { "Prefetch", 1, CONTENTS, "prefetch traces" },
  { "SoftwareDistribution/Download", 1, CONTENTS, "Windows Update downloads" },
  { "SoftwareDistribution/DataStore", 1, CONTENTS, "Windows Update database" },
  { "Logs/CBS", 1, CONTENTS, "servicing (CBS) logs" },
  { "Logs/DISM", 1, CONTENTS, "DISM logs" },
  { "ProgramData/Microsoft/Windows/WER/ReportQueue", 0, CONTENTS, "error reports queued" },
  { "ProgramData/Microsoft/Windows/WER/ReportArchive", 0, CONTENTS, "error reports archived" },
  { "ProgramData/Microsoft/Windows/WER/Temp", 0, CONTENTS, "error reporting temporary files" },
};
#define USER_TEMP "AppData/Local/Temp"

/* The profile folders under Users (not the junctions "All Users",
 * "Default User" and the like, which ntfs-3g shows as links). */
static char **
profile_dirs (struct gen *g)
{
  CLEANUP_FREE char *users = win_path (g->w, "Users");
  char **out = NULL;
  if (!win_is_dir (g->w, users))
    return strv_push (NULL, NULL);
  CLEANUP_FREE_STRING_LIST char **names = guestfs_ls (g->g, users);
  guestfs_push_error_handler (g->g, NULL, NULL);
  for (size_t i = 0; names && names[i]; ++i) {
    CLEANUP_FREE char *p = ws_strconcat (users, "/", names[i], NULL);
    if (guestfs_is_symlink (g->g, p) == 0 && guestfs_is_dir (g->g, p) > 0)
      out = strv_push (out, ws_strdup (p));
  }
  guestfs_pop_error_handler (g->g);
  return out ? out : strv_push (NULL, NULL);
}

/* Every place, then each profile's Temp.  Returns 0 or -1. */
static int
walk (struct gen *g, int count_only, json_object *items, long *total_n, int64_t *total_b)
{
  for (size_t i = 0; i < sizeof places / sizeof places[0]; ++i) {
    const struct place *pl = &places[i];
    CLEANUP_FREE char *path = pl->sysroot ? win_sysroot_path (g->w, pl->path)
                                          : win_path (g->w, pl->path);
    long n = 0;
    int64_t b = 0;
    if (gen_clear (g, path, pl->kind == CONTENTS, count_only, &n, &b) == -1)
      return -1;
    if (!n)
      continue;
    *total_n += n;
    *total_b += b;
    if (count_only)
      gen_fail (g, "cleanup-files: %s: %ld %s left", path, n,
                pl->kind == FILE_ ? "file" : "entries");
    else {
      gen_change (g, "%s: %s removed (%ld %s, %" PRId64 " bytes)", path, pl->what, n,
                  pl->kind == FILE_ ? "file" : "entries", b);
      json_object *o = json_object_new_object ();
      jadd_str (o, "path", path);
      jadd_int (o, "entries", n);
      jadd_int (o, "bytes", b);
      json_object_array_add (items, o);
    }
  }
  char **dirs = profile_dirs (g);
  for (size_t i = 0; dirs[i]; ++i) {
    CLEANUP_FREE char *want = ws_strconcat (dirs[i], "/", USER_TEMP, NULL);
    CLEANUP_FREE char *path = guestfs_case_sensitive_path (g->g, want);
    long n = 0;
    int64_t b = 0;
    if (path && gen_clear (g, path, 1, count_only, &n, &b) == -1) {
      free_string_list (dirs);
      return -1;
    }
    if (!n)
      continue;
    *total_n += n;
    *total_b += b;
    if (count_only)
      gen_fail (g, "cleanup-files: %s: %ld entries left", path, n);
    else {
      gen_change (g, "%s: a user's temporary files removed (%ld entries, %" PRId64 " bytes)",
                  path, n, b);
      json_object *o = json_object_new_object ();
      jadd_str (o, "path", path);
      jadd_int (o, "entries", n);
      jadd_int (o, "bytes", b);
      json_object_array_add (items, o);
    }
  }
  free_string_list (dirs);
  return 0;
}

static int
perform (struct gen *g)
{
  json_object *items = json_object_new_array ();
  json_object_object_add (g->op, "removed", items);
  long n = 0;
  int64_t b = 0;
  if (walk (g, 0, items, &n, &b) == -1)
    return -1;
  jadd_int (g->op, "entries_removed", n);
  jadd_int (g->op, "bytes_freed", b);
  return 0;
}

static void
verify (struct gen *g)
{
  long n = 0;
  int64_t b = 0;
  if (walk (g, 1, NULL, &n, &b) == -1)
    gen_fail (g, "cleanup-files: the folders could not be listed");
}

const struct operation op_cleanup_files = {
  .name = "cleanup-files",
  .heading = "Remove page, swap and hibernation files, temporary files, dumps and caches",
  .description =
    "Removes pagefile.sys, swapfile.sys and hiberfil.sys (a hibernated system is "
    "refused before any change), Windows\\MEMORY.DMP, and the contents (the folders "
    "stay) of Windows\\Minidump, Windows\\Temp, each profile's AppData\\Local\\Temp, "
    "Windows\\Prefetch, Windows\\SoftwareDistribution\\Download and DataStore, "
    "Windows\\Logs\\CBS and Logs\\DISM, and the Windows Error Reporting queues "
    "(ProgramData\\Microsoft\\Windows\\WER\\ReportQueue, ReportArchive, Temp).  Windows "
    "recreates them as it needs them.  The report lists each place with its entries "
    "and bytes freed; as with every removal, small files are zeroed first and the "
    "freed clusters are not copied into the output.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
