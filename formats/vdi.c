/* formats: VirtualBox VDI, read-only: normal (dynamic) and fixed images.
 *
 * Layout (VirtualBox's VDICore.h, header version 1.1; all little-endian):
 * 64 bytes of text ("<<< Oracle VM VirtualBox Disk Image >>>\n"), the
 * signature 0xBEDA107F at 0x40, the version (major << 16 | minor) at 0x44,
 * then the 1.1 header: its size (0x48), image type (0x4C: 1 normal, 2
 * fixed, 3 undo, 4 differencing), flags, a 256-byte comment, the block
 * map's offset (0x154) and the data's (0x158), legacy geometry, the disk
 * size in bytes (0x170), the block size (0x178), the extra bytes before
 * each block's data (0x17C), the blocks in the disk (0x180) and those
 * allocated (0x184), then the image's, modification, parent and parent
 * modification UUIDs.  The block map holds one 32-bit entry per block:
 * the index of its data block in the file (at offData + index * (block
 * size + extra) + extra), 0xFFFFFFFF (never written) or 0xFFFFFFFE
 * (discarded): both read as zeros in an image without a parent.
 * Undo and differencing images name their parent only by UUID: refused.
 * Every value is checked against the file before use. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "format-int.h"

#define MIB (UINT64_C (1) << 20)
#define VDI_SIGNATURE 0xBEDA107Fu
#define VDI_VERSION_1_1 0x00010001u
#define VDI_HEADER_MIN 0x180    /* the 1.1 header up to the block counts */
#define VDI_ZERO 0xFFFFFFFEu
#define VDI_MAX_SIZE (UINT64_C (1) << 50)       /* 1 PiB */

enum {
  V_SIGNATURE = 0x40, V_VERSION = 0x44, V_HEADER_SIZE = 0x48, V_TYPE = 0x4C,
  V_OFF_BLOCKS = 0x154, V_OFF_DATA = 0x158, V_DISK_SIZE = 0x170, V_BLOCK_SIZE = 0x178,
  V_BLOCK_EXTRA = 0x17C, V_BLOCKS = 0x180, V_ALLOCATED = 0x184, V_END = 0x1C8,
};
enum { TYPE_NORMAL = 1, TYPE_FIXED = 2, TYPE_UNDO = 3, TYPE_DIFF = 4 };

static int
vdi_probe (const uint8_t *head, size_t headlen, const uint8_t *tail,
           size_t taillen, uint64_t size)
{
  return headlen >= V_SIGNATURE + 4 && rd_le32 (head + V_SIGNATURE) == VDI_SIGNATURE ? 100 : 0;
}

static int
bad (struct image *img, const char *what)
{
  format_error ("%s: invalid VDI: %s", img->path, what);
  errno = EINVAL;
  return -1;
}

static int
vdi_open (struct image *img)
{
  uint8_t h[V_END];
  if (img->file_size < V_END || full_pread (img->fd, h, V_END, 0) == -1)
    return bad (img, "file shorter than a VDI header");
  if (rd_le32 (h + V_SIGNATURE) != VDI_SIGNATURE)
    return bad (img, "no VDI signature");
  uint32_t version = rd_le32 (h + V_VERSION);
  if (version != VDI_VERSION_1_1) {
    format_error ("%s: a VDI image of header version %u.%u; winseal reads version 1.1 "
                  "(convert it with qemu-img or VBoxManage first)", img->path,
                  version >> 16, version & 0xFFFF);
    errno = ENOTSUP;
    return -1;
  }
  uint32_t type = rd_le32 (h + V_TYPE);
  if (type == TYPE_UNDO || type == TYPE_DIFF) {
    format_error ("%s: a VirtualBox %s image (its parent is named only by UUID); "
                  "winseal does not read it (clone the whole chain with VBoxManage "
                  "clonemedium first)", img->path, type == TYPE_DIFF ? "differencing" : "undo");
    errno = ENOTSUP;
    return -1;
  }
  if (type != TYPE_NORMAL && type != TYPE_FIXED)
    return bad (img, "unknown image type");
  if (rd_le32 (h + V_HEADER_SIZE) < VDI_HEADER_MIN - 0x48)
    return bad (img, "header too short for version 1.1");
  uint64_t size = rd_le64 (h + V_DISK_SIZE);
  uint64_t map_off = rd_le32 (h + V_OFF_BLOCKS), data_off = rd_le32 (h + V_OFF_DATA);
  uint32_t bs = rd_le32 (h + V_BLOCK_SIZE), extra = rd_le32 (h + V_BLOCK_EXTRA);
  uint32_t blocks = rd_le32 (h + V_BLOCKS), allocated = rd_le32 (h + V_ALLOCATED);
  if (size == 0 || size % 512 || size > VDI_MAX_SIZE)
    return bad (img, "absurd disk size (0, not a multiple of 512 bytes, or over 1 PiB)");
  if (bs < 512 || bs > 256 * MIB || (bs & (bs - 1)))
    return bad (img, "block size is not a power of two between 512 bytes and 256 MiB");
  if (extra > 256 * MIB || extra % 512)
    return bad (img, "absurd extra data size per block");
  if ((uint64_t) blocks * bs < size)
    return bad (img, "block map too small for the disk size");
  if (allocated > blocks)
    return bad (img, "more blocks allocated than the disk has");
  uint64_t map_bytes = (uint64_t) blocks * 4;
  if (map_off < V_END || map_off > img->file_size || map_bytes > img->file_size - map_off)
    return bad (img, "block map beyond the end of the file");
  if (data_off < map_off + map_bytes && data_off + (uint64_t) allocated * (bs + extra) > map_off)
    return bad (img, "the data overlaps the block map");
  if (data_off < V_END)
    return bad (img, "the data overlaps the header");

  struct block_map *v = calloc (1, sizeof *v);
  if (!v)
    abort ();
  img->priv = v;
  img->size = size;
  v->block_size = bs;
  v->blocks = blocks;
  v->off = calloc (blocks ? blocks : 1, sizeof *v->off);
  uint8_t *raw = malloc (map_bytes ? map_bytes : 1);
  int r = 0;
  if (!v->off || !raw)
    r = bad (img, "block map too large for memory");
  else if (full_pread (img->fd, raw, map_bytes, map_off) == -1)
    r = bad (img, "cannot read the block map");
  uint64_t needed = (size + bs - 1) / bs;
  for (uint32_t i = 0; !r && i < blocks; ++i) {
    uint32_t e = rd_le32 (raw + 4 * (size_t) i);
    if (e >= VDI_ZERO || i >= needed)
      continue;                 /* never written or discarded: zeros */
    /* The block's data: the last, partial block need only hold the disk. */
    uint64_t start = data_off + (uint64_t) e * ((uint64_t) bs + extra) + extra;
    uint64_t len = size - (uint64_t) i * bs < bs ? size - (uint64_t) i * bs : bs;
    if (e >= allocated)
      r = bad (img, "a block map entry is past the blocks allocated");
    else if (start > img->file_size || len > img->file_size - start)
      r = bad (img, "a block map entry points beyond the end of the file");
    else
      v->off[i] = start;
  }
  free (raw);
  return r;
}

const struct format_ops format_vdi = {
  .name = "vdi", .qemu_name = "vdi", .probe = vdi_probe,
  .open = vdi_open, .close = block_map_op_close, .pread = block_map_op_pread,
  .extent = block_map_op_extent, .contiguous = block_map_op_contiguous,
};
