/* winseal: the subcommand table. */
#ifndef WINSEAL_COMMANDS_H
#define WINSEAL_COMMANDS_H

struct command {
  const char *name;
  const char *summary;          /* one line for --help */
  int (*run) (int argc, char **argv);   /* argv[0] is the subcommand */
};

int cmd_inspect (int argc, char **argv);
int cmd_convert (int argc, char **argv);
int cmd_generalize (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_unattend (int argc, char **argv);
int cmd_batch (int argc, char **argv);
int cmd_clone (int argc, char **argv);
int cmd_build (int argc, char **argv);

/* Shared option handling: print "winseal: MSG" plus a hint and return 1. */
int usage_error (const char *cmd, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* cmd-convert.c: shared by the commands that write images. */
#include <stdint.h>
#include <time.h>
struct convert_opts;
/* "10G" and friends; -1 when not a size. */
int parse_size (const char *s, uint64_t *ret);
/* Fill o->fmt / o->wopts from --format (or OUTPUT's extension); -1 after
 * a usage error. */
int output_format_setup (const char *cmd, const char *format, const char *out_path,
                         struct convert_opts *o);
const char *output_format_name (const struct convert_opts *o);
/* The format an output file name's extension implies (.vhd, .vmdk,
 * .qcow2, .raw/.img), or NULL. */
const char *guess_format (const char *path);
/* --input-format FMT (or NULL) as the qemu format name in *qfmt_ret (NULL
 * = probe); -1 after a usage error. */
int input_format_qemu (const char *cmd, const char *infmt, const char **qfmt_ret);
/* A progress bar on stderr (a convert_opts progress callback). */
struct progress_bar {
  int on;
  struct timespec last;
};
void progress_bar (void *opaque, uint64_t done, uint64_t total);

#endif
