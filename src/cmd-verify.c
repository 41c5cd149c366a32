/* winseal: `winseal verify IMAGE`: check an image against every enabled
 * operation's postcondition and, for a VHD, the Azure rules. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "appliance.h"
#include "commands.h"
#include "format.h"
#include "generalize.h"
#include "json-out.h"
#include "paths.h"
#include "winseal.h"

static void
help (void)
{
  printf ("Usage: winseal verify [OPTIONS] IMAGE\n\n"
          "Check a generalized image (opened read-only): every enabled operation's\n"
          "postcondition, and for a VHD file the Azure rules (fixed, virtual size a\n"
          "whole number of MiB, file = size + 512 bytes).  Exit 0 when all hold, 1\n"
          "otherwise, with one line per failed check.\n\n"
          "Options:\n"
          "  --old-sid SID              the SID before generalize: must be in no hive\n"
          "  --keep-profile NAME        a profile that was kept on purpose (repeatable)\n"
          "  --operations A,B, --enable OP, --disable OP\n"
          "                             which postconditions to check (as generalize)\n"
          "  --input-format FMT         raw, vhd, vmdk or qcow2 (default: probed)\n"
          "  --allow-dir DIR            backing files may also be in DIR (repeatable)\n"
          "  --json                     print the result as JSON\n"
          "  --help                     show this help\n");
}

/* The Azure rules for a VHD file; failures recorded in arr. */
static void
azure_checks (const char *path, json_object *arr)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* never waits on a FIFO */
  off_t end = fd == -1 ? -1 : lseek (fd, 0, SEEK_END);
  uint8_t f[512];
  if (end < 512 || pread (fd, f, 512, end - 512) != 512 || memcmp (f, "conectix", 8) != 0) {
    json_object_array_add (arr, json_object_new_string ("azure: no VHD footer at the end of the file"));
    if (fd != -1)
      close (fd);
    return;
  }
  close (fd);
  uint64_t size = be64 (f + 48);
  uint32_t type = be32 (f + 60);
  char msg[160];
  if (type != 2) {
    snprintf (msg, sizeof msg, "azure: the VHD is of type %u, Azure takes fixed VHDs (type 2) only", type);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (size % (1 << 20)) {
    snprintf (msg, sizeof msg, "azure: virtual size %" PRIu64 " is not a whole number of MiB", size);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (type == 2 && (uint64_t) end != size + 512) {
    snprintf (msg, sizeof msg, "azure: file size %jd is not the virtual size + 512", (intmax_t) end);
    json_object_array_add (arr, json_object_new_string (msg));
  }
  if (size > (UINT64_C (32) << 40)) {
    snprintf (msg, sizeof msg, "azure: virtual size %" PRIu64 " is over 32 TiB", size);
    json_object_array_add (arr, json_object_new_string (msg));
  }
}

int
cmd_verify (int argc, char **argv)
{
  enum { O_OLD = 256, O_KEEP, O_OPS, O_ENABLE, O_DISABLE, O_INFMT, O_JSON };
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "old-sid", required_argument, NULL, O_OLD },
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
  struct gen_opts o = { .persist_devices = 1 };
  struct op_selection sel;
  const char *infmt = NULL;
  int c, json = 0;

  operations_validate ();
  op_selection_default (&sel);
  int idx = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, "vx", opts, &idx)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case O_OLD:
      if (sid_parse (optarg, &o.old_sid) == -1 || !sid_is_machine_domain (&o.old_sid))
        return usage_error ("verify", "--old-sid: '%s' is not a machine SID S-1-5-21-X-Y-Z", optarg);
      o.have_old_sid = 1;
      break;
    case O_KEEP: o.keep_profiles = strv_push (o.keep_profiles, optarg); break;
    case O_OPS: case O_ENABLE: case O_DISABLE:
      if (op_selection_option (&sel, opts[idx].name, optarg) == -1)
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
  if (optind != argc - 1)
    return usage_error ("verify", optind >= argc ? "no image given" : "too many arguments");
  const char *image = argv[optind];
  const char *qfmt;
  if (input_format_qemu ("verify", infmt, &qfmt) == -1)
    return WS_EXIT_ERROR;
  int r = image_precheck (image, &qfmt);
  if (r)
    return r;
  struct disk d = { image, qfmt, 1 };
  guestfs_h *g = appliance_launch (&d, 1);
  if (!g)
    return WS_EXIT_ERROR;
  struct windows w;
  struct gen gen;
  int started = 0;
  r = windows_open_quick (g, image, NULL, 1, &w);
  if (r == -1)
    r = windows_open (g, image, NULL, 1, &w);
  if (r == 0) {
    started = 1;
    if (gen_begin (&gen, &w, &o, 1) == -1 || gen_load_hives (&gen) == -1
        || gen_run (&gen, &sel) == -1)
      r = WS_EXIT_ERROR;
  }
  windows_close (&w);
  guestfs_shutdown (g);
  guestfs_close (g);
  free (o.keep_profiles);
  if (r) {
    if (started)
      gen_end (&gen);
    return r;
  }

  json_object *azure = json_object_new_array ();
  if (strcmp (qfmt, "vpc") == 0) {
    azure_checks (image, azure);
    gen.failed_checks += json_object_array_length (azure);
  }
  json_object_object_add (gen.report, "azure", azure);
  jadd_str (gen.report, "image", image);
  jadd_int (gen.report, "failed", gen.failed_checks);
  json_object_object_add (gen.report, "warnings", json_object_get (gen.warnings));
  if (json)
    json_print (gen.report);
  else {
    json_object *ops;
    json_object_object_get_ex (gen.report, "operations", &ops);
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
    if (strcmp (qfmt, "vpc") == 0 && json_object_array_length (azure) == 0)
      printf ("ok   azure\n");
    printf ("%s: %d check%s failed\n", image, gen.failed_checks,
            gen.failed_checks == 1 ? "" : "s");
  }
  r = gen.failed_checks ? WS_EXIT_ERROR : 0;
  gen_end (&gen);
  return r;
}
