/* winseal: host-side checks of an input image (precheck.c). */
#ifndef WINSEAL_PRECHECK_H
#define WINSEAL_PRECHECK_H

/* Check an input image on the host before any launch: it exists, is a
 * readable file or block device, its format (probed unless *format_ret is
 * already set), and for raw disks that the partition table fits.  Returns
 * 0, or a WS_FAIL_* kind with an error reported. */
int disk_precheck (const char *path, const char **format_ret, const char **stage_ret);

/* When *stage_ret comes back set, qemu would not read the image as
 * winseal does (a differencing VHD or VHDX, a VHDX with a log to replay,
 * a VMDK whose parent a Windows path names): *stage_ret says what it is,
 * and the appliance must get disk_stage's copy instead.  disk_stage
 * writes the disk, read by winseal's own readers, as the qcow2 OUT (after
 * checking its folder has room; a note on stderr says why).  Returns 0 or
 * a WS_FAIL_* kind (reported). */
int disk_stage (const char *path, const char *why, const char *out);
/* For commands without a temporary folder of their own (inspect, verify):
 * when why is set, stage the input in a new one (*tmp_ret, *staged_ret);
 * else both stay NULL.  disk_stage_done removes and frees them. */
int disk_stage_temp (const char *path, const char *why, char **tmp_ret, char **staged_ret);
void disk_stage_done (char **tmp, char **staged);

/* The free clusters of in's NTFS volumes (image_ntfs_free) into rs and
 * their MFTs into mc, a warning naming label for each volume that cannot
 * be mapped so (it is then copied whole, or its MFT as it is).  Returns
 * the volumes whose free clusters were mapped. */
struct image;
struct rangeset;
struct mft_clear;
int disk_free_space (const char *label, struct image *in, struct rangeset *rs,
                     struct mft_clear *mc);

#endif
