/* formats: helpers shared by drivers that keep data as a flat byte range
 * (raw, fixed VHD, VMDK flat extents). */
#ifndef WINSEAL_RAW_H
#define WINSEAL_RAW_H

#include "format.h"

/* The extent of the file data at base + off (SEEK_DATA/SEEK_HOLE). */
int fd_extent (int fd, uint64_t base, uint64_t off, uint64_t max,
               uint64_t *len_ret, enum extent_type *type_ret);
/* Write data at off in w->fd (raw layout). */
int raw_w_data (struct writer *w, uint64_t off, const void *buf, size_t len);

#endif
