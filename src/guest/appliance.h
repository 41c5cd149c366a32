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


/* Create a handle honouring the libguestfs environment, add the disks and
 * launch.  When a launch fails and the user did not choose backend
 * settings, retry once with TCG and print one warning.  Returns NULL (with
 * an error reported) on failure; the caller closes the handle. */
guestfs_h *appliance_launch (const struct disk *disks, size_t n);

/* Async-signal-safe: kill (SIGKILL) the qemu of every appliance this
 * process has launched and not closed yet (the signal policy's hook:
 * cli/signals.c).  The guestfs calls in flight then fail. */
void appliance_kill_all (void);
/* The first line of the handle's last error, for one-line messages. */
const char *appliance_error (guestfs_h *g);

#endif
