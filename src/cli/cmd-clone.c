/* winseal: `winseal clone GOLDEN -n N -o PATTERN`: N generalized images
 * from one golden image, each with its own machine SID and computer name.
 *
 * The shared work is done once: one appliance launch, the hives copied
 * and checked once, and every operation but the per-clone ones
 * (sid-reset, computer-name, machine-ids, unattend — the answer file
 * names the computer) run once on a qcow2 overlay of GOLDEN.  Then, per clone, in
 * the same appliance: the per-clone operations move the machine SID on
 * from the previous clone's (every hive, descriptor, task and SID-named
 * folder) and set its name, the changed hives are written back, the file
 * systems are unmounted and synced, the overlay is copied, and a thread
 * writes the clone's output from that copy (formats/) while the next
 * clone starts from there in the appliance.  Each
 * output holds exactly what `winseal generalize --sid S --computer-name
 * C` would have produced, but for its random parts. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "job/job.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

#define CLONES_MAX 1000

static const char *const per_clone[] = { "sid-reset", "computer-name", "machine-ids", "unattend",
                                         NULL };

static void
help (void)
{
  printf ("Usage: winseal clone GOLDEN -n N -o PATTERN [--computer-name PATTERN]\n"
          "                     [generalize options]\n\n"
          "Make N generalized images from GOLDEN, each with its own random machine SID\n"
          "and its own computer name; everything else as `winseal generalize`.  The\n"
          "shared work is done once, only the per-clone changes N times.\n\n"
          "  -n, --count N            how many clones (1 to %d)\n"
          "  -o, --output PATTERN     the outputs, with one printf number conversion for\n"
          "                           the clone's number 1..N, e.g. 'web-%%02d.vhd'\n"
          "  --computer-name PATTERN  the computer names, e.g. 'WEB-%%02d' (default: a\n"
          "                           generated name each, and Setup picks one)\n"
          "  --json                   print the report as JSON\n\n"
          "Every other generalize option applies to all clones (see winseal generalize\n"
          "--help), --target too; --sid, --in-place, --dry-run and --keep-overlay do not\n"
          "apply.\n"
          "Exit status as generalize.\n", CLONES_MAX);
}

/* PATTERN must hold exactly one %d-style conversion (flags 0 and '-',
 * a width) and otherwise only %% escapes. */
static int
valid_pattern (const char *p)
{
  int convs = 0;
  for (; *p; ++p) {
    if (*p != '%')
      continue;
    if (p[1] == '%') {
      ++p;
      continue;
    }
    ++p;
    while (*p == '0' || *p == '-')
      ++p;
    while (*p >= '0' && *p <= '9')
      ++p;
    if (*p != 'd')
      return 0;
    convs++;
  }
  return convs == 1;
}

static char *
expand (const char *pattern, int i)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  return ws_asprintf (pattern, i);      /* checked by valid_pattern */
#pragma GCC diagnostic pop
}


/* A clone's output, written by a thread from a snapshot of the overlay
 * while the appliance already works on the next clone. */
struct clone_writer {
  pthread_t th;
  int running;
  char *snap;
  const char *input_dir;        /* the snapshot's backing file is there */
  const char *output;
  struct convert_opts co;
  struct convert_result cr;
  int keep_free_space;          /* --keep-free-space */
  uint64_t free_discarded;
  int status;
  json_object *c;               /* the clone's report entry, completed on join */
};

static void *
write_clone (void *arg)
{
  struct clone_writer *wr = arg;
  struct image *in = image_open_within (wr->snap, NULL, wr->input_dir);
  struct rangeset rs = { 0 };
  struct mft_clear *mc = NULL;
  if (in && !wr->keep_free_space) {
    mc = mft_clear_new ();
    disk_free_space (wr->output, in, &rs, mc);
    wr->co.discard = &rs;
    wr->co.mft = mc;
  }
  wr->free_discarded = rs.bytes;
  wr->status = !in || convert_image (in, wr->output, &wr->co, &wr->cr) == -1 ? -1 : 0;
  wr->co.discard = NULL;
  wr->co.mft = NULL;
  rangeset_free (&rs);
  mft_clear_free (mc);
  if (in)
    image_close (in);
  unlink (wr->snap);
  return NULL;
}

/* Wait for the writer; complete and keep its report entry.  0 or -1. */
static int
join_writer (struct clone_writer *wr, json_object *clones, int json)
{
  if (!wr->running)
    return 0;
  pthread_join (wr->th, NULL);
  wr->running = 0;
  free (wr->snap);
  wr->snap = NULL;
  if (wr->status == -1) {
    json_object_put (wr->c);
    return -1;
  }
  jadd_int (wr->c, "virtual_size", wr->cr.virtual_size);
  jadd_int (wr->c, "output_size", wr->cr.file_size);
  jadd_int (wr->c, "free_bytes_not_copied", (int64_t) wr->free_discarded);
  jadd_int (wr->c, "mft_records_cleared", (int64_t) wr->cr.mft_records_cleared);
  jadd_int (wr->c, "mft_records_trimmed", (int64_t) wr->cr.mft_records_trimmed);
  jadd_str (wr->c, "output_sha256", wr->cr.sha256);
  json_object_array_add (clones, wr->c);
  if (!json)
    printf ("%s  %s  %s\n", wr->output, jget_str (wr->c, "new_sid") ? jget_str (wr->c, "new_sid") : "-",
            jget_str (wr->c, "computer_name") ? jget_str (wr->c, "computer_name") : "-");
  return 0;
}

/* Copy a (qcow2 overlay) file. */
static int
copy_file (const char *from, const char *to)
{
  int in = open (from, O_RDONLY | O_CLOEXEC), out = -1, r = -1;
  if (in == -1)
    goto done;
  out = open (to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out == -1)
    goto done;
  static char buf[1 << 20];
  for (;;) {
    ssize_t n = read (in, buf, sizeof buf);
    if (n == 0)
      break;
    if (n < 0 || write (out, buf, n) != n)
      goto done;
  }
  r = 0;
 done:
  if (r == -1)
    ws_error ("cannot copy %s to %s: %s", from, to, strerror (errno));
  if (in != -1)
    close (in);
  if (out != -1 && close (out) == -1)
    r = -1;
  return r;
}

/* clone's own options; every other one is generalize's.  The table is
 * what --long-options and the documentation test read. */
const struct option clone_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "count", required_argument, NULL, 'n' },
  { "output", required_argument, NULL, 'o' },
  { "computer-name", required_argument, NULL, 'C' },
  { "json", no_argument, NULL, 'J' },
  { NULL, 0, NULL, 0 },
};
const char clone_short_options[] = "hn:o:";
/* generalize options that do not apply to clones. */
static const char *const not_for_clones[] = {
  "in-place", "dry-run", "keep-overlay", "sid", "list-operations", "operations-pod", "targets-pod", NULL,
};

int
clone_option_applies (const char *generalize_option)
{
  for (size_t i = 0; not_for_clones[i]; ++i)
    if (!strcmp (not_for_clones[i], generalize_option))
      return 0;
  return 1;
}

/* What clone was asked: the count, the patterns expanded, and the
 * generalize options (rest, with the first output standing for all). */
struct clone_args {
  long count;
  char **outputs, **names;
  char **rest;
  int nrest, json;
  char *first;
};

static void
clone_args_free (struct clone_args *a)
{
  for (long i = 0; a->outputs && i < a->count; ++i) {
    free (a->outputs[i]);
    free (a->names[i]);
  }
  free (a->outputs);
  free (a->names);
  free (a->rest);
  free (a->first);
}

/* -n, -o and --computer-name are clone's; the rest is generalize's.
 * Returns 0, 'h' after --help, or a WS_EXIT code after a usage error. */
static int
clone_parse (int argc, char **argv, struct clone_args *a)
{
  const char *pattern = NULL, *cn_pattern = NULL;
  memset (a, 0, sizeof *a);
  a->rest = strv_push (NULL, argv[0]);
  a->nrest = 1;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i], *val = NULL;
    int takes = 0;
    if (!strcmp (arg, "-h") || !strcmp (arg, "--help")) {
      help ();
      return 'h';
    }
    if (!strcmp (arg, "-n") || !strcmp (arg, "--count") || !strcmp (arg, "-o")
        || !strcmp (arg, "--output") || !strcmp (arg, "--computer-name"))
      takes = 1;
    else if (!strncmp (arg, "--count=", 8) || !strncmp (arg, "--output=", 9)
             || !strncmp (arg, "--computer-name=", 16))
      val = strchr (arg, '=') + 1;
    if (takes) {
      if (i + 1 >= argc)
        return usage_error ("clone", "option '%s' needs a value", arg);
      val = argv[++i];
    }
    if (!val) {
      if (!strcmp (arg, "--json"))
        a->json = 1;
      a->rest = strv_push (a->rest, arg);
      a->nrest++;
      continue;
    }
    if (arg[1] == 'n' || !strncmp (arg, "--count", 7)) {
      char *end;
      a->count = strtol (val, &end, 10);
      if (*end || a->count < 1 || a->count > CLONES_MAX) {
        a->count = 0;
        return usage_error ("clone", "-n: '%s' is not a number from 1 to %d", val, CLONES_MAX);
      }
    }
    else if (arg[1] == 'o' || !strncmp (arg, "--output", 8))
      pattern = val;
    else
      cn_pattern = val;
  }
  if (!a->count || !pattern)
    return usage_error ("clone", "-n N and -o PATTERN are needed");
  if (!valid_pattern (pattern) || (cn_pattern && !valid_pattern (cn_pattern)))
    return usage_error ("clone", "'%s' must hold one number conversion such as %%d or %%02d "
                        "(and %%%% for a %%)", valid_pattern (pattern) ? cn_pattern : pattern);
  a->outputs = ws_malloc ((a->count + 1) * sizeof *a->outputs);
  a->names = ws_malloc ((a->count + 1) * sizeof *a->names);
  int r = 0;
  for (long i = 0; i < a->count; ++i) {
    a->outputs[i] = expand (pattern, (int) i + 1);
    a->names[i] = cn_pattern ? expand (cn_pattern, (int) i + 1) : NULL;
    for (long k = 0; k < i; ++k)
      if (strcmp (a->outputs[k], a->outputs[i]) == 0 && !r)
        r = usage_error ("clone", "-o '%s' gives the same file %s twice", pattern, a->outputs[i]);
    if (a->names[i] && !valid_computer_name (a->names[i]) && !r)
      r = usage_error ("clone", "--computer-name '%s' gives '%s', not a valid computer name "
                       "(1 to 15 letters, digits or '-', not only digits)", cn_pattern, a->names[i]);
  }
  a->first = ws_asprintf ("--output=%s", a->outputs[0]);
  a->rest = strv_push (a->rest, a->first);
  a->nrest++;
  return r;
}

/* The run inside the appliance. */
struct clone_run {
  struct job *j;
  const struct clone_args *a;
  json_object *clones, *shared_ops;
  char golden_sid[SID_STRING_MAX];
};

/* One clone, once the shared operations are done: its own operations, the
 * hives back, the file systems synced, the overlay copied and its output
 * started in a thread (the previous clone's joined first).  0 or a
 * WS_EXIT code. */
static int
clone_one (struct clone_run *cr, guestfs_h *g, struct windows *w, const struct op_selection *mine,
           struct clone_writer *wr, long i)
{
  struct job *j = cr->j;
  const struct clone_args *a = cr->a;
  double tc = ws_now ();
  char what[64];
  snprintf (what, sizeof what, "clone %ld of %ld", i + 1, a->count);
  job_phase (j, what);
  j->o.computer_name = a->names[i];
  if (gen_run (&j->gen, mine) == -1 || gen_commit (&j->gen) == -1)
    return WS_EXIT_ERROR;
  if (i == 0 && j->gen.have_new_sid)
    sid_to_string (&j->gen.old_sid, cr->golden_sid);
  /* The file systems consistent on the overlay, then the output. */
  guestfs_push_error_handler (g, NULL, NULL);
  guestfs_fstrim (g, "/", -1);
  guestfs_pop_error_handler (g);
  if (guestfs_umount_all (g) == -1 || guestfs_sync (g) == -1) {
    ws_error ("%s: cannot close the file systems cleanly: %s", j->image, appliance_error (g));
    return WS_EXIT_ERROR;
  }
  /* The previous clone's output is done by now (it was written while
   * this clone was being made); this one's is written from a snapshot
   * of the overlay while the next clone is made. */
  if (join_writer (wr, cr->clones, a->json) == -1)
    return WS_EXIT_ERROR;
  json_object *c = json_object_new_object ();
  jadd_int (c, "number", i + 1);
  jadd_str (c, "output", a->outputs[i]);
  if (j->gen.have_new_sid) {
    char s[SID_STRING_MAX];
    jadd_str (c, "new_sid", sid_to_string (&j->gen.new_sid, s));
  }
  jadd_str (c, "computer_name", j->gen.computer_name);
  json_object_object_add (c, "operations", json_object_get (jget (j->gen.report, "operations")));
  char secs[32];
  snprintf (secs, sizeof secs, "%.1f", ws_now () - tc);
  json_object_object_add (c, "seconds", json_object_new_double_s (atof (secs), secs));
  wr->snap = ws_asprintf ("%s/clone-%ld.qcow2", j->tmp, i + 1);
  wr->output = a->outputs[i];
  wr->input_dir = j->input_dir;
  wr->co = j->co;
  wr->co.checksum = 1;
  wr->keep_free_space = j->keep_free_space;
  wr->c = c;
  if (copy_file (j->overlay, wr->snap) == -1
      || (errno = pthread_create (&wr->th, NULL, write_clone, wr)) != 0) {
    ws_error ("cannot start writing %s: %s", a->outputs[i], strerror (errno));
    json_object_put (c);
    free (wr->snap);
    wr->snap = NULL;
    return WS_EXIT_ERROR;
  }
  wr->running = 1;
  if (i + 1 < a->count && windows_remount (w) == -1)
    return WS_EXIT_ERROR;
  return 0;
}

/* Inside the appliance: Windows found, the hives loaded, the shared
 * operations once, then every clone. */
static int
clone_work (guestfs_h *g, void *opaque)
{
  struct clone_run *cr = opaque;
  struct job *j = cr->j;
  struct windows w;
  job_phase (j, "finding Windows");
  int r = windows_find (g, j->image, NULL, 0, &w);
  if (!r && j->o.unattend_file
      && unattend_check_file (j->o.unattend_file, image_unattend_arch (w.arch)) == -1)
    r = WS_EXIT_ERROR;
  if (!r) {
    j->gen_started = 1;
    if (gen_begin (&j->gen, &w, &j->o, 0) == -1 || gen_load_hives (&j->gen) == -1)
      r = WS_EXIT_ERROR;
  }
  /* The shared operations, once. */
  struct op_selection shared = j->sel, mine;
  memset (&mine, 0, sizeof mine);
  for (size_t i = 0; i < n_operations; ++i)
    for (size_t k = 0; per_clone[k]; ++k)
      if (strcmp (operations[i]->name, per_clone[k]) == 0) {
        mine.enabled[i] = j->sel.enabled[i];
        shared.enabled[i] = 0;
      }
  j->gen.plan = &j->sel;        /* operations ask whether another one runs at all */
  if (!r) {
    job_phase (j, "running the shared operations");
    if (gen_run (&j->gen, &shared) == -1)
      r = WS_EXIT_ERROR;
    cr->shared_ops = json_object_get (jget (j->gen.report, "operations"));
  }
  struct clone_writer wr = { .running = 0 };
  for (long i = 0; !r && i < cr->a->count; ++i)
    r = clone_one (cr, g, &w, &mine, &wr, i);
  if (join_writer (&wr, cr->clones, cr->a->json) == -1)
    r = WS_EXIT_ERROR;
  windows_close (&w);
  j->gen.w = NULL;
  return r;
}

/* No output may be the golden image, a file of its chain, or another
 * clone's output (through links or ".." either). */
static int
clone_check_paths (const struct job *j, const struct clone_args *a)
{
  struct image *gi = image_open (j->image, NULL);
  if (!gi)
    return WS_EXIT_UNREADABLE;
  struct pathset *ps = pathset_new ();
  pathset_add_image (ps, gi, "the golden image");
  int r = 0;
  for (long i = 0; !r && i < a->count; ++i)
    if (pathset_add_output (ps, "-o", a->outputs[i]) == -1)
      r = WS_EXIT_ERROR;
  pathset_free (ps);
  image_close (gi);
  return r;
}

static void
clone_print_report (struct clone_run *cr, double t0)
{
  const struct clone_args *a = cr->a;
  json_object *rep = json_object_new_object ();
  jadd_str (rep, "image", cr->j->image);
  jadd_str (rep, "old_sid", cr->golden_sid[0] ? cr->golden_sid : NULL);
  jadd_int (rep, "count", a->count);
  json_object_object_add (rep, "shared_operations", cr->shared_ops);
  cr->shared_ops = NULL;
  json_object_object_add (rep, "clones", json_object_get (cr->clones));
  /* The golden image's hives were recovered once, for every clone. */
  json_object *hr;
  if (cr->j->gen.report && json_object_object_get_ex (cr->j->gen.report, "hive_recovery", &hr))
    json_object_object_add (rep, "hive_recovery", json_object_get (hr));
  json_object_object_add (rep, "warnings", json_object_get (cr->j->gen.warnings));
  char secs[32];
  snprintf (secs, sizeof secs, "%.1f", ws_now () - t0);
  json_object_object_add (rep, "seconds", json_object_new_double_s (atof (secs), secs));
  if (a->json)
    json_print (rep);
  else
    printf ("%ld clones of %s in %s s\n", a->count, cr->j->image, secs);
  json_object_put (rep);
}

int
cmd_clone (int argc, char **argv)
{
  struct clone_args a;
  int r = clone_parse (argc, argv, &a);
  if (r == 'h') {
    clone_args_free (&a);
    return 0;
  }
  struct job j;
  int special = 0, nops = 0;
  char **ops = NULL;
  if (!r)
    r = job_parse (&j, a.nrest, a.rest, "clone", NULL, &special, &ops, &nops);
  else
    memset (&j, 0, sizeof j);
  if (!r && (special || j.in_place || j.o.dry_run || j.keep_overlay || j.o.have_sid))
    r = usage_error ("clone", "--sid, --in-place, --dry-run and --keep-overlay do not apply "
                     "to clones");
  if (!r && nops != 1)
    r = usage_error ("clone", nops == 0 ? "no golden image given" : "too many arguments");
  if (!r) {
    j.image = ops[0];
    r = job_check_options (&j, "clone");
  }
  if (!r)
    r = clone_check_paths (&j, &a);
  if (!r)
    r = job_prepare (&j);
  struct clone_run cr = { &j, &a, json_object_new_array (), NULL, "" };
  double t0 = ws_now ();
  if (!r) {
    job_phase (&j, "launching the appliance");
    r = run_appliance (&j.disk, 1, RUN_SHUTDOWN_MUST, j.image, clone_work, &cr, NULL);
  }
  if (r) {
    /* Outputs already written stay (each is complete); say so. */
    size_t done = json_object_array_length (cr.clones);
    if (done)
      ws_error ("%zu of %ld clones were written before the failure", done, a.count);
  }
  else
    clone_print_report (&cr, t0);
  json_object_put (cr.shared_ops);
  json_object_put (cr.clones);
  unattend_clear_password (&j.o.ua);
  job_free (&j);
  clone_args_free (&a);
  return cli_exit (r);
}
