/* winseal: `winseal unattend [options]` prints the answer file generalize
 * would write; `winseal unattend --check FILE` validates one. */
#include <config.h>

#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "generalize/unattend.h"
#include "util/util.h"

enum { O_ARCH = 256, O_LOCALE, O_TZ, O_ORG, O_OWNER, O_CNAME, O_PW, O_COPY, O_RUN,
       O_NOPERSIST, O_CHECK };
const char unattend_short_options[] = "";
const struct option unattend_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "arch", required_argument, NULL, O_ARCH },
  { "locale", required_argument, NULL, O_LOCALE },
  { "timezone", required_argument, NULL, O_TZ },
  { "org", required_argument, NULL, O_ORG },
  { "owner", required_argument, NULL, O_OWNER },
  { "computer-name", required_argument, NULL, O_CNAME },
  { "admin-password-file", required_argument, NULL, O_PW },
  { "copy-profile", no_argument, NULL, O_COPY },
  { "run-sync", required_argument, NULL, O_RUN },
  { "no-persist-devices", no_argument, NULL, O_NOPERSIST },
  { "check", required_argument, NULL, O_CHECK },
  { NULL, 0, NULL, 0 },
};

static void
help (void)
{
  printf ("Usage: winseal unattend [OPTIONS]\n"
          "       winseal unattend --check FILE [--arch ARCH]\n\n"
          "Print the answer file (unattend.xml) that generalize writes, or check one.\n\n"
          "Options:\n"
          "  --arch ARCH                amd64 (default), x86 or arm64\n"
          "  --locale L                 locales (default en-US; generalize takes the\n"
          "                             image's)\n"
          "  --timezone TZ              TimeZone (default UTC)\n"
          "  --org ORG, --owner NAME    RegisteredOrganization, RegisteredOwner\n"
          "  --computer-name NAME       ComputerName (default *: Setup picks one)\n"
          "  --admin-password-file FILE administrator password, stored hidden\n"
          "  --copy-profile             CopyProfile=true\n"
          "  --run-sync CMD             RunSynchronous command (repeatable, in order)\n"
          "  --no-persist-devices       leave out the PnpSysprep settings\n"
          "  --check FILE               validate FILE instead (exit 0 valid, 1 not)\n"
          "  --help                     show this help\n");
}

int
cmd_unattend (int argc, char **argv)
{
  struct unattend_opts o = { .arch = "amd64", .persist_devices = 1 };
  const char *check = NULL;
  char **run = NULL;
  int c, arch_given = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, unattend_short_options, unattend_options, NULL)) != -1) {
    switch (c) {
    case 'h': help (); free (run); return 0;
    case O_ARCH:
      if (strcmp (optarg, "amd64") && strcmp (optarg, "x86") && strcmp (optarg, "arm64")) {
        free (run);
        return usage_error ("unattend", "--arch: '%s' is not amd64, x86 or arm64", optarg);
      }
      o.arch = optarg;
      arch_given = 1;
      break;
    case O_LOCALE: o.locale = optarg; break;
    case O_TZ: o.timezone = optarg; break;
    case O_ORG: o.org = optarg; break;
    case O_OWNER: o.owner = optarg; break;
    case O_CNAME: o.computer_name = optarg; break;
    case O_PW: o.password_file = optarg; break;
    case O_COPY: o.copy_profile = 1; break;
    case O_RUN: run = strv_push (run, optarg); break;
    case O_NOPERSIST: o.persist_devices = 0; break;
    case O_CHECK: check = optarg; break;
    case ':':
      free (run);
      return usage_error ("unattend", "option '%s' needs a value", argv[optind - 1]);
    default:
      free (run);
      return usage_error ("unattend", "unknown option '%s'", argv[optind - 1]);
    }
  }
  o.run_sync = run;
  if (optind != argc) {
    free (run);
    return usage_error ("unattend", "unexpected argument '%s'", argv[optind]);
  }
  if (check) {
    free (run);
    if (unattend_check_file (check, arch_given ? o.arch : NULL) == -1)
      return WS_EXIT_ERROR;
    printf ("%s: a valid answer file\n", check);
    return 0;
  }
  if (unattend_read_password (&o) == -1) {
    free (run);
    return WS_EXIT_ERROR;
  }
  size_t len;
  char *xml = unattend_generate (&o, &len);
  unattend_clear_password (&o);
  free (run);
  if (!xml)
    return WS_EXIT_ERROR;
  fwrite (xml, 1, len, stdout);
  free (xml);
  return 0;
}
