/* winseal: `winseal convert IN OUT [--format FMT]` on the formats/ library. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <sys/resource.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/format.h"
#include "guest/precheck.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

enum { O_FORMAT = 256, O_INFMT, O_SIZE, O_THREADS, O_PROGRESS, O_NOPROGRESS,
       O_CHECKSUM, O_JSON, O_ALLOW, O_AZMIN, O_VMDKLAYOUT, O_DISCARD };
const char convert_short_options[] = "c";
const struct option convert_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "format", required_argument, NULL, O_FORMAT },
  { "input-format", required_argument, NULL, O_INFMT },
  { "size", required_argument, NULL, O_SIZE },
  { "compress", no_argument, NULL, 'c' },
  { "threads", required_argument, NULL, O_THREADS },
  { "progress", no_argument, NULL, O_PROGRESS },
  { "no-progress", no_argument, NULL, O_NOPROGRESS },
  { "checksum", no_argument, NULL, O_CHECKSUM },
  { "json", no_argument, NULL, O_JSON },
  { "allow-dir", required_argument, NULL, O_ALLOW },
  { "azure-min-size", no_argument, NULL, O_AZMIN },
  { "vmdk-layout", required_argument, NULL, O_VMDKLAYOUT },
  { "discard-free-space", no_argument, NULL, O_DISCARD },
  { NULL, 0, NULL, 0 },
};

static void
help (void)
{
  printf ("Usage: winseal convert [OPTIONS] INPUT OUTPUT\n\n"
          "Convert a disk image, copying only data.  OUTPUT is written under a\n"
          "temporary name in its directory and renamed when complete and synced.\n\n"
          "Options:\n"
          "  --format FMT           vhd (fixed, the default for .vhd), vhd-dynamic,\n"
          "                         vmdk (streamOptimized), qcow2, vhdx (dynamic)\n"
          "                         or raw; default: from OUTPUT's extension\n"
          "  --input-format FMT     raw, vhd, vmdk, qcow2, vdi, vhdx (default: probed)\n"
          "  --size SIZE            grow the virtual disk to SIZE (bytes, or with\n"
          "                         K, M, G, T suffixes)\n"
          "  -c, --compress         qcow2: compressed clusters\n"
          "  --azure-min-size       vhd: at least 20 MiB (Azure's upload minimum)\n"
          "  --discard-free-space   write the clusters NTFS volumes do not use as zeros\n"
          "                         (holes) instead of copying what they still hold,\n"
          "                         and empty freed MFT records\n"
          "  --vmdk-layout L        vmdk: stream (the grain directory's place in the\n"
          "                         footer, the default) or header-gd (also in the header)\n"
          "  --threads N            compression threads (default: the cores)\n"
          "  --progress, --no-progress\n"
          "                         progress bar (default: when stderr is a terminal)\n"
          "  --checksum             compute the output's sha256\n"
          "  --allow-dir DIR        backing files may also be in DIR (default: only in\n"
          "                         INPUT's directory; repeatable)\n"
          "  --json                 print a JSON summary\n"
          "  --help                 show this help\n");
}

int
cmd_convert (int argc, char **argv)
{
  const char *format = NULL, *infmt = NULL;
  struct convert_opts o = { 0 };
  int c, json = 0, show = isatty (2), vmdk_layout = 0, discard = 0;
  struct rangeset rs = { 0 };

  opterr = 0;
  while ((c = getopt_long (argc, argv, convert_short_options, convert_options, NULL)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case O_FORMAT: format = optarg; break;
    case O_INFMT: infmt = optarg; break;
    case O_SIZE:
      if (parse_size (optarg, &o.size) == -1 || o.size == 0)
        return usage_error ("convert", "--size: '%s' is not a size", optarg);
      break;
    case 'c': o.wopts.compress = 1; break;
    case O_THREADS: {
      char *end;
      long n = strtol (optarg, &end, 10);
      if (*end || n < 1 || n > 256)
        return usage_error ("convert", "--threads: '%s' is not a number from 1 to 256", optarg);
      o.wopts.threads = (int) n;
      break;
    }
    case O_PROGRESS: show = 1; break;
    case O_NOPROGRESS: show = 0; break;
    case O_CHECKSUM: o.checksum = 1; break;
    case O_AZMIN: o.wopts.min_size = AZURE_MIN_SIZE; break;
    case O_DISCARD: discard = 1; break;
    case O_VMDKLAYOUT:
      if (vmdk_layout_option ("convert", optarg, &o) == -1)
        return WS_EXIT_ERROR;
      vmdk_layout = 1;
      break;
    case O_JSON: json = 1; break;
    case O_ALLOW:
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case ':':
      return usage_error ("convert", "option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error ("convert", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 2)
    return usage_error ("convert", argc - optind < 2 ? "INPUT and OUTPUT are needed"
                        : "too many arguments");
  const char *in_path = argv[optind], *out_path = argv[optind + 1];
  if (output_format_setup ("convert", format, out_path, &o) == -1)
    return WS_EXIT_ERROR;
  if (output_layout_check ("convert", &o, vmdk_layout) == -1)
    return WS_EXIT_ERROR;
  const struct format_ops *ifmt = NULL;
  if (infmt && !(ifmt = format_by_name (infmt)))
    return usage_error ("convert", "unknown input format '%s'", infmt);

  struct image *in = image_open (in_path, ifmt);
  if (!in)   /* missing, refused (not a disk file, outside the policy): 1 */
    return errno == ENOENT || errno == EINVAL || errno == EACCES ? WS_EXIT_ERROR
                                                                  : WS_EXIT_UNREADABLE;
  if (in->size == 0) {
    ws_error ("%s: the image is empty (its virtual size is 0 bytes)", in_path);
    image_close (in);
    return WS_EXIT_UNREADABLE;
  }
  /* The output never replaces the input or a file of its chain. */
  struct pathset *ps = pathset_new ();
  pathset_add_image (ps, in, "the input image");
  int bad = pathset_add_output (ps, "OUTPUT", out_path);
  pathset_free (ps);
  if (bad) {
    image_close (in);
    return WS_EXIT_ERROR;
  }
  /* NTFS's free clusters are written as zeros (holes), not copied. */
  int volumes = 0;
  struct mft_clear *mc = NULL;
  if (discard) {
    mc = mft_clear_new ();
    volumes = disk_free_space (in_path, in, &rs, mc);
    o.discard = &rs;
    o.mft = mc;
  }
  char label[64];
  snprintf (label, sizeof label, "%s -> %s", format_name (in->ops), format_output_name (&o));
  struct progress_bar b = { .on = show, .label = label };
  if (show) {
    o.progress = progress_bar;
    o.opaque = &b;
  }
  struct convert_result r;
  int ret = convert_image (in, out_path, &o, &r);
  const char *in_name = format_name (in->ops);
  if (ret == 0 && json) {
    json_object *j = json_object_new_object ();
    jadd_str (j, "input", in_path);
    jadd_str (j, "input_format", in_name);
    jadd_str (j, "output", out_path);
    jadd_str (j, "format", format_output_name (&o));
    jadd_int (j, "input_virtual_size", in->size);
    jadd_int (j, "virtual_size", r.virtual_size);
    jadd_int (j, "bytes_written", r.bytes_written);
    jadd_int (j, "file_size", r.file_size);
    jadd_int (j, "direct_io_bytes", r.direct_io_bytes);
    jadd_str (j, "sha256", o.checksum ? r.sha256 : NULL);
    if (discard) {
      jadd_int (j, "ntfs_volumes_mapped", volumes);
      jadd_int (j, "free_bytes_not_copied", (int64_t) rs.bytes);
      jadd_int (j, "mft_records_cleared", (int64_t) r.mft_records_cleared);
      jadd_int (j, "mft_records_trimmed", (int64_t) r.mft_records_trimmed);
    }
    struct rusage ru;
    if (getrusage (RUSAGE_SELF, &ru) == 0)
      jadd_int (j, "max_rss_kib", ru.ru_maxrss);
    json_print (j);
    json_object_put (j);
  }
  else if (ret == 0 && o.checksum)
    printf ("%s  %s\n", r.sha256, out_path);
  image_close (in);
  rangeset_free (&rs);
  mft_clear_free (mc);
  return ret == 0 ? 0 : WS_EXIT_ERROR;
}
