/* formats: how writers put image data into the output file.
 *
 * Bulk data goes through a second descriptor opened with O_DIRECT when the
 * file system reports direct I/O alignment (statx STATX_DIOALIGN) and the
 * write is aligned: the data then goes straight to the device instead of
 * filling the page cache, and the fsync before the rename has almost
 * nothing left to write.  Contiguous aligned writes whose buffers stay
 * unchanged until writer_data_flush (the converter's read buffers) are
 * gathered into one pwritev.  Everything else -- metadata, unaligned
 * pieces, file systems without direct I/O -- is an ordinary pwrite on the
 * buffered descriptor.  The two descriptors never write the same bytes, and
 * the kernel keeps the page cache coherent with direct writes, so a later
 * read (the checksum) sees the file as written.
 *
 * Writers that produce their file front to back from buffers they reuse
 * (the VMDK stream, compressed qcow2 clusters) use writer_seq instead: the
 * bytes are copied into a staging buffer that goes out with one direct
 * write whenever it is full. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "format-int.h"

#define RUN_MAX (8u << 20)      /* bytes gathered into one direct write */
#define STAGE (4u << 20)        /* bytes staged for one sequential write */

void
writer_direct_open (struct writer *w)
{
  w->dfd = -1;
  w->nrun = 0;
  w->stage = NULL;
  w->stage_len = 0;
  if (getenv ("WINSEAL_NO_DIRECT_IO"))
    return;
  struct statx stx;
  if (statx (w->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == -1
      || !(stx.stx_mask & STATX_DIOALIGN)
      || stx.stx_dio_offset_align == 0 || stx.stx_dio_mem_align == 0
      || stx.stx_dio_offset_align > 65536 || stx.stx_dio_mem_align > 65536)
    return;                     /* no direct I/O here: buffered only */
  int fd = open (w->path, O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd == -1)
    return;
  w->dfd = fd;
  w->dio_off = stx.stx_dio_offset_align;
  w->dio_mem = stx.stx_dio_mem_align;
}

void
writer_direct_close (struct writer *w)
{
  if (w->dfd >= 0)
    close (w->dfd);
  w->dfd = -1;
  w->nrun = 0;
  free (w->stage);
  w->stage = NULL;
  w->stage_len = 0;
}

static int
report (struct writer *w)
{
  format_error ("%s: write error: %s", writer_display (w), strerror (errno));
  return -1;
}

/* Write the gathered run through the direct descriptor; if the file system
 * refuses the direct write after all, stop using direct I/O and write the
 * run (and everything after it) through the page cache. */
int
writer_data_flush (struct writer *w)
{
  if (w->nrun == 0)
    return 0;
  struct iovec *iov = w->run;
  int n = w->nrun;
  uint64_t off = w->run_off;
  w->nrun = 0;
  while (n > 0) {
    ssize_t r = pwritev (w->dfd, iov, n, (off_t) off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1 && errno == EINVAL && w->dfd >= 0) {
      close (w->dfd);           /* the staging buffer may be in the run */
      w->dfd = -1;
      for (int i = 0; i < n; ++i) {
        if (full_pwrite (w->fd, iov[i].iov_base, iov[i].iov_len, off) == -1)
          return report (w);
        off += iov[i].iov_len;
      }
      return 0;
    }
    if (r == -1)
      return report (w);
    w->direct_bytes += (uint64_t) r;
    if (r == 0) {
      errno = EIO;
      return report (w);
    }
    /* A short write: go on after what was written (the rest through the
     * page cache, since it may no longer be aligned). */
    off += (uint64_t) r;
    while (n > 0 && (size_t) r >= iov->iov_len) {
      r -= (ssize_t) iov->iov_len;
      ++iov;
      --n;
    }
    if (n > 0 && r > 0) {
      if (full_pwrite (w->fd, (const uint8_t *) iov->iov_base + r,
                       iov->iov_len - (size_t) r, off) == -1)
        return report (w);
      off += iov->iov_len - (size_t) r;
      ++iov;
      --n;
    }
  }
  return 0;
}

int
writer_data (struct writer *w, const void *buf, size_t len, uint64_t off,
             bool stable)
{
  if (len == 0)
    return 0;
  bool direct = w->dfd >= 0 && (uintptr_t) buf % w->dio_mem == 0
    && len % w->dio_off == 0 && off % w->dio_off == 0;
  if (direct && w->nrun > 0 && w->nrun < WRITER_RUN_IOV
      && off == w->run_off + w->run_len && w->run_len + len <= RUN_MAX) {
    w->run[w->nrun].iov_base = (void *) buf;
    w->run[w->nrun].iov_len = len;
    w->nrun++;
    w->run_len += len;
  }
  else {
    if (writer_data_flush (w) == -1)
      return -1;
    if (!direct)
      return full_pwrite (w->fd, buf, len, off) == -1 ? report (w) : 0;
    w->run[0].iov_base = (void *) buf;
    w->run[0].iov_len = len;
    w->nrun = 1;
    w->run_off = off;
    w->run_len = len;
  }
  return stable ? 0 : writer_data_flush (w);
}

/* Write the staged bytes: the aligned part directly, the rest through the
 * page cache. */
int
writer_seq_flush (struct writer *w)
{
  if (w->stage_len == 0)
    return 0;
  if (writer_data_flush (w) == -1)      /* the run (not used alongside) */
    return -1;
  size_t len = w->stage_len;
  size_t direct = w->dfd >= 0 ? len - len % w->dio_off : 0;
  w->stage_len = 0;
  if (direct) {
    w->run[0].iov_base = w->stage;
    w->run[0].iov_len = direct;
    w->nrun = 1;
    w->run_off = w->stage_off;
    w->run_len = direct;
    if (writer_data_flush (w) == -1)
      return -1;
  }
  if (len > direct
      && full_pwrite (w->fd, w->stage + direct, len - direct, w->stage_off + direct) == -1)
    return report (w);
  return 0;
}

int
writer_seq (struct writer *w, const void *buf, size_t len, uint64_t off)
{
  if (w->dfd < 0)
    return full_pwrite (w->fd, buf, len, off) == -1 ? report (w) : 0;
  const uint8_t *p = buf;
  if (w->stage_len && off != w->stage_off + w->stage_len
      && writer_seq_flush (w) == -1)
    return -1;
  if (w->stage_len == 0) {
    /* Start staging at an aligned offset; what comes before it goes
     * through the page cache. */
    size_t head = (w->dio_off - off % w->dio_off) % w->dio_off;
    if (head > len)
      head = len;
    if (head && full_pwrite (w->fd, p, head, off) == -1)
      return report (w);
    p += head;
    off += head;
    len -= head;
    if (len == 0)
      return 0;
    if (!w->stage && !(w->stage = aligned_alloc (4096, STAGE)))
      abort ();
    w->stage_off = off;
  }
  while (len) {
    size_t n = STAGE - w->stage_len < len ? STAGE - w->stage_len : len;
    memcpy (w->stage + w->stage_len, p, n);
    w->stage_len += n;
    p += n;
    len -= n;
    if (w->stage_len == STAGE) {
      uint64_t next = w->stage_off + STAGE;
      if (writer_seq_flush (w) == -1)
        return -1;
      w->stage_off = next;      /* the next bytes follow on */
      if (w->dfd < 0)           /* direct I/O refused after all */
        return len && full_pwrite (w->fd, p, len, next) == -1 ? report (w) : 0;
    }
  }
  return 0;
}

int
writer_blocks (struct writer *w, uint64_t off, const void *buf, size_t len,
               uint64_t block_size, int64_t (*where) (struct writer *w, uint64_t block))
{
  const uint8_t *p = buf;
  while (len) {
    uint64_t b = off / block_size, in = off % block_size;
    size_t n = block_size - in < len ? (size_t) (block_size - in) : len;
    int64_t at = where (w, b);
    if (at < 0 || writer_data (w, p, n, (uint64_t) at + in, true) == -1)
      return -1;
    w->bytes_written += n;
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}
