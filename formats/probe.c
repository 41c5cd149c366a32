/* formats: the format table and probing by magic numbers. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format-int.h"

/* Magic formats first; raw (score 1) only wins when nothing else does. */
const struct format_ops *const format_table[] = {
  &format_vhd, &format_vmdk, &format_qcow2, &format_raw, NULL
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

const struct format_ops *
format_probe_fd (int fd, uint64_t size)
{
  uint8_t head[PROBE_HEAD], tail[PROBE_TAIL];
  size_t headlen = size < PROBE_HEAD ? size : PROBE_HEAD;
  size_t taillen = size < PROBE_TAIL ? size : PROBE_TAIL;
  if (full_pread (fd, head, headlen, 0) == -1
      || full_pread (fd, tail, taillen, size - taillen) == -1)
    return NULL;
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
