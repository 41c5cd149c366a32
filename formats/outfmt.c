/* formats: the output formats a user can name (--format, a catalog's
 * "format"), in one table: the name, the file-name extensions that imply
 * it, the driver and the driver's variant. */
#include <config.h>

#include <string.h>
#include <strings.h>

#include "format-int.h"

static const struct output_format {
  const char *name;
  const char *ext[2];           /* extensions implying it (NULL: none) */
  const struct format_ops *ops;
  int variant;                  /* write_opts.variant */
} outputs[] = {
  { "vhd", { ".vhd", ".vpc" }, &format_vhd, 0 },
  { "vhd-dynamic", { NULL, NULL }, &format_vhd, 1 },
  { "vmdk", { ".vmdk", NULL }, &format_vmdk, 0 },
  { "qcow2", { ".qcow2", NULL }, &format_qcow2, 0 },
  { "vhdx", { ".vhdx", NULL }, &format_vhdx, 0 },
  { "raw", { ".img", ".raw" }, &format_raw, 0 },
};
#define NR_OUTPUTS (sizeof outputs / sizeof outputs[0])

const char *
format_output_names (void)
{
  return "vhd, vhd-dynamic, vmdk, qcow2, vhdx, raw";
}

const char *
format_output_guess (const char *path)
{
  const char *dot = strrchr (path, '.');
  if (!dot)
    return NULL;
  for (size_t i = 0; i < NR_OUTPUTS; ++i)
    for (size_t k = 0; k < 2; ++k)
      if (outputs[i].ext[k] && strcasecmp (dot, outputs[i].ext[k]) == 0)
        return outputs[i].name;
  return NULL;
}

int
format_output_lookup (const char *name, const struct format_ops **ops_ret, int *variant_ret)
{
  for (size_t i = 0; i < NR_OUTPUTS; ++i)
    if (strcasecmp (name, outputs[i].name) == 0) {
      *ops_ret = outputs[i].ops;
      *variant_ret = outputs[i].variant;
      return 0;
    }
  return -1;
}

const char *
format_output_name (const struct convert_opts *o)
{
  for (size_t i = 0; i < NR_OUTPUTS; ++i)
    if (outputs[i].ops == o->fmt && outputs[i].variant == (o->wopts.variant != 0))
      return outputs[i].name;
  return o->fmt->name;
}

const char *
format_output_ext (const char *name)
{
  for (size_t i = 0; i < NR_OUTPUTS; ++i)
    if (strcmp (name, outputs[i].name) == 0)
      for (size_t k = 0; k < NR_OUTPUTS; ++k)
        if (outputs[k].ops == outputs[i].ops && outputs[k].ext[0])
          return outputs[k].ext[0] + 1;
  return NULL;
}

bool
format_output_needs_full_size (const struct convert_opts *o)
{
  return o->fmt == &format_vhd && !o->wopts.variant;
}

const char *
format_name (const struct format_ops *f)
{
  return f->name;
}

const char *
format_qemu_name (const struct format_ops *f)
{
  return f->qemu_name;
}
