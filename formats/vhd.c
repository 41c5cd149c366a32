/* formats: Microsoft VHD — read fixed, dynamic and differencing (through
 * its parent), write fixed and dynamic (sized for Azure).  Layouts from the
 * VHD specification (DESIGN.md §5).
 *
 * Written footers name the creator application "win ": readers that follow
 * the Hyper-V convention (qemu among them) then take the disk size from the
 * footer's current size rather than from the CHS geometry, which cannot
 * express most sizes exactly.  The creator version is winseal's version
 * (major << 16 | minor), the creator host OS "Wi2k". */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "format-int.h"

#define FOOTER 512
#define DYNHDR 1024
#define TYPE_FIXED 2
#define TYPE_DYNAMIC 3
#define TYPE_DIFF 4
#define BAT_ABSENT 0xFFFFFFFFu
#define MIB (UINT64_C (1) << 20)
#define DYN_BLOCK (2 * MIB)
#define MAX_FIXED (UINT64_C (32) << 40)       /* Azure's limit: 32 TiB */
#define MAX_DYNAMIC (UINT64_C (2040) << 30)   /* the BAT's practical limit */
#define VHD_EPOCH 946684800                   /* 2000-01-01T00:00:00Z */

/* Footer offsets. */
enum {
  F_COOKIE = 0, F_FEATURES = 8, F_VERSION = 12, F_DATA_OFFSET = 16,
  F_TIMESTAMP = 24, F_CREATOR_APP = 28, F_CREATOR_VER = 32, F_CREATOR_OS = 36,
  F_ORIG_SIZE = 40, F_CUR_SIZE = 48, F_GEOMETRY = 56, F_TYPE = 60,
  F_CHECKSUM = 64, F_UUID = 68, F_SAVED = 84,
};
/* Dynamic header offsets. */
enum {
  H_COOKIE = 0, H_DATA_OFFSET = 8, H_TABLE_OFFSET = 16, H_VERSION = 24,
  H_MAX_ENTRIES = 28, H_BLOCK_SIZE = 32, H_CHECKSUM = 36, H_PARENT_UUID = 40,
  H_PARENT_TIME = 56, H_PARENT_NAME = 64, H_LOCATORS = 576,
};
#define LOCATORS 8
#define LOCATOR_MAX 65536               /* bytes of one locator's path */
/* The largest geometry: readers take the footer's size for it. */
#define MAX_CHS_SECTORS (UINT64_C (65535) * 16 * 255)

static uint32_t
vhd_checksum (const uint8_t *p, size_t len, size_t field)
{
  uint32_t sum = 0;
  for (size_t i = 0; i < len; ++i)
    if (i < field || i >= field + 4)
      sum += p[i];
  return ~sum;
}

static int
vhd_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
           size_t taillen, uint64_t size)
{
  if (taillen >= FOOTER && memcmp (tail + taillen - FOOTER, "conectix", 8) == 0)
    return 100;
  if (headlen >= FOOTER && memcmp (head, "conectix", 8) == 0)
    return 100;
  return 0;
}

struct vhd {
  int type;
  uint8_t uuid[16];             /* the footer's unique ID */
  uint64_t data_end;            /* fixed: end of data in the file */
  uint32_t block_size, bitmap_size, entries;
  struct block_map map;         /* dynamic: each block's data */
  /* Differencing: the sector bitmap of one block (bit set: the sector is
   * this file's, clear: the parent's), cached. */
  uint8_t *bitmap;
  uint64_t bitmap_block;        /* UINT64_MAX: none */
};

static int
bad (struct image *img, const char *what)
{
  format_error ("%s: invalid VHD: %s", img->path, what);
  errno = EINVAL;
  return -1;
}

static int
ranges_overlap (uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
  return a < b + blen && b < a + alen;
}

/* A differencing VHD's parent (VHD specification, "Dynamic Disk Header
 * Format": Parent Unique ID, Parent Unicode Name, Parent Locator Entries).
 * The locators are tried in the order W2ru (relative Windows path), W2ku
 * (absolute), MacX (a file URL), then the parent's name; the first file
 * that exists is the parent, and its footer's unique ID must be the
 * child's Parent Unique ID, else the chain is refused: a parent changed
 * or replaced after the child was made no longer fits the child. */
static int
open_parent (struct image *img, const uint8_t *h)
{
  static const char *const order[] = { "W2ru", "W2ku", "MacX" };
  char cand[4][LOCATOR_PATH_MAX];
  int nc = 0;
  uint8_t *buf = malloc (LOCATOR_MAX);
  if (!buf)
    abort ();
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < LOCATORS; ++i) {
      const uint8_t *e = h + H_LOCATORS + 24 * i;
      if (memcmp (e, order[o], 4) != 0)
        continue;
      uint32_t len = rd_be32 (e + 8);
      uint64_t off = rd_be64 (e + 16);
      if (len == 0 || len > LOCATOR_MAX || off > img->file_size || len > img->file_size - off) {
        free (buf);
        return bad (img, "a parent locator lies beyond the end of the file");
      }
      if (full_pread (img->fd, buf, len, off) == -1) {
        free (buf);
        return read_error (img, off);
      }
      char *c = cand[nc];
      if (o < 2) {
        if (utf16_to_utf8 (buf, len, 0, c, sizeof cand[0]) == -1) {
          free (buf);
          return bad (img, "a parent locator is not a UTF-16 path");
        }
      }
      else {
        size_t n = len < sizeof cand[0] - 1 ? len : sizeof cand[0] - 1;
        memcpy (c, buf, n);
        c[n] = '\0';
        if (strncmp (c, "file://", 7) == 0)
          memmove (c, c + 7, strlen (c + 7) + 1);
      }
      locator_path (c, o > 0);
      if (c[0] && nc < 3)
        nc++;
      break;
    }
  free (buf);
  if (utf16_to_utf8 (h + H_PARENT_NAME, 512, 1, cand[nc], sizeof cand[0]) == -1)
    return bad (img, "the parent's name is not UTF-16");
  locator_path (cand[nc], 1);
  if (cand[nc][0])
    nc++;
  if (nc == 0)
    return bad (img, "a differencing VHD that names no parent");
  char printable[256];
  img->backing = open_parent_candidates (img, cand, nc, &format_vhd, "VHD", printable,
                                         sizeof printable);
  if (!img->backing)
    return -1;
  struct vhd *pv = img->backing->priv;
  if (memcmp (pv->uuid, h + H_PARENT_UUID, 16) != 0)
    return parent_not_made_from (img, printable, "the parent's unique ID differs from the one "
                                 "the child records; the parent was replaced or changed");
  return 0;
}

static int
vhd_open (struct image *img)
{
  uint8_t f[FOOTER];
  struct vhd *v;

  if (img->file_size < FOOTER)
    return bad (img, "file shorter than a footer");
  if (full_pread (img->fd, f, FOOTER, img->file_size - FOOTER) == -1)
    return bad (img, "cannot read the footer");
  if (memcmp (f, "conectix", 8) != 0) {
    /* A dynamic disk keeps a copy at offset 0; use it if the end is gone. */
    if (full_pread (img->fd, f, FOOTER, 0) == -1 || memcmp (f, "conectix", 8) != 0)
      return bad (img, "no footer (truncated?)");
  }
  if (rd_be32 (f + F_CHECKSUM) != vhd_checksum (f, FOOTER, F_CHECKSUM))
    return bad (img, "footer checksum mismatch");
  uint64_t size = rd_be64 (f + F_CUR_SIZE);
  uint32_t type = rd_be32 (f + F_TYPE);
  /* Which size the creator means.  Virtual PC ("vpc ") and older qemu
   * ("qemu") size a disk by its CHS geometry, Hyper-V ("win "), Disk2vhd,
   * XenServer and newer qemu ("qem2") by the footer's current size, which
   * may then be larger than the geometry can say; the maximal geometry
   * always means the current size.  qemu's block/vpc.c keeps the same
   * table, so both read such a disk alike. */
  uint64_t chs = (uint64_t) rd_be16 (f + F_GEOMETRY) * f[F_GEOMETRY + 2] * f[F_GEOMETRY + 3];
  if ((memcmp (f + F_CREATOR_APP, "vpc ", 4) == 0 || memcmp (f + F_CREATOR_APP, "qemu", 4) == 0)
      && chs != MAX_CHS_SECTORS)
    size = chs * 512;
  if (size == 0 || size % 512 || size > MAX_FIXED)
    return bad (img, "absurd disk size in the footer");
  if (type != TYPE_FIXED && type != TYPE_DYNAMIC && type != TYPE_DIFF)
    return bad (img, "unknown disk type");

  v = calloc (1, sizeof *v);
  if (!v)
    abort ();
  img->priv = v;
  img->size = size;
  v->type = type;
  v->bitmap_block = UINT64_MAX;
  memcpy (v->uuid, f + F_UUID, 16);
  if (type == TYPE_FIXED) {
    if (img->file_size - FOOTER < size) {
      format_error ("%s: fixed VHD is truncated: the footer says %" PRIu64
                    " bytes, the file holds %" PRIu64, img->path, size,
                    img->file_size - FOOTER);
      errno = EINVAL;
      return -1;
    }
    return 0;
  }

  /* Dynamic. */
  uint8_t h[DYNHDR];
  uint64_t hoff = rd_be64 (f + F_DATA_OFFSET);
  if (hoff > img->file_size || img->file_size - hoff < DYNHDR)
    return bad (img, "dynamic header offset beyond the end of the file");
  if (full_pread (img->fd, h, DYNHDR, hoff) == -1 || memcmp (h, "cxsparse", 8) != 0)
    return bad (img, "no dynamic disk header");
  if (rd_be32 (h + H_CHECKSUM) != vhd_checksum (h, DYNHDR, H_CHECKSUM))
    return bad (img, "dynamic header checksum mismatch");
  uint64_t toff = rd_be64 (h + H_TABLE_OFFSET);
  v->entries = rd_be32 (h + H_MAX_ENTRIES);
  v->block_size = rd_be32 (h + H_BLOCK_SIZE);
  if (v->block_size < 512 * 8 || v->block_size > 256 * MIB
      || (v->block_size & (v->block_size - 1)))
    return bad (img, "block size is not a power of two between 4 KiB and 256 MiB");
  if ((uint64_t) v->entries * v->block_size < size)
    return bad (img, "block table too small for the disk size");
  uint64_t bat_bytes = (uint64_t) v->entries * 4;
  if (toff > img->file_size || bat_bytes > img->file_size - toff)
    return bad (img, "block table beyond the end of the file");
  v->bitmap_size = ((v->block_size / 512 / 8) + 511) & ~511u;
  v->map.block_size = v->block_size;
  v->map.blocks = v->entries;
  v->map.off = calloc (v->entries ? v->entries : 1, sizeof *v->map.off);
  uint8_t *raw = malloc (bat_bytes ? bat_bytes : 1);
  int r = 0;
  if (!v->map.off || !raw)
    r = bad (img, "block table too large for memory");
  else if (full_pread (img->fd, raw, bat_bytes, toff) == -1)
    r = bad (img, "cannot read the block table");
  uint64_t blocks_needed = (size + v->block_size - 1) / v->block_size;
  for (uint32_t i = 0; !r && i < v->entries; ++i) {
    uint32_t e = rd_be32 (raw + 4 * i);
    if (e == BAT_ABSENT || i >= blocks_needed)
      continue;
    uint64_t start = (uint64_t) e * 512;
    uint64_t len = v->bitmap_size + (uint64_t) v->block_size;
    uint64_t last = (uint64_t) i * v->block_size;
    if (size - last < v->block_size)    /* the last, partial block */
      len = v->bitmap_size + (size - last);
    if (start > img->file_size || len > img->file_size - start)
      r = bad (img, "a block table entry points beyond the end of the file");
    else if (ranges_overlap (start, len, hoff, DYNHDR)
             || ranges_overlap (start, len, toff, bat_bytes)
             || start < FOOTER)
      r = bad (img, "a block overlaps the disk's metadata");
    else
      v->map.off[i] = start + v->bitmap_size;   /* the data, after the sector bitmap */
  }
  free (raw);
  if (r == 0 && type == TYPE_DIFF) {
    v->bitmap = malloc (v->bitmap_size);
    if (!v->bitmap)
      abort ();
    r = open_parent (img, h);
    img->qemu_differs = "a differencing VHD (qemu reads it without its parent)";
  }
  return r;
}

static void
vhd_close (struct image *img)
{
  struct vhd *v = img->priv;
  free (v->map.off);
  free (v->bitmap);
  free (v);
}

/* Differencing: how many bytes from off (at most max, within its block)
 * are this file's (*own 1: at *file_off) or the parent's (*own 0). */
static int
diff_run (struct image *img, uint64_t off, uint64_t max, int *own, uint64_t *file_off,
          uint64_t *len_ret)
{
  struct vhd *v = img->priv;
  uint64_t b = off / v->block_size, in = off % v->block_size;
  if (max > v->block_size - in)
    max = v->block_size - in;
  if (!v->map.off[b]) {
    *own = 0;
    *len_ret = max;
    return 0;
  }
  if (v->bitmap_block != b) {
    uint64_t boff = v->map.off[b] - v->bitmap_size;
    if (full_pread (img->fd, v->bitmap, v->bitmap_size, boff) == -1)
      return read_error (img, boff);
    v->bitmap_block = b;
  }
  /* Bit 7 of byte 0 is the block's first sector. */
  uint64_t s = in / 512, end = (in + max + 511) / 512;
  int bit = v->bitmap[s / 8] >> (7 - s % 8) & 1;
  uint64_t e = s + 1;
  while (e < end && (v->bitmap[e / 8] >> (7 - e % 8) & 1) == bit)
    e++;
  uint64_t len = e * 512 - in;
  *len_ret = len < max ? len : max;
  *own = bit;
  *file_off = v->map.off[b] + in;
  return 0;
}

static int
vhd_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct vhd *v = img->priv;
  if (v->type == TYPE_FIXED) {
    if (full_pread (img->fd, buf, len, off) == -1)
      return read_error (img, off);
    return 0;
  }
  if (v->type == TYPE_DYNAMIC)
    return block_map_pread (img, &v->map, buf, len, off);
  uint8_t *p = buf;
  while (len) {
    uint64_t n, foff = 0;
    int own;
    if (diff_run (img, off, len, &own, &foff, &n) == -1)
      return -1;
    if (!own) {
      if (hole_read (img, p, n, off) == -1)
        return -1;
    }
    else if (full_pread (img->fd, p, n, foff) == -1)
      return read_error (img, foff);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
vhd_extent (struct image *img, uint64_t off, uint64_t max,
            uint64_t *len_ret, enum extent_type *type_ret)
{
  struct vhd *v = img->priv;
  if (v->type == TYPE_FIXED)
    return fd_extent (img->fd, 0, off, max, len_ret, type_ret);
  if (v->type == TYPE_DYNAMIC)
    return block_map_extent (&v->map, off, max, len_ret, type_ret);
  uint64_t foff;
  int own;
  if (diff_run (img, off, max, &own, &foff, len_ret) == -1)
    return -1;
  *type_ret = own ? EXTENT_DATA : EXTENT_HOLE;
  return 0;
}

/* A fixed VHD's data is the disk as is; a dynamic VHD's block data is
 * contiguous within a block. */
static int
vhd_contiguous (struct image *img, uint64_t off, uint64_t len, uint64_t *file_off)
{
  struct vhd *v = img->priv;
  if (v->type == TYPE_FIXED) {
    *file_off = off;
    return 1;
  }
  if (v->type == TYPE_DIFF)     /* sector by sector: the bitmap decides */
    return 0;
  return block_map_contiguous (&v->map, off, len, file_off);
}

/* CHS geometry as the VHD specification's appendix computes it. */
static void
vhd_chs (uint64_t size, uint8_t out[4])
{
  uint64_t total = size / 512;
  uint32_t spt, heads, cth;
  if (total > 65535ULL * 16 * 255)
    total = 65535ULL * 16 * 255;
  if (total >= 65535ULL * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = total / spt;
  }
  else {
    spt = 17;
    cth = total / spt;
    heads = (cth + 1023) / 1024;
    if (heads < 4)
      heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = total / spt;
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = total / spt;
    }
  }
  wr_be16 (out, cth / heads);
  out[2] = heads;
  out[3] = spt;
}

static void
vhd_footer (uint8_t f[FOOTER], uint64_t size, int type, const uint8_t uuid[16])
{
  unsigned maj = 0, min = 0;
  sscanf (PACKAGE_VERSION, "%u.%u", &maj, &min);
  memset (f, 0, FOOTER);
  memcpy (f + F_COOKIE, "conectix", 8);
  wr_be32 (f + F_FEATURES, 2);
  wr_be32 (f + F_VERSION, 0x00010000);
  wr_be64 (f + F_DATA_OFFSET, type == TYPE_FIXED ? UINT64_MAX : FOOTER);
  time_t now = time (NULL);
  const char *sde = getenv ("SOURCE_DATE_EPOCH");
  if (sde && *sde)
    now = (time_t) strtoll (sde, NULL, 10);
  wr_be32 (f + F_TIMESTAMP, now > VHD_EPOCH ? (uint32_t) (now - VHD_EPOCH) : 0);
  memcpy (f + F_CREATOR_APP, "win ", 4);
  wr_be32 (f + F_CREATOR_VER, maj << 16 | min);
  memcpy (f + F_CREATOR_OS, "Wi2k", 4);
  wr_be64 (f + F_ORIG_SIZE, size);
  wr_be64 (f + F_CUR_SIZE, size);
  vhd_chs (size, f + F_GEOMETRY);
  wr_be32 (f + F_TYPE, type);
  memcpy (f + F_UUID, uuid, 16);
  wr_be32 (f + F_CHECKSUM, vhd_checksum (f, FOOTER, F_CHECKSUM));
}

struct vhd_writer {
  uint8_t uuid[16];
  uint32_t *bat;                /* dynamic */
  uint32_t entries;
  uint64_t next;                /* dynamic: file offset of the next block */
  uint64_t bat_off, bat_bytes;
  uint8_t *bitmap;              /* dynamic: a block's sector bitmap (all set),
                                   aligned for direct I/O */
};

static int64_t
vhd_w_size (uint64_t requested, const struct write_opts *opts)
{
  uint64_t unit = opts->variant ? DYN_BLOCK : MIB;
  uint64_t max = opts->variant ? MAX_DYNAMIC : MAX_FIXED;
  if (requested < opts->min_size)
    requested = opts->min_size;
  uint64_t size = (requested + unit - 1) / unit * unit;
  if (size == 0)
    size = unit;
  if (size > max) {
    format_error ("a %s VHD holds at most %" PRIu64 " GiB; the disk is %" PRIu64 " bytes",
                  opts->variant ? "dynamic" : "fixed", max >> 30, requested);
    return -1;
  }
  return (int64_t) size;
}

static int
werr (struct writer *w)
{
  format_error ("%s: write error: %s", writer_display (w), strerror (errno));
  return -1;
}

static int
vhd_w_open (struct writer *w)
{
  struct vhd_writer *vw = calloc (1, sizeof *vw);
  if (!vw)
    abort ();
  w->priv = vw;
  random_guid (vw->uuid, 0);
  if (!w->opts.variant)
    return 0;                   /* the footer, written last, sizes the file */
  vw->entries = w->size / DYN_BLOCK;
  vw->bat = malloc ((size_t) vw->entries * 4);
  if (!vw->bat)
    abort ();
  memset (vw->bat, 0xFF, (size_t) vw->entries * 4);
  vw->bitmap = aligned_alloc (4096, 4096);
  if (!vw->bitmap)
    abort ();
  memset (vw->bitmap, 0xFF, 4096);
  vw->bat_off = FOOTER + DYNHDR;
  vw->bat_bytes = ((uint64_t) vw->entries * 4 + 511) & ~UINT64_C (511);
  vw->next = vw->bat_off + vw->bat_bytes;
  return 0;
}

/* A dynamic block's data in the file, allocated on its first write: a
 * sector bitmap saying every sector is present, then 2 MiB of data
 * (unwritten parts are file holes, which read as zeros). */
static int64_t
vhd_block (struct writer *w, uint64_t b)
{
  struct vhd_writer *vw = w->priv;
  if (vw->bat[b] == BAT_ABSENT) {
    vw->bat[b] = vw->next / 512;
    if (writer_data (w, vw->bitmap, 512, vw->next, true) == -1)
      return -1;
    vw->next += 512 + DYN_BLOCK;
    w->bytes_written += 512;
  }
  return (int64_t) vw->bat[b] * 512 + 512;
}

static int
vhd_w_data (struct writer *w, uint64_t off, const void *buf, size_t len)
{
  if (!w->opts.variant)
    return raw_w_data (w, off, buf, len);
  return writer_blocks (w, off, buf, len, DYN_BLOCK, vhd_block);
}

static int
vhd_w_finish (struct writer *w)
{
  struct vhd_writer *vw = w->priv;
  uint8_t f[FOOTER];
  vhd_footer (f, w->size, w->opts.variant ? TYPE_DYNAMIC : TYPE_FIXED, vw->uuid);
  if (!w->opts.variant) {
    if (full_pwrite (w->fd, f, FOOTER, w->size) == -1)
      return werr (w);
    w->bytes_written += FOOTER;
    return 0;
  }
  uint8_t h[DYNHDR] = { 0 };
  memcpy (h + H_COOKIE, "cxsparse", 8);
  wr_be64 (h + H_DATA_OFFSET, UINT64_MAX);
  wr_be64 (h + H_TABLE_OFFSET, vw->bat_off);
  wr_be32 (h + H_VERSION, 0x00010000);
  wr_be32 (h + H_MAX_ENTRIES, vw->entries);
  wr_be32 (h + H_BLOCK_SIZE, DYN_BLOCK);
  wr_be32 (h + H_CHECKSUM, vhd_checksum (h, DYNHDR, H_CHECKSUM));
  uint8_t *bat = calloc (1, vw->bat_bytes);
  if (!bat)
    abort ();
  memset (bat, 0xFF, vw->bat_bytes);
  for (uint32_t i = 0; i < vw->entries; ++i)
    wr_be32 (bat + 4 * i, vw->bat[i]);
  int r = full_pwrite (w->fd, f, FOOTER, 0) == -1
    || full_pwrite (w->fd, h, DYNHDR, FOOTER) == -1
    || full_pwrite (w->fd, bat, vw->bat_bytes, vw->bat_off) == -1
    || full_pwrite (w->fd, f, FOOTER, vw->next) == -1;
  free (bat);
  if (r)
    return werr (w);
  w->bytes_written += 2 * FOOTER + DYNHDR + vw->bat_bytes;
  return 0;
}

static void
vhd_w_free (struct writer *w)
{
  struct vhd_writer *vw = w->priv;
  if (vw) {
    free (vw->bat);
    free (vw->bitmap);
    free (vw);
  }
  w->priv = NULL;
}

const struct format_ops format_vhd = {
  .name = "vhd", .qemu_name = "vpc", .probe = vhd_probe,
  .open = vhd_open, .close = vhd_close, .pread = vhd_pread, .extent = vhd_extent,
  .contiguous = vhd_contiguous,
  .w_open = vhd_w_open, .w_data = vhd_w_data, .w_finish = vhd_w_finish,
  .w_free = vhd_w_free, .w_size = vhd_w_size,
};

int
vhd_footer_info (const char *path, struct vhd_footer *info)
{
  memset (info, 0, sizeof *info);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* never waits on a FIFO */
  if (fd == -1)
    return -1;
  off_t end = lseek (fd, 0, SEEK_END);
  uint8_t f[FOOTER];
  int ok = end >= FOOTER && full_pread (fd, f, FOOTER, end - FOOTER) == 0
           && memcmp (f + F_COOKIE, "conectix", 8) == 0;
  close (fd);
  if (!ok)
    return -1;
  info->disk_type = rd_be32 (f + F_TYPE);
  info->virtual_size = rd_be64 (f + F_CUR_SIZE);
  info->file_size = (uint64_t) end;
  info->checksum_ok = rd_be32 (f + F_CHECKSUM) == vhd_checksum (f, FOOTER, F_CHECKSUM);
  info->fixed = info->disk_type == TYPE_FIXED;
  return 0;
}
