/* winseal: registry hive files: base-block state and libhivex helpers. */
#ifndef WINSEAL_HIVE_H
#define WINSEAL_HIVE_H

#include <hivex.h>
#include <stdint.h>

#include "util/util.h"
#include "win/sid.h"

#define REGF_BLOCK 4096

/* What the base block of a hive file says (see DESIGN.md §4). */
struct hive_state {
  uint32_t seq1, seq2;          /* primary and secondary sequence numbers */
  uint32_t checksum;            /* stored checksum */
  uint32_t checksum_calc;       /* computed checksum */
  uint32_t major, minor;
  uint32_t bins_size;           /* hive bins data size */
  int dirty;                    /* seq1 != seq2 or bad checksum */
};

/* Parse a base block (len bytes at p, normally the first 4096 bytes of the
 * file; file_size is the whole file's size).  Returns 0, or -1 with a
 * reason in *why_ret (a static string) when this is not a usable hive. */
int hive_parse_base_block (const uint8_t *p, size_t len, uint64_t file_size,
                           struct hive_state *st, const char **why_ret);
/* Checksum of a base block as Windows computes it. */
uint32_t hive_base_block_checksum (const uint8_t *p);
/* Read a hive file's base block from the host file system. */
int hive_file_state (const char *file, struct hive_state *st);

/* Open a hive with libhivex, reporting an error naming it ('label', for
 * example "SYSTEM") on failure.  Returns NULL on error. */
hive_h *hive_open_file (const char *file, const char *label, int flags);
void ws_cleanup_hivex_close (void *ptr);
#define CLEANUP_HIVEX_CLOSE __attribute__((cleanup (ws_cleanup_hivex_close)))

/* Walk a backslash-separated path below node (case-insensitive, as Windows
 * does).  Returns 0 if any component is missing. */
hive_node_h hive_walk (hive_h *h, hive_node_h node, const char *path);
/* Value helpers: NULL / -1 when absent or of the wrong type.  Strings are
 * UTF-8, caller frees. */
char *hive_get_string (hive_h *h, hive_node_h node, const char *name);
int hive_get_dword (hive_h *h, hive_node_h node, const char *name, uint32_t *ret);
/* Raw data of a value, caller frees; "" or NULL name = default value. */
uint8_t *hive_get_bytes (hive_h *h, hive_node_h node, const char *name,
                         size_t *len_ret, hive_type *type_ret);
/* The control sets present (numbers N of ControlSet00N), and the current
 * one from Select\Current.  *sets_ret is caller-freed.  Returns -1 when
 * the hive has no Select key. */
int hive_control_sets (hive_h *h, int **sets_ret, size_t *n_ret, int *current_ret);
/* The key path below the current control set ("ControlSet00N\\path"),
 * or 0. */
hive_node_h hive_current_set_walk (hive_h *sys, const char *path);

/* SOFTWARE's ProfileList: one key per profile, named by its SID, with
 * the profile's folder in ProfileImagePath. */
#define PROFILE_LIST_KEY "Microsoft\\Windows NT\\CurrentVersion\\ProfileList"
struct profile_entry {
  hive_node_h node;             /* its key */
  char *sid_str;                /* the key's name */
  struct sid sid;               /* parsed, when local */
  int local;                    /* a local account's: S-1-5-21-X-Y-Z-RID */
  char *image_path;             /* ProfileImagePath, or NULL */
};
/* Every key of ProfileList (system profiles too), in hive order; NULL and
 * *n_ret 0 when the hive has no ProfileList.  Free with
 * hive_profile_list_free. */
struct profile_entry *hive_profile_list (hive_h *sw, size_t *n_ret);
void hive_profile_list_free (struct profile_entry *list, size_t n);

/* The version SOFTWARE records: CurrentMajorVersionNumber and
 * CurrentMinorVersionNumber (Windows 10 and later), else CurrentVersion
 * ("6.3", "5.1").  -1 when it records neither. */
int hive_windows_version (hive_h *sw, int *major, int *minor);

/* What the installation is to its network, from SYSTEM (the current
 * control set) and SECURITY (either may be NULL). */
struct windows_role {
  const char *dc_why;           /* a domain controller: why it is one, or NULL */
  int domain_member;            /* PolPrDmS holds a domain SID */
  struct sid domain_sid;        /* (its name: lsa_policy_name (sec, "PolPrDmN")) */
  int machine_account;          /* Policy\Secrets\$MACHINE.ACC exists */
};
void hive_windows_role (hive_h *sys, hive_h *sec, struct windows_role *r);

#endif
