/* formats: what NTFS volumes no longer use, so that an output need not
 * carry deleted files' data: the free clusters (written as zeros) and the
 * MFT records freed or past their used size (rewritten without the old
 * attribute bytes).  Read from the image with the format readers, never
 * through a mount.
 *
 * Followed: the NTFS on-disk layout as the Linux NTFS documentation
 * (Documentation/filesystems/ntfs, "NTFS Documentation" by Richard
 * Russon and Yuval Fledel) describes it.  The boot sector ("NTFS    " at
 * 3): bytes per sector at 0x0B, sectors per cluster at 0x0D (above 0x80:
 * 2^(256 - v)), total sectors at 0x28, the $MFT's first cluster at 0x30,
 * clusters per MFT record at 0x40 (negative: 2^-v bytes).  Record 0 is
 * $MFT itself (its unnamed $DATA holds every record, its $BITMAP, type
 * 0xB0, one bit per record, set when the record is in use); record 6 is
 * $Bitmap.  A record ("FILE") carries an update sequence array (offset at
 * 4, count at 6): the last two bytes of every 512-byte stride hold the
 * sequence number, the array the bytes they replace.  At 0x14 the offset
 * of its first attribute, at 0x16 its flags (1: in use), at 0x18 the
 * bytes in use, at 0x1C the bytes allocated.  Each attribute has its type
 * (0xFFFFFFFF ends the list), its length, a non-resident flag at 8, its
 * name length at 9; a resident one its value's length at 0x10 and offset
 * at 0x14; a non-resident one its lowest VCN at 0x10, highest at 0x18,
 * run list offset at 0x20, allocated, data and initialized sizes at 0x28,
 * 0x30, 0x38.  A run list entry's header byte gives the byte counts of
 * its length (low nibble) and of its offset (high nibble; the offset is
 * signed and relative to the previous run's; no offset bytes: a sparse
 * run).  Bit i of a bitmap is bit i % 8 of byte i / 8. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "format-int.h"
#include "ntfs-int.h"

#define BITMAP_MAX (UINT64_C (512) << 20)     /* a 16 PiB volume of 4 KiB clusters */
#define FIRST_USER_RECORD 16                  /* 0 to 15: the system files */

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

int
decode_runs (const char *what, const uint8_t *p, size_t len, uint64_t clusters,
             struct run **runs_ret, size_t *n_ret, char *why, size_t whylen)
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
      return WHY ("%s's run list is malformed", what);
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
      return WHY ("%s's run list describes more clusters than the volume has", what);
    }
    int64_t at = -1;
    if (ob) {
      if ((delta > 0 && lcn > INT64_MAX - delta) || (delta < 0 && lcn < INT64_MIN - delta)) {
        free (runs);
        return WHY ("%s's run list points outside the volume", what);
      }
      lcn += delta;
      if (lcn < 0 || (uint64_t) lcn + rl > clusters) {
        free (runs);
        return WHY ("%s's run list points outside the volume", what);
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

/* Read len bytes at voff of an attribute through its runs (sparse runs
 * read as zeros).  -1 when the runs do not reach so far. */
int
runs_pread (struct vol *v, const struct run *r, size_t nr, uint64_t voff, uint8_t *buf, size_t len)
{
  size_t i = 0;
  while (len) {
    uint64_t vcn = voff / v->cs, in = voff % v->cs;
    while (i < nr && r[i].vcn + r[i].n <= vcn)
      ++i;
    if (i == nr || r[i].vcn > vcn)
      return -1;
    uint64_t avail = (r[i].vcn + r[i].n - vcn) * v->cs - in;
    size_t k = avail < len ? avail : len;
    if (r[i].lcn < 0)
      memset (buf, 0, k);
    else if (image_pread (v->img, buf, k,
                          v->off + ((uint64_t) r[i].lcn + (vcn - r[i].vcn)) * v->cs + in) == -1)
      return -1;
    buf += k, voff += k, len -= k;
  }
  return 0;
}

/* The update sequence array of a record of rsz bytes: -1 unless it is a
 * FILE record whose array fits before its first attribute and whose
 * strides all end in the sequence number.  Sets *uso. */
int
record_check (const uint8_t *rec, uint64_t rsz, uint32_t *uso_ret)
{
  if (memcmp (rec, "FILE", 4) != 0)
    return -1;
  uint32_t uso = rd_le16 (rec + 4), usc = rd_le16 (rec + 6), attrs = rd_le16 (rec + 0x14);
  if (usc != rsz / 512 + 1 || uso < 0x28 || uso % 2 || uso + 2 * usc > attrs
      || attrs % 8 || attrs + 8 > rsz)
    return -1;
  for (uint32_t k = 1; k < usc; ++k)
    if (memcmp (rec + 512 * k - 2, rec + uso, 2) != 0)
      return -1;
  *uso_ret = uso;
  return 0;
}

/* Put back (undo 0) or take out (undo 1 ... the reverse) the bytes the
 * sequence number replaces: fixup 1 restores them, 0 stamps the record. */
void
record_fixup (uint8_t *rec, uint64_t rsz, uint32_t uso, int restore)
{
  for (uint64_t k = 1; k <= rsz / 512; ++k) {
    uint8_t *end = rec + 512 * k - 2, *save = rec + uso + 2 * k;
    if (restore)
      memcpy (end, save, 2);
    else {
      memcpy (save, end, 2);
      memcpy (end, rec + uso, 2);
    }
  }
}

/* The attribute of type, unnamed (name NULL) or named name (ASCII), in a
 * record whose fixups are applied; NULL when there is none; *bad set when
 * the list is malformed.  (Like strchr, it returns a pointer into rec.) */
uint8_t *
find_attr (const uint8_t *rec, uint64_t rsz, uint32_t type, const char *name,
           uint32_t *alen_ret, int *bad)
{
  size_t nl = name ? strlen (name) : 0;
  *bad = 0;
  for (uint64_t a = rd_le16 (rec + 0x14); a + 16 <= rsz;) {
    uint32_t t = rd_le32 (rec + a);
    if (t == AT_END)
      return NULL;
    uint32_t alen = rd_le32 (rec + a + 4);
    if (alen < 16 || alen % 8 || alen > rsz - a) {
      *bad = 1;
      return NULL;
    }
    if (t == type && rec[a + 9] == nl) {
      uint32_t no = rd_le16 (rec + a + 0x0A);
      if (nl && (no > alen || 2 * nl > alen - no)) {
        *bad = 1;
        return NULL;
      }
      size_t k = 0;
      while (k < nl && rd_le16 (rec + a + no + 2 * k) == (unsigned char) name[k])
        ++k;
      if (k == nl) {
        *alen_ret = alen;
        return (uint8_t *) (rec + a);
      }
    }
    a += alen;
  }
  *bad = 1;                     /* no end marker */
  return NULL;
}

/* The runs of a non-resident attribute, which must lie whole in this
 * record (lowest VCN 0, runs up to its allocated size). */
int
attr_runs (struct vol *v, const char *what, const uint8_t *a, uint32_t alen,
           struct run **runs, size_t *nruns, char *why, size_t whylen)
{
  if (alen < 0x40)
    return WHY ("%s's attribute is malformed", what);
  uint32_t ro = rd_le16 (a + 0x20);
  uint64_t alloc = rd_le64 (a + 0x28), size = rd_le64 (a + 0x30), init = rd_le64 (a + 0x38);
  if (rd_le64 (a + 0x10) != 0 || ro < 0x40 || ro >= alen || size > alloc || init > size
      || alloc % v->cs)
    return WHY ("%s's attribute is malformed", what);
  if (decode_runs (what, a + ro, alen - ro, v->clusters, runs, nruns, why, whylen) == -1)
    return -1;
  uint64_t vcns = *nruns ? (*runs)[*nruns - 1].vcn + (*runs)[*nruns - 1].n : 0;
  if (vcns != alloc / v->cs || rd_le64 (a + 0x18) + 1 != vcns) {
    free (*runs);
    *runs = NULL;
    return WHY ("%s's attributes span several records (an attribute list)", what);
  }
  return 0;
}

/* An attribute's value, at most max bytes: resident, or read through
 * its runs up to its initialized size (zeros after). */
int
attr_value (struct vol *v, const char *what, const uint8_t *a, uint32_t alen, uint64_t max,
            uint8_t **val, uint64_t *len, char *why, size_t whylen)
{
  if (!a[8]) {
    uint32_t vl = rd_le32 (a + 0x10), vo = rd_le16 (a + 0x14);
    if (vo > alen || vl > alen - vo || vl > max)
      return WHY ("%s's attribute is malformed", what);
    *val = malloc (vl ? vl : 1);
    if (!*val)
      abort ();
    memcpy (*val, a + vo, vl);
    *len = vl;
    return 0;
  }
  struct run *runs;
  size_t nruns;
  if (attr_runs (v, what, a, alen, &runs, &nruns, why, whylen) == -1)
    return -1;
  uint64_t size = rd_le64 (a + 0x30), init = rd_le64 (a + 0x38);
  if (size > max) {
    free (runs);
    return WHY ("%s holds %" PRIu64 " bytes, more than the volume needs", what, size);
  }
  *val = calloc (1, size ? size : 1);
  if (!*val)
    abort ();
  if (runs_pread (v, runs, nruns, 0, *val, init) == -1) {
    free (runs);
    free (*val);
    return WHY ("cannot read %s", what);
  }
  free (runs);
  *len = size;
  return 0;
}

void
vol_close (struct vol *v)
{
  free (v->rec0);
  free (v->mruns);
}

/* The boot sector and record 0.  1 when the volume is NTFS and sound so
 * far, 0 when it is not NTFS, -1 with why. */
int
vol_open (struct image *img, uint64_t off, uint64_t len, struct vol *v, char *why, size_t whylen)
{
  memset (v, 0, sizeof *v);
  v->img = img;
  v->off = off;
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
  v->bps = bps;
  v->cs = (uint64_t) bps * spc;
  if (v->cs > (UINT64_C (2) << 20))
    return WHY ("a cluster of %" PRIu64 " bytes", v->cs);
  v->total = rd_le64 (bs + 0x28);
  uint64_t mft = rd_le64 (bs + 0x30);
  v->clusters = v->total / spc;
  if (v->total == 0 || v->total > len / bps)
    return WHY ("the boot sector says the volume has %" PRIu64 " sectors, more than its "
                "partition holds", v->total);
  int8_t cpr = (int8_t) bs[0x40];
  v->rsz = cpr > 0 ? (uint64_t) cpr * v->cs : cpr < 0 && cpr >= -31 ? UINT64_C (1) << -cpr : 0;
  if (v->rsz < 512 || v->rsz > 65536 || v->rsz % 512)
    return WHY ("MFT records of an odd size");
  if (mft >= v->clusters || mft * v->cs + v->rsz > v->clusters * v->cs)
    return WHY ("the $MFT lies outside the volume");
  v->rec0 = malloc (v->rsz);
  if (!v->rec0)
    abort ();
  uint32_t uso;
  if (image_pread (img, v->rec0, v->rsz, off + mft * v->cs) == -1)
    return WHY ("cannot read MFT record 0 ($MFT)");
  if (record_check (v->rec0, v->rsz, &uso) == -1 || !(rd_le16 (v->rec0 + 0x16) & REC_IN_USE))
    return WHY ("MFT record 0 ($MFT) is not a sound record in use");
  record_fixup (v->rec0, v->rsz, uso, 1);
  uint32_t alen;
  int bad;
  const uint8_t *d = find_attr (v->rec0, v->rsz, AT_DATA, NULL, &alen, &bad);
  if (bad)
    return WHY ("MFT record 0 ($MFT) has a malformed attribute");
  if (!d || !d[8])
    return WHY ("$MFT has no non-resident data attribute");
  if (attr_runs (v, "$MFT", d, alen, &v->mruns, &v->nmruns, why, whylen) == -1)
    return -1;
  v->malloc_ = rd_le64 (d + 0x28);
  v->msize = rd_le64 (d + 0x30);
  v->minit = rd_le64 (d + 0x38);
  if (v->minit < 16 * v->rsz)
    return WHY ("$MFT holds fewer than its 16 system records");
  return 1;
}

/* MFT record n, its fixups applied, into rec (v->rsz bytes). */
int
vol_record (struct vol *v, uint64_t n, uint8_t *rec, const char *what, char *why, size_t whylen)
{
  uint32_t uso;
  if (runs_pread (v, v->mruns, v->nmruns, n * v->rsz, rec, v->rsz) == -1)
    return WHY ("cannot read MFT record %" PRIu64 " (%s)", n, what);
  if (record_check (rec, v->rsz, &uso) == -1 || !(rd_le16 (rec + 0x16) & REC_IN_USE))
    return WHY ("MFT record %" PRIu64 " (%s) is not a sound record in use", n, what);
  record_fixup (rec, v->rsz, uso, 1);
  return 0;
}

/* The free clusters, from $Bitmap, into rs (all or nothing). */
static int
vol_free (struct vol *v, struct rangeset *rs, char *why, size_t whylen)
{
  uint8_t *rec = malloc (v->rsz), *bm = NULL;
  if (!rec)
    abort ();
  uint64_t need = (v->clusters + 7) / 8, size = 0;
  uint32_t alen;
  int bad, r = vol_record (v, 6, rec, "$Bitmap", why, whylen);
  const uint8_t *d = r ? NULL : find_attr (rec, v->rsz, AT_DATA, NULL, &alen, &bad);
  if (!r && bad)
    r = WHY ("MFT record 6 ($Bitmap) has a malformed attribute");
  else if (!r && (!d || !d[8]))
    r = WHY ("$Bitmap has no non-resident data attribute");
  else if (!r && rd_le64 (d + 0x38) < need && rd_le64 (d + 0x30) >= need)
    r = WHY ("$Bitmap is initialized for fewer clusters than the volume has");
  if (!r)
    r = attr_value (v, "$Bitmap", d, alen, BITMAP_MAX, &bm, &size, why, whylen);
  if (!r && size < need)
    r = WHY ("$Bitmap holds %" PRIu64 " bytes for a volume of %" PRIu64 " clusters",
             size, v->clusters);
  free (rec);
  if (r)
    return -1;
  uint64_t run_start = 0;
  int in_free = 0;
  for (uint64_t cl = 0; cl < v->clusters; ++cl) {
    int free_cl = !(bm[cl / 8] >> (cl % 8) & 1);
    if (free_cl && !in_free)
      run_start = cl, in_free = 1;
    else if (!free_cl && in_free) {
      rangeset_add (rs, v->off + run_start * v->cs, (cl - run_start) * v->cs);
      in_free = 0;
    }
  }
  if (in_free)
    rangeset_add (rs, v->off + run_start * v->cs, (v->clusters - run_start) * v->cs);
  /* The volume's sectors past its last whole cluster belong to no
   * cluster: nothing uses them (the backup boot sector is the sector
   * after the volume's last). */
  if (v->total * v->bps > v->clusters * v->cs)
    rangeset_add (rs, v->off + v->clusters * v->cs, v->total * v->bps - v->clusters * v->cs);
  free (bm);
  return 0;
}

/* ---- MFT records ---- */

struct mft_vol { uint64_t rsz, init_rec; uint8_t *bitmap; uint64_t bits; };
struct mft_ext { uint64_t off, len, first; struct mft_vol *v; };
struct mft_clear {
  struct mft_ext *ext;
  size_t n, cap;
  struct mft_vol **vols;
  size_t nvols;
  uint8_t *rec, *scratch;       /* v->rsz bytes each, for the largest */
  uint64_t max_rsz;
};

struct mft_clear *
mft_clear_new (void)
{
  struct mft_clear *mc = calloc (1, sizeof *mc);
  if (!mc)
    abort ();
  return mc;
}

void
mft_clear_free (struct mft_clear *mc)
{
  if (!mc)
    return;
  for (size_t i = 0; i < mc->nvols; ++i) {
    free (mc->vols[i]->bitmap);
    free (mc->vols[i]);
  }
  free (mc->vols);
  free (mc->ext);
  free (mc->rec);
  free (mc->scratch);
  free (mc);
}

static int
ext_cmp (const void *a, const void *b)
{
  const struct mft_ext *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* Record $MFT's runs and $BITMAP (all or nothing). */
static int
vol_mft (struct vol *v, struct mft_clear *mc, char *why, size_t whylen)
{
  uint64_t nrec = v->malloc_ / v->rsz;
  if (v->malloc_ % v->rsz)
    return WHY ("$MFT's allocation is not a whole number of records");
  uint32_t alen;
  int bad;
  const uint8_t *b = find_attr (v->rec0, v->rsz, AT_BITMAP, NULL, &alen, &bad);
  if (!b)
    return WHY ("$MFT has no bitmap of the records in use");
  uint8_t *bm;
  uint64_t blen;
  if (attr_value (v, "$MFT's bitmap", b, alen, nrec / 8 + 4096, &bm, &blen, why, whylen) == -1)
    return -1;
  struct mft_ext *e = malloc ((v->nmruns ? v->nmruns : 1) * sizeof *e);
  if (!e)
    abort ();
  size_t ne = 0;
  int r = 0;
  for (size_t i = 0; !r && i < v->nmruns; ++i) {
    const struct run *u = &v->mruns[i];
    if (u->lcn < 0)
      r = WHY ("$MFT has a sparse run");
    else if ((u->vcn * v->cs) % v->rsz || (u->n * v->cs) % v->rsz)
      r = WHY ("$MFT's runs split records");
    else
      e[ne++] = (struct mft_ext) { v->off + (uint64_t) u->lcn * v->cs, u->n * v->cs,
                                   u->vcn * v->cs / v->rsz, NULL };
  }
  qsort (e, ne, sizeof *e, ext_cmp);
  for (size_t i = 1; !r && i < ne; ++i)
    if (e[i - 1].off + e[i - 1].len > e[i].off)
      r = WHY ("$MFT's runs overlap");
  if (r) {
    free (e);
    free (bm);
    return -1;
  }
  struct mft_vol *mv = calloc (1, sizeof *mv);
  if (!mv)
    abort ();
  *mv = (struct mft_vol) { v->rsz, v->minit / v->rsz, bm, blen * 8 };
  mc->vols = realloc (mc->vols, (mc->nvols + 1) * sizeof *mc->vols);
  if (!mc->vols)
    abort ();
  mc->vols[mc->nvols++] = mv;
  for (size_t i = 0; i < ne; ++i) {
    if (mc->n == mc->cap) {
      mc->cap = mc->cap ? 2 * mc->cap : 16;
      mc->ext = realloc (mc->ext, mc->cap * sizeof *mc->ext);
      if (!mc->ext)
        abort ();
    }
    e[i].v = mv;
    mc->ext[mc->n++] = e[i];
  }
  free (e);
  if (v->rsz > mc->max_rsz) {
    mc->max_rsz = v->rsz;
    free (mc->rec);
    free (mc->scratch);
    mc->rec = malloc (v->rsz);
    mc->scratch = malloc (v->rsz);
    if (!mc->rec || !mc->scratch)
      abort ();
  }
  return 0;
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Rewrite record n of v (at rec): 1 when a freed record lost its
 * attributes (or a record past the initialized size its bytes), 2 when a
 * record in use lost the bytes past its used size, 0 when it is left as
 * it is (nothing to clear, or not a record this can be sure of). */
static int
clear_record (struct mft_clear *mc, const struct mft_vol *v, uint64_t n, uint8_t *rec)
{
  uint64_t rsz = v->rsz;
  if (n >= v->init_rec) {       /* reads as zeros whatever it holds */
    if (all_zero (rec, rsz))
      return 0;
    memset (rec, 0, rsz);
    return 1;
  }
  /* The system records are left whole: $MFTMirr holds copies of the
   * first ones, which must match them byte for byte (ntfsfix and chkdsk
   * compare them). */
  uint32_t uso;
  if (n < FIRST_USER_RECORD || record_check (rec, rsz, &uso) == -1)
    return 0;
  uint8_t *s = mc->scratch;
  memcpy (s, rec, rsz);
  record_fixup (s, rsz, uso, 1);
  bool in_use = rd_le16 (s + 0x16) & REC_IN_USE;
  bool mapped = n < v->bits && (v->bitmap[n / 8] >> (n % 8) & 1);
  uint32_t attrs = rd_le16 (s + 0x14);
  int what;
  if (!in_use && !mapped) {
    /* Freed: the header (its sequence number, which stale references
     * are checked against) and an empty attribute list. */
    wr_le32 (s + attrs, AT_END);
    memset (s + attrs + 4, 0, rsz - attrs - 4);
    wr_le32 (s + 0x18, attrs + 8);
    what = 1;
  }
  else if (in_use && mapped) {
    uint32_t used = rd_le32 (s + 0x18);
    if (rd_le32 (s + 0x1C) != rsz || used % 8 || used < attrs + 8 || used > rsz)
      return 0;
    uint64_t a = attrs;
    for (;;) {                  /* the list must end inside the used bytes */
      if (a + 4 > used)
        return 0;
      if (rd_le32 (s + a) == AT_END)
        break;
      uint32_t alen = a + 8 <= used ? rd_le32 (s + a + 4) : 0;
      if (alen < 16 || alen % 8 || alen > used - a)
        return 0;
      a += alen;
    }
    memset (s + used, 0, rsz - used);
    what = 2;
  }
  else
    return 0;                   /* the bitmap and the header disagree: leave it */
  record_fixup (s, rsz, uso, 0);
  if (memcmp (s, rec, rsz) == 0)
    return 0;
  memcpy (rec, s, rsz);
  return what;
}

/* The first MFT extent that ends after off (mc->n when none does). */
static size_t
first_ext (const struct mft_clear *mc, uint64_t off)
{
  size_t lo = 0, hi = mc->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (mc->ext[mid].off + mc->ext[mid].len <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

bool
mft_clear_hits (const struct mft_clear *mc, uint64_t off, uint64_t len)
{
  if (!mc)
    return false;
  size_t i = first_ext (mc, off);
  return i < mc->n && mc->ext[i].off < off + len;
}

void
mft_clear_apply (struct mft_clear *mc, struct image *img, uint64_t off, uint8_t *buf,
                 size_t len, uint64_t *cleared, uint64_t *trimmed)
{
  if (!mc)
    return;
  uint64_t end = off + len;
  for (size_t i = first_ext (mc, off); i < mc->n && mc->ext[i].off < end; ++i) {
    const struct mft_ext *e = &mc->ext[i];
    uint64_t rsz = e->v->rsz;
    uint64_t k = off > e->off ? (off - e->off) / rsz : 0;
    for (; k < e->len / rsz; ++k) {
      uint64_t ro = e->off + k * rsz;
      if (ro >= end)
        break;
      int w;
      if (ro >= off && ro + rsz <= end)
        w = clear_record (mc, e->v, e->first + k, buf + (ro - off));
      else {
        /* A record across the buffer's edge: read it whole, copy the part
         * inside; it is counted where it starts. */
        if (image_pread (img, mc->rec, rsz, ro) == -1)
          continue;             /* the reader reports a bad read itself */
        w = clear_record (mc, e->v, e->first + k, mc->rec);
        uint64_t a = ro > off ? ro : off, b = ro + rsz < end ? ro + rsz : end;
        if (w)
          memcpy (buf + (a - off), mc->rec + (a - ro), b - a);
        if (ro < off)
          w = 0;
      }
      if (w == 1)
        ++*cleared;
      else if (w == 2)
        ++*trimmed;
    }
  }
}

int
ntfs_free_ranges (struct image *img, uint64_t off, uint64_t len, struct rangeset *rs,
                  struct mft_clear *mc, char *why, size_t whylen)
{
  struct vol v;
  int r = vol_open (img, off, len, &v, why, whylen);
  if (r == 1 && rs) {
    struct rangeset mine = { 0 };         /* rs gets them only when all is read */
    if (vol_free (&v, &mine, why, whylen) == -1)
      r = -1;
    for (size_t i = 0; r == 1 && i < mine.n; ++i)
      rangeset_add (rs, mine.off[i], mine.len[i]);
    rangeset_free (&mine);
  }
  if (r == 1 && mc && vol_mft (&v, mc, why, whylen) == -1)
    r = -2;
  vol_close (&v);
  return r;
}

int
image_ntfs_free (struct image *img, struct rangeset *rs, struct mft_clear *mc,
                 void (*warn) (void *opaque, int part, int records, const char *why),
                 void *opaque)
{
  struct partition parts[PARTITIONS_MAX];
  int n;
  char why[256];
  if (partitions_list (img, parts, PARTITIONS_MAX, &n, why, sizeof why) == -1) {
    warn (opaque, 0, 0, why);
    return 0;
  }
  if (n == 0) {                 /* a bare volume */
    parts[0] = (struct partition) { 0, img->size, 0 };
    n = 1;
  }
  int mapped = 0;
  for (int i = 0; i < n; ++i) {
    int r = ntfs_free_ranges (img, parts[i].off, parts[i].len, rs, mc, why, sizeof why);
    if (r == 1 || r == -2)
      mapped++;
    if (r == -1)
      warn (opaque, parts[i].number, 0, why);
    else if (r == -2)
      warn (opaque, parts[i].number, 1, why);
  }
  return mapped;
}
