/* winseal: appliance launch with a TCG fallback, and host-side image checks. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appliance.h"
#include "format.h"
#include "winseal.h"

const char *
appliance_error (guestfs_h *g)
{
  static __thread char line[768];
  const char *e = guestfs_last_error (g);
  if (!e)
    return "unknown error";
  size_t n = strcspn (e, "\n");
  if (n >= 480)
    n = 480;
  /* A write error in the appliance while the overlay's file system is
   * full: say that, not what ntfs-3g made of it. */
  const char *tmp = getenv ("TMPDIR");
  struct statvfs sv;
  if (!tmp || !*tmp)
    tmp = "/tmp";
  if ((strstr (e, "No space left") || strstr (e, "Input/output error")
       || strstr (e, "Read-only file system"))
      && statvfs (tmp, &sv) == 0 && (uint64_t) sv.f_bfree * sv.f_frsize < (8u << 20)) {
    snprintf (line, sizeof line, "TMPDIR %s is full: the overlay that holds the changes "
              "cannot grow (%.*s); free space there or set TMPDIR to a larger file system",
              tmp, (int) n, e);
    return line;
  }
  memcpy (line, e, n);
  line[n] = '\0';
  return line;
}

int
image_precheck (const char *path, const char **format_ret)
{
  uint64_t size;
  int fd = open_disk_file (path, &size);
  if (fd == -1)
    return errno == ENOENT || errno == EINVAL ? WS_EXIT_ERROR : WS_EXIT_UNREADABLE;
  if (size < 512) {
    ws_error ("%s: %s (%llu bytes) is too small to be a disk image", path,
              size ? "file" : "empty file", (unsigned long long) size);
    close (fd);
    return WS_EXIT_UNREADABLE;
  }
  const struct format_ops *fmt;
  if (*format_ret) {
    fmt = format_by_name (*format_ret);
    if (!fmt) {
      ws_error ("unknown input format '%s' (known: raw, vhd, vmdk, qcow2)", *format_ret);
      close (fd);
      return WS_EXIT_ERROR;
    }
  }
  else {
    fmt = format_probe_fd (fd, size);
    if (!fmt) {
      ws_error ("%s: cannot read: %m", path);
      close (fd);
      return WS_EXIT_UNREADABLE;
    }
  }
  *format_ret = fmt->qemu_name;
  /* qemu follows the backing chain itself: check it under the path policy
   * first (and that every file of it reads). */
  struct image *img = image_open (path, fmt);
  if (!img) {
    close (fd);
    return errno == EACCES || errno == EINVAL ? WS_EXIT_ERROR : WS_EXIT_UNREADABLE;
  }
  image_close (img);
  if (fmt == &format_raw) {
    char why[256];
    if (partitions_check (fd, size, why, sizeof why) == -1) {
      ws_error ("%s: %s", path, why);
      close (fd);
      return WS_EXIT_UNREADABLE;
    }
  }
  close (fd);
  return 0;
}

/* Returns 0 when launched, -1 when setting up failed (no point retrying),
 * -2 when the launch itself failed.  *g_ret is set unless creation failed. */
static int
try_launch (const struct disk *disks, size_t n, int force_tcg, guestfs_h **g_ret)
{
  guestfs_h *g = *g_ret = guestfs_create ();
  if (!g) {
    ws_error ("cannot create a libguestfs handle: %m");
    return -1;
  }
  guestfs_set_error_handler (g, NULL, NULL);
  if (ws_globals.verbose)
    guestfs_set_verbose (g, 1);
  if (ws_globals.trace)
    guestfs_set_trace (g, 1);
  if (force_tcg && guestfs_set_backend_setting (g, "force_tcg", "1") == -1)
    return -1;
  /* A write the host cannot do (TMPDIR full under the overlay) is an I/O
   * error in the appliance, not a paused qemu waiting for ever (qemu's
   * default, werror=enospc). */
  if (guestfs_config (g, "-global", "scsi-hd.werror=report") == -1)
    return -1;
  for (size_t i = 0; i < n; ++i)
    if (guestfs_add_drive_opts (g, disks[i].path,
                                GUESTFS_ADD_DRIVE_OPTS_FORMAT, disks[i].format,
                                GUESTFS_ADD_DRIVE_OPTS_READONLY, disks[i].readonly,
                                -1) == -1)
      return -1;
  return guestfs_launch (g) == -1 ? -2 : 0;
}

guestfs_h *
appliance_launch (const struct disk *disks, size_t n)
{
  guestfs_h *g;
  int r = try_launch (disks, n, 0, &g);
  if (r == 0)
    return g;
  if (!g)
    return NULL;

  /* Retry with TCG only if the user did not choose backend settings: a
   * broken KVM (qemu aborts) is the usual reason, and TCG always works. */
  int user_chose = getenv ("LIBGUESTFS_BACKEND_SETTINGS") != NULL;
  CLEANUP_FREE_STRING_LIST char **settings = guestfs_get_backend_settings (g);
  for (size_t i = 0; settings && settings[i]; ++i)
    if (strncmp (settings[i], "force_tcg", 9) == 0
        || strncmp (settings[i], "force_kvm", 9) == 0)
      user_chose = 1;
  if (user_chose || r == -1) {
    ws_error ("cannot launch the libguestfs appliance: %s", appliance_error (g));
    guestfs_close (g);
    return NULL;
  }
  char first[512];
  snprintf (first, sizeof first, "%s", appliance_error (g));
  guestfs_close (g);
  ws_warning ("appliance launch failed (%s); retrying with TCG software "
              "emulation, which is slower", first);
  if (try_launch (disks, n, 1, &g) == 0)
    return g;
  if (g) {
    ws_error ("cannot launch the libguestfs appliance: %s", appliance_error (g));
    guestfs_close (g);
  }
  return NULL;
}
