/* formats: assembling fixed-size units (VMDK grains, qcow2 clusters) from
 * the converter's byte ranges, which arrive in increasing offset order. */
#ifndef WINSEAL_UNITS_H
#define WINSEAL_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Called once per unit holding data, in order.  data has unit bytes (zero
 * padded); len is how many of them lie inside the disk. */
typedef int (*units_emit_fn) (void *opaque, uint64_t index, const uint8_t *data,
                              size_t len);

struct units {
  size_t unit;
  uint64_t size;                /* the disk's virtual size */
  uint8_t *buf;                 /* unit being assembled */
  uint64_t index;               /* UINT64_MAX: none */
  units_emit_fn emit;
  void *opaque;
};

void units_init (struct units *u, size_t unit, uint64_t size,
                 units_emit_fn emit, void *opaque);
/* Add bytes at off.  Whole units are passed on without copying; all-zero
 * units are not passed on at all. */
int units_data (struct units *u, uint64_t off, const uint8_t *p, size_t len);
/* Pass on the unit being assembled, if any. */
int units_flush (struct units *u);
void units_free (struct units *u);

#endif
