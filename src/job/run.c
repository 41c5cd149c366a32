/* winseal: the one run sequence (run.h). */
#include <config.h>

#include "guest/appliance.h"
#include "job/job.h"
#include "job/run.h"
#include "util/util.h"

int
run_appliance (const struct disk *disks, size_t n, enum run_shutdown how,
               const char *what, run_work_fn work, void *opaque, int *launched_ret)
{
  guestfs_h *g = appliance_launch (disks, n);
  if (launched_ret)
    *launched_ret = g != NULL;
  if (!g)
    return WS_FAIL;
  int r = work (g, opaque);
  if (how == RUN_SHUTDOWN_IGNORE) {
    guestfs_push_error_handler (g, NULL, NULL);
    guestfs_shutdown (g);
    guestfs_pop_error_handler (g);
  }
  else if (how == RUN_SHUTDOWN_WARN) {
    /* The file systems were synced after each piece of work: the outputs
     * stand; say so all the same. */
    if (guestfs_shutdown (g) == -1)
      ws_warning ("the appliance did not shut down cleanly");
  }
  /* After a failure guestfs_close stops it. */
  else if (r == 0 && guestfs_shutdown (g) == -1) {
    ws_error ("%s: cannot close the file systems cleanly: %s", what, appliance_error (g));
    r = WS_FAIL;
  }
  guestfs_close (g);
  return r;
}

static int
job_work (guestfs_h *g, void *opaque)
{
  return job_run (opaque, g, NULL);
}

int
job_run_appliance (struct job *j)
{
  /* The first progress line says what the input is, as probed. */
  const struct format_ops *inf = j->qfmt ? format_by_name (j->qfmt) : NULL;
  CLEANUP_FREE char *what = ws_asprintf ("launching the appliance (input: %s)",
                                         inf ? format_name (inf) : j->qfmt ? j->qfmt : "?");
  job_phase (j, what);
  int r = run_appliance (&j->disk, 1, RUN_SHUTDOWN_MUST, j->image, job_work, j, NULL);
  return j->status = r;
}
