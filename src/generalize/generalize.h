/* winseal: generalizing one mounted Windows — the session every operation
 * works through (hives, guest files, the report), the operation records
 * and their table.  Nothing here knows how the appliance was launched. */
#ifndef WINSEAL_GENERALIZE_H
#define WINSEAL_GENERALIZE_H

#include <hivex.h>
#include <json-c/json.h>

#include "win/sid.h"
#include "generalize/target.h"
#include "generalize/unattend.h"
#include "guest/windows.h"

/* A host file to copy into the image (winseal build's File steps and
 * first-boot scripts). */
struct guest_file {
  const char *host;             /* the file on the host */
  const char *dest;             /* a Windows path: C:\..., %SystemRoot%\... */
};

/* What the user asked for (the generalize command line). */
struct gen_opts {
  struct sid sid;               /* --sid */
  int have_sid;
  const char *computer_name;    /* --computer-name */
  char **keep_profiles;         /* --keep-profile, NULL-terminated */
  int remove_accounts;
  int keep_rdp_closed;
  int persist_devices;          /* default 1; --no-persist-devices */
  const char *unattend_file;    /* --unattend: the user's answer file */
  struct unattend_opts ua;      /* for a generated answer file */
  const char *setupcomplete_file;
  char **firstboot;             /* --firstboot-command, in order */
  const struct guest_file *files;       /* copied in before the operations run */
  size_t n_files;
  int dry_run;
  int repair_hives;             /* --repair-hives: hive_recover's HIVE_RECOVER_REPAIR */
  const struct target *target;  /* --target (never NULL once parsed: generic) */
  /* verify only */
  struct sid old_sid;
  int have_old_sid;
};

/* A hive of the guest, copied to the host. */
struct ghive {
  char *label;                  /* "SYSTEM", "NTUSER.DAT of alice", ... */
  char *guest_path;
  char *local;                  /* the host copy, edited in place */
  hive_h *h;                    /* libhivex handle (write mode) or NULL */
  int changed;
  int user;                     /* a user's hive (NTUSER.DAT / UsrClass.dat) */
  char *profile_sid;            /* for user hives */
  int logs_emptied;             /* its .LOG1/.LOG2 were emptied by a commit */
};

/* The generalize (or verify) session on one mounted Windows.
 * Ownership: gen_begin fills it and gen_end frees what it owns: tmpdir
 * (removed), the hives (their host copies and handles), the report and
 * the JSON under it, computer_name, removed_rids, task_copies.  w, g, o,
 * sel and plan are borrowed: w is the caller's (set w to NULL when
 * windows_close ends it before gen_end), o the job's options.  A job
 * (job/job.h) holds one gen and ends it in job_free. */
struct gen {
  struct windows *w;
  guestfs_h *g;
  const struct gen_opts *o;
  int verify;                   /* read-only: checking postconditions */
  char *tmpdir;
  struct ghive *hives;
  size_t nhives;
  json_object *report;          /* the whole report */
  json_object *warnings;
  json_object *files_written;
  json_object *op;              /* the running operation's object */
  json_object *changes;         /* its "changes" array */
  int64_t bytes_freed;
  size_t files_zeroed;           /* small (MFT-resident) files zeroed before removal */
  struct sid old_sid, new_sid;  /* set by sid-reset */
  int have_new_sid;
  char *computer_name;          /* the name the image ends with ("*" = Setup picks) */
  int failed_checks;            /* verify */
  const struct op_selection *sel;       /* the operations that run (or, when plan
                                         * is set, the whole plan) */
  const struct op_selection *plan;      /* clone: every operation of the run, when
                                         * gen_run is called for a part of them */
  uint32_t *removed_rids;       /* RIDs of the profiles profile-cleanup removed */
  size_t n_removed_rids;
  /* The scheduled tasks sid-reset rewrote, as written, and the SID they
   * hold now: the next clone's rewrite starts from them (fsids.c). */
  struct task_copy { char *path, *task_path; uint8_t *data; size_t len; } *task_copies;
  size_t n_task_copies;
  struct sid tasks_sid;
  int tasks_known;
  /* Lines cloud-agents asks SetupComplete.cmd to run (owned). */
  char **firstboot_extra;
};

struct op_selection;

/* Operations (src/ops/op-NAME.c). */
struct operation {
  const char *name;             /* [a-z0-9-] */
  const char *heading;          /* one line */
  const char *description;      /* a paragraph, for the man page and --list-operations */
  int enabled_by_default;
  const char *options;          /* the extra options it reads, or NULL */
  int (*perform) (struct gen *g);       /* 0 or -1 */
  void (*verify) (struct gen *g);       /* records failed checks */
  /* Optional: runs after every selected operation has performed (work
   * that must see the others' results).  0 or -1. */
  int (*finish) (struct gen *g);
};

extern const struct operation *const operations[];
extern const size_t n_operations;
/* Check the table: unique, well-formed names.  Aborts on a bad table. */
void operations_validate (void);
const struct operation *operation_by_name (const char *name);

/* The SetupComplete.cmd line that opens Remote Desktop again. */
#define GEN_RDP_REOPEN_CMD \
  "reg add \"HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\" " \
  "/v fDenyTSConnections /t REG_DWORD /d 0 /f"

/* verify --target: the target's readiness checks inside the image (the
 * answer-file policy is the unattend operation's check), recorded as the
 * pseudo-operation "target" of the report.  Call after gen_run. */
void gen_verify_target (struct gen *g);

/* Profiles (generalize.c, for profile-cleanup and the hive loader). */
struct sid;
/* Is the profile of user s with directory name dir_name kept (the
 * built-in Administrator, --keep-profile)? */
int gen_profile_kept (struct gen *g, const struct sid *s, const char *dir_name);
/* A ProfileImagePath's directory on the Windows volume: 1 and *dir_ret
 * (caller frees); 0 when it is on another drive; -1 and *why_ret when it
 * must not be acted on (it climbs out of the volume, names its root, a
 * system folder or a built-in profile, or leads through a junction). */
int gen_profile_dir (struct gen *g, const char *sidstr, const char *pip, char **dir_ret,
                     const char **why_ret);
/* The last component of a Windows path. */
const char *gen_profile_base (const char *winpath);

/* A selection of operations: enabled[i] for operations[i]. */
struct op_selection { int enabled[32]; };
void op_selection_default (struct op_selection *s);
/* Apply "--operations a,b" (only these), "--enable X", "--disable X".
 * Returns 0 or -1 (an unknown name, reported). */
int op_selection_only (struct op_selection *s, const char *list);
int op_selection_set (struct op_selection *s, const char *name, int on);
int op_enabled (const struct op_selection *s, const char *name);
/* The command-line options --operations, --enable and --disable (option
 * is the long name without dashes).  Returns 0 or -1 (reported). */
int op_selection_option (struct op_selection *s, const char *option, const char *arg);

/* ---- the session ---- */
int gen_begin (struct gen *g, struct windows *w, const struct gen_opts *o, int verify);
/* Load every hive an operation will touch and refuse dirty hives whose
 * logs hold data, before anything is changed.  Returns 0 or -1. */
int gen_load_hives (struct gen *g);
/* Refuse, with one line naming the image and before anything is changed,
 * a Windows that winseal must not generalize offline: older than Vista /
 * Server 2008, a domain controller, a domain member.  Returns 0 or
 * WS_FAIL_UNSUPPORTED. */
int gen_check_supported (struct gen *g);
/* Run the selected operations.  Returns 0 or -1. */
int gen_run (struct gen *g, const struct op_selection *sel);
/* Commit, verify and upload every changed hive and empty its logs.
 * Returns 0 or -1. */
int gen_commit (struct gen *g);
/* The first half of a commit: every changed hive committed to its host
 * copy and verified; *list_ret (caller frees the array) holds the ones to
 * write into the image.  Returns 0 or -1 (reported). */
int gen_hives_ready (struct gen *g, struct ghive ***list_ret, size_t *n_ret);
/* The second half, once they are written and their logs emptied (the
 * file-system pass's helper can do both): recorded in the report. */
void gen_hives_written (struct gen *g, struct ghive **list, size_t n);
void gen_end (struct gen *g);

/* A system hive by name (SYSTEM, SOFTWARE, SAM, SECURITY, DEFAULT), open
 * with libhivex; NULL (reported) when missing or unreadable. */
hive_h *gen_hive (struct gen *g, const char *name);
struct ghive *gen_ghive (struct gen *g, const char *name);
/* Close the libhivex handle of a hive (committing it to its host copy),
 * so that the raw editor may work on the file.  Returns 0 or -1. */
int gen_hive_flush (struct gen *g, struct ghive *gh);
/* libhivex handle of any loaded hive (opened on demand). */
hive_h *gen_ghive_handle (struct gen *g, struct ghive *gh);
void gen_hive_changed (struct gen *g, struct ghive *gh);

/* Report helpers. */
void gen_change (struct gen *g, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
void gen_warn (struct gen *g, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
/* verify: record one failed check (printed as one line). */
void gen_fail (struct gen *g, const char *fmt, ...) __attribute__((format (printf, 2, 3)));

/* Guest files, honouring --dry-run. */
int gen_rm_rf (struct gen *g, const char *path, int64_t *bytes_ret);
/* Remove path (a file; contents 0) or the entries of the folder path
 * (contents 1; the folder stays), when there; adds to *n the entries
 * removed and to *bytes their size.  count_only (verify): *n gets what
 * is there, nothing is removed.  0 or -1 (reported). */
int gen_clear (struct gen *g, const char *path, int contents, int count_only, long *n,
               int64_t *bytes);
/* The same for the entries of the folder dir that match accepts (NULL:
 * all). */
int gen_clear_matching (struct gen *g, const char *dir, int (*match) (const char *name),
                        int count_only, long *n, int64_t *bytes);
int gen_write_file (struct gen *g, const char *path, const char *content, size_t len);
/* Read a whole small guest file: caller frees; NULL if absent. */
char *gen_read_file (struct gen *g, const char *path, size_t *len_ret);
/* Make the directories of a Windows path below the volume root. */
int gen_mkdir_p (struct gen *g, const char *path);
/* Copy o->files into the image (their folders are made), recorded in the
 * report's "files_placed".  Returns 0 or -1 (reported). */
int gen_place_files (struct gen *g);

/* Registry edits through libhivex, recorded as changes. */
int gen_set_dword (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                   const char *name, uint32_t v);
int gen_set_string (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                    const char *name, const char *v, hive_type t);
/* Set a value of any type on a node (data is caller's). */
int gen_set_value (struct gen *g, struct ghive *gh, hive_node_h node, const char *name,
                   hive_type t, const void *data, size_t len);
/* Delete the value name (any case) of node, at keypath (for the report).
 * Returns 1 when deleted, 0 when it was absent (or node is 0), -1 on an
 * error (reported). */
int gen_delete_value (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                      const char *name);
/* Delete every value of node whose name match () accepts.  Returns how
 * many, or -1 (reported). */
int gen_delete_values (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                       int (*match) (const char *name, void *arg), void *arg);
/* Delete every subkey of node (with all below it).  Returns how many, or
 * -1 (reported). */
int gen_delete_subkeys (struct gen *g, const char *hive, hive_node_h node, const char *keypath);
/* Delete the key node (with all below it), a subkey of parentpath (for
 * the report).  0 or -1 (reported). */
int gen_delete_key (struct gen *g, const char *hive, hive_node_h node, const char *parentpath);
/* Make a key path below node (creating missing keys). */
hive_node_h gen_mkkey (struct gen *g, hive_h *h, hive_node_h node, const char *path);

/* Set a value under KEY in every control set: a DWORD (t ==
 * hive_t_REG_DWORD) or a string of type t.  KEY is created where missing
 * when create is set, else such control sets are skipped. */
int gen_set_all_sets (struct gen *g, const char *key, int create, const char *name,
                      hive_type t, const char *sz, uint32_t dword);
/* verify: the DWORD is v in every control set (failures recorded for op). */
void gen_check_dword_all_sets (struct gen *g, const char *op, const char *key,
                               const char *name, uint32_t v);
/* The control sets of SYSTEM (key nodes). caller frees; *n_ret. */
hive_node_h *gen_control_sets (struct gen *g, size_t *n_ret);

#endif
