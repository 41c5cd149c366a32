/* winseal: recovering a dirty hive from its transaction logs, as Windows
 * does when it loads one (hivelog.c), on host memory: no libguestfs.
 *
 * The rules are those of "Windows registry file format specification"
 * (Maxim Suhanov, sections "Format of transaction log files", "Dirty
 * state of a hive" and "Multiple transaction log files"). */
#ifndef WINSEAL_HIVELOG_H
#define WINSEAL_HIVELOG_H

#include <stddef.h>
#include <stdint.h>

/* A hive's transaction log (.LOG, .LOG1, .LOG2), read whole. */
struct hive_log {
  const char *name;             /* for messages ("SYSTEM.LOG1") */
  const uint8_t *data;
  size_t len;
};

enum hive_log_kind {
  HIVE_LOG_NONE,                /* empty, or not a log */
  HIVE_LOG_OLD,                 /* base block + "DIRT" dirty vector (XP to 8) */
  HIVE_LOG_NEW,                 /* base block + "HvLE" entries (8.1 and later) */
};

/* What happened to one log. */
struct hive_log_use {
  enum hive_log_kind kind;
  int valid;                    /* its base block (and dirty vector) is sound */
  int applied;                  /* something of it was applied */
  size_t entries;               /* new format: entries applied */
  uint32_t seq_first, seq_last; /* their sequence numbers */
  char note[160];               /* why it was not used, or what stopped it; "" */
};

#define HIVE_LOGS_MAX 3

struct hive_recovery {
  /* The recovered hive (caller frees); the whole file, base block first,
   * clean: both sequence numbers equal, the checksum right. */
  uint8_t *data;
  size_t len;
  int was_dirty;                /* the primary file was dirty */
  int bad_base_block;           /* its base block failed its checksum ... */
  int base_from_log;            /* ... and was taken from a log */
  uint32_t reconciled_to;       /* the hive was partly reconciled up to this
                                 * sequence number (0: it was not) */
  uint32_t trimmed_from;        /* an incomplete hive cut to its bins present:
                                 * the bins size it said (0: not trimmed) */
  size_t entries;               /* new-format entries applied, all logs */
  size_t pages;                 /* pages written from the logs */
  uint64_t bytes_changed;       /* bytes of the hive that the logs changed */
  uint32_t seq;                 /* the sequence number the hive ends with */
  uint32_t bins_size;           /* its hive bins data size */
  struct hive_log_use logs[HIVE_LOGS_MAX];
  size_t nlogs;
  /* HIVE_RECOVER_REPAIR: what was dropped to cut an incomplete hive, one
   * line each ("\\Key\\Sub: value 'Name' (...)"), NULL-terminated, at
   * most 10000 listed; ndropped counts them all. */
  char **dropped;
  size_t ndropped;
  int repairable;               /* on failure: HIVE_RECOVER_REPAIR would recover it */
};

/* hive_recover's flags. */
#define HIVE_RECOVER_REPAIR 1   /* an incomplete hive whose reachable cells lie
                                 * past its bins present: drop those references */

/* Recover the hive (len bytes) with its logs (up to HIVE_LOGS_MAX, in any
 * order).  A clean hive comes back as it is (logs not applied, as Windows
 * does).  A dirty hive whose last bins are missing (past the end of the
 * file, or not bins) and that no log supplies is cut to the bins present
 * when no cell reachable from the root lies past them (lossless), or,
 * with HIVE_RECOVER_REPAIR, after dropping what does (r->dropped).
 * Returns 0 and fills *r, or -1 with the reason in why (the hive cannot
 * be read even with its logs: no usable base block, or reachable cells in
 * missing bins: the reason names the first key that would lose them).
 * Free *r with hive_recovery_free either way. */
int hive_recover (const uint8_t *hive, size_t len, const struct hive_log *logs, size_t nlogs,
                  unsigned flags, struct hive_recovery *r, char *why, size_t whylen);
void hive_recovery_free (struct hive_recovery *r);

/* hivelog-json.c: "clean", "recovered", "trimmed", "repaired" or "dirty,
 * nothing to replay";
 * "new", "old" or "none"; the recovery as JSON (names: the logs' names). */
#include <json-c/json.h>
const char *hive_recovery_state (const struct hive_recovery *r);
const char *hive_log_kind_name (enum hive_log_kind k);
json_object *hive_recovery_json (const struct hive_recovery *r, char *const *names);

/* The Marvin32 hash (64-bit form, as the new-format log entries store it:
 * the second state word in the upper half) of len bytes with seed. */
uint64_t marvin32 (const uint8_t *p, size_t len, uint64_t seed);

#endif
