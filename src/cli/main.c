/* winseal: command-line entry point and subcommand dispatch. */
#include <config.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/format.h"
#include "util/paths.h"
#include "util/util.h"

static const struct command commands[] = {
  { "inspect", "report what a Windows image contains (read-only)", cmd_inspect,
    inspect_options, inspect_short_options, NULL },
  { "generalize", "generalize a Windows image offline and write it (the main job)",
    cmd_generalize, job_options, job_short_options, NULL },
  { "batch", "generalize a catalog of images (JSON) into a directory, with a manifest",
    cmd_batch, batch_options, batch_short_options, NULL },
  { "build", "build an image from an Azure Image Builder template, offline", cmd_build,
    build_options, build_short_options, build_option_applies },
  { "clone", "make N generalized images from one golden image (own SID and name each)",
    cmd_clone, clone_options, clone_short_options, clone_option_applies },
  { "verify", "check a generalized image (read-only)", cmd_verify, verify_options,
    verify_short_options, NULL },
  { "unattend", "print or check an answer file (unattend.xml)", cmd_unattend,
    unattend_options, unattend_short_options, NULL },
  { "convert", "convert a disk image (raw, vhd, vmdk, qcow2; vdi, vhdx read)", cmd_convert,
    convert_options, convert_short_options, NULL },
  { "hive", "check a registry hive file, or recover it from its transaction logs",
    cmd_hive, hive_options, hive_short_options, NULL },
};
#define NR_COMMANDS (sizeof commands / sizeof commands[0])

static const struct option global_opts[] = {
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, 'V' },
  { "verbose", no_argument, NULL, 'v' },
  { "trace", no_argument, NULL, 'x' },
  { "long-options", no_argument, NULL, 'L' },
  { "short-options", no_argument, NULL, 'S' },
  { "commands", no_argument, NULL, 'C' },
  { NULL, 0, NULL, 0 },
};
#define GLOBAL_SHORT "+hVvx"

/* --long-options: one "--NAME" per line; --short-options: one "-X". */
static void
print_table (const struct option *t, const char *shorts, int longs,
             int (*keep) (const char *name))
{
  if (longs) {
    for (size_t i = 0; t[i].name; ++i)
      if (!keep || keep (t[i].name))
        printf ("--%s\n", t[i].name);
    return;
  }
  for (const char *p = shorts; *p; ++p)
    if (*p != ':' && *p != '+')
      printf ("-%c\n", *p);
}

/* A command's options: its own, then the generalize options it takes. */
static void
print_options (const struct command *c, int longs)
{
  print_table (c->options, c->short_options, longs, NULL);
  if (!c->takes_generalize_option)
    return;
  if (!longs) {
    for (const char *p = job_short_options; *p; ++p)
      if (*p != ':' && !strchr (c->short_options, *p))
        printf ("-%c\n", *p);
    return;
  }
  /* Those not of its own table already. */
  for (size_t i = 0; job_options[i].name; ++i) {
    int own = 0;
    for (size_t k = 0; c->options[k].name; ++k)
      own |= !strcmp (c->options[k].name, job_options[i].name);
    if (!own && c->takes_generalize_option (job_options[i].name))
      printf ("--%s\n", job_options[i].name);
  }
}

static void
help (void)
{
  printf ("winseal %s: seal Windows disk images offline\n\n"
          "Usage: winseal [-v] [-x] COMMAND [OPTIONS] ...\n\n"
          "Commands:\n", PACKAGE_VERSION);
  for (size_t i = 0; i < NR_COMMANDS; ++i)
    printf ("  %-10s %s\n", commands[i].name, commands[i].summary);
  printf ("\nGlobal options:\n"
          "  -v, --verbose   pass libguestfs debug messages through\n"
          "  -x, --trace     trace libguestfs API calls\n"
          "  --help          show this help\n"
          "  --version       show the version\n"
          "  --long-options, --short-options\n"
          "                  list the options, one per line (also after a COMMAND:\n"
          "                  its own); for shell completion\n"
          "  --commands      list the commands, one per line\n\n"
          "'winseal COMMAND --help' describes a command; see winseal(1).\n");
}

/* formats/ reports through the program's one error function (the image's
 * context, ws_last_error). */
static void
format_error_to_ws (const char *msg)
{
  ws_error ("%s", msg);
}

int
main (int argc, char **argv)
{
  int c;

  format_error_hook = format_error_to_ws;
  signals_install ();
  opterr = 0;
  /* '+': stop at the subcommand; its options are its own. */
  while ((c = getopt_long (argc, argv, GLOBAL_SHORT, global_opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      help ();
      return 0;
    case 'V':
      printf ("winseal %s\n", PACKAGE_VERSION);
      return 0;
    case 'v':
      ws_globals.verbose = 1;
      break;
    case 'x':
      ws_globals.trace = 1;
      break;
    case 'L':
    case 'S':
      print_table (global_opts, GLOBAL_SHORT, c == 'L', NULL);
      return 0;
    case 'C':
      for (size_t i = 0; i < NR_COMMANDS; ++i)
        printf ("%s\n", commands[i].name);
      return 0;
    default:
      return usage_error (NULL, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return usage_error (NULL, "no command given");
  for (size_t i = 0; i < NR_COMMANDS; ++i)
    if (strcmp (argv[optind], commands[i].name) == 0) {
      int sub_argc = argc - optind;
      char **sub_argv = argv + optind;
      if (sub_argc == 2 && (!strcmp (sub_argv[1], "--long-options")
                            || !strcmp (sub_argv[1], "--short-options"))) {
        print_options (&commands[i], sub_argv[1][2] == 'l');
        return 0;
      }
      optind = 0;               /* reset getopt for the subcommand */
      return commands[i].run (sub_argc, sub_argv);
    }
  return usage_error (NULL, "unknown command '%s'", argv[optind]);
}
