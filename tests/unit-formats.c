/* Unit tests: format probing and partition-table checks. */
#include <config.h>

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "formats/format-int.h"   /* the drivers' helpers are tested too */
#include "unit.h"

static char path[] = "/tmp/winseal-fmt.XXXXXX";

static int
file_with (const void *data, size_t len, off_t size)
{
  int fd = open (path, O_RDWR | O_TRUNC);
  if (fd == -1 || ftruncate (fd, size) == -1 || pwrite (fd, data, len, 0) != (ssize_t) len)
    abort ();
  return fd;
}

static void
put32 (uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void
put64 (uint8_t *p, uint64_t v) { put32 (p, v); put32 (p + 4, v >> 32); }

int
main (int argc, char **argv)
{
  int tfd = mkstemp (path);
  if (tfd == -1)
    abort ();
  close (tfd);
  uint8_t buf[4096] = { 0 };
  char why[256];
  int fd;

  /* Probing. */
  memcpy (buf, "QFI\xfb", 4);
  fd = file_with (buf, 512, 1 << 20);
  CHECK (format_probe (fd, 1 << 20, "probe") == &format_qcow2);
  close (fd);
  memcpy (buf, "KDMV", 4);
  fd = file_with (buf, 512, 1 << 20);
  CHECK (format_probe (fd, 1 << 20, "probe") == &format_vmdk);
  close (fd);
  memcpy (buf, "# Disk DescriptorFile\n", 22);
  fd = file_with (buf, 512, 1024);
  CHECK (format_probe (fd, 1024, "probe") == &format_vmdk);
  close (fd);
  memset (buf, 0, sizeof buf);
  fd = file_with (buf, 512, 1 << 20);
  if (pwrite (fd, "conectix", 8, (1 << 20) - 512) != 8)
    abort ();
  CHECK (format_probe (fd, 1 << 20, "probe") == &format_vhd);
  close (fd);
  fd = file_with (buf, 512, 1 << 20);
  CHECK (format_probe (fd, 1 << 20, "probe") == &format_raw);
  CHECK (partitions_check (fd, 1 << 20, why, sizeof why) == 0);   /* no table */
  close (fd);
  CHECK (format_by_name ("vpc") == &format_vhd && format_by_name ("VHD") == &format_vhd);
  CHECK (format_by_name ("iso") == NULL);

  /* MBR: a partition that fits, then one past the end. */
  memset (buf, 0, sizeof buf);
  buf[510] = 0x55; buf[511] = 0xAA;
  uint8_t *e = buf + 446;
  e[4] = 7;
  put32 (e + 8, 2048);
  put32 (e + 12, 2048);
  fd = file_with (buf, 512, 4096 * 512);
  CHECK (partitions_check (fd, 4096 * 512, why, sizeof why) == 0);
  close (fd);
  fd = file_with (buf, 512, 3000 * 512);
  CHECK (partitions_check (fd, 3000 * 512, why, sizeof why) == -1 && strstr (why, "truncated"));
  close (fd);
  /* A boot sector (status bytes not 0/0x80) is not a partition table. */
  e[0] = 0x33;
  fd = file_with (buf, 512, 3000 * 512);
  CHECK (partitions_check (fd, 3000 * 512, why, sizeof why) == 0);
  close (fd);

  /* GPT: header, one entry, backup header at the last sector. */
  uint64_t sectors = 8192;
  uint8_t gpt[3 * 512] = { 0 };
  gpt[510] = 0x55; gpt[511] = 0xAA;
  gpt[446 + 4] = 0xEE;
  put32 (gpt + 446 + 8, 1);
  put32 (gpt + 446 + 12, sectors - 1);
  uint8_t *h = gpt + 512;
  memcpy (h, "EFI PART", 8);
  put64 (h + 32, sectors - 1);            /* alternate LBA */
  put64 (h + 48, sectors - 34);           /* last usable */
  put64 (h + 72, 2);                      /* entries LBA */
  put32 (h + 80, 4);
  put32 (h + 84, 128);
  uint8_t *ent = gpt + 1024;
  ent[0] = 0xA2;                          /* a non-zero type GUID */
  put64 (ent + 32, 2048);
  put64 (ent + 40, sectors - 34);
  fd = file_with (gpt, sizeof gpt, sectors * 512);
  CHECK (partitions_check (fd, sectors * 512, why, sizeof why) == 0);
  close (fd);
  fd = file_with (gpt, sizeof gpt, 4096 * 512);               /* truncated */
  CHECK (partitions_check (fd, 4096 * 512, why, sizeof why) == -1 && strstr (why, "truncated"));
  close (fd);
  put32 (h + 80, 100000);                 /* absurd entry count */
  fd = file_with (gpt, sizeof gpt, sectors * 512);
  CHECK (partitions_check (fd, sectors * 512, why, sizeof why) == -1);
  close (fd);
  put32 (h + 80, 4);
  put64 (h + 72, sectors + 5);            /* entries past the end */
  fd = file_with (gpt, sizeof gpt, sectors * 512);
  CHECK (partitions_check (fd, sectors * 512, why, sizeof why) == -1);
  close (fd);
  memcpy (h, "NOT PART", 8);
  fd = file_with (gpt, sizeof gpt, sectors * 512);
  CHECK (partitions_check (fd, sectors * 512, why, sizeof why) == -1);
  close (fd);

  unlink (path);
  /* sha256_buffer against the FIPS 180-2 examples (one block; the
   * 56-byte message whose padding needs a second block; empty). */
  static const struct { const char *msg, *hex; } sv[] = {
    { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
  };
  for (size_t i = 0; i < sizeof sv / sizeof sv[0]; ++i) {
    uint8_t dg[32];
    char hex[65];
    sha256_buffer (sv[i].msg, strlen (sv[i].msg), dg);
    for (int k = 0; k < 32; ++k)
      snprintf (hex + 2 * k, 3, "%02x", dg[k]);
    CHECK (strcmp (hex, sv[i].hex) == 0);
  }
  /* Many blocks: a million 'a' (FIPS 180-2). */
  {
    size_t n = 1000000;
    char *a = malloc (n);
    memset (a, 'a', n);
    uint8_t dg[32];
    char hex[65];
    sha256_buffer (a, n, dg);
    for (int k = 0; k < 32; ++k)
      snprintf (hex + 2 * k, 3, "%02x", dg[k]);
    CHECK_STR (hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free (a);
  }
  /* sha256_file on a sparse file (holes hashed as zeros without being
   * read, data not aligned to blocks) agrees with the same bytes in memory. */
  {
    size_t n = (3 << 20) + 37;
    uint8_t *sb = calloc (1, n);
    uint32_t x = 12345;
    static const size_t runs[][2] = { { 0, 4109 }, { (1 << 20) + 5, 70000 }, { (3 << 20), 37 } };
    char sparse[] = "/tmp/winseal-sha.XXXXXX";
    int sfd = mkstemp (sparse);
    CHECK (sfd >= 0 && ftruncate (sfd, n) == 0);
    for (size_t r = 0; r < 3; ++r) {
      for (size_t i = runs[r][0]; i < runs[r][0] + runs[r][1]; ++i)
        sb[i] = (uint8_t) ((x = x * 1103515245 + 12345) >> 16);
      CHECK (pwrite (sfd, sb + runs[r][0], runs[r][1], runs[r][0]) == (ssize_t) runs[r][1]);
    }
    uint8_t dg[32];
    char want[65], got[65];
    sha256_buffer (sb, n, dg);
    for (int k = 0; k < 32; ++k)
      snprintf (want + 2 * k, 3, "%02x", dg[k]);
    CHECK (sha256_file (sfd, got) == 0);
    CHECK_STR (got, want);
    /* A file that ends in a hole. */
    CHECK (ftruncate (sfd, n + 100000) == 0);
    sb = realloc (sb, n + 100000);
    memset (sb + n, 0, 100000);
    sha256_buffer (sb, n + 100000, dg);
    for (int k = 0; k < 32; ++k)
      snprintf (want + 2 * k, 3, "%02x", dg[k]);
    CHECK (sha256_file (sfd, got) == 0);
    CHECK_STR (got, want);
    close (sfd);
    unlink (sparse);
    free (sb);
  }
  /* Data output (wdata.c): gathered direct writes, staged sequential
   * writes with an unaligned head and tail, and the fall-back to the page
   * cache when the file system refuses a direct write -- forced here by
   * claiming an alignment of 1, which the kernel does not honour. */
  {
    char wpath[] = "unit-wdata-XXXXXX";
    int wfd = mkstemp (wpath);
    CHECK (wfd >= 0);
    struct writer w = { .fd = wfd, .path = wpath };
    writer_direct_open (&w);
    if (w.dfd < 0)
      printf ("note: no direct I/O in this directory; wdata checked buffered only\n");
    size_t total = 60000 + (4u << 20) + 1000;
    uint8_t *want = calloc (1, total), *pat = malloc (total);
    uint8_t *a = aligned_alloc (4096, 8192);
    CHECK (want && pat && a);
    for (size_t k = 0; k < total; ++k)
      pat[k] = (uint8_t) (k * 7 + k / 251);
    memcpy (a, pat, 8192);
    CHECK (writer_data (&w, a, 4096, 0, true) == 0);
    CHECK (writer_data (&w, a + 4096, 4096, 4096, true) == 0);
    CHECK (writer_data_flush (&w) == 0);
    memcpy (want, pat, 8192);
    if (w.dfd >= 0)
      CHECK (w.direct_bytes == 8192);
    CHECK (writer_seq (&w, pat + 100, 3000, 8192 + 100) == 0);
    CHECK (writer_seq (&w, pat + 3100, 7000, 8192 + 3100) == 0);
    CHECK (writer_seq_flush (&w) == 0);
    memcpy (want + 8192 + 100, pat + 100, 10000);
    if (w.dfd >= 0)
      CHECK (w.direct_bytes > 8192);
    if (w.dfd >= 0) {
      w.dio_off = w.dio_mem = 1;
      /* A full staging buffer at an odd offset: refused, then the rest. */
      CHECK (writer_seq (&w, pat, (4u << 20) + 1000, 50001) == 0);
      CHECK (w.dfd == -1);
      CHECK (writer_seq_flush (&w) == 0);
    }
    else
      CHECK (writer_seq (&w, pat, (4u << 20) + 1000, 50001) == 0);
    memcpy (want + 50001, pat, (4u << 20) + 1000);
    CHECK (writer_data (&w, pat + 1, 777, 30001, false) == 0);
    memcpy (want + 30001, pat + 1, 777);
    uint8_t *got = malloc (total);
    CHECK (got && full_pread (wfd, got, 50001 + (4u << 20) + 1000, 0) == 0);
    CHECK (got && memcmp (got, want, 50001 + (4u << 20) + 1000) == 0);
    writer_direct_close (&w);
    close (wfd);
    unlink (wpath);
    free (got);
    free (want);
    free (pat);
    free (a);
  }
  /* Once more with the portable code (when the CPU's SHA instructions
   * were used above). */
  (void) argc;
  if (!unit_failures && !getenv ("WINSEAL_SHA256_PORTABLE")) {
    setenv ("WINSEAL_SHA256_PORTABLE", "1", 1);
    execv ("/proc/self/exe", argv);
  }
  return unit_done ("unit-formats");
}
