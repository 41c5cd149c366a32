/* winseal: the program's one signal policy (as nbdkit's server/quit.c:
 * only the program sets handlers; the libraries expose async-signal-safe
 * hooks and never install any).
 *
 *  - SIGINT, SIGTERM, SIGHUP: stop the appliances this process runs
 *    (guest: appliance_kill_all), remove the temporary directories and
 *    output files in progress (util: ws_abort_cleanup, which calls
 *    formats' convert_abort_cleanup), then die of the signal.  A batch
 *    parent instead only notes the signal and stops its workers itself
 *    (signals_catch_stop); its workers, forked, go back to the default.
 *  - SIGBUS: a mapped input that shrank (formats: convert_sigbus); one
 *    line, the same cleanup, exit 1.
 *  - SIGALRM: build's time limit (signals_alarm): the appliances are
 *    stopped, and the calls in flight fail.
 * Every handler is set once, by signals_install at the start of main. */
#include <config.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/format.h"
#include "guest/appliance.h"
#include "util/paths.h"

static volatile sig_atomic_t *stop_flag;
static volatile sig_atomic_t alarm_fired;

static void
on_stop (int sig)
{
  if (stop_flag) {
    *stop_flag = sig;
    return;
  }
  appliance_kill_all ();
  ws_abort_cleanup ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
on_bus (int sig)
{
  convert_sigbus ();
  ws_abort_cleanup ();
  _exit (1);
}

static void
on_alarm (int sig)
{
  alarm_fired = 1;
  appliance_kill_all ();        /* the guestfs call in flight fails */
}

static void
set (int sig, void (*fn) (int))
{
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset (&sa.sa_mask);
  sigaction (sig, &sa, NULL);
}

void
signals_install (void)
{
  set (SIGINT, on_stop);
  set (SIGTERM, on_stop);
  set (SIGHUP, on_stop);
  set (SIGBUS, on_bus);
  set (SIGALRM, on_alarm);      /* only signals_alarm starts the clock */
}

void
signals_catch_stop (volatile sig_atomic_t *flag)
{
  stop_flag = flag;
}

void
signals_default_stop (void)
{
  stop_flag = NULL;
}

void
signals_alarm (unsigned seconds)
{
  alarm_fired = 0;
  alarm (seconds);
}

int
signals_alarm_cancel (void)
{
  alarm (0);
  return alarm_fired;
}

int
signals_alarm_fired (void)
{
  return alarm_fired;
}
