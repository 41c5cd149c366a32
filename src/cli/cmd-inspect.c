/* winseal: `winseal inspect IMAGE [--json]`. */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/appliance.h"
#include "guest/precheck.h"
#include "cli/cli.h"
#include "guest/inspect.h"
#include "util/json-out.h"
#include "guest/windows.h"
#include "job/run.h"
#include "util/paths.h"
#include "util/util.h"

const char inspect_short_options[] = "vx";
const struct option inspect_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "json", no_argument, NULL, 'j' },
  { "input-format", required_argument, NULL, 'f' },
  { "allow-dir", required_argument, NULL, 'A' },
  { "verbose", no_argument, NULL, 'v' },
  { "trace", no_argument, NULL, 'x' },
  { NULL, 0, NULL, 0 },
};

static void
help (void)
{
  printf ("Usage: winseal inspect [OPTIONS] IMAGE\n\n"
          "Report what a Windows disk image contains: product, version, layout,\n"
          "computer name, machine SID, users, profiles, RDP and setup state, answer\n"
          "file and first-boot script, event logs, pagefile, hiberfile, hive states.\n"
          "The image is opened read-only.\n\n"
          "Options:\n"
          "  --json                 print the report as JSON (fields in winseal(1))\n"
          "  --input-format FMT     raw, vhd, vmdk, qcow2, vdi, vhdx (default: probed)\n"
          "  --allow-dir DIR        backing files may also be in DIR (repeatable)\n"
          "  -v, --verbose          libguestfs debug messages\n"
          "  -x, --trace            trace libguestfs calls\n"
          "  --help                 show this help\n\n"
          "Exit status: 0 done, 1 usage or other error, 2 unreadable image,\n"
          "3 not Windows, 4 encrypted (BitLocker), 5 hibernated.\n");
}

struct inspect_work {
  const char *image;
  json_object *report;
};

/* Inside the appliance: find Windows (the quick way, by its files; the
 * full libguestfs inspection only when that finds none, to say what the
 * disk holds instead) and inspect it. */
static int
inspect_work (guestfs_h *g, void *opaque)
{
  struct inspect_work *iw = opaque;
  struct windows w;
  int r = windows_find (g, iw->image, NULL, 1, &w);
  if (r == 0) {
    char *tmp = ws_mkdtemp ();
    if (!tmp)
      r = WS_EXIT_ERROR;
    else {
      char *fatal = NULL;
      iw->report = inspect_windows (&w, tmp, &fatal);
      if (fatal) {
        ws_error ("%s: %s", iw->image, fatal);
        free (fatal);
        r = WS_FAIL_UNREADABLE;
      }
      ws_rmtree (tmp);
      free (tmp);
    }
  }
  windows_close (&w);
  return r;
}

int
cmd_inspect (int argc, char **argv)
{
  int c, json = 0;
  const char *format = NULL;

  opterr = 0;
  while ((c = getopt_long (argc, argv, inspect_short_options, inspect_options, NULL)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case 'j': json = 1; break;
    case 'f': format = optarg; break;
    case 'A':
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case 'v': ws_globals.verbose = 1; break;
    case 'x': ws_globals.trace = 1; break;
    case ':':
      return usage_error ("inspect", "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error ("inspect", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return usage_error ("inspect", optind >= argc ? "no image given"
                        : "too many arguments");
  const char *image = argv[optind];

  const char *why;
  int r = disk_precheck (image, &format, &why);
  if (r)
    return cli_exit (r);
  char *stage_tmp, *staged;
  if ((r = disk_stage_temp (image, why, &stage_tmp, &staged)))
    return cli_exit (r);
  struct disk d = { staged ? staged : image, staged ? "qcow2" : format, 1 };
  struct inspect_work iw = { image, NULL };
  r = run_appliance (&d, 1, RUN_SHUTDOWN_IGNORE, image, inspect_work, &iw, NULL);
  disk_stage_done (&stage_tmp, &staged);
  json_object *report = iw.report;
  if (r)
    return cli_exit (r);
  if (!report)
    return WS_EXIT_ERROR;

  json_object *full = json_object_new_object ();
  jadd_str (full, "image", image);
  jadd_str (full, "format", format);
  json_object_object_foreach (report, key, val)
    json_object_object_add (full, key, json_object_get (val));
  json_object_put (report);
  if (json)
    json_print (full);
  else
    inspect_print_text (full);
  json_object_put (full);
  return 0;
}
