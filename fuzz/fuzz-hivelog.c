/* fuzz: hive recovery from transaction logs (registry/hivelog.c), and the
 * trim or repair of an incomplete hive (registry/hivetrim.c).  The input
 * is a hive and up to two logs: a 4-byte little-endian length of the
 * hive (its top bit: recover with HIVE_RECOVER_REPAIR), the hive, then
 * the log(s) (split in two at their middle when the first log byte is
 * odd). */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hivelog.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ws_globals.quiet = 1;          /* errors are expected: only crashes count */
  if (size < 4)
    return 0;
  size_t hlen = le32 (data) & 0x7FFFFFFF;
  unsigned flags = data[3] & 0x80 ? HIVE_RECOVER_REPAIR : 0;
  if (hlen > size - 4)
    hlen = size - 4;
  const uint8_t *hive = data + 4, *log = hive + hlen;
  size_t llen = size - 4 - hlen;
  struct hive_log logs[2] = { { "LOG1", log, llen }, { "LOG2", NULL, 0 } };
  size_t n = llen ? 1 : 0;
  if (llen > 1 && (log[0] & 1)) {
    logs[0].len = llen / 2;
    logs[1] = (struct hive_log) { "LOG2", log + llen / 2, llen - llen / 2 };
    n = 2;
  }
  struct hive_recovery r;
  char why[256];
  if (hive_recover (hive, hlen, logs, n, flags, &r, why, sizeof why) == 0) {
    /* The result is a hive whose bins fit in it. */
    if (r.len < 4096 || (uint64_t) 4096 + r.bins_size > r.len)
      abort ();
  }
  hive_recovery_free (&r);
  (void) marvin32 (data, size, UINT64_C (0x82EF4D887A4E55C5));
  return 0;
}
