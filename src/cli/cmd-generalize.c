/* winseal: `winseal generalize IMAGE -o OUTPUT`: the main job.  The input
 * is opened read-only behind a qcow2 overlay; one appliance launch runs
 * every operation; formats/ writes OUTPUT from the overlay. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "cli/cli.h"
#include "formats/format.h"
#include "generalize/generalize.h"
#include "job/job.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/util.h"

static void
help (void)
{
  printf ("Usage: winseal generalize [OPTIONS] IMAGE -o OUTPUT\n"
          "       winseal generalize --list-operations\n\n"
          "Generalize a Windows image offline (what Sysprep's generalize pass does),\n"
          "stage Windows Setup for the first boot, and write OUTPUT (a fixed VHD by\n"
          "default).  IMAGE is never modified unless --in-place is given.\n\n"
          "Output:\n"
          "  -o, --output FILE          the image to write (temporary name, fsync, rename)\n"
          "  --target T                 the cloud: generic (default), azure, aws, openstack;\n"
          "                             sets the default format, the answer-file policy and\n"
          "                             verify's checks (winseal(1), CLOUD TARGETS)\n"
          "  --format FMT               vhd, vhd-dynamic, vmdk, qcow2, vhdx or raw (default:\n"
          "                             from OUTPUT's extension .vhd/.vmdk/.qcow2/.vhdx/.raw/.img,\n"
          "                             else the target's: vhd, vhd, vmdk, qcow2)\n"
          "  -c, --compress             qcow2: compressed clusters\n"
          "  --azure-min-size           vhd: at least 20 MiB (Azure's upload minimum)\n"
          "  --vmdk-layout L            vmdk: stream (default) or header-gd (the grain\n"
          "                             directory's place in the header too)\n"
          "  --keep-free-space          copy the clusters NTFS does not use and freed MFT\n"
          "                             records as they are (default: zeros in OUTPUT,\n"
          "                             deleted data not copied)\n"
          "  --in-place                 edit IMAGE itself (no OUTPUT, no conversion)\n"
          "  --input-format FMT         raw, vhd, vmdk, qcow2, vdi, vhdx (default: probed)\n"
          "  --dry-run                  print every change it would make; write nothing\n"
          "  --json                     print the report as JSON\n"
          "  --progress, --no-progress  progress on stderr (default: on a terminal)\n"
          "  --keep-overlay FILE        keep the qcow2 overlay (backed by IMAGE) that holds\n"
          "                             the changes, at FILE (a new file, unless --force)\n"
          "  --force                    let --keep-overlay replace an existing file\n"
          "  --allow-dir DIR            backing files may also be in DIR (default: only in\n"
          "                             IMAGE's directory; repeatable)\n"
          "  --repair-hives             a dirty hive cut short (its last bins missing, no\n"
          "                             log with them) whose keys or values lie there:\n"
          "                             drop them, listed in the report (default: refuse)\n\n"
          "Operations:\n"
          "  --list-operations          list them and exit\n"
          "  --operations-pod           print the manual's OPERATIONS section (POD) and exit\n"
          "  --targets-pod              print the manual's CLOUD TARGETS section (POD) and exit\n"
          "  --operations A,B,...       run only these\n"
          "  --enable OP, --disable OP  add or remove one\n\n"
          "Operation options:\n"
          "  --sid S-1-5-21-X-Y-Z       the new machine SID (default: random)\n"
          "  --computer-name NAME       the new computer name (default: generated, and\n"
          "                             Setup picks one at first boot)\n"
          "  --keep-profile NAME        keep this user profile (repeatable)\n"
          "  --remove-accounts          also remove the removed profiles' SAM accounts\n"
          "  --keep-rdp-closed          do not re-open Remote Desktop at first boot\n"
          "  --no-persist-devices       same as --disable persist-devices\n"
          "  --unattend FILE            use this answer file instead of a generated one\n"
          "  --timezone TZ              answer file TimeZone (default UTC)\n"
          "  --locale L                 answer file locales (default: the image's)\n"
          "  --org ORG, --owner NAME    RegisteredOrganization, RegisteredOwner\n"
          "  --admin-password-file FILE the administrator password (first line; stored\n"
          "                             hidden in the answer file, never printed)\n"
          "  --copy-profile             CopyProfile=true\n"
          "  --run-sync CMD             RunSynchronous command in specialize (repeatable)\n"
          "  --setupcomplete FILE       lines to add to SetupComplete.cmd\n"
          "  --firstboot-command CMD    a line to add to SetupComplete.cmd (repeatable)\n\n"
          "Exit status: 0 done, 1 usage or other error, 2 unreadable image,\n"
          "3 not Windows, 4 encrypted (BitLocker), 5 hibernated, 7 older than Vista,\n"
          "a domain controller or a domain member.  See winseal(1).\n");
}

static void
list_operations (void)
{
  for (size_t i = 0; i < n_operations; ++i) {
    const struct operation *op = operations[i];
    printf ("%-17s %s %s\n", op->name, op->enabled_by_default ? "*" : " ", op->heading);
    if (op->options)
      printf ("%-19s options: %s\n", "", op->options);
  }
  printf ("\n* = enabled by default.  winseal(1) describes each operation.\n");
}

/* The man page's OPERATIONS section, from the same table (make builds
 * winseal.1 with it). */
static void
operations_pod (void)
{
  printf ("=over 4\n\n");
  for (size_t i = 0; i < n_operations; ++i) {
    const struct operation *op = operations[i];
    printf ("=item B<%s>%s\n\n%s.\n\n%s\n\n", op->name,
            op->enabled_by_default ? "" : " (not enabled by default)", op->heading,
            op->description);
    if (op->options)
      printf ("Options: %s.\n\n", op->options);
  }
  printf ("=back\n");
}

/* The man page's CLOUD TARGETS section, from the target table. */
static void
targets_pod (void)
{
  printf ("=over 4\n\n");
  for (size_t i = 0; i < n_targets; ++i)
    printf ("=item B<%s>%s\n\n%s\n\n", targets[i].name,
            &targets[i] == target_default () ? " (the default)" : "", targets[i].summary);
  printf ("=back\n");
}

int
cmd_generalize (int argc, char **argv)
{
  struct job j;
  int json = 0, special = 0, n = 0;
  char **operands = NULL;
  int r = job_parse (&j, argc, argv, "generalize", &json, &special, &operands, &n);
  if (r == 0 && special) {
    if (special == 'h')
      help ();
    else if (special == 'T')
      targets_pod ();
    else if (special == 'L')
      list_operations ();
    else
      operations_pod ();
    job_free (&j);
    return 0;
  }
  if (r == 0 && n != 1)
    r = usage_error ("generalize", n == 0 ? "no image given" : "too many arguments");
  if (r == 0) {
    j.image = operands[0];
    r = job_check_options (&j, "generalize");
  }
  if (r == 0)
    r = job_prepare (&j);
  if (r == 0)
    r = job_run_appliance (&j);
  if (r == 0)
    r = job_finish (&j);
  if (r == 0) {
    json_object *rep = job_report (&j);
    if (json)
      json_print (rep);
    else
      job_print_text (rep, j.o.dry_run);
  }
  job_free (&j);
  return cli_exit (r);
}
