/* winseal: the path policy (see paths.h and winseal(1), FILES AND PATHS). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "formats/format.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

/* ---- text inputs ---- */

char *
ws_read_text (const char *what, const char *path, size_t max, size_t *len_ret)
{
  const char *w = what ? what : "", *sp = what ? " " : "";
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd == -1) {
    ws_error ("%s%s%s: %s", w, sp, path, strerror (errno));
    return NULL;
  }
  struct stat sb;
  const char *why = input_fd_refused (fd, 0, &sb);
  if (!why && (uint64_t) sb.st_size > max) {
    ws_error ("%s%s%s: is larger than %zu bytes, the limit for this input", w, sp, path, max);
    close (fd);
    return NULL;
  }
  if (why) {
    ws_error ("%s%s%s: %s", w, sp, path, why);
    close (fd);
    return NULL;
  }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  size_t cap = (size_t) sb.st_size + 1, len = 0;
  char *buf = ws_malloc (cap + 1);
  for (;;) {
    if (len == cap) {
      if (cap > max)
        break;
      cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
      buf = ws_realloc (buf, cap + 1);
    }
    ssize_t n = read (fd, buf + len, cap - len);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1) {
      ws_error ("%s%s%s: %s", w, sp, path, strerror (errno));
      close (fd);
      free (buf);
      return NULL;
    }
    if (n == 0)
      break;
    len += n;
  }
  close (fd);
  if (len > max) {
    ws_error ("%s%s%s: is larger than %zu bytes, the limit for this input", w, sp, path, max);
    free (buf);
    return NULL;
  }
  buf[len] = '\0';
  if (len_ret)
    *len_ret = len;
  return buf;
}

json_object *
json_read_strict (const char *path, size_t max)
{
  size_t len;
  CLEANUP_FREE char *text = ws_read_text (NULL, path, max, &len);
  return text ? json_parse_strict (path, text, len) : NULL;
}

/* ---- directories inputs may come from ---- */

static size_t n_allowed;

int
ws_allow_dir (const char *dir)
{
  char real[PATH_MAX];
  struct stat sb;
  if (!realpath (dir, real) || stat (real, &sb) == -1 || !S_ISDIR (sb.st_mode)) {
    ws_error ("--allow-dir %s: %s", dir, errno ? strerror (errno) : "not a directory");
    return -1;
  }
  format_allowed_dirs = ws_realloc (format_allowed_dirs, (n_allowed + 2) * sizeof (char *));
  format_allowed_dirs[n_allowed++] = ws_strdup (real);
  format_allowed_dirs[n_allowed] = NULL;
  return 0;
}

const char *
ws_outside (const char *path, const char *base_dir)
{
  static __thread char why[PATH_MAX + 128];
  char real[PATH_MAX], base[PATH_MAX];
  if (!realpath (path, real))
    return strerror (errno);
  if (realpath (base_dir, base) && path_inside (real, base))
    return NULL;
  for (size_t i = 0; i < n_allowed; ++i)
    if (path_inside (real, format_allowed_dirs[i]))
      return NULL;
  snprintf (why, sizeof why, "is outside %s; winseal reads such files only there or "
            "under --allow-dir DIR", base_dir);
  return why;
}

const char *
ws_input_refused (const char *path)
{
  static __thread char why[128];
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd == -1)
    return strerror (errno);
  const char *w = input_fd_refused (fd, 0, NULL);
  if (w)
    snprintf (why, sizeof why, "%s", w);
  close (fd);
  return w ? why : NULL;
}

/* ---- outputs that must not be inputs ---- */

struct pathset {
  struct strmap *m;             /* "p:CANONICAL" and "i:DEV:INO" -> role */
  char **roles;                 /* owned role strings */
  size_t nroles;
};

struct pathset *
pathset_new (void)
{
  struct pathset *s = ws_malloc (sizeof *s);
  memset (s, 0, sizeof *s);
  s->m = strmap_new ();
  return s;
}

void
pathset_free (struct pathset *s)
{
  if (!s)
    return;
  strmap_free (s->m);
  for (size_t i = 0; i < s->nroles; ++i)
    free (s->roles[i]);
  free (s->roles);
  free (s);
}

static const char *
set_find (const struct pathset *s, const char *key)
{
  void *v;
  return strmap_get (s->m, key, &v) ? v : NULL;
}

static void
set_put (struct pathset *s, char *key, const char *role)
{
  strmap_put (s->m, key, (void *) role);     /* the first role stays */
  free (key);
}

static const char *
own_role (struct pathset *s, const char *role)
{
  s->roles = ws_realloc (s->roles, (s->nroles + 1) * sizeof *s->roles);
  return s->roles[s->nroles++] = ws_strdup (role);
}

/* The canonical name of a path that may not exist yet: the real path of
 * its longest existing prefix, then the rest as written.  NULL when the
 * rest holds "." or ".." or the path names no file. */
static char *
canonical (const char *path)
{
  char real[PATH_MAX];
  if (realpath (path, real))
    return ws_strdup (real);
  if (errno != ENOENT)
    return NULL;
  CLEANUP_FREE char *copy = ws_strdup (path);
  size_t l = strlen (copy);
  while (l > 1 && copy[l - 1] == '/')
    copy[--l] = '\0';
  char *slash = strrchr (copy, '/');
  const char *base = slash ? slash + 1 : copy;
  if (!*base || !strcmp (base, ".") || !strcmp (base, ".."))
    return NULL;
  CLEANUP_FREE char *dir = slash == copy ? ws_strdup ("/") : slash
    ? (*slash = '\0', canonical (copy)) : canonical (".");
  if (!dir)
    return NULL;
  return ws_asprintf ("%s%s%s", dir, strcmp (dir, "/") ? "/" : "", base);
}

char *
ws_canonical (const char *path)
{
  return canonical (path);
}

static void
add_keys (struct pathset *s, const char *path, const char *role)
{
  char *c = canonical (path);
  if (c)
    set_put (s, ws_asprintf ("p:%s", c), role);
  free (c);
  struct stat sb;
  if (stat (path, &sb) == 0)
    set_put (s, ws_asprintf ("i:%jx:%jx", (uintmax_t) sb.st_dev, (uintmax_t) sb.st_ino), role);
}

void
pathset_add (struct pathset *s, const char *path, const char *role)
{
  add_keys (s, path, own_role (s, role));
}

void
pathset_add_image (struct pathset *s, const struct image *img, const char *role)
{
  pathset_add (s, img->path, role);
  CLEANUP_FREE char *brole = ws_asprintf ("a backing file of %s", role);
  const char *br = own_role (s, brole);
  for (struct image *b = img->backing; b; b = b->backing)
    add_keys (s, b->chain[b->depth], br);
}

int
pathset_add_output (struct pathset *s, const char *what, const char *path)
{
  CLEANUP_FREE char *c = canonical (path);
  if (!c) {
    ws_error ("%s %s: not a file name in an existing directory", what, path);
    return -1;
  }
  CLEANUP_FREE char *pk = ws_asprintf ("p:%s", c);
  const char *role = set_find (s, pk);
  struct stat sb;
  if (!role && stat (path, &sb) == 0) {
    CLEANUP_FREE char *ik = ws_asprintf ("i:%jx:%jx", (uintmax_t) sb.st_dev, (uintmax_t) sb.st_ino);
    role = set_find (s, ik);
  }
  if (role) {
    ws_error ("%s %s: is %s; refused (nothing was written)", what, path, role);
    return -1;
  }
  CLEANUP_FREE char *r = ws_asprintf ("another output of this run (%s)", what);
  add_keys (s, path, own_role (s, r));
  return 0;
}

int
ws_check_space (const char *what, const char *dir, uint64_t need)
{
  struct statvfs sv;
  if (statvfs (dir, &sv) == -1)
    return 0;                   /* not knowable: the writes will tell */
  uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
  if (avail >= need)
    return 0;
  ws_error ("%s %s: %" PRIu64 " MiB free, winseal needs about %" PRIu64 " MiB there "
            "for this run; free space or point %s elsewhere", what, dir, avail >> 20,
            (need + (1 << 20) - 1) >> 20, what);
  return -1;
}

/* ---- private temporary directories ---- */

#define TMPDIRS_MAX 64
static char tmpdirs[TMPDIRS_MAX][PATH_MAX];
static int tmpdir_lock_fd[TMPDIRS_MAX];
static pthread_mutex_t tmpdirs_lock = PTHREAD_MUTEX_INITIALIZER;

/* Remove DIR/NAME-PID-XXXXXX directories whose lock nobody holds. */
static void
clean_stale (const char *dir, const char *prefix)
{
  DIR *d = opendir (dir);
  if (!d)
    return;
  size_t pl = strlen (prefix);
  struct dirent *de;
  while ((de = readdir (d))) {
    const char *n = de->d_name;
    if (strncmp (n, prefix, pl) != 0 || n[pl] != '-' || !(n[pl + 1] >= '0' && n[pl + 1] <= '9'))
      continue;
    CLEANUP_FREE char *lock = ws_asprintf ("%s/%s/.lock", dir, n);
    int fd = open (lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1)
      continue;
    struct stat sb;
    if (fstat (fd, &sb) == 0 && sb.st_uid == geteuid ()
        && flock (fd, LOCK_EX | LOCK_NB) == 0) {
      CLEANUP_FREE char *victim = ws_asprintf ("%s/%s", dir, n);
      ws_rmtree (victim);
    }
    close (fd);
  }
  closedir (d);
}

static const char *tmp_base;
static void clean_tmp_base (void) { clean_stale (tmp_base, "winseal"); }

char *
ws_mkdtemp_in (const char *base, const char *prefix)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  if (strcmp (prefix, "winseal") == 0) {
    tmp_base = base;            /* once per process: TMPDIR does not change */
    pthread_once (&once, clean_tmp_base);
  }
  else
    clean_stale (base, prefix);
  char *dir = ws_asprintf ("%s/%s-%d-XXXXXX", base, prefix, (int) getpid ());
  if (mkdtemp (dir) == NULL) {
    ws_error ("cannot create a temporary directory in %s: %s", base, strerror (errno));
    free (dir);
    return NULL;
  }
  /* Locked before it has the name a cleaner looks for. */
  CLEANUP_FREE char *lock = ws_asprintf ("%s/.lock", dir);
  CLEANUP_FREE char *ltmp = ws_asprintf ("%s/.lock.new", dir);
  int fd = open (ltmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd == -1 || flock (fd, LOCK_EX) == -1 || rename (ltmp, lock) == -1) {
    ws_error ("%s: %s", lock, strerror (errno));
    if (fd != -1)
      close (fd);
    unlink (ltmp);
    rmdir (dir);
    free (dir);
    return NULL;
  }
  pthread_mutex_lock (&tmpdirs_lock);
  int slot = -1;
  for (int i = 0; i < TMPDIRS_MAX && slot < 0; ++i)
    if (!tmpdirs[i][0])
      slot = i;
  if (slot >= 0) {
    tmpdir_lock_fd[slot] = fd;
    snprintf (tmpdirs[slot], sizeof tmpdirs[slot], "%s", dir);
  }
  pthread_mutex_unlock (&tmpdirs_lock);
  if (slot < 0)
    close (fd);                 /* still removed on every normal path */
  return dir;
}

const char *
ws_tmpdir (void)
{
  const char *tmp = getenv ("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

char *
ws_mkdtemp (void)
{
  return ws_mkdtemp_in (ws_tmpdir (), "winseal");
}

/* A registered directory is forgotten (and its lock given up) before it
 * goes. */
static void
tmpdir_forget (const char *dir)
{
  pthread_mutex_lock (&tmpdirs_lock);
  for (int i = 0; i < TMPDIRS_MAX; ++i)
    if (tmpdirs[i][0] && strcmp (tmpdirs[i], dir) == 0) {
      tmpdirs[i][0] = '\0';
      close (tmpdir_lock_fd[i]);
    }
  pthread_mutex_unlock (&tmpdirs_lock);
}

static int
rm_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  return remove (path) == -1 && errno != ENOENT ? -1 : 0;
}

int
ws_rmtree (const char *dir)
{
  if (!dir)
    return 0;
  tmpdir_forget (dir);
  return nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
ws_read_file (const char *path, size_t max, size_t *len_ret)
{
  return ws_read_text (NULL, path, max, len_ret);
}

/* ---- signals ---- */

/* Remove a directory tree with system calls only (async-signal-safe):
 * getdents64, unlinkat, openat. */
static void
rm_tree_at (int parent, const char *name, int depth)
{
  if (unlinkat (parent, name, 0) == 0 || depth > 8)
    return;
  int fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    return;
  char buf[4096] __attribute__((aligned (8)));
  for (int pass = 0; pass < 64; ++pass) {
    lseek (fd, 0, SEEK_SET);
    long n, removed = 0, seen = 0;
    while ((n = syscall (SYS_getdents64, fd, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n; ) {
        struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; }
          *de = (void *) (buf + off);
        off += de->reclen;
        if (de->name[0] == '.' && (!de->name[1] || (de->name[1] == '.' && !de->name[2])))
          continue;
        seen++;
        rm_tree_at (fd, de->name, depth + 1);
        removed++;
      }
    }
    if (!seen || !removed)
      break;
  }
  close (fd);
  unlinkat (parent, name, AT_REMOVEDIR);
}

void
ws_abort_cleanup (void)
{
  convert_abort_cleanup ();
  for (int i = 0; i < TMPDIRS_MAX; ++i)
    if (tmpdirs[i][0])
      rm_tree_at (AT_FDCWD, tmpdirs[i], 0);
}

int
ws_sha256_path (const char *path, int allow_blockdev, char hex[65])
{
  int fd = open_input_file (path, allow_blockdev, NULL);      /* reports its failure */
  if (fd == -1)
    return -1;
  int r = sha256_file (fd, hex);
  int e = errno;
  if (r == -1)
    ws_error ("%s: %s", path, strerror (e));
  close (fd);
  errno = e;
  return r;
}

void
ws_forget_tmpdirs (void)
{
  pthread_mutex_lock (&tmpdirs_lock);
  for (int i = 0; i < TMPDIRS_MAX; ++i)
    tmpdirs[i][0] = '\0';
  pthread_mutex_unlock (&tmpdirs_lock);
}

int
ws_write_file_atomic (const char *path, const void *data, size_t len)
{
  CLEANUP_FREE char *tmp = ws_asprintf ("%s.winseal-XXXXXX", path);
  int fd = mkostemp (tmp, O_CLOEXEC);
  if (fd == -1) {
    ws_error ("%s: %s", path, strerror (errno));
    return -1;
  }
  const uint8_t *p = data;
  size_t done = 0;
  while (done < len) {
    ssize_t w = write (fd, p + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    done += (size_t) w;
  }
  int e = done == len ? 0 : errno ? errno : EIO;
  if (!e && (fchmod (fd, 0644) == -1 || fsync (fd) == -1))
    e = errno;
  if (close (fd) == -1 && !e)
    e = errno;
  if (!e && rename (tmp, path) == -1)
    e = errno;
  if (e) {
    ws_error ("%s: cannot write: %s", path, strerror (e));
    unlink (tmp);
    return -1;
  }
  return 0;
}
