/* winseal batch --merge DIR: one DIR/manifest.json, in Packer's manifest
 * shape, from the shards' manifests DIR/manifests/shard-I-of-N.json.
 *
 * Every shard writes only its own manifest, so no locks are needed.  The
 * merged manifest depends only on what the shard manifests hold (the
 * newest entry of each image wins), so two shards that both find all done
 * and merge at once write the same bytes, each through its own temporary
 * file and a rename. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/batch-shard.h"
#include "cli/cli.h"
#include "util/json-out.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

char *
shard_manifest_dir (const char *dir)
{
  return ws_asprintf ("%s/manifests", dir);
}

char *
shard_manifest_path (const char *dir, long index, long count)
{
  return ws_asprintf ("%s/manifests/shard-%ld-of-%ld.json", dir, index, count);
}

struct sfile {
  char *path;
  json_object *json;
  struct shard_file sf;
};

/* "shard-I-of-N.json" exactly as shard_manifest_path spells it. */
static int
shard_name (const char *name, long *i, long *n)
{
  int used = 0;
  if (sscanf (name, "shard-%ld-of-%ld.json%n", i, n, &used) != 2 || name[used]
      || *i < 0 || *n < 1 || *n > SHARDS_MAX || *i >= *n)
    return 0;
  char again[64];
  snprintf (again, sizeof again, "shard-%ld-of-%ld.json", *i, *n);
  return strcmp (again, name) == 0;
}

void
shard_references (const char *dir, const char *own)
{
  CLEANUP_FREE char *merged = ws_asprintf ("%s/manifest.json", dir);
  CLEANUP_FREE char *mdir = shard_manifest_dir (dir);
  DIR *d = opendir (mdir);
  struct dirent *de = NULL;
  for (int first = 1; first || (d && (de = readdir (d))); first = 0) {
    long i, c;
    if (!first && !shard_name (de->d_name, &i, &c))
      continue;
    CLEANUP_FREE char *p = first ? ws_strdup (merged) : ws_asprintf ("%s/%s", mdir, de->d_name);
    if (strcmp (p, own) == 0 || access (p, F_OK) != 0)
      continue;
    json_object *m = json_read_strict (p, MANIFEST_MAX);
    if (!m)
      ws_warning ("%s: passed over for --resume", p);
    manifest_add_reference (m);
    json_object_put (m);
  }
  if (d)
    closedir (d);
}

static int
cmp_sfile (const void *a, const void *b)
{
  const struct sfile *x = a, *y = b;
  if (x->sf.count != y->sf.count)
    return x->sf.count < y->sf.count ? -1 : 1;
  return x->sf.index < y->sf.index ? -1 : x->sf.index > y->sf.index;
}

/* Read every shard manifest in DIR/manifests, sorted by count and index.
 * -1 (reported) when one cannot be read or is not a shard manifest. */
static int
read_shards (const char *dir, struct sfile **ret, size_t *n_ret)
{
  CLEANUP_FREE char *mdir = shard_manifest_dir (dir);
  *ret = NULL;
  *n_ret = 0;
  DIR *d = opendir (mdir);
  if (!d)
    return errno == ENOENT ? 0 : (ws_error ("%s: %s", mdir, strerror (errno)), -1);
  struct sfile *v = NULL;
  size_t n = 0;
  int bad = 0;
  struct dirent *de;
  while (!bad && (de = readdir (d))) {
    long i, c;
    if (!shard_name (de->d_name, &i, &c))
      continue;
    v = ws_realloc (v, (n + 1) * sizeof *v);
    struct sfile *f = &v[n++];
    f->path = ws_asprintf ("%s/%s", mdir, de->d_name);
    f->json = json_read_strict (f->path, MANIFEST_MAX);
    char why[256];
    if (!f->json)
      bad = 1;                  /* reported */
    else if (shard_file_check (f->json, &f->sf, why, sizeof why) == -1
             || (f->sf.index != i && snprintf (why, sizeof why, "it says it is shard %ld", f->sf.index))
             || (f->sf.count != c && snprintf (why, sizeof why, "it says it is one of %ld", f->sf.count))) {
      ws_error ("%s: %s", f->path, why);
      bad = 1;
    }
  }
  closedir (d);
  if (!bad)
    qsort (v, n, sizeof *v, cmp_sfile);
  *ret = v;
  *n_ret = n;
  return bad ? -1 : 0;
}

static void
free_shards (struct sfile *v, size_t n)
{
  for (size_t i = 0; i < n; ++i) {
    free (v[i].path);
    json_object_put (v[i].json);
  }
  free (v);
}

struct entry {
  const char *name;
  json_object *build;
  int64_t order;                /* catalog index, or INT64_MAX when unknown */
};

static int
cmp_entry (const void *a, const void *b)
{
  const struct entry *x = a, *y = b;
  if (x->order != y->order)
    return x->order < y->order ? -1 : 1;
  return strcmp (x->name, y->name);
}

/* Fold the builds of one manifest into the entries (by name). */
static void
fold (struct strmap *byname, struct entry **ev, size_t *ne, json_object *builds)
{
  for (size_t i = 0; builds && i < json_object_array_length (builds); ++i) {
    json_object *b = json_object_array_get_idx (builds, i);
    const char *name = jget_str (b, "name");
    if (!name)
      continue;
    void *v;
    if (strmap_get (byname, name, &v)) {
      struct entry *e = &(*ev)[(uintptr_t) v - 1];
      if (manifest_entry_newer (b, e->build))
        e->build = b;
      continue;
    }
    *ev = ws_realloc (*ev, (*ne + 1) * sizeof **ev);
    (*ev)[*ne] = (struct entry) { name, b, INT64_MAX };
    strmap_put (byname, name, (void *) (uintptr_t) ++*ne);
  }
}

int
batch_merge (const char *dir, long want_count, int *merged)
{
  *merged = 0;
  struct sfile *v;
  size_t n;
  if (read_shards (dir, &v, &n) == -1) {
    free_shards (v, n);
    return WS_EXIT_ERROR;
  }
  /* The shard count: the caller's, else that of the newest shard. */
  long count = want_count;
  const struct sfile *newest = NULL;
  for (size_t i = 0; i < n; ++i)
    if (!newest || v[i].sf.started > newest->sf.started)
      newest = &v[i];
  if (!count && newest)
    count = newest->sf.count;
  if (!count) {
    ws_error ("%s: no shard manifests (manifests/shard-I-of-N.json) to merge", dir);
    free_shards (v, n);
    return WS_EXIT_ERROR;
  }
  /* The shards of that count, by index. */
  const struct sfile **of = ws_malloc ((size_t) count * sizeof *of);
  memset (of, 0, (size_t) count * sizeof *of);
  size_t finished = 0;
  for (size_t i = 0; i < n; ++i)
    if (v[i].sf.count == count) {
      of[v[i].sf.index] = &v[i];
      finished += v[i].sf.state == SHARD_FINISHED;
    }
  if (want_count && finished < (size_t) count) {
    free (of);
    free_shards (v, n);
    return 0;                   /* not all done: the last one merges */
  }

  /* Entries: the older merged manifest, then every shard manifest, the
   * newest entry of each image winning. */
  CLEANUP_FREE char *mpath = ws_asprintf ("%s/manifest.json", dir);
  json_object *old = NULL;
  if (access (mpath, F_OK) == 0) {
    old = json_read_strict (mpath, MANIFEST_MAX);
    if (!old || !jget (old, "builds") || !json_object_is_type (jget (old, "builds"), json_type_array)) {
      if (old)
        ws_error ("%s: not a winseal batch manifest; move it away", mpath);
      json_object_put (old);
      free (of);
      free_shards (v, n);
      return WS_EXIT_ERROR;
    }
  }
  struct strmap *byname = strmap_new ();
  struct entry *ev = NULL;
  size_t ne = 0;
  fold (byname, &ev, &ne, old ? jget (old, "builds") : NULL);
  for (size_t i = 0; i < n; ++i)
    fold (byname, &ev, &ne, v[i].sf.builds);
  /* Catalog order, from the shards of this count; their images are the
   * catalog's (a shard lists all of its own). */
  size_t want = 0, ok = 0, failed = 0;
  for (long s = 0; s < count; ++s) {
    json_object *ims = of[s] ? of[s]->sf.images : NULL;
    for (size_t k = 0; ims && k < json_object_array_length (ims); ++k) {
      json_object *im = json_object_array_get_idx (ims, k);
      void *p;
      want++;
      if (!strmap_get (byname, jget_str (im, "name"), &p))
        continue;               /* never started: pending */
      struct entry *e = &ev[(uintptr_t) p - 1];
      e->order = jget_int (im, "catalog_index", INT64_MAX);
      const char *st = jget_str (jget (e->build, "custom_data"), "status");
      if (st && strcmp (st, "succeeded") == 0)
        ok++;
      else if (st && strcmp (st, "failed") == 0)
        failed++;
    }
  }
  qsort (ev, ne, sizeof *ev, cmp_entry);

  json_object *m = json_object_new_object ();
  json_object *builds = json_object_new_array ();
  for (size_t i = 0; i < ne; ++i)
    json_object_array_add (builds, json_object_get (ev[i].build));
  json_object_object_add (m, "builds", builds);
  const struct sfile *last = NULL;
  for (long s = 0; s < count; ++s)
    if (of[s] && (!last || of[s]->sf.started > last->sf.started))
      last = of[s];
  jadd_str (m, "last_run_uuid", last ? last->sf.run_uuid : jget_str (old, "last_run_uuid"));
  /* What the merge saw, beside Packer's keys. */
  json_object *sum = json_object_new_object ();
  jadd_int (sum, "count", count);
  json_object *sl = json_object_new_array ();
  char times[4096] = "";
  size_t tl = 0;
  for (long s = 0; s < count; ++s) {
    json_object *o = json_object_new_object ();
    jadd_int (o, "index", s);
    jadd_str (o, "state", of[s] ? shard_state_name (of[s]->sf.state) : "missing");
    if (of[s] && of[s]->sf.state != SHARD_RUNNING)
      json_object_object_add (o, "seconds", json_object_new_double (of[s]->sf.seconds));
    json_object_array_add (sl, o);
    if (tl < sizeof times - 64) {
      int w;
      if (of[s] && of[s]->sf.state == SHARD_FINISHED)
        w = snprintf (times + tl, sizeof times - tl, "%s%ld: %.1f s", tl ? ", " : "", s, of[s]->sf.seconds);
      else
        w = snprintf (times + tl, sizeof times - tl, "%s%ld: %s", tl ? ", " : "", s,
                      of[s] ? shard_state_name (of[s]->sf.state) : "no manifest");
      tl += (size_t) w < sizeof times - tl ? (size_t) w : 0;
    }
    else if (tl < sizeof times - 4)
      tl += (size_t) snprintf (times + tl, sizeof times - tl, "...");
  }
  json_object_object_add (sum, "shards", sl);
  json_object_object_add (m, "winseal_shards", sum);
  const char *text = json_object_to_json_string_ext (m, JSON_C_TO_STRING_PRETTY
                                                     | JSON_C_TO_STRING_NOSLASHESCAPE);
  CLEANUP_FREE char *nl = ws_asprintf ("%s\n", text);
  int w = ws_write_file_atomic (mpath, nl, strlen (nl));
  if (w == 0) {
    *merged = 1;
    fprintf (stderr, "winseal batch: merged %zu of %ld shards finished; %zu images: %zu succeeded, "
             "%zu failed, %zu not done; shard times %s; manifest %s\n", finished, count, want, ok,
             failed, want - ok - failed, times, mpath);
  }
  json_object_put (m);
  json_object_put (old);
  strmap_free (byname);
  free (ev);
  free (of);
  free_shards (v, n);
  if (w == -1)
    return WS_EXIT_ERROR;
  return finished == (size_t) count && ok == want ? 0 : WS_EXIT_PARTIAL;
}
