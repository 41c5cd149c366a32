/* formats: opening images, backing chains, the error hook, I/O helpers. */
#include <config.h>

#include <errno.h>
#include <sys/random.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bytes.h"
#include "format-int.h"

static void
default_hook (const char *msg)
{
  fflush (stdout);
  fprintf (stderr, "winseal: %s\n", msg);
}

void (*format_error_hook) (const char *msg) = default_hook;

void
format_error (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  int saved = errno;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  format_error_hook (buf);
  format_errors++;
  errno = saved;
}

volatile sig_atomic_t format_errors;

int
read_error (struct image *img, uint64_t off)
{
  struct stat sb;
  if (fstat (img->fd, &sb) == 0 && S_ISREG (sb.st_mode)
      && (uint64_t) sb.st_size < img->file_size)
    format_error ("%s: the input file changed or could not be read while "
                  "being converted", img->path);
  else
    format_error ("%s: read error at offset %" PRIu64 ": %s", img->path, off,
                  strerror (errno));
  return -1;
}

int
full_pread (int fd, void *buf, size_t len, uint64_t off)
{
  uint8_t *p = buf;
  while (len) {
    ssize_t r = pread (fd, p, len, (off_t) off);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0) {
      errno = EIO;              /* unexpected end of file */
      return -1;
    }
    p += r;
    off += r;
    len -= r;
  }
  return 0;
}

int
full_pwrite (int fd, const void *buf, size_t len, uint64_t off)
{
  const uint8_t *p = buf;
  while (len) {
    ssize_t r = pwrite (fd, p, len, (off_t) off);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += r;
    off += r;
    len -= r;
  }
  return 0;
}

bool
is_zero (const void *buf, size_t len)
{
  const uint8_t *p = buf;
  /* Check the first 16 bytes, then compare the buffer with itself shifted
   * by 16: fast, and needs no zero page. */
  size_t head = len < 16 ? len : 16;
  for (size_t i = 0; i < head; ++i)
    if (p[i])
      return false;
  return len <= 16 || memcmp (p, p + 16, len - 16) == 0;
}

/* File systems whose files are not disk images: procfs, sysfs, debugfs,
 * securityfs, tracefs, configfs, cgroup (their magic numbers, linux/magic.h). */
static int
pseudo_fs (int fd)
{
  static const unsigned long magic[] = {
    0x9fa0, 0x62656572, 0x64626720, 0x73636673, 0x74726163, 0x62656570,
    0x27e0eb, 0x63677270,
  };
  struct statfs sf;
  if (fstatfs (fd, &sf) == -1)
    return 0;
  for (size_t i = 0; i < sizeof magic / sizeof magic[0]; ++i)
    if ((unsigned long) sf.f_type == magic[i])
      return 1;
  return 0;
}

const char *
file_kind (unsigned int m)
{
  return S_ISREG (m) ? "a regular file" : S_ISDIR (m) ? "a directory"
    : S_ISFIFO (m) ? "a FIFO" : S_ISCHR (m) ? "a character device"
    : S_ISBLK (m) ? "a block device" : S_ISSOCK (m) ? "a socket" : "a special file";
}

const char *
input_fd_refused (int fd, int allow_blockdev, struct stat *st_ret)
{
  static __thread char why[96];
  struct stat sb;
  if (fstat (fd, &sb) == -1)
    return strerror (errno);
  if (!(S_ISREG (sb.st_mode) || (allow_blockdev && S_ISBLK (sb.st_mode)))) {
    snprintf (why, sizeof why, "is %s, not a regular file%s", file_kind (sb.st_mode),
              allow_blockdev ? " or block device" : "");
    return why;
  }
  if (pseudo_fs (fd))
    return "is a file of a kernel pseudo file system (procfs, sysfs, ...); refused";
  if (st_ret)
    *st_ret = sb;
  return NULL;
}

int
open_input_file (const char *path, int allow_blockdev, struct stat *st_ret)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd == -1) {
    int e = errno;
    format_error ("%s: %s", path, strerror (e));
    errno = e;
    return -1;
  }
  const char *why = input_fd_refused (fd, allow_blockdev, st_ret);
  if (why) {
    format_error ("%s: %s", path, why);
    close (fd);
    errno = EINVAL;
    return -1;
  }
  int fl = fcntl (fd, F_GETFL);
  if (fl != -1)
    fcntl (fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

int
open_disk_file (const char *path, uint64_t *size_ret)
{
  struct stat sb;
  int fd = open_input_file (path, 1, &sb);
  if (fd == -1)
    return -1;
  *size_ret = sb.st_size;
  if (S_ISBLK (sb.st_mode)) {
    off_t end = lseek (fd, 0, SEEK_END);
    *size_ret = end > 0 ? (uint64_t) end : 0;
  }
  return fd;
}

char **format_allowed_dirs;

bool
path_inside (const char *real, const char *dir)
{
  size_t l = strlen (dir);
  while (l > 1 && dir[l - 1] == '/')
    l--;
  if (l == 1 && dir[0] == '/')
    return real[0] == '/';
  return strncmp (real, dir, l) == 0 && (real[l] == '/' || real[l] == '\0');
}

/* May an image opened at depth > 0 (real path real) be read?  Only files
 * in the top image's directory or one of format_allowed_dirs (the path
 * policy, winseal(1)), regular files only. */
static int
linked_file_allowed (struct image *parent, const char *path, const char *real,
                     const char *what)
{
  const char *top = parent->chain[0];
  const char *slash = strrchr (top, '/');
  char topdir[PATH_MAX];
  snprintf (topdir, sizeof topdir, "%.*s", slash && slash != top ? (int) (slash - top) : 1,
            slash ? top : "/");
  int ok = path_inside (real, topdir) || (parent->extra_dir && path_inside (real, parent->extra_dir));
  for (size_t i = 0; !ok && format_allowed_dirs && format_allowed_dirs[i]; ++i)
    ok = path_inside (real, format_allowed_dirs[i]);
  if (!ok) {
    format_error ("%s: %s %s is outside %s (the input's directory); winseal follows "
                  "backing files and extents only there or under --allow-dir",
                  parent->chain[0], what, path, topdir);
    errno = EACCES;
    return 0;
  }
  return 1;
}

int
image_open_extent (struct image *parent, const char *path)
{
  char *full = NULL, real[PATH_MAX];
  if (path[0] != '/') {
    const char *slash = strrchr (parent->path, '/');
    if (slash && asprintf (&full, "%.*s/%s", (int) (slash - parent->path),
                           parent->path, path) == -1)
      abort ();
  }
  const char *p = full ? full : path;
  int fd = -1;
  if (!realpath (p, real))
    format_error ("%s: extent %s: %s", parent->path, p, strerror (errno));
  else if (linked_file_allowed (parent, p, real, "extent"))
    fd = open_input_file (p, 0, NULL);
  free (full);
  return fd;
}

static struct image *
open_at_depth (const char *path, const struct format_ops *fmt, int depth,
               char **above, struct image *parent, const char *extra_dir)
{
  char real[PATH_MAX];

  if (depth > MAX_BACKING_DEPTH) {
    format_error ("%s: backing chain is deeper than %d images (at %s)",
                  above && above[0] ? above[0] : path, MAX_BACKING_DEPTH, path);
    return NULL;
  }
  if (!realpath (path, real)) {
    if (parent)                 /* name the image that needs it */
      format_error ("%s: its backing file (parent) %s: %s", parent->path, path, strerror (errno));
    else
      format_error ("%s: %s", path, strerror (errno));
    return NULL;
  }
  size_t n = 0;
  for (; above && above[n]; ++n)
    if (strcmp (above[n], real) == 0) {
      format_error ("%s: backing chain loops back to %s", path, real);
      return NULL;
    }
  if (parent && !linked_file_allowed (parent, path, real, "backing file"))
    return NULL;
  uint64_t fsize;
  int fd;
  if (parent) {
    struct stat sb;
    fd = open_input_file (path, 0, &sb);
    fsize = sb.st_size;
  }
  else
    fd = open_disk_file (path, &fsize);
  if (fd == -1)
    return NULL;
  if (!fmt) {
    fmt = format_probe (fd, fsize, path);
    if (!fmt) {
      int e = errno;
      close (fd);
      errno = e;
      return NULL;
    }
  }
  struct image *img = calloc (1, sizeof *img);
  char **chain = calloc (n + 2, sizeof (char *));
  if (!img || !chain || !(img->path = strdup (path)))
    abort ();
  for (size_t i = 0; i < n; ++i)
    chain[i] = above[i];
  chain[n] = strdup (real);
  img->ops = fmt;
  img->fd = fd;
  img->file_size = fsize;
  img->depth = depth;
  img->chain = chain;
  if (parent)
    img->extra_dir = parent->extra_dir;
  else if (extra_dir) {
    char r2[PATH_MAX];
    img->extra_dir = img->own_extra_dir = strdup (realpath (extra_dir, r2) ? r2 : extra_dir);
    if (!img->extra_dir)
      abort ();
  }
  if (fmt->open (img) == -1) {
    image_close (img);
    return NULL;
  }
  return img;
}

struct image *
image_open (const char *path, const struct format_ops *fmt)
{
  return open_at_depth (path, fmt, 0, NULL, NULL, NULL);
}

struct image *
image_open_within (const char *path, const struct format_ops *fmt, const char *extra_dir)
{
  return open_at_depth (path, fmt, 0, NULL, NULL, extra_dir);
}

struct image *
image_open_backing (struct image *parent, const char *path,
                    const struct format_ops *fmt)
{
  char *full = NULL;
  if (path[0] != '/') {
    const char *slash = strrchr (parent->path, '/');
    if (slash && asprintf (&full, "%.*s/%s", (int) (slash - parent->path),
                           parent->path, path) == -1)
      abort ();
  }
  struct image *b = open_at_depth (full ? full : path, fmt, parent->depth + 1,
                                   parent->chain, parent, NULL);
  free (full);
  return b;
}

/* UTF-16 (big-endian for the header's parent name, little-endian for the
 * Windows locators) to UTF-8, at most out_len - 1 bytes; -1 for a lone
 * surrogate or NUL inside. */
int
utf16_to_utf8 (const uint8_t *in, size_t in_len, int big_endian, char *out, size_t out_len)
{
  size_t o = 0;
  for (size_t i = 0; i + 1 < in_len; i += 2) {
    uint32_t c = big_endian ? rd_be16 (in + i) : rd_le16 (in + i);
    if (c == 0)
      break;
    if (c >= 0xd800 && c < 0xdc00 && i + 3 < in_len) {
      uint32_t d = big_endian ? rd_be16 (in + i + 2) : rd_le16 (in + i + 2);
      if (d < 0xdc00 || d >= 0xe000)
        return -1;
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i += 2;
    }
    else if (c >= 0xd800 && c < 0xe000)
      return -1;
    char b[4];
    size_t n = c < 0x80 ? (b[0] = (char) c, 1)
      : c < 0x800 ? (b[0] = (char) (0xc0 | c >> 6), b[1] = (char) (0x80 | (c & 0x3f)), 2)
      : c < 0x10000 ? (b[0] = (char) (0xe0 | c >> 12), b[1] = (char) (0x80 | (c >> 6 & 0x3f)),
                       b[2] = (char) (0x80 | (c & 0x3f)), 3)
      : (b[0] = (char) (0xf0 | c >> 18), b[1] = (char) (0x80 | (c >> 12 & 0x3f)),
         b[2] = (char) (0x80 | (c >> 6 & 0x3f)), b[3] = (char) (0x80 | (c & 0x3f)), 4);
    if (o + n >= out_len)
      return -1;
    memcpy (out + o, b, n);
    o += n;
  }
  out[o] = '\0';
  return 0;
}

/* A locator's path made a POSIX path relative to the child's folder: a
 * relative Windows path (".\\base.vhd", "..\\x\\base.vhd") with its
 * separators turned; an absolute one ("C:\\VMs\\base.vhd", a MacX file
 * URL) by its last component, which is looked for beside the child. */
void
locator_path (char *p, int absolute)
{
  if (absolute) {
    char *last = NULL;
    for (char *c = p; *c; ++c)
      if (*c == '\\' || *c == '/')
        last = c;
    if (last)
      memmove (p, last + 1, strlen (last + 1) + 1);
    else if (p[0] && p[1] == ':')
      memmove (p, p + 2, strlen (p + 2) + 1);
    return;
  }
  /* A "relative" path that is rooted ("\\VMs\\x", "C:x", "\\\\server\\...")
   * means another place than the child's folder: by its last component. */
  if (p[0] == '\\' || p[0] == '/' || (p[0] && p[1] == ':')) {
    locator_path (p, 1);
    return;
  }
  size_t o = 0;
  for (size_t i = 0; p[i]; ++i) {
    char c = p[i] == '\\' ? '/' : p[i];
    if (c == '/' && o > 0 && p[o - 1] == '/')
      continue;                 /* two separators in a row: one */
    p[o++] = c;
  }
  p[o] = '\0';
  while (p[0] == '.' && p[1] == '/')
    memmove (p, p + 2, strlen (p + 2) + 1);
}

int
parent_not_made_from (struct image *img, const char *printable, const char *why)
{
  format_error ("%s: its parent \"%s\" is not the disk it was made from (%s)", img->path,
                printable, why);
  errno = EINVAL;
  return -1;
}

/* The first candidate that exists, relative to the child's folder,
 * opened as the child's backing image. */
struct image *
open_parent_candidates (struct image *img, char (*cand)[LOCATOR_PATH_MAX], int nc,
                        const struct format_ops *fmt, const char *what, char *printable,
                        size_t plen)
{
  const char *dir_end = strrchr (img->path, '/');
  int pick = -1;
  for (int i = 0; i < nc && pick < 0; ++i) {
    char *full = NULL;
    if (cand[i][0] != '/' && dir_end
        && asprintf (&full, "%.*s/%s", (int) (dir_end - img->path), img->path, cand[i]) == -1)
      abort ();
    if (access (full ? full : cand[i], F_OK) == 0)
      pick = i;
    free (full);
  }
  size_t k = 0;
  for (const char *c = nc ? cand[pick < 0 ? 0 : pick] : ""; *c && k + 1 < plen; ++c)
    printable[k++] = (unsigned char) *c < 0x20 || (unsigned char) *c == 0x7f ? '?' : *c;
  printable[k] = '\0';
  if (pick < 0) {
    format_error ("%s: a differencing %s whose parent \"%s\" is missing", img->path, what,
                  printable);
    errno = ENOENT;
    return NULL;
  }
  return image_open_backing (img, cand[pick], fmt);
}

const char *
image_qemu_differs (const struct image *img)
{
  for (; img; img = img->backing)
    if (img->qemu_differs)
      return img->qemu_differs;
  return NULL;
}

void
random_guid (uint8_t g[16], int le)
{
  if (getrandom (g, 16, 0) != 16)
    for (int i = 0; i < 16; ++i)
      g[i] = (uint8_t) rand ();
  int v = le ? 7 : 6;           /* the byte holding the version nibble */
  g[v] = (uint8_t) ((g[v] & 0x0F) | 0x40);
  g[8] = (uint8_t) ((g[8] & 0x3F) | 0x80);
}

void
image_close (struct image *img)
{
  if (!img)
    return;
  if (img->ops && img->ops->close && img->priv)
    img->ops->close (img);
  image_close (img->backing);
  if (img->fd >= 0)
    close (img->fd);
  if (img->chain) {
    /* Only the last entry is ours; the others belong to the images above. */
    size_t n = 0;
    while (img->chain[n])
      n++;
    if (n)
      free (img->chain[n - 1]);
    free (img->chain);
  }
  free (img->own_extra_dir);
  free (img->path);
  free (img);
}

int
hole_read (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct image *b = img->backing;
  if (!b || off >= b->size) {
    memset (buf, 0, len);
    return 0;
  }
  size_t in = off + len <= b->size ? len : (size_t) (b->size - off);
  if (image_pread (b, buf, in, off) == -1)
    return -1;
  memset ((uint8_t *) buf + in, 0, len - in);
  return 0;
}

int
image_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  if (off > img->size || len > img->size - off) {
    format_error ("%s: read beyond the end of the virtual disk", img->path);
    errno = EINVAL;
    return -1;
  }
  return img->ops->pread (img, buf, len, off);
}

int
image_extent_own (struct image *img, uint64_t off, uint64_t max,
                  uint64_t *len_ret, enum extent_type *type_ret)
{
  if (off >= img->size) {
    *len_ret = max;
    *type_ret = EXTENT_ZERO;
    return 0;
  }
  if (max > img->size - off)
    max = img->size - off;
  if (img->ops->extent (img, off, max, len_ret, type_ret) == -1)
    return -1;
  if (*len_ret == 0 || *len_ret > max) {
    format_error ("%s: internal error: bad extent length", img->path);
    return -1;
  }
  return 0;
}

int
image_extent (struct image *img, uint64_t off, uint64_t max,
              uint64_t *len_ret, enum extent_type *type_ret)
{
  if (image_extent_own (img, off, max, len_ret, type_ret) == -1)
    return -1;
  if (*type_ret == EXTENT_HOLE) {
    if (img->backing && off < img->backing->size)
      return image_extent (img->backing, off, *len_ret, len_ret, type_ret);
    *type_ret = EXTENT_ZERO;
  }
  return 0;
}

void
tcache_init (struct tcache *c, size_t bytes)
{
  memset (c, 0, sizeof *c);
  c->bytes = bytes;
  for (int i = 0; i < TCACHE_SLOTS; ++i) {
    c->s[i].off = UINT64_MAX;
    c->s[i].data = malloc (bytes);
    if (!c->s[i].data)
      abort ();
  }
}

void
tcache_free (struct tcache *c)
{
  for (int i = 0; i < TCACHE_SLOTS; ++i)
    free (c->s[i].data);
  memset (c, 0, sizeof *c);
}

const uint8_t *
tcache_get (struct tcache *c, int fd, uint64_t off)
{
  int hit = -1, old = 0;
  for (int i = 0; i < TCACHE_SLOTS; ++i) {
    if (c->s[i].off == off)
      hit = i;
    if (c->s[i].age < c->s[old].age)
      old = i;
  }
  if (hit < 0) {
    hit = old;
    c->s[hit].off = UINT64_MAX;
    if (full_pread (fd, c->s[hit].data, c->bytes, off) == -1)
      return NULL;
    c->s[hit].off = off;
  }
  c->s[hit].age = ++c->clock;
  return c->s[hit].data;
}

/* ---- images read through a callback ---- */

struct cb_priv {
  int (*pread) (void *opaque, void *buf, size_t len, uint64_t off);
  void *opaque;
};

static int
cb_pread (struct image *img, void *buf, size_t len, uint64_t off)
{
  struct cb_priv *p = img->priv;
  return p->pread (p->opaque, buf, len, off);
}

static int
cb_extent (struct image *img, uint64_t off, uint64_t max, uint64_t *len_ret,
           enum extent_type *type_ret)
{
  *len_ret = max;
  *type_ret = EXTENT_DATA;
  return 0;
}

static void
cb_close (struct image *img)
{
  free (img->priv);
}

static const struct format_ops format_callbacks = {
  .name = "callbacks", .qemu_name = "raw",
  .pread = cb_pread, .extent = cb_extent, .close = cb_close,
};

struct image *
image_open_callbacks (const char *name, uint64_t size,
                      int (*pread) (void *opaque, void *buf, size_t len, uint64_t off),
                      void *opaque)
{
  struct image *img = calloc (1, sizeof *img);
  struct cb_priv *p = malloc (sizeof *p);
  if (!img || !p || !(img->path = strdup (name)))
    abort ();
  *p = (struct cb_priv) { pread, opaque };
  img->ops = &format_callbacks;
  img->fd = -1;
  img->size = img->file_size = size;
  img->priv = p;
  return img;
}
