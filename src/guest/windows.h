/* winseal: one Windows installation on a launched appliance ("what to do
 * to one mounted Windows"): finding it, mounting it, reaching its files. */
#ifndef WINSEAL_WINDOWS_H
#define WINSEAL_WINDOWS_H

#include <guestfs.h>

#include "win/sid.h"

/* Ownership: windows_open* fill it; windows_close frees every string and
 * list in it (root ... bitlocker, fs_vols, fs_vol_hit) and zeroes it.  g,
 * image and disk are borrowed. */
struct windows {
  guestfs_h *g;
  const char *image;            /* the image file, for messages */
  char *root;                   /* inspection root (C: device) */
  char *systemroot;             /* case-correct, e.g. "/Windows" */
  char *product_name, *product_variant, *arch, *hostname;
  int major, minor;
  char **bitlocker;             /* BitLocker devices seen (NULL-terminated) */
  int readonly;                 /* mounted read-only */
  const char *disk;             /* the appliance disk it is on ("/dev/sdb"), or NULL */
  /* What the file-system SID pass (fsids.c) remembers for the next pass
   * on the same appliance (clone): the other NTFS volumes of the disk,
   * and after a rewrite its new SID and which volumes held the old one
   * (index 0: the Windows volume). */
  char **fs_vols;
  int fs_vols_known;
  struct sid fs_after;
  int fs_after_valid;
  unsigned char *fs_vol_hit;
  /* The last rewrite saved, in the appliance's scratch root, the paths
   * where it found anything; its old SID (the next pass looks there only). */
  int fs_list_valid;
  struct sid fs_list_old;
};

/* Is the device (a partition or whole disk) on the appliance disk disk
 * ("/dev/sdb": /dev/sdb, /dev/sdb1, ...)?  Always, when disk is NULL. */
int on_disk (const char *dev, const char *disk);

/* Find the Windows installation on the appliance's disks (only on disk,
 * when not NULL: several images share one appliance in batch mode) and mount its
 * file systems (read-only if readonly).  Returns 0, or a WS_FAIL_* kind
 * after printing one line: not Windows, encrypted, hibernated. */
int windows_open (guestfs_h *g, const char *image, const char *disk, int readonly,
                  struct windows *w);
void windows_close (struct windows *w);
/* Mount the Windows volume on / again (after the file-system SID pass
 * mounted the volumes elsewhere).  Returns 0 or -1 (reported). */
int windows_remount (struct windows *w);
/* The same without libguestfs inspection (much faster under TCG): the
 * first NTFS volume holding Windows\System32\config\SOFTWARE, mounted
 * on /; fills root, systemroot and arch only.  Returns -1 when it finds
 * no Windows (call windows_open for the precise diagnosis), else 0 or a
 * WS_FAIL_* kind as windows_open. */
int windows_open_quick (guestfs_h *g, const char *image, const char *disk, int readonly,
                        struct windows *w);

/* windows_open_quick, then windows_open when it found nothing: what every
 * command that does not need the full inspection uses.  Returns 0 or a
 * WS_FAIL_* kind (reported). */
int windows_find (guestfs_h *g, const char *image, const char *disk, int readonly,
                  struct windows *w);
/* Resolve a Windows path relative to the volume root ("Windows/System32")
 * case-insensitively.  Caller frees.  The last component need not exist. */
char *win_path (struct windows *w, const char *path);
/* Same, below the system root ("System32/config/SAM"). */
char *win_sysroot_path (struct windows *w, const char *path);
/* Map a Windows path read from the image or a template, such as
 * "C:\Users\x" or "%SystemDrive%\Users\x", to a mounted path, with "." and
 * ".." resolved inside the volume.  NULL, with the reason in *why_ret
 * (may be NULL), when it is on another drive, not absolute, climbs out of
 * the volume or names an alternate data stream.  Caller frees. */
char *win_map_path (struct windows *w, const char *winpath, const char **why_ret);
/* Why a mapped profile directory must not be removed (the volume root,
 * a system folder or a built-in profile, what holds one or lies in one,
 * a path through a junction), or NULL when it may. */
const char *win_profile_dir_refused (struct windows *w, const char *dir);
int win_is_file (struct windows *w, const char *path);
int win_is_dir (struct windows *w, const char *path);
/* Size of a file in bytes, or -1. */
int64_t win_filesize (struct windows *w, const char *path);

/* Is the first sector a BitLocker volume's ("-FVE-FS-" at offset 3)? */
int is_bitlocker_sector (const char *buf, size_t len);
/* Do these bytes start a hibernation image ("hibr"/"HIBR")? */
int is_hibernation_header (const char *buf, size_t len);

#endif
