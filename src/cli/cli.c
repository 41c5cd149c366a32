/* winseal: what the commands share on the command line: the one-line
 * usage error, sizes, the format options, the progress bar. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/format.h"
#include "util/util.h"

int
usage_error (const char *cmd, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ws_error ("%s (try 'winseal %s%s--help')", msg, cmd ? cmd : "", cmd ? " " : "");
  return WS_EXIT_ERROR;
}

/* Parse "10G" and friends.  -1 on error. */
int
parse_size (const char *s, uint64_t *ret)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 10);
  if (errno || end == s || s[0] == '-')
    return -1;
  uint64_t mult = 1;
  switch (*end) {
  case 'k': case 'K': mult = 1ULL << 10; end++; break;
  case 'm': case 'M': mult = 1ULL << 20; end++; break;
  case 'g': case 'G': mult = 1ULL << 30; end++; break;
  case 't': case 'T': mult = 1ULL << 40; end++; break;
  }
  if (*end == 'i' || *end == 'B')
    end += *end == 'i' && end[1] == 'B' ? 2 : 1;
  if (*end || v > UINT64_MAX / mult)
    return -1;
  *ret = v * mult;
  return 0;
}

void
progress_bar (void *opaque, uint64_t done, uint64_t total)
{
  struct progress_bar *b = opaque;
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - b->last.tv_sec) * 1000 + (now.tv_nsec - b->last.tv_nsec) / 1000000;
  if (ms < 100 && done < total)
    return;
  b->last = now;
  int pct = total ? (int) (done * 100 / total) : 100;
  char bar[41];
  int fill = pct * 40 / 100;
  memset (bar, '#', fill);
  memset (bar + fill, '-', 40 - fill);
  bar[40] = '\0';
  fprintf (stderr, "\r%s%s[%s] %3d%% %.1f/%.1f GiB", b->label ? b->label : "",
           b->label ? " " : "", bar, pct, done / 1073741824.0, total / 1073741824.0);
  if (done >= total)
    fputc ('\n', stderr);
}

int
output_format_setup (const char *cmd, const char *format, const char *out_path,
                     struct convert_opts *o)
{
  if (!format && !(format = format_output_guess (out_path)))
    return usage_error (cmd, "cannot tell the output format from '%s': use --format",
                        out_path), -1;
  if (format_output_lookup (format, &o->fmt, &o->wopts.variant) == -1)
    return usage_error (cmd, "unknown output format '%s' (%s)", format,
                        format_output_names ()), -1;
  if (o->wopts.compress && o->fmt != &format_qcow2)
    return usage_error (cmd, "--compress applies to qcow2 only"), -1;
  if (o->wopts.threads == 0) {
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    o->wopts.threads = cores > 0 ? (int) cores : 1;
  }
  return 0;
}

int
vmdk_layout_option (const char *cmd, const char *arg, struct convert_opts *o)
{
  if (strcmp (arg, "header-gd") && strcmp (arg, "stream"))
    return usage_error (cmd, "--vmdk-layout: '%s' is not stream or header-gd", arg), -1;
  o->wopts.vmdk_header_gd = strcmp (arg, "header-gd") == 0;
  return 0;
}

int
output_layout_check (const char *cmd, const struct convert_opts *o, int vmdk_layout_set)
{
  if (vmdk_layout_set && o->fmt != &format_vmdk)
    return usage_error (cmd, "--vmdk-layout is for VMDK output (the output is %s)",
                        format_output_name (o)), -1;
  if (o->wopts.min_size && o->fmt != &format_vhd)
    return usage_error (cmd, "--azure-min-size is for VHD output (the output is %s)",
                        format_output_name (o)), -1;
  return 0;
}

int
input_format_qemu (const char *cmd, const char *infmt, const char **qfmt_ret)
{
  *qfmt_ret = NULL;
  if (!infmt)
    return 0;
  const struct format_ops *f = format_by_name (infmt);
  if (!f)
    return usage_error (cmd, "unknown input format '%s'", infmt), -1;
  *qfmt_ret = format_qemu_name (f);
  return 0;
}

int
cli_exit (int status)
{
  switch (status) {
  case WS_OK: return WS_EXIT_OK;
  case WS_FAIL_UNREADABLE: return WS_EXIT_UNREADABLE;
  case WS_FAIL_NOT_WINDOWS: return WS_EXIT_NOT_WINDOWS;
  case WS_FAIL_ENCRYPTED: return WS_EXIT_ENCRYPTED;
  case WS_FAIL_HIBERNATED: return WS_EXIT_HIBERNATED;
  case WS_FAIL_UNSUPPORTED: return WS_EXIT_UNSUPPORTED;
  default: return WS_EXIT_ERROR;
  }
}
