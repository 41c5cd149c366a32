/* formats: the drivers' interface (the table entry a driver provides, the
 * writer's state, helpers for drivers), as qemu's block_int.h is to
 * block.h.  Only formats/ (and its unit test and fuzzers) include it. */
#ifndef WINSEAL_FORMAT_INT_H
#define WINSEAL_FORMAT_INT_H

#include <signal.h>
#include <sys/uio.h>

#include "format.h"

#define PROBE_HEAD 4096
#define PROBE_TAIL 512
#define MAX_BACKING_DEPTH 16

struct writer;

struct format_ops {
  const char *name;             /* winseal's name: raw, vhd, vmdk, qcow2, vdi, vhdx */
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

extern const struct format_ops format_raw, format_vhd, format_vmdk, format_qcow2,
  format_vdi, format_vhdx;
extern const struct format_ops *const format_table[];

#define WRITER_RUN_IOV 64

/* A writer.  Data arrives in increasing offset order; ranges never given
 * to write_data read back as zeros. */
struct writer {
  const struct format_ops *ops;
  int fd;
  const char *path;             /* the temporary file being written */
  const char *name;             /* the final file's base name */
  const char *out_path;         /* the final file, for messages */
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

/* The output a writer's messages name: the final path (the temporary
 * file is an implementation detail), or the file written when there is
 * none (unit tests). */
static inline const char *
writer_display (const struct writer *w)
{
  return w->out_path ? w->out_path : w->path;
}

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
/* For writers that keep the disk in blocks allocated on first write
 * (dynamic VHD, VHDX): len bytes of buf at virtual offset off, split at
 * block_size boundaries, each piece written (stable, as writer_data) at
 * where (w, block) + its offset in the block; where allocates the block
 * when it must and returns its data's file offset, or -1 (reported). */
int writer_blocks (struct writer *w, uint64_t off, const void *buf, size_t len,
                   uint64_t block_size, int64_t (*where) (struct writer *w, uint64_t block));

/* image.c: a random (version 4) GUID, its first three fields stored
 * little-endian (le: VHDX's GUIDs) or big-endian (VHD's unique IDs). */
void random_guid (uint8_t g[16], int le);

/* image.c: the library's one error function (through format_error_hook). */
void format_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
/* How many errors format_error has reported (after each is out). */
extern volatile sig_atomic_t format_errors;
/* Report a failed read of img's file at off (errno set): "the input file
 * changed ..." when the file has shrunk since it was opened, else the
 * offset and errno.  Returns -1. */
int read_error (struct image *img, uint64_t off);

/* For drivers: open a file a descriptor names as an extent of parent
 * (relative to parent's directory), under the same policy as backing
 * files.  Returns the fd or -1 (reported). */
int image_open_extent (struct image *parent, const char *path);

/* For drivers: open the backing image of parent (path relative to the
 * parent's directory), refusing loops and chains deeper than
 * MAX_BACKING_DEPTH. */
struct image *image_open_backing (struct image *parent, const char *path,
                                  const struct format_ops *fmt);

/* Differencing formats (VHD, VHDX) name their parent by Windows paths. */
#define LOCATOR_PATH_MAX 1024
/* UTF-16 (big- or little-endian) to UTF-8 in out (NUL-terminated, at
 * most out_len - 1 bytes), stopping at a NUL; -1 for a lone surrogate or
 * a string too long. */
int utf16_to_utf8 (const uint8_t *in, size_t in_len, int big_endian, char *out,
                   size_t out_len);
/* A locator's Windows path made a POSIX path relative to the child's
 * folder: a relative one with its separators turned, an absolute one
 * (absolute nonzero) cut to its last component. */
void locator_path (char *p, int absolute);
/* Open img's parent: the first of the nc candidate paths (relative to
 * img's folder) that exists, as format fmt, its printable name in
 * printable; NULL when none exists ("IMG: a differencing WHAT whose
 * parent "P" is missing", errno ENOENT) or it cannot be opened. */
struct image *open_parent_candidates (struct image *img, char (*cand)[LOCATOR_PATH_MAX], int nc,
                                      const struct format_ops *fmt, const char *what,
                                      char *printable, size_t plen);

/* Refuse a chain whose parent's identity is not what the child records:
 * "IMG: its parent "P" is not the disk it was made from (WHY)", errno
 * EINVAL; returns -1. */
int parent_not_made_from (struct image *img, const char *printable, const char *why);

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
/* image_extent without resolving holes: EXTENT_HOLE stays (a range the
 * image does not hold; its parent's, when it has one). */
int image_extent_own (struct image *img, uint64_t off, uint64_t max,
                      uint64_t *len_ret, enum extent_type *type_ret);
int full_pread (int fd, void *buf, size_t len, uint64_t off);
int full_pwrite (int fd, const void *buf, size_t len, uint64_t off);
bool is_zero (const void *buf, size_t len);

/* raw.c: a disk stored in blocks of one size, each either at one file
 * offset (whole) or absent (zeros): dynamic VHD, VDI, VHDX. */
struct block_map {
  uint64_t block_size;
  uint64_t blocks;
  uint64_t *off;                /* per block: its data's file offset; 0: zeros */
};
int block_map_pread (struct image *img, const struct block_map *m, void *buf, size_t len,
                     uint64_t off);
int block_map_extent (const struct block_map *m, uint64_t off, uint64_t max,
                      uint64_t *len_ret, enum extent_type *type_ret);
int block_map_contiguous (const struct block_map *m, uint64_t off, uint64_t len,
                          uint64_t *file_off);
/* The reader operations of a driver whose img->priv is a block_map
 * (malloc'd, its off array too): VDI, VHDX. */
void block_map_op_close (struct image *img);
int block_map_op_pread (struct image *img, void *buf, size_t len, uint64_t off);
int block_map_op_extent (struct image *img, uint64_t off, uint64_t max,
                         uint64_t *len_ret, enum extent_type *type_ret);
int block_map_op_contiguous (struct image *img, uint64_t off, uint64_t len,
                             uint64_t *file_off);

/* raw.c: helpers shared by drivers that keep data as a flat byte range
 * (raw, fixed VHD, VMDK flat extents). */
/* The extent of the file data at base + off (SEEK_DATA/SEEK_HOLE). */
int fd_extent (int fd, uint64_t base, uint64_t off, uint64_t max,
               uint64_t *len_ret, enum extent_type *type_ret);
/* Write data at off in w->fd (raw layout). */
int raw_w_data (struct writer *w, uint64_t off, const void *buf, size_t len);

#endif
