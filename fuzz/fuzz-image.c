/* fuzz: one harness per image reader (FUZZ_FORMAT = vhd, vmdk, qcow2, vdi or vhdx;
 * raw for fuzz-ntfs: the partition tables, the NTFS free-cluster map and
 * MFT records, and the $Secure rewrite, which every harness also runs on
 * what it opens).
 * Built as a libFuzzer target by `make fuzz` (clang), and by `make check`
 * as a standalone mutation driver under AddressSanitizer (see
 * fuzz-main.c).  The input is a whole image file. */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/format.h"

#define STR2(x) #x
#define STR(x) STR2 (x)

static void
quiet (const char *msg)
{
}

static void
quiet_warn (void *opaque, int part, int records, const char *why)
{
}

static void
quiet_secure (void *opaque, int part, const char *why)
{
}

/* The $Secure rewrite's writes go nowhere: everything it reads and
 * decides is exercised, the input is left for the other passes. */
static int
sink (void *opaque, const void *buf, size_t len, uint64_t off)
{
  return 0;
}

static char path[4096];

static void
remove_input (void)
{
  unlink (path);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const struct format_ops *fmt;
  static uint8_t *buf;
  static int fd = -1;
  if (!fmt) {
    format_error_hook = quiet;
    fmt = format_by_name (STR (FUZZ_FORMAT));
    buf = malloc (1 << 20);
    /* The input goes into a real file, rewritten for every run: the
     * readers open images by path and resolve it (realpath), which a
     * memfd's /proc/self/fd link does not survive. */
    const char *dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
    if (snprintf (path, sizeof path, "%s/winseal-fuzz-XXXXXX", dir) >= (int) sizeof path)
      abort ();
    fd = mkstemp (path);
    if (!fmt || !buf || fd == -1)
      abort ();
    atexit (remove_input);
  }
  if (ftruncate (fd, 0) == -1 || pwrite (fd, data, size, 0) != (ssize_t) size)
    abort ();
  struct image *img = image_open (path, fmt);
  if (img) {
    /* The free-cluster map of its NTFS volumes (fuzz-ntfs: raw input). */
    struct rangeset rs = { 0 };
    struct mft_clear *mc = mft_clear_new ();
    image_ntfs_free (img, &rs, mc, quiet_warn, NULL);
    rangeset_free (&rs);
    /* sid-reset's $Secure pass: the domain of S-1-5-21-1-2-3 moved. */
    static const uint8_t from[12] = { 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 };
    static const uint8_t to[12] = { 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0 };
    struct ntfs_secure_stats st;
    image_ntfs_secure (img, from, to, sink, NULL, &st, quiet_secure, NULL);
    image_ntfs_secure (img, from, to, NULL, NULL, &st, quiet_secure, NULL);
    /* Walk the extent map and read what it says is data: at most 256
     * extents and 8 MiB, so absurd sizes cannot make a run slow. */
    uint64_t off = 0, budget = 8 << 20;
    for (int i = 0; i < 256 && off < img->size && budget; ++i) {
      uint64_t len;
      enum extent_type t;
      if (image_extent (img, off, img->size - off, &len, &t) == -1)
        break;
      if (t == EXTENT_DATA) {
        size_t n = len < (1 << 20) ? len : (1 << 20);
        if (n > budget)
          n = budget;
        if (image_pread (img, buf, n, off) == -1)
          break;
        /* What the conversion does to MFT records read. */
        uint64_t cleared = 0, trimmed = 0;
        if (mft_clear_hits (mc, off, n))
          mft_clear_apply (mc, img, off, buf, n, &cleared, &trimmed);
        budget -= n;
      }
      off += len;
    }
    mft_clear_free (mc);
    image_close (img);
  }
  return 0;
}
