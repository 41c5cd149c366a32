/* winseal: the program's own layer (cli/): the command table, the one-line
 * usage error, the option helpers the commands share. */
#ifndef WINSEAL_COMMANDS_H
#define WINSEAL_COMMANDS_H

#include <getopt.h>

#include "util/util.h"

/* Exit codes (documented in man/winseal.pod, EXIT STATUS): decided here
 * only.  A library's failure kind (util/util.h) is the exit status of the
 * command that met it (cli_exit); batch's own is WS_EXIT_PARTIAL. */
enum {
  WS_EXIT_OK = 0,
  WS_EXIT_ERROR = 1,         /* usage error or any other failure */
  WS_EXIT_UNREADABLE = 2,    /* image cannot be read (truncated, corrupt) */
  WS_EXIT_NOT_WINDOWS = 3,   /* no Windows installation found */
  WS_EXIT_ENCRYPTED = 4,     /* BitLocker-encrypted volume */
  WS_EXIT_HIBERNATED = 5,    /* hibernated or Fast Startup volume */
  WS_EXIT_PARTIAL = 6,       /* batch: some images failed */
  WS_EXIT_UNSUPPORTED = 7,   /* older than Vista, a domain controller or member */
};
/* The exit status for a library's WS_OK / WS_FAIL_* result. */
int cli_exit (int status);

struct command {
  const char *name;
  const char *summary;          /* one line for --help */
  int (*run) (int argc, char **argv);   /* argv[0] is the subcommand */
  /* Its option table and getopt short options (--long-options,
   * --short-options, the completion script, the documentation test). */
  const struct option *options;
  const char *short_options;
  /* Commands that also take generalize's options: which apply. */
  int (*takes_generalize_option) (const char *name);
};

int cmd_inspect (int argc, char **argv);
int cmd_convert (int argc, char **argv);
int cmd_generalize (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_unattend (int argc, char **argv);
int cmd_batch (int argc, char **argv);
int cmd_clone (int argc, char **argv);
int cmd_build (int argc, char **argv);
int cmd_hive (int argc, char **argv);
/* Each command's option table and short options (cmd-NAME.c). */
extern const struct option inspect_options[], convert_options[], verify_options[],
  unattend_options[], batch_options[], build_options[], clone_options[], hive_options[];
extern const char inspect_short_options[], convert_short_options[], verify_short_options[],
  unattend_short_options[], batch_short_options[], build_short_options[],
  clone_short_options[], hive_short_options[];
int build_option_applies (const char *generalize_option);
int clone_option_applies (const char *generalize_option);

/* Shared option handling: print "winseal: MSG" plus a hint and return 1. */
int usage_error (const char *cmd, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* signals.c: the program's one signal policy (the file says it whole). */
#include <signal.h>
/* main: SIGINT/TERM/HUP stop the appliances, remove what is in progress
 * and kill the process; SIGBUS (a mapped input shrank): one line, exit 1. */
void signals_install (void);
/* From now on SIGINT/TERM/HUP only set *flag to the signal (a batch
 * parent, which stops its workers itself); signals_default_stop undoes
 * that (in a forked worker). */
void signals_catch_stop (volatile sig_atomic_t *flag);
void signals_default_stop (void);
/* A time limit: after seconds, the appliances are stopped (their calls
 * fail).  signals_alarm_cancel stops the clock and says whether it had
 * fired; signals_alarm_fired says so without stopping it. */
void signals_alarm (unsigned seconds);
int signals_alarm_cancel (void);
int signals_alarm_fired (void);

/* cli.c: shared by the commands that write images. */
#include <stdint.h>
#include <time.h>
struct convert_opts;
struct job;
/* "10G" and friends; -1 when not a size. */
int parse_size (const char *s, uint64_t *ret);
/* Fill o->fmt / o->wopts from --format (or OUTPUT's extension); -1 after
 * a usage error. */
int output_format_setup (const char *cmd, const char *format, const char *out_path,
                         struct convert_opts *o);
/* --vmdk-layout stream|header-gd into o (-1: a usage error, reported);
 * --azure-min-size sets o->wopts.min_size.  output_layout_check refuses
 * either for an output format it does not apply to (after
 * output_format_setup; vmdk_layout_set: --vmdk-layout was given). */
int vmdk_layout_option (const char *cmd, const char *arg, struct convert_opts *o);
int output_layout_check (const char *cmd, const struct convert_opts *o, int vmdk_layout_set);
/* --input-format FMT (or NULL) as the qemu format name in *qfmt_ret (NULL
 * = probe); -1 after a usage error. */
int input_format_qemu (const char *cmd, const char *infmt, const char **qfmt_ret);
/* A progress bar on stderr (a convert_opts progress callback). */
struct progress_bar {
  int on;
  struct timespec last;
  const char *label;            /* printed first, e.g. "vhdx -> vhd" (or NULL) */
};
void progress_bar (void *opaque, uint64_t done, uint64_t total);

/* gen-options.c: the generalize options. */
/* Parse generalize options (argv[0] is ignored; argv[optind...] are the
 * operands, returned in *operands_ret / *n_ret).  Returns 0, or a WS_EXIT
 * code after a usage error (reported for cmd).  --help and friends are the
 * caller's: codes 'h', 'L' (--list-operations), 'P' (--operations-pod)
 * come back in *special_ret; *json_ret for --json. */
int job_parse (struct job *j, int argc, char **argv, const char *cmd, int *json_ret,
               int *special_ret, char ***operands_ret, int *n_ret);
/* The generalize option table (generalize's own; build and clone take
 * it too). */
extern const struct option job_options[];
extern const char job_short_options[];
/* A generalize long option, matched exactly: -1 when there is none of
 * that name, else no_argument or required_argument. */
int job_option_arg (const char *name);
/* Check the options that need no image (answer file, first-boot file, the
 * combination); read the password file. */
int job_check_options (struct job *j, const char *cmd);

#endif
