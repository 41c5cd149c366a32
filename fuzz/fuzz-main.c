/* fuzz: a standalone driver for the harnesses when libFuzzer is not used.
 * usage: fuzz-X ITERATIONS SEED...  For every seed it runs the harness on
 * the seed and on ITERATIONS deterministic mutations of it (bit flips,
 * byte overwrites with boundary values, truncations, 32-bit fields set to
 * large numbers).  Built with AddressSanitizer, any memory error aborts. */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t
next (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int
main (int argc, char **argv)
{
  if (argc < 3) {
    fprintf (stderr, "usage: %s ITERATIONS SEED...\n", argv[0]);
    return 2;
  }
  long iters = atol (argv[1]);
  for (int a = 2; a < argc; ++a) {
    FILE *fp = fopen (argv[a], "rb");
    if (!fp) {
      perror (argv[a]);
      return 2;
    }
    fseek (fp, 0, SEEK_END);
    long size = ftell (fp);
    rewind (fp);
    uint8_t *seed = malloc (size + 1), *m = malloc (size + 1);
    if (!seed || !m || fread (seed, 1, size, fp) != (size_t) size)
      return 2;
    fclose (fp);
    LLVMFuzzerTestOneInput (seed, size);
    for (long i = 0; i < iters; ++i) {
      memcpy (m, seed, size);
      size_t len = size;
      int edits = 1 + next () % 4;
      for (int e = 0; e < edits && len; ++e) {
        /* Most edits land in the first and last 4 KiB, where the metadata is. */
        size_t pos = next () % len;
        if (next () % 4 && len > 8192)
          pos = next () % 2 ? pos % 4096 : len - 1 - pos % 4096;
        switch (next () % 5) {
        case 0: m[pos] ^= 1u << (next () % 8); break;
        case 1: m[pos] = (uint8_t[]) { 0, 0xff, 0x7f, 0x80, 1 }[next () % 5]; break;
        case 2: len = next () % len; break;
        case 3:
          if (pos + 4 <= len) {
            uint32_t v = (uint32_t[]) { 0xffffffff, 0x7fffffff, 0x80000000, 0x10000, 0 }[next () % 5];
            memcpy (m + pos, &v, 4);
          }
          break;
        case 4: m[pos] = (uint8_t) next (); break;
        }
      }
      LLVMFuzzerTestOneInput (m, len);
    }
    printf ("%s: %ld mutations\n", argv[a], iters);
    free (seed);
    free (m);
  }
  return 0;
}
