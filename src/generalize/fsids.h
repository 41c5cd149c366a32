/* winseal: the machine SID in the file system — NTFS security
 * descriptors and SID-named folders on every NTFS volume (through the
 * in-appliance helper, src/helper/fshelper.c).  Scheduled tasks are
 * tasks.h's. */
#ifndef WINSEAL_FSIDS_H
#define WINSEAL_FSIDS_H

#include "generalize/generalize.h"

enum fs_mode { FS_WALK, FS_COUNT, FS_REWRITE };

struct fs_sid_result {
  size_t volumes;               /* NTFS volumes walked */
  size_t skipped;               /* volumes a previous pass found clean (clone) */
  int from_list;                /* looked only where the previous pass found anything */
  size_t scanned;               /* files and directories */
  size_t with_sd;               /* of them with a descriptor read */
  size_t matched;               /* descriptors holding the old domain */
  size_t rewritten;             /* descriptors written back */
  size_t left;                  /* still holding it after the rewrite */
  size_t unknown;               /* descriptors with ACEs of a type not parsed */
  size_t bad;                   /* malformed descriptors (left alone) */
  size_t errors;                /* read/write errors */
  size_t names;                 /* entries whose name holds the old SID */
  size_t renamed, removed;      /* of them, renamed / removed (rewrite) */
  /* $Secure, once the volumes are unmounted: its entries (first copies),
   * those (both copies) naming the old domain (before a rewrite), those
   * rewritten, the $SII/$SDH entries rehashed, the volumes left. */
  size_t secure_entries, secure_with_old, secure_rewritten, secure_index_entries, secure_left;
  /* Boot stores (BCD hives) holding the old SID (before a rewrite), those
   * rewritten, those left (dirty or unwritable). */
  size_t boot_with_old, boot_rewritten, boot_left;
  long helper_ms;               /* the walk inside the appliance */
  double seconds;               /* the whole pass, mounts included */
  /* Display paths ("C:\..." or "DEVICE:/..."), the first few of each. */
  char **sd_paths, **bad_paths, **unknown_paths, **error_paths, **name_paths;
};

/* Walk every NTFS volume of the image.  FS_REWRITE moves the SIDs of
 * domain old in every descriptor to nw and renames SID-named entries
 * (recycle-bin folders of the RIDs in removed[] are deleted instead);
 * FS_COUNT only reports; FS_WALK only walks (the benchmark's floor).
 * The Windows volume is mounted on / again afterwards.  Returns 0 or -1
 * (reported). */
int fs_sid_pass (struct gen *g, enum fs_mode mode, const struct sid *old, const struct sid *nw,
                 const uint32_t *removed, size_t nremoved, struct fs_sid_result *res);
void fs_sid_result_free (struct fs_sid_result *res);
/* The result as a report object. */
json_object *fs_sid_result_json (const struct fs_sid_result *res, int dry_run);

#endif
