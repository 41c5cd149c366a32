/* winseal: launching the libguestfs appliance ("how the appliance was
 * launched"), kept apart from what is done to a mounted Windows. */
#ifndef WINSEAL_APPLIANCE_H
#define WINSEAL_APPLIANCE_H

#include <guestfs.h>

struct disk {
  const char *path;
  const char *format;           /* qemu format name: raw, vpc, vmdk, qcow2 */
  int readonly;
};

/* Check an input image on the host before any launch: it exists, is a
 * readable file or block device, its format (probed unless *format_ret is
 * already set), and for raw disks that the partition table fits.  Returns
 * 0, or a WS_EXIT_* code with an error reported. */
int image_precheck (const char *path, const char **format_ret);

/* Create a handle honouring the libguestfs environment, add the disks and
 * launch.  When a launch fails and the user did not choose backend
 * settings, retry once with TCG and print one warning.  Returns NULL (with
 * an error reported) on failure; the caller closes the handle. */
guestfs_h *appliance_launch (const struct disk *disks, size_t n);

/* The first line of the handle's last error, for one-line messages. */
const char *appliance_error (guestfs_h *g);

#endif
