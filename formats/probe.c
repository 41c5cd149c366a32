/* formats: format table and probing by magic numbers. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format.h"

static int
probe_raw (const uint8_t *head, size_t headlen, const uint8_t *tail,
           size_t taillen, uint64_t size)
{
  return 1;                     /* anything is raw; never preferred */
}

static int
probe_vhd (const uint8_t *head, size_t headlen, const uint8_t *tail,
           size_t taillen, uint64_t size)
{
  /* Footer at the end (fixed and dynamic), copy at offset 0 (dynamic). */
  if (taillen >= 512 && memcmp (tail + taillen - 512, "conectix", 8) == 0)
    return 100;
  if (headlen >= 512 && memcmp (head, "conectix", 8) == 0)
    return 100;
  return 0;
}

static int
probe_vmdk (const uint8_t *head, size_t headlen, const uint8_t *tail,
            size_t taillen, uint64_t size)
{
  static const char desc[] = "# Disk DescriptorFile";
  if (headlen >= 4 && memcmp (head, "KDMV", 4) == 0)
    return 100;
  if (headlen >= sizeof desc - 1 && memcmp (head, desc, sizeof desc - 1) == 0)
    return 100;
  return 0;
}

static int
probe_qcow2 (const uint8_t *head, size_t headlen, const uint8_t *tail,
             size_t taillen, uint64_t size)
{
  return headlen >= 4 && memcmp (head, "QFI\xfb", 4) == 0 ? 100 : 0;
}

const struct format_ops format_raw = { "raw", "raw", probe_raw };
const struct format_ops format_vhd = { "vhd", "vpc", probe_vhd };
const struct format_ops format_vmdk = { "vmdk", "vmdk", probe_vmdk };
const struct format_ops format_qcow2 = { "qcow2", "qcow2", probe_qcow2 };

const struct format_ops *const format_table[] = {
  &format_vhd, &format_vmdk, &format_qcow2, &format_raw, NULL
};

const struct format_ops *
format_by_name (const char *name)
{
  for (size_t i = 0; format_table[i]; ++i)
    if (strcasecmp (format_table[i]->name, name) == 0
        || strcasecmp (format_table[i]->qemu_name, name) == 0)
      return format_table[i];
  return NULL;
}

static ssize_t
read_at (int fd, uint8_t *buf, size_t len, uint64_t off)
{
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread (fd, buf + got, len - got, (off_t) (off + got));
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0)
      break;
    got += r;
  }
  return (ssize_t) got;
}

const struct format_ops *
format_probe_fd (int fd, uint64_t size)
{
  uint8_t head[PROBE_HEAD], tail[PROBE_TAIL];
  size_t headlen = size < PROBE_HEAD ? size : PROBE_HEAD;
  size_t taillen = size < PROBE_TAIL ? size : PROBE_TAIL;
  ssize_t r1 = read_at (fd, head, headlen, 0);
  ssize_t r2 = read_at (fd, tail, taillen, size - taillen);
  if (r1 != (ssize_t) headlen || r2 != (ssize_t) taillen) {
    if (errno == 0)
      errno = EIO;
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
