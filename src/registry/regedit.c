/* winseal: raw registry hive edits (key renames, string rewrites, byte
 * patches) with every offset bound-checked; see regedit.h. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/hive.h"
#include "registry/regedit.h"
#include "win/sid.h"
#include "util/util.h"

#define BINS 0x1000u            /* file offset of the first hive bin */
#define NK_HDR 0x4C             /* nk fields before the name */
#define VK_HDR 0x14             /* vk fields before the name */
#define MAX_DEPTH 512           /* deeper trees are refused as malformed */
#define MAX_HIVE (UINT64_C (2) << 30)

/* nk cell fields (offsets from the start of the cell data). */
enum {
  NK_FLAGS = 0x02, NK_PARENT = 0x10, NK_NSUB = 0x14, NK_SUBLIST = 0x1C,
  NK_NVAL = 0x24, NK_VALLIST = 0x28, NK_MAXNAME = 0x34, NK_NAMELEN = 0x48,
};
#define KEY_COMP_NAME 0x0020
/* vk cell fields. */
enum { VK_NAMELEN = 0x02, VK_DLEN = 0x04, VK_DOFF = 0x08, VK_TYPE = 0x0C, VK_FLAGS = 0x10 };
#define VK_ASCII_NAME 0x0001

static int
bad (struct regf *r, const char *fmt, ...)
{
  char msg[256];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ws_error ("%s hive: %s", r->label, msg);
  errno = EINVAL;
  return -1;
}

/* Check the base block and bins size of a loaded hive. */
static int
regf_check_loaded (struct regf *r)
{
  struct hive_state hs;
  const char *why;
  if (hive_parse_base_block (r->buf, r->cap, r->cap, &hs, &why) == -1)
    return bad (r, "%s", why);
  r->bins_size = hs.bins_size;
  if (r->bins_size == 0 || r->bins_size % BINS || BINS + (uint64_t) r->bins_size > r->cap)
    return bad (r, "hive bins size %u does not fit the file", r->bins_size);
  return 0;
}

int
regf_load_buffer (struct regf *r, const uint8_t *data, size_t len, const char *label)
{
  memset (r, 0, sizeof *r);
  r->label = ws_strdup (label);
  if (len > MAX_HIVE || len < BINS)
    return bad (r, "size %zu is not that of a hive", len);
  r->cap = len;
  r->buf = ws_malloc (len);
  memcpy (r->buf, data, len);
  return regf_check_loaded (r);
}

int
regf_load (struct regf *r, const char *path, const char *label)
{
  memset (r, 0, sizeof *r);
  r->label = ws_strdup (label);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd == -1 || fstat (fd, &st) == -1) {
    ws_error ("%s hive: %s: %s", label, path, strerror (errno));
    if (fd != -1)
      close (fd);
    return -1;
  }
  if ((uint64_t) st.st_size > MAX_HIVE || st.st_size < BINS) {
    close (fd);
    return bad (r, "%s: size %jd is not that of a hive", path, (intmax_t) st.st_size);
  }
  r->cap = st.st_size;
  r->buf = ws_malloc (r->cap);
  size_t got = 0;
  while (got < r->cap) {
    ssize_t n = read (fd, r->buf + got, r->cap - got);
    if (n <= 0) {
      close (fd);
      return bad (r, "%s: read error: %s", path, n ? strerror (errno) : "short file");
    }
    got += n;
  }
  close (fd);
  return regf_check_loaded (r);
}

int
regf_save (struct regf *r, const char *path)
{
  uint8_t *b = r->buf;
  put_le32 (b + 8, le32 (b + 4));               /* secondary = primary: clean */
  put_le32 (b + 0x28, r->bins_size);
  put_le32 (b + 508, hive_base_block_checksum (b));
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1) {
    ws_error ("%s: %s", path, strerror (errno));
    return -1;
  }
  size_t len = BINS + (size_t) r->bins_size, done = 0;
  while (done < len) {
    ssize_t n = write (fd, b + done, len - done);
    if (n <= 0) {
      ws_error ("%s: write error: %s", path, strerror (errno));
      close (fd);
      return -1;
    }
    done += n;
  }
  if (close (fd) == -1) {
    ws_error ("%s: %s", path, strerror (errno));
    return -1;
  }
  return 0;
}

void
regf_free (struct regf *r)
{
  free (r->buf);
  free (r->label);
  memset (r, 0, sizeof *r);
}

/* ---- cells ---- */

/* The data of the allocated cell at off (relative to the first bin), with
 * its usable length; NULL when off is not an allocated cell inside the
 * bins. */
static uint8_t *
cell (struct regf *r, uint32_t off, size_t *len_ret)
{
  uint64_t end = BINS + (uint64_t) r->bins_size;
  uint64_t p = BINS + (uint64_t) off;
  if (off % 8 || p + 4 > end)
    return NULL;
  int32_t sz = (int32_t) le32 (r->buf + p);
  if (sz >= 0)
    return NULL;
  uint64_t n = (uint64_t) -(int64_t) sz;
  if (n < 8 || p + n > end)
    return NULL;
  if (len_ret)
    *len_ret = n - 4;
  return r->buf + p + 4;
}

static uint8_t *
typed_cell (struct regf *r, uint32_t off, const char *sig, size_t min, size_t *len_ret)
{
  size_t len;
  uint8_t *c = cell (r, off, &len);
  if (!c || len < min || memcmp (c, sig, 2) != 0)
    return NULL;
  if (len_ret)
    *len_ret = len;
  return c;
}

static uint8_t *
nk_cell (struct regf *r, uint32_t off, size_t *len_ret)
{
  size_t len;
  uint8_t *c = typed_cell (r, off, "nk", NK_HDR, &len);
  if (!c || NK_HDR + (size_t) le16 (c + NK_NAMELEN) > len)
    return NULL;
  if (len_ret)
    *len_ret = len;
  return c;
}

/* Free an allocated cell: positive size, contents zeroed (so old names
 * and data do not linger in free space). */
static void
cell_free (struct regf *r, uint32_t off)
{
  size_t len;
  uint8_t *c = cell (r, off, &len);
  if (!c)
    return;
  memset (c, 0, len);
  put_le32 (c - 4, (uint32_t) (len + 4));
}

/* Allocate a cell for len data bytes: the first free cell large enough,
 * split, or a new hive bin at the end.  Returns the cell offset or
 * UINT32_MAX (reported).  May move r->buf. */
static uint32_t
cell_alloc (struct regf *r, size_t len)
{
  uint32_t need = (uint32_t) ((len + 4 + 7) & ~(size_t) 7);
  uint64_t end = BINS + (uint64_t) r->bins_size;
  for (uint64_t bin = BINS; bin + 0x20 <= end;) {
    uint8_t *h = r->buf + bin;
    uint32_t bsize = le32 (h + 8);
    if (memcmp (h, "hbin", 4) != 0 || bsize < 0x1000 || bsize % 0x1000 || bin + bsize > end)
      break;                    /* unusual layout: append instead */
    for (uint64_t p = bin + 0x20; p + 4 <= bin + bsize;) {
      int32_t sz = (int32_t) le32 (r->buf + p);
      uint32_t n = sz < 0 ? (uint32_t) -(int64_t) sz : (uint32_t) sz;
      if (n < 8 || n % 8 || p + n > bin + bsize)
        break;
      if (sz > 0 && n >= need) {
        if (n - need >= 16) {
          put_le32 (r->buf + p + need, n - need);
          n = need;
        }
        put_le32 (r->buf + p, (uint32_t) -(int32_t) n);
        memset (r->buf + p + 4, 0, n - 4);
        return (uint32_t) (p - BINS);
      }
      p += n;
    }
    bin += bsize;
  }
  /* A new bin. */
  uint64_t bsize = (need + 0x20 + 0xFFF) & ~UINT64_C (0xFFF);
  if (end + bsize > MAX_HIVE)
    return bad (r, "the hive would grow past %ju bytes", (uintmax_t) MAX_HIVE), UINT32_MAX;
  if (end + bsize > r->cap) {
    r->cap = end + bsize;
    r->buf = ws_realloc (r->buf, r->cap);
  }
  uint8_t *h = r->buf + end;
  memset (h, 0, bsize);
  memcpy (h, "hbin", 4);
  put_le32 (h + 4, (uint32_t) (end - BINS));
  put_le32 (h + 8, (uint32_t) bsize);
  put_le32 (h + 0x20, (uint32_t) -(int32_t) need);
  if (bsize - 0x20 - need >= 8)
    put_le32 (h + 0x20 + need, (uint32_t) (bsize - 0x20 - need));
  r->bins_size += (uint32_t) bsize;
  return (uint32_t) (end + 0x20 - BINS);
}

/* ---- names ---- */

static uint16_t
upcase (uint16_t c)
{
  if (c >= 'a' && c <= 'z')
    return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
    return c - 32;
  if (c == 0xFF)
    return 0x178;
  return c;
}

/* A name stored compressed (Latin-1) or as UTF-16LE, into units. */
static size_t
name_units (const uint8_t *p, size_t len, int compressed, uint16_t *out, size_t max)
{
  size_t n = compressed ? len : len / 2;
  if (n > max)
    n = max;
  for (size_t i = 0; i < n; ++i)
    out[i] = compressed ? p[i] : le16 (p + 2 * i);
  return n;
}

#define NAME_MAX_UNITS 32768

/* An nk's name as units; returns the count. */
static size_t
nk_name (const uint8_t *nk, uint16_t *out)
{
  return name_units (nk + NK_HDR, le16 (nk + NK_NAMELEN),
                     (le16 (nk + NK_FLAGS) & KEY_COMP_NAME) != 0, out, NAME_MAX_UNITS);
}

static int
name_cmp (const uint16_t *a, size_t na, const uint16_t *b, size_t nb)
{
  for (size_t i = 0; i < na && i < nb; ++i) {
    uint16_t x = upcase (a[i]), y = upcase (b[i]);
    if (x != y)
      return x < y ? -1 : 1;
  }
  return na < nb ? -1 : na > nb ? 1 : 0;
}

static uint32_t
hash_lh (const uint16_t *u, size_t n)
{
  uint32_t h = 0;
  for (size_t i = 0; i < n; ++i)
    h = h * 37 + upcase (u[i]);
  return h;
}

static uint32_t
hash_lf (const uint16_t *u, size_t n)
{
  uint8_t b[4] = { 0 };
  for (size_t i = 0; i < n && i < 4; ++i)
    b[i] = (uint8_t) u[i];
  return le32 (b);
}

/* Find 'from' (ASCII, case-insensitive) in units, not followed by a
 * digit; returns the index or -1. */
static long
find_units (const uint16_t *u, size_t n, const char *from, size_t flen, size_t start)
{
  for (size_t i = start; i + flen <= n; ++i) {
    size_t j = 0;
    while (j < flen && upcase (u[i + j]) == upcase ((uint8_t) from[j]))
      j++;
    if (j == flen && !(i + flen < n && u[i + flen] >= '0' && u[i + flen] <= '9'))
      return (long) i;
  }
  return -1;
}

/* Replace every match in u (n units) into out; returns the new count, or
 * n unchanged and *hits = 0 when nothing matched.  out holds n * (tlen +
 * 1) units at least. */
static size_t
replace_units (const uint16_t *u, size_t n, const char *from, const char *to,
               uint16_t *out, size_t *hits)
{
  size_t flen = strlen (from), tlen = strlen (to), o = 0, i = 0;
  *hits = 0;
  for (;;) {
    long at = find_units (u, n, from, flen, i);
    size_t stop = at < 0 ? n : (size_t) at;
    while (i < stop)
      out[o++] = u[i++];
    if (at < 0)
      break;
    for (size_t j = 0; j < tlen; ++j)
      out[o++] = (uint8_t) to[j];
    i += flen;
    ++*hits;
  }
  return o;
}

/* ---- subkey lists ---- */

struct entry { uint32_t off, hash; };
struct leaf { uint32_t off; uint16_t count; char type; };   /* 'i' li, 'f' lf, 'h' lh */

struct sublist {
  struct leaf *leaves;
  size_t nleaves;
  struct entry *e;
  size_t n;
};

static void
sublist_free (struct sublist *s)
{
  free (s->leaves);
  free (s->e);
  memset (s, 0, sizeof *s);
}

static int
read_leaf (struct regf *r, uint32_t off, struct sublist *s)
{
  size_t len;
  uint8_t *c = cell (r, off, &len);
  if (!c || len < 4)
    return -1;
  char type = c[0] == 'l' && c[1] == 'i' ? 'i' : c[0] == 'l' && c[1] == 'f' ? 'f'
            : c[0] == 'l' && c[1] == 'h' ? 'h' : 0;
  if (!type)
    return -1;
  size_t cnt = le16 (c + 2), esz = type == 'i' ? 4 : 8;
  if (4 + cnt * esz > len)
    return -1;
  s->leaves = ws_realloc (s->leaves, (s->nleaves + 1) * sizeof *s->leaves);
  s->leaves[s->nleaves++] = (struct leaf) { off, (uint16_t) cnt, type };
  s->e = ws_realloc (s->e, (s->n + cnt + 1) * sizeof *s->e);
  for (size_t i = 0; i < cnt; ++i) {
    s->e[s->n].off = le32 (c + 4 + i * esz);
    s->e[s->n].hash = type == 'i' ? 0 : le32 (c + 8 + i * esz);
    s->n++;
  }
  return 0;
}

/* Read a key's subkey list (one leaf, or an ri of leaves). */
static int
read_sublist (struct regf *r, const uint8_t *nk, struct sublist *s)
{
  memset (s, 0, sizeof *s);
  if (le32 (nk + NK_NSUB) == 0)
    return 0;
  uint32_t off = le32 (nk + NK_SUBLIST);
  size_t len;
  uint8_t *c = cell (r, off, &len);
  if (!c || len < 4)
    return -1;
  if (c[0] == 'r' && c[1] == 'i') {
    size_t cnt = le16 (c + 2);
    if (4 + cnt * 4 > len)
      return -1;
    for (size_t i = 0; i < cnt; ++i) {
      c = cell (r, off, &len);          /* no allocation here; re-read anyway */
      if (read_leaf (r, le32 (c + 4 + i * 4), s) == -1)
        return -1;
    }
  }
  else if (read_leaf (r, off, s) == -1)
    return -1;
  return 0;
}

static void
write_sublist (struct regf *r, const struct sublist *s)
{
  size_t k = 0;
  for (size_t l = 0; l < s->nleaves; ++l) {
    uint8_t *c = cell (r, s->leaves[l].off, NULL);
    size_t esz = s->leaves[l].type == 'i' ? 4 : 8;
    for (size_t i = 0; i < s->leaves[l].count; ++i, ++k) {
      put_le32 (c + 4 + i * esz, s->e[k].off);
      if (esz == 8)
        put_le32 (c + 8 + i * esz, s->e[k].hash);
    }
  }
}

static uint32_t
entry_hash (char type, const uint16_t *u, size_t n)
{
  return type == 'h' ? hash_lh (u, n) : type == 'f' ? hash_lf (u, n) : 0;
}

/* Move the renamed child (now at new_off, named u[n]) to its sorted place
 * in the parent's list.  The other entries keep their order; every entry
 * whose leaf type changes gets its hash recomputed. */
static int
relink_child (struct regf *r, uint32_t parent, uint32_t old_off, uint32_t new_off,
              const uint16_t *u, size_t n)
{
  uint8_t *pk = nk_cell (r, parent, NULL);
  if (!pk)
    return bad (r, "key at 0x%x has a bad parent link", old_off);
  struct sublist s;
  if (read_sublist (r, pk, &s) == -1) {
    sublist_free (&s);
    return bad (r, "bad subkey list under the key at 0x%x", parent);
  }
  size_t at = SIZE_MAX;
  for (size_t i = 0; i < s.n; ++i)
    if (s.e[i].off == old_off)
      at = i;
  if (at == SIZE_MAX) {
    sublist_free (&s);
    return bad (r, "key at 0x%x is missing from its parent's subkey list", old_off);
  }
  /* Leaf type of each position, so hashes follow the leaf they land in. */
  char *types = ws_malloc (s.n);
  for (size_t l = 0, k = 0; l < s.nleaves; ++l)
    for (size_t i = 0; i < s.leaves[l].count; ++i)
      types[k++] = s.leaves[l].type;
  memmove (&s.e[at], &s.e[at + 1], (s.n - at - 1) * sizeof *s.e);
  size_t pos = 0;
  uint16_t *other = ws_malloc (NAME_MAX_UNITS * sizeof *other);
  for (pos = 0; pos < s.n - 1; ++pos) {
    const uint8_t *ck = nk_cell (r, s.e[pos].off, NULL);
    if (!ck) {
      uint32_t bad_off = s.e[pos].off;
      free (other);
      free (types);
      sublist_free (&s);
      return bad (r, "subkey list entry 0x%x is not a key", bad_off);
    }
    size_t on = nk_name (ck, other);
    if (name_cmp (u, n, other, on) < 0)
      break;
  }
  memmove (&s.e[pos + 1], &s.e[pos], (s.n - 1 - pos) * sizeof *s.e);
  s.e[pos].off = new_off;
  s.e[pos].hash = 0;
  /* Recompute hashes for the positions whose entry changed. */
  size_t lo = pos < at ? pos : at, hi = pos < at ? at : pos;
  for (size_t k = lo; k <= hi; ++k) {
    const uint8_t *ck = nk_cell (r, s.e[k].off, NULL);
    size_t on = ck ? nk_name (ck, other) : 0;
    s.e[k].hash = entry_hash (types[k], other, on);
  }
  write_sublist (r, &s);
  free (other);
  free (types);
  sublist_free (&s);
  /* The parent's largest-subkey-name field (UTF-16 bytes in the low word). */
  pk = nk_cell (r, parent, NULL);
  uint32_t mx = le32 (pk + NK_MAXNAME);
  if ((mx & 0xFFFF) < n * 2)
    put_le32 (pk + NK_MAXNAME, (mx & 0xFFFF0000u) | (uint32_t) (n * 2 & 0xFFFF));
  return 0;
}

/* Store name u[n] into the key at off (in place when it fits, else in a
 * new cell that takes over every link).  Returns the key's new offset or
 * UINT32_MAX. */
static uint32_t
rename_key (struct regf *r, uint32_t off, uint32_t root, const uint16_t *u, size_t n)
{
  size_t len;
  uint8_t *nk = nk_cell (r, off, &len);
  int comp = (le16 (nk + NK_FLAGS) & KEY_COMP_NAME) != 0;
  for (size_t i = 0; comp && i < n; ++i)
    if (u[i] > 0xFF)
      comp = 0;
  size_t bytes = comp ? n : 2 * n;
  if (bytes > 0xFFFF)
    return bad (r, "a renamed key name would be too long"), UINT32_MAX;
  uint32_t parent = le32 (nk + NK_PARENT);
  uint32_t noff = off;
  if (NK_HDR + bytes > len) {
    noff = cell_alloc (r, NK_HDR + bytes);
    if (noff == UINT32_MAX)
      return UINT32_MAX;
    nk = nk_cell (r, off, NULL);
    uint8_t *nn = cell (r, noff, NULL);
    memcpy (nn, nk, NK_HDR);
    nk = nn;
  }
  uint16_t flags = le16 (nk + NK_FLAGS);
  put_le16 (nk + NK_FLAGS, comp ? flags | KEY_COMP_NAME : flags & ~KEY_COMP_NAME);
  put_le16 (nk + NK_NAMELEN, (uint16_t) bytes);
  for (size_t i = 0; i < n; ++i) {
    if (comp)
      nk[NK_HDR + i] = (uint8_t) u[i];
    else
      put_le16 (nk + NK_HDR + 2 * i, u[i]);
  }
  size_t nlen;
  cell (r, noff, &nlen);
  memset (nk + NK_HDR + bytes, 0, nlen - NK_HDR - bytes);
  if (noff != off) {
    /* Children point back at their parent. */
    struct sublist s;
    if (read_sublist (r, nk, &s) == -1) {
      sublist_free (&s);
      return bad (r, "bad subkey list under the key at 0x%x", off), UINT32_MAX;
    }
    for (size_t i = 0; i < s.n; ++i) {
      uint8_t *ck = nk_cell (r, s.e[i].off, NULL);
      if (ck)
        put_le32 (ck + NK_PARENT, noff);
    }
    sublist_free (&s);
    if (off == root)
      put_le32 (r->buf + 0x24, noff);
  }
  if (off != root && relink_child (r, parent, off, noff, u, n) == -1)
    return UINT32_MAX;
  if (noff != off)
    cell_free (r, off);
  r->changed = 1;
  return noff;
}

/* ---- values ---- */

static int
is_string_type (uint32_t t)
{
  return t == 1 || t == 2 || t == 7;    /* REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ */
}

/* Rewrite a value's name. */
static int
rewrite_value_name (struct regf *r, const uint8_t *vl, size_t idx, const char *from,
                    const char *to, uint16_t *u, uint16_t *out, size_t *hits)
{
  uint32_t voff = le32 (vl + 4 * idx);
  size_t len;
  uint8_t *vk = typed_cell (r, voff, "vk", VK_HDR, &len);
  if (!vk)
    return bad (r, "value cell 0x%x is not a value", voff);
  size_t nb = le16 (vk + VK_NAMELEN);
  if (VK_HDR + nb > len)
    return bad (r, "value cell 0x%x: name runs past the cell", voff);
  int ascii = (le16 (vk + VK_FLAGS) & VK_ASCII_NAME) != 0;
  size_t n = name_units (vk + VK_HDR, nb, ascii, u, NAME_MAX_UNITS);
  size_t m = replace_units (u, n, from, to, out, hits);
  if (!*hits)
    return 0;
  for (size_t i = 0; ascii && i < m; ++i)
    if (out[i] > 0xFF)
      ascii = 0;
  size_t bytes = ascii ? m : 2 * m;
  if (bytes > 0xFFFF)
    return bad (r, "a renamed value name would be too long");
  uint32_t noff = voff;
  if (VK_HDR + bytes > len) {
    noff = cell_alloc (r, VK_HDR + bytes);
    if (noff == UINT32_MAX)
      return -1;
    memcpy (cell (r, noff, NULL), cell (r, voff, NULL), VK_HDR);
  }
  vk = cell (r, noff, &len);
  put_le16 (vk + VK_NAMELEN, (uint16_t) bytes);
  uint16_t fl = le16 (vk + VK_FLAGS);
  put_le16 (vk + VK_FLAGS, ascii ? fl | VK_ASCII_NAME : fl & ~VK_ASCII_NAME);
  for (size_t i = 0; i < m; ++i) {
    if (ascii)
      vk[VK_HDR + i] = (uint8_t) out[i];
    else
      put_le16 (vk + VK_HDR + 2 * i, out[i]);
  }
  memset (vk + VK_HDR + bytes, 0, len - VK_HDR - bytes);
  if (noff != voff) {
    /* The caller re-reads the value list after any allocation. */
    return (int) noff;
  }
  return 0;
}

/* Rewrite a string value's data.  Returns 0, or -1 on a malformed cell. */
static int
rewrite_value_data (struct regf *r, uint32_t voff, const char *from, const char *to,
                    struct regf_rewrite_stats *st)
{
  size_t len;
  uint8_t *vk = typed_cell (r, voff, "vk", VK_HDR, &len);
  if (!vk)
    return bad (r, "value cell 0x%x is not a value", voff);
  if (!is_string_type (le32 (vk + VK_TYPE)))
    return 0;
  uint32_t dlen = le32 (vk + VK_DLEN);
  if (dlen & 0x80000000u)
    return 0;                   /* inline: at most 4 bytes */
  uint32_t doff = le32 (vk + VK_DOFF);
  size_t clen;
  uint8_t *d = cell (r, doff, &clen);
  if (!d)
    return bad (r, "value cell 0x%x: data cell 0x%x is not allocated", voff, doff);
  if (dlen > clen) {
    if (clen >= 4 && d[0] == 'd' && d[1] == 'b') {
      /* Big data: look for the string in the segments; not rewritten. */
      st->skipped_big++;
      return 0;
    }
    return bad (r, "value cell 0x%x: data length %u exceeds its cell", voff, dlen);
  }
  size_t n = dlen / 2;
  uint16_t *u = ws_malloc ((n + 1) * sizeof *u);
  for (size_t i = 0; i < n; ++i)
    u[i] = le16 (d + 2 * i);
  size_t tlen = strlen (to), hits;
  uint16_t *out = ws_malloc ((n * (tlen + 1) + 1) * sizeof *out);
  size_t m = replace_units (u, n, from, to, out, &hits);
  free (u);
  if (!hits) {
    free (out);
    return 0;
  }
  size_t bytes = 2 * m + (dlen & 1);
  uint32_t noff = doff;
  if (bytes > clen) {
    noff = cell_alloc (r, bytes);
    if (noff == UINT32_MAX) {
      free (out);
      return -1;
    }
    cell_free (r, doff);
  }
  d = cell (r, noff, &clen);
  memset (d, 0, clen);
  for (size_t i = 0; i < m; ++i)
    put_le16 (d + 2 * i, out[i]);
  free (out);
  vk = cell (r, voff, NULL);
  put_le32 (vk + VK_DOFF, noff);
  put_le32 (vk + VK_DLEN, (uint32_t) bytes);
  st->values++;
  r->changed = 1;
  return 0;
}

/* A key's value list: its cell offset and count (0 values: *nval 0).
 * Returns 0, or -1 when the list cannot hold the count (reported). */
static int
value_list (struct regf *r, uint32_t key, uint32_t *vloff, uint32_t *nval)
{
  uint8_t *nk = nk_cell (r, key, NULL);
  *nval = le32 (nk + NK_NVAL);
  *vloff = le32 (nk + NK_VALLIST);
  size_t vlen;
  if (*nval && (!cell (r, *vloff, &vlen) || (uint64_t) *nval * 4 > vlen))
    return bad (r, "key at 0x%x: value list 0x%x holds fewer than %u entries",
                key, *vloff, *nval);
  return 0;
}

static int
rewrite_values (struct regf *r, uint32_t key, const char *from, const char *to,
                struct regf_rewrite_stats *st, uint16_t *u, uint16_t *out)
{
  uint32_t vloff, nval;
  if (value_list (r, key, &vloff, &nval) == -1)
    return -1;
  for (uint32_t i = 0; i < nval; ++i) {
    uint8_t *vl = cell (r, vloff, NULL);
    size_t hits;
    int nv = rewrite_value_name (r, vl, i, from, to, u, out, &hits);
    if (nv < 0)
      return -1;
    if (hits) {
      st->value_names++;
      r->changed = 1;
    }
    vl = cell (r, vloff, NULL);
    if (nv > 0) {
      cell_free (r, le32 (vl + 4 * i));
      put_le32 (vl + 4 * i, (uint32_t) nv);
    }
    if (rewrite_value_data (r, le32 (vl + 4 * i), from, to, st) == -1)
      return -1;
  }
  return 0;
}

/* ---- the walk ---- */

/* Call fn on every key, parents before children.  Guarded against loops
 * (a visited bitmap) and absurd depth. */
struct walk {
  uint32_t off;
  size_t depth;
};

typedef int (*key_fn) (struct regf *r, uint32_t key, uint32_t root, void *opaque,
                       uint32_t *new_off);

static int
walk_keys (struct regf *r, key_fn fn, void *opaque)
{
  uint32_t root = le32 (r->buf + 0x24);
  if (!nk_cell (r, root, NULL))
    return bad (r, "root key offset 0x%x is not a key", root);
  size_t nbits = r->bins_size / 8 + 1;
  uint8_t *seen = calloc (1, nbits / 8 + 1);
  size_t cap = 1024, sp = 0;
  struct walk *stack = ws_malloc (cap * sizeof *stack);
  stack[sp++] = (struct walk) { root, 0 };
  int ret = 0;
  while (sp && ret == 0) {
    struct walk w = stack[--sp];
    /* The bitmap covers the bins as they were; cells allocated since
     * (renamed copies) lie past it and are never visited twice anyway. */
    size_t bit = w.off / 8;
    if (bit < nbits) {
      if (seen[bit / 8] & (1 << (bit % 8))) {
        ret = bad (r, "the key at 0x%x is reached twice (a loop)", w.off);
        break;
      }
      seen[bit / 8] |= 1 << (bit % 8);
    }
    if (w.depth > MAX_DEPTH) {
      ret = bad (r, "keys nested deeper than %d", MAX_DEPTH);
      break;
    }
    uint32_t off = w.off;
    if (!nk_cell (r, off, NULL)) {
      ret = bad (r, "subkey list entry 0x%x is not a key", off);
      break;
    }
    if (fn && fn (r, off, root, opaque, &off) == -1) {
      ret = -1;
      break;
    }
    if (off != w.off && w.off == root)
      root = off;
    uint8_t *nk = nk_cell (r, off, NULL);
    struct sublist s;
    if (read_sublist (r, nk, &s) == -1) {
      sublist_free (&s);
      ret = bad (r, "key at 0x%x has a malformed subkey list", off);
      break;
    }
    if (s.n != le32 (nk + NK_NSUB))
      ws_warning ("%s hive: key at 0x%x says %u subkeys, its list holds %zu",
                  r->label, off, le32 (nk + NK_NSUB), s.n);
    for (size_t i = 0; i < s.n; ++i) {
      if (sp == cap)
        stack = ws_realloc (stack, (cap *= 2) * sizeof *stack);
      stack[sp++] = (struct walk) { s.e[i].off, w.depth + 1 };
    }
    sublist_free (&s);
  }
  free (stack);
  free (seen);
  return ret;
}

struct rewrite {
  const char *from, *to;
  struct regf_rewrite_stats *st;
  uint16_t *u, *out;
};

static int
rewrite_key (struct regf *r, uint32_t key, uint32_t root, void *opaque, uint32_t *new_off)
{
  struct rewrite *rw = opaque;
  const uint8_t *nk = nk_cell (r, key, NULL);
  size_t n = nk_name (nk, rw->u), hits;
  size_t m = replace_units (rw->u, n, rw->from, rw->to, rw->out, &hits);
  if (hits) {
    uint32_t noff = rename_key (r, key, root, rw->out, m);
    if (noff == UINT32_MAX)
      return -1;
    *new_off = key = noff;
    rw->st->keys_renamed++;
  }
  return rewrite_values (r, key, rw->from, rw->to, rw->st, rw->u, rw->out);
}

int
regf_rewrite_string (struct regf *r, const char *from, const char *to,
                     struct regf_rewrite_stats *stats)
{
  memset (stats, 0, sizeof *stats);
  size_t grow = strlen (to) + 1;
  struct rewrite rw = { from, to, stats,
                        ws_malloc (NAME_MAX_UNITS * sizeof (uint16_t)),
                        ws_malloc (NAME_MAX_UNITS * grow * sizeof (uint16_t)) };
  int ret = walk_keys (r, rewrite_key, &rw);
  free (rw.u);
  free (rw.out);
  return ret;
}

/* ---- bytes ---- */

size_t
regf_count_bytes (const struct regf *r, const uint8_t *what, size_t n)
{
  size_t count = 0;
  const uint8_t *p = r->buf + BINS, *end = r->buf + BINS + r->bins_size;
  while (n && (size_t) (end - p) >= n) {
    const uint8_t *q = memmem (p, end - p, what, n);
    if (!q)
      break;
    count++;
    p = q + 1;
  }
  return count;
}

/* Is the sub-authority triple at q (inside the bins from lo) preceded by
 * a machine-domain SID header: revision 1, 4 or more sub-authorities,
 * authority 5, first sub-authority 21? */
static int
sid_header_before (const uint8_t *q, const uint8_t *lo)
{
  static const uint8_t auth[10] = { 0, 0, 0, 0, 0, 5, 21, 0, 0, 0 };
  return q - lo >= 12 && q[-12] == 1 && q[-11] >= 4 && q[-11] <= 15
    && memcmp (q - 10, auth, sizeof auth) == 0;
}

size_t
regf_replace_sid_bytes (struct regf *r, const uint8_t *from, const uint8_t *to,
                        size_t *bare_ret)
{
  size_t count = 0, bare = 0;
  uint8_t *lo = r->buf + BINS, *p = lo, *end = lo + r->bins_size;
  while ((size_t) (end - p) >= 12) {
    uint8_t *q = memmem (p, end - p, from, 12);
    if (!q)
      break;
    if (sid_header_before (q, lo)) {
      memcpy (q, to, 12);
      count++;
      p = q + 12;
    }
    else {
      bare++;
      p = q + 1;
    }
  }
  if (count)
    r->changed = 1;
  if (bare_ret)
    *bare_ret = bare;
  return count;
}

/* ---- consistency check ---- */

struct check {
  size_t problems;
  const char *why;
  char buf[160];
  uint16_t *a, *b;
};

static int
check_key (struct regf *r, uint32_t key, uint32_t root, void *opaque, uint32_t *new_off)
{
  (void) root;
  (void) new_off;
  struct check *ck = opaque;
  const uint8_t *nk = nk_cell (r, key, NULL);
  struct sublist s;
  if (read_sublist (r, nk, &s) == -1) {
    sublist_free (&s);
    return 0;                   /* the walk reports it */
  }
  size_t k = 0, prev_n = 0;
  for (size_t l = 0; l < s.nleaves; ++l)
    for (size_t i = 0; i < s.leaves[l].count; ++i, ++k) {
      const uint8_t *c = nk_cell (r, s.e[k].off, NULL);
      if (!c)
        continue;
      size_t n = nk_name (c, ck->b);
      if (s.leaves[l].type != 'i' && s.e[k].hash != entry_hash (s.leaves[l].type, ck->b, n)) {
        if (!ck->problems++) {
          snprintf (ck->buf, sizeof ck->buf, "wrong hash for subkey %zu of the key at 0x%x", k, key);
          ck->why = ck->buf;
        }
      }
      if (k && name_cmp (ck->a, prev_n, ck->b, n) >= 0) {
        if (!ck->problems++) {
          snprintf (ck->buf, sizeof ck->buf, "subkeys of the key at 0x%x are not sorted", key);
          ck->why = ck->buf;
        }
      }
      memcpy (ck->a, ck->b, n * sizeof *ck->a);
      prev_n = n;
    }
  sublist_free (&s);
  return 0;
}

size_t
regf_check_lists (struct regf *r, const char **why_ret)
{
  static struct check ck;
  memset (&ck, 0, sizeof ck);
  ck.a = ws_malloc (NAME_MAX_UNITS * sizeof (uint16_t));
  ck.b = ws_malloc (NAME_MAX_UNITS * sizeof (uint16_t));
  if (walk_keys (r, check_key, &ck) == -1 && !ck.problems) {
    ck.problems = 1;
    ck.why = "the key tree is malformed";
  }
  free (ck.a);
  free (ck.b);
  if (why_ret)
    *why_ret = ck.why;
  return ck.problems;
}

/* ---- machine SIDs ---- */

long
regf_rewrite_domain (struct regf *r, const struct sid *from, const struct sid *to,
                     struct sid_rewrite_stats *stats)
{
  struct sid_rewrite_stats local;
  if (!stats)
    stats = &local;
  memset (stats, 0, sizeof *stats);
  if (!sid_is_machine_domain (from) || !sid_is_machine_domain (to)) {
    ws_error ("%s hive: a machine SID must be S-1-5-21-x-y-z", r->label);
    return -1;
  }
  char fs[SID_STRING_MAX], ts[SID_STRING_MAX];
  sid_to_string (from, fs);
  sid_to_string (to, ts);
  if (regf_rewrite_string (r, fs, ts, &stats->str) == -1)
    return -1;
  /* The three sub-authorities after 21 identify the domain. */
  uint8_t fb[12], tb[12];
  for (int i = 0; i < 3; ++i) {
    put_le32 (fb + 4 * i, from->sub[1 + i]);
    put_le32 (tb + 4 * i, to->sub[1 + i]);
  }
  stats->binary = regf_replace_sid_bytes (r, fb, tb, &stats->bare);
  return (long) (stats->binary + stats->str.keys_renamed + stats->str.value_names
                 + stats->str.values);
}

/* ---- scrubbing: no old data in free cells, slack or lost cells ---- */

/* The cells the walk from the root reaches, each with the bytes of its
 * data its referrer says are used (Maxim Suhanov's "Windows registry file
 * format specification": nk 0x4C + name, vk 0x14 + name, sk 0x14 +
 * descriptor, lf/lh 4 + 8 per entry, li/ri 4 + 4 per entry, a value list
 * 4 per value, a data cell the value's data length, db 8 and its segment
 * list 4 per segment, each segment up to 16344 bytes, a class name its
 * length). */
struct used { uint32_t off, len; };
struct usedset { struct used *u; size_t n, cap; };

static void
use (struct usedset *s, uint32_t off, uint32_t len)
{
  if (s->n == s->cap)
    s->u = ws_realloc (s->u, (s->cap = s->cap ? 2 * s->cap : 4096) * sizeof *s->u);
  s->u[s->n++] = (struct used) { off, len };
}

#define DB_SEGMENT 16344u

/* A value's data cells: fn on each (cell offset, bytes of the value in it).
 * Inline data (at most 4 bytes in the vk) has none. */
typedef void (*data_fn) (struct regf *r, uint32_t off, uint8_t *d, uint32_t len, void *opaque);

static int
value_data (struct regf *r, uint32_t voff, data_fn fn, void *opaque, struct usedset *s)
{
  size_t len;
  uint8_t *vk = typed_cell (r, voff, "vk", VK_HDR, &len);
  if (!vk || VK_HDR + (size_t) le16 (vk + VK_NAMELEN) > len)
    return bad (r, "value cell 0x%x is not a value", voff);
  if (s)
    use (s, voff, VK_HDR + le16 (vk + VK_NAMELEN));
  uint32_t dlen = le32 (vk + VK_DLEN);
  if ((dlen & 0x80000000u) || dlen == 0)
    return 0;                   /* inline, or none */
  uint32_t doff = le32 (vk + VK_DOFF);
  size_t clen;
  uint8_t *d = cell (r, doff, &clen);
  if (!d)
    return bad (r, "value cell 0x%x: data cell 0x%x is not allocated", voff, doff);
  if (dlen <= clen) {
    if (s)
      use (s, doff, dlen);
    if (fn)
      fn (r, doff, d, dlen, opaque);
    return 0;
  }
  if (clen < 8 || d[0] != 'd' || d[1] != 'b')
    return bad (r, "value cell 0x%x: data length %u exceeds its cell", voff, dlen);
  /* Big data: segments of 16344 bytes, the last holding the rest. */
  uint32_t nseg = le16 (d + 2), loff = le32 (d + 4);
  if (s)
    use (s, doff, clen < 12 ? (uint32_t) clen : 12);
  size_t llen;
  uint8_t *list = cell (r, loff, &llen);
  if (!list || (uint64_t) nseg * 4 > llen || (uint64_t) nseg * DB_SEGMENT < dlen)
    return bad (r, "value cell 0x%x: its big-data segment list is malformed", voff);
  if (s)
    use (s, loff, nseg * 4);
  uint32_t left = dlen;
  for (uint32_t i = 0; i < nseg && left; ++i) {
    uint32_t soff = le32 (list + 4 * i), n = left < DB_SEGMENT ? left : DB_SEGMENT;
    size_t sl;
    uint8_t *seg = cell (r, soff, &sl);
    if (!seg || sl < n)
      return bad (r, "value cell 0x%x: big-data segment %u is malformed", voff, i);
    if (s)
      use (s, soff, n);
    if (fn)
      fn (r, soff, seg, n, opaque);
    left -= n;
    list = cell (r, loff, NULL);
  }
  return 0;
}

/* Every value of a key: value_data on each. */
static int
key_values (struct regf *r, uint32_t key, data_fn fn, void *opaque, struct usedset *s)
{
  uint32_t vloff, nval;
  if (value_list (r, key, &vloff, &nval) == -1)
    return -1;
  if (s && nval)
    use (s, vloff, nval * 4);
  for (uint32_t i = 0; i < nval; ++i)
    if (value_data (r, le32 (cell (r, vloff, NULL) + 4 * i), fn, opaque, s) == -1)
      return -1;
  return 0;
}

enum { NK_SECURITY = 0x2C, NK_CLASS = 0x30, NK_CLASSLEN = 0x4A };

static int
mark_key (struct regf *r, uint32_t key, uint32_t root, void *opaque, uint32_t *new_off)
{
  struct usedset *s = opaque;
  (void) root;
  (void) new_off;
  uint8_t *nk = nk_cell (r, key, NULL);
  use (s, key, NK_HDR + le16 (nk + NK_NAMELEN));
  uint32_t cl = le16 (nk + NK_CLASSLEN), coff = le32 (nk + NK_CLASS);
  size_t len;
  if (cl && coff != UINT32_MAX && cell (r, coff, &len))
    use (s, coff, cl < len ? cl : (uint32_t) len);
  uint32_t skoff = le32 (nk + NK_SECURITY);
  uint8_t *sk = typed_cell (r, skoff, "sk", 0x14, &len);
  if (sk)
    use (s, skoff, 0x14 + le32 (sk + 0x10) < len ? 0x14 + le32 (sk + 0x10) : (uint32_t) len);
  /* The subkey list: an ri of leaves, or one leaf. */
  if (le32 (nk + NK_NSUB)) {
    uint32_t off = le32 (nk + NK_SUBLIST);
    uint8_t *c = cell (r, off, &len);
    if (c && len >= 4 && c[0] == 'r' && c[1] == 'i')
      use (s, off, 4 + 4 * le16 (c + 2));
    struct sublist sl;
    if (read_sublist (r, nk, &sl) == 0)
      for (size_t i = 0; i < sl.nleaves; ++i)
        use (s, sl.leaves[i].off, 4 + (sl.leaves[i].type == 'i' ? 4 : 8) * sl.leaves[i].count);
    sublist_free (&sl);
  }
  return key_values (r, key, NULL, NULL, s);
}

static int
used_cmp (const void *a, const void *b)
{
  const struct used *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

static int
all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; ++i)
    if (p[i])
      return 0;
  return 1;
}

int
regf_scrub (struct regf *r, struct regf_scrub_stats *st)
{
  memset (st, 0, sizeof *st);
  struct usedset s = { 0 };
  if (walk_keys (r, mark_key, &s) == -1) {
    free (s.u);
    return -1;
  }
  /* The security cells are a list of their own (flink at 4): all of it. */
  uint32_t root = le32 (r->buf + 0x24), skoff = le32 (nk_cell (r, root, NULL) + NK_SECURITY);
  for (size_t k = 0; k < r->bins_size / 8; ++k) {
    size_t len;
    uint8_t *sk = typed_cell (r, skoff, "sk", 0x14, &len);
    if (!sk)
      break;
    use (&s, skoff, 0x14 + le32 (sk + 0x10) < len ? 0x14 + le32 (sk + 0x10) : (uint32_t) len);
    skoff = le32 (sk + 4);
    if (skoff == le32 (nk_cell (r, root, NULL) + NK_SECURITY))
      break;
  }
  qsort (s.u, s.n, sizeof *s.u, used_cmp);
  size_t k = 0;
  uint64_t end = BINS + (uint64_t) r->bins_size;
  for (uint64_t bin = BINS; bin + 0x20 <= end;) {
    uint8_t *h = r->buf + bin;
    uint32_t bsize = le32 (h + 8);
    if (memcmp (h, "hbin", 4) != 0 || bsize < 0x1000 || bsize % 0x1000 || bin + bsize > end) {
      free (s.u);
      return bad (r, "hive bin at 0x%jx is malformed", (uintmax_t) (bin - BINS));
    }
    for (uint64_t p = bin + 0x20; p + 4 <= bin + bsize;) {
      int32_t sz = (int32_t) le32 (r->buf + p);
      uint32_t n = sz < 0 ? (uint32_t) -(int64_t) sz : (uint32_t) sz;
      if (n < 8 || n % 8 || p + n > bin + bsize) {
        free (s.u);
        return bad (r, "cell at 0x%jx has a bad size", (uintmax_t) (p - BINS));
      }
      uint32_t off = (uint32_t) (p - BINS), used = 0;
      int reached = 0;
      while (k < s.n && s.u[k].off < off)
        k++;
      for (; k < s.n && s.u[k].off == off; ++k) {
        reached = 1;
        if (s.u[k].len > used)
          used = s.u[k].len;
      }
      uint8_t *d = r->buf + p + 4;
      size_t dl = n - 4;
      if (used > dl)
        used = (uint32_t) dl;
      size_t from = sz > 0 || !reached ? 0 : used;
      if (!all_zero (d + from, dl - from)) {
        memset (d + from, 0, dl - from);
        r->changed = 1;
        if (sz > 0)
          st->free_cells++, st->free_bytes += dl;
        else if (!reached)
          st->lost_cells++, st->lost_bytes += dl;
        else
          st->slack_bytes += dl - from;
      }
      p += n;
    }
    bin += bsize;
  }
  free (s.u);
  return 0;
}

/* ---- SID text ---- */

static int
is_digit_at (const uint8_t *p, const uint8_t *end, int wide)
{
  if (p + (wide ? 2 : 1) > end)
    return 0;
  return p[0] >= '0' && p[0] <= '9' && (!wide || p[1] == 0);
}

/* Does s (ASCII) match at p, case-insensitively, in ASCII or UTF-16LE,
 * and not go on with a digit?  Returns the bytes matched, or 0. */
static size_t
text_at (const uint8_t *p, const uint8_t *end, const char *s, int wide)
{
  size_t n = strlen (s), w = wide ? 2 : 1;
  if ((size_t) (end - p) < n * w)
    return 0;
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = p[i * w];
    if ((c | 0x20) != ((uint8_t) s[i] | 0x20) || (wide && p[i * w + 1] != 0))
      return 0;
  }
  return is_digit_at (p + n * w, end, wide) ? 0 : n * w;
}

/* Rewrite (or count, when to is NULL) from's occurrences in buf. */
static size_t
text_replace (uint8_t *buf, size_t len, const char *from, const char *to)
{
  size_t count = 0, n = strlen (from);
  const uint8_t *end = buf + len;
  for (size_t i = 0; i < len; ++i) {
    if ((buf[i] | 0x20) != ((uint8_t) from[0] | 0x20))
      continue;
    for (int wide = 0; wide < 2; ++wide) {
      size_t m = text_at (buf + i, end, from, wide);
      if (!m)
        continue;
      count++;
      for (size_t k = 0; to && k < n; ++k)
        buf[i + k * (wide ? 2 : 1)] = (uint8_t) to[k];
      i += m - 1;
      break;
    }
  }
  return count;
}

size_t
regf_count_text (const struct regf *r, const char *s)
{
  return text_replace (r->buf + BINS, r->bins_size, s, NULL);
}

/* A value's data gathered from its cells, rewritten, put back. */
struct gather { uint8_t *buf; size_t len, cap; struct { uint8_t *d; uint32_t n; } *part; size_t np; };

static void
gather_part (struct regf *r, uint32_t off, uint8_t *d, uint32_t len, void *opaque)
{
  struct gather *g = opaque;
  (void) r;
  (void) off;
  if (g->len + len > g->cap)
    g->buf = ws_realloc (g->buf, g->cap = g->len + len);
  memcpy (g->buf + g->len, d, len);
  g->len += len;
  g->part = ws_realloc (g->part, (g->np + 1) * sizeof *g->part);
  g->part[g->np].d = d;
  g->part[g->np++].n = len;
}

struct textrw { const char *from, *to; size_t hits, values; };

static int
rewrite_key_text (struct regf *r, uint32_t key, uint32_t root, void *opaque, uint32_t *new_off)
{
  struct textrw *t = opaque;
  (void) root;
  (void) new_off;
  uint32_t vloff, nval;
  if (value_list (r, key, &vloff, &nval) == -1)
    return -1;
  for (uint32_t i = 0; i < nval; ++i) {
    struct gather g = { 0 };
    if (value_data (r, le32 (cell (r, vloff, NULL) + 4 * i), gather_part, &g, NULL) == -1) {
      free (g.buf);
      free (g.part);
      return -1;
    }
    int counting = strcmp (t->from, t->to) == 0;
    size_t h = g.len ? text_replace (g.buf, g.len, t->from, counting ? NULL : t->to) : 0;
    if (h && counting) {
      t->hits += h;
      t->values++;
    }
    else if (h) {
      size_t at = 0;
      for (size_t k = 0; k < g.np; ++k) {
        memcpy (g.part[k].d, g.buf + at, g.part[k].n);
        at += g.part[k].n;
      }
      t->hits += h;
      t->values++;
      r->changed = 1;
    }
    free (g.buf);
    free (g.part);
  }
  return 0;
}

long
regf_rewrite_value_text (struct regf *r, const char *from, const char *to, size_t *values_ret)
{
  if (strlen (from) != strlen (to))
    return bad (r, "internal error: a text rewrite in place needs equal lengths"), -1;
  struct textrw t = { from, to, 0, 0 };
  if (walk_keys (r, rewrite_key_text, &t) == -1)
    return -1;
  if (values_ret)
    *values_ret = t.values;
  return (long) t.hits;
}
