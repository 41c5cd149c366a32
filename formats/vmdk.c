/* formats: VMware VMDK — read monolithicSparse, streamOptimized and
 * descriptor files with FLAT, ZERO and SPARSE extents; write
 * streamOptimized as VMware's Virtual Disk Format 5.0 describes it:
 * version 3, grain markers with zlib streams in LBA order, grain-table and
 * grain-directory markers, footer and end-of-stream marker.
 *
 * Written descriptors use the lsilogic adapter and virtual hardware
 * version 4 (the widest compatibility, as OVF tools expect).  Grain tables
 * of all-zero 32 MiB regions are omitted (grain directory entry 0). */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>
#include <zlib.h>

#include "bytes.h"
#include "format-int.h"
#include "units.h"
#include "zpipe.h"

#define SECTOR 512
#define GD_AT_END UINT64_C (0xFFFFFFFFFFFFFFFF)
#define FLAG_NL_VALID 0x1
#define FLAG_REDUNDANT 0x2
#define FLAG_ZERO_GTE 0x4
#define FLAG_COMPRESSED 0x10000
#define FLAG_MARKERS 0x20000
#define MARKER_EOS 0
#define MARKER_GT 1
#define MARKER_GD 2
#define MARKER_FOOTER 3
#define MAX_CAPACITY ((UINT64_C (1) << 50) / SECTOR)
#define MAX_EXTENTS 1024

/* Sparse header offsets. */
enum {
  S_MAGIC = 0, S_VERSION = 4, S_FLAGS = 8, S_CAPACITY = 12, S_GRAIN = 20,
  S_DESC_OFF = 28, S_DESC_SIZE = 36, S_NUM_GTES = 44, S_RGD = 48, S_GD = 56,
  S_OVERHEAD = 64, S_UNCLEAN = 72, S_NL = 73, S_COMPRESS = 77,
};

static int
vmdk_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
            size_t taillen, uint64_t size)
{
  static const char desc[] = "# Disk DescriptorFile";
  if (headlen >= 4 && memcmp (head, "KDMV", 4) == 0)
    return 100;
  if (headlen >= sizeof desc - 1 && memcmp (head, desc, sizeof desc - 1) == 0)
    return 100;
  return 0;
}

/* A sparse extent (the whole file of a monolithicSparse or
 * streamOptimized disk). */
struct sparse {
  uint32_t flags;
  uint64_t grain;               /* bytes */
  uint32_t gtes;                /* entries per grain table */
  uint64_t gd_entries;
  uint32_t *gd;                 /* sectors of grain tables */
  struct tcache gt;             /* grain tables */
  uint8_t *cbuf, *dbuf;
  uint64_t dbuf_grain;          /* UINT64_MAX: none */
};

enum ext_type { EXT_FLAT, EXT_ZERO, EXT_SPARSE };

struct extent {
  enum ext_type type;
  uint64_t start, len;          /* bytes in the virtual disk */
  int fd;                       /* FLAT */
  uint64_t file_offset;         /* FLAT */
  struct image *img;            /* SPARSE */
};

struct vmdk {
  int is_sparse;                /* this file is a sparse extent */
  struct sparse sp;
  struct extent *ext;           /* descriptor file */
  size_t next;
  /* From the descriptor (VMware's "Virtual Disk Format 1.1", "The
   * Descriptor File"): this disk's content ID, its parent's (ffffffff: no
   * parent), and the parent's file name; has_cid is 0 when no descriptor
   * gives a CID. */
  int has_cid, has_parent;
  uint32_t cid, parent_cid;
  char parent_hint[1024];
};

static int
bad (struct image *img, const char *what)
{
  format_error ("%s: invalid VMDK: %s", img->path, what);
  errno = EINVAL;
  return -1;
}

static int
open_sparse (struct image *img, struct sparse *sp)
{
  uint8_t h[SECTOR];
  if (img->file_size < SECTOR || full_pread (img->fd, h, SECTOR, 0) == -1)
    return bad (img, "file shorter than a header");
  uint32_t version = rd_le32 (h + S_VERSION);
  if (version < 1 || version > 3)
    return bad (img, "unsupported version");
  uint64_t gd = rd_le64 (h + S_GD);
  if (gd == GD_AT_END) {
    /* streamOptimized: the footer, a copy of the header with the real
     * directory offset, is the second sector before the end. */
    if (img->file_size < 3 * SECTOR
        || full_pread (img->fd, h, SECTOR, img->file_size - 2 * SECTOR) == -1
        || memcmp (h, "KDMV", 4) != 0)
      return bad (img, "no footer (truncated stream?)");
    gd = rd_le64 (h + S_GD);
    if (gd == GD_AT_END)
      return bad (img, "footer has no grain directory");
  }
  sp->flags = rd_le32 (h + S_FLAGS);
  uint64_t capacity = rd_le64 (h + S_CAPACITY);
  uint64_t grain_sectors = rd_le64 (h + S_GRAIN);
  sp->gtes = rd_le32 (h + S_NUM_GTES);
  if (capacity == 0 || capacity > MAX_CAPACITY)
    return bad (img, "absurd capacity");
  if (grain_sectors < 1 || grain_sectors > 2048 || (grain_sectors & (grain_sectors - 1)))
    return bad (img, "grain size is not a power of two up to 1 MiB");
  if (sp->gtes < 1 || sp->gtes > 65536)
    return bad (img, "entries per grain table out of range");
  if ((sp->flags & FLAG_COMPRESSED) && !(sp->flags & FLAG_MARKERS))
    return bad (img, "compressed grains without markers are not supported");
  if ((sp->flags & FLAG_COMPRESSED) && rd_le16 (h + S_COMPRESS) != 1)
    return bad (img, "unknown compression algorithm");
  sp->grain = grain_sectors * SECTOR;
  img->size = capacity * SECTOR;
  uint64_t per_gt = (uint64_t) sp->gtes * sp->grain;
  sp->gd_entries = (img->size + per_gt - 1) / per_gt;
  uint64_t gd_bytes = sp->gd_entries * 4;
  if (gd > img->file_size / SECTOR || gd_bytes > img->file_size - gd * SECTOR)
    return bad (img, "grain directory beyond the end of the file");
  if (gd_bytes > (64u << 20))
    return bad (img, "grain directory larger than 64 MiB");
  sp->gd = malloc (gd_bytes ? gd_bytes : 1);
  if (!sp->gd)
    abort ();
  if (full_pread (img->fd, sp->gd, gd_bytes, gd * SECTOR) == -1)
    return bad (img, "cannot read the grain directory");
  uint64_t gt_bytes = (uint64_t) sp->gtes * 4;
  for (uint64_t i = 0; i < sp->gd_entries; ++i) {
    uint32_t e = rd_le32 ((uint8_t *) &sp->gd[i]);
    sp->gd[i] = e;
    if (e && ((uint64_t) e * SECTOR > img->file_size
              || gt_bytes > img->file_size - (uint64_t) e * SECTOR))
      return bad (img, "a grain table lies beyond the end of the file");
    if (e && e < 1)
      return bad (img, "a grain table overlaps the header");
  }
  tcache_init (&sp->gt, gt_bytes);
  sp->cbuf = malloc (sp->grain * 2 + 1024);
  sp->dbuf = malloc (sp->grain);
  if (!sp->cbuf || !sp->dbuf)
    abort ();
  sp->dbuf_grain = UINT64_MAX;
  return 0;
}

static void
close_sparse (struct sparse *sp)
{
  free (sp->gd);
  tcache_free (&sp->gt);
  free (sp->cbuf);
  free (sp->dbuf);
}

/* The grain table entry of grain g (sector number; 0 unallocated, 1 zero
 * when the disk uses zeroed-grain entries). */
static int
gte (struct image *img, struct sparse *sp, uint64_t g, uint32_t *ret)
{
  uint64_t gi = g / sp->gtes, ti = g % sp->gtes;
  if (gi >= sp->gd_entries || sp->gd[gi] == 0) {
    *ret = 0;
    return 0;
  }
  const uint8_t *t = tcache_get (&sp->gt, img->fd, (uint64_t) sp->gd[gi] * SECTOR);
  if (!t)
    return bad (img, "cannot read a grain table");
  *ret = rd_le32 (t + 4 * ti);
  return 0;
}

static int
read_grain_compressed (struct image *img, struct sparse *sp, uint64_t g, uint32_t sec)
{
  if (sp->dbuf_grain == g)
    return 0;
  uint64_t off = (uint64_t) sec * SECTOR;
  uint8_t m[12];
  if (off > img->file_size || img->file_size - off < 12
      || full_pread (img->fd, m, 12, off) == -1)
    return bad (img, "a grain marker lies beyond the end of the file");
  uint64_t lba = rd_le64 (m);
  uint32_t size = rd_le32 (m + 8);
  if (lba != g * (sp->grain / SECTOR))
    return bad (img, "a grain marker names the wrong sector");
  if (size == 0 || size > sp->grain * 2 + 1024 || size > img->file_size - off - 12)
    return bad (img, "a compressed grain's size is out of range");
  if (full_pread (img->fd, sp->cbuf, size, off + 12) == -1)
    return bad (img, "cannot read a compressed grain");
  z_stream s;
  memset (&s, 0, sizeof s);
  if (inflateInit (&s) != Z_OK)
    abort ();
  s.next_in = sp->cbuf;
  s.avail_in = size;
  s.next_out = sp->dbuf;
  s.avail_out = sp->grain;
  int r = inflate (&s, Z_FINISH);
  size_t got = sp->grain - s.avail_out;
  inflateEnd (&s);
  if (r != Z_STREAM_END) {
    sp->dbuf_grain = UINT64_MAX;
    return bad (img, "a compressed grain does not inflate");
  }
  /* The last grain of a disk may be short. */
  memset (sp->dbuf + got, 0, sp->grain - got);
  sp->dbuf_grain = g;
  return 0;
}

static int
sparse_pread (struct image *img, struct sparse *sp, uint8_t *p, size_t len, uint64_t off)
{
  while (len) {
    uint64_t g = off / sp->grain, in = off % sp->grain;
    size_t n = sp->grain - in < len ? sp->grain - in : len;
    uint32_t sec;
    if (gte (img, sp, g, &sec) == -1)
      return -1;
    if (sec == 0) {             /* unallocated: the parent's, or zeros */
      if (hole_read (img, p, n, off) == -1)
        return -1;
    }
    else if (sec == 1 && (sp->flags & FLAG_ZERO_GTE))
      memset (p, 0, n);         /* a zeroed grain hides the parent's */
    else if (sp->flags & FLAG_COMPRESSED) {
      if (read_grain_compressed (img, sp, g, sec) == -1)
        return -1;
      memcpy (p, sp->dbuf + in, n);
    }
    else {
      uint64_t goff = (uint64_t) sec * SECTOR;
      if (goff > img->file_size || in + n > img->file_size - goff)
        return bad (img, "a grain lies beyond the end of the file");
      if (full_pread (img->fd, p, n, goff + in) == -1)
        return bad (img, "read error in a grain");
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
sparse_extent (struct image *img, struct sparse *sp, uint64_t off, uint64_t max,
               uint64_t *len_ret, enum extent_type *type_ret)
{
  uint64_t len = 0;
  enum extent_type first = EXTENT_ZERO;
  while (len < max) {
    uint32_t sec;
    if (gte (img, sp, (off + len) / sp->grain, &sec) == -1)
      return -1;
    enum extent_type t = sec == 0 ? EXTENT_HOLE
      : sec == 1 && (sp->flags & FLAG_ZERO_GTE) ? EXTENT_ZERO : EXTENT_DATA;
    if (len == 0)
      first = t;
    else if (t != first)
      break;
    len += sp->grain - (off + len) % sp->grain;
  }
  *len_ret = len < max ? len : max;
  *type_ret = first;
  return 0;
}

/* The value of descriptor key KEY ("KEY=value" or "KEY = "value"", at the
 * start of a line), unquoted, in buf; 0 when found. */
static int
desc_value (const char *text, const char *key, char *buf, size_t buflen)
{
  size_t kl = strlen (key);
  for (const char *l = text; l && *l; l = strchr (l, '\n'), l = l ? l + 1 : NULL) {
    while (*l == ' ' || *l == '\t')
      l++;
    if (strncmp (l, key, kl) != 0)
      continue;
    const char *v = l + kl;
    while (*v == ' ' || *v == '\t')
      v++;
    if (*v != '=')
      continue;
    v++;
    while (*v == ' ' || *v == '\t')
      v++;
    int quoted = *v == '"';
    v += quoted;
    size_t n = 0;
    while (v[n] && v[n] != '\n' && v[n] != '\r' && (quoted ? v[n] != '"' : v[n] != ' ' && v[n] != '\t'))
      n++;
    if (n >= buflen)
      return -1;
    memcpy (buf, v, n);
    buf[n] = '\0';
    return 0;
  }
  return -1;
}

static int
parse_cid (const char *s, uint32_t *ret)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul (s, &end, 16);
  if (errno || end == s || *end || strlen (s) > 8)
    return -1;
  *ret = (uint32_t) v;
  return 0;
}

/* The descriptor's CID, parentCID and parentFileNameHint.  A disk with a
 * parent (hosted snapshots -000001.vmdk, linked clones) has a parentCID
 * other than ffffffff and names its parent; its unallocated grains are
 * the parent's. */
static int
parse_identity (struct image *img, struct vmdk *v, const char *text)
{
  char b[1024];
  if (desc_value (text, "CID", b, sizeof b) == 0) {
    if (parse_cid (b, &v->cid) == -1)
      return bad (img, "the descriptor's CID is not a hexadecimal number");
    v->has_cid = 1;
  }
  v->parent_cid = UINT32_MAX;
  if (desc_value (text, "parentCID", b, sizeof b) == 0 && parse_cid (b, &v->parent_cid) == -1)
    return bad (img, "the descriptor's parentCID is not a hexadecimal number");
  int hint = desc_value (text, "parentFileNameHint", v->parent_hint, sizeof v->parent_hint) == 0
             && v->parent_hint[0];
  if (v->parent_cid == UINT32_MAX && !hint)
    return 0;
  if (v->parent_cid == UINT32_MAX)
    return bad (img, "the descriptor names a parent but its parentCID (ffffffff) says it has none");
  if (!hint)
    return bad (img, "the descriptor has a parentCID but no parentFileNameHint naming the parent");
  v->has_parent = 1;
  return 0;
}

/* Open the parent a descriptor names: relative to this file's folder; a
 * Windows path (VMware on Windows writes "C:\\VMs\\base.vmdk") is looked
 * for by its last component beside this file.  The parent's CID must be
 * the parentCID recorded when the snapshot was taken, else the parent has
 * changed since and the child's grains no longer fit it. */
static int
open_parent (struct image *img, struct vmdk *v)
{
  char name[LOCATOR_PATH_MAX];
  char printable[256];
  size_t k = 0;
  for (const char *c = v->parent_hint; *c && k + 1 < sizeof printable; ++c)
    printable[k++] = (unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e ? '?' : *c;
  printable[k] = '\0';
  if (strlen (v->parent_hint) >= sizeof name)
    return bad (img, "the parentFileNameHint is too long");
  strcpy (name, v->parent_hint);
  if (strchr (name, '\\') || (isalpha ((unsigned char) name[0]) && name[1] == ':')) {
    locator_path (name, 0);
    img->qemu_differs = "a VMDK snapshot whose parent is named by a Windows path";
  }
  if (!name[0])
    return bad (img, "the parentFileNameHint is empty");
  img->backing = image_open_backing (img, name, &format_vmdk);
  if (!img->backing)
    return -1;
  struct vmdk *pv = img->backing->priv;
  if (!pv->has_cid) {
    format_error ("%s: its parent \"%s\" has no CID to check against the snapshot's parentCID "
                  "%08x", img->path, printable, v->parent_cid);
    errno = EINVAL;
    return -1;
  }
  if (pv->cid != v->parent_cid) {
    format_error ("%s: its parent \"%s\" has CID %08x but the snapshot was taken of CID %08x "
                  "(the parent changed after the snapshot; winseal does not read such a chain)",
                  img->path, printable, pv->cid, v->parent_cid);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Descriptor files: "RW 2048 FLAT "file.bin" 0", "RW 2048 ZERO",
 * "RW 2048 SPARSE "file-s001.vmdk"". */
static int
open_descriptor (struct image *img, struct vmdk *v)
{
  if (img->file_size > (1u << 20))
    return bad (img, "descriptor file larger than 1 MiB");
  char *text = malloc (img->file_size + 1);
  if (!text)
    abort ();
  if (full_pread (img->fd, text, img->file_size, 0) == -1) {
    free (text);
    return bad (img, "cannot read the descriptor");
  }
  text[img->file_size] = '\0';
  if (parse_identity (img, v, text) == -1) {
    free (text);
    return -1;
  }
  v->ext = calloc (MAX_EXTENTS, sizeof *v->ext);
  if (!v->ext)
    abort ();
  uint64_t pos = 0;
  int r = 0;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line && r == 0;
       line = strtok_r (NULL, "\n", &save)) {
    char access[8], type[16], file[1024] = "";
    unsigned long long sectors, offset = 0;
    while (isspace ((unsigned char) *line))
      line++;
    if (strncmp (line, "RW ", 3) && strncmp (line, "RDONLY ", 7) && strncmp (line, "NOACCESS ", 9))
      continue;
    int n = sscanf (line, "%7s %llu %15s \"%1023[^\"]\" %llu", access, &sectors, type, file, &offset);
    if (n < 3) {
      r = bad (img, "malformed extent line");
      break;
    }
    if (v->next == MAX_EXTENTS || sectors > MAX_CAPACITY || pos + sectors * SECTOR > (UINT64_C (1) << 50)) {
      r = bad (img, "too many or too large extents");
      break;
    }
    struct extent *e = &v->ext[v->next++];
    e->fd = -1;
    e->start = pos;
    e->len = sectors * SECTOR;
    pos += e->len;
    if (strcmp (type, "ZERO") == 0)
      e->type = EXT_ZERO;
    /* ESXi's VMFS and VMFSTHIN extents are flat files (datastore
     * downloads); a thin one's unwritten parts are file holes. */
    else if ((strcmp (type, "FLAT") == 0 || strcmp (type, "VMFS") == 0
              || strcmp (type, "VMFSTHIN") == 0) && n >= 4) {
      e->type = EXT_FLAT;
      e->file_offset = offset * SECTOR;
      e->fd = image_open_extent (img, file);
      if (e->fd != -1) {
        off_t end = lseek (e->fd, 0, SEEK_END);
        if (end < 0 || e->file_offset + e->len > (uint64_t) end)
          r = bad (img, "a FLAT extent is larger than its file");
      }
      if (e->fd == -1)
        r = -1;
    }
    else if (strcmp (type, "SPARSE") == 0 && n >= 4) {
      e->type = EXT_SPARSE;
      e->img = image_open_backing (img, file, &format_vmdk);
      if (!e->img)
        r = -1;
      else if (e->img->size < e->len)
        r = bad (img, "a SPARSE extent is smaller than the descriptor says");
    }
    else if (strcmp (type, "VMFSSPARSE") == 0 || strcmp (type, "SESPARSE") == 0) {
      format_error ("%s: a %s extent (an ESXi snapshot); winseal does not read it "
                    "(consolidate the snapshot first)", img->path, type);
      errno = ENOTSUP;
      r = -1;
    }
    else
      r = bad (img, "unsupported extent type (FLAT, VMFS, VMFSTHIN, ZERO and SPARSE are read)");
  }
  free (text);
  if (r == 0 && v->next == 0)
    r = bad (img, "descriptor lists no extents");
  img->size = pos;
  return r;
}

static int
vmdk_open (struct image *img)
{
  struct vmdk *v = calloc (1, sizeof *v);
  uint8_t magic[4];
  if (!v)
    abort ();
  img->priv = v;
  if (full_pread (img->fd, magic, 4, 0) == -1)
    return bad (img, "file too short");
  if (memcmp (magic, "KDMV", 4) == 0) {
    v->is_sparse = 1;
    /* The embedded descriptor (offset and size in sectors at 28 and 36)
     * gives the disk's CID and parent. */
    uint8_t h[44];
    if (full_pread (img->fd, h, sizeof h, 0) == 0) {
      uint64_t doff = rd_le64 (h + 28), dlen = rd_le64 (h + 36);
      if (doff && dlen && dlen <= 2048 && doff <= img->file_size / SECTOR
          && dlen * SECTOR <= img->file_size - doff * SECTOR) {
        char *text = calloc (1, dlen * SECTOR + 1);
        if (!text)
          abort ();
        int r = full_pread (img->fd, text, dlen * SECTOR, doff * SECTOR) == -1
                ? bad (img, "cannot read the embedded descriptor") : parse_identity (img, v, text);
        free (text);
        if (r == -1)
          return -1;
      }
    }
    if (open_sparse (img, &v->sp) == -1)
      return -1;
  }
  else if (open_descriptor (img, v) == -1)
    return -1;
  return v->has_parent ? open_parent (img, v) : 0;
}

static void
vmdk_close (struct image *img)
{
  struct vmdk *v = img->priv;
  if (v->is_sparse)
    close_sparse (&v->sp);
  for (size_t i = 0; v->ext && i < v->next; ++i) {
    if (v->ext[i].fd >= 0)
      close (v->ext[i].fd);
    image_close (v->ext[i].img);
  }
  free (v->ext);
  free (v);
}

static struct extent *
find_extent (struct vmdk *v, uint64_t off)
{
  for (size_t i = 0; i < v->next; ++i)
    if (off >= v->ext[i].start && off - v->ext[i].start < v->ext[i].len)
      return &v->ext[i];
  return NULL;
}

static int
vmdk_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct vmdk *v = img->priv;
  uint8_t *p = buf;
  if (v->is_sparse)
    return sparse_pread (img, &v->sp, p, len, off);
  while (len) {
    struct extent *e = find_extent (v, off);
    if (!e)
      return bad (img, "read outside every extent");
    uint64_t in = off - e->start;
    size_t n = e->len - in < len ? e->len - in : len;
    if (e->type == EXT_ZERO)
      memset (p, 0, n);
    else if (e->type == EXT_FLAT) {
      if (full_pread (e->fd, p, n, e->file_offset + in) == -1)
        return bad (img, "read error in a FLAT extent");
    }
    else {
      /* A SPARSE extent's unallocated grains are the parent's, at the
       * disk's offset (image_pread of the extent would read them as
       * zeros: the extent itself has no parent). */
      uint64_t done = 0;
      while (done < n) {
        uint64_t l;
        enum extent_type t;
        if (image_extent_own (e->img, in + done, n - done, &l, &t) == -1)
          return -1;
        if (t == EXTENT_HOLE ? hole_read (img, p + done, l, off + done)
                             : image_pread (e->img, p + done, l, in + done))
          return -1;
        done += l;
      }
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
vmdk_extent (struct image *img, uint64_t off, uint64_t max,
             uint64_t *len_ret, enum extent_type *type_ret)
{
  struct vmdk *v = img->priv;
  if (v->is_sparse)
    return sparse_extent (img, &v->sp, off, max, len_ret, type_ret);
  struct extent *e = find_extent (v, off);
  if (!e)
    return bad (img, "offset outside every extent");
  uint64_t in = off - e->start, room = e->len - in;
  if (max > room)
    max = room;
  switch (e->type) {
  case EXT_ZERO:
    *len_ret = max;
    *type_ret = EXTENT_ZERO;
    return 0;
  case EXT_FLAT:
    if (fd_extent (e->fd, e->file_offset, in, max, len_ret, type_ret) == -1)
      return -1;
    if (*type_ret == EXTENT_HOLE)
      *type_ret = EXTENT_ZERO;
    return 0;
  case EXT_SPARSE:              /* holes stay holes: the parent's */
    return image_extent_own (e->img, in, max, len_ret, type_ret);
  }
  return -1;
}

/* ---------------------------------------------------------------------- */
/* streamOptimized writer. */

#define W_GRAIN_SECTORS 128
#define W_GRAIN (W_GRAIN_SECTORS * SECTOR)
#define W_GTES 512
#define W_DESC_SECTORS 20
#define W_OVERHEAD 128                          /* sectors before the first grain */

struct vw {
  struct writer *w;
  struct zpipe *zp;
  uint64_t pos;                 /* next file offset (sector aligned) */
  uint64_t gd_entries;
  uint32_t *gd;                 /* sectors of written grain tables */
  uint32_t gt[W_GTES];          /* current grain table */
  uint64_t gt_index;            /* UINT64_MAX: none */
  struct units grains;
  uint8_t header[SECTOR];
};

static int
vw_err (struct writer *w)
{
  format_error ("%s: write error: %s", writer_display (w), strerror (errno));
  return -1;
}

static int
vw_put (struct vw *vw, const void *data, size_t len)
{
  /* Write data at pos, zero-padded to a sector boundary. */
  static const uint8_t zeros[SECTOR];
  size_t pad = (SECTOR - len % SECTOR) % SECTOR;
  if (writer_seq (vw->w, data, len, vw->pos) == -1
      || (pad && writer_seq (vw->w, zeros, pad, vw->pos + len) == -1))
    return -1;
  vw->pos += len + pad;
  vw->w->bytes_written += len + pad;
  return 0;
}

static int
vw_marker (struct vw *vw, uint64_t val, uint32_t type)
{
  uint8_t m[SECTOR] = { 0 };
  wr_le64 (m, val);
  wr_le32 (m + 8, 0);
  wr_le32 (m + 12, type);
  return vw_put (vw, m, SECTOR);
}

static int
flush_gt (struct vw *vw)
{
  if (vw->gt_index == UINT64_MAX)
    return 0;
  uint8_t gt[W_GTES * 4];
  for (int i = 0; i < W_GTES; ++i)
    wr_le32 (gt + 4 * i, vw->gt[i]);
  if (vw_marker (vw, sizeof gt / SECTOR, MARKER_GT) == -1)
    return -1;
  vw->gd[vw->gt_index] = vw->pos / SECTOR;
  if (vw_put (vw, gt, sizeof gt) == -1)
    return -1;
  vw->gt_index = UINT64_MAX;
  return 0;
}

/* zpipe output: one grain, in LBA order.  The grain marker goes in the
 * headroom before the data and the sector padding after it, so each grain
 * is one write. */
static int
vw_out (void *opaque, uint64_t g, uint8_t *data, size_t len, int stored)
{
  struct vw *vw = opaque;
  uint64_t gi = g / W_GTES;
  if (vw->gt_index != gi) {
    if (flush_gt (vw) == -1)
      return -1;
    memset (vw->gt, 0, sizeof vw->gt);
    vw->gt_index = gi;
  }
  vw->gt[g % W_GTES] = vw->pos / SECTOR;
  uint8_t *m = data - 12;
  wr_le64 (m, g * W_GRAIN_SECTORS);
  wr_le32 (m + 8, len);
  size_t total = 12 + len, pad = (SECTOR - total % SECTOR) % SECTOR;
  memset (data + len, 0, pad);
  if (writer_seq (vw->w, m, total + pad, vw->pos) == -1)
    return -1;
  vw->pos += total + pad;
  vw->w->bytes_written += total + pad;
  return 0;
}

static void
vw_header (struct vw *vw, uint64_t gd_sector)
{
  uint8_t *h = vw->header;
  memset (h, 0, SECTOR);
  memcpy (h + S_MAGIC, "KDMV", 4);
  wr_le32 (h + S_VERSION, 3);
  wr_le32 (h + S_FLAGS, FLAG_NL_VALID | FLAG_COMPRESSED | FLAG_MARKERS);
  wr_le64 (h + S_CAPACITY, vw->w->size / SECTOR);
  wr_le64 (h + S_GRAIN, W_GRAIN_SECTORS);
  wr_le64 (h + S_DESC_OFF, 1);
  wr_le64 (h + S_DESC_SIZE, W_DESC_SECTORS);
  wr_le32 (h + S_NUM_GTES, W_GTES);
  wr_le64 (h + S_RGD, 0);
  wr_le64 (h + S_GD, gd_sector);
  wr_le64 (h + S_OVERHEAD, W_OVERHEAD);
  h[S_NL] = '\n';
  h[S_NL + 1] = ' ';
  h[S_NL + 2] = '\r';
  h[S_NL + 3] = '\n';
  wr_le16 (h + S_COMPRESS, 1);
}

static int grain_emit (void *opaque, uint64_t g, const uint8_t *data, size_t len);

static int
vmdk_w_open (struct writer *w)
{
  struct vw *vw = calloc (1, sizeof *vw);
  if (!vw)
    abort ();
  w->priv = vw;
  vw->w = w;
  uint64_t per_gt = (uint64_t) W_GTES * W_GRAIN;
  vw->gd_entries = (w->size + per_gt - 1) / per_gt;
  vw->gd = calloc (vw->gd_entries ? vw->gd_entries : 1, 4);
  if (!vw->gd)
    abort ();
  vw->gt_index = UINT64_MAX;

  /* Header with the directory "at the end", and the descriptor. */
  vw_header (vw, GD_AT_END);
  char desc[W_DESC_SECTORS * SECTOR];
  uint32_t cid;
  if (getrandom (&cid, sizeof cid, 0) != sizeof cid)
    cid = (uint32_t) rand ();
  uint64_t sectors = w->size / SECTOR;
  uint64_t cyl = sectors / (255 * 63);
  if (cyl > 65535)
    cyl = 65535;
  /* The extent's name, plain ASCII whatever the output is called: strict
   * readers (OpenStack's image format inspector) refuse quotes, controls
   * and other bytes in a descriptor.  (A monolithic stream's extent is the
   * file itself; readers do not open it by this name.) */
  char base[256];
  size_t bl = 0;
  for (const char *c = w->name ? w->name : ""; *c && bl + 1 < sizeof base; ++c) {
    unsigned char ch = (unsigned char) *c;
    base[bl++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
                 || ch == '.' || ch == '-' || ch == '_' || ch == '+' ? (char) ch : '_';
  }
  base[bl] = '\0';
  if (!bl)
    snprintf (base, sizeof base, "disk.vmdk");
  int n = snprintf (desc, sizeof desc,
                    "# Disk DescriptorFile\n"
                    "version=1\n"
                    "CID=%08x\n"
                    "parentCID=ffffffff\n"
                    "createType=\"streamOptimized\"\n"
                    "\n"
                    "# Extent description\n"
                    "RW %" PRIu64 " SPARSE \"%s\"\n"
                    "\n"
                    "# The Disk Data Base\n"
                    "#DDB\n"
                    "\n"
                    "ddb.adapterType = \"lsilogic\"\n"
                    "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
                    "ddb.geometry.heads = \"255\"\n"
                    "ddb.geometry.sectors = \"63\"\n"
                    "ddb.longContentID = \"%08x%08x%08x%08x\"\n"
                    "ddb.toolsInstallType = \"4\"\n"
                    "ddb.toolsVersion = \"2147483647\"\n"
                    "ddb.virtualHWVersion = \"4\"\n",
                    cid, sectors, base, cyl, cid, ~cid, cid ^ 0x5a5a5a5a, cid + 1);
  if (n < 0 || (size_t) n >= sizeof desc) {
    format_error ("%s: VMDK descriptor too long", writer_display (w));
    return -1;
  }
  memset (desc + n, 0, sizeof desc - n);
  vw->pos = 0;
  if (vw_put (vw, vw->header, SECTOR) == -1 || vw_put (vw, desc, sizeof desc) == -1)
    return -1;
  vw->pos = W_OVERHEAD * SECTOR;
  vw->zp = zpipe_new (w->opts.threads, W_GRAIN, ZPIPE_ZLIB, vw_out, vw);
  units_init (&vw->grains, W_GRAIN, w->size, grain_emit, vw);
  return 0;
}

/* A grain with data: to the compressors (the last grain of a disk whose
 * size is not a multiple of the grain holds only the bytes inside it). */
static int
grain_emit (void *opaque, uint64_t g, const uint8_t *data, size_t len)
{
  struct vw *vw = opaque;
  return zpipe_submit (vw->zp, g, data, len);
}

static int
vmdk_w_data (struct writer *w, uint64_t off, const void *buf, size_t len)
{
  struct vw *vw = w->priv;
  return units_data (&vw->grains, off, buf, len);
}

static int
vmdk_w_finish (struct writer *w)
{
  struct vw *vw = w->priv;
  if (units_flush (&vw->grains) == -1 || zpipe_flush (vw->zp) == -1
      || flush_gt (vw) == -1)
    return -1;
  /* Grain directory. */
  size_t gdb = (vw->gd_entries * 4 + SECTOR - 1) / SECTOR * SECTOR;
  uint8_t *gd = calloc (1, gdb ? gdb : SECTOR);
  if (!gd)
    abort ();
  for (uint64_t i = 0; i < vw->gd_entries; ++i)
    wr_le32 (gd + 4 * i, vw->gd[i]);
  int r = vw_marker (vw, gdb / SECTOR, MARKER_GD);
  uint64_t gd_sector = vw->pos / SECTOR;
  if (r == 0)
    r = vw_put (vw, gd, gdb);
  free (gd);
  if (r == -1)
    return -1;
  /* Footer (the header with the directory's real place) and the
   * end-of-stream marker. */
  vw_header (vw, gd_sector);
  uint8_t eos[SECTOR] = { 0 };
  if (vw_marker (vw, 1, MARKER_FOOTER) == -1 || vw_put (vw, vw->header, SECTOR) == -1
      || vw_put (vw, eos, SECTOR) == -1)
    return -1;
  if (writer_seq_flush (w) == -1)
    return -1;
  if (ftruncate (w->fd, (off_t) vw->pos) == -1)
    return vw_err (w);
  /* --vmdk-layout header-gd: the header says where the directory is, as
   * the footer does, for checkers that read only the header (a reader
   * that knows streams finds the same directory either way). */
  if (w->opts.vmdk_header_gd && full_pwrite (w->fd, vw->header, SECTOR, 0) == -1)
    return vw_err (w);
  return 0;
}

static void
vmdk_w_free (struct writer *w)
{
  struct vw *vw = w->priv;
  if (!vw)
    return;
  zpipe_free (vw->zp);
  free (vw->gd);
  units_free (&vw->grains);
  free (vw);
  w->priv = NULL;
}

static int64_t
vmdk_w_size (uint64_t requested, const struct write_opts *opts)
{
  if (requested / SECTOR > MAX_CAPACITY) {
    format_error ("a disk of %" PRIu64 " bytes is too large", requested);
    return -1;
  }
  return (int64_t) ((requested + SECTOR - 1) & ~(uint64_t) (SECTOR - 1));
}

const struct format_ops format_vmdk = {
  .name = "vmdk", .qemu_name = "vmdk", .probe = vmdk_probe,
  .open = vmdk_open, .close = vmdk_close, .pread = vmdk_pread, .extent = vmdk_extent,
  .w_open = vmdk_w_open, .w_data = vmdk_w_data, .w_finish = vmdk_w_finish,
  .w_free = vmdk_w_free, .w_size = vmdk_w_size,
};
