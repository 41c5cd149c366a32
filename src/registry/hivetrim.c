/* winseal: an incomplete hive (its last hive bins missing, and no log to
 * supply them): may it be cut to the bins present, and, with repair,
 * what must be dropped so that it can (hivetrim.h).
 *
 * The walk starts at the root key and follows every reference a key
 * node holds (hive format: "Windows registry file format specification",
 * Maxim Suhanov, sections "Key node", "Subkeys list", "Key values list",
 * "Key value", "Big data", "Key security"): its subkey list (lf, lh, li,
 * or an ri of those: an ri never holds an ri), its value list, each
 * value's data (a big-data record and its segments from minor version 4
 * on), its security key and its class name.  A cell must be allocated
 * (negative size) and lie wholly within the bins present.  Each key and
 * each list is walked once (a second reference to one is corruption; it
 * is not followed again), so a crafted hive cannot make the walk
 * exponential, and the depth is bounded.
 *
 * Repair drops what points past the bins present, from the nearest cell
 * that is there: a subkey list entry (and the key's subkey count), a
 * value list entry (and the value count), a key's whole subkey or value
 * list when the list itself is missing, a class name.  A key whose
 * security key is missing takes its parent's (every key node must have
 * one).  Afterwards the security keys' reference counts and their list
 * (a ring from the root key's, flink at +4 and blink at +8) are rebuilt
 * from the keys that remain. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hivetrim.h"
#include "util/util.h"

#define BASE 4096
#define DEPTH_MAX 512
#define NONE 0xFFFFFFFFu
#define DROPPED_LIST_MAX 10000  /* listed; all are counted */

enum { KEY_COMP_NAME = 0x0020, VALUE_COMP_NAME = 0x0001 };

struct reach {
  uint8_t *bins;                /* the hive bins data (written by repair) */
  uint32_t present;
  uint32_t minor;               /* the hive's minor version (big data from 4 on) */
  int repair;
  int counting;                 /* the second walk: security keys counted */
  uint8_t *seen;                /* a bit per 8 bytes of bins: walked once */
  char path[512];               /* the key being walked */
  const char *lost;             /* what points past the bins (a static string) */
  struct hive_recovery *r;      /* repair: the dropped list */
  int sk_broken;                /* a security key's list link is not sound */
  uint32_t *sk;                 /* counting: the security keys, first seen first */
  size_t nsk, skalloc;
};

static void
dropped (struct reach *rc, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
static void
dropped (struct reach *rc, const char *fmt, ...)
{
  struct hive_recovery *r = rc->r;
  if (r->ndropped++ >= DROPPED_LIST_MAX)
    return;
  char buf[700];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  r->dropped = ws_realloc (r->dropped, (r->ndropped + 1) * sizeof *r->dropped);
  r->dropped[r->ndropped - 1] = ws_strdup (buf);
  r->dropped[r->ndropped] = NULL;
}

/* A key or value name as printable text: ASCII (compressed) or UTF-16LE;
 * what is not printable ASCII becomes '?'. */
static void
name_text (const uint8_t *p, uint32_t len, int compressed, char *out, size_t outlen)
{
  size_t n = 0;
  uint32_t step = compressed ? 1 : 2;
  for (uint32_t i = 0; i + step <= len && n + 1 < outlen && n < 200; i += step) {
    unsigned ch = compressed ? p[i] : le16 (p + i);
    out[n++] = ch >= 0x20 && ch < 0x7f && ch != '\\' ? (char) ch : '?';
  }
  out[n] = '\0';
}

/* The allocated cell at off, lying within the bins present: its data and
 * size; NULL when it is not.  With once, *again is set (and NULL
 * returned) when it was walked before. */
static uint8_t *
reach_cell (struct reach *rc, uint32_t off, uint32_t *size_ret, int once, int *again)
{
  if (again)
    *again = 0;
  if (off % 8 || off < 32 || (uint64_t) off + 8 > rc->present)
    return NULL;
  int32_t size = (int32_t) le32 (rc->bins + off);
  if (size >= 0 || -(int64_t) size < 8 || (uint64_t) off - size > rc->present)
    return NULL;
  if (once) {
    uint8_t *b = &rc->seen[off / 64], bit = (uint8_t) (1u << (off / 8 % 8));
    if (*b & bit) {
      *again = 1;
      return NULL;
    }
    *b |= bit;
  }
  *size_ret = (uint32_t) -size - 4;
  return rc->bins + off + 4;
}

/* A reference to a cell that must be there; sets rc->lost otherwise. */
static uint8_t *
reach_ref (struct reach *rc, uint32_t off, uint32_t *size_ret, const char *what)
{
  uint8_t *c = reach_cell (rc, off, size_ret, 0, NULL);
  if (!c && !rc->lost)
    rc->lost = what;
  return c;
}

static int64_t reach_key (struct reach *rc, uint32_t off, int depth, uint32_t parent_sk,
                      const uint8_t *hint);

/* A subkey list.  Returns the keys it holds (after repair), or -1 when it
 * cannot be walked (the list itself is missing, or, without repair, a key
 * it holds is). */
static int64_t
reach_list (struct reach *rc, uint32_t off, int depth, uint32_t sk, int in_ri)
{
  uint32_t size;
  int again;
  uint8_t *c = reach_cell (rc, off, &size, 1, &again);
  if (again)
    return 0;
  uint32_t n = c && size >= 4 ? le16 (c + 2) : 0;
  int wide = c && size >= 4 && c[0] == 'l' && (c[1] == 'f' || c[1] == 'h');
  int ri = c && size >= 4 && c[0] == 'r' && c[1] == 'i';
  int li = c && size >= 4 && c[0] == 'l' && c[1] == 'i';
  uint32_t step = wide ? 8 : 4;
  if ((!wide && !ri && !li) || (ri && in_ri) || 4 + (uint64_t) n * step > size) {
    /* Missing or not a sound list.  A part of an ri list is dropped here
     * (listed); a key's whole list is dropped by reach_key. */
    rc->lost = "a subkey list";
    if (in_ri && rc->repair)
      dropped (rc, "%s: its subkeys in one part of its subkey list (that part lies in the "
               "missing hive bins or is not a subkey list)", rc->path[0] ? rc->path : "\\");
    return -1;
  }
  int64_t keys = 0;
  for (uint32_t i = 0; i < n;) {
    uint8_t *e = c + 4 + (size_t) i * step;
    int64_t k = ri ? reach_list (rc, le32 (e), depth, sk, 1)
                   : reach_key (rc, le32 (e), depth, sk, c[1] == 'f' ? e + 4 : NULL);
    if (k == -1 && !rc->repair)
      return -1;
    if (k == -1) {
      /* Dropped: the entries after it move up (reach_key or the sublist
       * recorded what). */
      memmove (e, e + step, (size_t) (n - i - 1) * step);
      put_le16 (c + 2, (uint16_t) --n);
      rc->lost = NULL;
      continue;
    }
    keys += k;
    ++i;
  }
  return keys;
}

/* A value and its data.  Returns 0, or -1 when something of it is missing
 * (with repair, the caller drops it: recorded here). */
static int
reach_value (struct reach *rc, uint32_t off)
{
  uint32_t size;
  int again;
  uint8_t *vk = reach_cell (rc, off, &size, 1, &again);
  if (again)
    return 0;
  if (!vk || size < 20 || vk[0] != 'v' || vk[1] != 'k') {
    rc->lost = "a value";
    if (rc->repair && !rc->counting)
      dropped (rc, "%s: a value (its cell lies in the missing hive bins)",
               rc->path[0] ? rc->path : "\\");
    return -1;
  }
  uint32_t dsize = le32 (vk + 4), doff = le32 (vk + 8);
  int ok = 1;
  if (!(dsize & 0x80000000u) && dsize != 0) {
    const uint8_t *d = reach_ref (rc, doff, &size, "a value's data");
    ok = d != NULL;
    if (ok && rc->minor >= 4 && dsize > 16344 && size >= 8 && d[0] == 'd' && d[1] == 'b') {
      uint32_t nseg = le16 (d + 2);
      const uint8_t *l = reach_ref (rc, le32 (d + 4), &size, "a value's data");
      ok = l && (uint64_t) nseg * 4 <= size;
      for (uint32_t i = 0; ok && i < nseg; ++i)
        ok = reach_ref (rc, le32 (l + 4 * i), &size, "a value's data") != NULL;
    }
  }
  if (!ok) {
    rc->lost = "a value's data";
    if (rc->repair && !rc->counting) {
      char name[256];
      uint32_t nlen = le16 (vk + 2);
      name_text (vk + 20, nlen <= size - 20 ? nlen : size - 20, le16 (vk + 16) & VALUE_COMP_NAME,
                 name, sizeof name);
      dropped (rc, "%s: value %s%s%s (its data lies in the missing hive bins)",
               rc->path[0] ? rc->path : "\\", nlen ? "'" : "", nlen ? name : "(default)",
               nlen ? "'" : "");
    }
    return -1;
  }
  return 0;
}

/* The key's values: each one walked; with repair, the missing ones taken
 * out of its list.  Returns 0 or -1. */
static int
reach_values (struct reach *rc, uint8_t *nk)
{
  uint32_t nval = le32 (nk + 36), size;
  if (!nval)
    return 0;
  int again;
  uint8_t *vl = reach_cell (rc, le32 (nk + 40), &size, 1, &again);
  if (again)
    return 0;
  if (!vl || (uint64_t) nval * 4 > size) {
    rc->lost = "a key's value list";
    if (!rc->repair)
      return -1;
    dropped (rc, "%s: its %u value%s (the value list lies in the missing hive bins)",
             rc->path[0] ? rc->path : "\\", nval, nval == 1 ? "" : "s");
    put_le32 (nk + 36, 0);
    put_le32 (nk + 40, NONE);
    rc->lost = NULL;
    return 0;
  }
  for (uint32_t i = 0; i < nval;) {
    if (reach_value (rc, le32 (vl + 4 * i)) == 0) {
      ++i;
      continue;
    }
    if (!rc->repair)
      return -1;
    memmove (vl + 4 * i, vl + 4 * i + 4, (size_t) (nval - i - 1) * 4);
    put_le32 (nk + 36, --nval);
    rc->lost = NULL;
  }
  if (!nval)
    put_le32 (nk + 40, NONE);
  return 0;
}

/* The key's security key (sk, the reference counted on the second walk). */
static int
reach_sk (struct reach *rc, uint8_t *nk, uint32_t parent_sk)
{
  uint32_t off = le32 (nk + 44), size;
  const uint8_t *sk = reach_cell (rc, off, &size, 0, NULL);
  if (!sk || size < 20 || sk[0] != 's' || sk[1] != 'k') {
    rc->lost = "a key's security descriptor";
    if (!rc->repair || parent_sk == NONE)
      return -1;
    dropped (rc, "%s: its security descriptor (it lies in the missing hive bins; the key "
             "takes its parent's)", rc->path);
    put_le32 (nk + 44, parent_sk);
    rc->lost = NULL;
    return 0;
  }
  /* Its list links must name security keys that are there. */
  for (int l = 4; l <= 8; l += 4) {
    uint32_t s2;
    const uint8_t *o = reach_cell (rc, le32 (sk + l), &s2, 0, NULL);
    if (!o || s2 < 20 || o[0] != 's' || o[1] != 'k')
      rc->sk_broken = 1;
  }
  if (rc->counting) {
    /* The bitmap was cleared for this walk; a security key's offset is
     * never a key's, a list's or a value's. */
    uint8_t *b = &rc->seen[off / 64], bit = (uint8_t) (1u << (off / 8 % 8));
    if (!(*b & bit)) {
      *b |= bit;
      if (rc->nsk == rc->skalloc) {
        rc->skalloc = rc->skalloc ? 2 * rc->skalloc : 64;
        rc->sk = ws_realloc (rc->sk, rc->skalloc * sizeof *rc->sk);
      }
      rc->sk[rc->nsk++] = off;
      put_le32 (rc->bins + off + 4 + 12, 0);
    }
    uint8_t *cnt = rc->bins + off + 4 + 12;
    put_le32 (cnt, le32 (cnt) + 1);
  }
  return 0;
}

/* A key node and everything under it.  Returns 1, or -1 when it is missing (with repair:
 * recorded, for the caller to drop).  A key referenced a second time
 * counts, as its list entry stays, but is not walked again. */
static int64_t
reach_key (struct reach *rc, uint32_t off, int depth, uint32_t parent_sk, const uint8_t *hint)
{
  uint32_t size;
  int again;
  uint8_t *nk = reach_cell (rc, off, &size, 1, &again);
  if (again)
    return 1;                   /* a second reference (corrupt): not walked again */
  size_t plen = strlen (rc->path);
  if (!nk || size < 76 || nk[0] != 'n' || nk[1] != 'k' || depth > DEPTH_MAX) {
    rc->lost = "a key";
    if (rc->repair && depth > 0) {
      char h[8] = "";
      if (hint)
        name_text (hint, 4, 1, h, sizeof h);
      if (depth > DEPTH_MAX)
        dropped (rc, "%s\\...: the keys below %d levels", rc->path, DEPTH_MAX);
      else if (h[0])
        dropped (rc, "%s\\%s...: a subkey whose name begins '%s' (its key node lies in the "
                 "missing hive bins)", rc->path, h, h);
      else
        dropped (rc, "%s\\?: a subkey (its key node lies in the missing hive bins)", rc->path);
    }
    return -1;
  }
  uint32_t nlen = le16 (nk + 72);
  if (depth > 0) {              /* the root's name is not part of paths */
    char name[256];
    name_text (nk + 76, nlen <= size - 76 ? nlen : size - 76, le16 (nk + 2) & KEY_COMP_NAME,
               name, sizeof name);
    snprintf (rc->path + plen, sizeof rc->path - plen, "\\%s", name);
  }
  /* The security key first: a subkey whose own is missing takes this. */
  int r = reach_sk (rc, nk, parent_sk);
  uint32_t sk = le32 (nk + 44);
  uint32_t nsub = le32 (nk + 20);
  if (!r && nsub) {
    int64_t k = reach_list (rc, le32 (nk + 28), depth + 1, sk, 0);
    if (k == -1 && rc->repair && rc->lost && !strcmp (rc->lost, "a subkey list")) {
      dropped (rc, "%s: its %u subkey%s (the subkey list lies in the missing hive bins or is "
               "not a subkey list)",
               rc->path[0] ? rc->path : "\\", nsub, nsub == 1 ? "" : "s");
      k = 0;
      rc->lost = NULL;
    }
    if (k == -1)
      r = -1;
    else if (k != nsub && rc->repair) {        /* entries dropped */
      put_le32 (nk + 20, (uint32_t) k);
      if (!k)
        put_le32 (nk + 28, NONE);
    }
  }
  if (!r)
    r = reach_values (rc, nk);
  uint32_t cls = le32 (nk + 48), clen = le16 (nk + 74);
  if (!r && clen && cls != NONE && !reach_ref (rc, cls, &size, "a key's class name")) {
    if (rc->repair) {
      dropped (rc, "%s: its class name (it lies in the missing hive bins)",
               rc->path[0] ? rc->path : "\\");
      put_le16 (nk + 74, 0);
      put_le32 (nk + 48, NONE);
      rc->lost = NULL;
    }
    else
      r = -1;
  }
  if (!r)
    rc->path[plen] = '\0';      /* on failure the path names the key */
  return r ? -1 : 1;
}

/* Rebuild the security keys' reference counts and their ring, from the
 * keys reachable now. */
static void
rebuild_security (struct reach *rc, uint32_t root)
{
  memset (rc->seen, 0, rc->present / 64 + 1);
  rc->counting = 1;
  rc->path[0] = '\0';
  reach_key (rc, root, 0, NONE, NULL);
  for (size_t i = 0; i < rc->nsk; ++i) {
    uint8_t *sk = rc->bins + rc->sk[i] + 4;
    put_le32 (sk + 4, rc->sk[(i + 1) % rc->nsk]);
    put_le32 (sk + 8, rc->sk[(i + rc->nsk - 1) % rc->nsk]);
  }
  rc->counting = 0;
}

int
hive_trim_check (uint8_t *d, uint32_t present, int repair, struct hive_recovery *r,
                 char *why, size_t whylen)
{
  struct reach rc = {
    .bins = d + BASE, .present = present, .minor = le32 (d + 24), .repair = repair, .r = r,
  };
  rc.seen = calloc (present / 64 + 1, 1);
  if (!rc.seen) {
    snprintf (why, whylen, "out of memory walking %u bytes of hive bins", present);
    return 0;
  }
  uint32_t root = le32 (d + 36);
  size_t before = r->ndropped;
  int ok = reach_key (&rc, root, 0, NONE, NULL) == 1;
  if (ok && (r->ndropped > before || rc.sk_broken))
    rebuild_security (&rc, root);
  if (!ok)
    snprintf (why, whylen, "%s in \\%.300s lies %s", rc.lost ? rc.lost : "a cell",
              rc.path[0] ? rc.path + 1 : "(the root)",
              present >= le32 (d + 40) ? "outside the hive bins or is not a sound cell"
              : "in the missing hive bins");
  free (rc.seen);
  free (rc.sk);
  return ok;
}
