/* formats: disk image format drivers behind one table (DESIGN.md §3, §5),
 * the library's interface for its users.  The drivers' own interface is
 * format-int.h.  This library does not use libguestfs: it reads and writes
 * image files directly, and every value read from a file is
 * bound-checked. */
#ifndef WINSEAL_FORMAT_H
#define WINSEAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a range of the virtual disk holds. */
enum extent_type {
  EXTENT_DATA,                  /* allocated data (may still be zeros) */
  EXTENT_ZERO,                  /* known to read as zeros */
  EXTENT_HOLE,                  /* unallocated: zeros, or the backing file's */
};

struct format_ops;

/* An open image (reader side). */
struct image {
  const struct format_ops *ops;
  char *path;                   /* as given (for messages) */
  int fd;
  uint64_t size;                /* virtual size in bytes */
  uint64_t file_size;
  struct image *backing;        /* backing image (qcow2), or NULL */
  void *priv;                   /* the driver's state */
  int depth;                    /* 0 for the top image */
  char **chain;                 /* real paths of this image and those above */
  const char *extra_dir;        /* one more directory backing files may be in */
  char *own_extra_dir;          /* the top image's copy of it */
  /* Set by the driver when qemu would not read this file as winseal does
   * (it reads a differencing VHD without its parent, cannot open a
   * differencing VHDX, replays a VHDX log only by writing the file, does
   * not find a parent named by a Windows path): what the file is. */
  const char *qemu_differs;
};

/* Options for writing an image. */
struct write_opts {
  int variant;                  /* driver-specific: vhd 0 fixed, 1 dynamic */
  int compress;                 /* qcow2: compressed clusters */
  int threads;                  /* compression threads (vmdk, qcow2 -c) */
  uint64_t min_size;            /* vhd: the smallest virtual size to write (0: none) */
  int vmdk_header_gd;           /* vmdk: the grain directory's place in the header too */
};
/* Azure's managed-disk upload minimum: a VHD file of 20 MiB + 512 bytes
 * (a 20 MiB disk and its footer). */
#define AZURE_MIN_SIZE (UINT64_C (20) << 20)




/* The first image of img's chain that qemu would not read as winseal
 * does: its qemu_differs, else NULL. */
const char *image_qemu_differs (const struct image *img);

/* The drivers (their table is formats/format-int.h's). */
extern const struct format_ops format_raw, format_vhd, format_vmdk, format_qcow2, format_vdi,
  format_vhdx;
const char *format_name (const struct format_ops *f);      /* raw, vhd, vmdk, qcow2, vdi, vhdx */
const char *format_qemu_name (const struct format_ops *f); /* raw, vpc, vmdk, qcow2 */

/* The library's errors go to this hook, one message (no "winseal: ", no
 * newline) per error; the default prints "winseal: MESSAGE" on stderr.  A
 * program installs its own once, before any call. */
extern void (*format_error_hook) (const char *msg);

/* The format by winseal's or qemu's name, or NULL. */
const struct format_ops *format_by_name (const char *name);
/* Probe an open file (path: for messages); raw only when no known magic
 * number matches.  NULL with an error reported when the file cannot be
 * read (errno set) or is a container winseal does not read (VHDX, VDI,
 * QED, Parallels, Bochs, cloop, COWD, LUKS, DMG: errno EMEDIUMTYPE). */
const struct format_ops *format_probe (int fd, uint64_t size, const char *path);

/* Open an image read-only; fmt NULL = probe.  NULL with an error reported.
 * image_close frees it and its backing chain. */
struct image *image_open (const char *path, const struct format_ops *fmt);
/* image_open, and backing files may also be in extra_dir (an overlay
 * winseal made in its temporary directory, backed by the input). */
struct image *image_open_within (const char *path, const struct format_ops *fmt,
                                 const char *extra_dir);

/* The path policy (winseal(1), FILES AND PATHS): a backing file or extent
 * is followed only when it is a regular file in the top image's directory,
 * in the image_open_within directory, or in one of these directories (real
 * paths, NULL-terminated; winseal --allow-dir). */
extern char **format_allowed_dirs;
/* Is the real path real dir itself or inside the real path dir? */
bool path_inside (const char *real, const char *dir);
/* Open a host input file read-only without waiting on a FIFO and check its
 * type: a regular file (or block device when allow_blockdev), not a file
 * of procfs/sysfs.  Returns the fd (blocking again), or -1 reported as
 * "PATH: why" with errno set (EINVAL for a refused kind of file). */
struct stat;
int open_input_file (const char *path, int allow_blockdev, struct stat *st_ret);
/* The same check on an open fd: NULL when it may be read, else why not
 * ("is a FIFO, not a regular file"). */
const char *input_fd_refused (int fd, int allow_blockdev, struct stat *st_ret);
/* "a FIFO", "a character device", ... for messages. */
const char *file_kind (unsigned int mode);

void image_close (struct image *img);
/* Read through the driver, the backing chain and zero-fill. */
int image_pread (struct image *img, void *buf, size_t len, uint64_t off);
/* The extent at off, resolving holes through the backing chain: DATA or
 * ZERO, never HOLE. */
int image_extent (struct image *img, uint64_t off, uint64_t max,
                  uint64_t *len_ret, enum extent_type *type_ret);

/* Open a regular file or block device read-only (open_input_file) and
 * find its size.  Returns the fd, or -1 with an error reported and errno
 * set (ENOENT for a missing file, EINVAL for another kind of file). */
int open_disk_file (const char *path, uint64_t *size_ret);


/* Convert an image.  The output is written to a temporary file in the
 * output's directory, fsynced and renamed over out_path only when
 * complete; on failure nothing is left (on SIGINT/SIGTERM/SIGHUP, see
 * convert_abort_cleanup). */
/* Byte ranges of a virtual disk, sorted and disjoint (ntfs.c fills one
 * with the clusters NTFS volumes do not use). */
struct rangeset {
  uint64_t *off, *len;
  size_t n, cap;
  uint64_t bytes;               /* their total */
};
void rangeset_add (struct rangeset *rs, uint64_t off, uint64_t len);   /* in order */
void rangeset_free (struct rangeset *rs);

/* A partition of a disk's MBR (primary entries) or GPT, by bytes. */
struct partition { uint64_t off, len; int number; };
#define PARTITIONS_MAX 128
/* The partitions of img (none when it has no table); -1 with why set
 * when the table is malformed. */
int partitions_list (struct image *img, struct partition *parts, int max, int *n_ret,
                     char *why, size_t whylen);

/* What NTFS volumes keep of deleted files inside the MFT: the records
 * $MFT's bitmap marks free (their old attributes: names, small files'
 * data) and the bytes of records in use past their used size.  Filled
 * by ntfs_free_ranges; the conversion's reader passes every buffer that
 * holds MFT records through mft_clear_apply, which rewrites them: a freed
 * record keeps its header (its sequence number) and an empty attribute
 * list, a record in use keeps its used bytes, both with their update
 * sequence restamped; a record whose header and bitmap bit disagree, or
 * that is not sound, is left as it is. */
struct mft_clear;
struct mft_clear *mft_clear_new (void);
void mft_clear_free (struct mft_clear *mc);
/* Whether [off, off + len) of the disk holds part of an MFT. */
bool mft_clear_hits (const struct mft_clear *mc, uint64_t off, uint64_t len);
/* Rewrite the MFT records in buf (the disk's bytes at off); a record
 * across buf's edge is read whole from img.  Adds to *cleared the freed
 * records emptied, to *trimmed the records in use whose slack was zeroed.
 * Not thread-safe for one mc. */
void mft_clear_apply (struct mft_clear *mc, struct image *img, uint64_t off, uint8_t *buf,
                      size_t len, uint64_t *cleared, uint64_t *trimmed);

/* The clusters an NTFS volume (at off, len bytes, of img) does not use,
 * as its $Bitmap (MFT record 6, its unnamed $DATA attribute) says, added
 * to rs as disk byte ranges (when rs is not NULL), and its MFT added to
 * mc (when mc is not NULL).  Returns 1 when done, 0 when the volume is
 * not NTFS, -1 when it is but its free clusters cannot be read (why says
 * why: an odd cluster size, a damaged record or run list, a bitmap
 * shorter than the volume; nothing is added), -2 when the free clusters
 * were added but the MFT cannot be mapped (why says why); every value
 * read is bound-checked. */
int ntfs_free_ranges (struct image *img, uint64_t off, uint64_t len, struct rangeset *rs,
                      struct mft_clear *mc, char *why, size_t whylen);

/* ntfs_free_ranges for every NTFS volume of img (its partitions, or img
 * itself when it has no partition table), in disk order.  A volume that
 * is NTFS but cannot be read so is left out, and warn is called with its
 * partition number (0: the disk), records 0 (its free clusters) or 1
 * (its MFT records) and why; so is a malformed partition table.  Returns
 * the number of volumes whose free clusters were mapped. */
int image_ntfs_free (struct image *img, struct rangeset *rs, struct mft_clear *mc,
                     void (*warn) (void *opaque, int part, int records, const char *why),
                     void *opaque);

/* Where the old machine's accounts remain in an NTFS volume's shared
 * security descriptors ($Secure: $SDS, indexed by $SII and $SDH; see
 * ntfs-secure.c): ntfs_secure_move moves every SID of the domain from
 * (its three sub-authorities, 12 bytes as stored) to the domain to, in
 * every $SDS entry and its mirror copy, recomputes their hashes, updates
 * $SII and re-sorts $SDH, and zeroes $SDS's allocation past its
 * initialized size; writes go through write (disk offsets).  With write
 * NULL it only counts.  Everything is read and checked before the first
 * write.  Returns 1 when done (stats added to *st), 0 when the volume is
 * not NTFS, -1 with why (nothing written: a malformed $Secure, an
 * attribute list, an entry whose hash does not match). */
typedef int (*ntfs_write_fn) (void *opaque, const void *buf, size_t len, uint64_t off);
struct ntfs_secure_stats {
  uint64_t volumes;             /* NTFS volumes whose $Secure was read */
  uint64_t entries;             /* $SDS entries (first copies) */
  uint64_t with_domain;         /* entries (both copies) naming the domain */
  uint64_t rewritten;           /* of them, rewritten */
  uint64_t index_entries;       /* $SII and $SDH entries given new hashes */
  uint64_t bare;                /* the 12 bytes outside a SID header, left */
  uint64_t slack_bytes;         /* non-zero bytes zeroed past $SDS's data */
};
int ntfs_secure_move (struct image *img, uint64_t off, uint64_t len, const uint8_t from[12],
                      const uint8_t to[12], ntfs_write_fn write, void *opaque,
                      struct ntfs_secure_stats *st, char *why, size_t whylen);
/* ntfs_secure_move for every partition of img (or img itself); warn is
 * called for each NTFS volume left as it was.  Returns 0, or -1 when any
 * was (or the partition table is malformed). */
int image_ntfs_secure (struct image *img, const uint8_t from[12], const uint8_t to[12],
                       ntfs_write_fn write, void *opaque, struct ntfs_secure_stats *st,
                       void (*warn) (void *wopaque, int part, const char *why), void *wopaque);

/* An image read through a callback (a device inside the appliance, say):
 * size bytes, read by pread (0 or -1); raw, with no extents of its own. */
struct image *image_open_callbacks (const char *name, uint64_t size,
                                    int (*pread) (void *opaque, void *buf, size_t len,
                                                  uint64_t off),
                                    void *opaque);

struct convert_opts {
  const struct format_ops *fmt;
  struct write_opts wopts;
  uint64_t size;                /* requested virtual size; 0 = the input's */
  int checksum;                 /* compute the output's sha256 */
  /* Ranges written as zeros whatever the input holds there (free NTFS
   * clusters), or NULL. */
  const struct rangeset *discard;
  /* MFT records rewritten as they are copied (see mft_clear), or NULL. */
  struct mft_clear *mft;
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};
struct convert_result {
  uint64_t virtual_size;
  uint64_t bytes_written;       /* bytes written into the file */
  uint64_t file_size;
  uint64_t direct_io_bytes;     /* of bytes_written, those written directly */
  char sha256[65];              /* "" unless asked for */
  uint64_t mft_records_cleared; /* freed MFT records emptied (o->mft) */
  uint64_t mft_records_trimmed; /* MFT records in use whose slack was zeroed */
};
int convert_image (struct image *in, const char *out_path,
                   const struct convert_opts *o, struct convert_result *r);
/* Async-signal-safe: remove the temporary files of the conversions in
 * progress.  The library installs no signal handler: the program's
 * handlers call these.  convert_image may be called from several threads
 * at once; each registers its temporary file for convert_abort_cleanup. */
void convert_abort_cleanup (void);
/* For the program's SIGBUS handler (the input is mapped: a page that cannot
 * be read when the file shrinks raises SIGBUS): prints "winseal: INPUT:
 * the input file changed or could not be read while being converted"
 * (unless that was just reported) and removes the temporary files; the
 * handler then exits. */
void convert_sigbus (void);
/* Remove the temporary outputs in dir that killed runs left (unlocked
 * .winseal-tmp-* files).  Returns how many. */
int convert_clean_stale (const char *dir);

/* outfmt.c: the output formats a user names (--format): vhd (fixed),
 * vhd-dynamic, vmdk (streamOptimized), qcow2, raw. */
const char *format_output_names (void);          /* "vhd, vhd-dynamic, ..." */
/* The output format an output file's extension implies (.vhd, .vmdk,
 * .qcow2, .raw/.img), or NULL. */
const char *format_output_guess (const char *path);
/* An output format by name (any case): its driver and variant; -1 when
 * there is none of that name. */
int format_output_lookup (const char *name, const struct format_ops **ops_ret,
                          int *variant_ret);
/* The name of the output format o writes ("vhd-dynamic", ...). */
const char *format_output_name (const struct convert_opts *o);
/* The usual extension (no dot) of an output format named exactly, or NULL. */
const char *format_output_ext (const char *name);
/* Does the output take its whole virtual size on disk (a fixed VHD)? */
bool format_output_needs_full_size (const struct convert_opts *o);

/* vhd.c: the footer at the end of a VHD file, as a checker (winseal
 * verify) needs it: -1 when the file has none (no "conectix" cookie in
 * its last 512 bytes) or cannot be read. */
struct vhd_footer {
  uint32_t disk_type;           /* 2 fixed, 3 dynamic, 4 differencing */
  bool fixed;
  uint64_t virtual_size;        /* "current size" */
  uint64_t file_size;
  bool checksum_ok;
};
/* The largest virtual size Azure takes (a fixed VHD of 32 TiB). */
#define VHD_AZURE_MAX (UINT64_C (32) << 40)
int vhd_footer_info (const char *path, struct vhd_footer *info);

/* sha256.c: the SHA-256 of a file as lower-case hex. */
int sha256_file (int fd, char hex[65]);
/* The SHA-256 of a buffer, as 32 bytes. */
void sha256_buffer (const void *data, size_t len, uint8_t out[32]);

/* Check that the partition table of a raw disk of disk_size bytes fits in
 * it.  Returns 0, or -1 with a message in why (a truncated image, a
 * partition past the end). */
int partitions_check (int fd, uint64_t disk_size, char *why, size_t whylen);

#endif
