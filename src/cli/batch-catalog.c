/* winseal batch: the catalog (JSON) checked whole and turned into one
 * generalize argv per image. */
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

/* Options a catalog may not set: they belong to the batch itself. */
static const char *const batch_owned[] = {
  "output", "in-place", "json", "progress", "no-progress", "keep-overlay", "dry-run",
  "list-operations", "operations-pod", "targets-pod", "help", "verbose", "trace", "force", "allow-dir", NULL,
};

static int
valid_name (const char *n)
{
  size_t l = strlen (n);
  return l > 0 && l <= 100 && n[0] != '.'
         && strspn (n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == l;
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

/* What the checks of every entry share: names and paths hold what the
 * entries before it use. */
struct catalog {
  const char *path, *dir, *base;
  json_object *defaults;
  struct strmap *names;
  struct pathset *paths;
};

/* The checks of one catalog entry (images[i]) and its generalize argv.
 * Returns the number of problems (reported); *missing_ret is set when its
 * source is missing. */
static int
load_image (const struct catalog *c, struct bimage *b, size_t i, json_object *im,
            int *missing_ret)
{
  const char *path = c->path, *dir = c->dir, *base = c->base;
  json_object *defaults = c->defaults;
  struct strmap *names = c->names;
  struct pathset *paths = c->paths;
  int errors = 0;
  b->index = (int) i;
  char where[160];
  snprintf (where, sizeof where, "%s: images[%zu]", path, i);
  if (json_object_get_type (im) != json_type_object) {
    ws_error ("%s: must be an object", where);
    errors++;
    return errors;
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
      *missing_ret = 1;
    }
  }
  /* Without "format": the target's (an unknown target is reported by
   * the option parser below). */
  const struct target *tg = NULL;
  if (defaults && json_object_object_get_ex (defaults, "target", &v)
      && json_object_is_type (v, json_type_string))
    tg = target_by_name (json_object_get_string (v));
  if (json_object_object_get_ex (im, "target", &v) && json_object_is_type (v, json_type_string))
    tg = target_by_name (json_object_get_string (v));
  b->format = tg ? tg->format : target_default ()->format;
  if (defaults && json_object_object_get_ex (defaults, "format", &v))
    b->format = json_object_get_string (v);
  if (json_object_object_get_ex (im, "format", &v))
    b->format = json_object_get_string (v);
  if (!format_output_ext (b->format)) {
    ws_error ("%s: format \"%s\" is not vhd, vhd-dynamic, vmdk, qcow2, vhdx or raw", where, b->format);
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
                    : ws_asprintf ("%s/%s.%s", dir, b->name, format_output_ext (b->format));
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
  return errors;
}

struct bimage *
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
  struct catalog c = { path, dir, base, defaults, names, paths };
  for (size_t i = 0; i < n; ++i) {
    int miss = 0;
    errors += load_image (&c, &bs[i], i, json_object_array_get_idx (images, i), &miss);
    missing += miss;
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
