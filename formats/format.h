/* formats: disk image format drivers behind one table (DESIGN.md §3, §5).
 * This library does not use libguestfs: it reads and writes image files
 * directly, and every value read from a file is bound-checked. */
#ifndef WINSEAL_FORMAT_H
#define WINSEAL_FORMAT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PROBE_HEAD 4096
#define PROBE_TAIL 512
#define MAX_BACKING_DEPTH 16

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
};

/* Options for writing an image. */
struct write_opts {
  int variant;                  /* driver-specific: vhd 0 fixed, 1 dynamic */
  int compress;                 /* qcow2: compressed clusters */
  int threads;                  /* compression threads (vmdk, qcow2 -c) */
};

#define WRITER_RUN_IOV 64

/* A writer.  Data arrives in increasing offset order; ranges never given
 * to write_data read back as zeros. */
struct writer {
  const struct format_ops *ops;
  int fd;
  const char *path;             /* the temporary file being written */
  const char *name;             /* the final file's base name */
  uint64_t size;                /* virtual size */
  struct write_opts opts;
  uint64_t bytes_written;       /* file bytes written so far */
  void *priv;
  /* Data output (wdata.c): a direct-I/O descriptor (-1: none), its
   * alignment, and the contiguous writes gathered for it. */
  int dfd;
  size_t dio_off, dio_mem;
  struct iovec run[WRITER_RUN_IOV];
  int nrun;
  uint64_t run_off, run_len;
  uint64_t direct_bytes;        /* bytes written with direct I/O */
  uint8_t *stage;               /* writer_seq's staging buffer */
  size_t stage_len;
  uint64_t stage_off;
};

/* wdata.c: bulk data output for writers.  writer_data writes len bytes of
 * buf at file offset off, directly to the device when the file system
 * allows it and the write is aligned, else through the page cache.  With
 * stable set, buf stays unchanged until writer_data_flush, so the write may
 * be gathered with the following ones.  Both report their own errors. */
void writer_direct_open (struct writer *w);
void writer_direct_close (struct writer *w);
int writer_data (struct writer *w, const void *buf, size_t len, uint64_t off,
                 bool stable);
int writer_data_flush (struct writer *w);
/* For writers that write their file front to back from buffers they
 * reuse: the bytes are copied and go out in large direct writes.  A write
 * that does not follow on from the last one first writes out what is
 * staged.  writer_seq_flush writes out what is staged (before ftruncate or
 * metadata writes into the same pages). */
int writer_seq (struct writer *w, const void *buf, size_t len, uint64_t off);
int writer_seq_flush (struct writer *w);

struct format_ops {
  const char *name;             /* winseal's name: raw, vhd, vmdk, qcow2 */
  const char *qemu_name;        /* the name qemu and libguestfs use */
  /* Score how well a file looks like this format: 100 for a magic number,
   * 1 for raw, 0 for no.  head/tail are the file's first and last bytes
   * (fewer for a short file). */
  int (*probe) (const uint8_t *head, size_t headlen,
                const uint8_t *tail, size_t taillen, uint64_t size);

  /* Reader.  open fills img->size and img->priv (and img->backing, opened
   * with image_open_backing). */
  int (*open) (struct image *img);
  void (*close) (struct image *img);
  /* Read len bytes at off (off + len <= size).  Holes read as zeros here
   * (or from the backing image). */
  int (*pread) (struct image *img, void *buf, size_t len, uint64_t off);
  /* The extent at off: its type, and its length (at most max) in *len_ret. */
  int (*extent) (struct image *img, uint64_t off, uint64_t max,
                 uint64_t *len_ret, enum extent_type *type_ret);
  /* Optional: when bytes [off, off + len) of the virtual disk are stored
   * unchanged at one place in the image file, set *file_off to it and
   * return 1; else 0.  (The converter then maps the file instead of
   * copying it.) */
  int (*contiguous) (struct image *img, uint64_t off, uint64_t len,
                     uint64_t *file_off);

  /* Writer (NULL when the format is read-only here). */
  int (*w_open) (struct writer *w);
  int (*w_data) (struct writer *w, uint64_t off, const void *buf, size_t len);
  int (*w_finish) (struct writer *w);
  void (*w_free) (struct writer *w);
  /* The virtual size the writer will produce for a requested size (for
   * example rounded up for Azure); -1 with an error when impossible. */
  int64_t (*w_size) (uint64_t requested, const struct write_opts *opts);
};

extern const struct format_ops format_raw, format_vhd, format_vmdk, format_qcow2;
extern const struct format_ops *const format_table[];

/* error.c: the library's one error function.  The default hook prints
 * "winseal: MESSAGE" on stderr; a program may install its own. */
void format_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
extern void (*format_error_hook) (const char *msg);
/* How many errors format_error has reported (after each is out). */
extern volatile sig_atomic_t format_errors;
/* Report a failed read of img's file at off (errno set): "the input file
 * changed ..." when the file has shrunk since it was opened, else the
 * offset and errno.  Returns -1. */
int read_error (struct image *img, uint64_t off);

/* The format by winseal's or qemu's name, or NULL. */
const struct format_ops *format_by_name (const char *name);
/* Probe an open file; raw when nothing else scores.  NULL (errno set) if
 * the file cannot be read. */
const struct format_ops *format_probe_fd (int fd, uint64_t size);

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
/* For drivers: open a file a descriptor names as an extent of parent
 * (relative to parent's directory), under the same policy as backing
 * files.  Returns the fd or -1 (reported). */
int image_open_extent (struct image *parent, const char *path);
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

/* For drivers: open the backing image of parent (path relative to the
 * parent's directory), refusing loops and chains deeper than
 * MAX_BACKING_DEPTH. */
struct image *image_open_backing (struct image *parent, const char *path,
                                  const struct format_ops *fmt);
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

/* Helpers for drivers. */
/* A small cache of metadata tables (qcow2 L2 tables, VMDK grain tables)
 * read from the image file, least recently used first out. */
#define TCACHE_SLOTS 16
struct tcache {
  size_t bytes;                 /* table size */
  unsigned clock;
  struct { uint64_t off; uint8_t *data; unsigned age; } s[TCACHE_SLOTS];
};
void tcache_init (struct tcache *c, size_t bytes);
void tcache_free (struct tcache *c);
/* The table at file offset off, read on a miss; NULL on a read error. */
const uint8_t *tcache_get (struct tcache *c, int fd, uint64_t off);
/* Read a hole: from the backing image, or zeros. */
int hole_read (struct image *img, void *buf, size_t len, uint64_t off);
int full_pread (int fd, void *buf, size_t len, uint64_t off);
int full_pwrite (int fd, const void *buf, size_t len, uint64_t off);
bool is_zero (const void *buf, size_t len);

/* Convert an image.  The output is written to a temporary file in the
 * output's directory, fsynced and renamed over out_path only when
 * complete; on failure nothing is left (on SIGINT/SIGTERM/SIGHUP, see
 * convert_abort_cleanup). */
struct convert_opts {
  const struct format_ops *fmt;
  struct write_opts wopts;
  uint64_t size;                /* requested virtual size; 0 = the input's */
  int checksum;                 /* compute the output's sha256 */
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};
struct convert_result {
  uint64_t virtual_size;
  uint64_t bytes_written;       /* bytes written into the file */
  uint64_t file_size;
  uint64_t direct_io_bytes;     /* of bytes_written, those written directly */
  char sha256[65];              /* "" unless asked for */
};
int convert_image (struct image *in, const char *out_path,
                   const struct convert_opts *o, struct convert_result *r);
/* Async-signal-safe: remove the temporary files of the conversions in
 * progress.  The library installs no SIGINT/SIGTERM/SIGHUP handler; the
 * program's handler calls this (convert_image handles SIGBUS itself). */
void convert_abort_cleanup (void);
/* Remove the temporary outputs in dir that killed runs left (unlocked
 * .winseal-tmp-* files).  Returns how many. */
int convert_clean_stale (const char *dir);

/* sha256.c: the SHA-256 of a file as lower-case hex. */
int sha256_file (int fd, char hex[65]);
/* The SHA-256 of a buffer, as 32 bytes. */
void sha256_buffer (const void *data, size_t len, uint8_t out[32]);

/* Check that the partition table of a raw disk of disk_size bytes fits in
 * it.  Returns 0, or -1 with a message in why (a truncated image, a
 * partition past the end). */
int partitions_check (int fd, uint64_t disk_size, char *why, size_t whylen);

#endif
