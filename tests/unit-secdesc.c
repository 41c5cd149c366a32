/* Unit tests: security descriptors — a hand-built descriptor with every
 * parsed ACE form (plain, object with both GUIDs, callback with data, a
 * label) and one unknown type moves exactly the domain's SIDs; malformed
 * ones are refused untouched; every sk cell of the real hives parses. */
#include <config.h>

#include "win/sid.h"
#include "win/secdesc.h"
#include "unit.h"
#include "util/util.h"

struct buf { uint8_t b[1024]; size_t n; };

static void put (struct buf *b, const void *p, size_t n) { memcpy (b->b + b->n, p, n); b->n += n; }
static void put8 (struct buf *b, uint8_t v) { put (b, &v, 1); }
static void put16 (struct buf *b, uint16_t v) { uint8_t x[2]; put_le16 (x, v); put (b, x, 2); }
static void put32 (struct buf *b, uint32_t v) { uint8_t x[4]; put_le32 (x, v); put (b, x, 4); }
static void putsid (struct buf *b, const char *s)
{
  struct sid sid;
  uint8_t x[SID_MAX_BINARY];
  if (sid_parse (s, &sid) == -1)
    abort ();
  sid_to_binary (&sid, x);
  put (b, x, sid_binary_len (&sid));
}

/* An ACE: type, flags, then body built by the caller; size patched. */
static size_t ace_begin (struct buf *b, uint8_t type) { size_t at = b->n; put8 (b, type); put8 (b, 0); put16 (b, 0); return at; }
static void ace_end (struct buf *b, size_t at) { while ((b->n - at) % 4) put8 (b, 0); put_le16 (b->b + at + 2, (uint16_t) (b->n - at)); }

/* Build the test descriptor for domain D ("S-1-5-21-a-b-c"). */
static void
build (struct buf *b, const char *d)
{
  char s[200];
  memset (b, 0, sizeof *b);
  put8 (b, 1); put8 (b, 0); put16 (b, 0x8000 | 0x0004 | 0x0010);
  put32 (b, 0); put32 (b, 0); put32 (b, 0); put32 (b, 0);
  put_le32 (b->b + 4, (uint32_t) b->n);
  snprintf (s, sizeof s, "%s-1000", d); putsid (b, s);                 /* owner */
  put_le32 (b->b + 8, (uint32_t) b->n);
  putsid (b, "S-1-5-32-544");                                         /* group */
  /* SACL: an audit ACE for Everyone and a mandatory label. */
  size_t sacl = b->n;
  put_le32 (b->b + 12, (uint32_t) sacl);
  put8 (b, 2); put8 (b, 0); put16 (b, 0); put16 (b, 2); put16 (b, 0);
  size_t a = ace_begin (b, 0x02); put32 (b, 0x10000); putsid (b, "S-1-1-0"); ace_end (b, a);
  a = ace_begin (b, 0x11); put32 (b, 1); putsid (b, "S-1-16-12288"); ace_end (b, a);
  put_le16 (b->b + sacl + 2, (uint16_t) (b->n - sacl));
  /* DACL: allowed (domain-500), object with both GUIDs (domain-1001),
   * callback with application data (the domain itself), compound (not
   * parsed), allowed for SYSTEM. */
  size_t dacl = b->n;
  put_le32 (b->b + 16, (uint32_t) dacl);
  put8 (b, 4); put8 (b, 0); put16 (b, 0); put16 (b, 5); put16 (b, 0);
  a = ace_begin (b, 0x00); put32 (b, 0x1F01FF); snprintf (s, sizeof s, "%s-500", d); putsid (b, s); ace_end (b, a);
  a = ace_begin (b, 0x05); put32 (b, 0x100); put32 (b, 3);
  for (int i = 0; i < 32; ++i) put8 (b, (uint8_t) (0xA0 + i));
  snprintf (s, sizeof s, "%s-1001", d); putsid (b, s); ace_end (b, a);
  a = ace_begin (b, 0x09); put32 (b, 0x120089); putsid (b, d); put (b, "artx\x01\x02\x03\x04", 8); ace_end (b, a);
  a = ace_begin (b, 0x04); put32 (b, 1); put16 (b, 1); put16 (b, 0); putsid (b, "S-1-5-18"); putsid (b, "S-1-5-19"); ace_end (b, a);
  a = ace_begin (b, 0x00); put32 (b, 0x1F01FF); putsid (b, "S-1-5-18"); ace_end (b, a);
  put_le16 (b->b + dacl + 2, (uint16_t) (b->n - dacl));
}

/* Every sk cell of a hive file: each descriptor must parse. */
static void
real_hive (const char *path, const char *domain)
{
  FILE *fp = fopen (path, "rb");
  if (!fp)
    return;
  static uint8_t h[1 << 24];
  size_t n = fread (h, 1, sizeof h, fp);
  fclose (fp);
  size_t cells = 0, bad = 0, moved = 0;
  struct sid from, to;
  sid_parse (domain, &from);
  sid_parse ("S-1-5-21-1-2-3", &to);
  for (size_t p = 0x1000; p + 0x20 <= n;) {
    size_t bsize = le32 (h + p + 8);
    if (memcmp (h + p, "hbin", 4) || bsize < 0x1000 || p + bsize > n)
      break;
    for (size_t c = p + 0x20; c + 4 <= p + bsize;) {
      int32_t sz = (int32_t) le32 (h + c);
      size_t csz = sz < 0 ? (size_t) -(int64_t) sz : (size_t) sz;
      if (csz < 8 || c + csz > p + bsize)
        break;
      if (sz < 0 && csz >= 4 + 0x14 && memcmp (h + c + 4, "sk", 2) == 0) {
        size_t dl = le32 (h + c + 4 + 0x10);
        if (0x14 + dl <= csz - 4) {
          struct sd_stats st;
          const char *why;
          cells++;
          if (sd_move_domain (h + c + 4 + 0x14, dl, &from, &to, &st, &why) == -1) {
            bad++;
            fprintf (stderr, "%s: sk at 0x%zx: %s\n", path, c, why);
          }
          moved += st.moved;
        }
      }
      c += csz;
    }
    p += bsize;
  }
  printf ("%s: %zu security cells, %zu refused, %zu SIDs moved\n", path, cells, bad, moved);
  CHECK (cells > 0 && bad == 0);
}

int
main (void)
{
  const char *d1 = "S-1-5-21-3623811015-3361044348-30300820";
  const char *d2 = "S-1-5-21-1111111111-2222222222-3333333333";
  struct buf a, want;
  build (&a, d1);
  build (&want, d2);
  CHECK (a.n == want.n);
  struct sid from, to;
  sid_parse (d1, &from);
  sid_parse (d2, &to);
  struct sd_stats st;
  const char *why = NULL;
  CHECK (sd_check (a.b, a.n, &why) == 0);
  CHECK (sd_move_domain (a.b, a.n, &from, &to, &st, &why) == 0);
  /* owner, group, 2 SACL + 4 parsed DACL trustees; 4 of the domain; the
   * compound ACE counted unknown. */
  CHECK (st.sids == 8);
  CHECK (st.moved == 4);
  CHECK (st.unknown_aces == 1);
  CHECK (memcmp (a.b, want.b, a.n) == 0);
  /* A second move from the old domain finds nothing. */
  CHECK (sd_move_domain (a.b, a.n, &from, &to, &st, &why) == 0 && st.moved == 0);

  /* Malformed: every truncation is refused and leaves the bytes alone. */
  build (&a, d1);
  for (size_t cut = 0; cut < a.n; ++cut) {
    struct buf c = a;
    int r = sd_move_domain (c.b, cut, &from, &to, &st, &why);
    CHECK (r == -1 || cut >= a.n);
    CHECK (memcmp (c.b, a.b, a.n) == 0);
  }
  /* An ACE size that runs past its ACL; an owner offset past the end; not
   * self-relative. */
  struct buf c = a;
  size_t dacl = le32 (c.b + 16);
  put_le16 (c.b + dacl + 8 + 2, 0xFFF0);      /* the first DACL ACE */
  CHECK (sd_move_domain (c.b, c.n, &from, &to, &st, &why) == -1 && why);
  c = a;
  put_le32 (c.b + 4, 0xFFFFFFF0);
  CHECK (sd_move_domain (c.b, c.n, &from, &to, &st, &why) == -1);
  c = a;
  put_le16 (c.b + 2, 0x0014);
  CHECK (sd_check (c.b, c.n, &why) == -1);

  /* Real descriptors: every sk cell of the shared SAM and NTUSER.DAT. */
  static const char *const names[] = { "SAM", "NTUSER.DAT", NULL };
  char *dir, *paths[2] = { NULL };
  if (unit_shared_hives (&dir, names, paths) == 0) {
    real_hive (paths[0], "S-1-5-21-1760460187-1592185332-161725925");
    real_hive (paths[1], "S-1-5-21-1760460187-1592185332-161725925");
  }
  free (paths[0]);
  free (paths[1]);
  ws_rmtree (dir);
  /* The text form (task files, folder names): 8-bit and UTF-16LE, 'S'
   * in either case, never where a digit follows, lengths may change. */
  {
    const char *o = "S-1-5-21-1-2-3", *n = "S-1-5-21-44-55-66";
    const char *in = "<UserId>S-1-5-21-1-2-3-1000</UserId> s-1-5-21-1-2-3 S-1-5-21-1-2-34-5 S-1-5-21-1-2-3";
    const char *exp = "<UserId>S-1-5-21-44-55-66-1000</UserId> S-1-5-21-44-55-66 S-1-5-21-1-2-34-5 S-1-5-21-44-55-66";
    uint8_t *out;
    size_t ol;
    CHECK (sid_text_replace ((const uint8_t *) in, strlen (in), 0, o, n, &out, &ol) == 3);
    CHECK (ol == strlen (exp) && memcmp (out, exp, ol) == 0);
    free (out);
    size_t ul, wl;
    uint8_t *u = utf8_to_utf16le (in, &ul), *w = utf8_to_utf16le (exp, &wl);
    CHECK (sid_text_replace (u, ul, 1, o, n, &out, &ol) == 3);
    CHECK (ol == wl && memcmp (out, w, wl) == 0);
    free (out);
    /* An odd trailing byte is kept; nothing to replace gives 0. */
    CHECK (sid_text_replace ((const uint8_t *) "S-1-5-21-1-2-30", 15, 0, o, n, &out, &ol) == 0);
    free (u);
    free (w);
  }
  return unit_done ("unit-secdesc");
}
