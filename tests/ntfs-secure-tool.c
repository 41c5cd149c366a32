/* tests: run formats' $Secure domain move on an image file (raw, or any
 * format winseal reads), for test-ntfs-secure.sh.
 *   ntfs-secure-tool IMAGE OLD-SID NEW-SID   rewrite (raw images only)
 *   ntfs-secure-tool IMAGE OLD-SID -         count only
 * Prints the totals as key=value; exit 1 when a volume was left. */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/format.h"

static int
domain (const char *s, uint8_t out[12])
{
  uint32_t a, b, c;
  if (sscanf (s, "S-1-5-21-%" SCNu32 "-%" SCNu32 "-%" SCNu32, &a, &b, &c) != 3)
    return -1;
  uint32_t v[3] = { a, b, c };
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 4; ++k)
      out[4 * i + k] = (uint8_t) (v[i] >> (8 * k));
  return 0;
}

static int
file_write (void *opaque, const void *buf, size_t len, uint64_t off)
{
  return pwrite (*(int *) opaque, buf, len, (off_t) off) == (ssize_t) len ? 0 : -1;
}

static void
warn (void *opaque, int part, const char *why)
{
  fprintf (stderr, "partition %d: %s\n", part, why);
}

int
main (int argc, char **argv)
{
  uint8_t from[12], to[12];
  if (argc != 4 || domain (argv[2], from) == -1
      || (strcmp (argv[3], "-") != 0 && domain (argv[3], to) == -1)) {
    fprintf (stderr, "usage: ntfs-secure-tool IMAGE OLD-SID NEW-SID|-\n");
    return 2;
  }
  int count = strcmp (argv[3], "-") == 0;
  struct image *img = image_open (argv[1], NULL);
  if (!img)
    return 2;
  int fd = count ? -1 : open (argv[1], O_WRONLY);
  if (!count && fd == -1) {
    perror (argv[1]);
    return 2;
  }
  struct ntfs_secure_stats st;
  int r = image_ntfs_secure (img, from, to, count ? NULL : file_write, &fd, &st, warn, NULL);
  printf ("volumes=%" PRIu64 " entries=%" PRIu64 " with_domain=%" PRIu64 " rewritten=%" PRIu64
          " index_entries=%" PRIu64 " bare=%" PRIu64 " slack_bytes=%" PRIu64 "\n",
          st.volumes, st.entries, st.with_domain, st.rewritten, st.index_entries, st.bare,
          st.slack_bytes);
  image_close (img);
  if (fd >= 0 && close (fd) == -1)
    return 2;
  return r == 0 ? 0 : 1;
}
