/* winseal: appliance launch with a TCG fallback, its watchdog, and the
 * registry of running appliances. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "formats/format.h"
#include "util/paths.h"
#include "util/util.h"

/* The watchdog of a launched appliance (see watch_start). */
#define WATCH_PERIOD 5          /* seconds between looks */
#define WATCH_DEFAULT 600       /* seconds without qemu CPU time: stuck */

struct watchdog {
  pthread_t th;
  int running;
  pid_t pid;
  int limit;
  int stop;
  volatile int fired;           /* 1: no progress for limit s; 2: paused, a disk's file system full */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  /* The directories of the writable disks (overlays) and TMPDIR: where a
   * full file system makes appliance calls fail. */
  char *dirs[9];
  const char *full_dir;         /* fired == 2: which one */
};

/* The one registry of the appliances this process has running (their qemu
 * pids), for appliance_kill_all from a signal handler. */
#define LIVE_MAX 16
static volatile sig_atomic_t live[LIVE_MAX];

static void
live_add (pid_t pid)
{
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock (&lock);
  for (int i = 0; i < LIVE_MAX; ++i)
    if (!live[i]) {
      live[i] = pid;
      break;
    }
  pthread_mutex_unlock (&lock);
}

static void
live_remove (pid_t pid)
{
  for (int i = 0; i < LIVE_MAX; ++i)
    if (live[i] == pid)
      live[i] = 0;
}

void
appliance_kill_all (void)
{
  for (int i = 0; i < LIVE_MAX; ++i) {
    pid_t pid = live[i];
    if (pid > 0)
      kill (pid, SIGKILL);      /* async-signal-safe */
  }
}

/* A file system with less than this free is full, for messages. */
#define FULL_BYTES (8u << 20)

static int
dir_full (const char *dir)
{
  struct statvfs sv;
  return statvfs (dir, &sv) == 0 && (uint64_t) sv.f_bfree * sv.f_frsize < FULL_BYTES;
}

/* Why the watchdog stopped qemu. */
static const char *
appliance_reason (struct watchdog *wd)
{
  static __thread char line[512];
  if (wd->fired == 1) {
    snprintf (line, sizeof line, "the appliance stopped making progress (qemu used no "
              "CPU for %d s); it was stopped", wd->limit);
    return line;
  }
  int is_tmp = !strcmp (ws_tmpdir (), wd->full_dir);
  snprintf (line, sizeof line, "%s%s is full: the overlay that holds the changes cannot "
            "grow (qemu paused; it was stopped, nothing was written); free space there%s",
            is_tmp ? "TMPDIR " : "", wd->full_dir,
            is_tmp ? " or set TMPDIR to a larger file system" : "");
  return line;
}

const char *
appliance_error (guestfs_h *g)
{
  static __thread char line[768];
  struct watchdog *wd = guestfs_get_private (g, "winseal-watchdog");
  if (wd && wd->fired)
    return appliance_reason (wd);
  const char *e = guestfs_last_error (g);
  if (!e)
    return "unknown error";
  size_t n = strcspn (e, "\n");
  if (n >= 480)
    n = 480;
  /* A failure while the file system under an overlay (or TMPDIR) is
   * full: say that, not what ntfs-3g or qemu made of it. */
  for (int i = 0; wd && wd->dirs[i]; ++i)
    if (dir_full (wd->dirs[i])) {
      int is_tmp = !strcmp (ws_tmpdir (), wd->dirs[i]);
      snprintf (line, sizeof line, "%s%s is full (%.*s); free space there%s",
                is_tmp ? "TMPDIR " : "", wd->dirs[i], (int) n, e,
                is_tmp ? " or set TMPDIR to a larger file system" : "");
      return line;
    }
  memcpy (line, e, n);
  line[n] = '\0';
  return line;
}

/* ---- the watchdog: every wait on the appliance has a bound ---- */


/* qemu's CPU time (user + system, in clock ticks), or -1 when it is gone. */
static long long
cpu_ticks (pid_t pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  const char *p = strrchr (buf, ')');   /* after the command name */
  unsigned long long ut, st;
  char state;
  if (!p || sscanf (p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                    &state, &ut, &st) != 3 || state == 'Z')
    return -1;
  return (long long) (ut + st);
}

static void *
watch (void *arg)
{
  struct watchdog *wd = arg;
  long long last = cpu_ticks (wd->pid);
  int still = 0;
  pthread_mutex_lock (&wd->lock);
  while (!wd->stop) {
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += WATCH_PERIOD;
    pthread_cond_timedwait (&wd->cond, &wd->lock, &ts);
    if (wd->stop)
      break;
    long long t = cpu_ticks (wd->pid);
    if (t < 0)
      break;                    /* qemu is gone: libguestfs says so */
    still = t == last ? still + WATCH_PERIOD : 0;
    last = t;
    /* qemu pauses the machine when a write to a disk fails for want of
     * space (its default, werror=enospc) and waits for ever: a stall with
     * a full file system under an overlay is that. */
    for (int i = 0; still >= 2 * WATCH_PERIOD && wd->dirs[i] && !wd->fired; ++i)
      if (dir_full (wd->dirs[i])) {
        wd->full_dir = wd->dirs[i];
        wd->fired = 2;
      }
    if (!wd->fired && still >= wd->limit)
      wd->fired = 1;            /* paused or hung: a call would wait for ever */
    if (wd->fired) {
      /* Whichever call notices first, the run ends with this line. */
      ws_error_final ("%s", appliance_reason (wd));
      kill (wd->pid, SIGKILL);
      break;
    }
  }
  pthread_mutex_unlock (&wd->lock);
  return NULL;
}

static void
watch_stop (guestfs_h *g, void *opaque, uint64_t event, int eh, int flags,
            const char *buf, size_t len, const uint64_t *arr, size_t arrlen)
{
  struct watchdog *wd = opaque;
  if (wd->pid > 0)
    live_remove (wd->pid);
  if (wd->running) {
    pthread_mutex_lock (&wd->lock);
    wd->stop = 1;
    pthread_cond_signal (&wd->cond);
    pthread_mutex_unlock (&wd->lock);
    pthread_join (wd->th, NULL);
  }
  pthread_mutex_destroy (&wd->lock);
  pthread_cond_destroy (&wd->cond);
  for (int i = 0; wd->dirs[i]; ++i)
    free (wd->dirs[i]);
  free (wd);
}

/* The handle's state, made with the handle and freed when it closes. */
static struct watchdog *
state_new (guestfs_h *g, const struct disk *disks, size_t n)
{
  struct watchdog *wd = ws_malloc (sizeof *wd);
  memset (wd, 0, sizeof *wd);
  const char *e = getenv ("WINSEAL_APPLIANCE_STALL");
  wd->limit = e && atoi (e) > 0 ? atoi (e) : WATCH_DEFAULT;
  pthread_mutex_init (&wd->lock, NULL);
  pthread_cond_init (&wd->cond, NULL);
  size_t k = 0;
  wd->dirs[k++] = ws_strdup (ws_tmpdir ());
  for (size_t i = 0; i < n && k < 8; ++i)
    if (!disks[i].readonly) {
      char *c = ws_strdup (disks[i].path), *sl = strrchr (c, '/');
      if (sl)
        *(sl == c ? sl + 1 : sl) = '\0';
      else
        strcpy (c, ".");
      wd->dirs[k++] = c;
    }
  guestfs_set_private (g, "winseal-watchdog", wd);
  guestfs_set_event_callback (g, watch_stop, GUESTFS_EVENT_CLOSE, 0, wd);
  return wd;
}

/* Watch a launched appliance's qemu until the handle is closed. */
static void
watch_start (guestfs_h *g)
{
  struct watchdog *wd = guestfs_get_private (g, "winseal-watchdog");
  int pid = guestfs_get_pid (g);
  if (!wd || pid <= 0)
    return;
  wd->pid = pid;
  live_add (pid);
  wd->running = pthread_create (&wd->th, NULL, watch, wd) == 0;
}

/* ---- the first launch's time limit ---- */

/* This host's KVM has been seen both to abort qemu at once and to leave
 * it spinning for ever inside the launch, which libguestfs then waits on
 * (the watchdog above starts only once the appliance is up).  So the
 * first launch, when it may use KVM, has a time limit
 * (WINSEAL_LAUNCH_TIMEOUT, default 120 s; a KVM launch takes seconds):
 * past it, the qemu the launch started is killed, the launch fails, and
 * appliance_launch retries with TCG, which has no limit. */
#define LAUNCH_TIMEOUT_DEFAULT 120

struct launch_limit {
  pthread_t th;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done, limit;
  volatile int fired;
};

/* Kill this process's qemu children that are not running appliances (the
 * one being launched). */
static void
kill_launching_qemu (void)
{
  DIR *d = opendir ("/proc");
  if (!d)
    return;
  pid_t me = getpid ();
  struct dirent *de;
  while ((de = readdir (d))) {
    char *end;
    long pid = strtol (de->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char path[64], buf[512];
    snprintf (path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
      continue;
    ssize_t n = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (n <= 0)
      continue;
    buf[n] = '\0';
    char *lp = strchr (buf, '('), *rp = strrchr (buf, ')');
    int ppid;
    if (!lp || !rp || rp < lp || sscanf (rp + 1, " %*c %d", &ppid) != 1 || ppid != me
        || strncmp (lp + 1, "qemu", 4) != 0)
      continue;
    int running = 0;
    for (int i = 0; i < LIVE_MAX; ++i)
      running |= live[i] == (pid_t) pid;
    if (!running)
      kill ((pid_t) pid, SIGKILL);
  }
  closedir (d);
}

static void *
launch_limit_thread (void *arg)
{
  struct launch_limit *ll = arg;
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += ll->limit;
  pthread_mutex_lock (&ll->lock);
  while (!ll->done)
    if (pthread_cond_timedwait (&ll->cond, &ll->lock, &ts) == ETIMEDOUT) {
      if (!ll->done) {
        ll->fired = 1;
        kill_launching_qemu ();
      }
      break;
    }
  pthread_mutex_unlock (&ll->lock);
  return NULL;
}

/* May this launch use KVM (so that it gets the time limit)? */
static int
may_use_kvm (int force_tcg)
{
  return !force_tcg && !getenv ("LIBGUESTFS_BACKEND_SETTINGS")
         && access ("/dev/kvm", R_OK | W_OK) == 0;
}

/* guestfs_launch, under the time limit when limit > 0; *fired_ret says
 * whether the limit stopped it. */
static int
launch_limited (guestfs_h *g, int limit, int *fired_ret)
{
  *fired_ret = 0;
  if (limit <= 0)
    return guestfs_launch (g);
  struct launch_limit ll = { .limit = limit };
  pthread_mutex_init (&ll.lock, NULL);
  pthread_cond_init (&ll.cond, NULL);
  int started = pthread_create (&ll.th, NULL, launch_limit_thread, &ll) == 0;
  int r = guestfs_launch (g);
  if (started) {
    pthread_mutex_lock (&ll.lock);
    ll.done = 1;
    pthread_cond_signal (&ll.cond);
    pthread_mutex_unlock (&ll.lock);
    pthread_join (ll.th, NULL);
  }
  pthread_mutex_destroy (&ll.lock);
  pthread_cond_destroy (&ll.cond);
  *fired_ret = ll.fired;
  return ll.fired ? -1 : r;
}

static int
launch_limit_seconds (void)
{
  const char *e = getenv ("WINSEAL_LAUNCH_TIMEOUT");
  return e && atoi (e) > 0 ? atoi (e) : LAUNCH_TIMEOUT_DEFAULT;
}

/* Returns 0 when launched, -1 when setting up failed (no point retrying),
 * -2 when the launch itself failed (-3: it did not finish in time).  *g_ret
 * is set unless creation failed. */
static int
try_launch (const struct disk *disks, size_t n, int force_tcg, guestfs_h **g_ret)
{
  guestfs_h *g = *g_ret = guestfs_create ();
  if (!g) {
    ws_error ("cannot create a libguestfs handle: %m");
    return -1;
  }
  guestfs_set_error_handler (g, NULL, NULL);
  state_new (g, disks, n);
  if (ws_globals.verbose)
    guestfs_set_verbose (g, 1);
  if (ws_globals.trace)
    guestfs_set_trace (g, 1);
  if (force_tcg && guestfs_set_backend_setting (g, "force_tcg", "1") == -1)
    return -1;
  for (size_t i = 0; i < n; ++i)
    if (guestfs_add_drive_opts (g, disks[i].path,
                                GUESTFS_ADD_DRIVE_OPTS_FORMAT, disks[i].format,
                                GUESTFS_ADD_DRIVE_OPTS_READONLY, disks[i].readonly,
                                -1) == -1)
      return -1;
  int fired;
  int limit = may_use_kvm (force_tcg) ? launch_limit_seconds () : 0;
  if (launch_limited (g, limit, &fired) == -1)
    return fired ? -3 : -2;
  return 0;
}

guestfs_h *
appliance_launch (const struct disk *disks, size_t n)
{
  guestfs_h *g;
  int r = try_launch (disks, n, 0, &g);
  if (r == 0) {
    watch_start (g);
    return g;
  }
  if (!g)
    return NULL;

  /* Retry with TCG only if the user did not choose backend settings: a
   * broken KVM (qemu aborts) is the usual reason, and TCG always works. */
  int user_chose = getenv ("LIBGUESTFS_BACKEND_SETTINGS") != NULL;
  CLEANUP_FREE_STRING_LIST char **settings = guestfs_get_backend_settings (g);
  for (size_t i = 0; settings && settings[i]; ++i)
    if (strncmp (settings[i], "force_tcg", 9) == 0
        || strncmp (settings[i], "force_kvm", 9) == 0)
      user_chose = 1;
  if (user_chose || r == -1) {
    ws_error ("cannot launch the libguestfs appliance: %s", appliance_error (g));
    guestfs_close (g);
    return NULL;
  }
  char first[512];
  if (r == -3)
    snprintf (first, sizeof first, "it did not finish within %d s", launch_limit_seconds ());
  else
    snprintf (first, sizeof first, "%s", appliance_error (g));
  guestfs_close (g);
  ws_warning ("appliance launch failed (%s); retrying with TCG software "
              "emulation, which is slower", first);
  if (try_launch (disks, n, 1, &g) == 0) {
    watch_start (g);
    return g;
  }
  if (g) {
    ws_error ("cannot launch the libguestfs appliance: %s", appliance_error (g));
    guestfs_close (g);
  }
  return NULL;
}
