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

/* Shared option handling: print "winseal: MSG" plus a hint and return 1. */
int usage_error (const char *cmd, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

#endif
