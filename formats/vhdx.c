/* formats: VHDX (Hyper-V): read fixed and dynamic images; write dynamic
 * ones (32 MiB blocks, 512-byte logical and 4 KiB physical sectors).
 *
 * Followed: [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format".  The
 * file identifier ("vhdxfile") at 0; two headers at 64 KiB and 128 KiB
 * (4 KiB each, CRC-32C over the 4 KiB with the checksum field zero; the
 * valid one with the higher sequence number is current, 2.2.2); two
 * region tables at 192 KiB and 256 KiB (64 KiB, CRC-32C, 2.2.3) locating
 * the BAT and the metadata region (an unknown region marked required
 * refuses the file); the metadata table (2.6) with the file parameters
 * (block size, HasParent), the virtual disk size and the logical sector
 * size (an unknown item marked required refuses the file); the BAT (2.5)
 * with one 64-bit entry per payload block (state in bits 0-2, the file
 * offset in MiB in bits 20-63), a sector bitmap entry after every chunk
 * ratio (2^23 * logical sector size / block size) of them.
 *
 * A header whose LogGuid is not zero has writes in its log that were never
 * applied to the file (Windows did not close it cleanly): the log is
 * replayed as 2.3.3 says, into memory, never into the file: the active
 * sequence is the run of valid entries (signature, CRC-32C, the header's
 * LogGuid, consecutive sequence numbers, data sectors carrying the
 * entry's sequence number) that ends at the entry with the highest
 * sequence number whose Tail starts it; its data and zero descriptors are
 * kept as an overlay every read of the file goes through.  A log with no
 * valid active sequence is refused.
 *
 * A differencing VHDX (HasParent) names its parent in the parent locator
 * (2.6.2.6.3): UTF-16 key/value pairs; the parent is found by
 * relative_path, then volume_path and absolute_win32_path (by their last
 * component beside the child: a volume GUID or drive letter means nothing
 * here), and its current header's DataWriteGuid must be parent_linkage
 * (or parent_linkage2), else the chain is refused.  Its blocks (2.5.1.1):
 * NOT_PRESENT reads the parent; FULLY_PRESENT the child; PARTIALLY_PRESENT
 * sector by sector as the chunk's sector bitmap block says (2.4: bit 0 of
 * byte 0 the chunk's first sector, 1 the child's); ZERO reads zeros (the
 * parent does not show through); UNDEFINED and UNMAPPED, whose contents
 * the specification leaves arbitrary, read as zeros too, so that nothing
 * the parent held there is carried into an output.  Every offset and
 * length is checked against the file. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bytes.h"
#include "crc32c.h"
#include "format-int.h"

#define KIB 1024u
#define MIB (UINT64_C (1) << 20)
#define HEADER_SIZE (4 * KIB)
#define REGION_SIZE (64 * KIB)
#define MAX_VSIZE (UINT64_C (64) << 40)         /* 64 TiB (2.6.2.2) */
#define MAX_ENTRIES 2047

/* GUIDs as stored (the first three fields little-endian). */
static const uint8_t GUID_BAT[16] = {   /* 2DC27766-F623-4200-9D64-115E9BFD4A08 */
  0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08 };
static const uint8_t GUID_METADATA[16] = {      /* 8B7CA206-4790-4B9A-B8FE-575F050F886E */
  0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E };
static const uint8_t GUID_FILE_PARAMS[16] = {   /* CAA16737-FA36-4D43-B3B6-33F0AA44E76B */
  0x37, 0x67, 0xA1, 0xCA, 0x36, 0xFA, 0x43, 0x4D, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B };
static const uint8_t GUID_VSIZE[16] = {         /* 2FA54224-CD1B-4876-B211-5DBED83BF4B8 */
  0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8 };
static const uint8_t GUID_DISK_ID[16] = {       /* BECA12AB-B2E6-4523-93EF-C309E000C746 */
  0xAB, 0x12, 0xCA, 0xBE, 0xE6, 0xB2, 0x23, 0x45, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46 };
static const uint8_t GUID_LOGICAL[16] = {       /* 8141BF1D-A96F-4709-BA47-F233A8FAAB5F */
  0x1D, 0xBF, 0x41, 0x81, 0x6F, 0xA9, 0x09, 0x47, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F };
static const uint8_t GUID_PHYSICAL[16] = {      /* CDA348C7-445D-4471-9CC9-E9885251C556 */
  0xC7, 0x48, 0xA3, 0xCD, 0x5D, 0x44, 0x71, 0x44, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56 };
static const uint8_t GUID_PARENT[16] = {        /* A8D35F2D-B30B-454D-ABF7-D3D84834AB0C */
  0x2D, 0x5F, 0xD3, 0xA8, 0x0B, 0xB3, 0x4D, 0x45, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C };

enum {                          /* payload block states (2.5.1.1) */
  PB_NOT_PRESENT = 0, PB_UNDEFINED = 1, PB_ZERO = 2, PB_UNMAPPED = 3,
  PB_FULLY_PRESENT = 6, PB_PARTIALLY_PRESENT = 7,
};

/* The reader's state: the block map (first, for block_map_op_extent) and
 * the replayed log's writes, in log order (data: 4 KiB; zero: len bytes). */
struct ov { uint64_t off, len; uint8_t *data; };
enum { K_PARENT, K_ZERO, K_OWN, K_PARTIAL };   /* a differencing file's blocks */
struct vhdx {
  struct block_map map;         /* own blocks' file offsets (FULLY/PARTIALLY_PRESENT) */
  struct ov *ov;
  size_t nov;
  uint64_t end;                 /* the file's size after the replayed log (it may grow) */
  uint8_t data_write[16];       /* the current header's DataWriteGuid */
  /* Differencing: */
  uint8_t *kind;                /* per block, K_* (NULL: not differencing) */
  uint64_t *sb;                 /* per chunk, its sector bitmap block's file offset */
  uint64_t chunk;               /* payload blocks a chunk */
  uint32_t lss;                 /* logical sector size */
  uint8_t *bm;                  /* the sector bitmap bytes of block bm_block */
  uint64_t bm_block;
};
#define PL_MAX (64 * KIB)               /* the largest parent locator read */
#define LOG_MAX (64 * MIB)
#define OV_MAX 100000

/* Read the file as the replayed log leaves it: the bytes past the file's
 * own end are zeros, then every logged write over the range, in order. */
static int
vx_read (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct vhdx *v = img->priv;
  uint64_t real = img->file_size;
  size_t have = off >= real ? 0 : real - off < len ? (size_t) (real - off) : len;
  if (have && full_pread (img->fd, buf, have, off) == -1)
    return -1;
  memset ((uint8_t *) buf + have, 0, len - have);
  for (size_t i = 0; v && i < v->nov; ++i) {
    const struct ov *o = &v->ov[i];
    if (o->off >= off + len || off >= o->off + o->len)
      continue;
    uint64_t a = o->off > off ? o->off : off;
    uint64_t b = o->off + o->len < off + len ? o->off + o->len : off + len;
    if (o->data)
      memcpy ((uint8_t *) buf + (a - off), o->data + (a - o->off), b - a);
    else
      memset ((uint8_t *) buf + (a - off), 0, b - a);
  }
  return 0;
}

static int
vhdx_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
            size_t taillen, uint64_t size)
{
  return headlen >= 8 && memcmp (head, "vhdxfile", 8) == 0 ? 100 : 0;
}

static int
bad (struct image *img, const char *what)
{
  format_error ("%s: invalid VHDX: %s", img->path, what);
  errno = EINVAL;
  return -1;
}

static int
refuse (struct image *img, const char *what)
{
  format_error ("%s: %s; winseal does not read it", img->path, what);
  errno = ENOTSUP;
  return -1;
}

/* The current header (2.2.2.1): the valid one with the higher sequence
 * number.  Returns 0 and copies it to h, or -1 (reported). */
static int
current_header (struct image *img, uint8_t h[HEADER_SIZE])
{
  uint8_t a[HEADER_SIZE];
  int have = 0;
  uint64_t best = 0;
  for (int i = 1; i <= 2; ++i) {
    if (full_pread (img->fd, a, HEADER_SIZE, i * 64 * KIB) == -1)
      continue;
    if (memcmp (a, "head", 4) != 0 || rd_le32 (a + 4) != crc32c_skip (a, HEADER_SIZE, 4)
        || rd_le16 (a + 66) != 1)
      continue;
    uint64_t seq = rd_le64 (a + 8);
    if (!have || seq > best) {
      memcpy (h, a, HEADER_SIZE);
      best = seq;
      have = 1;
    }
  }
  return have ? 0 : bad (img, "neither header is valid (signature, checksum, version 1)");
}

/* The file's size as the replayed log leaves it. */
static uint64_t
vx_end (struct image *img)
{
  struct vhdx *v = img->priv;
  return v && v->end ? v->end : img->file_size;
}

/* A region that must lie in the file past the first MiB, in whole MiB. */
static int
region_ok (struct image *img, uint64_t off, uint64_t len)
{
  return off >= MIB && off % MIB == 0 && len % MIB == 0 && len > 0
         && off <= vx_end (img) && len <= vx_end (img) - off;
}

/* One metadata item: its value (len bytes) read into out, or 0 when it
 * is absent. */
struct mitem {
  const uint8_t *guid; uint32_t len; uint8_t val[8]; int found;
  uint64_t at; uint32_t size;   /* where the item is (relative to the region), its length */
};

static int
read_metadata (struct image *img, uint64_t moff, uint64_t mlen, struct mitem *items,
               size_t nitems)
{
  uint8_t *t = malloc (REGION_SIZE);
  if (!t)
    abort ();
  int r = -1;
  if (vx_read (img, t, REGION_SIZE, moff) == -1)
    bad (img, "cannot read the metadata table");
  else if (memcmp (t, "metadata", 8) != 0)
    bad (img, "no metadata table");
  else if (rd_le16 (t + 10) > MAX_ENTRIES)
    bad (img, "too many metadata entries");
  else
    r = 0;
  uint32_t n = r ? 0 : rd_le16 (t + 10);
  for (uint32_t i = 0; !r && i < n; ++i) {
    const uint8_t *e = t + 32 + 32 * (size_t) i;
    uint32_t off = rd_le32 (e + 16), len = rd_le32 (e + 20), flags = rd_le32 (e + 24);
    int user = flags & 1, required = flags & 4;
    size_t k = 0;
    while (k < nitems && (user || memcmp (e, items[k].guid, 16) != 0))
      ++k;
    if (k == nitems) {
      if (required)
        r = refuse (img, "a VHDX with a required metadata item winseal does not know");
      continue;
    }
    if (len < items[k].len || off < 64 * KIB || off > mlen || len > mlen - off)
      r = bad (img, "a metadata item lies outside the metadata region");
    else if (vx_read (img, items[k].val, items[k].len, moff + off) == -1)
      r = bad (img, "cannot read a metadata item");
    else {
      items[k].found = 1;
      items[k].at = off;
      items[k].size = len;
    }
  }
  free (t);
  return r;
}

/* A log entry at pos (a multiple of 4 KiB) of the circular log: valid
 * entries fill *e and return 1. */
struct lentry { uint64_t pos, len, seq, tail, flushed, last; uint32_t ndesc; };

static uint8_t *
log_at (const uint8_t *log, uint64_t loglen, uint64_t pos, uint64_t len, uint8_t *tmp)
{
  if (pos + len <= loglen)
    return (uint8_t *) log + pos;
  uint64_t first = loglen - pos;      /* the entry wraps around the log's end */
  memcpy (tmp, log + pos, first);
  memcpy (tmp + first, log, len - first);
  return tmp;
}

static int
log_entry (const uint8_t *log, uint64_t loglen, uint64_t pos, const uint8_t *guid,
           struct lentry *e, uint8_t *tmp)
{
  const uint8_t *h = log + pos;
  if (memcmp (h, "loge", 4) != 0)
    return 0;
  uint64_t len = rd_le32 (h + 8);
  if (len < 4 * KIB || len % (4 * KIB) || len > loglen)
    return 0;
  const uint8_t *b = log_at (log, loglen, pos, len, tmp);
  if (rd_le32 (b + 4) != crc32c_skip (b, len, 4) || memcmp (b + 32, guid, 16) != 0)
    return 0;
  uint32_t n = rd_le32 (b + 24);
  uint64_t dsec = (64 + 32 * (uint64_t) n + 4 * KIB - 1) / (4 * KIB);
  uint64_t ndata = 0;
  if (dsec * 4 * KIB > len)
    return 0;
  e->seq = rd_le64 (b + 16);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t *d = b + 64 + 32 * (size_t) i;
    if (memcmp (d, "desc", 4) == 0)
      ndata++;
    else if (memcmp (d, "zero", 4) != 0)
      return 0;
    if (rd_le64 (d + 24) != e->seq || rd_le64 (d + 16) % (4 * KIB))
      return 0;
  }
  if ((dsec + ndata) * 4 * KIB != len)
    return 0;
  for (uint64_t k = 0; k < ndata; ++k) {
    const uint8_t *ds = b + (dsec + k) * 4 * KIB;
    if (memcmp (ds, "data", 4) != 0 || rd_le32 (ds + 4) != (uint32_t) (e->seq >> 32)
        || rd_le32 (ds + 4092) != (uint32_t) e->seq)
      return 0;
  }
  e->pos = pos;
  e->len = len;
  e->tail = rd_le32 (b + 12);
  e->ndesc = n;
  e->flushed = rd_le64 (b + 48);
  e->last = rd_le64 (b + 56);
  return 1;
}

/* Replay the log of header h (LogGuid not zero) into the overlay. */
static int
replay_log (struct image *img, const uint8_t *h)
{
  struct vhdx *v = img->priv;
  uint64_t loff = rd_le64 (h + 72), llen = rd_le32 (h + 68);
  if (rd_le16 (h + 64) != 0)
    return refuse (img, "a VHDX whose log has a version other than 0");
  if (!region_ok (img, loff, llen) || llen > LOG_MAX)
    return bad (img, "the log region is missing, outside the file or larger than 64 MiB");
  uint8_t *log = malloc (llen), *tmp = malloc (llen);
  struct lentry *ent = calloc (llen / (4 * KIB), sizeof *ent);
  if (!log || !tmp || !ent)
    abort ();
  int r = -1;
  if (full_pread (img->fd, log, llen, loff) == -1) {
    bad (img, "cannot read the log");
    goto out;
  }
  /* Every valid entry, by its position. */
  size_t nent = llen / (4 * KIB);
  char *valid = calloc (nent, 1);
  if (!valid)
    abort ();
  /* A valid entry's sectors hold no other entry's start, so the scan
   * goes on after it; the bytes checksummed for entries that turn out
   * invalid are bounded (a crafted log of nothing but entry headers would
   * otherwise cost its length squared). */
  uint64_t budget = 8 * llen;
  for (size_t i = 0; i < nent; ++i) {
    const uint8_t *c = log + i * 4 * KIB;
    if (memcmp (c, "loge", 4) != 0)
      continue;
    uint64_t clen = rd_le32 (c + 8);
    if (clen > budget) {
      free (valid);
      refuse (img, "a VHDX whose log holds more entry headers than a log can hold entries");
      goto out;
    }
    valid[i] = (char) log_entry (log, llen, i * 4 * KIB, h + 48, &ent[i], tmp);
    if (valid[i])
      i += (size_t) (ent[i].len / (4 * KIB)) - 1 < nent - i ? (size_t) (ent[i].len / (4 * KIB)) - 1 : 0;
    else
      budget -= clen;
  }
  /* The active sequence: from its head (the highest sequence number
   * whose run back to its Tail is whole) ... */
  size_t best = SIZE_MAX, count = 0;
  for (size_t i = 0; i < nent; ++i) {
    if (!valid[i] || (best != SIZE_MAX && ent[i].seq <= ent[best].seq))
      continue;
    uint64_t t = ent[i].tail;
    if (t % (4 * KIB) || t >= llen || !valid[t / (4 * KIB)])
      continue;
    /* Walk forward from the tail: consecutive numbers up to the head. */
    size_t k = t / (4 * KIB), n = 1;
    while (k != i && n <= nent) {
      size_t next = (size_t) ((ent[k].pos + ent[k].len) % llen / (4 * KIB));
      if (!valid[next] || ent[next].seq != ent[k].seq + 1)
        break;
      k = next;
      n++;
    }
    if (k == i) {
      best = i;
      count = n;
    }
  }
  if (best == SIZE_MAX) {
    free (valid);
    refuse (img, "a VHDX whose log holds writes never applied to the file but no valid "
            "sequence of log entries to replay");
    goto out;
  }
  /* ... replayed from its tail, in order. */
  uint64_t end = img->file_size;
  if (ent[best].flushed > img->file_size) {
    free (valid);
    bad (img, "the file is shorter than its log says it was when flushed");
    goto out;
  }
  if (ent[best].last > end)
    end = ent[best].last;
  if (end > (UINT64_C (1) << 46))
    end = img->file_size;
  size_t k = (size_t) (ent[best].tail / (4 * KIB));
  r = 0;
  for (size_t n = 0; n < count && r == 0; ++n) {
    const uint8_t *b = log_at (log, llen, ent[k].pos, ent[k].len, tmp);
    uint64_t dsec = (64 + 32 * (uint64_t) ent[k].ndesc + 4 * KIB - 1) / (4 * KIB), data = 0;
    for (uint32_t i = 0; i < ent[k].ndesc && r == 0; ++i) {
      const uint8_t *d = b + 64 + 32 * (size_t) i;
      uint64_t at = rd_le64 (d + 16);
      uint64_t len = memcmp (d, "desc", 4) == 0 ? 4 * KIB : rd_le64 (d + 8);
      if (v->nov == OV_MAX || len % (4 * KIB) || at < MIB || at > end || len > end - at) {
        r = bad (img, "a log entry writes outside the file");
        break;
      }
      if (v->nov % 64 == 0) {
        v->ov = realloc (v->ov, (v->nov + 64) * sizeof *v->ov);
        if (!v->ov)
          abort ();
      }
      struct ov *o = &v->ov[v->nov++];
      o->off = at;
      o->len = len;
      o->data = NULL;
      if (memcmp (d, "desc", 4) == 0) {
        /* 2.3.1.3/2.3.1.4: leading 8 bytes and trailing 4 from the
         * descriptor, the 4084 between from the data sector. */
        const uint8_t *ds = b + (dsec + data++) * 4 * KIB;
        o->data = malloc (4 * KIB);
        if (!o->data)
          abort ();
        memcpy (o->data, d + 8, 8);
        memcpy (o->data + 8, ds + 8, 4084);
        memcpy (o->data + 4092, d + 4, 4);
      }
    }
    k = (size_t) ((ent[k].pos + ent[k].len) % llen / (4 * KIB));
  }
  free (valid);
  if (r == 0) {
    v->end = end;
  }
out:
  free (log);
  free (tmp);
  free (ent);
  return r;
}

/* A GUID as Windows writes it in text: "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}",
 * the first three fields little-endian as stored. */
static void
guid_text (const uint8_t g[16], char out[39])
{
  snprintf (out, 39, "{%08" PRIx32 "-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
            rd_le32 (g), rd_le16 (g + 4), rd_le16 (g + 6), g[8], g[9], g[10], g[11],
            g[12], g[13], g[14], g[15]);
}

/* The parent of a differencing VHDX: its locator (an item of len bytes at
 * moff) read, the parent opened and its identity checked. */
static int
open_parent (struct image *img, uint64_t moff, uint32_t len)
{
  /* B04AEFB7-D19E-4A81-B789-25B8E9445913, the VHDX locator type (2.6.2.6.3) */
  static const uint8_t vhdx_locator[16] = {
    0xB7, 0xEF, 0x4A, 0xB0, 0x9E, 0xD1, 0x81, 0x4A, 0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13 };
  static const char *const keys[] = {
    "parent_linkage", "parent_linkage2", "relative_path", "volume_path", "absolute_win32_path" };
  char val[5][LOCATOR_PATH_MAX] = { { 0 } };
  if (len < 20 || len > PL_MAX)
    return bad (img, "the parent locator is shorter than its header or longer than 64 KiB");
  uint8_t *b = malloc (len);
  if (!b)
    abort ();
  int r = 0;
  if (vx_read (img, b, len, moff) == -1)
    r = bad (img, "cannot read the parent locator");
  else if (memcmp (b, vhdx_locator, 16) != 0)
    r = refuse (img, "a differencing VHDX whose parent is not named by a VHDX parent "
                "locator (an unknown locator type)");
  uint32_t n = r ? 0 : rd_le16 (b + 18);
  if (!r && 20 + 12 * (uint64_t) n > len)
    r = bad (img, "the parent locator's entries run past its end");
  for (uint32_t i = 0; !r && i < n; ++i) {
    const uint8_t *e = b + 20 + 12 * (size_t) i;
    uint32_t ko = rd_le32 (e), vo = rd_le32 (e + 4), kl = rd_le16 (e + 8), vl = rd_le16 (e + 10);
    char key[32];
    if (ko > len || kl > len - ko || vo > len || vl > len - vo) {
      r = bad (img, "a parent locator entry lies outside the locator");
      break;
    }
    if (utf16_to_utf8 (b + ko, kl, 0, key, sizeof key) == -1)
      continue;                 /* not a key this reader knows */
    for (int k = 0; k < 5; ++k)
      if (strcmp (key, keys[k]) == 0
          && utf16_to_utf8 (b + vo, vl, 0, val[k], sizeof val[k]) == -1)
        r = bad (img, "a parent locator value is not a UTF-16 string");
  }
  free (b);
  if (r)
    return -1;
  if (!val[0][0])
    return bad (img, "the parent locator has no parent_linkage");
  char cand[3][LOCATOR_PATH_MAX];
  int nc = 0;
  for (int k = 2; k < 5; ++k)
    if (val[k][0]) {
      memcpy (cand[nc], val[k], sizeof cand[nc]);
      locator_path (cand[nc], k > 2);
      if (cand[nc][0])
        nc++;
    }
  if (nc == 0)
    return bad (img, "a differencing VHDX whose parent locator names no path");
  char printable[256];
  img->backing = open_parent_candidates (img, cand, nc, &format_vhdx, "VHDX", printable,
                                         sizeof printable);
  if (!img->backing)
    return -1;
  struct vhdx *pv = img->backing->priv;
  char have[39];
  guid_text (pv->data_write, have);
  if (strcasecmp (have, val[0]) != 0 && strcasecmp (have, val[1]) != 0)
    return parent_not_made_from (img, printable, "its DataWriteGuid is not the child's "
                                 "parent_linkage: the parent was written to or replaced since");
  return 0;
}

/* Differencing: from off (at most max, within its block) how many bytes
 * are the parent's (*what K_PARENT), zeros (K_ZERO) or this file's
 * (K_OWN, at *file_off). */
static int
diff_run (struct image *img, uint64_t off, uint64_t max, int *what, uint64_t *file_off,
          uint64_t *len_ret)
{
  struct vhdx *v = img->priv;
  uint64_t bs = v->map.block_size, b = off / bs, in = off % bs;
  if (max > bs - in)
    max = bs - in;
  *what = v->kind[b];
  *file_off = v->map.off[b] + in;
  *len_ret = max;
  if (*what != K_PARTIAL)
    return 0;
  uint64_t per = bs / v->lss / 8;         /* bitmap bytes a block: at least 256 */
  if (v->bm_block != b) {
    uint64_t at = v->sb[b / v->chunk] + (b % v->chunk) * per;
    if (vx_read (img, v->bm, per, at) == -1)
      return read_error (img, at);
    v->bm_block = b;
  }
  uint64_t s = in / v->lss, end = (in + max + v->lss - 1) / v->lss;
  int bit = v->bm[s / 8] >> (s % 8) & 1;
  uint64_t e = s + 1;
  while (e < end && (v->bm[e / 8] >> (e % 8) & 1) == bit)
    e++;
  uint64_t len = e * v->lss - in;
  *len_ret = len < max ? len : max;
  *what = bit ? K_OWN : K_PARENT;
  return 0;
}

static int
diff_pread (struct image *img, uint8_t *p, size_t len, uint64_t off)
{
  while (len) {
    uint64_t n, foff;
    int what;
    if (diff_run (img, off, len, &what, &foff, &n) == -1)
      return -1;
    if (what == K_PARENT) {
      if (hole_read (img, p, n, off) == -1)
        return -1;
    }
    else if (what == K_ZERO)
      memset (p, 0, n);
    else if (vx_read (img, p, n, foff) == -1)
      return read_error (img, foff);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
vhdx_extent (struct image *img, uint64_t off, uint64_t max,
             uint64_t *len_ret, enum extent_type *type_ret)
{
  struct vhdx *v = img->priv;
  if (!v->kind)
    return block_map_extent (&v->map, off, max, len_ret, type_ret);
  uint64_t foff, len = 0, n;
  int what, first = -1;
  /* Neighbouring runs of one kind are one extent. */
  while (len < max) {
    if (diff_run (img, off + len, max - len, &what, &foff, &n) == -1)
      return -1;
    if (first >= 0 && what != first)
      break;
    first = what;
    len += n;
  }
  *len_ret = len;
  *type_ret = first == K_PARENT ? EXTENT_HOLE : first == K_ZERO ? EXTENT_ZERO : EXTENT_DATA;
  return 0;
}

static void
vhdx_close (struct image *img)
{
  struct vhdx *v = img->priv;
  for (size_t i = 0; i < v->nov; ++i)
    free (v->ov[i].data);
  free (v->ov);
  free (v->map.off);
  free (v->kind);
  free (v->sb);
  free (v->bm);
  free (v);
}

static int
vhdx_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct vhdx *v = img->priv;
  if (v->kind)
    return diff_pread (img, buf, len, off);
  if (!v->nov)
    return block_map_pread (img, &v->map, buf, len, off);
  uint8_t *p = buf;
  while (len) {
    uint64_t b = off / v->map.block_size, in = off % v->map.block_size;
    size_t n = v->map.block_size - in < len ? v->map.block_size - in : len;
    if (!v->map.off[b])
      memset (p, 0, n);
    else if (vx_read (img, p, n, v->map.off[b] + in) == -1)
      return read_error (img, v->map.off[b] + in);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
vhdx_contiguous (struct image *img, uint64_t off, uint64_t len, uint64_t *file_off)
{
  struct vhdx *v = img->priv;
  if (v->nov || (v->kind && v->kind[off / v->map.block_size] != K_OWN))
    return 0;
  return block_map_contiguous (&v->map, off, len, file_off);
}

static int
vhdx_open (struct image *img)
{
  uint8_t id[8], h[HEADER_SIZE];
  if (img->file_size < 4 * MIB / 4 || full_pread (img->fd, id, 8, 0) == -1
      || memcmp (id, "vhdxfile", 8) != 0)
    return bad (img, "no file identifier (shorter than its first MiB?)");
  if (current_header (img, h) == -1)
    return -1;
  struct vhdx *v = calloc (1, sizeof *v);
  if (!v)
    abort ();
  img->priv = v;
  static const uint8_t zero[16];
  if (memcmp (h + 48, zero, 16) != 0) {
    if (replay_log (img, h) == -1)
      return -1;
    img->qemu_differs = "a VHDX with a log to replay (qemu replays it only by writing to the file)";
  }

  /* The region table: the first, else the second. */
  uint8_t *rt = malloc (REGION_SIZE);
  if (!rt)
    abort ();
  int ok = 0;
  for (int i = 0; i < 2 && !ok; ++i)
    ok = vx_read (img, rt, REGION_SIZE, (3 + i) * 64 * KIB) == 0
         && memcmp (rt, "regi", 4) == 0 && rd_le32 (rt + 4) == crc32c_skip (rt, REGION_SIZE, 4)
         && rd_le32 (rt + 8) <= MAX_ENTRIES;
  uint64_t bat_off = 0, bat_len = 0, md_off = 0, md_len = 0;
  int r = ok ? 0 : bad (img, "neither region table is valid");
  for (uint32_t i = 0; !r && i < rd_le32 (rt + 8); ++i) {
    const uint8_t *e = rt + 16 + 32 * (size_t) i;
    uint64_t off = rd_le64 (e + 16), len = rd_le32 (e + 24);
    if (memcmp (e, GUID_BAT, 16) == 0)
      bat_off = off, bat_len = len;
    else if (memcmp (e, GUID_METADATA, 16) == 0)
      md_off = off, md_len = len;
    else if (rd_le32 (e + 28) & 1)
      r = refuse (img, "a VHDX with a required region winseal does not know");
  }
  free (rt);
  if (r)
    return -1;
  if (!region_ok (img, bat_off, bat_len) || !region_ok (img, md_off, md_len))
    return bad (img, "the BAT or the metadata region is missing or outside the file");

  struct mitem it[] = {
    { .guid = GUID_FILE_PARAMS, .len = 8 }, { .guid = GUID_VSIZE, .len = 8 },
    { .guid = GUID_LOGICAL, .len = 4 }, { .guid = GUID_PHYSICAL, .len = 4 },
    { .guid = GUID_DISK_ID, .len = 0 }, { .guid = GUID_PARENT, .len = 0 },
  };
  if (read_metadata (img, md_off, md_len, it, sizeof it / sizeof it[0]) == -1)
    return -1;
  if (!it[0].found || !it[1].found || !it[2].found)
    return bad (img, "the file parameters, virtual disk size or logical sector size is missing");
  uint32_t bs = rd_le32 (it[0].val), fpflags = rd_le32 (it[0].val + 4);
  uint64_t size = rd_le64 (it[1].val);
  uint32_t lss = rd_le32 (it[2].val);
  int diff = (fpflags & 2) != 0;
  if (bs < MIB || bs > 256 * MIB || (bs & (bs - 1)))
    return bad (img, "block size is not a power of two between 1 and 256 MiB");
  if (lss != 512 && lss != 4096)
    return bad (img, "logical sector size is not 512 or 4096 bytes");
  if (size == 0 || size % lss || size > MAX_VSIZE)
    return bad (img, "absurd virtual disk size");
  if (diff && !it[5].found)
    return bad (img, "a differencing VHDX (HasParent) without a parent locator");
  memcpy (v->data_write, h + 32, 16);

  uint64_t chunk = (UINT64_C (1) << 23) * lss / bs;
  uint64_t blocks = (size + bs - 1) / bs;
  /* 2.5: a differencing file's BAT has every chunk's bitmap entry. */
  uint64_t entries = diff ? (blocks + chunk - 1) / chunk * (chunk + 1)
                          : blocks + (blocks - 1) / chunk;
  if (entries * 8 > bat_len)
    return bad (img, "the BAT is too small for the virtual disk size");
  img->size = size;
  v->map.block_size = bs;
  v->map.blocks = blocks;
  v->map.off = calloc (blocks, sizeof *v->map.off);
  uint8_t *bat = malloc (entries * 8);
  if (diff) {
    v->kind = calloc (blocks, 1);
    v->sb = calloc ((blocks + chunk - 1) / chunk, sizeof *v->sb);
    v->bm = malloc (bs / lss / 8);
    v->chunk = chunk;
    v->lss = lss;
    v->bm_block = UINT64_MAX;
  }
  if (!v->map.off || !bat || (diff && (!v->kind || !v->sb || !v->bm))) {
    free (bat);
    return bad (img, "the BAT is too large for memory");
  }
  r = vx_read (img, bat, entries * 8, bat_off) == -1 ? bad (img, "cannot read the BAT") : 0;
  /* A block of the file (payload or sector bitmap) must lie in it, past
   * its first MiB, clear of the BAT and the metadata. */
#define PLACED(at, len) \
  ((at) >= MIB && (at) <= vx_end (img) && (len) <= vx_end (img) - (at) \
   && !((at) < bat_off + bat_len && bat_off < (at) + (len)) \
   && !((at) < md_off + md_len && md_off < (at) + (len)))
  for (uint64_t c = 0; !r && diff && c * chunk < blocks; ++c) {
    uint64_t e = rd_le64 (bat + 8 * (c * (chunk + 1) + chunk));
    uint64_t at = (e >> 20) * MIB;
    if ((e & 7) == 0)
      continue;                 /* SB_BLOCK_NOT_PRESENT */
    if ((e & 7) != 6)
      r = bad (img, "a sector bitmap entry has an unknown state");
    else if (!PLACED (at, MIB))
      r = bad (img, "a sector bitmap block lies outside the file or over the BAT or metadata");
    else
      v->sb[c] = at;
  }
  for (uint64_t i = 0; !r && i < blocks; ++i) {
    uint64_t e = rd_le64 (bat + 8 * (i + i / chunk));
    unsigned state = e & 7;
    uint64_t at = (e >> 20) * MIB;
    uint64_t len = size - i * bs < bs ? size - i * bs : bs;
    if (state == PB_NOT_PRESENT || state == PB_UNDEFINED || state == PB_ZERO
        || state == PB_UNMAPPED) {
      /* zeros, or in a differencing file the parent's (NOT_PRESENT) */
      if (diff)
        v->kind[i] = state == PB_NOT_PRESENT ? K_PARENT : K_ZERO;
      continue;
    }
    if (state != PB_FULLY_PRESENT && !(diff && state == PB_PARTIALLY_PRESENT))
      r = bad (img, diff ? "a BAT entry has an unknown state"
                         : "a BAT entry has a state a fixed or dynamic VHDX cannot have");
    else if (!PLACED (at, len))
      r = bad (img, "a payload block lies outside the file or over the BAT or metadata");
    else if (state == PB_PARTIALLY_PRESENT && !v->sb[i / chunk])
      r = bad (img, "a partially present block's chunk has no sector bitmap block");
    else {
      v->map.off[i] = at;
      if (diff)
        v->kind[i] = state == PB_FULLY_PRESENT ? K_OWN : K_PARTIAL;
    }
  }
#undef PLACED
  free (bat);
  if (!r && diff) {
    r = open_parent (img, md_off + it[5].at, it[5].size);
    img->qemu_differs = "a differencing VHDX (qemu does not open those)";
  }
  return r;
}

/* ---------------------------------------------------------------------- */
/* Writer: a dynamic VHDX laid out as [MS-VHDX] 2.1 draws it: the file
 * identifier, two headers (sequence numbers 0 and 1, LogGuid zero: no log
 * to replay), two region tables, a 1 MiB log region (empty), the metadata
 * region, the BAT, then the payload blocks in the order data arrives, each
 * FULLY_PRESENT (unwritten parts are file holes and read as zeros); blocks
 * never written stay NOT_PRESENT.  Everything but the payload is written
 * last, so a file cut short has no valid header. */

#define W_BLOCK (32 * MIB)
#define W_LSS 512u
#define W_PSS 4096u
#define W_LOG_OFF MIB
#define W_LOG_LEN MIB
#define W_META_OFF (2 * MIB)
#define W_META_LEN MIB
#define W_BAT_OFF (3 * MIB)
#define W_CHUNK ((UINT64_C (1) << 23) * W_LSS / W_BLOCK)   /* 128 blocks a sector bitmap */

struct vhdx_writer {
  uint64_t blocks, entries;     /* payload blocks; BAT entries with the bitmap ones */
  uint64_t bat_len;             /* the BAT region, whole MiB */
  uint64_t *at;                 /* per payload block: file offset, 0: not written */
  uint64_t next;                /* the next block's file offset */
};

static int64_t
vhdx_w_size (uint64_t requested, const struct write_opts *opts)
{
  (void) opts;
  uint64_t size = (requested + MIB - 1) / MIB * MIB;
  if (size == 0)
    size = MIB;
  if (size > MAX_VSIZE) {
    format_error ("a VHDX holds at most 64 TiB; the disk is %" PRIu64 " bytes", requested);
    return -1;
  }
  return (int64_t) size;
}

static int
vhdx_w_open (struct writer *w)
{
  struct vhdx_writer *vw = calloc (1, sizeof *vw);
  if (!vw)
    abort ();
  w->priv = vw;
  vw->blocks = (w->size + W_BLOCK - 1) / W_BLOCK;
  vw->entries = vw->blocks + (vw->blocks - 1) / W_CHUNK;
  vw->bat_len = (vw->entries * 8 + MIB - 1) / MIB * MIB;
  vw->at = calloc (vw->blocks, sizeof *vw->at);
  if (!vw->at)
    abort ();
  vw->next = W_BAT_OFF + vw->bat_len;
  return 0;
}

/* A payload block's place, allocated on its first write. */
static int64_t
vhdx_block (struct writer *w, uint64_t b)
{
  struct vhdx_writer *vw = w->priv;
  if (!vw->at[b]) {
    vw->at[b] = vw->next;
    vw->next += W_BLOCK;
  }
  return (int64_t) vw->at[b];
}

static int
vhdx_w_data (struct writer *w, uint64_t off, const void *buf, size_t len)
{
  return writer_blocks (w, off, buf, len, W_BLOCK, vhdx_block);
}

static int
vhdx_w_finish (struct writer *w)
{
  struct vhdx_writer *vw = w->priv;
  if (writer_data_flush (w) == -1)
    return -1;
  size_t meta_len = 64 * KIB + 64 * KIB;        /* the table, then the items */
  size_t fixed = W_BAT_OFF;                     /* identifier to metadata table */
  uint8_t *m = calloc (1, fixed + meta_len);
  uint8_t *bat = calloc (1, vw->bat_len);
  if (!m || !bat)
    abort ();
  /* File type identifier (2.2.1): signature and the creator, UTF-16LE. */
  memcpy (m, "vhdxfile", 8);
  const char *creator = "winseal " PACKAGE_VERSION;
  for (size_t i = 0; creator[i] && i < 255; ++i)
    wr_le16 (m + 8 + 2 * i, (uint8_t) creator[i]);
  /* Headers (2.2.2): FileWriteGuid and DataWriteGuid new, LogGuid zero,
   * LogVersion 0, Version 1, the log region. */
  uint8_t fw[16], dw[16];
  random_guid (fw, 1);
  random_guid (dw, 1);
  for (int i = 0; i < 2; ++i) {
    uint8_t *h = m + (i + 1) * 64 * KIB;
    memcpy (h, "head", 4);
    wr_le64 (h + 8, (uint64_t) i);
    memcpy (h + 16, fw, 16);
    memcpy (h + 32, dw, 16);
    wr_le16 (h + 64, 0);
    wr_le16 (h + 66, 1);
    wr_le32 (h + 68, W_LOG_LEN);
    wr_le64 (h + 72, W_LOG_OFF);
    wr_le32 (h + 4, crc32c (h, HEADER_SIZE));
  }
  /* Region tables (2.2.3): the BAT and the metadata, both required. */
  for (int i = 0; i < 2; ++i) {
    uint8_t *t = m + (3 + i) * 64 * KIB;
    memcpy (t, "regi", 4);
    wr_le32 (t + 8, 2);
    memcpy (t + 16, GUID_BAT, 16);
    wr_le64 (t + 32, W_BAT_OFF);
    wr_le32 (t + 40, (uint32_t) vw->bat_len);
    wr_le32 (t + 44, 1);
    memcpy (t + 48, GUID_METADATA, 16);
    wr_le64 (t + 64, W_META_OFF);
    wr_le32 (t + 72, W_META_LEN);
    wr_le32 (t + 76, 1);
    wr_le32 (t + 4, crc32c (t, REGION_SIZE));
  }
  /* Metadata (2.6): the table at the region's start, the items from 64 KiB
   * on (offsets relative to the region). */
  uint8_t *mt = m + fixed;
  memcpy (mt, "metadata", 8);
  wr_le16 (mt + 10, 5);
  static const struct { const uint8_t *guid; uint32_t len, flags; } items[5] = {
    { GUID_FILE_PARAMS, 8, 4 },         /* IsRequired */
    { GUID_VSIZE, 8, 6 },               /* IsVirtualDisk | IsRequired */
    { GUID_DISK_ID, 16, 6 },
    { GUID_LOGICAL, 4, 6 },
    { GUID_PHYSICAL, 4, 6 },
  };
  uint32_t ioff = 64 * KIB;
  for (int i = 0; i < 5; ++i) {
    uint8_t *e = mt + 32 + 32 * i;
    memcpy (e, items[i].guid, 16);
    wr_le32 (e + 16, ioff);
    wr_le32 (e + 20, items[i].len);
    wr_le32 (e + 24, items[i].flags);
    uint8_t *v = mt + ioff;
    if (i == 0) {
      wr_le32 (v, W_BLOCK);
      wr_le32 (v + 4, 0);       /* not LeaveBlocksAllocated, no parent */
    }
    else if (i == 1)
      wr_le64 (v, w->size);
    else if (i == 2)
      random_guid (v, 1);
    else
      wr_le32 (v, i == 3 ? W_LSS : W_PSS);
    ioff += (items[i].len + 7) & ~7u;
  }
  /* The BAT (2.5): a payload entry per block, a sector bitmap entry after
   * every W_CHUNK of them (NOT_PRESENT: no differencing). */
  for (uint64_t b = 0; b < vw->blocks; ++b)
    if (vw->at[b])
      wr_le64 (bat + 8 * (b + b / W_CHUNK), (vw->at[b] / MIB) << 20 | PB_FULLY_PRESENT);
  int r = 0;
  if (ftruncate (w->fd, (off_t) vw->next) == -1
      || full_pwrite (w->fd, bat, vw->bat_len, W_BAT_OFF) == -1
      || full_pwrite (w->fd, mt, meta_len, W_META_OFF) == -1
      || full_pwrite (w->fd, m + 3 * 64 * KIB, 2 * REGION_SIZE, 3 * 64 * KIB) == -1
      || full_pwrite (w->fd, m, 3 * 64 * KIB, 0) == -1) {
    format_error ("%s: write error: %s", writer_display (w), strerror (errno));
    r = -1;
  }
  else
    w->bytes_written += 5 * 64 * KIB + meta_len + vw->bat_len;
  free (m);
  free (bat);
  return r;
}

static void
vhdx_w_free (struct writer *w)
{
  struct vhdx_writer *vw = w->priv;
  if (vw) {
    free (vw->at);
    free (vw);
  }
  w->priv = NULL;
}

const struct format_ops format_vhdx = {
  .name = "vhdx", .qemu_name = "vhdx", .probe = vhdx_probe,
  .open = vhdx_open, .close = vhdx_close, .pread = vhdx_pread,
  .extent = vhdx_extent, .contiguous = vhdx_contiguous,
  .w_open = vhdx_w_open, .w_data = vhdx_w_data, .w_finish = vhdx_w_finish,
  .w_free = vhdx_w_free, .w_size = vhdx_w_size,
};
