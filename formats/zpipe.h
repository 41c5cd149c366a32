/* formats: parallel, order-preserving compression of fixed-size units
 * (VMDK grains, qcow2 clusters) with bounded memory. */
#ifndef WINSEAL_ZPIPE_H
#define WINSEAL_ZPIPE_H

#include <stddef.h>
#include <stdint.h>

enum zpipe_mode {
  ZPIPE_ZLIB,                   /* zlib streams (VMDK grains) */
  ZPIPE_RAW,                    /* raw deflate, 4 KiB window (qcow2) */
};

/* Called in submission order, in the submitting thread.  stored is true
 * when deflate did not pay: for ZPIPE_ZLIB data is then a zlib stream of
 * stored blocks, for ZPIPE_RAW it is the uncompressed unit.  The callback
 * may write ZPIPE_HEADROOM bytes before data and ZPIPE_TAILROOM after
 * data + len (to put a marker and padding around it and write it once). */
#define ZPIPE_HEADROOM 16
#define ZPIPE_TAILROOM 512
typedef int (*zpipe_out_fn) (void *opaque, uint64_t index, uint8_t *data,
                             size_t len, int stored);

struct zpipe;
struct zpipe *zpipe_new (int threads, size_t unit, enum zpipe_mode mode,
                         zpipe_out_fn out, void *opaque);
/* Queue one unit (len <= unit; copied).  May call out for earlier units.
 * Returns -1 if out failed. */
int zpipe_submit (struct zpipe *z, uint64_t index, const void *data, size_t len);
/* Wait for every queued unit and deliver it.  -1 if out failed. */
int zpipe_flush (struct zpipe *z);
void zpipe_free (struct zpipe *z);

#endif
