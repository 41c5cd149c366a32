/* formats: a machine domain inside an NTFS volume's shared security
 * descriptors ($Secure), moved to another domain in place.
 *
 * Why: files refer to their descriptor by a security id; the descriptors
 * live once each in $Secure (MFT record 9).  When sid-reset gives files
 * new descriptors through ntfs-3g, ntfs-3g appends the new ones and
 * leaves the old ones, which still name the golden machine's accounts.
 * Moving the domain inside every $Secure entry leaves none of it (the
 * old entries become copies of new ones, which NTFS allows), without
 * renumbering anything the files refer to.
 *
 * Followed: the Linux NTFS documentation ("NTFS Documentation", Richard
 * Russon and Yuval Fledel: $Secure, index records, INDX) and Microsoft's
 * [MS-DTYP] 2.4.2 (SID) and 2.4.6 (self-relative security descriptor).
 *  - $SDS, the $DATA attribute of that name, holds the
 *    entries: a 20-byte header (hash, security id, the entry's own
 *    offset in $SDS as 64 bits, its length header included) then the
 *    self-relative descriptor; entries start on 16-byte boundaries and
 *    never cross a 256 KiB boundary; every 256 KiB chunk is followed by
 *    a copy of itself (the "mirror"), whose headers keep the first
 *    copy's offsets.
 *  - The hash: over the descriptor as little-endian 32-bit words,
 *    hash = word + (hash rotated left by 3).
 *  - $SII indexes the entries by security id (key: 32 bits), $SDH by
 *    (hash, security id) compared as unsigned 32-bit numbers, hash first;
 *    both carry the entry's header as their data.  An index: its root
 *    ($INDEX_ROOT, resident: 16 bytes, then an index header) and blocks
 *    ($INDEX_ALLOCATION: "INDX" records of the root's block size, with
 *    an update sequence array like FILE records, the index header at
 *    0x18).  An index header: the first entry's offset, the bytes in
 *    use, both from the header.  An entry: data offset (16 bits), data
 *    length (16), 4 reserved, its length (16), key length (16), flags
 *    (16: 1 has a subnode, whose VCN is the entry's last 8 bytes; 2 the
 *    last entry, with no key), the key at 0x10.  Subnode VCNs count
 *    clusters, or 512-byte units when the block is smaller than a
 *    cluster.
 * Keys are kept in order by giving the in-order sequence of $SDH's entry
 * slots the sorted keys: the tree's shape is unchanged, so every node
 * keeps its entries and subnodes.  Everything is read and checked before
 * the first write; a volume that cannot be read so is left as it is. */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "format-int.h"
#include "ntfs-int.h"

#define SECURE_RECORD 9
#define AT_ATTRIBUTE_LIST 0x20u
#define SDS_CHUNK UINT64_C (0x40000)
#define SDS_MAX (UINT64_C (256) << 20)
#define SDS_HDR 20
#define SLACK_MAX (UINT64_C (64) << 20)
#define DEPTH_MAX 32
#define IE_NODE 1u
#define IE_END 2u
#define PIECE 4096

static uint32_t
sd_hash (const uint8_t *p, size_t len)
{
  uint32_t h = 0;
  for (size_t i = 0; i + 4 <= len; i += 4)
    h = rd_le32 (p + i) + (h << 3 | h >> 29);
  return h;
}

/* Move the SIDs of domain from to domain to inside a descriptor (to NULL:
 * count them only): where the 12 bytes follow a SID header of the NT
 * authority's sub-authority 21 (01 NN 00 00 00 00 00 05 15 00 00 00, the
 * SID whole inside the descriptor).  Adds the other occurrences of from
 * to *bare.  Returns how many SIDs hold the domain. */
static size_t
move_domain (uint8_t *p, size_t len, const uint8_t *from, const uint8_t *to, uint64_t *bare)
{
  static const uint8_t head[10] = { 0, 0, 0, 0, 0, 5, 0x15, 0, 0, 0 };
  size_t n = 0;
  for (size_t i = 0; i + 24 <= len; ++i)
    if (p[i] == 1 && p[i + 1] >= 4 && p[i + 1] <= 15 && memcmp (p + i + 2, head, 10) == 0
        && memcmp (p + i + 12, from, 12) == 0 && i + 8 + 4 * (size_t) p[i + 1] <= len) {
      if (to)
        memcpy (p + i + 12, to, 12);
      ++n;
      i += 23;
    }
  for (size_t i = 0; i + 12 <= len; ++i)
    if (memcmp (p + i, from, 12) == 0)
      ++*bare;
  if (!to)
    *bare -= n;
  return n;
}

/* Write len bytes of buf at voff of an attribute through its runs. */
static int
runs_write (struct vol *v, const struct run *r, size_t nr, uint64_t voff, const uint8_t *buf,
            size_t len, ntfs_write_fn write, void *opaque)
{
  size_t i = 0;
  while (len) {
    uint64_t vcn = voff / v->cs, in = voff % v->cs;
    while (i < nr && r[i].vcn + r[i].n <= vcn)
      ++i;
    if (i == nr || r[i].vcn > vcn || r[i].lcn < 0)
      return -1;
    uint64_t avail = (r[i].vcn + r[i].n - vcn) * v->cs - in;
    size_t k = avail < len ? avail : len;
    if (write (opaque, buf, k, v->off + ((uint64_t) r[i].lcn + (vcn - r[i].vcn)) * v->cs + in)
        == -1)
      return -1;
    buf += k, voff += k, len -= k;
  }
  return 0;
}

/* ---- indexes ---- */

struct block { uint64_t vcn; uint8_t *buf; uint32_t uso; int dirty; };
struct slot { uint8_t *e; size_t owner; };    /* owner 0: the root; k + 1: block k */
struct index {
  struct vol *v;
  const char *name;
  uint8_t *root;                /* the root's value, inside the record */
  uint32_t root_len;
  int root_dirty;
  struct run *runs;
  size_t nruns;
  uint64_t alloc;
  uint32_t bsize;
  uint64_t vcn_size;
  uint32_t key_len;
  struct block *blocks;
  size_t nblocks;
  struct slot *slots;
  size_t nslots, cap;
};

static void
index_free (struct index *x)
{
  for (size_t i = 0; i < x->nblocks; ++i)
    free (x->blocks[i].buf);
  free (x->blocks);
  free (x->slots);
  free (x->runs);
}

static int walk_node (struct index *x, uint8_t *h, uint64_t limit, size_t owner, int depth,
                      char *why, size_t whylen);

static void
mark (struct index *x, const struct slot *s)
{
  if (s->owner)
    x->blocks[s->owner - 1].dirty = 1;
  else
    x->root_dirty = 1;
}

/* Read the block at vcn (each once: a tree reaches a block by one path),
 * check and fix it up, and walk it. */
static int
walk_block (struct index *x, uint64_t vcn, int depth, char *why, size_t whylen)
{
  if (!x->runs)
    return WHY ("$Secure's %s has subnodes but no index allocation", x->name);
  if (vcn > x->alloc / x->vcn_size || vcn * x->vcn_size > x->alloc - x->bsize)
    return WHY ("$Secure's %s names a block outside its allocation", x->name);
  for (size_t i = 0; i < x->nblocks; ++i)
    if (x->blocks[i].vcn == vcn)
      return WHY ("$Secure's %s reaches one block twice", x->name);
  if (x->nblocks >= x->alloc / x->bsize)
    return WHY ("$Secure's %s has more blocks than its allocation holds", x->name);
  x->blocks = realloc (x->blocks, (x->nblocks + 1) * sizeof *x->blocks);
  uint8_t *b = malloc (x->bsize);
  if (!x->blocks || !b)
    abort ();
  struct block *bl = &x->blocks[x->nblocks++];
  *bl = (struct block) { vcn, b, 0, 0 };
  if (runs_pread (x->v, x->runs, x->nruns, vcn * x->vcn_size, b, x->bsize) == -1)
    return WHY ("cannot read a block of $Secure's %s", x->name);
  uint32_t uso = rd_le16 (b + 4), usc = rd_le16 (b + 6);
  if (memcmp (b, "INDX", 4) != 0 || usc != x->bsize / 512 + 1 || uso < 0x28 || uso % 2
      || uso + 2 * usc > x->bsize || rd_le64 (b + 0x10) != vcn)
    return WHY ("a block of $Secure's %s is not a sound index record", x->name);
  for (uint32_t k = 1; k < usc; ++k)
    if (memcmp (b + 512 * k - 2, b + uso, 2) != 0)
      return WHY ("a block of $Secure's %s is torn (update sequence)", x->name);
  record_fixup (b, x->bsize, uso, 1);
  bl->uso = uso;
  return walk_node (x, b + 0x18, x->bsize - 0x18, x->nblocks, depth, why, whylen);
}

/* Walk the entries of a node (its index header at h, limit bytes from
 * h in the record), in order: a subnode before its entry. */
static int
walk_node (struct index *x, uint8_t *h, uint64_t limit, size_t owner, int depth, char *why,
           size_t whylen)
{
  if (depth > DEPTH_MAX)
    return WHY ("$Secure's %s is deeper than %d levels", x->name, DEPTH_MAX);
  uint32_t first = rd_le32 (h), used = rd_le32 (h + 4);
  if (limit < 16 || first < 16 || first % 8 || used > limit || first >= used)
    return WHY ("a node of $Secure's %s has a malformed header", x->name);
  for (uint64_t e = first;;) {
    if (e + 16 > used)
      return WHY ("a node of $Secure's %s has no last entry", x->name);
    uint8_t *p = h + e;
    uint32_t elen = rd_le16 (p + 8), flags = rd_le16 (p + 12);
    if (elen < 16 || elen % 8 || elen > used - e || ((flags & IE_NODE) && elen < 24))
      return WHY ("an entry of $Secure's %s is malformed", x->name);
    if ((flags & IE_NODE) && walk_block (x, rd_le64 (p + elen - 8), depth + 1, why, whylen) == -1)
      return -1;
    if (flags & IE_END)
      return 0;
    uint32_t doff = rd_le16 (p), dlen = rd_le16 (p + 2), klen = rd_le16 (p + 10);
    uint32_t room = elen - ((flags & IE_NODE) ? 8 : 0);
    if (klen != x->key_len || dlen < SDS_HDR || doff < 16 + klen || doff > room
        || dlen > room - doff)
      return WHY ("an entry of $Secure's %s is malformed", x->name);
    if (x->nslots == x->cap) {
      x->cap = x->cap ? 2 * x->cap : 64;
      x->slots = realloc (x->slots, x->cap * sizeof *x->slots);
      if (!x->slots)
        abort ();
    }
    x->slots[x->nslots++] = (struct slot) { p, owner };
    e += elen;
  }
}

/* The index name of record rec: its root and allocation. */
static int
index_open (struct vol *v, uint8_t *rec, const char *name, uint32_t key_len, struct index *x,
            char *why, size_t whylen)
{
  memset (x, 0, sizeof *x);
  x->v = v;
  x->name = name;
  x->key_len = key_len;
  uint32_t alen;
  int bad;
  uint8_t *a = find_attr (rec, v->rsz, AT_INDEX_ROOT, name, &alen, &bad);
  if (!a || a[8])
    return WHY ("$Secure has no %s index root", name);
  uint32_t vl = rd_le32 (a + 0x10), vo = rd_le16 (a + 0x14);
  if (vo > alen || vl > alen - vo || vl < 0x20)
    return WHY ("$Secure's %s index root is malformed", name);
  x->root = a + vo;
  x->root_len = vl;
  x->bsize = rd_le32 (x->root + 8);
  if (x->bsize < 512 || x->bsize > 65536 || (x->bsize & (x->bsize - 1)))
    return WHY ("$Secure's %s has blocks of %" PRIu32 " bytes", name, x->bsize);
  x->vcn_size = x->bsize >= v->cs ? v->cs : 512;
  const uint8_t *ia = find_attr (rec, v->rsz, AT_INDEX_ALLOCATION, name, &alen, &bad);
  if (bad)
    return WHY ("MFT record 9 ($Secure) has a malformed attribute");
  if (ia) {
    if (!ia[8])
      return WHY ("$Secure's %s index allocation is resident", name);
    if (attr_runs (v, name, ia, alen, &x->runs, &x->nruns, why, whylen) == -1)
      return -1;
    x->alloc = rd_le64 (ia + 0x28);
    if (x->alloc < x->bsize)
      x->alloc = 0;
  }
  return 0;
}

static int
index_walk (struct index *x, char *why, size_t whylen)
{
  return walk_node (x, x->root + 0x10, x->root_len - 0x10, 0, 0, why, whylen);
}

/* ---- the pass ---- */

struct moved { uint32_t id, hash; uint64_t off; };

static int
moved_cmp (const void *a, const void *b)
{
  const struct moved *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static const struct moved *
moved_find (const struct moved *m, size_t n, uint32_t id)
{
  struct moved k = { id, 0, 0 };
  return bsearch (&k, m, n, sizeof *m, moved_cmp);
}

struct sdh_key { uint8_t k[8], d[SDS_HDR]; };

static int
sdh_cmp (const void *a, const void *b)
{
  const struct sdh_key *x = a, *y = b;
  uint32_t hx = rd_le32 (x->k), hy = rd_le32 (y->k), ix = rd_le32 (x->k + 4), iy = rd_le32 (y->k + 4);
  if (hx != hy)
    return hx < hy ? -1 : 1;
  return ix < iy ? -1 : ix > iy;
}

static int
stamp_write (struct vol *v, const struct run *r, size_t nr, uint64_t voff, const uint8_t *buf,
             uint64_t size, uint32_t uso, ntfs_write_fn write, void *opaque)
{
  uint8_t *c = malloc (size);
  if (!c)
    abort ();
  memcpy (c, buf, size);
  record_fixup (c, size, uso, 0);
  int r2 = runs_write (v, r, nr, voff, c, size, write, opaque);
  free (c);
  return r2;
}

/* $MFTMirr holds copies of the first records, at least 4, a cluster's
 * worth when clusters are larger: record 9 too when it reaches so far. */
static int
mirror_record (struct vol *v, const uint8_t *rec, uint32_t uso, ntfs_write_fn write,
               void *opaque)
{
  uint8_t *m = malloc (v->rsz);
  struct run *mr = NULL;
  size_t nmr = 0;
  uint32_t alen;
  int bad, r = 0;
  char why[8];
  size_t whylen = sizeof why;
  if (!m)
    abort ();
  const uint8_t *d = NULL;
  if (vol_record (v, 1, m, "$MFTMirr", why, whylen) == 0)
    d = find_attr (m, v->rsz, AT_DATA, NULL, &alen, &bad);
  if (d && d[8] && rd_le64 (d + 0x30) >= (SECURE_RECORD + 1) * v->rsz
      && attr_runs (v, "$MFTMirr", d, alen, &mr, &nmr, why, whylen) == 0)
    r = stamp_write (v, mr, nmr, SECURE_RECORD * v->rsz, rec, v->rsz, uso, write, opaque);
  free (mr);
  free (m);
  return r;
}

static int
secure_volume (struct vol *v, const uint8_t *from, const uint8_t *to, ntfs_write_fn write,
               void *opaque, struct ntfs_secure_stats *st, char *why, size_t whylen)
{
  int r = -1;
  uint8_t *rec = malloc (v->rsz), *sds = NULL, *orig = NULL, *slack = NULL;
  struct run *runs = NULL;
  size_t nruns = 0;
  struct moved *mv = NULL;
  size_t nmv = 0;
  struct index sii, sdh;
  memset (&sii, 0, sizeof sii);
  memset (&sdh, 0, sizeof sdh);
  struct sdh_key *keys = NULL;
  if (!rec)
    abort ();
  uint32_t uso;
  if (runs_pread (v, v->mruns, v->nmruns, SECURE_RECORD * v->rsz, rec, v->rsz) == -1) {
    r = WHY ("cannot read MFT record 9 ($Secure)");
    goto out;
  }
  if (record_check (rec, v->rsz, &uso) == -1 || !(rd_le16 (rec + 0x16) & REC_IN_USE)) {
    r = WHY ("MFT record 9 ($Secure) is not a sound record in use");
    goto out;
  }
  record_fixup (rec, v->rsz, uso, 1);
  uint32_t alen;
  int bad;
  /* An attribute list (type 0x20, before every attribute looked for
   * here): the attributes may lie in other records; refused. */
  if (find_attr (rec, v->rsz, AT_ATTRIBUTE_LIST, NULL, &alen, &bad)) {
    r = WHY ("$Secure's attributes span several records (an attribute list)");
    goto out;
  }
  const uint8_t *d = find_attr (rec, v->rsz, AT_DATA, "$SDS", &alen, &bad);
  if (bad) {
    r = WHY ("MFT record 9 ($Secure) has a malformed attribute");
    goto out;
  }
  if (!d) {                     /* an NTFS before 3.0: no shared descriptors */
    r = 0;
    goto out;
  }
  if (!d[8]) {
    r = WHY ("$Secure's $SDS is resident");
    goto out;
  }
  if (attr_runs (v, "$Secure's $SDS", d, alen, &runs, &nruns, why, whylen) == -1)
    goto out;
  uint64_t size = rd_le64 (d + 0x30), init = rd_le64 (d + 0x38), alloc = rd_le64 (d + 0x28);
  if (size > SDS_MAX) {
    r = WHY ("$Secure's $SDS holds %" PRIu64 " bytes, more than winseal reads", size);
    goto out;
  }
  sds = calloc (1, size ? size : 1);
  orig = malloc (size ? size : 1);
  if (!sds || !orig)
    abort ();
  if (runs_pread (v, runs, nruns, 0, sds, init) == -1) {
    r = WHY ("cannot read $Secure's $SDS");
    goto out;
  }
  memcpy (orig, sds, size);

  /* Every entry, in both copies: a header whose offset is its own
   * (the first copy's, in a mirror chunk) and that fits in its chunk. */
  size_t cap = 0;
  for (uint64_t p = 0; p + SDS_HDR <= size;) {
    uint64_t chunk = p / SDS_CHUNK, cend = (chunk + 1) * SDS_CHUNK;
    int mirror = chunk % 2;
    uint64_t self = mirror ? p - SDS_CHUNK : p;
    uint8_t *h = sds + p;
    uint32_t len = rd_le32 (h + 16);
    if (rd_le64 (h + 8) != self || len < SDS_HDR + 20 || len > cend - p || len > size - p) {
      p += 16;
      continue;
    }
    uint8_t *sd = h + SDS_HDR;
    size_t sdl = len - SDS_HDR;
    if (!mirror)
      st->entries++;
    uint64_t bare = 0;
    size_t n = move_domain (sd, sdl, from, NULL, &bare);
    st->bare += bare;
    if (n) {
      st->with_domain++;
      if (to) {
        if (rd_le32 (h) != sd_hash (sd, sdl)) {
          r = WHY ("$Secure's entry %" PRIu32 " has a hash that does not match its descriptor",
                   rd_le32 (h + 4));
          goto out;
        }
        move_domain (sd, sdl, from, to, &bare);
        wr_le32 (h, sd_hash (sd, sdl));
        st->rewritten++;
        if (!mirror) {
          if (nmv == cap) {
            cap = cap ? 2 * cap : 64;
            mv = realloc (mv, cap * sizeof *mv);
            if (!mv)
              abort ();
          }
          mv[nmv++] = (struct moved) { rd_le32 (h + 4), rd_le32 (h), self };
        }
      }
    }
    p += (len + 15) & ~UINT64_C (15);
  }
  if (!to || (!nmv && !st->rewritten)) {
    r = 0;
    goto slack;
  }
  qsort (mv, nmv, sizeof *mv, moved_cmp);
  for (size_t i = 1; i < nmv; ++i)
    if (mv[i].id == mv[i - 1].id) {
      r = WHY ("$Secure's $SDS holds security id %" PRIu32 " twice", mv[i].id);
      goto out;
    }

  /* The indexes: the moved entries' hashes, and $SDH in order again. */
  if (index_open (v, rec, "$SII", 4, &sii, why, whylen) == -1
      || index_open (v, rec, "$SDH", 8, &sdh, why, whylen) == -1
      || index_walk (&sii, why, whylen) == -1 || index_walk (&sdh, why, whylen) == -1)
    goto out;
  for (size_t i = 0; i < sii.nslots; ++i) {
    uint8_t *e = sii.slots[i].e, *dt = e + rd_le16 (e);
    const struct moved *m = moved_find (mv, nmv, rd_le32 (e + 16));
    if (m && rd_le32 (dt + 4) == m->id && rd_le64 (dt + 8) == m->off) {
      wr_le32 (dt, m->hash);
      mark (&sii, &sii.slots[i]);
      st->index_entries++;
    }
  }
  keys = malloc ((sdh.nslots ? sdh.nslots : 1) * sizeof *keys);
  if (!keys)
    abort ();
  for (size_t i = 0; i < sdh.nslots; ++i) {
    uint8_t *e = sdh.slots[i].e;
    memcpy (keys[i].k, e + 16, 8);
    memcpy (keys[i].d, e + rd_le16 (e), SDS_HDR);
    const struct moved *m = moved_find (mv, nmv, rd_le32 (e + 20));
    if (m && rd_le32 (keys[i].d + 4) == m->id && rd_le64 (keys[i].d + 8) == m->off) {
      wr_le32 (keys[i].k, m->hash);
      wr_le32 (keys[i].d, m->hash);
      st->index_entries++;
    }
  }
  qsort (keys, sdh.nslots, sizeof *keys, sdh_cmp);
  for (size_t i = 0; i < sdh.nslots; ++i) {
    uint8_t *e = sdh.slots[i].e, *dt = e + rd_le16 (e);
    if (memcmp (e + 16, keys[i].k, 8) != 0 || memcmp (dt, keys[i].d, SDS_HDR) != 0) {
      memcpy (e + 16, keys[i].k, 8);
      memcpy (dt, keys[i].d, SDS_HDR);
      mark (&sdh, &sdh.slots[i]);
    }
  }

  /* Nothing has been written so far: now $SDS's changed pieces, the
   * record (the roots), the changed blocks. */
  for (uint64_t p = 0; p < size; p += PIECE) {
    size_t k = size - p < PIECE ? size - p : PIECE;
    if (memcmp (sds + p, orig + p, k) != 0
        && runs_write (v, runs, nruns, p, sds + p, k, write, opaque) == -1) {
      r = WHY ("cannot write $Secure's $SDS");
      goto out;
    }
  }
  if ((sii.root_dirty || sdh.root_dirty)
      && (stamp_write (v, v->mruns, v->nmruns, SECURE_RECORD * v->rsz, rec, v->rsz, uso, write,
                       opaque) == -1
          || mirror_record (v, rec, uso, write, opaque) == -1)) {
    r = WHY ("cannot write MFT record 9 ($Secure)");
    goto out;
  }
  struct index *both[2] = { &sii, &sdh };
  for (int i = 0; i < 2; ++i)
    for (size_t b = 0; b < both[i]->nblocks; ++b) {
      struct block *bl = &both[i]->blocks[b];
      if (bl->dirty
          && stamp_write (v, both[i]->runs, both[i]->nruns, bl->vcn * both[i]->vcn_size, bl->buf,
                          both[i]->bsize, bl->uso, write, opaque) == -1) {
        r = WHY ("cannot write a block of $Secure's %s", both[i]->name);
        goto out;
      }
    }
  r = 0;

 slack:
  /* $SDS's allocation past its initialized size reads as zeros; what
   * ntfs-3g left there (pieces of descriptors) is zeroed too. */
  if (write && alloc > init && alloc - init <= SLACK_MAX) {
    slack = malloc (alloc - init);
    if (!slack)
      abort ();
    if (runs_pread (v, runs, nruns, init, slack, alloc - init) == 0) {
      uint64_t nz = 0;
      for (uint64_t i = 0; i < alloc - init; ++i)
        nz += slack[i] != 0;
      if (nz) {
        memset (slack, 0, alloc - init);
        if (runs_write (v, runs, nruns, init, slack, alloc - init, write, opaque) == -1) {
          r = WHY ("cannot write $Secure's $SDS");
          goto out;
        }
        st->slack_bytes += nz;
      }
    }
  }
 out:
  free (keys);
  index_free (&sii);
  index_free (&sdh);
  free (mv);
  free (slack);
  free (orig);
  free (sds);
  free (runs);
  free (rec);
  return r;
}

int
ntfs_secure_move (struct image *img, uint64_t off, uint64_t len, const uint8_t from[12],
                  const uint8_t to[12], ntfs_write_fn write, void *opaque,
                  struct ntfs_secure_stats *st, char *why, size_t whylen)
{
  struct vol v;
  struct ntfs_secure_stats mine = { 0 };
  int r = vol_open (img, off, len, &v, why, whylen);
  if (r == 1 && secure_volume (&v, from, write ? to : NULL, write, opaque, &mine, why, whylen) == -1)
    r = -1;
  vol_close (&v);
  if (r == 1) {
    st->volumes++;
    st->entries += mine.entries;
    st->with_domain += mine.with_domain;
    st->rewritten += mine.rewritten;
    st->index_entries += mine.index_entries;
    st->bare += mine.bare;
    st->slack_bytes += mine.slack_bytes;
  }
  return r;
}

int
image_ntfs_secure (struct image *img, const uint8_t from[12], const uint8_t to[12],
                   ntfs_write_fn write, void *opaque, struct ntfs_secure_stats *st,
                   void (*warn) (void *wopaque, int part, const char *why), void *wopaque)
{
  struct partition parts[PARTITIONS_MAX];
  int n;
  char why[256];
  memset (st, 0, sizeof *st);
  if (partitions_list (img, parts, PARTITIONS_MAX, &n, why, sizeof why) == -1) {
    warn (wopaque, 0, why);
    return -1;
  }
  if (n == 0) {
    parts[0] = (struct partition) { 0, img->size, 0 };
    n = 1;
  }
  int bad = 0;
  for (int i = 0; i < n; ++i)
    if (ntfs_secure_move (img, parts[i].off, parts[i].len, from, to, write, opaque, st, why,
                          sizeof why) == -1) {
      warn (wopaque, parts[i].number, why);
      bad++;
    }
  return bad ? -1 : 0;
}
