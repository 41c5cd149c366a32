/* winseal operation event-logs: remove the event logs (.evtx under
 * winevt\Logs, .evt under config on old systems) and the Sysprep/Setup
 * (Panther) logs, reporting the bytes freed. */
#include <config.h>

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "guest/appliance.h"
#include "generalize/generalize.h"
#include "util/json-out.h"
#include "util/util.h"

static int
has_suffix (const char *s, const char *suf)
{
  size_t a = strlen (s), b = strlen (suf);
  return a >= b && strcasecmp (s + a - b, suf) == 0;
}

static int is_evtx (const char *n) { return has_suffix (n, ".evtx"); }
static int is_evt (const char *n) { return has_suffix (n, ".evt"); }
/* Everything in a Panther directory but the answer files. */
static int
is_panther_log (const char *n)
{
  return strcasecmp (n, "unattend.xml") && strcasecmp (n, "autounattend.xml")
    && strcasecmp (n, "unattend");
}

static const struct {
  const char *dir;              /* below the system root */
  int (*pred) (const char *);
  const char *what;
} places[] = {
  { "System32/winevt/Logs", is_evtx, "event logs (.evtx)" },
  { "System32/config", is_evt, "old event logs (.evt)" },
  { "System32/Sysprep/Panther", is_panther_log, "Sysprep logs" },
  { "Panther", is_panther_log, "Setup logs (Panther)" },
};

static int
perform (struct gen *g)
{
  int64_t total = 0;
  for (size_t i = 0; i < sizeof places / sizeof places[0]; ++i) {
    CLEANUP_FREE char *dir = win_sysroot_path (g->w, places[i].dir);
    int64_t bytes = 0;
    long n = 0;
    if (gen_clear_matching (g, dir, places[i].pred, 0, &n, &bytes) == -1)
      return -1;
    if (n)
      gen_change (g, "%s: %ld %s removed (%" PRId64 " bytes)", dir, n, places[i].what, bytes);
    total += bytes;
  }
  jadd_int (g->op, "bytes_freed", total);
  return 0;
}

static int
count_matching (struct gen *g, const char *rel, int (*pred) (const char *))
{
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, rel);
  long n = 0;
  int64_t b = 0;
  (void) gen_clear_matching (g, dir, pred, 1, &n, &b);
  return (int) n;
}

static void
verify (struct gen *g)
{
  int a = count_matching (g, "System32/winevt/Logs", is_evtx);
  int b = count_matching (g, "System32/config", is_evt);
  if (a)
    gen_fail (g, "event-logs: %d .evtx files left in winevt\\Logs", a);
  if (b)
    gen_fail (g, "event-logs: %d .evt files left in System32\\config", b);
}

const struct operation op_event_logs = {
  .name = "event-logs",
  .heading = "Remove event logs and Setup logs",
  .description =
    "Removes every .evtx file under System32\\winevt\\Logs, .evt files under "
    "System32\\config (Windows XP/2003), and the Setup and Sysprep logs under "
    "Windows\\Panther and System32\\Sysprep\\Panther (answer files there are kept).  "
    "Windows creates empty logs again at the next boot.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
