/* formats: raw disk images (read; write sparse, with holes for zeros). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format-int.h"

static int
raw_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
           size_t taillen, uint64_t size)
{
  return 1;                     /* anything is raw; never preferred */
}

static int
raw_open (struct image *img)
{
  img->size = img->file_size;
  img->priv = img;              /* no state of its own */
  return 0;
}

static void
raw_close (struct image *img)
{
}

static int
raw_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  if (full_pread (img->fd, buf, len, off) == -1)
    return read_error (img, off);
  return 0;
}

int
fd_extent (int fd, uint64_t base, uint64_t off, uint64_t max,
           uint64_t *len_ret, enum extent_type *type_ret)
{
  /* SEEK_DATA/SEEK_HOLE where the file system supports them; otherwise
   * everything is data. */
  off_t pos = (off_t) (base + off);
  off_t data = lseek (fd, pos, SEEK_DATA);
  if (data == -1) {
    if (errno == ENXIO) {       /* only a hole up to the end of file */
      *type_ret = EXTENT_HOLE;
      *len_ret = max;
      return 0;
    }
    *type_ret = EXTENT_DATA;
    *len_ret = max;
    return 0;
  }
  if (data > pos) {
    *type_ret = EXTENT_HOLE;
    *len_ret = (uint64_t) (data - pos) < max ? (uint64_t) (data - pos) : max;
    return 0;
  }
  off_t hole = lseek (fd, pos, SEEK_HOLE);
  *type_ret = EXTENT_DATA;
  if (hole == -1 || hole <= pos)
    *len_ret = max;
  else
    *len_ret = (uint64_t) (hole - pos) < max ? (uint64_t) (hole - pos) : max;
  return 0;
}

static int
raw_extent (struct image *img, uint64_t off, uint64_t max,
            uint64_t *len_ret, enum extent_type *type_ret)
{
  return fd_extent (img->fd, 0, off, max, len_ret, type_ret);
}

static int
raw_contiguous (struct image *img, uint64_t off, uint64_t len, uint64_t *file_off)
{
  *file_off = off;
  return 1;
}

static int
raw_w_open (struct writer *w)
{
  return 0;
}

int
raw_w_data (struct writer *w, uint64_t off, const void *buf, size_t len)
{
  /* The converter's buffers stay put until it flushes the writer. */
  if (writer_data (w, buf, len, off, true) == -1)
    return -1;
  w->bytes_written += len;
  return 0;
}

static int
raw_w_finish (struct writer *w)
{
  /* Sized at the end: writing into a file already extended over holes is
   * slower on some file systems than extending it. */
  if (ftruncate (w->fd, (off_t) w->size) == -1) {
    format_error ("%s: cannot size the output: %s", writer_display (w), strerror (errno));
    return -1;
  }
  return 0;
}

static void
raw_w_free (struct writer *w)
{
}

static int64_t
raw_w_size (uint64_t requested, const struct write_opts *opts)
{
  return (int64_t) requested;
}

const struct format_ops format_raw = {
  .name = "raw", .qemu_name = "raw", .probe = raw_probe,
  .open = raw_open, .close = raw_close, .pread = raw_pread, .extent = raw_extent,
  .contiguous = raw_contiguous,
  .w_open = raw_w_open, .w_data = raw_w_data, .w_finish = raw_w_finish,
  .w_free = raw_w_free, .w_size = raw_w_size,
};

int
block_map_pread (struct image *img, const struct block_map *m, void *buf, size_t len,
                 uint64_t off)
{
  uint8_t *p = buf;
  while (len) {
    uint64_t b = off / m->block_size, in = off % m->block_size;
    size_t n = m->block_size - in < len ? m->block_size - in : len;
    if (!m->off[b])
      memset (p, 0, n);
    else if (full_pread (img->fd, p, n, m->off[b] + in) == -1)
      return read_error (img, m->off[b] + in);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

int
block_map_extent (const struct block_map *m, uint64_t off, uint64_t max,
                  uint64_t *len_ret, enum extent_type *type_ret)
{
  uint64_t b = off / m->block_size;
  int absent = m->off[b] == 0;
  uint64_t len = 0;
  /* Neighbouring blocks of the same kind are one extent. */
  while (len < max && b < m->blocks && (m->off[b] == 0) == absent) {
    len += m->block_size - (off + len) % m->block_size;
    b++;
  }
  *len_ret = len < max ? len : max;
  *type_ret = absent ? EXTENT_ZERO : EXTENT_DATA;
  return 0;
}

int
block_map_contiguous (const struct block_map *m, uint64_t off, uint64_t len, uint64_t *file_off)
{
  uint64_t b = off / m->block_size, in = off % m->block_size;
  if (len > m->block_size - in || !m->off[b])
    return 0;
  *file_off = m->off[b] + in;
  return 1;
}

void
block_map_op_close (struct image *img)
{
  struct block_map *m = img->priv;
  if (!m)
    return;
  free (m->off);
  free (m);
}

int
block_map_op_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  return block_map_pread (img, img->priv, buf, len, off);
}

int
block_map_op_extent (struct image *img, uint64_t off, uint64_t max,
                     uint64_t *len_ret, enum extent_type *type_ret)
{
  return block_map_extent (img->priv, off, max, len_ret, type_ret);
}

int
block_map_op_contiguous (struct image *img, uint64_t off, uint64_t len, uint64_t *file_off)
{
  return block_map_contiguous (img->priv, off, len, file_off);
}
