/* winseal: the one run sequence every command uses: launch an appliance on
 * its disks, do the work inside, shut it down, close it. */
#ifndef WINSEAL_RUN_H
#define WINSEAL_RUN_H

#include <guestfs.h>

#include "guest/appliance.h"

struct job;

/* What a failed shutdown (after the work succeeded) means. */
enum run_shutdown {
  RUN_SHUTDOWN_MUST,            /* an error: what was written may not be on the disk */
  RUN_SHUTDOWN_WARN,            /* a warning: the work synced its file systems (batch) */
  RUN_SHUTDOWN_IGNORE,          /* nothing: the work only read (inspect, verify) */
};

/* The work done inside: returns 0 or a WS_FAIL_* kind (reported). */
typedef int (*run_work_fn) (guestfs_h *g, void *opaque);

/* Launch an appliance on disks[0..n), call work (g, opaque), shut the
 * appliance down as how says and close it.  what names the run in
 * messages.  Returns work's code, or WS_FAIL when the launch (or a
 * RUN_SHUTDOWN_MUST shutdown) failed; *launched_ret (may be NULL) says
 * whether the appliance came up. */
int run_appliance (const struct disk *disks, size_t n, enum run_shutdown how,
                   const char *what, run_work_fn work, void *opaque, int *launched_ret);

/* One prepared job's appliance part (generalize, build): "launching the
 * appliance", job_run on its disk, shut down.  Returns 0 or a WS_FAIL_*
 * code. */
int job_run_appliance (struct job *j);

#endif
