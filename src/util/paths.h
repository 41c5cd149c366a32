/* winseal: the path policy (winseal(1), FILES AND PATHS): how host input
 * files are opened and read, which directories inputs may come from,
 * which paths an output may not take, the private temporary directories,
 * and the one handler for SIGINT, SIGTERM and SIGHUP. */
#ifndef WINSEAL_PATHS_H
#define WINSEAL_PATHS_H

#include <stddef.h>
#include <stdint.h>

/* The size limit of text inputs (catalogs, templates, answer files,
 * scripts): 16 MiB. */
#define WS_TEXT_MAX (16u << 20)

/* Read a host text input of at most max bytes (NUL-terminated; caller
 * frees).  FIFOs, devices and procfs/sysfs files are refused without
 * blocking.  what (may be NULL) names the input in messages:
 * "WHAT PATH: why".  NULL after one reported line. */
char *ws_read_text (const char *what, const char *path, size_t max, size_t *len_ret);

/* --allow-dir DIR: one more directory backing files, extents and template
 * files may be in.  -1 (reported) when DIR is not a directory. */
int ws_allow_dir (const char *dir);
/* Is path (following links) inside base_dir or an --allow-dir directory?
 * NULL when it is, else why not ("is outside BASE; ..."). */
const char *ws_outside (const char *path, const char *base_dir);
/* NULL when path is a regular file that may be read (not a FIFO, device
 * or procfs/sysfs file; checked without blocking), else why not. */
const char *ws_input_refused (const char *path);

/* The canonical name of a path that may not exist yet (links and ".."
 * resolved as far as the path exists); NULL when it names no file.
 * Caller frees. */
char *ws_canonical (const char *path);

/* A set of paths a run uses, to keep its outputs off its inputs and off
 * each other.  Files are matched by their canonical name (links and ".."
 * resolved) and, when they exist, by device and inode. */
struct pathset;
struct pathset *pathset_new (void);
void pathset_free (struct pathset *s);
/* An input: role names it in messages ("the input image", "the
 * manifest").  An image's whole backing chain is added by
 * pathset_add_image. */
void pathset_add (struct pathset *s, const char *path, const char *role);
/* An open image and every file of its backing chain. */
struct image;
void pathset_add_image (struct pathset *s, const struct image *img, const char *role);
/* An output (what = "-o", "--keep-overlay", ...): refused with one line
 * and -1 when it is, or resolves to, a path of the set; else added as
 * "another output of this run" and 0. */
int pathset_add_output (struct pathset *s, const char *what, const char *path);

/* Enough free space in dir for need bytes?  0, or -1 after one line. */
int ws_check_space (const char *what, const char *dir, uint64_t need);

/* ws_mkdtemp (winseal.h) makes $TMPDIR/winseal-PID-XXXXXX (mode 0700)
 * and holds a lock in it while the process lives; the first call removes
 * the directories of killed runs (unlocked ones).  ws_mkdtemp_in makes
 * DIR/PREFIX-PID-XXXXXX the same way. */
char *ws_mkdtemp_in (const char *dir, const char *prefix);
/* $TMPDIR, or /tmp when it is unset or empty. */
const char *ws_tmpdir (void);

/* The SHA-256 of a host file (a block device too, when allow_blockdev)
 * as lower-case hex.  0, or -1 with errno set and the failure reported
 * ("PATH: why"). */
int ws_sha256_path (const char *path, int allow_blockdev, char hex[65]);

/* Write a host file whole: under a temporary name beside it, fsynced,
 * then renamed over path (never a half-written file at path).  0, or -1
 * (reported; nothing left). */
int ws_write_file_atomic (const char *path, const void *data, size_t len);

/* Async-signal-safe: remove the temporary directories (ws_mkdtemp*) and
 * the output files in progress (formats' convert_abort_cleanup).  The
 * program's signal handlers (cli/signals.c) call it; util installs none. */
void ws_abort_cleanup (void);
/* In a forked child: the parent's temporary directories are the parent's
 * to remove (ws_abort_cleanup in the child then removes its own only). */
void ws_forget_tmpdirs (void);

#endif
