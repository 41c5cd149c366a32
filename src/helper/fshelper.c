/* winseal-fshelper: the file-system half of sid-reset, run inside the
 * libguestfs appliance.
 *
 * Why a helper: libguestfs 1.48 passes extended-attribute values as C
 * strings (guestfs_lsetxattr's "val" is a String), so a binary NTFS
 * security descriptor — which always holds NUL bytes — cannot be written
 * back through it; and one guestfs call per file (lgetxattr, then maybe
 * lsetxattr) would cost a protocol round trip each, which under TCG is
 * far slower than walking the tree where it is mounted.  winseal uploads
 * this static program to the appliance's own root (never into the
 * Windows volume: the volumes are mounted below that scratch root with
 * guestfs_mkmountpoint), where it stays until the appliance shuts down
 * (a clone's later passes and the hive writes run it again), and runs it
 * with guestfs_command.  It reads every descriptor through ntfs-3g's "system.ntfs_acl"
 * attribute, checks it (secdesc.c) before looking inside, moves the SIDs
 * of the old machine domain to the new one in place (same length), and
 * writes back only the descriptors that changed.
 *
 * usage: winseal-fshelper MODE OLD-SID NEW-SID MAXLIST [--save FILE]
 *                         [--from FILE PREV-SID] ROOT...
 *   --save FILE  write to FILE the paths of every entry that showed
 *                anything (old SID in its name or descriptor, a
 *                descriptor not parsed whole, an error)
 *   --from FILE PREV-SID  instead of walking the ROOTs, look at the paths
 *                a previous --save wrote, whose pass moved PREV-SID to
 *                OLD-SID and renamed entries accordingly (clone)
 *   MODE  walk     only walk the tree (lstat each entry): the floor
 *         count    read and check every descriptor, change nothing
 *         rewrite  read, check, and write back the changed descriptors
 *   MAXLIST  how many paths to list per kind (descriptors holding the
 *            old domain, malformed ones, errors); names holding the old
 *            SID are always listed (up to a hard limit).
 *
 * Output, one record per line, paths with \\, \n and \t escaped:
 *   S PATH            a descriptor holding the old domain (count: before;
 *                     rewrite: left after the rewrite, e.g. in an ACE of
 *                     a type not parsed)
 *   N PATH            an entry whose name holds the old SID string
 *   B PATH<TAB>WHY    a malformed descriptor (left untouched)
 *   U PATH<TAB>N      N ACEs of a type not parsed (left untouched)
 *   E PATH<TAB>ERROR  a descriptor that could not be read or written
 *   V ROOT<TAB>matched=N names=N   per ROOT, after its walk
 *   T key=value ...   the totals, last
 * Exit status 0 (also when entries were listed), 2 on bad usage.
 *
 * usage: winseal-fshelper install BLOB SPEC...
 *   writes the edited hives in one call (instead of one guestfs_upload
 *   each) into files that already exist (opened without O_CREAT, so each
 *   keeps its MFT record, attributes and security descriptor):
 *   W:OFF:LEN:PATH  PATH's new content is LEN bytes of BLOB from OFF
 *   E:PATH          empty the file of PATH's folder whose name matches
 *                   PATH's case-insensitively, if there is one and it is
 *                   not empty (a hive's stale .LOG1/.LOG2)
 *   Output: "W PATH", "E PATH" per file done, "X PATH<TAB>ERROR" per
 *   failure (exit status 1). */
#include <config.h>

#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "helper/helper-proto.h"
#include "win/secdesc.h"
#include "win/sid.h"

#define NAMES_MAX 50000         /* keeps guestfs_command's output well under its limit */
/* The largest self-relative descriptor: header, two SIDs, two ACLs of at
 * most 65535 bytes each. */
#define SD_BUF (20 + 2 * SID_MAX_BINARY + 2 * 65536)

enum mode { M_WALK, M_COUNT, M_REWRITE };

static enum mode mode;
static struct sid old_sid, new_sid;
static char old_str[SID_STRING_MAX];
static size_t old_len;
static uint8_t pattern[16];     /* 21 and the three sub-authorities, LE */
static unsigned long maxlist;
static uint8_t buf[SD_BUF];

static struct {
  size_t scanned, with_sd, matched, rewritten, left, unknown, bad, errors, names, no_sd;
  size_t listed_s, listed_b, listed_u, listed_e;
} t;

static void
record (char kind, size_t *listed, const char *path, const char *extra)
{
  if (listed) {
    if (*listed >= maxlist)
      return;
    ++*listed;
  }
  putchar (kind);
  putchar (' ');
  helper_put_path (stdout, path);
  if (extra) {
    putchar ('\t');
    fputs (extra, stdout);
  }
  putchar ('\n');
}

/* Does a file name hold the old SID string, not followed by a digit (so
 * that S-1-5-21-1-2-3 does not match S-1-5-21-1-2-34)? */
static int
name_has_old_sid (const char *name)
{
  for (const char *p = name; *p; ++p) {
    if ((*p == 'S' || *p == 's') && strncasecmp (p, old_str, old_len) == 0
        && !(p[old_len] >= '0' && p[old_len] <= '9'))
      return 1;
  }
  return 0;
}

static FILE *save_fp;          /* --save: the paths worth a look next time */

static void
save (const char *path)
{
  if (save_fp) {
    FILE *keep = stdout;
    stdout = save_fp;
    helper_put_path (stdout, path);
    putchar ('\n');
    stdout = keep;
  }
}

static int visit_1 (const char *path, const struct stat *sb, int flag, struct FTW *ftw);

/* Every entry that showed anything (the old SID in its name or
 * descriptor, a descriptor not parsed whole, an error) is saved. */
static int
visit (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  size_t before = t.names + t.matched + t.left + t.unknown + t.bad + t.errors;
  int r = visit_1 (path, sb, flag, ftw);
  if (t.names + t.matched + t.left + t.unknown + t.bad + t.errors != before)
    save (path);
  return r;
}

static int
visit_1 (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void) sb;
  t.scanned++;
  if (flag == FTW_DNR || flag == FTW_NS) {
    t.errors++;
    record ('E', &t.listed_e, path, flag == FTW_DNR ? "cannot read the directory"
                                                    : "cannot stat");
    if (flag == FTW_NS)
      return 0;
  }
  if (mode == M_WALK)
    return 0;
  if (ftw->level > 0 && name_has_old_sid (path + ftw->base)) {
    if (t.names < NAMES_MAX)
      record ('N', NULL, path, NULL);
    t.names++;
  }
  ssize_t n = lgetxattr (path, "system.ntfs_acl", buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP) {
      t.no_sd++;
      return 0;
    }
    t.errors++;
    record ('E', &t.listed_e, path, strerror (errno));
    return 0;
  }
  t.with_sd++;
  const char *why;
  struct sd_stats st;
  int had = memmem (buf, n, pattern, sizeof pattern) != NULL;
  if (sd_move_domain (buf, n, &old_sid, &new_sid, &st, &why) == -1) {
    t.bad++;
    record ('B', &t.listed_b, path, why);
    return 0;
  }
  if (st.unknown_aces) {
    char num[32];
    snprintf (num, sizeof num, "%zu", st.unknown_aces);
    t.unknown++;
    record ('U', &t.listed_u, path, num);
  }
  if (st.moved)
    t.matched++;
  if (mode == M_COUNT) {
    if (st.moved || had)
      record ('S', &t.listed_s, path, NULL);
    return 0;
  }
  if (st.moved) {
    if (lsetxattr (path, "system.ntfs_acl", buf, n, 0) == -1) {
      t.errors++;
      record ('E', &t.listed_e, path, strerror (errno));
      return 0;
    }
    t.rewritten++;
  }
  /* The old domain's bytes left over (in an ACE of a type not parsed, or
   * outside any SID): reported, never guessed at. */
  if (had && memmem (buf, n, pattern, sizeof pattern)) {
    t.left++;
    record ('S', &t.listed_s, path, NULL);
  }
  return 0;
}

static int
install_fail (const char *path, const char *what)
{
  printf ("X ");
  helper_put_path (stdout, path);
  printf ("\t%s: %s\n", what, strerror (errno));
  return 1;
}

/* W:OFF:LEN:PATH */
static int
install_write (int bfd, const char *spec)
{
  char *end;
  errno = 0;
  uint64_t off = strtoull (spec + 2, &end, 10);
  if (errno || *end != ':')
    return errno = EINVAL, install_fail (spec, "bad spec");
  uint64_t len = strtoull (end + 1, &end, 10);
  if (errno || *end != ':' || !end[1])
    return errno = EINVAL, install_fail (spec, "bad spec");
  const char *path = end + 1;
  int fd = open (path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    return install_fail (path, "open");
  static char chunk[1 << 20];
  while (len) {
    size_t want = len < sizeof chunk ? len : sizeof chunk;
    ssize_t n = pread (bfd, chunk, want, (off_t) off);
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      close (fd);
      return install_fail (path, "read the blob");
    }
    for (ssize_t done = 0; done < n; ) {
      ssize_t w = write (fd, chunk + done, n - done);
      if (w < 0) {
        close (fd);
        return install_fail (path, "write");
      }
      done += w;
    }
    off += n;
    len -= n;
  }
  if (close (fd) == -1)
    return install_fail (path, "close");
  printf ("W ");
  helper_put_path (stdout, path);
  putchar ('\n');
  return 0;
}

/* E:PATH */
static int
install_empty (const char *path)
{
  char dbuf[4096], bbuf[4096];
  if (snprintf (dbuf, sizeof dbuf, "%s", path) >= (int) sizeof dbuf)
    return errno = ENAMETOOLONG, install_fail (path, "path");
  snprintf (bbuf, sizeof bbuf, "%s", path);
  const char *dir = dirname (dbuf), *base = basename (bbuf);
  DIR *d = opendir (dir);
  if (!d)
    return errno == ENOENT ? 0 : install_fail (path, "opendir");
  int r = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL) {
    if (strcasecmp (e->d_name, base) != 0)
      continue;
    char full[8192];
    snprintf (full, sizeof full, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat (full, &st) == 0 && S_ISREG (st.st_mode) && st.st_size > 0) {
      if (truncate (full, 0) == -1)
        r = install_fail (full, "truncate");
      else {
        printf ("E ");
        helper_put_path (stdout, full);
        putchar ('\n');
      }
    }
  }
  closedir (d);
  return r;
}

static int
install (int argc, char **argv)
{
  int bfd = open (argv[2], O_RDONLY | O_CLOEXEC);
  if (bfd == -1) {
    fprintf (stderr, "winseal-fshelper: %s: %s\n", argv[2], strerror (errno));
    return 1;
  }
  int status = 0;
  for (int i = 3; i < argc; ++i) {
    if (strncmp (argv[i], "W:", 2) == 0)
      status |= install_write (bfd, argv[i]);
    else if (strncmp (argv[i], "E:", 2) == 0)
      status |= install_empty (argv[i] + 2);
    else {
      fprintf (stderr, "winseal-fshelper: bad install spec %s\n", argv[i]);
      status = 2;
    }
  }
  close (bfd);
  if (fflush (stdout) == EOF)
    status = 1;
  return status;
}

/* --from: the entries a previous pass saved, instead of a walk.  That
 * pass moved prev to the SID this one calls old and renamed the entries
 * named after prev: each path is looked up with prev replaced by old
 * (then as it was, for a rename that did not happen). */
static int
from_list (const char *file, const char *prev)
{
  FILE *fp = fopen (file, "r");
  if (!fp) {
    fprintf (stderr, "winseal-fshelper: %s: %s\n", file, strerror (errno));
    return 1;
  }
  char **lines = NULL;
  size_t n = 0, cap = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline (&line, &lcap, fp)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    if (!len)
      continue;
    helper_unescape (line);
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      lines = realloc (lines, cap * sizeof *lines);
      if (!lines)
        abort ();
    }
    lines[n++] = strdup (line);
  }
  free (line);
  fclose (fp);
  size_t plen = strlen (prev);
  for (size_t i = 0; i < n; ++i) {
    /* prev -> old wherever no digit follows. */
    char mapped[8192];
    size_t o = 0;
    for (const char *c = lines[i]; *c && o < sizeof mapped - SID_STRING_MAX; ) {
      if (strncasecmp (c, prev, plen) == 0 && !(c[plen] >= '0' && c[plen] <= '9')) {
        memcpy (mapped + o, old_str, old_len);
        o += old_len;
        c += plen;
      }
      else
        mapped[o++] = *c++;
    }
    mapped[o] = '\0';
    struct stat sb;
    const char *p = mapped;
    if (lstat (p, &sb) == -1) {
      p = lines[i];
      if (lstat (p, &sb) == -1) {
        free (lines[i]);
        continue;               /* gone (a removed recycle bin) */
      }
    }
    const char *slash = strrchr (p, '/');
    struct FTW f = { .base = slash ? (int) (slash - p + 1) : 0, .level = 1 };
    visit (p, &sb, S_ISDIR (sb.st_mode) ? FTW_D : FTW_F, &f);
    free (lines[i]);
  }
  free (lines);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 3 && strcmp (argv[1], "install") == 0)
    return install (argc, argv);
  if (argc < 6) {
    fprintf (stderr, "usage: winseal-fshelper walk|count|rewrite OLD-SID NEW-SID MAXLIST ROOT...\n");
    return 2;
  }
  if (strcmp (argv[1], "walk") == 0)
    mode = M_WALK;
  else if (strcmp (argv[1], "count") == 0)
    mode = M_COUNT;
  else if (strcmp (argv[1], "rewrite") == 0)
    mode = M_REWRITE;
  else {
    fprintf (stderr, "winseal-fshelper: unknown mode %s\n", argv[1]);
    return 2;
  }
  if (sid_parse (argv[2], &old_sid) == -1 || !sid_is_machine_domain (&old_sid)
      || sid_parse (argv[3], &new_sid) == -1 || !sid_is_machine_domain (&new_sid)) {
    fprintf (stderr, "winseal-fshelper: %s and %s must be machine SIDs S-1-5-21-X-Y-Z\n",
             argv[2], argv[3]);
    return 2;
  }
  sid_to_string (&old_sid, old_str);
  old_len = strlen (old_str);
  for (int i = 0; i < 4; ++i) {
    uint32_t v = old_sid.sub[i];
    pattern[4 * i] = v;
    pattern[4 * i + 1] = v >> 8;
    pattern[4 * i + 2] = v >> 16;
    pattern[4 * i + 3] = v >> 24;
  }
  maxlist = strtoul (argv[4], NULL, 10);
  int first = 5;
  const char *save_file = NULL, *from_file = NULL, *prev = NULL;
  for (;;) {
    if (first + 1 < argc && strcmp (argv[first], "--save") == 0) {
      save_file = argv[first + 1];
      first += 2;
    }
    else if (first + 2 < argc && strcmp (argv[first], "--from") == 0) {
      from_file = argv[first + 1];
      prev = argv[first + 2];
      first += 3;
    }
    else
      break;
  }
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  int status = 0;
  if (from_file) {
    /* Read the whole list before --save (maybe the same file) rewrites it. */
    FILE *keep = NULL;
    if (save_file && strcmp (save_file, from_file) == 0)
      keep = (FILE *) 1;
    if (!keep && save_file && !(save_fp = fopen (save_file, "w"))) {
      fprintf (stderr, "winseal-fshelper: %s: %s\n", save_file, strerror (errno));
      return 1;
    }
    if (keep) {
      /* from_list loads first; open the save file after. */
      char tmpname[4096];
      snprintf (tmpname, sizeof tmpname, "%s.new", save_file);
      if (!(save_fp = fopen (tmpname, "w"))) {
        fprintf (stderr, "winseal-fshelper: %s: %s\n", tmpname, strerror (errno));
        return 1;
      }
      status |= from_list (from_file, prev);
      if (fclose (save_fp) == EOF || rename (tmpname, save_file) == -1)
        status = 1;
      save_fp = NULL;
    }
    else
      status |= from_list (from_file, prev);
    first = argc;               /* no walk */
  }
  else if (save_file && !(save_fp = fopen (save_file, "w"))) {
    fprintf (stderr, "winseal-fshelper: %s: %s\n", save_file, strerror (errno));
    return 1;
  }
  for (int i = first; i < argc; ++i) {
    size_t matched = t.matched, names = t.names;
    if (nftw (argv[i], visit, 64, FTW_PHYS | FTW_MOUNT) == -1) {
      fprintf (stderr, "winseal-fshelper: %s: %s\n", argv[i], strerror (errno));
      status = 1;
    }
    printf ("V ");
    helper_put_path (stdout, argv[i]);
    printf ("\tmatched=%zu names=%zu\n", t.matched - matched, t.names - names);
  }
  if (save_fp && fclose (save_fp) == EOF)
    status = 1;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  printf ("T scanned=%zu with_sd=%zu no_sd=%zu matched=%zu rewritten=%zu left=%zu "
          "unknown=%zu bad=%zu errors=%zu names=%zu ms=%ld\n",
          t.scanned, t.with_sd, t.no_sd, t.matched, t.rewritten, t.left, t.unknown,
          t.bad, t.errors, t.names, ms);
  if (fflush (stdout) == EOF)
    status = 1;
  return status;
}
