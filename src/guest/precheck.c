/* winseal: the host-side checks of an input image before any appliance
 * is launched (the format, the backing chain under the path policy, the
 * partition table of a raw disk). */
#include <config.h>

#include <errno.h>
#include <unistd.h>

#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "formats/format.h"
#include "guest/precheck.h"
#include "util/paths.h"
#include "util/util.h"

int
disk_precheck (const char *path, const char **format_ret, const char **stage_ret)
{
  if (stage_ret)
    *stage_ret = NULL;
  uint64_t size;
  CLEANUP_CLOSE int fd = open_disk_file (path, &size);
  if (fd == -1)
    return errno == ENOENT || errno == EINVAL ? WS_FAIL : WS_FAIL_UNREADABLE;
  if (size < 512) {
    ws_error ("%s: %s (%llu bytes) is too small to be a disk image", path,
              size ? "file" : "empty file", (unsigned long long) size);
    return WS_FAIL_UNREADABLE;
  }
  const struct format_ops *fmt;
  if (*format_ret) {
    fmt = format_by_name (*format_ret);
    if (!fmt) {
      ws_error ("unknown input format '%s' (known: raw, vhd, vmdk, qcow2, vdi, vhdx)", *format_ret);
      return WS_FAIL;
    }
  }
  else {
    fmt = format_probe (fd, size, path);
    if (!fmt)                   /* reported */
      return WS_FAIL_UNREADABLE;
  }
  *format_ret = format_qemu_name (fmt);
  /* qemu follows the backing chain itself: check it under the path policy
   * first (and that every file of it reads). */
  struct image *img = image_open (path, fmt);
  if (!img)
    return errno == EACCES || errno == EINVAL ? WS_FAIL : WS_FAIL_UNREADABLE;
  if (stage_ret)
    *stage_ret = image_qemu_differs (img);   /* a static string */
  image_close (img);
  if (fmt == &format_raw) {
    char why[256];
    if (partitions_check (fd, size, why, sizeof why) == -1) {
      ws_error ("%s: %s", path, why);
      return WS_FAIL_UNREADABLE;
    }
  }
  return 0;
}

/* The space a staged copy may take: what the chain's files hold (a qcow2
 * of their data is no larger, but for its tables: 1/64 more). */
static uint64_t
chain_bytes (const struct image *img)
{
  uint64_t n = 0;
  for (; img; img = img->backing)
    n += img->file_size;
  return n + n / 64 + (UINT64_C (1) << 20);
}

int
disk_stage (const char *path, const char *why, const char *out)
{
  struct image *in = image_open (path, NULL);
  if (!in)
    return WS_FAIL_UNREADABLE;
  CLEANUP_FREE char *oc = ws_strdup (out);
  if (ws_check_space ("the staged copy's folder", dirname (oc), chain_bytes (in)) == -1) {
    image_close (in);
    return WS_FAIL;
  }
  fprintf (stderr, "winseal: %s is %s: it is read through winseal's own reader into a temporary "
          "qcow2 (%.1f GiB virtual) for the appliance\n", path, why,
          in->size / 1073741824.0);
  struct convert_opts o = { .fmt = &format_qcow2, .wopts.threads = 1 };
  struct convert_result r;
  int ret = convert_image (in, out, &o, &r);
  image_close (in);
  return ret == -1 ? WS_FAIL_UNREADABLE : 0;
}

int
disk_stage_temp (const char *path, const char *why, char **tmp_ret, char **staged_ret)
{
  *tmp_ret = *staged_ret = NULL;
  if (!why)
    return 0;
  if (!(*tmp_ret = ws_mkdtemp ()))
    return WS_FAIL;
  *staged_ret = ws_strconcat (*tmp_ret, "/staged-input.qcow2", NULL);
  int r = disk_stage (path, why, *staged_ret);
  if (r)
    disk_stage_done (tmp_ret, staged_ret);
  return r;
}

void
disk_stage_done (char **tmp, char **staged)
{
  if (*tmp)
    ws_rmtree (*tmp);
  free (*tmp);
  free (*staged);
  *tmp = *staged = NULL;
}

static void
free_space_warn (void *opaque, int part, int records, const char *why)
{
  const char *label = opaque;
  const char *what = records ? "freed MFT records cannot be cleared"
                             : "free clusters cannot be told";
  const char *then = records ? "they are copied as they are" : "the disk is copied whole";
  if (part)
    ws_warning ("%s: partition %d: its NTFS volume's %s (%s); %s", label, part, what, why,
                records ? then : "it is copied whole");
  else
    ws_warning ("%s: the %s (%s); %s", label, what, why, then);
}

int
disk_free_space (const char *label, struct image *in, struct rangeset *rs,
                 struct mft_clear *mc)
{
  return image_ntfs_free (in, rs, mc, free_space_warn, (void *) label);
}
