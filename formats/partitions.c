/* formats: sanity checks of a raw disk's partition table (MBR and GPT)
 * against the disk's size, to catch truncated images before any work. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format-int.h"

static uint32_t get32 (const uint8_t *p)
{ return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24; }
static uint64_t get64 (const uint8_t *p)
{ return get32 (p) | (uint64_t) get32 (p + 4) << 32; }

#define MAX_GPT_ENTRIES 1024

static int
check_gpt (int fd, uint64_t disk_size, char *why, size_t whylen)
{
  uint8_t hdr[512];
  uint64_t sectors = disk_size / 512;

  if (pread (fd, hdr, 512, 512) != 512 || memcmp (hdr, "EFI PART", 8) != 0) {
    snprintf (why, whylen, "protective MBR but no GPT header at sector 1");
    return -1;
  }
  uint64_t alt = get64 (hdr + 32), last_usable = get64 (hdr + 48);
  uint64_t entries_lba = get64 (hdr + 72);
  uint32_t n = get32 (hdr + 80), esize = get32 (hdr + 84);
  if (n > MAX_GPT_ENTRIES || esize < 128 || esize > 4096 || esize % 8) {
    snprintf (why, whylen, "GPT header has an implausible entry table "
              "(%" PRIu32 " entries of %" PRIu32 " bytes)", n, esize);
    return -1;
  }
  if (entries_lba >= sectors || entries_lba + ((uint64_t) n * esize + 511) / 512 > sectors) {
    snprintf (why, whylen, "GPT entry table lies beyond the end of the disk");
    return -1;
  }
  uint8_t *tab = malloc ((size_t) n * esize + 1);
  if (!tab)
    abort ();
  if (pread (fd, tab, (size_t) n * esize, (off_t) (entries_lba * 512))
      != (ssize_t) n * esize) {
    free (tab);
    snprintf (why, whylen, "cannot read the GPT entry table");
    return -1;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t *e = tab + (size_t) i * esize;
    static const uint8_t zero[16];
    if (memcmp (e, zero, 16) == 0)
      continue;
    uint64_t first = get64 (e + 32), last = get64 (e + 40);
    if (last < first) {
      free (tab);
      snprintf (why, whylen, "GPT partition %" PRIu32 " ends before it starts", i + 1);
      return -1;
    }
    if (last >= sectors) {
      free (tab);
      snprintf (why, whylen, "partition %" PRIu32 " ends at byte %" PRIu64
                " but the disk has only %" PRIu64 " bytes: the image is truncated",
                i + 1, (last + 1) * 512, disk_size);
      return -1;
    }
  }
  free (tab);
  if (alt >= sectors || last_usable >= sectors) {
    snprintf (why, whylen, "the GPT backup header (sector %" PRIu64 ") lies beyond "
              "the end of the disk (%" PRIu64 " bytes): the image is truncated",
              alt, disk_size);
    return -1;
  }
  return 0;
}

int
partitions_check (int fd, uint64_t disk_size, char *why, size_t whylen)
{
  uint8_t mbr[512];

  if (disk_size < 512)
    return 0;                   /* too small for a partition table */
  if (pread (fd, mbr, 512, 0) != 512) {
    snprintf (why, whylen, "cannot read sector 0: %s", strerror (errno));
    return -1;
  }
  if (mbr[510] != 0x55 || mbr[511] != 0xAA)
    return 0;                   /* no partition table: nothing to check */
  /* A FAT/NTFS boot sector also ends in 55 AA; its "partition entries"
   * are code.  A partition table has status bytes 0x00 or 0x80 only. */
  for (int i = 0; i < 4; ++i) {
    uint8_t status = mbr[446 + 16 * i];
    if (status != 0 && status != 0x80)
      return 0;
  }
  for (int i = 0; i < 4; ++i) {
    const uint8_t *e = mbr + 446 + 16 * i;
    uint8_t type = e[4];
    uint64_t start = get32 (e + 8), count = get32 (e + 12);
    if (type == 0 || count == 0)
      continue;
    if (type == 0xEE)
      return check_gpt (fd, disk_size, why, whylen);
    if ((start + count) * 512 > disk_size) {
      snprintf (why, whylen, "partition %d ends at byte %" PRIu64
                " but the disk has only %" PRIu64 " bytes: the image is truncated",
                i + 1, (start + count) * 512, disk_size);
      return -1;
    }
  }
  return 0;
}

static int
part_cmp (const void *a, const void *b)
{
  const struct partition *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

int
partitions_list (struct image *img, struct partition *parts, int max, int *n_ret,
                 char *why, size_t whylen)
{
  uint8_t mbr[512];
  int n = 0;
  *n_ret = 0;
  if (img->size < 1024)
    return 0;
  if (image_pread (img, mbr, 512, 0) == -1) {
    snprintf (why, whylen, "cannot read sector 0");
    return -1;
  }
  if (mbr[510] != 0x55 || mbr[511] != 0xAA)
    return 0;
  for (int i = 0; i < 4; ++i)
    if (mbr[446 + 16 * i] != 0 && mbr[446 + 16 * i] != 0x80)
      return 0;                 /* a boot sector, not a table */
  int gpt = 0;
  for (int i = 0; i < 4; ++i) {
    const uint8_t *e = mbr + 446 + 16 * i;
    uint64_t start = get32 (e + 8), count = get32 (e + 12);
    if (e[4] == 0xEE)
      gpt = 1;
    else if (e[4] && count && e[4] != 0x05 && e[4] != 0x0F && e[4] != 0x85
             && start * 512 < img->size && n < max)
      parts[n++] = (struct partition) { start * 512, count * 512, i + 1 };
  }
  if (gpt) {
    uint8_t hdr[512];
    n = 0;
    if (image_pread (img, hdr, 512, 512) == -1 || memcmp (hdr, "EFI PART", 8) != 0) {
      snprintf (why, whylen, "protective MBR but no GPT header at sector 1");
      return -1;
    }
    uint64_t lba = get64 (hdr + 72);
    uint32_t cnt = get32 (hdr + 80), esz = get32 (hdr + 84);
    if (cnt > MAX_GPT_ENTRIES || esz < 128 || esz > 4096 || esz % 8
        || lba > img->size / 512 || (uint64_t) cnt * esz > img->size - lba * 512) {
      snprintf (why, whylen, "the GPT entry table is implausible");
      return -1;
    }
    uint8_t *tab = malloc ((size_t) cnt * esz + 1);
    if (!tab)
      abort ();
    if (image_pread (img, tab, (size_t) cnt * esz, lba * 512) == -1) {
      free (tab);
      snprintf (why, whylen, "cannot read the GPT entry table");
      return -1;
    }
    static const uint8_t zero[16];
    for (uint32_t i = 0; i < cnt && n < max; ++i) {
      const uint8_t *e = tab + (size_t) i * esz;
      uint64_t first = get64 (e + 32), last = get64 (e + 40);
      if (memcmp (e, zero, 16) == 0 || last < first || first > img->size / 512)
        continue;
      parts[n++] = (struct partition) { first * 512, (last - first + 1) * 512, (int) i + 1 };
    }
    free (tab);
  }
  /* Clipped to the disk, in disk order, overlaps refused. */
  for (int i = 0; i < n; ++i)
    if (parts[i].len > img->size - parts[i].off)
      parts[i].len = img->size - parts[i].off;
  qsort (parts, (size_t) n, sizeof *parts, part_cmp);
  for (int i = 1; i < n; ++i)
    if (parts[i].off < parts[i - 1].off + parts[i - 1].len) {
      snprintf (why, whylen, "partitions %d and %d overlap", parts[i - 1].number, parts[i].number);
      return -1;
    }
  *n_ret = n;
  return 0;
}
