/* winseal: `winseal batch CATALOG -o DIR [-j N]`: generalize a catalog of
 * images.
 *
 * The parent process checks the whole catalog first, then runs up to N
 * worker processes at a time; each worker takes a group of images, makes
 * their overlays, launches one appliance with all of them attached (one
 * disk each), generalizes them one after the other, shuts the appliance
 * down and writes the outputs.  Workers report phases and results over a
 * pipe; the parent keeps DIR/manifest.json (rewritten atomically after
 * every image) and the progress display. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "job.h"
#include "json-out.h"
#include "jsonin.h"
#include "paths.h"
#include "winseal.h"

#define PER_LAUNCH_MAX 16
#define CATALOG_MAX (64u << 20)       /* bytes: 10,000 images take about 2 MB */
#define MANIFEST_MAX (256u << 20)

/* Options a catalog may not set: they belong to the batch itself. */
static const char *const batch_owned[] = {
  "output", "in-place", "json", "progress", "no-progress", "keep-overlay", "dry-run",
  "list-operations", "operations-pod", "help", "verbose", "trace", "force", "allow-dir", NULL,
};

struct bimage {
  int index;
  const char *name;
  char *source;                 /* resolved against the catalog's directory */
  char *output;                 /* resolved against DIR */
  const char *format;
  char **argv;                  /* generalize options; argv[0] = "batch" */
  int argc;
  char *source_sha256;
  /* State. */
  enum { B_PENDING, B_SKIPPED, B_RUNNING, B_OK, B_FAILED, B_INTERRUPTED } state;
  char *phase;
  char *error;
  json_object *result;          /* the worker's result */
  double started;
};

static double
now (void)
{
  struct timeval tv;
  gettimeofday (&tv, NULL);
  return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
help (void)
{
  printf ("Usage: winseal batch CATALOG -o DIR [-j N] [--resume]\n\n"
          "Generalize every image of CATALOG (JSON: \"defaults\" and \"images\", each image\n"
          "with \"name\", \"source\", optional \"output\", \"format\" and generalize options\n"
          "spelled as their long option names) into DIR, and keep DIR/manifest.json.\n\n"
          "  -o, --output-dir DIR   where outputs and the manifest go\n"
          "  -j, --jobs N           images in flight (worker processes; default 1)\n"
          "  --per-launch K         images per appliance launch (default: spread evenly,\n"
          "                         at most %d)\n"
          "  --resume               skip images whose manifest entry succeeded and whose\n"
          "                         source is unchanged (same sha256)\n"
          "  --json                 print the manifest at the end\n"
          "  --allow-dir DIR        backing files may also be in DIR (repeatable)\n"
          "  --progress, --no-progress   one line per image in flight plus a total\n"
          "                         (default: on a terminal)\n\n"
          "Exit status: 0 all images succeeded, 6 some failed (see the manifest),\n"
          "1 a bad catalog or options (nothing done), 130/143 interrupted.\n", PER_LAUNCH_MAX);
}

/* ---- the catalog ---- */

static int
valid_name (const char *n)
{
  size_t l = strlen (n);
  return l > 0 && l <= 100 && n[0] != '.'
         && strspn (n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == l;
}

static const char *
format_ext (const char *f)
{
  if (!strcmp (f, "vhd") || !strcmp (f, "vhd-dynamic")) return "vhd";
  if (!strcmp (f, "vmdk")) return "vmdk";
  if (!strcmp (f, "qcow2")) return "qcow2";
  if (!strcmp (f, "raw")) return "raw";
  return NULL;
}

static char *
resolve (const char *base_dir, const char *p)
{
  return p[0] == '/' ? ws_strdup (p) : ws_asprintf ("%s/%s", base_dir, p);
}

/* The directory of a file's path ("." when it has none); caller frees. */
static char *
base_of (const char *path)
{
  CLEANUP_FREE char *copy = ws_strdup (path);
  char *slash = strrchr (copy, '/');
  if (!slash)
    strcpy (copy, ".");
  else
    slash[slash == copy] = '\0';       /* "/x" keeps its "/" */
  char real[PATH_MAX];
  /* Absolute, for messages and the manifest. */
  return ws_strdup (realpath (copy, real) ? real : copy);
}

/* Options whose values are host files: relative to the catalog's folder,
 * and read only from there or an --allow-dir directory (a catalog must not
 * copy the host's files into images). */
static const char *const file_options[] = {
  "unattend", "setupcomplete", "admin-password-file", NULL,
};

static int
is_file_option (const char *key)
{
  for (size_t i = 0; file_options[i]; ++i)
    if (strcmp (key, file_options[i]) == 0)
      return 1;
  return 0;
}

/* Append a JSON object's generalize options to argv.  Returns the number
 * of errors (reported). */
static int
add_options (struct bimage *b, json_object *obj, const char *where, int report, int defaults,
             const char *base)
{
  int errors = 0;
  json_object_object_foreach (obj, key, val) {
    if (!strcmp (key, "name") || !strcmp (key, "source") || !strcmp (key, "output")) {
      if (defaults && report) {
        ws_error ("%s: \"%s\" belongs to an image, not to \"defaults\"", where, key);
        errors++;
      }
      continue;                 /* an image's own keys, read by load_catalog */
    }
    if (!strcmp (key, "format"))
      continue;
    int owned = 0;
    for (size_t i = 0; batch_owned[i]; ++i)
      owned |= strcmp (key, batch_owned[i]) == 0;
    if (owned) {
      if (report) {
        ws_error ("%s: \"%s\" is set by winseal batch itself, not by the catalog", where, key);
        errors++;
      }
      continue;
    }
    /* Keys are option names exactly (getopt would take a prefix). */
    int arg = job_option_arg (key);
    if (arg == -1) {
      if (report) {
        ws_error ("%s: unknown option '--%s' (a key is a generalize option's long name, "
                  "spelled out)", where, key);
        errors++;
      }
      continue;
    }
    json_type t = json_object_get_type (val);
    if (arg == no_argument && t != json_type_boolean) {
      ws_error ("%s: \"%s\" takes true or false", where, key);
      errors++;
      continue;
    }
    if (arg != no_argument && t == json_type_boolean) {
      ws_error ("%s: \"%s\" takes a value, not true or false", where, key);
      errors++;
      continue;
    }
    if (t == json_type_boolean) {
      if (json_object_get_boolean (val)) {
        b->argv = strv_push (b->argv, ws_asprintf ("--%s", key));
        b->argc++;
      }
    }
    else if (t == json_type_string || t == json_type_int) {
      CLEANUP_FREE char *fp = is_file_option (key) ? resolve (base, json_object_get_string (val)) : NULL;
      const char *why = fp ? ws_outside (fp, base) : NULL;
      if (why) {
        if (report) {
          ws_error ("%s: \"%s\": %s: %s", where, key, fp, why);
          errors++;
        }
        continue;
      }
      b->argv = strv_push (b->argv, ws_asprintf ("--%s=%s", key, fp ? fp : json_object_get_string (val)));
      b->argc++;
    }
    else if (t == json_type_array && is_file_option (key)) {
      ws_error ("%s: \"%s\" takes one file, not a list", where, key);
      errors++;
    }
    else if (t == json_type_array) {
      size_t n = json_object_array_length (val);
      for (size_t i = 0; i < n; ++i) {
        json_object *e = json_object_array_get_idx (val, i);
        if (json_object_get_type (e) != json_type_string) {
          ws_error ("%s: \"%s\": list entries must be strings", where, key);
          errors++;
          break;
        }
        b->argv = strv_push (b->argv, ws_asprintf ("--%s=%s", key, json_object_get_string (e)));
        b->argc++;
      }
    }
    else {
      ws_error ("%s: \"%s\": a string, number, boolean or list of strings is needed", where, key);
      errors++;
    }
  }
  return errors;
}

/* Load and check the whole catalog; every problem is reported.  Returns
 * the images, or NULL. */
static struct bimage *
load_catalog (const char *path, const char *dir, size_t *n_ret, int *missing_ret)
{
  json_object *cat = json_read_strict (path, CATALOG_MAX);
  if (!cat)
    return NULL;
  int errors = 0, missing = 0;
  if (json_object_get_type (cat) != json_type_object) {
    ws_error ("%s: the catalog must be a JSON object", path);
    json_object_put (cat);
    return NULL;
  }
  json_object *defaults = NULL, *images = NULL;
  json_object_object_foreach (cat, key, val) {
    if (!strcmp (key, "defaults"))
      defaults = val;
    else if (!strcmp (key, "images"))
      images = val;
    else {
      ws_error ("%s: unknown key \"%s\" (a catalog has \"defaults\" and \"images\")", path, key);
      errors++;
    }
  }
  if (defaults && json_object_get_type (defaults) != json_type_object) {
    ws_error ("%s: \"defaults\" must be an object", path);
    errors++;
    defaults = NULL;
  }
  if (!images || json_object_get_type (images) != json_type_array
      || json_object_array_length (images) == 0) {
    ws_error ("%s: \"images\" must be a non-empty list", path);
    json_object_put (cat);
    return NULL;
  }
  CLEANUP_FREE char *base = base_of (path);
  size_t n = json_object_array_length (images);
  struct bimage *bs = ws_malloc (n * sizeof *bs);
  memset (bs, 0, n * sizeof *bs);
  /* Names, and every path the run uses: outputs may be none of them. */
  struct strmap *names = strmap_new ();
  struct pathset *paths = pathset_new ();
  CLEANUP_FREE char *mpath = ws_asprintf ("%s/manifest.json", dir);
  CLEANUP_FREE char *mtmp = ws_asprintf ("%s/manifest.json.tmp", dir);
  pathset_add (paths, mpath, "the manifest");
  pathset_add (paths, mtmp, "the manifest's temporary file");
  pathset_add (paths, path, "the catalog");
  for (size_t i = 0; i < n; ++i) {
    json_object *im = json_object_array_get_idx (images, i), *v;
    if (json_object_is_type (im, json_type_object) && json_object_object_get_ex (im, "source", &v)
        && json_object_is_type (v, json_type_string)) {
      CLEANUP_FREE char *src = resolve (base, json_object_get_string (v));
      CLEANUP_FREE char *role = ws_asprintf ("images[%zu]'s source", i);
      pathset_add (paths, src, role);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    struct bimage *b = &bs[i];
    b->index = (int) i;
    json_object *im = json_object_array_get_idx (images, i);
    char where[160];
    snprintf (where, sizeof where, "%s: images[%zu]", path, i);
    if (json_object_get_type (im) != json_type_object) {
      ws_error ("%s: must be an object", where);
      errors++;
      continue;
    }
    json_object *v;
    b->name = json_object_object_get_ex (im, "name", &v) && json_object_is_type (v, json_type_string)
              ? json_object_get_string (v) : NULL;
    if (!b->name || !valid_name (b->name)) {
      ws_error ("%s: \"name\" is missing or not a name ([A-Za-z0-9._-], not starting with '.')", where);
      errors++;
      b->name = NULL;
    }
    else
      snprintf (where, sizeof where, "%s: image \"%s\"", path, b->name);
    void *first;
    int dup_name = 0;
    if (b->name && strmap_get (names, b->name, &first)) {
      ws_error ("%s: the name is used twice (images[%zu] and images[%zu])", where,
                (size_t) (uintptr_t) first, i);
      errors++;
      dup_name = 1;             /* its default output is the other's: said once */
    }
    else if (b->name)
      strmap_put (names, b->name, (void *) (uintptr_t) i);
    const char *src = json_object_object_get_ex (im, "source", &v)
                      && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
    if (!src) {
      ws_error ("%s: \"source\" is missing", where);
      errors++;
    }
    else {
      b->source = resolve (base, src);
      if (access (b->source, R_OK) == -1) {
        ws_error ("%s: source %s: %s", where, b->source, strerror (errno));
        missing++;
      }
    }
    b->format = "vhd";
    if (defaults && json_object_object_get_ex (defaults, "format", &v))
      b->format = json_object_get_string (v);
    if (json_object_object_get_ex (im, "format", &v))
      b->format = json_object_get_string (v);
    if (!format_ext (b->format)) {
      ws_error ("%s: format \"%s\" is not vhd, vhd-dynamic, vmdk, qcow2 or raw", where, b->format);
      errors++;
      b->format = "vhd";
    }
    const char *out = json_object_object_get_ex (im, "output", &v)
                      && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
    /* A file name in DIR: "./" dropped, no other '/', not hidden. */
    while (out && out[0] == '.' && out[1] == '/')
      for (out += 2; *out == '/'; )
        out++;
    if (out && (!out[0] || strchr (out, '/') || out[0] == '.')) {
      ws_error ("%s: \"output\" must be a file name in the output directory (no '/', "
                "not starting with '.')", where);
      errors++;
      out = NULL;
    }
    if (b->name) {
      b->output = out ? ws_asprintf ("%s/%s", dir, out)
                      : ws_asprintf ("%s/%s.%s", dir, b->name, format_ext (b->format));
      CLEANUP_FREE char *w2 = ws_asprintf ("%s: \"output\"", where);
      if (!(dup_name && !out) && pathset_add_output (paths, w2, b->output) == -1)
        errors++;
    }
    b->argv = strv_push (NULL, ws_strdup ("batch"));
    b->argc = 1;
    if (defaults)
      errors += add_options (b, defaults, path, i == 0, 1, base);   /* its problems once */
    errors += add_options (b, im, where, 1, 0, base);
    b->argv = strv_push (b->argv, ws_asprintf ("--format=%s", b->format));
    b->argv = strv_push (b->argv, ws_asprintf ("--output=%s", b->output ? b->output : "x"));
    b->argv = strv_push (b->argv, ws_strdup (b->source ? b->source : "x"));
    b->argc += 3;
    /* The same parser as `winseal generalize`. */
    struct job j;
    int special = 0, nops = 0;
    char **ops;
    char ctx[200];
    snprintf (ctx, sizeof ctx, "%s", where);
    ws_globals.context = ctx;
    int r = job_parse (&j, b->argc, b->argv, "batch", NULL, &special, &ops, &nops);
    if (r == 0 && nops != 1) {
      ws_error ("unexpected arguments in the options");
      r = 1;
    }
    if (r == 0) {
      j.image = ops[0];
      r = job_check_options (&j, "batch");     /* also reads the password file */
    }
    ws_globals.context = NULL;
    job_free (&j);
    if (r)
      errors++;
    /* Options have values that point into the catalog: keep it. */
  }
  strmap_free (names);
  pathset_free (paths);
  if (errors) {
    ws_error ("%s: %d problem%s in the catalog; nothing was done", path, errors,
              errors == 1 ? "" : "s");
    for (size_t i = 0; i < n; ++i) {
      free (bs[i].source);
      free (bs[i].output);
      free_string_list (bs[i].argv);
    }
    free (bs);
    json_object_put (cat);
    return NULL;
  }
  *n_ret = n;
  *missing_ret = missing;
  return bs;                    /* cat is kept: names point into it */
}

/* ---- the manifest ---- */

static json_object *manifest;
static const char *manifest_path;
static struct strmap *build_index;      /* name -> 1 + index in "builds" */
static double manifest_written;         /* when it was last written */
static int manifest_dirty;

/* The index of the manifest's builds by name (after the manifest is read). */
static void
index_builds (void)
{
  build_index = strmap_new ();
  json_object *builds = jget (manifest, "builds");
  size_t n = builds ? json_object_array_length (builds) : 0;
  for (size_t i = 0; i < n; ++i) {
    const char *bn = jget_str (json_object_array_get_idx (builds, i), "name");
    if (bn)
      strmap_put (build_index, bn, (void *) (uintptr_t) (i + 1));
  }
}

static int write_manifest (void);

/* Write the manifest when it changed and a second has passed since the
 * last write (or always with force): rewriting it whole after every one of
 * thousands of images would make a batch quadratic. */
static void
flush_manifest (int force)
{
  if (manifest_dirty && (force || now () - manifest_written >= 1.0))
    write_manifest ();
}

static int
write_manifest (void)
{
  manifest_written = now ();
  manifest_dirty = 0;
  CLEANUP_FREE char *tmp = ws_asprintf ("%s.tmp", manifest_path);
  const char *text = json_object_to_json_string_ext (manifest, JSON_C_TO_STRING_PRETTY
                                                     | JSON_C_TO_STRING_NOSLASHESCAPE);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  size_t len = strlen (text);
  if (fd == -1 || write (fd, text, len) != (ssize_t) len || write (fd, "\n", 1) != 1
      || fsync (fd) == -1 || close (fd) == -1 || rename (tmp, manifest_path) == -1) {
    ws_error ("%s: cannot write the manifest: %s", manifest_path, strerror (errno));
    if (fd != -1)
      close (fd);
    unlink (tmp);
    return -1;
  }
  return 0;
}

static json_object *
find_build (const char *name)
{
  void *v;
  if (!strmap_get (build_index, name, &v))
    return NULL;
  return json_object_array_get_idx (jget (manifest, "builds"), (size_t) (uintptr_t) v - 1);
}

static void
cd_str (json_object *cd, const char *key, const char *v)
{
  json_object_object_add (cd, key, json_object_new_string (v ? v : ""));
}

static void
cd_num (json_object *cd, const char *key, int64_t v)
{
  char s[32];
  snprintf (s, sizeof s, "%" PRId64, v);
  cd_str (cd, key, s);
}

/* Put one image's entry (Packer's manifest shape: custom_data holds
 * strings) into the manifest, replacing an older one. */
static void
record (struct bimage *b, const char *run_uuid)
{
  json_object *builds = jget (manifest, "builds");
  json_object *e = json_object_new_object ();
  json_object *rep = b->result ? jget (b->result, "report") : NULL;
  const char *status = b->state == B_OK ? "succeeded" : b->state == B_FAILED ? "failed"
                       : b->state == B_INTERRUPTED ? "interrupted" : "pending";
  jadd_str (e, "name", b->name);
  jadd_str (e, "builder_type", "winseal-batch");
  jadd_int (e, "build_time", (int64_t) time (NULL));
  json_object *files = json_object_new_array ();
  const char *osha = b->result ? jget_str (b->result, "output_sha256") : NULL;
  if (b->state == B_OK) {
    json_object *f = json_object_new_object ();
    jadd_str (f, "name", b->output);
    jadd_int (f, "size", rep ? jget_int (rep, "output_size", 0) : 0);
    json_object_array_add (files, f);
  }
  json_object_object_add (e, "files", files);
  jadd_str (e, "artifact_id", b->state == B_OK ? osha : NULL);
  jadd_str (e, "packer_run_uuid", run_uuid);
  json_object *cd = json_object_new_object ();
  cd_str (cd, "status", status);
  cd_str (cd, "error", b->error);
  cd_str (cd, "source", b->source);
  cd_str (cd, "source_sha256", b->result ? jget_str (b->result, "source_sha256") : b->source_sha256);
  cd_str (cd, "output", b->output);
  cd_str (cd, "format", b->format);
  cd_num (cd, "virtual_size", rep ? jget_int (rep, "virtual_size", 0) : 0);
  cd_num (cd, "bytes_written", b->result ? jget_int (b->result, "bytes_written", 0) : 0);
  cd_str (cd, "output_sha256", osha);
  cd_str (cd, "old_sid", rep ? jget_str (rep, "old_sid") : NULL);
  cd_str (cd, "new_sid", rep ? jget_str (rep, "new_sid") : NULL);
  cd_str (cd, "computer_name", rep ? jget_str (rep, "computer_name") : NULL);
  /* Operations run, and warnings, one per line. */
  json_object *ops = rep ? jget (rep, "operations") : NULL;
  char *opl = ws_strdup ("");
  if (ops) {
    json_object_object_foreach (ops, name, val) {
      (void) val;
      char *t = ws_asprintf ("%s%s%s", opl, opl[0] ? "," : "", name);
      free (opl);
      opl = t;
    }
  }
  cd_str (cd, "operations", opl);
  free (opl);
  json_object *w = rep ? jget (rep, "warnings") : NULL;
  char *wl = ws_strdup ("");
  for (size_t i = 0; w && i < json_object_array_length (w); ++i) {
    char *t = ws_asprintf ("%s%s%s", wl, wl[0] ? "\n" : "", json_object_get_string (json_object_array_get_idx (w, i)));
    free (wl);
    wl = t;
  }
  cd_str (cd, "warnings", wl);
  free (wl);
  char d[32];
  snprintf (d, sizeof d, "%.1f", b->started ? now () - b->started : 0.0);
  cd_str (cd, "duration", d);
  json_object_object_add (e, "custom_data", cd);
  manifest_dirty = 1;
  void *v;
  if (strmap_get (build_index, b->name, &v)) {
    json_object_array_put_idx (builds, (size_t) (uintptr_t) v - 1, e);
    return;
  }
  json_object_array_add (builds, e);
  strmap_put (build_index, b->name, (void *) (uintptr_t) json_object_array_length (builds));
}

/* ---- workers ---- */

static int worker_fd = -1;
static volatile pid_t appliance_pid;

/* A worker told to stop takes its appliance down with it (qemu would
 * otherwise outlive it), then dies of the signal. */
static void
worker_signal (int sig)
{
  if (appliance_pid > 0)
    kill (appliance_pid, SIGKILL);
  signal (sig, SIG_DFL);
  raise (sig);
}

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
  guestfs_h *gh = NULL;
  if (nd) {
    for (size_t i = 0; i < n; ++i)
      if (!st[i])
        send_line ("P %d launching the appliance (%zu disk%s)", g[i]->index, nd, nd == 1 ? "" : "s");
    ws_clear_error ();
    gh = appliance_launch (disks, nd);
    if (gh) {
      int pid = guestfs_get_pid (gh);
      appliance_pid = pid > 0 ? pid : 0;
    }
    if (!gh)
      for (size_t i = 0; i < n; ++i)
        if (!st[i]) {
          st[i] = WS_EXIT_ERROR;
          send_result (g[i], NULL, st[i], ws_last_error ());
        }
  }
  for (size_t i = 0; i < n; ++i) {
    if (gh && !st[i]) {
      ws_globals.context = g[i]->name;
      ws_clear_error ();
      char dev[16];
      snprintf (dev, sizeof dev, "/dev/sd%c", (char) ('a' + disk_of[i]));
      st[i] = job_run (&jobs[i], gh, dev);
      if (st[i])
        send_result (g[i], NULL, st[i], ws_last_error ());
    }
    outq_ready (&q, i);
  }
  ws_globals.context = NULL;
  int shut = 0;
  if (gh) {
    shut = guestfs_shutdown (gh);
    guestfs_close (gh);
    appliance_pid = 0;
  }
  pthread_join (th, NULL);
  if (shut == -1)
    /* The file systems were synced after each image: the outputs stand;
     * say so all the same. */
    ws_warning ("the appliance did not shut down cleanly");
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

static void
on_signal (int sig)
{
  interrupted = sig;
}

struct child {
  pid_t pid;
  int fd;
  struct bimage **imgs;         /* its group */
  size_t nimgs;
  char buf[1 << 17];
  size_t fill;
};

static int show;
static size_t shown_lines;

static void
display (struct bimage *bs, size_t n, size_t done, size_t failed, double t0)
{
  if (!show)
    return;
  for (size_t i = 0; i < shown_lines; ++i)
    fputs ("\033[1A\033[2K", stderr);
  shown_lines = 0;
  for (size_t i = 0; i < n; ++i)
    if (bs[i].state == B_RUNNING) {
      fprintf (stderr, "  %-20.20s %6.0fs  %s\n", bs[i].name, now () - bs[i].started,
               bs[i].phase ? bs[i].phase : "");
      shown_lines++;
    }
  fprintf (stderr, "total: %zu of %zu done, %zu failed, %.0fs\n", done, n, failed, now () - t0);
  shown_lines++;
}

static void
handle_line (char *line, struct bimage *bs, size_t n, const char *run_uuid, size_t *done,
             size_t *failed)
{
  char kind = line[0];
  char *end;
  long idx = strtol (line + 2, &end, 10);
  if ((kind != 'P' && kind != 'R') || idx < 0 || (size_t) idx >= n || *end != ' ')
    return;
  struct bimage *b = &bs[idx];
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
  record (b, run_uuid);
  flush_manifest (0);
  (*done)++;
  if (status)
    (*failed)++;
}

int
cmd_batch (int argc, char **argv)
{
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "output-dir", required_argument, NULL, 'o' },
    { "jobs", required_argument, NULL, 'j' },
    { "per-launch", required_argument, NULL, 'K' },
    { "resume", no_argument, NULL, 'R' },
    { "json", no_argument, NULL, 'J' },
    { "progress", no_argument, NULL, 'p' },
    { "no-progress", no_argument, NULL, 'q' },
    { "allow-dir", required_argument, NULL, 'A' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  long jobs = 1, per_launch = 0;
  int resume = 0, json = 0, c;
  show = isatty (2);
  opterr = 0;
  while ((c = getopt_long (argc, argv, "o:j:", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'h': help (); return 0;
    case 'o': dir = optarg; break;
    case 'j':
      jobs = strtol (optarg, &end, 10);
      if (*end || jobs < 1 || jobs > 64)
        return usage_error ("batch", "-j: '%s' is not a number from 1 to 64", optarg);
      break;
    case 'K':
      per_launch = strtol (optarg, &end, 10);
      if (*end || per_launch < 1 || per_launch > PER_LAUNCH_MAX)
        return usage_error ("batch", "--per-launch: '%s' is not a number from 1 to %d",
                            optarg, PER_LAUNCH_MAX);
      break;
    case 'R': resume = 1; break;
    case 'J': json = 1; break;
    case 'p': show = 1; break;
    case 'q': show = 0; break;
    case 'A':
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case ':': return usage_error ("batch", "option '%s' needs a value", argv[optind - 1]);
    default: return usage_error ("batch", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return usage_error ("batch", optind >= argc ? "no catalog given" : "too many arguments");
  if (!dir)
    return usage_error ("batch", "no output directory given (-o DIR)");
  const char *catalog = argv[optind];
  /* DIR is made only once the catalog is known to be good. */
  CLEANUP_FREE char *adir = ws_canonical (dir);
  if (!adir) {
    ws_error ("-o %s: not a directory name in an existing directory", dir);
    return WS_EXIT_ERROR;
  }
  size_t n = 0;
  int missing = 0;
  struct bimage *bs = load_catalog (catalog, adir, &n, &missing);
  if (!bs)
    return WS_EXIT_ERROR;
  if (mkdir (adir, 0755) == -1 && errno != EEXIST) {
    ws_error ("%s: %s", dir, strerror (errno));
    return WS_EXIT_ERROR;
  }
  struct stat dst;
  if (stat (adir, &dst) == -1 || !S_ISDIR (dst.st_mode)) {
    ws_error ("-o %s: not a directory", dir);
    return WS_EXIT_ERROR;
  }

  /* The manifest: the old one (kept entries, --resume) or a new one. */
  CLEANUP_FREE char *mpath = ws_asprintf ("%s/manifest.json", adir);
  manifest_path = mpath;
  json_object *old = access (mpath, F_OK) == 0 ? json_read_strict (mpath, MANIFEST_MAX) : NULL;
  if (access (mpath, F_OK) == 0 && (!old || !jget (old, "builds")
                                    || !json_object_is_type (jget (old, "builds"), json_type_array))) {
    ws_error ("%s: not a winseal batch manifest; move it away", mpath);
    return WS_EXIT_ERROR;
  }
  manifest = old ? old : json_object_new_object ();
  if (!old)
    json_object_object_add (manifest, "builds", json_object_new_array ());
  index_builds ();
  char run_uuid[40];
  {
    unsigned char r[16];
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd == -1 || read (fd, r, 16) != 16)
      memset (r, 0x5A, 16);
    if (fd != -1)
      close (fd);
    r[6] = (r[6] & 0x0F) | 0x40;
    r[8] = (r[8] & 0x3F) | 0x80;
    snprintf (run_uuid, sizeof run_uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
              r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
              r[13], r[14], r[15]);
  }
  jadd_str (manifest, "last_run_uuid", run_uuid);

  /* Sources missing: failed now (reported above); --resume: skipped when
   * done and unchanged. */
  size_t done = 0, failed = 0, skipped = 0;
  for (size_t i = 0; i < n; ++i) {
    struct bimage *b = &bs[i];
    if (access (b->source, R_OK) == -1) {
      b->state = B_FAILED;
      b->error = ws_asprintf ("source %s: %s", b->source, strerror (errno));
      record (b, run_uuid);
      done++, failed++;
      continue;
    }
    json_object *prev = resume ? find_build (b->name) : NULL;
    json_object *cd = prev ? jget (prev, "custom_data") : NULL;
    const char *pst = cd ? jget_str (cd, "status") : NULL;
    const char *psha = cd ? jget_str (cd, "source_sha256") : NULL;
    const char *pout = cd ? jget_str (cd, "output") : NULL;
    if (pst && strcmp (pst, "succeeded") == 0 && psha && pout && strcmp (pout, b->output) == 0
        && access (b->output, F_OK) == 0) {
      int fd = open_input_file (b->source, 1, NULL);
      char hex[65];
      if (fd != -1 && sha256_file (fd, hex) == 0 && strcmp (hex, psha) == 0) {
        b->state = B_SKIPPED;
        skipped++;
      }
      if (fd != -1)
        close (fd);
    }
  }
  if (write_manifest () == -1)
    return WS_EXIT_ERROR;

  /* Groups for the workers, in catalog order. */
  size_t npend = 0;
  for (size_t i = 0; i < n; ++i)
    npend += bs[i].state == B_PENDING;
  if (!per_launch) {
    per_launch = (long) ((npend + jobs - 1) / jobs);
    if (per_launch < 1)
      per_launch = 1;
    if (per_launch > PER_LAUNCH_MAX)
      per_launch = PER_LAUNCH_MAX;
  }
  struct bimage **queue = ws_malloc ((npend + 1) * sizeof *queue);
  size_t nq = 0, qpos = 0;
  for (size_t i = 0; i < n; ++i)
    if (bs[i].state == B_PENDING)
      queue[nq++] = &bs[i];

  /* Workers use a private temporary directory below DIR (removed at the
   * end whatever happens). */
  CLEANUP_FREE char *work = ws_mkdtemp_in (adir, ".winseal-batch");
  if (!work)
    return WS_EXIT_ERROR;
  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  struct child *kids = ws_malloc (jobs * sizeof *kids);
  size_t nk = 0;
  double t0 = now ();
  fflush (stdout);
  fflush (stderr);
  while ((qpos < nq || nk > 0) && !interrupted) {
    while (qpos < nq && nk < (size_t) jobs && !interrupted) {
      size_t take = nq - qpos < (size_t) per_launch ? nq - qpos : (size_t) per_launch;
      int p[2];
      if (pipe (p) == -1) {
        ws_error ("pipe: %s", strerror (errno));
        interrupted = SIGTERM;
        break;
      }
      for (size_t k = 0; k < take; ++k) {
        queue[qpos + k]->state = B_RUNNING;
        queue[qpos + k]->started = now ();
        free (queue[qpos + k]->phase);
        queue[qpos + k]->phase = ws_strdup ("waiting");
      }
      pid_t pid = fork ();
      if (pid == 0) {
        /* Its own process group, with its qemu: the parent stops the
         * whole group. */
        setpgid (0, 0);
        close (p[0]);
        for (size_t k = 0; k < nk; ++k)
          close (kids[k].fd);
        struct sigaction wa = { .sa_handler = worker_signal };
        sigemptyset (&wa.sa_mask);
        sigaction (SIGINT, &wa, NULL);
        sigaction (SIGTERM, &wa, NULL);
        /* Temporary files (overlays, the appliance's own) go to the work
         * directory; the appliance cache stays where it was, so that it
         * is not built again per worker. */
        if (!getenv ("LIBGUESTFS_CACHEDIR"))
          setenv ("LIBGUESTFS_CACHEDIR", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/var/tmp", 1);
        setenv ("TMPDIR", work, 1);
        worker_fd = p[1];
        worker (queue + qpos, take);
        _exit (0);
      }
      close (p[1]);
      if (pid == -1) {
        ws_error ("fork: %s", strerror (errno));
        close (p[0]);
        interrupted = SIGTERM;
        break;
      }
      kids[nk].pid = pid;
      kids[nk].imgs = queue + qpos;
      kids[nk].nimgs = take;
      kids[nk].fd = p[0];
      kids[nk].fill = 0;
      nk++;
      qpos += take;
    }
    display (bs, n, done, failed, t0);
    struct pollfd *pf = ws_malloc ((nk ? nk : 1) * sizeof *pf);
    for (size_t k = 0; k < nk; ++k)
      pf[k] = (struct pollfd) { .fd = kids[k].fd, .events = POLLIN };
    int pr = poll (pf, nk, 1000);
    for (size_t k = 0; pr > 0 && k < nk; ++k) {
      if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      struct child *ch = &kids[k];
      ssize_t r = read (ch->fd, ch->buf + ch->fill, sizeof ch->buf - 1 - ch->fill);
      if (r > 0) {
        ch->fill += r;
        char *nl;
        while ((nl = memchr (ch->buf, '\n', ch->fill))) {
          *nl = '\0';
          handle_line (ch->buf, bs, n, run_uuid, &done, &failed);
          size_t used = nl + 1 - ch->buf;
          memmove (ch->buf, nl + 1, ch->fill - used);
          ch->fill -= used;
        }
        if (ch->fill == sizeof ch->buf - 1)
          ch->fill = 0;         /* a line too long: dropped */
      }
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        /* The worker is done (or died): images it did not report failed. */
        close (ch->fd);
        int wst;
        waitpid (ch->pid, &wst, 0);
        for (size_t i = 0; i < ch->nimgs; ++i) {
          struct bimage *bi = ch->imgs[i];
          if (bi->state != B_RUNNING)
            continue;
          bi->state = B_FAILED;
          free (bi->error);
          bi->error = ws_strdup ("the worker process ended without a result");
          record (bi, run_uuid);
          flush_manifest (0);
          done++, failed++;
        }
        ch->pid = -1;
      }
    }
    free (pf);
    /* Forget finished workers. */
    size_t w = 0;
    for (size_t k = 0; k < nk; ++k)
      if (kids[k].pid != -1)
        kids[w++] = kids[k];
    nk = w;
  }
  if (interrupted) {
    for (size_t k = 0; k < nk; ++k) {
      kill (kids[k].pid, SIGTERM);
      kill (-kids[k].pid, SIGTERM);
    }
    for (size_t k = 0; k < nk; ++k) {
      int wst;
      waitpid (kids[k].pid, &wst, 0);
      close (kids[k].fd);
      /* Its qemu is in its process group: wait (up to 10 s) until the
       * whole group is gone, so that nothing writes into the work
       * directory while it is removed. */
      for (int t = 0; t < 100 && kill (-kids[k].pid, 0) == 0; ++t) {
        if (t == 50)
          kill (-kids[k].pid, SIGKILL);
        struct timespec ts = { 0, 100000000 };
        nanosleep (&ts, NULL);
      }
    }
    for (size_t i = 0; i < n; ++i)
      if (bs[i].state == B_RUNNING || bs[i].state == B_PENDING) {
        if (bs[i].state == B_RUNNING) {
          bs[i].state = B_INTERRUPTED;
          free (bs[i].error);
          bs[i].error = ws_strdup ("interrupted");
          record (&bs[i], run_uuid);
        }
        /* A worker killed mid-write removed its temporary file; nothing
         * is at the output path unless the image finished. */
      }
  }
  flush_manifest (1);
  for (int t = 0; t < 3 && ws_rmtree (work) == -1; ++t)
    sleep (1);
  if (access (work, F_OK) == 0)
    ws_warning ("%s could not be removed", work);
  display (bs, n, done, failed, t0);
  if (json)
    json_print (manifest);
  fprintf (stderr, "winseal batch: %zu image%s: %zu succeeded, %zu failed, %zu skipped "
           "(already done)%s; manifest %s\n", n, n == 1 ? "" : "s",
           done - failed, failed, skipped, interrupted ? ", interrupted" : "", mpath);
  free (kids);
  free (queue);
  if (interrupted)
    return 128 + interrupted;
  return failed ? WS_EXIT_PARTIAL : 0;
}
