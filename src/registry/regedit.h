/* winseal: a raw registry hive editor for what libhivex cannot do: rename
 * keys (keeping values, type numbers, subkeys, class and security cell,
 * with the parent's subkey list kept sorted and hashed), rewrite string
 * data in place or in a new cell, and patch bytes inside security (sk)
 * cells and value data.  Every offset read from the file is bound-checked
 * before use. */
#ifndef WINSEAL_REGEDIT_H
#define WINSEAL_REGEDIT_H

#include <stddef.h>
#include <stdint.h>

struct regf {
  uint8_t *buf;                 /* the whole file (base block + hive bins) */
  size_t cap;
  uint32_t bins_size;           /* hive bins data size (base block 0x28) */
  char *label;                  /* for messages, e.g. "SOFTWARE" */
  int changed;
};

/* Load a hive file.  Returns 0, or -1 with an error reported naming label
 * (the hive is malformed or unreadable). */
int regf_load (struct regf *r, const char *path, const char *label);
/* The same from memory (copied). */
int regf_load_buffer (struct regf *r, const uint8_t *data, size_t len, const char *label);
/* Write the hive with equal sequence numbers and a fresh base-block
 * checksum.  Returns 0 or -1. */
int regf_save (struct regf *r, const char *path);
void regf_free (struct regf *r);

/* Replace the 12 bytes 'from' (a domain's three sub-authorities) by 'to'
 * wherever a binary SID of that domain holds them inside the hive bins
 * (security cells, value data, free space): that is, where they follow
 * the header 01 NN 00 00 00 00 00 05 15 00 00 00.  Occurrences without
 * the header are left alone and counted in *bare_ret (may be NULL).
 * Returns the number replaced. */
size_t regf_replace_sid_bytes (struct regf *r, const uint8_t *from,
                               const uint8_t *to, size_t *bare_ret);

/* Count the occurrences of n bytes inside the hive bins. */
size_t regf_count_bytes (const struct regf *r, const uint8_t *what, size_t n);

/* What a string rewrite changed. */
struct regf_rewrite_stats {
  size_t keys_renamed;
  size_t value_names;
  size_t values;                /* string values rewritten */
  size_t skipped_big;           /* big-data (db) values holding the string */
};

/* Rewrite the ASCII string 'from' (matched case-insensitively and only
 * when not followed by a decimal digit, so S-1-5-21-1-2-3 does not match
 * inside S-1-5-21-1-2-30) into 'to' in every key name, value name and
 * REG_SZ / REG_EXPAND_SZ / REG_MULTI_SZ value.  Returns 0 or -1 (a
 * malformed hive, reported). */
int regf_rewrite_string (struct regf *r, const char *from, const char *to,
                         struct regf_rewrite_stats *stats);

/* Check the structure a rename relies on: every subkey list sorted
 * (upper-cased comparison) and every lf/lh hash right.  Returns the number
 * of problems found (0 = consistent); the first is described in *why_ret
 * (static or caller-freed? static buffer, overwritten by the next call). */
size_t regf_check_lists (struct regf *r, const char **why_ret);

/* Move every SID of the machine domain 'from' into the domain 'to'
 * (both S-1-5-21-x-y-z): binary SIDs anywhere in the bins (security
 * cells, SAM V/C values, PolAcDmS, ProfileList Sid, ...) and string SIDs in
 * key names, value names and string values.  stats may be NULL.  Returns
 * the number of changes, or -1. */
struct sid;
struct sid_rewrite_stats {
  size_t binary;                /* binary occurrences patched */
  size_t bare;                  /* the 12 bytes seen outside any SID header */
  struct regf_rewrite_stats str;
};
long regf_rewrite_domain (struct regf *r, const struct sid *from, const struct sid *to,
                          struct sid_rewrite_stats *stats);

/* Leave no old data in the hive bins: zero every free cell's data (after
 * its size), the slack after what each reachable cell's referrer says it
 * uses (key and value names, security descriptors, lists, value data,
 * big-data segments, class names), and the data of allocated cells the
 * walk from the root does not reach (kept allocated).  Returns 0 or -1
 * (a malformed hive, reported; then nothing is guaranteed zeroed). */
struct regf_scrub_stats {
  size_t free_cells, free_bytes;        /* free cells that held data, their bytes */
  size_t slack_bytes;                   /* non-zero slack bytes zeroed */
  size_t lost_cells, lost_bytes;        /* unreached allocated cells zeroed */
};
int regf_scrub (struct regf *r, struct regf_scrub_stats *st);

/* Count the ASCII string s (case-insensitively, not followed by a
 * digit) in ASCII or UTF-16LE anywhere in the hive bins: the byte search
 * verify makes. */
size_t regf_count_text (const struct regf *r, const char *s);

/* Rewrite the ASCII string 'from' into 'to' (of the same length) in
 * place, as ASCII or UTF-16LE text (matched as regf_count_text matches),
 * in the data of every value of every type, big-data values included
 * (such as a SAM UserTile's AccountPictures path).  Names and the
 * structure are untouched.  Returns the occurrences rewritten (the values
 * changed in *values_ret, may be NULL), or -1.  With to equal to from it
 * only counts, and changes nothing. */
long regf_rewrite_value_text (struct regf *r, const char *from, const char *to,
                              size_t *values_ret);

#endif
