/* formats: the streaming converter.  Copies only data, skips zeros, writes
 * to a temporary file beside the output and renames it when complete. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format-int.h"

#define CHUNK (2u << 20)        /* read buffer */
#define NBUF 4                  /* buffers between the reader and the writer */
#define WRITEBACK (64u << 20)   /* start writeback after this many bytes */
#define ZBLOCK 4096             /* zero-detection granularity */

/* The temporary files being written (several conversions may run in
 * threads at once), removed by convert_abort_cleanup from the program's
 * signal handler. */
#define PENDING_MAX 16
static char pending[PENDING_MAX][PATH_MAX];
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static char bus_msg[PATH_MAX + 128];
static volatile sig_atomic_t errors_before;     /* format_errors when guarded */

void
convert_abort_cleanup (void)
{
  for (int i = 0; i < PENDING_MAX; ++i)
    if (pending[i][0])
      unlink (pending[i]);      /* async-signal-safe */
}

/* The input is read through a mapping (see map_input): if a mapped page
 * still cannot be read (the file was truncated under us), the access
 * raises SIGBUS.  The program's SIGBUS handler calls this: one line --
 * unless the reader thread has just reported the same trouble --, and
 * the temporary files removed. */
void
convert_sigbus (void)
{
  if (format_errors == errors_before) {
    ssize_t r = write (2, bus_msg, strlen (bus_msg));
    (void) r;
  }
  convert_abort_cleanup ();
}

/* Register tmp; returns its slot (or -1 when all are taken: then only
 * the error paths remove it). */
static int
guard (const char *tmp, const char *in_path)
{
  pthread_mutex_lock (&pending_lock);
  int slot = -1;
  for (int i = 0; i < PENDING_MAX && slot < 0; ++i)
    if (!pending[i][0]) {
      slot = i;
      snprintf (pending[i], sizeof pending[i], "%s", tmp);
    }
  errors_before = format_errors;
  snprintf (bus_msg, sizeof bus_msg,
            "winseal: %s: the input file changed or could not be read while "
            "being converted\n", in_path);
  pthread_mutex_unlock (&pending_lock);
  return slot;
}

static void
unguard (int slot)
{
  if (slot < 0)
    return;
  pthread_mutex_lock (&pending_lock);
  pending[slot][0] = '\0';
  pthread_mutex_unlock (&pending_lock);
}

/* Temporary outputs are named TMP_PREFIX + random in the output's
 * directory, and locked (flock) while they are written.  One that nobody
 * holds a lock on is what a killed run left: remove it.  (A file only just
 * created may not be locked yet: those younger than a few seconds and
 * still empty are left alone.) */
#define TMP_PREFIX ".winseal-tmp-"

int
convert_clean_stale (const char *dir)
{
  DIR *d = opendir (dir);
  if (!d)
    return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir (d))) {
    if (strncmp (de->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0)
      continue;
    int fd = openat (dirfd (d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1)
      continue;
    struct stat sb;
    if (fstat (fd, &sb) == 0 && S_ISREG (sb.st_mode)
        && (sb.st_size > 0 || sb.st_mtime + 5 < time (NULL))
        && flock (fd, LOCK_EX | LOCK_NB) == 0
        && unlinkat (dirfd (d), de->d_name, 0) == 0)
      n++;
    close (fd);
  }
  closedir (d);
  return n;
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

/* The reader thread walks the input's extents and fills buffers with
 * data; the calling thread checks them for zeros and writes them.  Reading
 * and writing (each a copy through the page cache) overlap on two cores. */
struct slot {
  uint64_t off;
  size_t len;                   /* 0 with end set: no more data */
  int end, error;
  uint8_t *buf;                 /* the slot's own buffer */
  uint8_t *data;                /* buf, or inside map */
  void *map;                    /* a mapping of the input file, or NULL */
  size_t map_len;
};

struct pipe_state {
  struct image *in;
  const struct rangeset *discard;
  size_t di;                    /* the first discard range not yet passed */
  struct mft_clear *mft;        /* MFT records to rewrite, or NULL */
  uint64_t mft_cleared, mft_trimmed;
  struct slot slots[NBUF];
  int full[NBUF];
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop;
  int no_map;                   /* mapping the input failed once: read */
};

/* Where the input holds a range as is (a raw file, a fixed VHD, a dynamic
 * VHD block), map it instead of reading it into a buffer: the zero check
 * reads the page cache directly and direct I/O writes from it, so the data
 * is never copied.  MADV_POPULATE_READ reads the pages in now and reports
 * an unreadable page as an error (then the range is read with pread, which
 * reports it properly) instead of a SIGBUS later.  Returns 0 when the
 * range is mapped into the slot. */
static int
map_input (struct pipe_state *ps, struct slot *sl, uint64_t off, size_t n)
{
  struct image *in = ps->in;
  uint64_t fo;
  if (ps->no_map || !in->ops->contiguous || !in->ops->contiguous (in, off, n, &fo))
    return -1;
  uint64_t base = fo & ~(uint64_t) 4095;
  size_t len = n + (size_t) (fo - base);
  void *m = mmap (NULL, len, PROT_READ, MAP_SHARED, in->fd, (off_t) base);
  if (m == MAP_FAILED) {
    ps->no_map = 1;
    return -1;
  }
  if (madvise (m, len, MADV_POPULATE_READ) == -1) {
    if (errno == EINVAL || errno == ENOSYS)
      ps->no_map = 1;           /* older kernel: read */
    munmap (m, len);
    return -1;
  }
  sl->map = m;
  sl->map_len = len;
  sl->data = (uint8_t *) m + (fo - base);
  return 0;
}

static void
unmap_slot (struct slot *sl)
{
  if (sl->map)
    munmap (sl->map, sl->map_len);
  sl->map = NULL;
  sl->data = sl->buf;
}

static void
put_slot (struct pipe_state *ps, int i)
{
  pthread_mutex_lock (&ps->lock);
  ps->full[i] = 1;
  pthread_cond_broadcast (&ps->cond);
  pthread_mutex_unlock (&ps->lock);
}

static int
wait_slot (struct pipe_state *ps, int i, int want_full)
{
  pthread_mutex_lock (&ps->lock);
  while (ps->full[i] != want_full && !ps->stop)
    pthread_cond_wait (&ps->cond, &ps->lock);
  int stop = ps->stop;
  pthread_mutex_unlock (&ps->lock);
  return stop;
}

static void *
reader (void *arg)
{
  struct pipe_state *ps = arg;
  struct image *in = ps->in;
  int i = 0, err = 0;
  for (uint64_t off = 0; off < in->size && !err; ) {
    uint64_t len;
    enum extent_type t;
    if (image_extent (in, off, in->size - off, &len, &t) == -1) {
      err = 1;
      break;
    }
    /* Discarded ranges (free clusters) are zeros whatever is there. */
    const struct rangeset *d = ps->discard;
    while (d && ps->di < d->n && d->off[ps->di] + d->len[ps->di] <= off)
      ps->di++;
    if (d && ps->di < d->n) {
      uint64_t a = d->off[ps->di], e = a + d->len[ps->di];
      if (a <= off) {
        t = EXTENT_ZERO;        /* inside: skip to its end */
        if (len > e - off)
          len = e - off;
      }
      else if (len > a - off)
        len = a - off;          /* up to where it starts */
    }
    for (uint64_t done = 0; t == EXTENT_DATA && done < len; ) {
      size_t n = CHUNK - (off + done) % CHUNK;
      if (n > len - done)
        n = len - done;
      if (wait_slot (ps, i, 0))
        return NULL;
      struct slot *sl = &ps->slots[i];
      sl->off = off + done;
      sl->len = n;
      sl->end = sl->error = 0;
      /* MFT records are rewritten in the slot's own buffer, never in a
       * mapping of the input. */
      int mft = mft_clear_hits (ps->mft, off + done, n);
      if ((mft || map_input (ps, sl, off + done, n) == -1)
          && image_pread (in, sl->buf, n, off + done) == -1) {
        err = 1;
        break;
      }
      if (mft)
        mft_clear_apply (ps->mft, in, off + done, sl->buf, n, &ps->mft_cleared,
                         &ps->mft_trimmed);
      put_slot (ps, i);
      i = (i + 1) % NBUF;
      done += n;
    }
    off += len;
  }
  if (wait_slot (ps, i, 0))
    return NULL;
  ps->slots[i].len = 0;
  ps->slots[i].end = 1;
  ps->slots[i].error = err;
  ps->slots[i].off = in->size;
  put_slot (ps, i);
  return NULL;
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

  if (in->size == 0) {
    format_error ("%s: the image is empty (its virtual size is 0 bytes)", in->path);
    return -1;
  }
  /* Temporary file in the output's directory (a short name, so that any
   * legal output name works). */
  char dirbuf[PATH_MAX], basebuf[PATH_MAX], tmp[PATH_MAX];
  if (strlen (out_path) >= sizeof dirbuf) {
    format_error ("%s: output path too long", out_path);
    return -1;
  }
  snprintf (dirbuf, sizeof dirbuf, "%s", out_path);
  snprintf (basebuf, sizeof basebuf, "%s", out_path);
  const char *dir = dirname (dirbuf), *base = basename (basebuf);
  if (snprintf (tmp, sizeof tmp, "%s/" TMP_PREFIX "XXXXXX", dir) >= (int) sizeof tmp) {
    format_error ("%s: output path too long", out_path);
    return -1;
  }
  struct stat sb;
  if (stat (out_path, &sb) == 0 && S_ISDIR (sb.st_mode)) {
    format_error ("%s: is a directory", out_path);
    return -1;
  }
  convert_clean_stale (dir);
  int fd = mkstemp (tmp);
  if (fd == -1) {
    format_error ("cannot write in %s: %s", dir, strerror (errno));
    return -1;
  }
  flock (fd, LOCK_EX | LOCK_NB);
  int slot = guard (tmp, in->path);
  fchmod (fd, 0644);

  struct writer w = {
    .ops = fmt, .fd = fd, .path = tmp, .name = base, .out_path = out_path, .size = (uint64_t) vsize,
    .opts = o->wopts,
  };
  writer_direct_open (&w);
  int ret = -1;
  if (fmt->w_open (&w) == -1)
    goto out;

  struct pipe_state ps = { .in = in, .discard = o->discard, .mft = o->mft };
  pthread_mutex_init (&ps.lock, NULL);
  pthread_cond_init (&ps.cond, NULL);
  for (int i = 0; i < NBUF; ++i) {
    ps.slots[i].buf = ps.slots[i].data = aligned_alloc (4096, CHUNK);  /* direct I/O */
    if (!ps.slots[i].buf)
      abort ();
  }
  pthread_t th;
  if (pthread_create (&th, NULL, reader, &ps) != 0)
    abort ();
  int failed = 0;
  uint64_t since_writeback = 0;
  for (int i = 0; ; i = (i + 1) % NBUF) {
    wait_slot (&ps, i, 1);
    struct slot *sl = &ps.slots[i];
    if (sl->end) {
      failed = sl->error;
      break;
    }
    uint64_t before = w.bytes_written;
    /* The buffer is reused once released: write what was gathered. */
    int bad = write_nonzero (&w, sl->data, sl->len, sl->off) == -1
      || writer_data_flush (&w) == -1;
    unmap_slot (sl);
    if (bad) {
      failed = 1;
      break;
    }
    /* Start writing back early, so the final fsync has little left. */
    since_writeback += w.bytes_written - before;
    if (since_writeback >= WRITEBACK) {
      sync_file_range (fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      since_writeback = 0;
    }
    if (o->progress)
      o->progress (o->opaque, sl->off + sl->len, in->size);
    pthread_mutex_lock (&ps.lock);
    ps.full[i] = 0;
    pthread_cond_broadcast (&ps.cond);
    pthread_mutex_unlock (&ps.lock);
  }
  pthread_mutex_lock (&ps.lock);
  ps.stop = 1;
  pthread_cond_broadcast (&ps.cond);
  pthread_mutex_unlock (&ps.lock);
  pthread_join (th, NULL);
  for (int i = 0; i < NBUF; ++i) {
    unmap_slot (&ps.slots[i]);
    free (ps.slots[i].buf);
  }
  pthread_mutex_destroy (&ps.lock);
  pthread_cond_destroy (&ps.cond);
  if (failed)
    goto out;
  /* A file that shrank while it was read gave holes (or SIGBUS, above)
   * where its data was: do not pass that off as the image. */
  for (struct image *i = in; i; i = i->backing)
    if (fstat (i->fd, &sb) == 0 && S_ISREG (sb.st_mode)
        && (uint64_t) sb.st_size != i->file_size) {
      format_error ("%s: the input file changed or could not be read while "
                    "being converted", i->path);
      goto out;
    }
  if (o->progress)
    o->progress (o->opaque, in->size, in->size);
  if (fmt->w_finish (&w) == -1 || writer_data_flush (&w) == -1
      || writer_seq_flush (&w) == -1)
    goto out;
  if (fsync (fd) == -1) {
    format_error ("%s: fsync: %s", out_path, strerror (errno));
    goto out;
  }
  if (o->checksum && sha256_file (fd, r->sha256) == -1) {
    format_error ("%s: cannot read back for the checksum: %s", out_path, strerror (errno));
    goto out;
  }
  if (fstat (fd, &sb) == 0)
    r->file_size = sb.st_size;
  if (rename (tmp, out_path) == -1) {
    format_error ("cannot rename %s to %s: %s", tmp, out_path, strerror (errno));
    goto out;
  }
  unguard (slot);
  slot = -1;
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  r->virtual_size = w.size;
  r->bytes_written = w.bytes_written;
  r->direct_io_bytes = w.direct_bytes;
  r->mft_records_cleared = ps.mft_cleared;
  r->mft_records_trimmed = ps.mft_trimmed;
  ret = 0;
 out:
  if (fmt->w_free)
    fmt->w_free (&w);
  writer_direct_close (&w);
  close (fd);
  if (ret == -1)
    unlink (tmp);
  unguard (slot);
  return ret;
}
