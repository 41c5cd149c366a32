/* winseal: `winseal verify IMAGE...`: check images against every enabled
 * operation's postcondition and, for a VHD, the Azure rules; several
 * images share one appliance launch (one disk each). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "guest/precheck.h"
#include "cli/cli.h"
#include "formats/format.h"
#include "generalize/generalize.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

#define VERIFY_MAX 16

enum { O_OLD = 256, O_KEEP, O_OPS, O_ENABLE, O_DISABLE, O_INFMT, O_JSON, O_TARGET };
const char verify_short_options[] = "vx";
const struct option verify_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "old-sid", required_argument, NULL, O_OLD },
  { "target", required_argument, NULL, O_TARGET },
  { "keep-profile", required_argument, NULL, O_KEEP },
  { "operations", required_argument, NULL, O_OPS },
  { "enable", required_argument, NULL, O_ENABLE },
  { "disable", required_argument, NULL, O_DISABLE },
  { "input-format", required_argument, NULL, O_INFMT },
  { "json", no_argument, NULL, O_JSON },
  { "allow-dir", required_argument, NULL, 'A' },
  { "verbose", no_argument, NULL, 'v' },
  { "trace", no_argument, NULL, 'x' },
  { NULL, 0, NULL, 0 },
};

static void
help (void)
{
  printf ("Usage: winseal verify [OPTIONS] IMAGE...\n\n"
          "Check generalized images (opened read-only): every enabled operation's\n"
          "postcondition, the target's readiness checks, and for a VHD file the Azure\n"
          "rules (fixed, virtual size a whole number of MiB, file = size + 512 bytes).\n"
          "Several images are checked in one appliance launch, each with the same options.\n"
          "Exit 0 when all hold for every image, 1 otherwise, with one line per failed\n"
          "check.\n\n"
          "Options:\n"
          "  --target T                 the target it was generalized for (generic, azure,\n"
          "                             aws, openstack): its answer-file policy and checks\n"
          "  --old-sid SID              the SID before generalize: must be in no hive\n"
          "  --keep-profile NAME        a profile that was kept on purpose (repeatable)\n"
          "  --operations A,B, --enable OP, --disable OP\n"
          "                             which postconditions to check (as generalize)\n"
          "  --input-format FMT         raw, vhd, vmdk, qcow2, vdi, vhdx (default: probed)\n"
          "  --allow-dir DIR            backing files may also be in DIR (repeatable)\n"
          "  --json                     print the result as JSON (an array for several)\n"
          "  --help                     show this help\n");
}

/* The Azure rules for a VHD file; failures recorded in arr. */
static void
azure_checks (const char *path, json_object *arr)
{
  struct vhd_footer v;
  if (vhd_footer_info (path, &v) == -1) {
    json_object_array_add (arr, json_object_new_string ("azure: no VHD footer at the end of the file"));
    return;
  }
  char msg[160];
  if (!v.checksum_ok)
    json_object_array_add (arr, json_object_new_string ("azure: the VHD footer's checksum is wrong"));
  if (!v.fixed) {
    snprintf (msg, sizeof msg, "azure: the VHD is of type %u, Azure takes fixed VHDs (type 2) only",
              v.disk_type);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (v.virtual_size % (1 << 20)) {
    snprintf (msg, sizeof msg, "azure: virtual size %" PRIu64 " is not a whole number of MiB",
              v.virtual_size);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (v.fixed && v.file_size != v.virtual_size + 512) {
    snprintf (msg, sizeof msg, "azure: file size %" PRIu64 " is not the virtual size + 512",
              v.file_size);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (v.virtual_size > VHD_AZURE_MAX) {
    snprintf (msg, sizeof msg, "azure: virtual size %" PRIu64 " is over 32 TiB", v.virtual_size);
    json_object_array_add (arr, json_object_new_string (msg));
  }
}

struct verify_work {
  const char *image;
  const char *qfmt;
  char disk[16];                /* its device in the appliance */
  char *stage_tmp, *staged;
  struct gen_opts *o;
  struct op_selection *sel;
  int started;                  /* gen is to be ended */
  int r;
  struct gen gen;
};

struct verify_all {
  struct verify_work *v;
  size_t n;
};

/* Inside the appliance: every enabled operation's check, read-only, for
 * each image in turn; one that cannot be checked does not stop the rest. */
static int
verify_work (guestfs_h *g, void *opaque)
{
  struct verify_all *va = opaque;
  for (size_t i = 0; i < va->n; ++i) {
    struct verify_work *vw = &va->v[i];
    if (va->n > 1)
      ws_globals.context = vw->image;
    struct windows w;
    int r = windows_find (g, vw->image, vw->disk, 1, &w);
    if (r == 0) {
      vw->started = 1;
      if (gen_begin (&vw->gen, &w, vw->o, 1) == -1 || gen_load_hives (&vw->gen) == -1
          || gen_run (&vw->gen, vw->sel) == -1)
        r = WS_EXIT_ERROR;
      else
        gen_verify_target (&vw->gen);
    }
    windows_close (&w);
    vw->gen.w = NULL;           /* w is gone */
    vw->r = r;
  }
  ws_globals.context = NULL;
  return 0;
}

/* One image's result after the appliance: the Azure rules, then the report
 * (printed, or added to out for --json).  0 when every check held. */
static int
verify_report (struct verify_work *vw, int json, json_object *out)
{
  const struct gen_opts *o = vw->o;
  struct gen *gen = &vw->gen;
  /* The Azure rules: for --target azure (whatever the file is), and for
   * any VHD when no target is given. */
  json_object *azure = json_object_new_array ();
  int is_vhd = strcmp (vw->qfmt, "vpc") == 0;
  int azure_rules = o->target ? (o->target->checks & TARGET_CHECK_FIXED_VHD) != 0 : is_vhd;
  if (azure_rules && !is_vhd) {
    char msg[200];
    snprintf (msg, sizeof msg, "azure: the image is %s; Azure takes fixed VHDs only", vw->qfmt);
    json_object_array_add (azure, json_object_new_string (msg));
  }
  else if (azure_rules)
    azure_checks (vw->image, azure);
  gen->failed_checks += json_object_array_length (azure);
  json_object_object_add (gen->report, "azure", azure);
  jadd_str (gen->report, "image", vw->image);
  jadd_int (gen->report, "failed", gen->failed_checks);
  json_object_object_add (gen->report, "warnings", json_object_get (gen->warnings));
  if (json)
    json_object_array_add (out, json_object_get (gen->report));
  else {
    json_object *ops;
    json_object_object_get_ex (gen->report, "operations", &ops);
    json_object_object_foreach (ops, name, op) {
      json_object *f;
      json_object_object_get_ex (op, "failed", &f);
      size_t n = json_object_array_length (f);
      for (size_t i = 0; i < n; ++i)
        printf ("FAIL %s\n", json_object_get_string (json_object_array_get_idx (f, i)));
      if (n == 0)
        printf ("ok   %s\n", name);
    }
    for (size_t i = 0; i < json_object_array_length (azure); ++i)
      printf ("FAIL %s\n", json_object_get_string (json_object_array_get_idx (azure, i)));
    if (azure_rules && json_object_array_length (azure) == 0)
      printf ("ok   azure\n");
    printf ("%s: %d check%s failed\n", vw->image, gen->failed_checks,
            gen->failed_checks == 1 ? "" : "s");
  }
  return gen->failed_checks ? WS_EXIT_ERROR : 0;
}

int
cmd_verify (int argc, char **argv)
{
  struct gen_opts o = { .persist_devices = 1 };
  struct op_selection sel;
  const char *infmt = NULL;
  int c, json = 0;

  operations_validate ();
  op_selection_default (&sel);
  int idx = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, verify_short_options, verify_options, &idx)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case O_OLD:
      if (sid_parse (optarg, &o.old_sid) == -1 || !sid_is_machine_domain (&o.old_sid))
        return usage_error ("verify", "--old-sid: '%s' is not a machine SID S-1-5-21-X-Y-Z", optarg);
      o.have_old_sid = 1;
      break;
    case O_TARGET:
      if (!(o.target = target_by_name (optarg)))
        return usage_error ("verify", "--target: '%s' is not one of %s", optarg, target_names ());
      break;
    case O_KEEP: o.keep_profiles = strv_push (o.keep_profiles, optarg); break;
    case O_OPS: case O_ENABLE: case O_DISABLE:
      if (op_selection_option (&sel, verify_options[idx].name, optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case O_INFMT: infmt = optarg; break;
    case O_JSON: json = 1; break;
    case 'A':
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case 'v': ws_globals.verbose = 1; break;
    case 'x': ws_globals.trace = 1; break;
    case ':':
      return usage_error ("verify", "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error ("verify", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return usage_error ("verify", "no image given");
  size_t n = (size_t) (argc - optind);
  if (n > VERIFY_MAX)
    return usage_error ("verify", "%zu images; at most %d in one run", n, VERIFY_MAX);
  const char *qfmt;
  if (input_format_qemu ("verify", infmt, &qfmt) == -1)
    return WS_EXIT_ERROR;
  struct verify_work *v = ws_malloc (n * sizeof *v);
  struct disk *d = ws_malloc (n * sizeof *d);
  memset (v, 0, n * sizeof *v);
  int r = 0;
  size_t prepared;
  /* Every image is checked and staged before the launch. */
  for (prepared = 0; prepared < n && !r; ++prepared) {
    struct verify_work *vw = &v[prepared];
    vw->image = argv[optind + prepared];
    vw->qfmt = qfmt;
    vw->o = &o;
    vw->sel = &sel;
    snprintf (vw->disk, sizeof vw->disk, "/dev/sd%c", (char) ('a' + prepared));
    const char *why;
    if ((r = disk_precheck (vw->image, &vw->qfmt, &why))
        || (r = disk_stage_temp (vw->image, why, &vw->stage_tmp, &vw->staged)))
      break;
    d[prepared] = (struct disk) { vw->staged ? vw->staged : vw->image,
                                  vw->staged ? "qcow2" : vw->qfmt, 1 };
  }
  struct verify_all va = { v, n };
  if (!r)
    r = run_appliance (d, n, RUN_SHUTDOWN_IGNORE, n == 1 ? v[0].image : "verify", verify_work,
                       &va, NULL);
  for (size_t i = 0; i < prepared && i < n; ++i)
    disk_stage_done (&v[i].stage_tmp, &v[i].staged);
  free (o.keep_profiles);
  free (d);
  int status = 0;
  json_object *out = json_object_new_array ();
  for (size_t i = 0; i < n; ++i) {
    struct verify_work *vw = &v[i];
    if (!r && !vw->r)
      vw->r = verify_report (vw, json, out);
    else if (!r && !json && n > 1)
      printf ("%s: not checked\n", vw->image);
    if (vw->started)
      gen_end (&vw->gen);
    if (!status && vw->r)
      status = vw->r == WS_EXIT_ERROR ? WS_EXIT_ERROR : vw->r;
  }
  if (json && !r && json_object_array_length (out) > 0)
    json_print (n == 1 ? json_object_array_get_idx (out, 0) : out);
  json_object_put (out);
  free (v);
  if (r)
    return cli_exit (r);
  /* One image: its own status, as before; several: 1 when any failed. */
  if (n > 1 && status)
    status = WS_EXIT_ERROR;
  return status == WS_EXIT_ERROR || status == 0 ? status : cli_exit (status);
}
