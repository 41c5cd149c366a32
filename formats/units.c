/* formats: fixed-size unit assembly shared by the VMDK and qcow2 writers. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "format-int.h"
#include "units.h"

void
units_init (struct units *u, size_t unit, uint64_t size, units_emit_fn emit,
            void *opaque)
{
  u->unit = unit;
  u->size = size;
  u->buf = aligned_alloc (4096, (unit + 4095) & ~(size_t) 4095);   /* direct I/O */
  if (!u->buf)
    abort ();
  u->index = UINT64_MAX;
  u->emit = emit;
  u->opaque = opaque;
}

static int
emit (struct units *u, uint64_t index, const uint8_t *data)
{
  uint64_t start = index * u->unit;
  size_t len = u->size - start < u->unit ? u->size - start : u->unit;
  if (is_zero (data, len))
    return 0;
  return u->emit (u->opaque, index, data, len);
}

int
units_flush (struct units *u)
{
  if (u->index == UINT64_MAX)
    return 0;
  uint64_t index = u->index;
  u->index = UINT64_MAX;
  return emit (u, index, u->buf);
}

int
units_data (struct units *u, uint64_t off, const uint8_t *p, size_t len)
{
  while (len) {
    uint64_t index = off / u->unit, in = off % u->unit;
    size_t n = u->unit - in < len ? u->unit - in : len;
    if (in == 0 && n == u->unit && u->index != index
        && (index + 1) * u->unit <= u->size) {
      /* A whole unit: passed on without a copy, after the one being
       * assembled (an earlier unit). */
      if (units_flush (u) == -1 || emit (u, index, p) == -1)
        return -1;
    }
    else {
      if (u->index != index) {
        if (units_flush (u) == -1)
          return -1;
        memset (u->buf, 0, u->unit);
        u->index = index;
      }
      memcpy (u->buf + in, p, n);
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

void
units_free (struct units *u)
{
  free (u->buf);
  u->buf = NULL;
}
