/* Unit tests: scrubbing real hives (../shared/hives) — free cells, slack
 * and unreached cells zeroed — changes nothing a reader sees: libhivex's
 * hivexml prints the same registry (every key, value and data byte, read
 * by the values' data lengths) before and after, and libregf's regfexport
 * still reads it (it is no oracle for the data: for a string value whose
 * cell holds more than its data length, regfexport shows the slack too); and after a machine SID move with the
 * same-length text rewrite, neither the old domain's 12 bytes nor its
 * text (ASCII or UTF-16) occurs anywhere in the SAM. */
#include <config.h>

#include <hivex.h>
#include <unistd.h>

#include "registry/hive.h"
#include "registry/hivelog.h"
#include "registry/regedit.h"
#include "registry/sam.h"
#include "unit.h"
#include "util/paths.h"
#include "util/util.h"
#include "win/sid.h"

/* A command's output on a hive (caller frees), or NULL when it fails. */
static char *
dump (const char *tool, const char *file)
{
  CLEANUP_FREE char *cmd = ws_asprintf ("%s '%s' 2>/dev/null", tool, file);
  FILE *p = popen (cmd, "r");
  if (!p)
    return NULL;
  size_t cap = 1 << 20, n = 0;
  char *buf = ws_malloc (cap);
  size_t k;
  while ((k = fread (buf + n, 1, cap - n - 1, p)) > 0)
    if ((n += k) + 1 == cap)
      buf = ws_realloc (buf, cap *= 2);
  buf[n] = '\0';
  int st = pclose (p);
  if (st != 0 || n == 0) {
    free (buf);
    return NULL;
  }
  return buf;
}

/* Every free cell's data is zero (walked from the file alone). */
static size_t
free_bytes_nonzero (const char *file)
{
  size_t len;
  CLEANUP_FREE uint8_t *d = (uint8_t *) ws_read_file (file, 1u << 30, &len);
  size_t bad = 0;
  for (size_t bin = 0x1000; d && bin + 0x20 <= len;) {
    uint32_t bs = le32 (d + bin + 8);
    if (memcmp (d + bin, "hbin", 4) || bs < 0x1000 || bin + bs > len)
      break;
    for (size_t p = bin + 0x20; p + 4 <= bin + bs;) {
      int32_t sz = (int32_t) le32 (d + p);
      uint32_t n = sz < 0 ? (uint32_t) -(int64_t) sz : (uint32_t) sz;
      if (n < 8 || p + n > bin + bs)
        break;
      for (size_t i = 4; sz > 0 && i < n; ++i)
        bad += d[p + i] != 0;
      p += n;
    }
    bin += bs;
  }
  return bad;
}

static void
scrub_one (const char *dir, const char *file, const char *label, int expect_free)
{
  CLEANUP_FREE char *before = dump ("hivexml", file);
  CHECK (before != NULL);
  struct regf r;
  CHECK (regf_load (&r, file, label) == 0);
  struct regf_scrub_stats st;
  CHECK (regf_scrub (&r, &st) == 0);
  CLEANUP_FREE char *out = ws_asprintf ("%s/%s.scrubbed", dir, label);
  CHECK (regf_save (&r, out) == 0);
  regf_free (&r);
  printf ("%s: %zu free cells (%zu bytes), %zu slack bytes, %zu unreached cells (%zu bytes) zeroed\n",
          label, st.free_cells, st.free_bytes, st.slack_bytes, st.lost_cells, st.lost_bytes);
  if (expect_free)
    CHECK (st.free_cells > 0);
  CHECK (free_bytes_nonzero (out) == 0);
  CLEANUP_FREE char *after = dump ("hivexml", out);
  CLEANUP_FREE char *lib = dump ("regfexport", out);
  CHECK (lib != NULL);
  CHECK (before && after && strcmp (before, after) == 0);
  if (before && after && strcmp (before, after) != 0) {
    size_t i = 0;
    while (before[i] == after[i])
      i++;
    size_t from = i > 300 ? i - 300 : 0;
    fprintf (stderr, "%s: hivexml differs after scrubbing, near:\n--- before\n%.600s\n--- after\n%.600s\n",
             label, before + from, after + from);
  }
  hive_h *h = hivex_open (out, 0);
  CHECK (h != NULL);
  if (h)
    hivex_close (h);
  /* Scrubbing twice finds nothing more. */
  CHECK (regf_load (&r, out, label) == 0);
  CHECK (regf_scrub (&r, &st) == 0);
  CHECK (st.free_cells == 0 && st.slack_bytes == 0 && st.lost_cells == 0 && !r.changed);
  regf_free (&r);
}

int
main (void)
{
  static const char *const names[] = { "SAM", "SYSTEM", "NTUSER.DAT", "SYSTEM_B",
                                       "SYSTEM_B.LOG1", "SYSTEM_B.LOG2", NULL };
  char *dir, *paths[6] = { NULL };
  if (unit_shared_hives (&dir, names, paths) != 0 || system ("command -v regfexport hivexml > /dev/null") != 0) {
    ws_rmtree (dir);
    return 77;
  }
  scrub_one (dir, paths[0], "SAM", 1);
  scrub_one (dir, paths[1], "SYSTEM", 0);
  scrub_one (dir, paths[2], "NTUSER.DAT", 1);
  /* A dirty hive is scrubbed as winseal writes it: recovered first. */
  {
    size_t hl, l1, l2;
    CLEANUP_FREE uint8_t *hv = (uint8_t *) ws_read_file (paths[3], 1u << 30, &hl);
    CLEANUP_FREE uint8_t *a = (uint8_t *) ws_read_file (paths[4], 1u << 30, &l1);
    CLEANUP_FREE uint8_t *b = (uint8_t *) ws_read_file (paths[5], 1u << 30, &l2);
    struct hive_log logs[2] = { { "SYSTEM_B.LOG1", a, l1 }, { "SYSTEM_B.LOG2", b, l2 } };
    struct hive_recovery rec;
    char why[256];
    CHECK (hv && a && b && hive_recover (hv, hl, logs, 2, 0, &rec, why, sizeof why) == 0);
    CLEANUP_FREE char *rp = ws_asprintf ("%s/SYSTEM_B.recovered", dir);
    CHECK (ws_write_file_atomic (rp, rec.data, rec.len) == 0);
    hive_recovery_free (&rec);
    scrub_one (dir, rp, "SYSTEM_B", 1);
  }

  /* The SAM's machine SID moved (same digit counts), its text rewritten
   * in every value, then scrubbed: nothing of the old domain is left. */
  hive_h *h = hivex_open (paths[0], 0);
  struct sid old, nw;
  CHECK (h && sam_domain_sid (h, &old) == 0);
  if (h)
    hivex_close (h);
  nw = old;
  for (int i = 1; i <= 3; ++i)
    nw.sub[i] = old.sub[i] ^ 1;         /* same digits but the last */
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (&old, os);
  sid_to_string (&nw, ns);
  uint8_t fb[12];
  for (int k = 0; k < 3; ++k)
    put_le32 (fb + 4 * k, old.sub[1 + k]);
  struct regf r;
  CHECK (regf_load (&r, paths[0], "SAM") == 0);
  size_t bin_before = regf_count_bytes (&r, fb, 12), text_before = regf_count_text (&r, os);
  printf ("SAM: the old domain %s: %zu times as bytes, %zu as text\n", os, bin_before, text_before);
  CHECK (bin_before > 0);
  CHECK (regf_rewrite_domain (&r, &old, &nw, NULL) > 0);
  CHECK (regf_rewrite_value_text (&r, os, ns, NULL) >= 0);
  struct regf_scrub_stats st;
  CHECK (regf_scrub (&r, &st) == 0);
  CHECK (regf_count_bytes (&r, fb, 12) == 0);
  CHECK (regf_count_text (&r, os) == 0);
  CLEANUP_FREE char *moved = ws_asprintf ("%s/SAM.moved", dir);
  CHECK (regf_save (&r, moved) == 0);
  regf_free (&r);
  CLEANUP_FREE char *mt = dump ("regfexport", moved);
  CHECK (mt != NULL && strstr (mt, ns + 9) != NULL);

  ws_rmtree (dir);

  for (int i = 0; i < 6; ++i)
    free (paths[i]);
  return unit_done ("unit-hivescrub");
}
