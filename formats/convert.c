/* formats: the streaming converter.  Copies only data, skips zeros, writes
 * to a temporary file beside the output and renames it when complete. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"

#define CHUNK (4u << 20)        /* read buffer */
#define ZBLOCK 4096             /* zero-detection granularity */

/* The temporary file, removed by the signal handler. */
static char pending[PATH_MAX];
static struct sigaction old_int, old_term, old_hup;

static void
on_signal (int sig)
{
  if (pending[0])
    unlink (pending);           /* async-signal-safe */
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
guard (const char *tmp)
{
  struct sigaction sa;
  snprintf (pending, sizeof pending, "%s", tmp);
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  sigaction (SIGHUP, &sa, &old_hup);
}

static void
unguard (void)
{
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  sigaction (SIGHUP, &old_hup, NULL);
  pending[0] = '\0';
}

/* Pass the non-zero 4 KiB blocks of buf (at virtual offset off) on. */
static int
write_nonzero (struct writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
  size_t i = 0;
  while (i < len) {
    size_t n = len - i < ZBLOCK ? len - i : ZBLOCK;
    if (is_zero (buf + i, n)) {
      i += n;
      continue;
    }
    size_t start = i;
    while (i < len) {
      n = len - i < ZBLOCK ? len - i : ZBLOCK;
      if (is_zero (buf + i, n))
        break;
      i += n;
    }
    if (w->ops->w_data (w, off + start, buf + start, i - start) == -1)
      return -1;
  }
  return 0;
}

int
convert_image (struct image *in, const char *out_path,
               const struct convert_opts *o, struct convert_result *r)
{
  memset (r, 0, sizeof *r);
  const struct format_ops *fmt = o->fmt;
  if (!fmt->w_open) {
    format_error ("writing %s images is not supported", fmt->name);
    return -1;
  }
  uint64_t want = o->size ? o->size : in->size;
  if (want < in->size) {
    format_error ("the requested size (%" PRIu64 " bytes) is smaller than the "
                  "input's virtual size (%" PRIu64 " bytes)", want, in->size);
    return -1;
  }
  int64_t vsize = fmt->w_size (want, &o->wopts);
  if (vsize < 0)
    return -1;

  /* Temporary file in the output's directory. */
  char dirbuf[PATH_MAX], basebuf[PATH_MAX], tmp[PATH_MAX];
  snprintf (dirbuf, sizeof dirbuf, "%s", out_path);
  snprintf (basebuf, sizeof basebuf, "%s", out_path);
  const char *dir = dirname (dirbuf), *base = basename (basebuf);
  if (snprintf (tmp, sizeof tmp, "%s/.%s.winseal-XXXXXX", dir, base) >= (int) sizeof tmp) {
    format_error ("%s: output path too long", out_path);
    return -1;
  }
  struct stat sb;
  if (stat (out_path, &sb) == 0 && S_ISDIR (sb.st_mode)) {
    format_error ("%s: is a directory", out_path);
    return -1;
  }
  int fd = mkstemp (tmp);
  if (fd == -1) {
    format_error ("cannot write in %s: %s", dir, strerror (errno));
    return -1;
  }
  guard (tmp);
  fchmod (fd, 0644);

  struct writer w = {
    .ops = fmt, .fd = fd, .path = tmp, .name = base, .size = (uint64_t) vsize,
    .opts = o->wopts,
  };
  uint8_t *buf = malloc (CHUNK);
  if (!buf)
    abort ();
  int ret = -1;
  if (fmt->w_open (&w) == -1)
    goto out;

  for (uint64_t off = 0; off < in->size; ) {
    uint64_t len;
    enum extent_type t;
    if (image_extent (in, off, in->size - off, &len, &t) == -1)
      goto out;
    if (t == EXTENT_DATA) {
      for (uint64_t done = 0; done < len; ) {
        /* Keep reads aligned to the buffer size where possible. */
        size_t n = CHUNK - (off + done) % CHUNK;
        if (n > len - done)
          n = len - done;
        if (image_pread (in, buf, n, off + done) == -1
            || write_nonzero (&w, buf, n, off + done) == -1)
          goto out;
        done += n;
        if (o->progress)
          o->progress (o->opaque, off + done, in->size);
      }
    }
    off += len;
    if (o->progress)
      o->progress (o->opaque, off, in->size);
  }
  if (fmt->w_finish (&w) == -1)
    goto out;
  if (fsync (fd) == -1) {
    format_error ("%s: fsync: %s", tmp, strerror (errno));
    goto out;
  }
  if (o->checksum && sha256_file (fd, r->sha256) == -1) {
    format_error ("%s: cannot read back for the checksum: %s", tmp, strerror (errno));
    goto out;
  }
  if (fstat (fd, &sb) == 0)
    r->file_size = sb.st_size;
  if (rename (tmp, out_path) == -1) {
    format_error ("cannot rename %s to %s: %s", tmp, out_path, strerror (errno));
    goto out;
  }
  pending[0] = '\0';
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  r->virtual_size = w.size;
  r->bytes_written = w.bytes_written;
  ret = 0;
 out:
  if (fmt->w_free)
    fmt->w_free (&w);
  free (buf);
  close (fd);
  if (ret == -1)
    unlink (tmp);
  unguard ();
  return ret;
}
