/* winseal: the generalize options (generalize, batch's per-image
 * argv, build, clone): parsing them into a struct job and checking the
 * ones that need no image. */
#include <config.h>

#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "job/job.h"
#include "util/paths.h"
#include "util/util.h"

enum { O_FORMAT = 256, O_INFMT, O_INPLACE, O_DRYRUN, O_JSON, O_PROGRESS, O_NOPROGRESS,
       O_LIST, O_OPS, O_ENABLE, O_DISABLE, O_SID, O_CNAME, O_KEEP, O_RMACC, O_KEEPRDP,
       O_NOPERSIST, O_UNATTEND, O_TZ, O_LOCALE, O_ORG, O_OWNER, O_PWFILE, O_COPYPROF,
       O_RUNSYNC, O_SC, O_FIRSTBOOT, O_KEEPOV, O_OPSPOD, O_FORCE, O_ALLOW, O_REPAIR,
       O_AZMIN, O_VMDKLAYOUT, O_KEEPFREE, O_TARGET, O_TGTPOD };
const char job_short_options[] = "o:cvx";
const struct option job_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "output", required_argument, NULL, 'o' },
  { "target", required_argument, NULL, O_TARGET },
  { "format", required_argument, NULL, O_FORMAT },
  { "compress", no_argument, NULL, 'c' },
  { "azure-min-size", no_argument, NULL, O_AZMIN },
  { "vmdk-layout", required_argument, NULL, O_VMDKLAYOUT },
  { "keep-free-space", no_argument, NULL, O_KEEPFREE },
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
  { "force", no_argument, NULL, O_FORCE },
  { "allow-dir", required_argument, NULL, O_ALLOW },
  { "repair-hives", no_argument, NULL, O_REPAIR },
  { "operations-pod", no_argument, NULL, O_OPSPOD },
  { "targets-pod", no_argument, NULL, O_TGTPOD },
  { "verbose", no_argument, NULL, 'v' },
  { "trace", no_argument, NULL, 'x' },
  { NULL, 0, NULL, 0 },
};

int
job_option_arg (const char *name)
{
  for (size_t i = 0; job_options[i].name; ++i)
    if (strcmp (job_options[i].name, name) == 0)
      return job_options[i].has_arg;
  return -1;
}

int
job_parse (struct job *j, int argc, char **argv, const char *cmd, int *json_ret,
           int *special_ret, char ***operands_ret, int *n_ret)
{
  int c;
  memset (j, 0, sizeof *j);
  j->o.persist_devices = 1;
  j->t0 = ws_now ();
  j->show_progress = isatty (2);
  static struct progress_bar bar = { .on = 1 };
  j->progress = progress_bar;
  j->progress_opaque = &bar;
  *special_ret = 0;
  operations_validate ();
  op_selection_default (&j->sel);
  int idx = 0;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long (argc, argv, job_short_options, job_options, &idx)) != -1) {
    switch (c) {
    case 'h': *special_ret = 'h'; return 0;
    case O_LIST: *special_ret = 'L'; return 0;
    case O_OPSPOD: *special_ret = 'P'; return 0;
    case O_TGTPOD: *special_ret = 'T'; return 0;
    case 'o': j->output = optarg; break;
    case O_FORMAT: j->format = optarg; break;
    case O_TARGET:
      if (!(j->o.target = target_by_name (optarg)))
        return usage_error (cmd, "--target: '%s' is not one of %s", optarg, target_names ());
      break;
    case 'c': j->co.wopts.compress = 1; break;
    case O_AZMIN: j->co.wopts.min_size = AZURE_MIN_SIZE; break;
    case O_KEEPFREE: j->keep_free_space = 1; break;
    case O_VMDKLAYOUT:
      if (vmdk_layout_option (cmd, optarg, &j->co) == -1)
        return WS_EXIT_ERROR;
      j->vmdk_layout_set = 1;
      break;
    case O_INFMT: j->infmt = optarg; break;
    case O_INPLACE: j->in_place = 1; break;
    case O_DRYRUN: j->o.dry_run = 1; break;
    case O_JSON: if (json_ret) *json_ret = 1; break;
    case O_PROGRESS: j->show_progress = 1; break;
    case O_NOPROGRESS: j->show_progress = 0; break;
    case O_OPS: case O_ENABLE: case O_DISABLE:
      if (op_selection_option (&j->sel, job_options[idx].name, optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case O_SID:
      if (sid_parse (optarg, &j->o.sid) == -1 || !sid_is_machine_domain (&j->o.sid))
        return usage_error (cmd, "--sid: '%s' is not a machine SID S-1-5-21-X-Y-Z", optarg);
      j->o.have_sid = 1;
      break;
    case O_CNAME:
      if (!valid_computer_name (optarg))
        return usage_error (cmd, "--computer-name: '%s' is not a valid computer "
                            "name (1 to 15 letters, digits or '-', not only digits)", optarg);
      j->o.computer_name = optarg;
      break;
    case O_KEEP: j->o.keep_profiles = strv_push (j->o.keep_profiles, optarg); break;
    case O_RMACC: j->o.remove_accounts = 1; break;
    case O_KEEPRDP: j->o.keep_rdp_closed = 1; break;
    case O_NOPERSIST: op_selection_set (&j->sel, "persist-devices", 0); break;
    case O_UNATTEND: j->o.unattend_file = optarg; break;
    case O_TZ: j->o.ua.timezone = optarg; break;
    case O_LOCALE: j->o.ua.locale = optarg; break;
    case O_ORG: j->o.ua.org = optarg; break;
    case O_OWNER: j->o.ua.owner = optarg; break;
    case O_PWFILE: j->o.ua.password_file = optarg; break;
    case O_COPYPROF: j->o.ua.copy_profile = 1; break;
    case O_RUNSYNC: j->o.ua.run_sync = strv_push (j->o.ua.run_sync, optarg); break;
    case O_SC: j->o.setupcomplete_file = optarg; break;
    case O_FIRSTBOOT: j->o.firstboot = strv_push (j->o.firstboot, optarg); break;
    case O_KEEPOV: j->keep_overlay = optarg; break;
    case O_FORCE: j->force = 1; break;
    case O_REPAIR: j->o.repair_hives = 1; break;
    case O_ALLOW:
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case 'v': ws_globals.verbose = 1; break;
    case 'x': ws_globals.trace = 1; break;
    case ':':
      return usage_error (cmd, "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error (cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  *operands_ret = argv + optind;
  *n_ret = argc - optind;
  return 0;
}

int
job_check_options (struct job *j, const char *cmd)
{
  struct gen_opts *o = &j->o;
  if (j->in_place && j->output)
    return usage_error (cmd, "--in-place and -o exclude each other");
  if (j->in_place && j->keep_overlay)
    return usage_error (cmd, "--in-place uses no overlay (--keep-overlay)");
  if (!j->in_place && !j->output && !o->dry_run)
    return usage_error (cmd, "no output given (-o OUTPUT, or --in-place)");
  if (o->unattend_file && (o->ua.timezone || o->ua.locale || o->ua.org || o->ua.owner
                           || o->ua.password_file || o->ua.copy_profile || o->ua.run_sync))
    return usage_error (cmd, "--unattend takes the answer file as it is; the "
                        "options that build one do not apply");
  if (!o->target)
    o->target = target_default ();
  const struct target *t = o->target;
  if (t->answer == ANSWER_NONE
      && (o->unattend_file || o->ua.timezone || o->ua.locale || o->ua.org || o->ua.owner
          || o->ua.password_file || o->ua.copy_profile || o->ua.run_sync))
    return usage_error (cmd, "--target %s writes no answer file (the cloud provisions "
                        "with its own): --unattend and the options that build one do not "
                        "apply", t->name);
  /* No --format: the output's extension, else the target's format. */
  if (!j->format && j->output)
    j->format = format_output_guess (j->output) ? format_output_guess (j->output) : t->format;
  if (!j->in_place && j->output && output_format_setup (cmd, j->format, j->output, &j->co) == -1)
    return WS_EXIT_ERROR;
  if (!j->in_place && j->output && t->fixed_vhd_only
      && (j->co.fmt != &format_vhd || j->co.wopts.variant))
    return usage_error (cmd, "--target %s takes a fixed VHD (the output is %s): use "
                        "--format vhd, or another target", t->name, format_output_name (&j->co));
  if (!j->in_place && j->output && t->vhd_min_size && j->co.fmt == &format_vhd
      && j->co.wopts.min_size < t->vhd_min_size)
    j->co.wopts.min_size = t->vhd_min_size;
  if (!j->in_place && j->output && output_layout_check (cmd, &j->co, j->vmdk_layout_set) == -1)
    return WS_EXIT_ERROR;
  if (o->unattend_file && unattend_check_file (o->unattend_file, NULL) == -1)
    return WS_EXIT_ERROR;
  if (o->setupcomplete_file) {
    char *text = ws_read_text ("--setupcomplete", o->setupcomplete_file, WS_TEXT_MAX, NULL);
    if (!text)
      return WS_EXIT_ERROR;
    free (text);
  }
  if (input_format_qemu (cmd, j->infmt, &j->qfmt) == -1)
    return WS_EXIT_ERROR;
  if (unattend_read_password (&o->ua) == -1)
    return WS_EXIT_ERROR;
  return 0;
}

