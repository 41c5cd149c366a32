/* winseal: util/, the plumbing every layer shares: failure kinds, errors,
 * allocation, strings, cleanups. */
#ifndef WINSEAL_H
#define WINSEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* What the libraries say about a failure: its kind (they report the
 * message themselves).  Which exit status a kind gives is the program's
 * to decide (cli/cli.h: WS_EXIT_*, documented in winseal(1), EXIT
 * STATUS). */
enum ws_status {
  WS_OK = 0,
  WS_FAIL = 1,                  /* any failure not named below */
  WS_FAIL_UNREADABLE,           /* the image cannot be read (truncated, corrupt) */
  WS_FAIL_NOT_WINDOWS,          /* no Windows installation found */
  WS_FAIL_ENCRYPTED,            /* a BitLocker-encrypted volume */
  WS_FAIL_HIBERNATED,           /* a hibernated or Fast Startup volume */
  WS_FAIL_UNSUPPORTED,          /* a Windows not to generalize offline (older than
                                   Vista, a domain controller or member) */
};

/* Global options set by the command line before a subcommand runs. */
struct ws_globals {
  int verbose;               /* -v: libguestfs verbose */
  int trace;                 /* -x: libguestfs trace */
  int quiet;                 /* errors are recorded, not printed (fuzz harnesses) */
  const char *context;       /* prefixed to errors and warnings ("NAME: "), or NULL */
};
extern struct ws_globals ws_globals;

/* error.c: the one error convention.  ws_error prints "winseal: MSG" on
 * stderr; ws_warning prints "winseal: warning: MSG". */
void ws_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
void ws_warning (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
/* An error that ends the run whatever else fails after it (the appliance
 * was lost): printed once; every later ws_error is recorded as this one
 * and not printed. */
void ws_error_final (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
/* The last ws_error message (without "winseal: "), "" if none since
 * ws_clear_error. */
/* The last error reported by this thread. */
const char *ws_last_error (void);
/* A thread's own context (overrides ws_globals.context in that thread). */
extern __thread const char *ws_thread_context;
void ws_clear_error (void);

#include "util/cleanup.h"

/* util.c */
/* Wall-clock seconds (for elapsed times in reports and progress lines). */
double ws_now (void);
void free_string_list (char **argv);
size_t count_strings (char *const *argv);
/* Concatenate a NULL-terminated list of strings: caller frees. */
char *ws_strconcat (const char *first, ...) __attribute__((sentinel));
/* printf to a fresh string, aborting on ENOMEM: caller frees. */
char *ws_asprintf (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
void *ws_malloc (size_t n);
void *ws_realloc (void *p, size_t n);
char *ws_strdup (const char *s);
/* Make a private temporary directory (paths.c: mode 0700, locked while the
 * process lives, removed by the signal handler); caller removes it with
 * ws_rmtree and frees the name. */
char *ws_mkdtemp (void);
int ws_rmtree (const char *dir);
/* Append s (not copied) to a NULL-terminated list (NULL = empty); returns
 * the list, which the caller frees (not its strings). */
char **strv_push (char **list, const char *s);
/* Read a whole host file of at most max bytes, NUL-terminated; caller
 * frees.  NULL (reported) when unreadable, larger, or not a regular file
 * (paths.c: ws_read_text). */
char *ws_read_file (const char *path, size_t max, size_t *len_ret);
/* UTF-16LE (len bytes) to a fresh UTF-8 string; caller frees.  Stops at the
 * first NUL code unit.  Returns NULL on invalid input. */
char *utf16le_to_utf8 (const uint8_t *p, size_t len);
/* The number of characters (code points) in len bytes of UTF-8, or -1
 * when they are not valid UTF-8. */
#include <sys/types.h>
ssize_t utf8_count (const char *s, size_t len);
/* UTF-8 to UTF-16LE (no terminator); caller frees; *len_ret in bytes. */
uint8_t *utf8_to_utf16le (const char *s, size_t *len_ret);

/* A map from strings (copied) to pointers, for lookups that must stay
 * linear in the number of entries (batch catalogs, the path policy). */
struct strmap;
struct strmap *strmap_new (void);
void strmap_free (struct strmap *m);
/* 1 and *val_ret when key is there, else 0. */
int strmap_get (const struct strmap *m, const char *key, void **val_ret);
/* Add key; 0 (and nothing changed) when it is there already, else 1. */
int strmap_put (struct strmap *m, const char *key, void *val);

static inline uint16_t le16 (const uint8_t *p) { return p[0] | (p[1] << 8); }
static inline uint32_t le32 (const uint8_t *p)
{ return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24); }
static inline uint64_t le64 (const uint8_t *p)
{ return (uint64_t) le32 (p) | ((uint64_t) le32 (p + 4) << 32); }
static inline void put_le16 (uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put_le32 (uint8_t *p, uint32_t v)
{ p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline void put_le64 (uint8_t *p, uint64_t v)
{ put_le32 (p, (uint32_t) v); put_le32 (p + 4, (uint32_t) (v >> 32)); }
static inline uint32_t be32 (const uint8_t *p)
{ return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3]; }
static inline uint64_t be64 (const uint8_t *p)
{ return ((uint64_t) be32 (p) << 32) | be32 (p + 4); }

#endif /* WINSEAL_H */
