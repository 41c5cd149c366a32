/* formats: the format table and probing by magic numbers. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format-int.h"

/* Magic formats first; raw (score 1) only wins when nothing else does. */
const struct format_ops *const format_table[] = {
  &format_vhd, &format_vmdk, &format_qcow2, &format_vdi, &format_vhdx, &format_raw, NULL
};

const struct format_ops *
format_by_name (const char *name)
{
  if (strcasecmp (name, "vhd-dynamic") == 0 || strcasecmp (name, "vpc") == 0)
    return &format_vhd;
  for (size_t i = 0; format_table[i]; ++i)
    if (strcasecmp (format_table[i]->name, name) == 0
        || strcasecmp (format_table[i]->qemu_name, name) == 0)
      return format_table[i];
  return NULL;
}

/* Containers winseal does not read, by their magic numbers (from the
 * formats' specifications, and the probes of qemu's block drivers):
 * refused by name, never taken as raw. */
struct foreign {
  const char *what, *advice;
  int from_end;                 /* the magic is in the last 512 bytes */
  uint32_t off;
  const char *magic;
  size_t len;
};
#define CONVERT "convert it with qemu-img first"
static const struct foreign foreign[] = {
  { "a QED image", CONVERT, 0, 0, "QED\0", 4 },
  { "a Parallels image", CONVERT, 0, 0, "WithoutFreeSpace", 16 },
  { "a Parallels image", CONVERT, 0, 0, "WithouFreSpacExt", 16 },
  { "a Bochs image", CONVERT, 0, 0, "Bochs Virtual HD Image", 22 },
  { "a cloop image", CONVERT, 0, 0, "#!/bin/sh\n#V2.0 Format", 22 },
  { "a VMware ESX COW sparse (COWD) image", CONVERT, 0, 0, "COWD", 4 },
  { "a LUKS-encrypted volume", "decrypt it first, with cryptsetup", 0, 0, "LUKS\xba\xbe", 6 },
  { "an Apple disk image (DMG)", CONVERT, 1, 0, "koly", 4 },
};

/* Is the file one of those?  Returns its entry, or NULL. */
static const struct foreign *
probe_foreign (const uint8_t *head, size_t headlen, const uint8_t *tail, size_t taillen)
{
  for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; ++i) {
    const struct foreign *f = &foreign[i];
    const uint8_t *p = f->from_end ? tail : head;
    size_t n = f->from_end ? taillen : headlen;
    if (f->from_end && n < PROBE_TAIL)
      continue;                 /* the trailer is the last 512 bytes exactly */
    if ((uint64_t) f->off + f->len <= n && memcmp (p + f->off, f->magic, f->len) == 0)
      return f;
  }
  return NULL;
}

const struct format_ops *
format_probe (int fd, uint64_t size, const char *path)
{
  uint8_t head[PROBE_HEAD], tail[PROBE_TAIL];
  size_t headlen = size < PROBE_HEAD ? size : PROBE_HEAD;
  size_t taillen = size < PROBE_TAIL ? size : PROBE_TAIL;
  if (full_pread (fd, head, headlen, 0) == -1
      || full_pread (fd, tail, taillen, size - taillen) == -1) {
    format_error ("%s: cannot read: %s", path, strerror (errno));
    return NULL;
  }
  const struct foreign *f = probe_foreign (head, headlen, tail, taillen);
  if (f) {
    format_error ("%s: %s; winseal does not read it (%s)", path, f->what, f->advice);
    errno = EMEDIUMTYPE;
    return NULL;
  }
  const struct format_ops *best = &format_raw;
  int best_score = 0;
  for (size_t i = 0; format_table[i]; ++i) {
    int s = format_table[i]->probe (head, headlen, tail, taillen, size);
    if (s > best_score) {
      best_score = s;
      best = format_table[i];
    }
  }
  return best;
}
