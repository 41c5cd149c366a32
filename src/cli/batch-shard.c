/* winseal batch: shards of a catalog (--shard I/N, --shard auto), their
 * partition, and the check of a shard manifest read back for --merge and
 * --resume.  Nothing here does I/O beyond getenv: the fuzz harness runs
 * the parsers. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch-shard.h"
#include "util/json-out.h"

/* A decimal number from 0 to max, the whole string. */
static int
parse_num (const char *s, long max, long *v)
{
  if (!s || !*s || strlen (s) > 10)
    return -1;
  for (const char *p = s; *p; ++p)
    if (*p < '0' || *p > '9')
      return -1;
  char *end;
  errno = 0;
  long x = strtol (s, &end, 10);
  if (errno || *end || x < 0 || x > max)
    return -1;
  *v = x;
  return 0;
}

int
shard_parse_spec (const char *spec, struct shard *s, char *why, size_t n)
{
  const char *slash = strchr (spec, '/');
  char idx[16];
  if (!slash || (size_t) (slash - spec) >= sizeof idx) {
    snprintf (why, n, "--shard: '%s' is not I/N or auto", spec);
    return -1;
  }
  memcpy (idx, spec, slash - spec);
  idx[slash - spec] = '\0';
  if (parse_num (slash + 1, SHARDS_MAX, &s->count) == -1 || s->count < 1) {
    snprintf (why, n, "--shard %s: the count is not a number from 1 to %d", spec, SHARDS_MAX);
    return -1;
  }
  if (parse_num (idx, SHARDS_MAX, &s->index) == -1 || s->index >= s->count) {
    snprintf (why, n, "--shard %s: the index is not a number from 0 to %ld", spec, s->count - 1);
    return -1;
  }
  s->engine = "command line";
  s->array_job[0] = '\0';
  return 0;
}

/* The value of an environment variable that must be a number, or -1
 * (with why set) when it is there but not a number; -2 when unset. */
static long
env_num (const char *var, char *why, size_t n)
{
  const char *v = getenv (var);
  if (!v)
    return -2;
  long x;
  if (parse_num (v, 100000000L, &x) == -1) {
    snprintf (why, n, "--shard auto: %s='%.40s' is not a number", var, v);
    return -1;
  }
  return x;
}

/* Slurm job arrays: SLURM_ARRAY_TASK_ID, with SLURM_ARRAY_TASK_COUNT (or
 * MIN, MAX and STEP) for the count; the index counts from the array's
 * first task, so --array=1-3 is shards 0, 1, 2 (sbatch(1), OUTPUT
 * ENVIRONMENT VARIABLES).  With --shards N the task id is the index
 * itself: a resubmitted single task (--array=2) is shard 2 of N. */
static int
from_slurm (long shards, struct shard *s, char *why, size_t n)
{
  long id = env_num ("SLURM_ARRAY_TASK_ID", why, n);
  if (id < 0)
    return (int) id;
  const char *job = getenv ("SLURM_ARRAY_JOB_ID");
  snprintf (s->array_job, sizeof s->array_job, "slurm:%.50s", job ? job : "?");
  s->engine = "Slurm (SLURM_ARRAY_TASK_ID)";
  if (shards) {
    s->index = id;
    s->count = shards;
    return 0;
  }
  long min = env_num ("SLURM_ARRAY_TASK_MIN", why, n);
  long max = env_num ("SLURM_ARRAY_TASK_MAX", why, n);
  long step = env_num ("SLURM_ARRAY_TASK_STEP", why, n);
  long count = env_num ("SLURM_ARRAY_TASK_COUNT", why, n);
  if (min == -1 || max == -1 || step == -1 || count == -1)
    return -1;
  if (min == -2)
    min = 0;
  if (step < 1)
    step = 1;
  if (count == -2) {
    if (max == -2) {
      snprintf (why, n, "--shard auto: SLURM_ARRAY_TASK_ID is set but neither "
                "SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX (give --shards N)");
      return -1;
    }
    count = max < min ? 0 : (max - min) / step + 1;
  }
  if (id < min || (id - min) % step) {
    snprintf (why, n, "--shard auto: task %ld is not in the array %ld-%ld:%ld (give --shards N)",
              id, min, max, step);
    return -1;
  }
  s->index = (id - min) / step;
  s->count = count;
  return 0;
}

int
shard_from_env (long shards, struct shard *s, char *why, size_t n)
{
  s->array_job[0] = '\0';
  int r = from_slurm (shards, s, why, n);
  if (r == -1)
    return -1;
  if (r == -2) {
    /* Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX) and AWS Batch array
     * jobs (AWS_BATCH_JOB_ARRAY_INDEX) give the index only. */
    static const struct { const char *var, *engine, *job; } others[] = {
      { "JOB_COMPLETION_INDEX", "Kubernetes (JOB_COMPLETION_INDEX)", NULL },
      { "AWS_BATCH_JOB_ARRAY_INDEX", "AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX)", "AWS_BATCH_JOB_ID" },
    };
    size_t k;
    for (k = 0; k < sizeof others / sizeof others[0]; ++k) {
      long id = env_num (others[k].var, why, n);
      if (id == -1)
        return -1;
      if (id == -2)
        continue;
      if (!shards) {
        snprintf (why, n, "--shard auto: %s gives the index only; give the count with --shards N",
                  others[k].var);
        return -1;
      }
      s->index = id;
      s->count = shards;
      s->engine = others[k].engine;
      const char *job = others[k].job ? getenv (others[k].job) : NULL;
      if (job) {
        /* AWS_BATCH_JOB_ID of a child is PARENT:INDEX. */
        size_t len = strcspn (job, ":");
        snprintf (s->array_job, sizeof s->array_job, "aws:%.*s", (int) (len > 50 ? 50 : len), job);
      }
      break;
    }
    if (k == sizeof others / sizeof others[0]) {
      snprintf (why, n, "--shard auto: no array index in the environment (SLURM_ARRAY_TASK_ID, "
                "JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX); give --shard I/N");
      return -1;
    }
  }
  if (s->count < 1 || s->count > SHARDS_MAX) {
    snprintf (why, n, "--shard auto: %ld shards (%s); the count must be from 1 to %d",
              s->count, s->engine, SHARDS_MAX);
    return -1;
  }
  if (s->index >= s->count) {
    snprintf (why, n, "--shard auto: index %ld (%s) is not below the count %ld", s->index,
              s->engine, s->count);
    return -1;
  }
  return 0;
}

/* The partition: longest processing time first (Graham 1969).  Images are
 * taken heaviest first (the name breaks ties, so the order is total) and
 * each goes to the shard with the least weight so far (the lowest index
 * breaks ties).  The result depends only on the names and weights. */
struct wi {
  uint64_t w;
  const char *name;
  size_t i;
};

static int
cmp_wi (const void *a, const void *b)
{
  const struct wi *x = a, *y = b;
  if (x->w != y->w)
    return x->w > y->w ? -1 : 1;
  return strcmp (x->name, y->name);
}

void
shard_partition (const uint64_t *weights, const char *const *names, size_t n, long count,
                 long *shard_of)
{
  struct wi *v = malloc ((n ? n : 1) * sizeof *v);
  uint64_t *load = calloc ((size_t) count, sizeof *load);
  if (!v || !load)
    abort ();
  for (size_t i = 0; i < n; ++i)
    v[i] = (struct wi) { weights[i], names[i], i };
  qsort (v, n, sizeof *v, cmp_wi);
  for (size_t k = 0; k < n; ++k) {
    long best = 0;
    for (long s = 1; s < count; ++s)
      if (load[s] < load[best])
        best = s;
    shard_of[v[k].i] = best;
    load[best] += v[k].w;
  }
  free (v);
  free (load);
}

static const char *const state_names[] = { "running", "finished", "interrupted" };

const char *
shard_state_name (enum shard_state st)
{
  return state_names[st];
}

/* A number that json-c may have read as an int or a double. */
static int
get_number (json_object *o, const char *key, double *v)
{
  json_object *x = jget (o, key);
  if (!x || !(json_object_is_type (x, json_type_double) || json_object_is_type (x, json_type_int)))
    return -1;
  *v = json_object_get_double (x);
  return *v >= 0 && *v < 1e12 ? 0 : -1;
}

int
shard_file_check (json_object *o, struct shard_file *sf, char *why, size_t n)
{
  memset (sf, 0, sizeof *sf);
  json_object *meta = jget (o, SHARD_META_KEY);
  json_object *builds = jget (o, "builds");
  if (!json_object_is_type (o, json_type_object) || !meta
      || !json_object_is_type (meta, json_type_object)
      || !builds || !json_object_is_type (builds, json_type_array)) {
    snprintf (why, n, "not a winseal shard manifest (no \"builds\" or \"%s\")", SHARD_META_KEY);
    return -1;
  }
  int64_t idx = jget_int (meta, "index", -1), cnt = jget_int (meta, "count", -1);
  if (cnt < 1 || cnt > SHARDS_MAX || idx < 0 || idx >= cnt) {
    snprintf (why, n, "%s: index or count out of range", SHARD_META_KEY);
    return -1;
  }
  sf->index = (long) idx;
  sf->count = (long) cnt;
  const char *st = jget_str (meta, "state");
  size_t k;
  for (k = 0; st && k < sizeof state_names / sizeof state_names[0]; ++k)
    if (strcmp (st, state_names[k]) == 0)
      break;
  if (!st || k == sizeof state_names / sizeof state_names[0]) {
    snprintf (why, n, "%s.state is not running, finished or interrupted", SHARD_META_KEY);
    return -1;
  }
  sf->state = (enum shard_state) k;
  if (get_number (meta, "started", &sf->started) == -1
      || (sf->state != SHARD_RUNNING && get_number (meta, "seconds", &sf->seconds) == -1)) {
    snprintf (why, n, "%s: started or seconds is not a time", SHARD_META_KEY);
    return -1;
  }
  sf->run_uuid = jget_str (o, "last_run_uuid");
  sf->images = jget (meta, "images");
  if (!sf->run_uuid || !sf->images || !json_object_is_type (sf->images, json_type_array)) {
    snprintf (why, n, "no last_run_uuid or %s.images", SHARD_META_KEY);
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length (sf->images); ++i) {
    json_object *im = json_object_array_get_idx (sf->images, i);
    if (!jget_str (im, "name") || jget_int (im, "catalog_index", -1) < 0) {
      snprintf (why, n, "%s.images[%zu] has no name or catalog_index", SHARD_META_KEY, i);
      return -1;
    }
  }
  sf->builds = builds;
  for (size_t i = 0; i < json_object_array_length (builds); ++i) {
    json_object *b = json_object_array_get_idx (builds, i);
    json_object *cd = jget (b, "custom_data");
    if (!jget_str (b, "name") || !jget (b, "build_time")
        || !json_object_is_type (jget (b, "build_time"), json_type_int)
        || !cd || !jget_str (cd, "status")) {
      snprintf (why, n, "builds[%zu] has no name, build_time or custom_data.status", i);
      return -1;
    }
  }
  return 0;
}
