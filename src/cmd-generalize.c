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

#include "appliance.h"
#include "commands.h"
#include "format.h"
#include "generalize.h"
#include "json-out.h"
#include "winseal.h"

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
          "  --format FMT               vhd (default), vhd-dynamic, vmdk, qcow2 or raw\n"
          "  -c, --compress             qcow2: compressed clusters\n"
          "  --in-place                 edit IMAGE itself (no OUTPUT, no conversion)\n"
          "  --input-format FMT         raw, vhd, vmdk or qcow2 (default: probed)\n"
          "  --dry-run                  print every change it would make; write nothing\n"
          "  --json                     print the report as JSON\n"
          "  --progress, --no-progress  progress on stderr (default: on a terminal)\n"
          "  --keep-overlay FILE        keep the qcow2 overlay (backed by IMAGE) that holds\n"
          "                             the changes, at FILE\n\n"
          "Operations:\n"
          "  --list-operations          list them and exit\n"
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
          "3 not Windows, 4 encrypted (BitLocker), 5 hibernated.  See winseal(1).\n");
}

static void
list_operations (void)
{
  for (size_t i = 0; i < n_operations; ++i) {
    const struct operation *op = operations[i];
    printf ("%-16s %s %s\n", op->name, op->enabled_by_default ? "*" : " ", op->heading);
    if (op->options)
      printf ("%-18s options: %s\n", "", op->options);
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

/* A computer name Windows accepts: 1-15 of [A-Za-z0-9-], not all digits. */
static int
valid_computer_name (const char *n)
{
  size_t l = strlen (n);
  if (l == 0 || l > 15 || strspn (n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != l)
    return 0;
  return strspn (n, "0123456789") != l;
}

static double
now (void)
{
  struct timeval tv;
  gettimeofday (&tv, NULL);
  return tv.tv_sec + tv.tv_usec / 1e6;
}

static int show_progress;
static double t0;

static void
phase (const char *what)
{
  if (show_progress)
    fprintf (stderr, "[%6.1fs] %s\n", now () - t0, what);
}

/* Checks on OUTPUT before the appliance starts. */
static int
check_output (const char *image, const char *out, const struct convert_opts *co,
              uint64_t vsize)
{
  char rin[PATH_MAX], rout[PATH_MAX];
  if (realpath (image, rin) && realpath (out, rout) && strcmp (rin, rout) == 0) {
    ws_error ("%s: OUTPUT is the input image; use --in-place to edit it", out);
    return -1;
  }
  CLEANUP_FREE char *copy = ws_strdup (out);
  const char *dir = dirname (copy);
  if (access (dir, W_OK) == -1) {
    ws_error ("%s: cannot write in %s: %s", out, dir, strerror (errno));
    return -1;
  }
  struct statvfs sv;
  if (co->fmt == &format_vhd && !co->wopts.variant && statvfs (dir, &sv) == 0) {
    uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
    if (avail < vsize) {
      ws_error ("%s: a fixed VHD of %" PRIu64 " bytes does not fit in %s (%" PRIu64
                " bytes free)", out, vsize, dir, avail);
      return -1;
    }
  }
  return 0;
}

static void
print_text (json_object *r, int dry_run)
{
  json_object *ops, *w;
  if (dry_run)
    printf ("Dry run: nothing was written.  The changes generalize would make:\n\n");
  if (json_object_object_get_ex (r, "operations", &ops)) {
    json_object_object_foreach (ops, name, op) {
      json_object *h, *ch;
      json_object_object_get_ex (op, "heading", &h);
      printf ("[%s] %s\n", name, json_object_get_string (h));
      if (json_object_object_get_ex (op, "changes", &ch)) {
        size_t n = json_object_array_length (ch);
        for (size_t i = 0; i < n; ++i)
          printf ("  %s\n", json_object_get_string (json_object_array_get_idx (ch, i)));
        if (n == 0)
          printf ("  (nothing to change)\n");
      }
    }
  }
  static const char *const keys[] = { "old_sid", "new_sid", "computer_name", "bytes_freed",
                                      "output", "format", "output_size", "seconds", NULL };
  printf ("\n");
  for (size_t i = 0; keys[i]; ++i) {
    json_object *v;
    if (json_object_object_get_ex (r, keys[i], &v) && v)
      printf ("%-14s %s\n", keys[i], json_object_get_string (v));
  }
  if (json_object_object_get_ex (r, "warnings", &w) && json_object_array_length (w))
    printf ("warnings       %zu (see above)\n", json_object_array_length (w));
}

int
cmd_generalize (int argc, char **argv)
{
  enum { O_FORMAT = 256, O_INFMT, O_INPLACE, O_DRYRUN, O_JSON, O_PROGRESS, O_NOPROGRESS,
         O_LIST, O_OPS, O_ENABLE, O_DISABLE, O_SID, O_CNAME, O_KEEP, O_RMACC, O_KEEPRDP,
         O_NOPERSIST, O_UNATTEND, O_TZ, O_LOCALE, O_ORG, O_OWNER, O_PWFILE, O_COPYPROF,
         O_RUNSYNC, O_SC, O_FIRSTBOOT, O_KEEPOV, O_OPSPOD };
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "output", required_argument, NULL, 'o' },
    { "format", required_argument, NULL, O_FORMAT },
    { "compress", no_argument, NULL, 'c' },
    { "input-format", required_argument, NULL, O_INFMT },
    { "in-place", no_argument, NULL, O_INPLACE },
    { "dry-run", no_argument, NULL, O_DRYRUN },
    { "json", no_argument, NULL, O_JSON },
    { "progress", no_argument, NULL, O_PROGRESS },
    { "no-progress", no_argument, NULL, O_NOPROGRESS },
    { "list-operations", no_argument, NULL, O_LIST },
    { "operations", required_argument, NULL, O_OPS },
    { "enable", required_argument, NULL, O_ENABLE },
    { "disable", required_argument, NULL, O_DISABLE },
    { "sid", required_argument, NULL, O_SID },
    { "computer-name", required_argument, NULL, O_CNAME },
    { "keep-profile", required_argument, NULL, O_KEEP },
    { "remove-accounts", no_argument, NULL, O_RMACC },
    { "keep-rdp-closed", no_argument, NULL, O_KEEPRDP },
    { "no-persist-devices", no_argument, NULL, O_NOPERSIST },
    { "unattend", required_argument, NULL, O_UNATTEND },
    { "timezone", required_argument, NULL, O_TZ },
    { "locale", required_argument, NULL, O_LOCALE },
    { "org", required_argument, NULL, O_ORG },
    { "owner", required_argument, NULL, O_OWNER },
    { "admin-password-file", required_argument, NULL, O_PWFILE },
    { "copy-profile", no_argument, NULL, O_COPYPROF },
    { "run-sync", required_argument, NULL, O_RUNSYNC },
    { "setupcomplete", required_argument, NULL, O_SC },
    { "firstboot-command", required_argument, NULL, O_FIRSTBOOT },
    { "keep-overlay", required_argument, NULL, O_KEEPOV },
    { "operations-pod", no_argument, NULL, O_OPSPOD },
    { "verbose", no_argument, NULL, 'v' },
    { "trace", no_argument, NULL, 'x' },
    { NULL, 0, NULL, 0 },
  };
  struct gen_opts o = { .persist_devices = 1 };
  struct op_selection sel;
  struct convert_opts co = { 0 };
  const char *output = NULL, *format = "vhd", *infmt = NULL, *keep_overlay = NULL;
  int c, json = 0, in_place = 0;
  show_progress = isatty (2);
  t0 = now ();

  operations_validate ();
  op_selection_default (&sel);
  int idx = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, "o:cvx", opts, &idx)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case 'o': output = optarg; break;
    case O_FORMAT: format = optarg; break;
    case 'c': co.wopts.compress = 1; break;
    case O_INFMT: infmt = optarg; break;
    case O_INPLACE: in_place = 1; break;
    case O_DRYRUN: o.dry_run = 1; break;
    case O_JSON: json = 1; break;
    case O_PROGRESS: show_progress = 1; break;
    case O_NOPROGRESS: show_progress = 0; break;
    case O_LIST: list_operations (); return 0;
    case O_OPSPOD: operations_pod (); return 0;
    case O_OPS: case O_ENABLE: case O_DISABLE:
      if (op_selection_option (&sel, opts[idx].name, optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case O_SID:
      if (sid_parse (optarg, &o.sid) == -1 || !sid_is_machine_domain (&o.sid))
        return usage_error ("generalize", "--sid: '%s' is not a machine SID S-1-5-21-X-Y-Z",
                            optarg);
      o.have_sid = 1;
      break;
    case O_CNAME:
      if (!valid_computer_name (optarg))
        return usage_error ("generalize", "--computer-name: '%s' is not a valid computer "
                            "name (1 to 15 letters, digits or '-', not only digits)", optarg);
      o.computer_name = optarg;
      break;
    case O_KEEP: o.keep_profiles = strv_push (o.keep_profiles, optarg); break;
    case O_RMACC: o.remove_accounts = 1; break;
    case O_KEEPRDP: o.keep_rdp_closed = 1; break;
    case O_NOPERSIST: op_selection_set (&sel, "persist-devices", 0); break;
    case O_UNATTEND: o.unattend_file = optarg; break;
    case O_TZ: o.ua.timezone = optarg; break;
    case O_LOCALE: o.ua.locale = optarg; break;
    case O_ORG: o.ua.org = optarg; break;
    case O_OWNER: o.ua.owner = optarg; break;
    case O_PWFILE: o.ua.password_file = optarg; break;
    case O_COPYPROF: o.ua.copy_profile = 1; break;
    case O_RUNSYNC: o.ua.run_sync = strv_push (o.ua.run_sync, optarg); break;
    case O_SC: o.setupcomplete_file = optarg; break;
    case O_FIRSTBOOT: o.firstboot = strv_push (o.firstboot, optarg); break;
    case O_KEEPOV: keep_overlay = optarg; break;
    case 'v': ws_globals.verbose = 1; break;
    case 'x': ws_globals.trace = 1; break;
    case ':':
      return usage_error ("generalize", "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error ("generalize", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return usage_error ("generalize", optind >= argc ? "no image given" : "too many arguments");
  const char *image = argv[optind];
  if (in_place && output)
    return usage_error ("generalize", "--in-place and -o exclude each other");
  if (in_place && keep_overlay)
    return usage_error ("generalize", "--in-place uses no overlay (--keep-overlay)");
  if (!in_place && !output && !o.dry_run)
    return usage_error ("generalize", "no output given (-o OUTPUT, or --in-place)");
  if (o.unattend_file && (o.ua.timezone || o.ua.locale || o.ua.org || o.ua.owner
                          || o.ua.password_file || o.ua.copy_profile || o.ua.run_sync))
    return usage_error ("generalize", "--unattend takes the answer file as it is; the "
                        "options that build one do not apply");
  if (!in_place && output && output_format_setup ("generalize", format, output, &co) == -1)
    return WS_EXIT_ERROR;

  /* Everything that can be checked before the appliance starts. */
  if (o.unattend_file && unattend_check_file (o.unattend_file, NULL) == -1)
    return WS_EXIT_ERROR;
  if (o.setupcomplete_file && access (o.setupcomplete_file, R_OK) == -1) {
    ws_error ("--setupcomplete %s: %s", o.setupcomplete_file, strerror (errno));
    return WS_EXIT_ERROR;
  }
  if (unattend_read_password (&o.ua) == -1)
    return WS_EXIT_ERROR;
  const char *qfmt;
  if (input_format_qemu ("generalize", infmt, &qfmt) == -1)
    return WS_EXIT_ERROR;
  int r = image_precheck (image, &qfmt);
  if (r)
    return r;
  uint64_t vsize = 0;
  {
    struct image *in = image_open (image, NULL);
    if (!in)
      return WS_EXIT_UNREADABLE;
    vsize = in->size;
    image_close (in);
  }
  if (!in_place && output && !o.dry_run && check_output (image, output, &co, vsize) == -1)
    return WS_EXIT_ERROR;

  /* The disk the appliance sees: a qcow2 overlay over the untouched input. */
  CLEANUP_FREE char *tmp = ws_mkdtemp ();
  CLEANUP_FREE char *overlay = NULL;
  struct disk d = { image, qfmt, o.dry_run };
  if (!tmp)
    return WS_EXIT_ERROR;
  if (in_place && !o.dry_run)
    printf ("winseal: --in-place: %s itself is being modified\n", image);
  else {
    char abs[PATH_MAX];
    if (!realpath (image, abs)) {
      ws_error ("%s: %s", image, strerror (errno));
      ws_rmtree (tmp);
      return WS_EXIT_ERROR;
    }
    overlay = keep_overlay ? ws_strdup (keep_overlay) : ws_strconcat (tmp, "/overlay.qcow2", NULL);
    guestfs_h *h0 = guestfs_create ();
    if (!h0 || guestfs_disk_create (h0, overlay, "qcow2", -1,
                                    GUESTFS_DISK_CREATE_BACKINGFILE, abs,
                                    GUESTFS_DISK_CREATE_BACKINGFORMAT, qfmt, -1) == -1) {
      ws_error ("cannot create the overlay: %s", h0 ? appliance_error (h0) : "no handle");
      if (h0)
        guestfs_close (h0);
      ws_rmtree (tmp);
      return WS_EXIT_ERROR;
    }
    guestfs_close (h0);
    d = (struct disk) { overlay, "qcow2", 0 };
  }

  phase ("launching the appliance");
  guestfs_h *g = appliance_launch (&d, 1);
  if (!g) {
    ws_rmtree (tmp);
    return WS_EXIT_ERROR;
  }
  phase ("inspecting");
  struct windows w;
  struct gen gen;
  int gen_started = 0;
  r = windows_open_quick (g, image, o.dry_run, &w);
  if (r == -1)
    r = windows_open (g, image, o.dry_run, &w);
  if (r == 0 && o.unattend_file
      && unattend_check_file (o.unattend_file, image_unattend_arch (w.arch)) == -1)
    r = WS_EXIT_ERROR;
  if (r == 0) {
    gen_started = 1;
    if (gen_begin (&gen, &w, &o, 0) == -1)
      r = WS_EXIT_ERROR;
  }
  if (r == 0) {
    phase ("copying and checking the hives");
    if (gen_load_hives (&gen) == -1)
      r = WS_EXIT_ERROR;
  }
  if (r == 0) {
    phase ("running the operations");
    if (gen_run (&gen, &sel) == -1)
      r = WS_EXIT_ERROR;
  }
  if (r == 0) {
    phase (o.dry_run ? "checking the edited hives" : "writing the hives back");
    if (gen_commit (&gen) == -1)
      r = WS_EXIT_ERROR;
  }
  if (r == 0 && !o.dry_run) {
    guestfs_push_error_handler (g, NULL, NULL);
    guestfs_fstrim (g, "/", -1);          /* ntfs-3g may not support it */
    guestfs_pop_error_handler (g);
  }
  windows_close (&w);
  if (r == 0 && (guestfs_umount_all (g) == -1 || guestfs_sync (g) == -1
                 || guestfs_shutdown (g) == -1)) {
    ws_error ("%s: cannot close the file systems cleanly: %s", image, appliance_error (g));
    r = WS_EXIT_ERROR;
  }
  guestfs_close (g);
  unattend_clear_password (&o.ua);

  struct convert_result cr = { 0 };
  if (r == 0 && !in_place && output && !o.dry_run) {
    phase ("writing the output image");
    struct image *in = image_open (overlay, NULL);
    struct progress_bar b = { .on = show_progress };
    if (show_progress) {
      co.progress = progress_bar;
      co.opaque = &b;
    }
    if (!in || convert_image (in, output, &co, &cr) == -1)
      r = WS_EXIT_ERROR;
    if (in)
      image_close (in);
  }
  ws_rmtree (tmp);

  if (r == 0) {
    json_object *rep = gen.report;
    jadd_str (rep, "image", image);
    jadd_bool (rep, "dry_run", o.dry_run);
    jadd_bool (rep, "in_place", in_place);
    if (gen.have_new_sid) {
      char a[SID_STRING_MAX], b2[SID_STRING_MAX];
      jadd_str (rep, "old_sid", sid_to_string (&gen.old_sid, a));
      jadd_str (rep, "new_sid", sid_to_string (&gen.new_sid, b2));
    }
    jadd_str (rep, "computer_name", gen.computer_name);
    json_object *ops, *pc, *pr;
    if (json_object_object_get_ex (rep, "operations", &ops)
        && json_object_object_get_ex (ops, "profile-cleanup", &pc)
        && json_object_object_get_ex (pc, "profiles_removed", &pr))
      json_object_object_add (rep, "profiles_removed", json_object_get (pr));
    jadd_int (rep, "bytes_freed", gen.bytes_freed);
    json_object_object_add (rep, "files_written", json_object_get (gen.files_written));
    json_object_object_add (rep, "warnings", json_object_get (gen.warnings));
    if (output && !o.dry_run) {
      jadd_str (rep, "output", output);
      jadd_str (rep, "format", output_format_name (&co));
      jadd_int (rep, "virtual_size", cr.virtual_size);
      jadd_int (rep, "output_size", cr.file_size);
    }
    char secs[32];
    snprintf (secs, sizeof secs, "%.1f", now () - t0);
    json_object_object_add (rep, "seconds", json_object_new_double_s (atof (secs), secs));
    if (json)
      json_print (rep);
    else
      print_text (rep, o.dry_run);
  }
  if (gen_started)
    gen_end (&gen);
  free (o.keep_profiles);
  free (o.firstboot);
  free (o.ua.run_sync);
  return r;
}
