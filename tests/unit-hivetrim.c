/* Unit tests: the repair of an incomplete hive (registry/hivetrim.c),
 * one kind of reference at a time, on ../shared/hives/SYSTEM grown by
 * 8 KiB of zeroed "missing" bins and marked dirty: a key's security
 * descriptor, value list, class name and one subkey pointed into the
 * missing bins.  Without repair each is refused naming the key; with it
 * the reference is dropped (listed), libhivex reads the result, the rest
 * of the key is there, and the root's own security descriptor cannot be
 * repaired.  (Whole hives cut short, against regfexport: test-hive.sh.) */
#include <config.h>

#include <hivex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/hive.h"
#include "registry/hivelog.h"
#include "unit.h"
#include "util/paths.h"
#include "util/util.h"

static uint8_t *orig;
static size_t orig_len;
static uint32_t missing;        /* hive bins offset of the missing bins */
static char *dir;

/* The nk cell (hive bins offset) of a key under the root, by libhivex
 * (its node handles are file offsets). */
static uint32_t
key_cell (const char *path, const char *name)
{
  hive_h *h = hivex_open (path, 0);
  hive_node_h n = h ? hivex_node_get_child (h, hivex_root (h), name) : 0;
  if (h)
    hivex_close (h);
  return n ? (uint32_t) n - 4096 : 0;
}

/* The hive grown by 8 KiB of zeros, counted in its bins, dirty. */
static uint8_t *
incomplete (size_t *len)
{
  *len = orig_len + 8192;
  uint8_t *h = ws_malloc (*len);
  memcpy (h, orig, orig_len);
  memset (h + orig_len, 0, 8192);
  put_le32 (h + 40, le32 (h + 40) + 8192);
  put_le32 (h + 4, le32 (h + 8) + 1);
  put_le32 (h + 508, hive_base_block_checksum (h));
  return h;
}

static int
recover (const uint8_t *h, size_t len, unsigned flags, struct hive_recovery *r, char *why)
{
  return hive_recover (h, len, NULL, 0, flags, r, why, 512);
}

/* Does libhivex read the recovered hive, and has key name this many
 * values (-1: do not check)? */
static int
reads (const struct hive_recovery *r, const char *name, int nvalues)
{
  CLEANUP_FREE char *p = ws_asprintf ("%s/out", dir);
  if (ws_write_file_atomic (p, r->data, r->len) == -1)
    return 0;
  hive_h *h = hivex_open (p, 0);
  if (!h)
    return 0;
  hive_node_h n = hivex_node_get_child (h, hivex_root (h), name);
  int ok = n != 0;
  if (ok && nvalues >= 0) {
    CLEANUP_FREE hive_value_h *v = hivex_node_values (h, n);
    size_t k = 0;
    while (v && v[k])
      ++k;
    ok = v && (int) k == nvalues;
  }
  hivex_close (h);
  return ok;
}

int
main (void)
{
  static const char *const names[] = { "SYSTEM", NULL };
  char *paths[1] = { NULL };
  if (unit_shared_hives (&dir, names, paths) == -1) {
    fprintf (stderr, "unit-hivetrim: the shared hives are missing (SHARED_HIVES)\n");
    return 1;
  }
  orig = (uint8_t *) ws_read_file (paths[0], (size_t) 1 << 30, &orig_len);
  CHECK (orig && le32 (orig + 40) == orig_len - 4096);
  missing = le32 (orig + 40);
  uint32_t select = key_cell (paths[0], "Select"), mounted = key_cell (paths[0], "MountedDevices");
  CHECK (select && mounted);
  size_t len;
  char why[512];
  struct hive_recovery r;

  /* Nothing points there: trimmed, the bytes SYSTEM's. */
  uint8_t *h = incomplete (&len);
  CHECK (recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == 0 && r.trimmed_from && !r.ndropped
         && r.len == orig_len && memcmp (r.data + 4096, orig + 4096, orig_len - 4096) == 0);
  hive_recovery_free (&r);

  /* Select's security descriptor in the missing bins: refused naming
   * Select; repaired, it takes the root's. */
  put_le32 (h + 4096 + select + 4 + 44, missing + 32);
  CHECK (recover (h, len, 0, &r, why) == -1 && r.repairable
         && strstr (why, "security descriptor in \\Select lies in the missing hive bins"));
  hive_recovery_free (&r);
  CHECK (recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == 0 && r.ndropped == 1
         && strstr (r.dropped[0], "\\Select: its security descriptor"));
  uint32_t root = le32 (orig + 36);
  CHECK (r.data && le32 (r.data + 4096 + select + 4 + 44) == le32 (orig + 4096 + root + 4 + 44));
  CHECK (reads (&r, "Select", -1));
  hive_recovery_free (&r);
  free (h);

  /* MountedDevices' value list there: its values dropped, the key stays. */
  h = incomplete (&len);
  uint32_t nval = le32 (h + 4096 + mounted + 4 + 36);
  put_le32 (h + 4096 + mounted + 4 + 40, missing + 64);
  CHECK (nval > 0 && recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == 0 && r.ndropped == 1
         && strstr (r.dropped[0], "\\MountedDevices: its ") && strstr (r.dropped[0], "values (the value list"));
  CHECK (reads (&r, "MountedDevices", 0) && reads (&r, "Select", -1));
  hive_recovery_free (&r);
  free (h);

  /* Select's class name there: dropped. */
  h = incomplete (&len);
  put_le16 (h + 4096 + select + 4 + 74, 8);
  put_le32 (h + 4096 + select + 4 + 48, missing + 96);
  CHECK (recover (h, len, 0, &r, why) == -1 && strstr (why, "class name in \\Select"));
  hive_recovery_free (&r);
  CHECK (recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == 0 && r.ndropped == 1
         && strstr (r.dropped[0], "\\Select: its class name"));
  CHECK (r.data && le16 (r.data + 4096 + select + 4 + 74) == 0);
  CHECK (reads (&r, "Select", -1));
  hive_recovery_free (&r);
  free (h);

  /* One of the root's subkeys (its list entry) points there: that entry
   * is dropped, the root's subkey count follows, the others stay. */
  h = incomplete (&len);
  uint32_t nsub = le32 (h + 4096 + root + 4 + 20), list = le32 (h + 4096 + root + 4 + 28);
  uint8_t *l = h + 4096 + list + 4;
  CHECK (nsub > 2 && l[0] == 'l' && le16 (l + 2) == nsub);
  uint32_t step = l[1] == 'i' ? 4 : 8;
  uint32_t victim = le32 (l + 4 + step);        /* the second subkey */
  put_le32 (l + 4 + step, missing + 128);
  CHECK (recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == 0 && r.ndropped == 1
         && strstr (r.dropped[0], "a subkey") && r.dropped[0][0] == '\\');
  CHECK (r.data && le32 (r.data + 4096 + root + 4 + 20) == nsub - 1
         && le16 (r.data + 4096 + list + 4 + 2) == nsub - 1);
  CHECK (r.data && le32 (r.data + 4096 + list + 4 + 4 + step) != victim);
  CHECK (reads (&r, "Select", -1) && reads (&r, "MountedDevices", -1));
  hive_recovery_free (&r);
  free (h);

  /* The root key's own security descriptor there: not repairable. */
  h = incomplete (&len);
  put_le32 (h + 4096 + root + 4 + 44, missing + 32);
  CHECK (recover (h, len, HIVE_RECOVER_REPAIR, &r, why) == -1
         && strstr (why, "security descriptor in \\(the root)"));
  hive_recovery_free (&r);
  free (h);

  free (orig);
  ws_rmtree (dir);
  return unit_done ("unit-hivetrim");
}
