/* winseal: recovering a dirty hive from its transaction logs (hivelog.h).
 *
 * Followed: "Windows registry file format specification" (Maxim
 * Suhanov), "Format of transaction log files":
 *  - a hive is dirty when its base block fails its checksum or its two
 *    sequence numbers differ; a clean hive is taken as it is;
 *  - a base block that fails its checksum is replaced by the partial copy
 *    (first 512 bytes) in a log whose own base block is sound, with the
 *    file type set back to 0;
 *  - a log is used only when its own base block (the partial copy of the
 *    hive's) is sound: signature, checksum, equal sequence numbers;
 *  - new format (file type 6): "HvLE" entries from offset 512, each at a
 *    multiple of 512 bytes, checked by their two Marvin32 hashes (seed
 *    0x82EF4D887A4E55C5: Hash-1 over the entry from its first page
 *    reference, Hash-2 over its first 32 bytes); entries older than the
 *    hive's secondary sequence number are skipped, the others must follow
 *    each other without a gap; the first bad entry, or a gap, stops the
 *    recovery; the hive grows to each applied entry's hive bins size; the
 *    logs are taken in the order of their sequence numbers;
 *  - old format (file type 1): a "DIRT" dirty vector with one bit per 512
 *    bytes of hive bins data, then the dirty pages in bit order; a log is
 *    used only when its base block is sound, its sequence numbers agree
 *    and its timestamp is the hive's; a dirty page that starts a hive bin
 *    must be a sound one at its own offset, or the recovery stops there.
 * Every offset and length read from a file is checked before use. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hive.h"
#include "registry/hivelog.h"
#include "registry/hivetrim.h"
#include "util/util.h"

#define BASE 4096               /* the base block; hive bins follow */
#define SECTOR 512
#define ENTRY_HEAD 40           /* a new-format entry's header */
#define MARVIN_SEED UINT64_C (0x82EF4D887A4E55C5)
#define BINS_MAX (UINT32_C (1) << 31)   /* 2 GiB of hive bins: Windows' limit is lower */

/* Base block offsets. */
enum {
  B_SEQ1 = 4, B_SEQ2 = 8, B_TIME = 12, B_TYPE = 28, B_BINS = 40, B_FLAGS = 144,
  B_CHECKSUM = 508,
};
enum { TYPE_PRIMARY = 0, TYPE_LOG_OLD = 1, TYPE_LOG_NEW = 6 };

static uint32_t
rotl (uint32_t x, int n)
{
  return (x << n) | (x >> (32 - n));
}

static void
marvin_block (uint32_t *p0, uint32_t *p1)
{
  *p1 ^= *p0;
  *p0 = rotl (*p0, 20);
  *p0 += *p1;
  *p1 = rotl (*p1, 9);
  *p1 ^= *p0;
  *p0 = rotl (*p0, 27);
  *p0 += *p1;
  *p1 = rotl (*p1, 19);
}

uint64_t
marvin32 (const uint8_t *p, size_t len, uint64_t seed)
{
  uint32_t p0 = (uint32_t) seed, p1 = (uint32_t) (seed >> 32);
  size_t i = 0;
  for (; len - i >= 4; i += 4) {
    p0 += le32 (p + i);
    marvin_block (&p0, &p1);
  }
  /* The last 0 to 3 bytes, then a 0x80 byte, as one more word. */
  uint32_t last = 0x80;
  switch (len - i) {
  case 1: last = 0x8000 | p[i]; break;
  case 2: last = 0x800000 | le16 (p + i); break;
  case 3: last = 0x80000000u | ((uint32_t) p[i + 2] << 16) | le16 (p + i); break;
  }
  p0 += last;
  marvin_block (&p0, &p1);
  marvin_block (&p0, &p1);
  return ((uint64_t) p1 << 32) | p0;
}

/* Is this a base block with its signature and a right checksum? */
static int
base_block_sound (const uint8_t *p, size_t len)
{
  return len >= SECTOR && memcmp (p, "regf", 4) == 0
         && le32 (p + B_CHECKSUM) == hive_base_block_checksum (p);
}

/* The recovery's working copy of the hive, grown as needed. */
struct work {
  uint8_t *data;
  size_t len;
  struct hive_recovery *r;
};

static void
grow (struct work *w, size_t len)
{
  if (len <= w->len)
    return;
  w->data = ws_realloc (w->data, len);
  memset (w->data + w->len, 0, len - w->len);
  w->len = len;
}

/* Write n bytes of a log at hive bins offset off (the caller checked that
 * off + n is within the bins). */
static void
put_page (struct work *w, uint32_t off, const uint8_t *src, size_t n)
{
  uint8_t *dst = w->data + BASE + off;
  for (size_t i = 0; i < n; ++i)
    w->r->bytes_changed += dst[i] != src[i];
  memcpy (dst, src, n);
  w->r->pages++;
}

static void
note (struct hive_log_use *u, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
static void
note (struct hive_log_use *u, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (u->note, sizeof u->note, fmt, ap);
  va_end (ap);
}

/* ---- new format ---- */

/* Check the entry at off of a new-format log.  Returns its size, or 0 at
 * the end of the entries (no "HvLE"), or -1 for a bad entry (noted). */
static int64_t
entry_check (const struct hive_log *l, size_t off, struct hive_log_use *u)
{
  if (off + ENTRY_HEAD > l->len || memcmp (l->data + off, "HvLE", 4) != 0)
    return 0;
  const uint8_t *e = l->data + off;
  uint32_t size = le32 (e + 4), bins = le32 (e + 16), npages = le32 (e + 20);
  if (size < ENTRY_HEAD || size % SECTOR || size > l->len - off) {
    note (u, "the entry at offset %zu has a bad size (%u)", off, size);
    return -1;
  }
  if (bins == 0 || bins % BASE || bins > BINS_MAX) {
    note (u, "the entry at offset %zu has a bad hive bins size (%u)", off, bins);
    return -1;
  }
  if (npages > (size - ENTRY_HEAD) / 8) {
    note (u, "the entry at offset %zu lists more pages than it holds", off);
    return -1;
  }
  if (le64 (e + 24) != marvin32 (e + ENTRY_HEAD, size - ENTRY_HEAD, MARVIN_SEED)
      || le64 (e + 32) != marvin32 (e, 32, MARVIN_SEED)) {
    note (u, "the entry at offset %zu (sequence %u) fails its hash", off, le32 (e + 12));
    return -1;
  }
  uint64_t data = ENTRY_HEAD + (uint64_t) npages * 8;
  for (uint32_t k = 0; k < npages; ++k) {
    uint32_t poff = le32 (e + ENTRY_HEAD + 8 * k), psize = le32 (e + ENTRY_HEAD + 8 * k + 4);
    if (psize == 0 || psize % SECTOR || poff % SECTOR || (uint64_t) poff + psize > bins) {
      note (u, "the entry at offset %zu has a page outside its hive bins", off);
      return -1;
    }
    data += psize;
  }
  if (data > size) {
    note (u, "the entry at offset %zu is shorter than its pages", off);
    return -1;
  }
  return size;
}

/* The sequence number a new-format log's entries start at (its first
 * entry's, else its base block's), for ordering the logs. */
static uint32_t
log_first_seq (const struct hive_log *l)
{
  if (l->len >= SECTOR + ENTRY_HEAD && memcmp (l->data + SECTOR, "HvLE", 4) == 0)
    return le32 (l->data + SECTOR + 12);
  return l->len >= SECTOR ? le32 (l->data + B_SEQ2) : 0;
}

/* The lowest sequence number at or past from among a log's sound entries
 * (UINT32_MAX when there is none). */
static uint32_t
lowest_seq_from (const struct hive_log *l, uint32_t from)
{
  struct hive_log_use scratch;
  uint32_t low = UINT32_MAX;
  for (size_t off = SECTOR;;) {
    int64_t size = entry_check (l, off, &scratch);
    if (size <= 0)
      break;
    uint32_t seq = le32 (l->data + off + 12);
    if (seq >= from && seq < low)
      low = seq;
    off += (size_t) size;
  }
  return low;
}

/* Apply one log's entries from *expected on.  Returns 0 to go on with
 * the next log, 1 when the recovery stops here. */
static int
apply_new (struct work *w, const struct hive_log *l, struct hive_log_use *u,
           uint32_t *expected, uint32_t *flags, uint32_t *bins)
{
  size_t off = SECTOR;
  size_t skipped = 0;
  for (;;) {
    int64_t size = entry_check (l, off, u);
    if (size == 0)
      break;
    if (size < 0)
      return 1;
    const uint8_t *e = l->data + off;
    uint32_t seq = le32 (e + 12);
    if (seq < *expected) {      /* already in the hive */
      skipped++;
      off += (size_t) size;
      continue;
    }
    if (seq != *expected) {
      note (u, "sequence %u follows %u: the entries in between are missing", seq,
            *expected - 1);
      return 1;
    }
    *bins = le32 (e + 16);
    *flags = le32 (e + 8);
    grow (w, BASE + (size_t) *bins);
    uint32_t npages = le32 (e + 20);
    const uint8_t *src = e + ENTRY_HEAD + (size_t) npages * 8;
    for (uint32_t k = 0; k < npages; ++k) {
      uint32_t poff = le32 (e + ENTRY_HEAD + 8 * k), psize = le32 (e + ENTRY_HEAD + 8 * k + 4);
      put_page (w, poff, src, psize);
      src += psize;
    }
    if (!u->applied)
      u->seq_first = seq;
    u->seq_last = seq;
    u->applied = 1;
    u->entries++;
    w->r->entries++;
    (*expected)++;
    off += (size_t) size;
  }
  if (!u->applied && skipped)
    note (u, "stale: its %zu entr%s already in the hive", skipped, skipped == 1 ? "y is" : "ies are");
  return 0;
}

/* ---- old format ---- */

/* Apply an old-format log.  Returns 1 when it was applied (in full or up
 * to a bad hive bin), 0 when it cannot be used (noted). */
static int
apply_old (struct work *w, const struct hive_log *l, struct hive_log_use *u, uint32_t *bins_ret)
{
  const uint8_t *b = l->data;
  uint32_t bins = le32 (b + B_BINS);
  if (bins == 0 || bins % BASE || bins > BINS_MAX) {
    note (u, "its base block has a bad hive bins size (%u)", bins);
    return 0;
  }
  if (l->len < SECTOR + 4 || memcmp (b + SECTOR, "DIRT", 4) != 0) {
    note (u, "no dirty vector (\"DIRT\") after its base block");
    return 0;
  }
  size_t nbits = bins / SECTOR, vbytes = (nbits + 7) / 8;
  if (SECTOR + 4 + vbytes > l->len) {
    note (u, "its dirty vector runs past its end");
    return 0;
  }
  const uint8_t *bitmap = b + SECTOR + 4;
  size_t pages = (SECTOR + 4 + vbytes + SECTOR - 1) / SECTOR * SECTOR;
  size_t ndirty = 0;
  for (size_t i = 0; i < nbits; ++i)
    ndirty += (bitmap[i / 8] >> (i % 8)) & 1;
  if (ndirty > (l->len - pages) / SECTOR) {
    note (u, "its dirty vector names %zu pages; the log holds %zu", ndirty,
          (l->len - pages) / SECTOR);
    return 0;
  }
  grow (w, BASE + (size_t) bins);
  size_t k = 0;
  for (size_t i = 0; i < nbits; ++i) {
    if (!((bitmap[i / 8] >> (i % 8)) & 1))
      continue;
    const uint8_t *src = l->data + pages + SECTOR * k++;
    uint32_t off = (uint32_t) (i * SECTOR);
    /* A page that starts a hive bin must be one, at its own offset. */
    if (memcmp (src, "hbin", 4) == 0
        && (le32 (src + 4) != off || le32 (src + 8) < BASE || le32 (src + 8) % BASE)) {
      note (u, "the dirty hive bin at offset %u is not sound; stopped there", off);
      break;
    }
    put_page (w, off, src, SECTOR);
  }
  u->applied = 1;
  u->seq_first = u->seq_last = le32 (b + B_SEQ1);
  *bins_ret = bins;
  return 1;
}

/* ---- the recovery ---- */

static enum hive_log_kind
log_kind (const struct hive_log *l)
{
  if (l->len < SECTOR || memcmp (l->data, "regf", 4) != 0)
    return HIVE_LOG_NONE;
  uint32_t t = le32 (l->data + B_TYPE);
  return t == TYPE_LOG_NEW ? HIVE_LOG_NEW : t == TYPE_LOG_OLD ? HIVE_LOG_OLD : HIVE_LOG_NONE;
}

/* New format: the sound logs in the order of their sequence numbers,
 * from the hive's secondary sequence number seq2 on.  Returns 1 when
 * entries were applied (w->r->seq is the last one). */
static int
replay_new (struct work *w, const struct hive_log *logs, size_t nlogs, uint32_t seq2,
            uint32_t *flags, uint32_t *bins)
{
  struct hive_recovery *r = w->r;
  size_t order[HIVE_LOGS_MAX], n = 0;
  for (size_t i = 0; i < nlogs; ++i)
    if (r->logs[i].kind == HIVE_LOG_NEW && !r->logs[i].valid)
      note (&r->logs[i], "its base block is not sound (checksum or sequence numbers)");
    else if (r->logs[i].kind == HIVE_LOG_NEW)
      order[n++] = i;
  for (size_t a = 1; a < n; ++a)
    for (size_t b = a; b > 0 && log_first_seq (&logs[order[b]])
                                < log_first_seq (&logs[order[b - 1]]); --b) {
      size_t t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  uint32_t expected = seq2;
  /* When no entry continues from the hive's secondary sequence number
   * but later ones are there, the hive was partly reconciled (Windows 8.1
   * and later write a hive's data without its base block when they rotate
   * the logs twice; M. Suhanov, "Missing log entries for a dirty primary
   * file"): it already holds the missing entries' data, and the entries
   * from the lowest one on complete it. */
  uint32_t low = UINT32_MAX;
  for (size_t k = 0; k < n; ++k) {
    uint32_t l = lowest_seq_from (&logs[order[k]], seq2);
    low = l < low ? l : low;
  }
  if (low != UINT32_MAX && low > seq2) {
    r->reconciled_to = low - 1;
    expected = low;
  }
  for (size_t k = 0; k < n; ++k)
    if (apply_new (w, &logs[order[k]], &r->logs[order[k]], &expected, flags, bins))
      break;
  if (!r->entries)
    return 0;
  r->seq = expected - 1;
  return 1;
}

/* Old format: the first sound log written for this state of the hive
 * (its timestamp is the hive's). */
static void
replay_old (struct work *w, const struct hive_log *logs, size_t nlogs, uint32_t *bins,
            uint32_t *final_seq)
{
  for (size_t i = 0; i < nlogs; ++i) {
    struct hive_log_use *u = &w->r->logs[i];
    if (u->kind != HIVE_LOG_OLD)
      continue;
    if (!u->valid) {
      note (u, "its base block is not sound (checksum or sequence numbers)");
      continue;
    }
    if (memcmp (logs[i].data + B_TIME, w->data + B_TIME, 8) != 0) {
      note (u, "it was written for another state of the hive (timestamps differ)");
      continue;
    }
    if (apply_old (w, &logs[i], u, bins)) {
      uint32_t ls = le32 (logs[i].data + B_SEQ1);
      *final_seq = ls > *final_seq ? ls : *final_seq;
      return;
    }
  }
}

/* ---- an incomplete hive: trimmed when nothing reachable is lost ---- */

/* The hive bins that are there, from the first: each one's signature,
 * offset and size right, within the file and the base block's size.
 * Returns the bytes of bins present in a row. */
static uint32_t
bins_present (const uint8_t *d, size_t len, uint32_t bins)
{
  uint32_t off = 0;
  while (off < bins && (uint64_t) BASE + off + 32 <= len) {
    const uint8_t *b = d + BASE + off;
    uint32_t size = le32 (b + 8);
    if (memcmp (b, "hbin", 4) != 0 || le32 (b + 4) != off || size < BASE || size % BASE
        || size > bins - off || (uint64_t) BASE + off + size > len)
      break;
    off += size;
  }
  return off;
}

int
hive_recover (const uint8_t *hive, size_t len, const struct hive_log *logs, size_t nlogs,
              unsigned flags_in, struct hive_recovery *r, char *why, size_t whylen)
{
  memset (r, 0, sizeof *r);
  why[0] = '\0';
  if (nlogs > HIVE_LOGS_MAX)
    nlogs = HIVE_LOGS_MAX;
  r->nlogs = nlogs;
  if (len < BASE) {
    snprintf (why, whylen, "%zu bytes: shorter than a hive's base block", len);
    return -1;
  }
  struct work w = { ws_malloc (len), len, r };
  memcpy (w.data, hive, len);
  int sound = base_block_sound (w.data, len);
  r->bad_base_block = !sound;
  r->was_dirty = !sound || le32 (w.data + B_SEQ1) != le32 (w.data + B_SEQ2);
  for (size_t i = 0; i < nlogs; ++i) {
    struct hive_log_use *u = &r->logs[i];
    u->kind = log_kind (&logs[i]);
    u->valid = u->kind != HIVE_LOG_NONE && base_block_sound (logs[i].data, logs[i].len)
               && le32 (logs[i].data + B_SEQ1) == le32 (logs[i].data + B_SEQ2);
    if (u->kind == HIVE_LOG_NONE)
      note (u, logs[i].len ? "not a transaction log" : "empty");
    else if (!r->was_dirty)
      note (u, "not needed: the hive is clean");
  }

  if (r->was_dirty && !sound) {
    /* The base block from a sound log (new format first). */
    int from = -1;
    for (size_t i = 0; i < nlogs && from < 0; ++i)
      if (r->logs[i].valid && r->logs[i].kind == HIVE_LOG_NEW)
        from = (int) i;
    for (size_t i = 0; i < nlogs && from < 0; ++i)
      if (r->logs[i].valid)
        from = (int) i;
    if (from < 0) {
      snprintf (why, whylen, "its base block fails its checksum and no log holds a sound copy");
      free (w.data);
      return -1;
    }
    memcpy (w.data, logs[from].data, SECTOR);
    put_le32 (w.data + B_TYPE, TYPE_PRIMARY);
    r->base_from_log = 1;
  }

  uint32_t seq1 = le32 (w.data + B_SEQ1), seq2 = le32 (w.data + B_SEQ2);
  uint32_t bins = le32 (w.data + B_BINS), flags = le32 (w.data + B_FLAGS);
  uint32_t final_seq = seq1 > seq2 ? seq1 : seq2;
  if (r->was_dirty) {
    if (replay_new (&w, logs, nlogs, seq2, &flags, &bins))
      final_seq = r->seq;
    else
      replay_old (&w, logs, nlogs, &bins, &final_seq);
  }
  if (bins % BASE || bins > BINS_MAX) {
    snprintf (why, whylen, "its hive bins size (%u bytes) is not a whole number of 4 KiB bins",
              bins);
    free (w.data);
    return -1;
  }
  /* Incomplete (the last bins were only ever in a log that is gone): cut
   * to the bins present when nothing reachable lies past them. */
  uint32_t present = bins_present (w.data, w.len, bins);
  if (present < bins && r->was_dirty) {
    char lost[400] = "";
    if (present && hive_trim_check (w.data, present, flags_in & HIVE_RECOVER_REPAIR, r, lost,
                                    sizeof lost)) {
      r->trimmed_from = bins;
      bins = present;
      w.len = BASE + (size_t) present;
    }
    else {
      snprintf (why, whylen, "its hive bins end at %u of %u bytes%s and no log supplies the "
                "rest%s%s", present, bins, (uint64_t) BASE + bins > w.len ? " (the file is short)" : "",
                lost[0] ? ": " : "", lost);
      r->repairable = present && lost[0] && !(flags_in & HIVE_RECOVER_REPAIR);
      hive_recovery_free (r);
      free (w.data);
      return -1;
    }
  }
  else if ((uint64_t) BASE + bins > w.len) {
    snprintf (why, whylen, "its hive bins (%u bytes) run past the end of the file (%zu bytes)",
              bins, w.len);
    free (w.data);
    return -1;
  }
  /* Every hive, dirty or clean, is walked from its root once: a cell it
   * reaches that lies past the bins or is not an allocated cell of its
   * kind makes the hive unreadable as it stands (hivex would fail, or
   * stop, somewhere in it), refused here rather than read in part. */
  if (!r->trimmed_from) {
    char broken[400] = "";
    if (!hive_trim_check (w.data, bins, 0, r, broken, sizeof broken)) {
      snprintf (why, whylen, "%s", broken);
      hive_recovery_free (r);
      free (w.data);
      return -1;
    }
  }
  if (r->was_dirty) {
    put_le32 (w.data + B_SEQ1, final_seq);
    put_le32 (w.data + B_SEQ2, final_seq);
    put_le32 (w.data + B_BINS, bins);
    put_le32 (w.data + B_FLAGS, flags);
    put_le32 (w.data + B_CHECKSUM, hive_base_block_checksum (w.data));
  }
  r->seq = le32 (w.data + B_SEQ1);
  r->bins_size = bins;
  r->data = w.data;
  r->len = w.len;
  return 0;
}

void
hive_recovery_free (struct hive_recovery *r)
{
  free (r->data);
  r->data = NULL;
  for (size_t i = 0; r->dropped && r->dropped[i]; ++i)
    free (r->dropped[i]);
  free (r->dropped);
  r->dropped = NULL;
  r->ndropped = 0;
}
