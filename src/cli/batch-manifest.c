/* winseal batch: the manifest (DIR/manifest.json, Packer's shape),
 * rewritten atomically, and --resume. */
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

/* Write the manifest when it changed and a second has passed since the
 * last write (or always with force): rewriting it whole after every one of
 * thousands of images would make a batch quadratic. */
void
manifest_flush (int force)
{
  if (manifest_dirty && (force || ws_now () - manifest_written >= 1.0))
    manifest_write ();
}

int
manifest_write (void)
{
  manifest_written = ws_now ();
  manifest_dirty = 0;
  const char *text = json_object_to_json_string_ext (manifest, JSON_C_TO_STRING_PRETTY
                                                     | JSON_C_TO_STRING_NOSLASHESCAPE);
  CLEANUP_FREE char *nl = ws_asprintf ("%s\n", text);
  return ws_write_file_atomic (manifest_path, nl, strlen (nl));
}

void
manifest_set (const char *key, json_object *val)
{
  json_object_object_add (manifest, key, val);
  manifest_dirty = 1;
}

void
manifest_keep_only (const struct strmap *names)
{
  json_object *builds = jget (manifest, "builds");
  json_object *kept = json_object_new_array ();
  for (size_t i = 0; i < json_object_array_length (builds); ++i) {
    json_object *e = json_object_array_get_idx (builds, i);
    const char *bn = jget_str (e, "name");
    void *v;
    if (bn && strmap_get (names, bn, &v))
      json_object_array_add (kept, json_object_get (e));
  }
  json_object_object_add (manifest, "builds", kept);
  strmap_free (build_index);
  index_builds ();
  manifest_dirty = 1;
}

/* Other manifests --resume also believes (read only): the merged manifest
 * and the other shards' manifests. */
#define REFS_MAX 64
static json_object *refs[REFS_MAX];
static size_t n_refs;

void
manifest_add_reference (json_object *m)
{
  if (n_refs < REFS_MAX && m && json_object_is_type (jget (m, "builds"), json_type_array))
    refs[n_refs++] = json_object_get (m);
}

static json_object *
find_build (const char *name)
{
  void *v;
  if (!strmap_get (build_index, name, &v))
    return NULL;
  return json_object_array_get_idx (jget (manifest, "builds"), (size_t) (uintptr_t) v - 1);
}

/* Put an entry (another manifest's) into this one as it is. */
static void
adopt (json_object *e)
{
  json_object *builds = jget (manifest, "builds");
  const char *name = jget_str (e, "name");
  void *v;
  e = json_object_get (e);
  if (strmap_get (build_index, name, &v))
    json_object_array_put_idx (builds, (size_t) (uintptr_t) v - 1, e);
  else {
    json_object_array_add (builds, e);
    strmap_put (build_index, name, (void *) (uintptr_t) json_object_array_length (builds));
  }
  manifest_dirty = 1;
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

/* Packer's manifest shape: custom_data holds strings. */
void
manifest_record (struct bimage *b, const char *run_uuid)
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
  snprintf (d, sizeof d, "%.1f", b->started ? ws_now () - b->started : 0.0);
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

json_object *
manifest_json (void)
{
  return manifest;
}

int
manifest_open (const char *path, char run_uuid[40])
{
  manifest_path = path;
  json_object *old = access (path, F_OK) == 0 ? json_read_strict (path, MANIFEST_MAX) : NULL;
  if (access (path, F_OK) == 0 && (!old || !jget (old, "builds")
                                   || !json_object_is_type (jget (old, "builds"), json_type_array))) {
    ws_error ("%s: not a winseal batch manifest; move it away", path);
    json_object_put (old);
    return -1;
  }
  manifest = old ? old : json_object_new_object ();
  if (!old)
    json_object_object_add (manifest, "builds", json_object_new_array ());
  index_builds ();
  /* A random (version 4) UUID, RFC 4122 section 4.4. */
  unsigned char r[16];
  int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd == -1 || read (fd, r, 16) != 16)
    memset (r, 0x5A, 16);
  if (fd != -1)
    close (fd);
  r[6] = (r[6] & 0x0F) | 0x40;
  r[8] = (r[8] & 0x3F) | 0x80;
  snprintf (run_uuid, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
            r[13], r[14], r[15]);
  jadd_str (manifest, "last_run_uuid", run_uuid);
  return 0;
}

int
manifest_entry_newer (json_object *a, json_object *b)
{
  int64_t ta = jget_int (a, "build_time", 0), tb = jget_int (b, "build_time", 0);
  if (ta != tb)
    return ta > tb;
  const char *sa = jget_str (jget (a, "custom_data"), "status");
  const char *sb = jget_str (jget (b, "custom_data"), "status");
  return (sa && strcmp (sa, "succeeded") == 0) || !(sb && strcmp (sb, "succeeded") == 0);
}

/* Did this entry make b's output from b's source as it is now? */
static int
done_by (json_object *prev, const struct bimage *b, const char *hex)
{
  json_object *cd = prev ? jget (prev, "custom_data") : NULL;
  const char *pst = cd ? jget_str (cd, "status") : NULL;
  const char *psha = cd ? jget_str (cd, "source_sha256") : NULL;
  const char *pout = cd ? jget_str (cd, "output") : NULL;
  return pst && strcmp (pst, "succeeded") == 0 && psha && pout && strcmp (pout, b->output) == 0
         && strcmp (hex, psha) == 0;
}

int
manifest_done_before (const struct bimage *b)
{
  if (access (b->output, F_OK) != 0)
    return 0;
  /* The newest entry of this image, in this manifest or another (this
   * one's when as new); one found elsewhere is copied in, so that this
   * manifest lists all of its images. */
  json_object *best = find_build (b->name);
  int elsewhere = 0;
  for (size_t r = 0; r < n_refs; ++r) {
    json_object *builds = jget (refs[r], "builds");
    for (size_t i = 0; i < json_object_array_length (builds); ++i) {
      json_object *e = json_object_array_get_idx (builds, i);
      const char *bn = jget_str (e, "name");
      if (bn && strcmp (bn, b->name) == 0 && (!best || manifest_entry_newer (e, best))) {
        best = e;
        elsewhere = 1;
      }
    }
  }
  char hex[65];
  if (!best || !jget (best, "custom_data") || ws_sha256_path (b->source, 1, hex) != 0
      || !done_by (best, b, hex))
    return 0;
  if (elsewhere)
    adopt (best);
  return 1;
}
