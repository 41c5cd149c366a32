/* winseal: `winseal batch`'s parts (cli/): the catalog (batch-catalog.c),
 * the manifest (batch-manifest.c), the workers and the parent's loop
 * (batch-workers.c); cmd-batch.c holds the options and the flow. */
#ifndef WINSEAL_BATCH_H
#define WINSEAL_BATCH_H

#include <json-c/json.h>
#include <stddef.h>

#define PER_LAUNCH_MAX 16
#define CATALOG_MAX (64u << 20)       /* bytes: 10,000 images take about 2 MB */
#define MANIFEST_MAX (256u << 20)

/* One image of the catalog.  The catalog's JSON stays alive for the run:
 * name, format and argv's values point into it. */
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

/* batch-catalog.c: load and check the whole catalog; every problem is
 * reported.  Outputs are plain names in dir (absolute).  Returns the
 * images (*n_ret of them; *missing_ret with a missing source), or NULL. */
struct bimage *load_catalog (const char *path, const char *dir, size_t *n_ret, int *missing_ret);

/* batch-manifest.c: DIR/manifest.json, in Packer's manifest shape. */
/* Read the old manifest at path (kept entries, --resume) or start a new
 * one, and give this run its UUID (run_uuid[37]).  -1 (reported) when a
 * file there is not a winseal manifest. */
int manifest_open (const char *path, char run_uuid[40]);
/* Put one image's entry into the manifest, replacing an older one. */
void manifest_record (struct bimage *b, const char *run_uuid);
/* Write it when it changed and a second has passed (always with force). */
void manifest_flush (int force);
/* Write it now (atomically); 0 or -1 (reported). */
int manifest_write (void);
/* --resume: did an earlier run make this image's output from the same
 * source (its SHA-256), and is the output there? */
int manifest_done_before (const struct bimage *b);
/* Set a top-level key of the manifest (a shard's "winseal_shard"). */
void manifest_set (const char *key, json_object *val);
/* Drop the entries of images not named in names (a shard's own). */
struct strmap;
void manifest_keep_only (const struct strmap *names);
/* Does entry a (of one image; read after b) win over entry b?  The newer
 * by build_time; of two as new (it is in seconds), a unless only b
 * succeeded.  --resume and --merge both decide by it. */
int manifest_entry_newer (json_object *a, json_object *b);
/* --resume also believes this manifest's entries (a reference is taken). */
void manifest_add_reference (json_object *m);
json_object *manifest_json (void);

/* batch-workers.c: run the queued images in up to jobs worker processes
 * of per_launch images each (one appliance launch per worker), their
 * temporary files in work; results go into the manifest as they come.
 * Returns the signal that interrupted the run, or 0. */
struct batch_progress {
  struct bimage *bs;
  size_t n;
  const char *run_uuid;
  size_t done, failed;
  int show;                     /* the progress display on stderr */
  double t0;
};
int batch_run_workers (struct batch_progress *bp, struct bimage **queue, size_t nq,
                       long jobs, long per_launch, const char *work);
void batch_display (struct batch_progress *bp);

#endif
