/* winseal batch: the workers (forked; each runs a group of images in one
 * appliance and reports over a pipe: "P INDEX PHASE" and "R INDEX JSON"
 * lines) and the parent's loop that starts them and reads their lines. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/cli.h"
#include "formats/format.h"
#include "job/job.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

static int worker_fd = -1;

static void
send_line (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
static void
send_line (const char *fmt, ...)
{
  char buf[65536];
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (buf, sizeof buf - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if ((size_t) n >= sizeof buf - 1)
    n = sizeof buf - 2;
  buf[n++] = '\n';
  /* One line at a time: the worker's two threads share the pipe. */
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock (&lock);
  for (ssize_t off = 0; off < n; ) {
    ssize_t w = write (worker_fd, buf + off, n - off);
    if (w <= 0) {
      if (errno == EINTR)
        continue;
      _exit (1);
    }
    off += w;
  }
  pthread_mutex_unlock (&lock);
}

static void
on_phase (struct job *j, const char *what)
{
  send_line ("P %d %s", ((struct bimage *) j->opaque)->index, what);
}

static void
send_result (struct bimage *b, struct job *j, int status, const char *err)
{
  json_object *r = json_object_new_object ();
  jadd_int (r, "status", status);
  jadd_str (r, "error", status ? (err && *err ? err : "failed") : NULL);
  jadd_str (r, "source_sha256", b->source_sha256);
  if (status == 0 && j) {
    json_object_object_add (r, "report", json_object_get (job_report (j)));
    jadd_str (r, "output_sha256", j->cr.sha256);
    jadd_int (r, "bytes_written", j->cr.bytes_written);
  }
  send_line ("R %d %s", b->index, json_object_to_json_string_ext (r, JSON_C_TO_STRING_PLAIN));
  json_object_put (r);
}

/* The worker's output thread: each image the appliance is done with gets
 * its source's SHA-256, its output written and its result sent, while the
 * appliance goes on with the next image. */
struct outq {
  struct bimage **g;
  struct job *jobs;
  int *st;
  int *ready;                   /* the appliance is done with it (or it failed) */
  size_t n;
  pthread_mutex_t lock;
  pthread_cond_t cond;
};

static void
outq_ready (struct outq *q, size_t i)
{
  pthread_mutex_lock (&q->lock);
  q->ready[i] = 1;
  pthread_cond_broadcast (&q->cond);
  pthread_mutex_unlock (&q->lock);
}

static void *
output_thread (void *arg)
{
  struct outq *q = arg;
  for (size_t i = 0; i < q->n; ++i) {
    pthread_mutex_lock (&q->lock);
    while (!q->ready[i])
      pthread_cond_wait (&q->cond, &q->lock);
    pthread_mutex_unlock (&q->lock);
    if (q->st[i])
      continue;                 /* its failure was sent already */
    struct bimage *b = q->g[i];
    ws_thread_context = b->name;
    ws_clear_error ();
    int fd = open_input_file (b->source, 1, NULL);     /* reports its failure */
    char hex[65];
    if (fd == -1)
      q->st[i] = WS_EXIT_UNREADABLE;
    else if (sha256_file (fd, hex) == -1) {
      ws_error ("%s: %s", b->source, strerror (errno));
      q->st[i] = WS_EXIT_UNREADABLE;
    }
    else
      b->source_sha256 = ws_strdup (hex);
    if (fd != -1)
      close (fd);
    if (!q->st[i])
      q->st[i] = job_write_output (&q->jobs[i]);
    send_result (b, &q->jobs[i], q->st[i], ws_last_error ());
  }
  ws_thread_context = NULL;
  return NULL;
}

/* A worker's images inside its appliance, one disk each, one after the
 * other; each is handed to the output thread when the appliance is done
 * with it. */
struct group_run {
  struct bimage **g;
  struct job *jobs;
  int *st;
  size_t *disk_of;
  size_t n;
  struct outq *q;
};

static int
group_work (guestfs_h *gh, void *opaque)
{
  struct group_run *gr = opaque;
  for (size_t i = 0; i < gr->n; ++i) {
    if (!gr->st[i]) {
      ws_globals.context = gr->g[i]->name;
      ws_clear_error ();
      char dev[16];
      snprintf (dev, sizeof dev, "/dev/sd%c", (char) ('a' + gr->disk_of[i]));
      gr->st[i] = job_run (&gr->jobs[i], gh, dev);
      if (gr->st[i])
        send_result (gr->g[i], NULL, gr->st[i], ws_last_error ());
    }
    outq_ready (gr->q, i);
  }
  ws_globals.context = NULL;
  return 0;
}

/* The worker: images g[0..n) in one appliance launch. */
static int
worker (struct bimage **g, size_t n)
{
  struct job *jobs = ws_malloc (n * sizeof *jobs);
  int *st = ws_malloc (n * sizeof *st);
  int *ready = ws_malloc (n * sizeof *ready);
  struct disk *disks = ws_malloc (n * sizeof *disks);
  size_t *disk_of = ws_malloc (n * sizeof *disk_of);
  size_t nd = 0;
  for (size_t i = 0; i < n; ++i) {
    struct bimage *b = g[i];
    ready[i] = 0;
    ws_globals.context = b->name;
    ws_clear_error ();
    int special = 0, nops = 0;
    char **ops = NULL;
    st[i] = job_parse (&jobs[i], b->argc, b->argv, "batch", NULL, &special, &ops, &nops);
    jobs[i].label = b->name;
    jobs[i].on_phase = on_phase;
    jobs[i].opaque = b;
    send_line ("P %d checking the source", b->index);
    if (!st[i] && nops != 1)
      st[i] = WS_EXIT_ERROR;    /* checked with the catalog; cannot happen */
    if (!st[i])
      jobs[i].image = ops[0];
    jobs[i].co.checksum = 1;
    if (!st[i])
      st[i] = job_check_options (&jobs[i], "batch");
    if (!st[i])
      st[i] = job_prepare (&jobs[i]);
    if (st[i])
      send_result (b, NULL, st[i], ws_last_error ());
    else {
      disk_of[i] = nd;
      disks[nd++] = jobs[i].disk;
    }
  }
  ws_globals.context = NULL;
  struct outq q = { g, jobs, st, ready, n, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };
  pthread_t th;
  if (pthread_create (&th, NULL, output_thread, &q) != 0)
    abort ();
  struct group_run gr = { g, jobs, st, disk_of, n, &q };
  int launched = 0;
  if (nd) {
    for (size_t i = 0; i < n; ++i)
      if (!st[i])
        send_line ("P %d launching the appliance (%zu disk%s)", g[i]->index, nd, nd == 1 ? "" : "s");
    ws_clear_error ();
    run_appliance (disks, nd, RUN_SHUTDOWN_WARN, "batch", group_work, &gr, &launched);
    if (!launched)
      for (size_t i = 0; i < n; ++i)
        if (!st[i]) {
          st[i] = WS_EXIT_ERROR;
          send_result (g[i], NULL, st[i], ws_last_error ());
        }
  }
  if (!launched)
    for (size_t i = 0; i < n; ++i)
      outq_ready (&q, i);
  pthread_join (th, NULL);
  for (size_t i = 0; i < n; ++i)
    job_free (&jobs[i]);
  free (jobs);
  free (st);
  free (ready);
  free (disks);
  free (disk_of);
  return 0;
}

/* ---- the parent ---- */

static volatile sig_atomic_t interrupted;

struct child {
  pid_t pid;
  int fd;
  struct bimage **imgs;         /* its group */
  size_t nimgs;
  char buf[1 << 17];
  size_t fill;
};

static size_t shown_lines;

void
batch_display (struct batch_progress *bp)
{
  if (!bp->show)
    return;
  for (size_t i = 0; i < shown_lines; ++i)
    fputs ("\033[1A\033[2K", stderr);
  shown_lines = 0;
  for (size_t i = 0; i < bp->n; ++i)
    if (bp->bs[i].state == B_RUNNING) {
      fprintf (stderr, "  %-20.20s %6.0fs  %s\n", bp->bs[i].name, ws_now () - bp->bs[i].started,
               bp->bs[i].phase ? bp->bs[i].phase : "");
      shown_lines++;
    }
  fprintf (stderr, "total: %zu of %zu done, %zu failed, %.0fs\n", bp->done, bp->n, bp->failed,
           ws_now () - bp->t0);
  shown_lines++;
}

/* An image's end, in the manifest and the counts. */
static void
image_done (struct batch_progress *bp, struct bimage *b)
{
  manifest_record (b, bp->run_uuid);
  manifest_flush (0);
  bp->done++;
  if (b->state != B_OK)
    bp->failed++;
}

/* A line from a worker: "P INDEX PHASE" or "R INDEX RESULT-JSON". */
static void
handle_line (struct batch_progress *bp, char *line)
{
  char kind = line[0];
  char *end;
  long idx = strtol (line + 2, &end, 10);
  if ((kind != 'P' && kind != 'R') || idx < 0 || (size_t) idx >= bp->n || *end != ' ')
    return;
  struct bimage *b = &bp->bs[idx];
  if (kind == 'P') {
    free (b->phase);
    b->phase = ws_strdup (end + 1);
    return;
  }
  json_object *r = json_tokener_parse (end + 1);
  if (!r)
    return;
  json_object_put (b->result);
  b->result = r;
  int status = (int) jget_int (r, "status", 1);
  b->state = status ? B_FAILED : B_OK;
  free (b->error);
  b->error = status ? ws_strdup (jget_str (r, "error")) : NULL;
  image_done (bp, b);
}

/* Start a worker on queue[0..take): its own process group (with its qemu:
 * the parent stops the whole group).  0, or -1 (reported). */
static int
start_worker (struct child *kids, size_t nk, struct bimage **queue, size_t take,
              const char *work)
{
  int p[2];
  if (pipe (p) == -1) {
    ws_error ("pipe: %s", strerror (errno));
    return -1;
  }
  for (size_t k = 0; k < take; ++k) {
    queue[k]->state = B_RUNNING;
    queue[k]->started = ws_now ();
    free (queue[k]->phase);
    queue[k]->phase = ws_strdup ("waiting");
  }
  pid_t pid = fork ();
  if (pid == 0) {
    setpgid (0, 0);
    close (p[0]);
    for (size_t k = 0; k < nk; ++k)
      close (kids[k].fd);
    /* Told to stop, a worker takes its appliance down with it and dies
     * of the signal (the program's policy, cli/signals.c). */
    signals_default_stop ();
    ws_forget_tmpdirs ();
    /* Temporary files (overlays, the appliance's own) go to the work
     * directory; the appliance cache stays where it was, so that it is
     * not built again per worker. */
    if (!getenv ("LIBGUESTFS_CACHEDIR"))
      setenv ("LIBGUESTFS_CACHEDIR", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/var/tmp", 1);
    setenv ("TMPDIR", work, 1);
    worker_fd = p[1];
    worker (queue, take);
    _exit (0);
  }
  close (p[1]);
  if (pid == -1) {
    ws_error ("fork: %s", strerror (errno));
    close (p[0]);
    return -1;
  }
  kids[nk] = (struct child) { .pid = pid, .imgs = queue, .nimgs = take, .fd = p[0] };
  return 0;
}

/* Read what a worker sent; at its end, the images it did not report
 * failed.  Returns 0, or 1 when the worker is gone. */
static int
read_worker (struct batch_progress *bp, struct child *ch)
{
  ssize_t r = read (ch->fd, ch->buf + ch->fill, sizeof ch->buf - 1 - ch->fill);
  if (r > 0) {
    ch->fill += r;
    char *nl;
    while ((nl = memchr (ch->buf, '\n', ch->fill))) {
      *nl = '\0';
      handle_line (bp, ch->buf);
      size_t used = nl + 1 - ch->buf;
      memmove (ch->buf, nl + 1, ch->fill - used);
      ch->fill -= used;
    }
    if (ch->fill == sizeof ch->buf - 1)
      ch->fill = 0;             /* a line too long: dropped */
    return 0;
  }
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  /* The worker is done (or died). */
  close (ch->fd);
  int wst = 0;
  waitpid (ch->pid, &wst, 0);
  /* A scheduler stopping a job signals every process of it at once: a
   * worker that died of SIGTERM, SIGINT or SIGHUP is taken as this
   * process's interruption, which its own signal is about to start (or
   * did); the images are then "interrupted", not failed. */
  int sig = WIFSIGNALED (wst) ? WTERMSIG (wst) : 0;
  if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
    for (int t = 0; t < 20 && !interrupted; ++t) {
      struct timespec ts = { 0, 50000000 };
      nanosleep (&ts, NULL);
    }
  }
  for (size_t i = 0; i < ch->nimgs; ++i) {
    struct bimage *bi = ch->imgs[i];
    if (bi->state != B_RUNNING)
      continue;
    free (bi->error);
    if (interrupted) {
      bi->state = B_INTERRUPTED;
      bi->error = ws_strdup ("interrupted");
      manifest_record (bi, bp->run_uuid);
      continue;
    }
    bi->state = B_FAILED;
    bi->error = sig ? ws_asprintf ("the worker process was stopped by signal %d", sig)
                    : ws_strdup ("the worker process ended without a result");
    image_done (bp, bi);
  }
  return 1;
}

/* Interrupted: stop every worker (and its qemu, in its process group) and
 * mark its running images interrupted. */
static void
stop_workers (struct batch_progress *bp, struct child *kids, size_t nk)
{
  for (size_t k = 0; k < nk; ++k) {
    kill (kids[k].pid, SIGTERM);
    kill (-kids[k].pid, SIGTERM);
  }
  for (size_t k = 0; k < nk; ++k) {
    int wst;
    waitpid (kids[k].pid, &wst, 0);
    close (kids[k].fd);
    /* Wait (up to 10 s) until the whole group is gone, so that nothing
     * writes into the work directory while it is removed. */
    for (int t = 0; t < 100 && kill (-kids[k].pid, 0) == 0; ++t) {
      if (t == 50)
        kill (-kids[k].pid, SIGKILL);
      struct timespec ts = { 0, 100000000 };
      nanosleep (&ts, NULL);
    }
  }
  /* A worker killed mid-write removed its temporary file; nothing is at
   * the output path unless the image finished. */
  for (size_t i = 0; i < bp->n; ++i)
    if (bp->bs[i].state == B_RUNNING) {
      bp->bs[i].state = B_INTERRUPTED;
      free (bp->bs[i].error);
      bp->bs[i].error = ws_strdup ("interrupted");
      manifest_record (&bp->bs[i], bp->run_uuid);
    }
}

int
batch_run_workers (struct batch_progress *bp, struct bimage **queue, size_t nq,
                   long jobs, long per_launch, const char *work)
{
  signals_catch_stop (&interrupted);
  struct child *kids = ws_malloc (jobs * sizeof *kids);
  size_t nk = 0, qpos = 0;
  fflush (stdout);
  fflush (stderr);
  while ((qpos < nq || nk > 0) && !interrupted) {
    while (qpos < nq && nk < (size_t) jobs && !interrupted) {
      size_t take = nq - qpos < (size_t) per_launch ? nq - qpos : (size_t) per_launch;
      if (start_worker (kids, nk, queue + qpos, take, work) == -1) {
        interrupted = SIGTERM;
        break;
      }
      nk++;
      qpos += take;
    }
    batch_display (bp);
    struct pollfd *pf = ws_malloc ((nk ? nk : 1) * sizeof *pf);
    for (size_t k = 0; k < nk; ++k)
      pf[k] = (struct pollfd) { .fd = kids[k].fd, .events = POLLIN };
    int pr = poll (pf, nk, 1000);
    for (size_t k = 0; pr > 0 && k < nk; ++k)
      if ((pf[k].revents & (POLLIN | POLLHUP | POLLERR)) && read_worker (bp, &kids[k]))
        kids[k].pid = -1;
    free (pf);
    /* What finished is on disk within about a second, whatever kills
     * this process next. */
    manifest_flush (0);
    /* Forget finished workers. */
    size_t w = 0;
    for (size_t k = 0; k < nk; ++k)
      if (kids[k].pid != -1)
        kids[w++] = kids[k];
    nk = w;
  }
  if (interrupted)
    stop_workers (bp, kids, nk);
  free (kids);
  return interrupted;
}
