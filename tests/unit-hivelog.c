/* Unit tests: hive recovery from new-format logs built here (registry/
 * hivelog.c): entries applied in order and the hive grown, a bad hash or
 * a gap stops the recovery at the entry before, a page outside the hive
 * bins is refused, a partly reconciled hive, a clean hive left alone, a
 * clean hive whose root points past its bins refused.
 * (Real logs written by Windows are test-hive.sh's.) */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "registry/hive.h"
#include "registry/hivelog.h"
#include "unit.h"
#include "util/util.h"

#define SEED UINT64_C (0x82EF4D887A4E55C5)

static uint8_t hive[8192], logbuf[16384];
static size_t loglen;

static void
base_block (uint8_t *p, uint32_t seq1, uint32_t seq2, uint32_t type, uint32_t bins)
{
  memcpy (p, "regf", 4);
  put_le32 (p + 4, seq1);
  put_le32 (p + 8, seq2);
  put_le32 (p + 20, 1);
  put_le32 (p + 24, 5);
  put_le32 (p + 28, type);
  put_le32 (p + 40, bins);
  put_le32 (p + 508, hive_base_block_checksum (p));
}

/* A hive of one bin holding a root key (bins offset 32) and its security
 * key (160): recovery walks every hive from its root.  The entries below
 * write from bins offset 512 on. */
static void
make_hive (uint32_t seq1, uint32_t seq2)
{
  memset (hive, 0, sizeof hive);
  put_le32 (hive + 36, 32);
  base_block (hive, seq1, seq2, 0, 4096);
  uint8_t *bins = hive + 4096;
  memcpy (bins, "hbin", 4);
  put_le32 (bins + 8, 4096);
  uint8_t *nk = bins + 32;
  put_le32 (nk, (uint32_t) -128);
  nk += 4;
  memcpy (nk, "nk", 2);
  put_le16 (nk + 2, 0x2c);      /* root, no delete, ASCII name */
  put_le32 (nk + 16, 0xffffffff);
  put_le32 (nk + 28, 0xffffffff);
  put_le32 (nk + 32, 0xffffffff);
  put_le32 (nk + 40, 0xffffffff);
  put_le32 (nk + 44, 160);
  put_le32 (nk + 48, 0xffffffff);
  put_le16 (nk + 72, 4);
  memcpy (nk + 76, "ROOT", 4);
  uint8_t *sk = bins + 160;
  put_le32 (sk, (uint32_t) -48);
  sk += 4;
  memcpy (sk, "sk", 2);
  put_le32 (sk + 4, 160);
  put_le32 (sk + 8, 160);
  put_le32 (sk + 12, 1);
  put_le32 (sk + 16, 20);
  sk[20] = 1;                   /* a security descriptor's revision */
  put_le16 (sk + 22, 0x8004);
  /* The rest of the bin: one free cell. */
  put_le32 (bins + 208, 4096 - 208);
}

/* Append an entry of one page (size bytes of fill at bins offset off; a
 * page at a bin's start must start with the bin's header: fill 'H'). */
static void
add_entry (uint32_t seq, uint32_t bins, uint32_t off, uint32_t size, uint8_t fill)
{
  uint8_t *e = logbuf + loglen;
  uint32_t esize = (40 + 8 + size + 511) / 512 * 512;
  memset (e, 0, esize);
  memcpy (e, "HvLE", 4);
  put_le32 (e + 4, esize);
  put_le32 (e + 12, seq);
  put_le32 (e + 16, bins);
  put_le32 (e + 20, 1);
  put_le32 (e + 40, off);
  put_le32 (e + 44, size);
  memset (e + 48, fill, size);
  if (fill == 'H') {            /* a hive bin's header at the page's start */
    memcpy (e + 48, "hbin", 4);
    put_le32 (e + 52, off);
    put_le32 (e + 56, size);
  }
  put_le64 (e + 24, marvin32 (e + 40, esize - 40, SEED));
  put_le64 (e + 32, marvin32 (e, 32, SEED));
  loglen += esize;
}

static void
new_log (uint32_t seq)
{
  memset (logbuf, 0, sizeof logbuf);
  base_block (logbuf, seq, seq, 6, 4096);
  loglen = 512;
}

static int
recover (struct hive_recovery *r)
{
  struct hive_log l = { "LOG1", logbuf, loglen };
  char why[256];
  return hive_recover (hive, sizeof hive, &l, 1, 0, r, why, sizeof why);
}

int
main (void)
{
  struct hive_recovery r;

  /* Two entries: the second grows the hive by a bin. */
  make_hive (3, 2);
  new_log (2);
  add_entry (2, 4096, 512, 512, 'a');
  add_entry (3, 8192, 4096, 4096, 'H');
  CHECK (recover (&r) == 0);
  CHECK (r.entries == 2 && r.seq == 3 && r.bins_size == 8192 && r.len == 4096 + 8192);
  CHECK (r.data && r.data[4096 + 512] == 'a' && memcmp (r.data + 8192, "hbin", 4) == 0);
  CHECK (r.data && le32 (r.data + 4) == 3 && le32 (r.data + 8) == 3
         && le32 (r.data + 508) == hive_base_block_checksum (r.data));
  hive_recovery_free (&r);

  /* A byte of the second entry changed: its hash fails; the first stands. */
  size_t second = 512 + 1024;   /* the first entry: 40 + 8 + 512 bytes, in 512s */
  logbuf[second + 100] ^= 1;
  CHECK (recover (&r) == 0);
  CHECK (r.entries == 1 && r.seq == 2 && r.bins_size == 4096);
  CHECK (strstr (r.logs[0].note, "fails its hash") != NULL);
  hive_recovery_free (&r);

  /* A gap in the sequence numbers stops there. */
  new_log (2);
  add_entry (2, 4096, 512, 512, 'a');
  add_entry (4, 4096, 1024, 512, 'b');
  CHECK (recover (&r) == 0);
  CHECK (r.entries == 1 && strstr (r.logs[0].note, "missing") != NULL);
  hive_recovery_free (&r);

  /* A page outside the entry's hive bins is refused. */
  new_log (2);
  add_entry (2, 4096, 4096, 512, 'a');
  CHECK (recover (&r) == 0);
  CHECK (r.entries == 0 && strstr (r.logs[0].note, "outside") != NULL);
  hive_recovery_free (&r);

  /* Entries start past the hive's sequence number: partly reconciled. */
  make_hive (2, 1);
  new_log (2);
  add_entry (2, 4096, 512, 512, 'c');
  CHECK (recover (&r) == 0);
  CHECK (r.entries == 1 && r.reconciled_to == 1 && r.seq == 2 && r.data && r.data[4096 + 512] == 'c');
  hive_recovery_free (&r);

  /* A clean hive is taken as it is. */
  make_hive (5, 5);
  new_log (5);
  add_entry (5, 4096, 512, 512, 'd');
  CHECK (recover (&r) == 0);
  CHECK (!r.was_dirty && r.entries == 0 && r.data && memcmp (r.data, hive, 8192) == 0);
  hive_recovery_free (&r);

  /* A clean hive whose root's subkey list lies past its bins: refused,
   * named, not read in part. */
  char why[256];
  make_hive (5, 5);
  put_le32 (hive + 4096 + 36 + 20, 1);
  put_le32 (hive + 4096 + 36 + 28, 40960);
  CHECK (hive_recover (hive, sizeof hive, NULL, 0, 0, &r, why, sizeof why) == -1
         && strstr (why, "a subkey list in \\(the root) lies outside the hive bins") != NULL);

  /* Shorter than a base block: refused with a reason. */
  CHECK (hive_recover (hive, 100, NULL, 0, 0, &r, why, sizeof why) == -1 && strstr (why, "shorter"));
  return unit_done ("unit-hivelog");
}
