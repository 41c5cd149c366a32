/* winseal: command-line entry point and subcommand dispatch. */
#include <config.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format.h"
#include "paths.h"
#include "winseal.h"

static const struct command commands[] = {
  { "inspect", "report what a Windows image contains (read-only)", cmd_inspect },
  { "generalize", "generalize a Windows image offline and write it (the main job)", cmd_generalize },
  { "batch", "generalize a catalog of images (JSON) into a directory, with a manifest", cmd_batch },
  { "build", "build an image from an Azure Image Builder template, offline", cmd_build },
  { "clone", "make N generalized images from one golden image (own SID and name each)", cmd_clone },
  { "verify", "check a generalized image (read-only)", cmd_verify },
  { "unattend", "print or check an answer file (unattend.xml)", cmd_unattend },
  { "convert", "convert a disk image (raw, vhd, vmdk, qcow2)", cmd_convert },
};
#define NR_COMMANDS (sizeof commands / sizeof commands[0])

int
usage_error (const char *cmd, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ws_error ("%s (try 'winseal %s%s--help')", msg, cmd ? cmd : "", cmd ? " " : "");
  return WS_EXIT_ERROR;
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
          "  --version       show the version\n\n"
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
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "verbose", no_argument, NULL, 'v' },
    { "trace", no_argument, NULL, 'x' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  format_error_hook = format_error_to_ws;
  ws_signals_install ();
  opterr = 0;
  /* '+': stop at the subcommand; its options are its own. */
  while ((c = getopt_long (argc, argv, "+hVvx", opts, NULL)) != -1) {
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
      optind = 0;               /* reset getopt for the subcommand */
      return commands[i].run (sub_argc, sub_argv);
    }
  return usage_error (NULL, "unknown command '%s'", argv[optind]);
}
