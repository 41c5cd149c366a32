/* Unit tests: hive base blocks (dirty state) and libhivex helpers, on the
 * real hives in ../shared/hives and on malformed base blocks. */
#include <config.h>

#include <hivex.h>
#include <unistd.h>

#include "registry/hive.h"
#include "unit.h"
#include "util/util.h"

static void
synthetic (void)
{
  uint8_t b[4096] = { 0 };
  struct hive_state st;
  const char *why;

  memcpy (b, "regf", 4);
  put_le32 (b + 4, 7);
  put_le32 (b + 8, 7);
  put_le32 (b + 0x14, 1);
  put_le32 (b + 0x18, 5);
  put_le32 (b + 0x28, 4096);
  put_le32 (b + 0x1FC, hive_base_block_checksum (b));
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == 0 && !st.dirty);
  /* Sequence numbers differ: dirty. */
  put_le32 (b + 8, 6);
  put_le32 (b + 0x1FC, hive_base_block_checksum (b));
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == 0 && st.dirty);
  /* Bad checksum: dirty. */
  put_le32 (b + 8, 7);
  put_le32 (b + 0x1FC, 12345);
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == 0 && st.dirty);
  put_le32 (b + 0x1FC, hive_base_block_checksum (b));
  /* Hive bins larger than the file. */
  CHECK (hive_parse_base_block (b, sizeof b, 4096, &st, &why) == -1);
  put_le32 (b + 0x28, 0xFFFFF000);
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == -1);
  put_le32 (b + 0x28, 4095);                  /* not a multiple of 4096 */
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == -1);
  put_le32 (b + 0x28, 4096);
  /* Short, wrong signature, wrong version. */
  CHECK (hive_parse_base_block (b, 100, 8192, &st, &why) == -1);
  CHECK (hive_parse_base_block (b, sizeof b, 100, &st, &why) == -1);
  put_le32 (b + 0x14, 2);
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == -1);
  put_le32 (b + 0x14, 1);
  b[0] = 'X';
  CHECK (hive_parse_base_block (b, sizeof b, 8192, &st, &why) == -1);
  /* Checksum special cases: 0 becomes 1, all ones becomes ...FE. */
  uint8_t z[512] = { 0 };
  CHECK (hive_base_block_checksum (z) == 1);
  put_le32 (z, 0xFFFFFFFF);
  CHECK (hive_base_block_checksum (z) == 0xFFFFFFFE);
}

int
main (void)
{
  synthetic ();

  static const char *const names[] = {
    "SYSTEM", "SECURITY", "SYSTEM_B", "corrupted_system_hive", NULL,
  };
  char *dir, *paths[4] = { NULL };
  int have = unit_shared_hives (&dir, names, paths) == 0;
  CLEANUP_FREE char *system = paths[0], *security = paths[1];
  CLEANUP_FREE char *system_b = paths[2], *corrupt = paths[3];
  if (!have) {
    ws_rmtree (dir);
    return unit_failures ? 1 : 77;
  }
  struct hive_state st;
  CHECK (hive_file_state (system, &st) == 0 && !st.dirty);
  CHECK (hive_file_state (security, &st) == 0 && st.dirty && st.seq1 == 0x6b && st.seq2 == 0x6a);
  CHECK (hive_file_state (system_b, &st) == 0 && st.dirty);
  CHECK (hive_file_state (corrupt, &st) == 0);   /* its damage is further in */

  /* libhivex refuses the corrupt hive; we report it instead of crashing. */
  hive_h *h = hive_open_file (corrupt, "SYSTEM", 0);
  CHECK (h == NULL);

  h = hive_open_file (system, "SYSTEM", 0);
  CHECK (h != NULL);
  if (h) {
    int *sets = NULL, current = 0;
    size_t n = 0;
    CHECK (hive_control_sets (h, &sets, &n, &current) == 0);
    CHECK (current == 1 && n == 2 && sets[0] + sets[1] == 3);
    free (sets);
    hive_node_h cn = hive_walk (h, hivex_root (h), "controlset001\\CONTROL\\ComputerName\\ComputerName");
    CHECK (cn != 0);
    CLEANUP_FREE char *name = hive_get_string (h, cn, "ComputerName");
    CHECK (name && *name);
    uint32_t d;
    CHECK (hive_get_dword (h, cn, "ComputerName", &d) == -1);  /* not a DWORD */
    CHECK (hive_walk (h, hivex_root (h), "ControlSet001\\NoSuchKey") == 0);
    hivex_close (h);
  }
  ws_rmtree (dir);
  return unit_done ("unit-hive");
}
