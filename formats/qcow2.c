/* formats: qcow2 — read v2/v3 (zero clusters, deflate and zstd compressed
 * clusters, extended L2 entries with subclusters, backing chains of any
 * supported format); write v3, optionally compressed, in one streaming pass
 * with bounded memory.  The rules are qemu's docs/interop/qcow2.txt. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "bytes.h"
#include "format-int.h"
#include "units.h"
#include "zpipe.h"

#define QCOW_MAGIC "QFI\xfb"
#define OFLAG_COPIED (UINT64_C (1) << 63)
#define OFLAG_COMPRESSED (UINT64_C (1) << 62)
#define OFLAG_ZERO UINT64_C (1)
#define OFFSET_MASK UINT64_C (0x00fffffffffffe00)
/* Incompatible feature bits (qcow2.txt, header bytes 72-79). */
#define INCOMPAT_DIRTY 0
#define INCOMPAT_CORRUPT 1
#define INCOMPAT_DATA_FILE 2
#define INCOMPAT_COMPRESSION 3
#define INCOMPAT_EXTENDED_L2 4
#define SUBCLUSTERS 32
#define EXT_BACKING_FORMAT 0xE2792ACA
#define MAX_SIZE (UINT64_C (1) << 50)             /* 1 PiB: anything more is absurd */
#define MAX_L1_BYTES (32u << 20)

/* Header offsets. */
enum {
  Q_MAGIC = 0, Q_VERSION = 4, Q_BACKING_OFFSET = 8, Q_BACKING_SIZE = 16,
  Q_CLUSTER_BITS = 20, Q_SIZE = 24, Q_CRYPT = 32, Q_L1_SIZE = 36,
  Q_L1_OFFSET = 40, Q_REFTABLE_OFFSET = 48, Q_REFTABLE_CLUSTERS = 56,
  Q_NB_SNAPSHOTS = 60, Q_SNAPSHOTS_OFFSET = 64, Q_INCOMPAT = 72,
  Q_COMPAT = 80, Q_AUTOCLEAR = 88, Q_REFCOUNT_ORDER = 96, Q_HEADER_LEN = 100,
  Q_COMPRESSION_TYPE = 104,
};

static int
qcow2_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
             size_t taillen, uint64_t size)
{
  return headlen >= 4 && memcmp (head, QCOW_MAGIC, 4) == 0 ? 100 : 0;
}

struct qcow2 {
  unsigned cluster_bits;
  uint64_t cluster_size, l2_entries;
  uint64_t *l1;
  uint32_t l1_size;
  uint64_t l1_offset, l1_bytes;
  unsigned csize_shift;
  uint64_t csize_mask;
  int version;
  int zstd;                     /* compression type 1 (else deflate) */
  int extended;                 /* extended L2: 128-bit entries, 32 subclusters */
  uint64_t sub_size;            /* bytes per subcluster (the cluster without extended L2) */
  unsigned entry_bytes;         /* 8, or 16 with extended L2 */
  struct tcache l2;             /* L2 tables */
  uint8_t *cbuf;                /* compressed input */
  uint8_t *dbuf;                /* last decompressed cluster */
  uint64_t dbuf_entry;
};

static int
bad (struct image *img, const char *what)
{
  format_error ("%s: invalid qcow2: %s", img->path, what);
  errno = EINVAL;
  return -1;
}

static int
qcow2_open (struct image *img)
{
  uint8_t h[512];
  if (img->file_size < 512 || full_pread (img->fd, h, 512, 0) == -1)
    return bad (img, "file shorter than a header");
  if (memcmp (h, QCOW_MAGIC, 4) != 0)
    return bad (img, "no magic");
  struct qcow2 *q = calloc (1, sizeof *q);
  if (!q)
    abort ();
  img->priv = q;
  q->version = rd_be32 (h + Q_VERSION);
  if (q->version == 1) {        /* the same magic number: qemu's old qcow */
    format_error ("%s: a qcow (version 1) image; winseal does not read it (convert it "
                  "with qemu-img first)", img->path);
    errno = EMEDIUMTYPE;
    return -1;
  }
  if (q->version != 2 && q->version != 3)
    return bad (img, "version is not 2 or 3");
  q->cluster_bits = rd_be32 (h + Q_CLUSTER_BITS);
  if (q->cluster_bits < 9 || q->cluster_bits > 21)
    return bad (img, "cluster size is not between 512 bytes and 2 MiB");
  q->cluster_size = UINT64_C (1) << q->cluster_bits;
  q->entry_bytes = 8;
  q->csize_shift = 62 - (q->cluster_bits - 8);
  q->csize_mask = (UINT64_C (1) << (q->cluster_bits - 8)) - 1;
  img->size = rd_be64 (h + Q_SIZE);
  if (img->size > MAX_SIZE)
    return bad (img, "absurd virtual size");
  q->sub_size = q->cluster_size;
  if (rd_be32 (h + Q_CRYPT) != 0) {
    format_error ("%s: encrypted qcow2 images are not supported", img->path);
    errno = ENOTSUP;
    return -1;
  }
  size_t hlen = 72;
  if (q->version == 3) {
    uint64_t incompat = rd_be64 (h + Q_INCOMPAT);
    hlen = rd_be32 (h + Q_HEADER_LEN);
    if (hlen < 104 || hlen > 512)
      return bad (img, "header length out of range");
    if (incompat & (UINT64_C (1) << INCOMPAT_CORRUPT))
      return bad (img, "the image is marked corrupt");
    if (incompat & (UINT64_C (1) << INCOMPAT_DATA_FILE)) {
      format_error ("%s: a qcow2 image whose data is in an external data file; winseal "
                    "does not read it (convert it with qemu-img first)", img->path);
      errno = ENOTSUP;
      return -1;
    }
    uint64_t known = (UINT64_C (1) << INCOMPAT_DIRTY) | (UINT64_C (1) << INCOMPAT_COMPRESSION)
                     | (UINT64_C (1) << INCOMPAT_EXTENDED_L2);
    if (incompat & ~known) {
      /* Name every bit we do not know, not a guess at what they are. */
      char bits[256] = "";
      size_t bl = 0;
      for (int b = 0; b < 64; ++b)
        if ((incompat & ~known) >> b & 1)
          bl += snprintf (bits + bl, sizeof bits - bl, "%s%d", bl ? ", " : "", b);
      format_error ("%s: qcow2 incompatible feature bit%s %s unknown to winseal "
                    "(it reads dirty, compression type and extended L2)", img->path,
                    strchr (bits, ',') ? "s" : "", bits);
      errno = ENOTSUP;
      return -1;
    }
    if (incompat & (UINT64_C (1) << INCOMPAT_COMPRESSION)) {
      if (hlen < 105)
        return bad (img, "compression type bit set but the header has no compression type");
      uint8_t ct = h[Q_COMPRESSION_TYPE];
      if (ct > 1) {
        format_error ("%s: qcow2 compression type %u is unknown to winseal (it reads "
                      "0, deflate, and 1, zstd)", img->path, ct);
        errno = ENOTSUP;
        return -1;
      }
      q->zstd = ct == 1;
    } else if (hlen >= 105 && h[Q_COMPRESSION_TYPE] != 0) {
      return bad (img, "compression type set without its incompatible feature bit");
    }
    if (incompat & (UINT64_C (1) << INCOMPAT_EXTENDED_L2)) {
      /* qcow2.txt: subclusters are 1/32 of a cluster, at least 512 bytes
       * (so clusters of 16 KiB or more). */
      if (q->cluster_bits < 14)
        return bad (img, "extended L2 entries with clusters under 16 KiB");
      q->extended = 1;
      q->entry_bytes = 16;
    }
    if (rd_be32 (h + Q_REFCOUNT_ORDER) > 6)
      return bad (img, "refcount order out of range");
  }
  q->l2_entries = q->cluster_size / q->entry_bytes;
  if (q->extended)
    q->sub_size = q->cluster_size / SUBCLUSTERS;
  q->l1_size = rd_be32 (h + Q_L1_SIZE);
  q->l1_offset = rd_be64 (h + Q_L1_OFFSET);
  q->l1_bytes = (uint64_t) q->l1_size * 8;
  uint64_t per_l1 = q->cluster_size * q->l2_entries;
  uint64_t need = (img->size + per_l1 - 1) / per_l1;
  if (q->l1_size < need)
    return bad (img, "L1 table too small for the virtual size");
  if (q->l1_bytes > MAX_L1_BYTES)
    return bad (img, "L1 table larger than 32 MiB");
  if (q->l1_offset % q->cluster_size || q->l1_offset == 0
      || q->l1_offset > img->file_size || q->l1_bytes > img->file_size - q->l1_offset)
    return bad (img, "L1 table beyond the end of the file");
  q->l1 = malloc (q->l1_bytes ? q->l1_bytes : 1);
  if (!q->l1)
    abort ();
  if (full_pread (img->fd, q->l1, q->l1_bytes, q->l1_offset) == -1)
    return bad (img, "cannot read the L1 table");
  for (uint32_t i = 0; i < q->l1_size; ++i) {
    uint64_t e = rd_be64 ((uint8_t *) &q->l1[i]);
    uint64_t off = e & OFFSET_MASK;
    if (off && (off % q->cluster_size || off > img->file_size
                || q->cluster_size > img->file_size - off))
      return bad (img, "an L1 entry points beyond the end of the file");
    if (off && off < q->l1_offset + q->l1_bytes && q->l1_offset < off + q->cluster_size)
      return bad (img, "an L2 table overlaps the L1 table");
    q->l1[i] = off;
  }
  tcache_init (&q->l2, q->cluster_size);
  q->cbuf = malloc (q->cluster_size * 2 + 512);
  q->dbuf = malloc (q->cluster_size);
  q->dbuf_entry = 0;
  if (!q->cbuf || !q->dbuf)
    abort ();

  /* Backing file and its format (header extension). */
  uint64_t boff = rd_be64 (h + Q_BACKING_OFFSET);
  uint32_t bsize = rd_be32 (h + Q_BACKING_SIZE);
  if (boff) {
    char name[1024], fmtname[32] = "";
    if (bsize == 0 || bsize >= sizeof name || boff > img->file_size
        || bsize > img->file_size - boff || boff + bsize > q->cluster_size)
      return bad (img, "backing file name out of range");
    if (full_pread (img->fd, name, bsize, boff) == -1)
      return bad (img, "cannot read the backing file name");
    name[bsize] = '\0';
    if (strlen (name) != bsize)
      return bad (img, "backing file name contains NUL");
    /* Header extensions: {u32 type, u32 length, data padded to 8}. */
    size_t p = hlen;
    uint8_t ext[4096];
    size_t extlen = q->cluster_size < sizeof ext ? q->cluster_size : sizeof ext;
    if (extlen > img->file_size)
      extlen = img->file_size;
    if (full_pread (img->fd, ext, extlen, 0) == -1)
      return bad (img, "cannot read header extensions");
    while (p + 8 <= extlen) {
      uint32_t type = rd_be32 (ext + p), len = rd_be32 (ext + p + 4);
      if (type == 0)
        break;
      if (len > extlen - p - 8)
        return bad (img, "header extension out of range");
      if (type == EXT_BACKING_FORMAT && len < sizeof fmtname) {
        memcpy (fmtname, ext + p + 8, len);
        fmtname[len] = '\0';
      }
      p += 8 + ((len + 7) & ~7u);
    }
    const struct format_ops *bf = NULL;
    if (fmtname[0] && !(bf = format_by_name (fmtname))) {
      format_error ("%s: backing file format '%s' is not supported", img->path, fmtname);
      errno = ENOTSUP;
      return -1;
    }
    img->backing = image_open_backing (img, name, bf);
    if (!img->backing)
      return -1;
  }
  return 0;
}

static void
qcow2_close (struct image *img)
{
  struct qcow2 *q = img->priv;
  free (q->l1);
  tcache_free (&q->l2);
  free (q->cbuf);
  free (q->dbuf);
  free (q);
}

/* The L2 entry (host-endian) for a guest cluster, 0 if unallocated, and
 * with extended L2 its subcluster bitmap (0 otherwise). */
static int
l2_entry (struct image *img, uint64_t cluster, uint64_t *entry_ret, uint64_t *bitmap_ret)
{
  struct qcow2 *q = img->priv;
  uint64_t i1 = cluster / q->l2_entries, i2 = cluster % q->l2_entries;
  *entry_ret = *bitmap_ret = 0;
  if (i1 >= q->l1_size || q->l1[i1] == 0)
    return 0;
  const uint8_t *t = tcache_get (&q->l2, img->fd, q->l1[i1]);
  if (!t)
    return bad (img, "cannot read an L2 table");
  *entry_ret = rd_be64 (t + q->entry_bytes * i2);
  if (q->extended)
    *bitmap_ret = rd_be64 (t + q->entry_bytes * i2 + 8);
  return 0;
}

enum ctype { C_HOLE, C_ZERO, C_DATA, C_COMPRESSED };

static int
classify (struct image *img, uint64_t entry, enum ctype *t, uint64_t *off)
{
  struct qcow2 *q = img->priv;
  if (entry & OFLAG_COMPRESSED) {
    *t = C_COMPRESSED;
    *off = entry & ((UINT64_C (1) << q->csize_shift) - 1);
    uint64_t sectors = ((entry >> q->csize_shift) & q->csize_mask) + 1;
    uint64_t csize = sectors * 512 - (*off & 511);
    if (*off > img->file_size || *off < 512)
      return bad (img, "a compressed cluster points outside the file");
    (void) csize;
    return 0;
  }
  /* With extended L2 the zero flag is reserved: the bitmap says it. */
  if (q->version == 3 && !q->extended && (entry & OFLAG_ZERO)) {
    *t = C_ZERO;
    return 0;
  }
  *off = entry & OFFSET_MASK;
  if (*off == 0) {
    *t = C_HOLE;
    return 0;
  }
  /* With subclusters the file may end inside the last cluster, after its
   * last allocated subcluster (locate checks those). */
  if (*off % q->cluster_size || *off >= img->file_size
      || (!q->extended && q->cluster_size > img->file_size - *off))
    return bad (img, "an L2 entry points beyond the end of the file");
  if (*off < q->l1_offset + q->l1_bytes && q->l1_offset < *off + q->cluster_size)
    return bad (img, "a data cluster overlaps the L1 table");
  *t = C_DATA;
  return 0;
}

/* What guest offset off reads from: its type, the host offset of the data
 * (of off itself for C_DATA, of the cluster's compressed stream for
 * C_COMPRESSED), the L2 entry, and in *run how many bytes from off share
 * that type in this cluster (contiguous on the host for C_DATA). */
static int
locate (struct image *img, uint64_t off, enum ctype *t, uint64_t *hoff,
        uint64_t *entry, uint64_t *run)
{
  struct qcow2 *q = img->priv;
  uint64_t cl = off >> q->cluster_bits, in = off & (q->cluster_size - 1), bm;
  if (l2_entry (img, cl, entry, &bm) == -1 || classify (img, *entry, t, hoff) == -1)
    return -1;
  *run = q->cluster_size - in;
  if (*t == C_DATA)
    *hoff += in;
  if (!q->extended || *t == C_COMPRESSED)
    return 0;
  /* qcow2.txt, "Extended L2 Entries": bit x of the bitmap's low half says
   * subcluster x is allocated, bit 32 + x that it reads as zeros; neither
   * means the backing file (or zeros) shows through; both is invalid, as
   * is an allocated subcluster in a cluster with no host offset. */
  uint32_t alloc = (uint32_t) bm, zero = (uint32_t) (bm >> 32);
  if (alloc & zero)
    return bad (img, "a subcluster is marked both allocated and zero");
  if (*t == C_HOLE && alloc)
    return bad (img, "an unallocated cluster has allocated subclusters");
  unsigned sc = (unsigned) (in / q->sub_size), e = sc + 1;
  int a = alloc >> sc & 1, z = zero >> sc & 1;
  while (e < SUBCLUSTERS && (int) (alloc >> e & 1) == a && (int) (zero >> e & 1) == z)
    ++e;
  *run = e * q->sub_size - in;
  *t = z ? C_ZERO : a ? C_DATA : C_HOLE;
  if (*t == C_DATA && (*hoff > img->file_size || *run > img->file_size - *hoff))
    return bad (img, "an allocated subcluster lies beyond the end of the file");
  return 0;
}

/* zstd clusters (compression type 1): one zstd frame whose output is the
 * cluster; what follows it up to the sector is padding (qemu's
 * qcow2-threads.c writes it so). */
static int
unzstd (struct image *img, size_t csize)
{
  struct qcow2 *q = img->priv;
  ZSTD_DStream *z = ZSTD_createDStream ();
  if (!z)
    abort ();
  ZSTD_inBuffer in = { q->cbuf, csize, 0 };
  ZSTD_outBuffer out = { q->dbuf, q->cluster_size, 0 };
  int ok = 0;
  while (out.pos < out.size) {
    size_t ip = in.pos, op = out.pos;
    size_t r = ZSTD_decompressStream (z, &out, &in);
    if (ZSTD_isError (r) || (r == 0 && out.pos < out.size) || (in.pos == ip && out.pos == op))
      break;
    if (out.pos == out.size)
      ok = 1;
  }
  ZSTD_freeDStream (z);
  return ok ? 0 : -1;
}

static int
decompress (struct image *img, uint64_t entry, uint64_t off)
{
  struct qcow2 *q = img->priv;
  if (q->dbuf_entry == entry)
    return 0;
  uint64_t sectors = ((entry >> q->csize_shift) & q->csize_mask) + 1;
  uint64_t csize = sectors * 512 - (off & 511);
  /* The last compressed cluster may end before its last sector. */
  if (csize > img->file_size - off)
    csize = img->file_size - off;
  if (full_pread (img->fd, q->cbuf, csize, off) == -1)
    return bad (img, "cannot read a compressed cluster");
  if (q->zstd) {
    if (unzstd (img, csize) == -1) {
      q->dbuf_entry = 0;
      return bad (img, "a compressed cluster does not decompress (zstd)");
    }
    q->dbuf_entry = entry;
    return 0;
  }
  z_stream s;
  memset (&s, 0, sizeof s);
  if (inflateInit2 (&s, -15) != Z_OK)
    abort ();
  s.next_in = q->cbuf;
  s.avail_in = csize;
  s.next_out = q->dbuf;
  s.avail_out = q->cluster_size;
  int r = inflate (&s, Z_FINISH);
  inflateEnd (&s);
  if ((r != Z_STREAM_END && !(r == Z_BUF_ERROR && s.avail_out == 0))
      || s.avail_out != 0) {
    q->dbuf_entry = 0;
    return bad (img, "a compressed cluster does not inflate");
  }
  q->dbuf_entry = entry;
  return 0;
}

static int
qcow2_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct qcow2 *q = img->priv;
  uint8_t *p = buf;
  while (len) {
    uint64_t in = off & (q->cluster_size - 1), e, hoff = 0, run;
    enum ctype t;
    if (locate (img, off, &t, &hoff, &e, &run) == -1)
      return -1;
    size_t n = run < len ? run : len;
    switch (t) {
    case C_HOLE:
      if (hole_read (img, p, n, off) == -1)
        return -1;
      break;
    case C_ZERO:
      memset (p, 0, n);
      break;
    case C_DATA:
      if (full_pread (img->fd, p, n, hoff) == -1)
        return bad (img, "read error in a data cluster");
      break;
    case C_COMPRESSED:
      if (decompress (img, e, hoff) == -1)
        return -1;
      memcpy (p, q->dbuf + in, n);
      break;
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
qcow2_extent (struct image *img, uint64_t off, uint64_t max,
              uint64_t *len_ret, enum extent_type *type_ret)
{
  uint64_t len = 0;
  enum extent_type first = EXTENT_HOLE;
  while (len < max) {
    uint64_t e, hoff = 0, run;
    enum ctype t;
    if (locate (img, off + len, &t, &hoff, &e, &run) == -1)
      return -1;
    enum extent_type et = t == C_HOLE ? EXTENT_HOLE : t == C_ZERO ? EXTENT_ZERO : EXTENT_DATA;
    if (len == 0)
      first = et;
    else if (et != first)
      break;
    len += run;
  }
  *len_ret = len < max ? len : max;
  *type_ret = first;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Writer.  Layout: header cluster, L1 table, then data clusters and L2
 * tables in the order data arrives, then the refcount table and blocks.
 * Every cluster before the refcount structures is referenced once, except
 * host clusters shared by compressed clusters, whose counts are spilled to
 * a temporary file as they become final. */

#define W_BITS 16
#define W_CLUSTER (UINT64_C (1) << W_BITS)
#define W_L2_ENTRIES (W_CLUSTER / 8)
#define W_CSHIFT (62 - (W_BITS - 8))

struct qw {
  uint64_t l1_size, l1_off;
  uint64_t *l1;                 /* host-endian */
  uint64_t *l2;                 /* current L2 table, big-endian entries */
  uint64_t l2_index;            /* UINT64_MAX: none */
  struct units clusters;
  uint64_t next;                /* next free byte in the file */
  struct zpipe *zp;
  /* Compressed mode: a temporary file of u16 reference counts per host
   * cluster (compressed clusters share host clusters). */
  FILE *spill;
  /* Compressed mode: finished L2 tables wait in a temporary file and go
   * after the data, so they do not break the packed compressed stream. */
  FILE *l2spill;
  uint64_t l2_spilled;
  struct writer *w;
};

#define L1_PENDING (UINT64_C (1) << 62)   /* L1 value: slot in l2spill */

static int
qw_err (struct writer *w, const char *what)
{
  format_error ("%s: %s: %s", writer_display (w), what, strerror (errno));
  return -1;
}

static int count_refs (struct qw *qw, uint64_t first, uint64_t last);

static uint64_t
qw_alloc_cluster (struct qw *qw)
{
  qw->next = (qw->next + W_CLUSTER - 1) & ~(W_CLUSTER - 1);
  uint64_t off = qw->next;
  qw->next += W_CLUSTER;
  return off;
}

/* Compressed mode: add inc references to host clusters [first, last]. */
static int
count_refs (struct qw *qw, uint64_t first, uint64_t last)
{
  if (!qw->spill)
    return 0;
  int fd = fileno (qw->spill);
  for (uint64_t h = first; h <= last; ++h) {
    uint8_t b[2] = { 0, 0 };
    if (pread (fd, b, 2, (off_t) (h * 2)) == -1)
      return qw_err (qw->w, "reference count spill file");
    uint16_t c = rd_le16 (b) + 1;
    wr_le16 (b, c);
    if (full_pwrite (fd, b, 2, h * 2) == -1)
      return qw_err (qw->w, "reference count spill file");
  }
  return 0;
}

static int
flush_l2 (struct qw *qw)
{
  struct writer *w = qw->w;
  if (qw->l2_index == UINT64_MAX)
    return 0;
  if (qw->l2spill) {
    if (full_pwrite (fileno (qw->l2spill), qw->l2, W_CLUSTER,
                     qw->l2_spilled * W_CLUSTER) == -1)
      return qw_err (w, "L2 spill file");
    qw->l1[qw->l2_index] = L1_PENDING | qw->l2_spilled++;
    qw->l2_index = UINT64_MAX;
    return 0;
  }
  uint64_t off = qw_alloc_cluster (qw);
  if (full_pwrite (w->fd, qw->l2, W_CLUSTER, off) == -1)
    return qw_err (w, "write error");
  if (count_refs (qw, off / W_CLUSTER, off / W_CLUSTER) == -1)
    return -1;
  w->bytes_written += W_CLUSTER;
  qw->l1[qw->l2_index] = off | OFLAG_COPIED;
  qw->l2_index = UINT64_MAX;
  return 0;
}

static int
set_entry (struct qw *qw, uint64_t cluster, uint64_t entry)
{
  uint64_t i1 = cluster / W_L2_ENTRIES;
  if (qw->l2_index != i1) {
    if (flush_l2 (qw) == -1)
      return -1;
    memset (qw->l2, 0, W_CLUSTER);
    qw->l2_index = i1;
  }
  wr_be64 ((uint8_t *) &qw->l2[cluster % W_L2_ENTRIES], entry);
  return 0;
}

/* stable: data stays unchanged until the converter flushes the writer. */
static int
write_plain_cluster (struct qw *qw, uint64_t cluster, const uint8_t *data,
                     bool stable)
{
  struct writer *w = qw->w;
  uint64_t off = qw_alloc_cluster (qw);
  /* Compressed mode writes the file front to back (the L2 tables wait in
   * l2spill): staged; otherwise gathered from the converter's buffers. */
  if (qw->zp ? writer_seq (w, data, W_CLUSTER, off) == -1
      : writer_data (w, data, W_CLUSTER, off, stable) == -1)
    return -1;
  if (count_refs (qw, off / W_CLUSTER, off / W_CLUSTER) == -1)
    return -1;
  w->bytes_written += W_CLUSTER;
  return set_entry (qw, cluster, off | OFLAG_COPIED);
}

/* zpipe output: a compressed cluster (or a stored one). */
static int
qw_out (void *opaque, uint64_t cluster, uint8_t *data, size_t len, int stored)
{
  struct qw *qw = opaque;
  struct writer *w = qw->w;
  if (stored)
    return write_plain_cluster (qw, cluster, data, false);
  uint64_t off = qw->next;
  if (writer_seq (w, data, len, off) == -1)
    return -1;
  w->bytes_written += len;
  qw->next += len;
  if (count_refs (qw, off / W_CLUSTER, (off + len - 1) / W_CLUSTER) == -1)
    return -1;
  uint64_t nb = ((off + len - 1) >> 9) - (off >> 9);
  return set_entry (qw, cluster, OFLAG_COMPRESSED | nb << W_CSHIFT | off);
}

/* A cluster with data (unit-sized, zero padded): compressed or plain. */
static int
cluster_emit (void *opaque, uint64_t cl, const uint8_t *data, size_t len)
{
  struct qw *qw = opaque;
  if (qw->zp)
    return zpipe_submit (qw->zp, cl, data, W_CLUSTER);
  /* Whole clusters come straight from the converter's buffers; a cluster
   * assembled from pieces is in the units buffer, which is reused. */
  return write_plain_cluster (qw, cl, data, data != qw->clusters.buf);
}

static int
qcow2_w_open (struct writer *w)
{
  struct qw *qw = calloc (1, sizeof *qw);
  if (!qw)
    abort ();
  w->priv = qw;
  qw->w = w;
  qw->l1_size = (w->size + W_CLUSTER * W_L2_ENTRIES - 1) / (W_CLUSTER * W_L2_ENTRIES);
  if (qw->l1_size == 0)
    qw->l1_size = 1;
  qw->l1 = calloc (qw->l1_size, 8);
  qw->l2 = malloc (W_CLUSTER);
  if (!qw->l1 || !qw->l2)
    abort ();
  qw->l2_index = UINT64_MAX;
  units_init (&qw->clusters, W_CLUSTER, w->size, cluster_emit, qw);
  qw->l1_off = W_CLUSTER;
  qw->next = qw->l1_off + ((qw->l1_size * 8 + W_CLUSTER - 1) & ~(W_CLUSTER - 1));
  if (w->opts.compress) {
    qw->spill = tmpfile ();
    qw->l2spill = tmpfile ();
    if (!qw->spill || !qw->l2spill)
      return qw_err (w, "cannot create a temporary file");
    /* The header and L1 clusters are referenced once. */
    if (count_refs (qw, 0, qw->next / W_CLUSTER - 1) == -1)
      return -1;
    qw->zp = zpipe_new (w->opts.threads, W_CLUSTER, ZPIPE_RAW, qw_out, qw);
  }
  return 0;
}

static int
qcow2_w_data (struct writer *w, uint64_t off, const void *buf, size_t len)
{
  struct qw *qw = w->priv;
  return units_data (&qw->clusters, off, buf, len);
}

/* Metadata clusters are written only up to their last non-zero 4 KiB
 * block: the rest stays a hole (the file is extended at the end). */
static size_t
used_bytes (const uint8_t *p, size_t len)
{
  size_t n = len;
  while (n >= 4096 && is_zero (p + n - 4096, 4096))
    n -= 4096;
  return n ? n : 512;
}

static int
qcow2_w_finish (struct writer *w)
{
  struct qw *qw = w->priv;
  if (units_flush (&qw->clusters) == -1 || (qw->zp && zpipe_flush (qw->zp) == -1)
      || flush_l2 (qw) == -1 || writer_seq_flush (w) == -1)
    return -1;
  /* Spilled L2 tables go after the data. */
  if (qw->l2spill) {
    uint8_t *t = malloc (W_CLUSTER);
    if (!t)
      abort ();
    for (uint64_t i = 0; i < qw->l1_size; ++i) {
      if (!(qw->l1[i] & L1_PENDING))
        continue;
      uint64_t slot = qw->l1[i] & ~L1_PENDING;
      uint64_t off = qw_alloc_cluster (qw);
      if (full_pread (fileno (qw->l2spill), t, W_CLUSTER, slot * W_CLUSTER) == -1
          || full_pwrite (w->fd, t, W_CLUSTER, off) == -1
          || count_refs (qw, off / W_CLUSTER, off / W_CLUSTER) == -1) {
        free (t);
        return qw_err (w, "write error");
      }
      w->bytes_written += W_CLUSTER;
      qw->l1[i] = off | OFLAG_COPIED;
    }
    free (t);
  }

  /* Refcounts (16-bit).  The structures go at the end; size them so they
   * also count themselves. */
  uint64_t data_end = (qw->next + W_CLUSTER - 1) & ~(W_CLUSTER - 1);
  uint64_t data_clusters = data_end / W_CLUSTER;
  uint64_t per_block = W_CLUSTER / 2;
  uint64_t blocks = 0, table_clusters = 0, total;
  for (;;) {
    total = data_clusters + blocks + table_clusters;
    uint64_t nb = (total + per_block - 1) / per_block;
    uint64_t nt = (nb * 8 + W_CLUSTER - 1) / W_CLUSTER;
    if (nb == blocks && nt == table_clusters)
      break;
    blocks = nb;
    table_clusters = nt;
  }
  uint64_t table_off = data_end;
  uint64_t blocks_off = table_off + table_clusters * W_CLUSTER;
  uint8_t *buf = calloc (1, W_CLUSTER);
  if (!buf)
    abort ();
  /* Refcount table. */
  for (uint64_t t = 0; t < table_clusters; ++t) {
    memset (buf, 0, W_CLUSTER);
    for (uint64_t i = 0; i < W_CLUSTER / 8; ++i) {
      uint64_t b = t * (W_CLUSTER / 8) + i;
      if (b < blocks)
        wr_be64 (buf + 8 * i, blocks_off + b * W_CLUSTER);
    }
    if (full_pwrite (w->fd, buf, used_bytes (buf, W_CLUSTER), table_off + t * W_CLUSTER) == -1)
      goto werr;
  }
  /* Refcount blocks: every cluster in use holds 1, except host clusters
   * that hold compressed data, which count their references.  The file
   * ends where the last block's entries end, as qemu's files end where
   * their last table or compressed cluster does: readers take the missing
   * rest of a cluster as zeros. */
  uint64_t end = blocks_off;
  for (uint64_t b = 0; b < blocks; ++b) {
    memset (buf, 0, W_CLUSTER);
    uint8_t counts[2 * 4096];
    for (uint64_t i = 0; i < per_block; ++i) {
      uint64_t c = b * per_block + i;
      uint16_t v = c < total ? 1 : 0;
      if (qw->spill && c < data_clusters) {
        if (i % 4096 == 0) {
          memset (counts, 0, sizeof counts);
          if (pread (fileno (qw->spill), counts, sizeof counts, (off_t) (c * 2)) == -1)
            goto werr;
        }
        v = rd_le16 (counts + 2 * (i % 4096));
      }
      wr_be16 (buf + 2 * i, v);
    }
    size_t used = used_bytes (buf, W_CLUSTER);
    if (full_pwrite (w->fd, buf, used, blocks_off + b * W_CLUSTER) == -1)
      goto werr;
    end = blocks_off + b * W_CLUSTER + used;
  }
  /* L1 table. */
  uint64_t l1b = (qw->l1_size * 8 + W_CLUSTER - 1) & ~(W_CLUSTER - 1);
  uint8_t *l1 = calloc (1, l1b);
  if (!l1)
    abort ();
  for (uint64_t i = 0; i < qw->l1_size; ++i)
    wr_be64 (l1 + 8 * i, qw->l1[i]);
  int r = full_pwrite (w->fd, l1, used_bytes (l1, l1b), qw->l1_off);
  free (l1);
  if (r == -1)
    goto werr;
  /* Header (v3, no extensions but the end marker). */
  memset (buf, 0, W_CLUSTER);
  memcpy (buf + Q_MAGIC, QCOW_MAGIC, 4);
  wr_be32 (buf + Q_VERSION, 3);
  wr_be32 (buf + Q_CLUSTER_BITS, W_BITS);
  wr_be64 (buf + Q_SIZE, w->size);
  wr_be32 (buf + Q_L1_SIZE, qw->l1_size);
  wr_be64 (buf + Q_L1_OFFSET, qw->l1_off);
  wr_be64 (buf + Q_REFTABLE_OFFSET, table_off);
  wr_be32 (buf + Q_REFTABLE_CLUSTERS, table_clusters);
  wr_be32 (buf + Q_REFCOUNT_ORDER, 4);
  wr_be32 (buf + Q_HEADER_LEN, 104);
  if (full_pwrite (w->fd, buf, used_bytes (buf, W_CLUSTER), 0) == -1)
    goto werr;
  free (buf);
  if (ftruncate (w->fd, (off_t) end) == -1)
    return qw_err (w, "cannot size the output");
  w->bytes_written += W_CLUSTER + l1b + (table_clusters + blocks) * W_CLUSTER;
  return 0;
 werr:
  free (buf);
  return qw_err (w, "write error");
}

static void
qcow2_w_free (struct writer *w)
{
  struct qw *qw = w->priv;
  if (!qw)
    return;
  zpipe_free (qw->zp);
  if (qw->spill)
    fclose (qw->spill);
  if (qw->l2spill)
    fclose (qw->l2spill);
  free (qw->l1);
  free (qw->l2);
  units_free (&qw->clusters);
  free (qw);
  w->priv = NULL;
}

static int64_t
qcow2_w_size (uint64_t requested, const struct write_opts *opts)
{
  if (requested > MAX_SIZE) {
    format_error ("a disk of %" PRIu64 " bytes is too large", requested);
    return -1;
  }
  return (int64_t) ((requested + 511) & ~UINT64_C (511));
}

const struct format_ops format_qcow2 = {
  .name = "qcow2", .qemu_name = "qcow2", .probe = qcow2_probe,
  .open = qcow2_open, .close = qcow2_close, .pread = qcow2_pread,
  .extent = qcow2_extent,
  .w_open = qcow2_w_open, .w_data = qcow2_w_data, .w_finish = qcow2_w_finish,
  .w_free = qcow2_w_free, .w_size = qcow2_w_size,
};
