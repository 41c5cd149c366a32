/* formats: disk image format drivers behind one table (DESIGN.md §3). */
#ifndef WINSEAL_FORMAT_H
#define WINSEAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define PROBE_HEAD 4096
#define PROBE_TAIL 512

struct format_ops {
  const char *name;             /* winseal's name: raw, vhd, vmdk, qcow2 */
  const char *qemu_name;        /* the name qemu and libguestfs use */
  /* Score how well the file looks like this format: 100 for a magic
   * number, 0 for no.  head/tail are the file's first and last bytes
   * (fewer for a short file); size is the file size. */
  int (*probe) (const uint8_t *head, size_t headlen,
                const uint8_t *tail, size_t taillen, uint64_t size);
};

extern const struct format_ops format_raw, format_vhd, format_vmdk, format_qcow2;
extern const struct format_ops *const format_table[];

/* The format by winseal's or qemu's name, or NULL. */
const struct format_ops *format_by_name (const char *name);
/* Probe an open file; raw when nothing else scores.  NULL (errno set) if
 * the file cannot be read. */
const struct format_ops *format_probe_fd (int fd, uint64_t size);

/* Check that the partition table of a raw disk of disk_size bytes fits in
 * it.  Returns 0, or -1 with a message in why (a truncated image, a
 * partition past the end). */
int partitions_check (int fd, uint64_t disk_size, char *why, size_t whylen);

#endif
