/* winseal: the host-side checks of an input image before any appliance
 * is launched (the format, the backing chain under the path policy, the
 * partition table of a raw disk). */
#include <config.h>

#include <errno.h>
#include <unistd.h>

#include "formats/format.h"
#include "guest/precheck.h"
#include "util/util.h"

int
disk_precheck (const char *path, const char **format_ret)
{
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
