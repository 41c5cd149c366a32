/* winseal: the libraries link without the program (cli/).  Every layer's
 * entry points are referenced, so that a library calling into cli/ (as
 * job.c once called usage_error) fails to link here. */
#include <config.h>

#include <string.h>

#include "generalize/generalize.h"
#include "guest/precheck.h"
#include "job/job.h"
#include "job/run.h"
#include "registry/hive.h"
#include "unit.h"
#include "util/util.h"
#include "win/sid.h"

/* Taken by address only: the linker must resolve them. */
static void *const entry_points[] = {
  (void *) job_prepare, (void *) job_run, (void *) job_write_output, (void *) job_finish,
  (void *) job_report, (void *) job_print_text, (void *) job_free, (void *) run_appliance,
  (void *) job_run_appliance, (void *) disk_precheck, (void *) gen_begin, (void *) gen_run,
  (void *) gen_commit, (void *) operations_validate,
};

int
main (void)
{
  for (size_t i = 0; i < sizeof entry_points / sizeof entry_points[0]; ++i)
    CHECK (entry_points[i] != NULL);
  CHECK (valid_computer_name ("WEB-01") && !valid_computer_name ("1234"));
  struct sid s;
  CHECK (sid_parse ("S-1-5-21-1-2-3", &s) == 0 && sid_is_machine_domain (&s));
  return unit_done ("unit-link");
}
