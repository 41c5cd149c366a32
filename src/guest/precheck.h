/* winseal: host-side checks of an input image (precheck.c). */
#ifndef WINSEAL_PRECHECK_H
#define WINSEAL_PRECHECK_H

/* Check an input image on the host before any launch: it exists, is a
 * readable file or block device, its format (probed unless *format_ret is
 * already set), and for raw disks that the partition table fits.  Returns
 * 0, or a WS_FAIL_* kind with an error reported. */
int disk_precheck (const char *path, const char **format_ret);

#endif
