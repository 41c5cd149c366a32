/* formats: the free clusters of NTFS volumes, so that an output need not
 * carry what a file system no longer uses (deleted files' data).  Read
 * from the image with the format readers, never through a mount.
 *
 * Followed: the NTFS on-disk layout as the Linux NTFS documentation
 * (Documentation/filesystems/ntfs, "NTFS Documentation" by Richard
 * Russon and Yuval Fledel) describes it.  The boot sector ("NTFS    " at
 * 3): bytes per sector at 0x0B, sectors per cluster at 0x0D (above 0x80:
 * 2^(256 - v)), total sectors at 0x28, the $MFT's first cluster at 0x30,
 * clusters per MFT record at 0x40 (negative: 2^-v bytes).  Records 0 to
 * 15 lie together at the $MFT's start; record 6 is $Bitmap.  A record
 * ("FILE") carries an update sequence array (offset at 4, count at 6): the
 * last two bytes of every 512-byte stride hold the sequence number and are
 * restored from the array.  Its attributes start at the offset at 0x14;
 * each has its type (0xFFFFFFFF ends the list), its length, a non-resident
 * flag at 8, its name length at 9; a non-resident one its run list at the
 * offset at 0x20, its data size at 0x30 and initialized size at 0x38.  A
 * run list entry's header byte gives the byte counts of its length (low
 * nibble) and of its offset (high nibble; the offset is signed and
 * relative to the previous run's; no offset bytes: a sparse run).  Bit i
 * of $Bitmap (byte i / 8, bit i % 8) is set when cluster i is in use. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "format-int.h"

#define AT_ATTRIBUTE_LIST 0x20u
#define AT_DATA 0x80u
#define AT_END 0xFFFFFFFFu
#define BITMAP_MAX (UINT64_C (512) << 20)     /* a 16 PiB volume of 4 KiB clusters */

void
rangeset_add (struct rangeset *rs, uint64_t off, uint64_t len)
{
  if (!len)
    return;
  if (rs->n && rs->off[rs->n - 1] + rs->len[rs->n - 1] == off) {
    rs->len[rs->n - 1] += len;
    rs->bytes += len;
    return;
  }
  if (rs->n == rs->cap) {
    rs->cap = rs->cap ? 2 * rs->cap : 256;
    rs->off = realloc (rs->off, rs->cap * sizeof *rs->off);
    rs->len = realloc (rs->len, rs->cap * sizeof *rs->len);
    if (!rs->off || !rs->len)
      abort ();
  }
  rs->off[rs->n] = off;
  rs->len[rs->n++] = len;
  rs->bytes += len;
}

void
rangeset_free (struct rangeset *rs)
{
  free (rs->off);
  free (rs->len);
  memset (rs, 0, sizeof *rs);
}

#define WHY(...) (snprintf (why, whylen, __VA_ARGS__), -1)

/* One decoded run: clusters [lcn, lcn + n) hold VCNs [vcn, vcn + n);
 * lcn is -1 for a sparse run. */
struct run { uint64_t vcn, n; int64_t lcn; };

static int
decode_runs (const uint8_t *p, size_t len, uint64_t clusters, struct run **runs_ret,
             size_t *n_ret, char *why, size_t whylen)
{
  struct run *runs = NULL;
  size_t n = 0, cap = 0;
  uint64_t vcn = 0;
  int64_t lcn = 0;
  size_t i = 0;
  while (i < len && p[i]) {
    unsigned lb = p[i] & 0x0F, ob = p[i] >> 4;
    if (lb == 0 || lb > 8 || ob > 8 || i + 1 + lb + ob > len) {
      free (runs);
      return WHY ("$Bitmap's run list is malformed");
    }
    uint64_t rl = 0;
    for (unsigned k = 0; k < lb; ++k)
      rl |= (uint64_t) p[i + 1 + k] << (8 * k);
    int64_t delta = 0;
    for (unsigned k = 0; k < ob; ++k)
      delta |= (int64_t) ((uint64_t) p[i + 1 + lb + k] << (8 * k));
    if (ob && ob < 8 && (p[i + lb + ob] & 0x80))
      delta -= (int64_t) 1 << (8 * ob);        /* sign-extend */
    if (rl == 0 || rl > clusters || vcn + rl > clusters) {
      free (runs);
      return WHY ("$Bitmap's run list describes more clusters than the volume has");
    }
    int64_t at = -1;
    if (ob) {
      lcn += delta;
      if (lcn < 0 || (uint64_t) lcn + rl > clusters) {
        free (runs);
        return WHY ("$Bitmap's run list points outside the volume");
      }
      at = lcn;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      runs = realloc (runs, cap * sizeof *runs);
      if (!runs)
        abort ();
    }
    runs[n++] = (struct run) { vcn, rl, at };
    vcn += rl;
    i += 1 + lb + ob;
  }
  *runs_ret = runs;
  *n_ret = n;
  return 0;
}

int
ntfs_free_ranges (struct image *img, uint64_t off, uint64_t len, struct rangeset *rs,
                  char *why, size_t whylen)
{
  uint8_t bs[512];
  if (len < 8192 || off > img->size || len > img->size - off)
    return 0;
  if (image_pread (img, bs, sizeof bs, off) == -1)
    return WHY ("cannot read the boot sector");
  if (memcmp (bs + 3, "NTFS    ", 8) != 0)
    return 0;
  uint32_t bps = rd_le16 (bs + 0x0B), spc = bs[0x0D];
  if (bps < 256 || bps > 4096 || (bps & (bps - 1)))
    return WHY ("%" PRIu32 " bytes per sector", bps);
  if (spc > 0x80) {
    if (256 - spc > 31)
      return WHY ("an absurd cluster size");
    spc = UINT32_C (1) << (256 - spc);
  }
  if (spc == 0 || (spc & (spc - 1)))
    return WHY ("%" PRIu32 " sectors per cluster", spc);
  uint64_t cs = (uint64_t) bps * spc;
  if (cs > (UINT64_C (2) << 20))
    return WHY ("a cluster of %" PRIu64 " bytes", cs);
  uint64_t total = rd_le64 (bs + 0x28), mft = rd_le64 (bs + 0x30);
  uint64_t clusters = total / spc;
  if (total == 0 || total > len / bps)
    return WHY ("the boot sector says the volume has %" PRIu64 " sectors, more than its "
                "partition holds", total);
  int8_t cpr = (int8_t) bs[0x40];
  uint64_t rsz = cpr > 0 ? (uint64_t) cpr * cs : cpr < 0 && cpr >= -31 ? UINT64_C (1) << -cpr : 0;
  if (rsz < 512 || rsz > 65536 || rsz % 512)
    return WHY ("MFT records of an odd size");
  if (mft >= clusters || (mft * cs + 7 * rsz) > clusters * cs)
    return WHY ("the $MFT lies outside the volume");

  /* Record 6, its fixups applied. */
  uint8_t *rec = malloc (rsz);
  if (!rec)
    abort ();
  int r = 0;
  if (image_pread (img, rec, rsz, off + mft * cs + 6 * rsz) == -1)
    r = WHY ("cannot read MFT record 6 ($Bitmap)");
  uint32_t uso = r ? 0 : rd_le16 (rec + 4), usc = r ? 0 : rd_le16 (rec + 6);
  if (!r && (memcmp (rec, "FILE", 4) != 0 || usc != rsz / 512 + 1 || uso < 0x28
             || uso + 2 * (uint64_t) usc > rsz || !(rd_le16 (rec + 0x16) & 1)))
    r = WHY ("MFT record 6 ($Bitmap) is not a sound record in use");
  for (uint32_t k = 1; !r && k < usc; ++k) {
    uint8_t *end = rec + 512 * k - 2;
    if (memcmp (end, rec + uso, 2) != 0)
      r = WHY ("MFT record 6 ($Bitmap) fails its update sequence check (a torn write)");
    else
      memcpy (end, rec + uso + 2 * k, 2);
  }
  /* Its unnamed $DATA attribute, which must be non-resident. */
  const uint8_t *data = NULL;
  uint32_t alen = 0;
  for (uint64_t a = r ? rsz : rd_le16 (rec + 0x14); !r && a + 16 <= rsz;) {
    uint32_t type = rd_le32 (rec + a);
    if (type == AT_END)
      break;
    alen = rd_le32 (rec + a + 4);
    if (alen < 16 || alen % 8 || alen > rsz - a) {
      r = WHY ("MFT record 6 ($Bitmap) has a malformed attribute");
      break;
    }
    if (type == AT_ATTRIBUTE_LIST)
      r = WHY ("$Bitmap's attributes span several records (an attribute list)");
    if (type == AT_DATA && rec[a + 9] == 0) {
      data = rec + a;
      break;
    }
    a += alen;
  }
  if (!r && (!data || !data[8] || alen < 0x40))
    r = WHY ("$Bitmap has no non-resident data attribute");
  struct run *runs = NULL;
  size_t nruns = 0;
  uint64_t size = 0, init = 0;
  if (!r) {
    uint32_t ro = rd_le16 (data + 0x20);
    size = rd_le64 (data + 0x30);
    init = rd_le64 (data + 0x38);
    if (rd_le64 (data + 0x10) != 0 || ro < 0x40 || ro >= alen)
      r = WHY ("$Bitmap's data attribute is malformed");
    else if (size < (clusters + 7) / 8 || size > BITMAP_MAX || init > size)
      r = WHY ("$Bitmap holds %" PRIu64 " bytes for a volume of %" PRIu64 " clusters",
               size, clusters);
    else
      r = decode_runs (data + ro, alen - ro, clusters, &runs, &nruns, why, whylen);
  }
  free (rec);
  /* Walk the bitmap a cluster of it at a time; a free cluster's bytes
   * join rs.  Past the initialized size the bitmap reads as zeros, but
   * such a volume is refused: its tail would count as free. */
  if (!r && init < (clusters + 7) / 8)
    r = WHY ("$Bitmap is initialized for fewer clusters than the volume has");
  uint8_t *buf = r ? NULL : malloc (cs);
  if (!r && !buf)
    abort ();
  uint64_t need = (clusters + 7) / 8, have = 0, run_start = 0;
  int in_free = 0;
  struct rangeset mine = { 0 };         /* rs gets them only when all is read */
  for (size_t i = 0; !r && i < nruns && have < need; ++i)
    for (uint64_t c = 0; c < runs[i].n && have < need; ++c) {
      size_t n = cs < need - have ? cs : need - have;
      if (runs[i].lcn < 0) {
        r = WHY ("$Bitmap has a sparse run");
        break;
      }
      if (image_pread (img, buf, n, off + ((uint64_t) runs[i].lcn + c) * cs) == -1) {
        r = WHY ("cannot read $Bitmap");
        break;
      }
      for (size_t b = 0; b < n; ++b) {
        uint8_t v = buf[b];
        for (int k = 0; k < 8; ++k) {
          uint64_t cl = (have + b) * 8 + k;
          if (cl >= clusters)
            break;
          int free_cl = !(v >> k & 1);
          if (free_cl && !in_free)
            run_start = cl, in_free = 1;
          else if (!free_cl && in_free) {
            rangeset_add (&mine, off + run_start * cs, (cl - run_start) * cs);
            in_free = 0;
          }
        }
      }
      have += n;
    }
  if (!r && have < need)
    r = WHY ("$Bitmap's runs hold fewer bytes than the volume needs");
  if (!r && in_free)
    rangeset_add (&mine, off + run_start * cs, (clusters - run_start) * cs);
  /* The volume's sectors past its last whole cluster belong to no
   * cluster: nothing uses them (the backup boot sector is the sector
   * after the volume's last). */
  if (!r && total * bps > clusters * cs) {
    if (mine.n && mine.off[mine.n - 1] + mine.len[mine.n - 1] > off + clusters * cs)
      r = WHY ("internal error: free ranges past the volume");
    else
      rangeset_add (&mine, off + clusters * cs, total * bps - clusters * cs);
  }
  for (size_t i = 0; !r && i < mine.n; ++i)
    rangeset_add (rs, mine.off[i], mine.len[i]);
  rangeset_free (&mine);
  free (buf);
  free (runs);
  return r ? -1 : 1;
}

int
image_ntfs_free (struct image *img, struct rangeset *rs,
                 void (*warn) (void *opaque, int part, const char *why), void *opaque)
{
  struct partition parts[PARTITIONS_MAX];
  int n;
  char why[256];
  if (partitions_list (img, parts, PARTITIONS_MAX, &n, why, sizeof why) == -1) {
    warn (opaque, 0, why);
    return 0;
  }
  if (n == 0) {                 /* a bare volume */
    parts[0] = (struct partition) { 0, img->size, 0 };
    n = 1;
  }
  int mapped = 0;
  for (int i = 0; i < n; ++i) {
    int r = ntfs_free_ranges (img, parts[i].off, parts[i].len, rs, why, sizeof why);
    if (r == 1)
      mapped++;
    else if (r == -1)
      warn (opaque, parts[i].number, why);
  }
  return mapped;
}
