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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/batch.h"
#include "cli/batch-shard.h"
#include "cli/cli.h"
#include "util/json-out.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

const struct option batch_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "output-dir", required_argument, NULL, 'o' },
  { "jobs", required_argument, NULL, 'j' },
  { "per-launch", required_argument, NULL, 'K' },
  { "resume", no_argument, NULL, 'R' },
  { "json", no_argument, NULL, 'J' },
  { "progress", no_argument, NULL, 'p' },
  { "no-progress", no_argument, NULL, 'q' },
  { "allow-dir", required_argument, NULL, 'A' },
  { "shard", required_argument, NULL, 'S' },
  { "shards", required_argument, NULL, 'N' },
  { "merge", required_argument, NULL, 'M' },
  { NULL, 0, NULL, 0 },
};
const char batch_short_options[] = "o:j:";

static void
help (void)
{
  printf ("Usage: winseal batch CATALOG -o DIR [-j N] [--resume] [--shard I/N|auto [--shards N]]\n"
          "       winseal batch --merge DIR\n\n"
          "Generalize every image of CATALOG (JSON: \"defaults\" and \"images\", each image\n"
          "with \"name\", \"source\", optional \"output\", \"format\" and generalize options\n"
          "spelled as their long option names, \"target\" among them) into DIR, and keep\n"
          "DIR/manifest.json.\n\n"
          "  -o, --output-dir DIR   where outputs and the manifest go\n"
          "  -j, --jobs N           images in flight (worker processes; default 1)\n"
          "  --per-launch K         images per appliance launch (default: spread evenly,\n"
          "                         at most %d)\n"
          "  --resume               skip images whose manifest entry succeeded and whose\n"
          "                         source is unchanged (same sha256)\n"
          "  --json                 print the manifest at the end\n"
          "  --allow-dir DIR        backing files may also be in DIR (repeatable)\n"
          "  --shard I/N            do only shard I (0 to N-1) of N, balanced by the sources'\n"
          "                         sizes; its manifest is DIR/manifests/shard-I-of-N.json\n"
          "  --shard auto           I and N from the array job's environment: Slurm\n"
          "                         (SLURM_ARRAY_TASK_ID, _COUNT), Kubernetes\n"
          "                         (JOB_COMPLETION_INDEX) or AWS Batch\n"
          "                         (AWS_BATCH_JOB_ARRAY_INDEX); the last two need --shards\n"
          "  --shards N             the number of shards (with --shard auto)\n"
          "  --merge DIR            write DIR/manifest.json from the shards' manifests (the\n"
          "                         last shard to finish does it too)\n"
          "  --progress, --no-progress   one line per image in flight plus a total\n"
          "                         (default: on a terminal)\n\n"
          "Exit status: 0 all images succeeded, 6 some failed (see the manifest),\n"
          "1 a bad catalog or options (nothing done), 130/143 interrupted.  A shard's status\n"
          "is its own images'; --merge gives 6 too when a shard has not finished.\n", PER_LAUNCH_MAX);
}

/* The images to run, in catalog order: those pending after the missing
 * sources failed and --resume skipped what an earlier run did. */
static struct bimage **
plan (struct batch_progress *bp, int resume, int record_pending, size_t *nq_ret,
      size_t *skipped_ret)
{
  struct bimage **queue = ws_malloc ((bp->n + 1) * sizeof *queue);
  size_t nq = 0, skipped = 0;
  for (size_t i = 0; i < bp->n; ++i) {
    struct bimage *b = &bp->bs[i];
    if (access (b->source, R_OK) == -1) {
      b->state = B_FAILED;
      b->error = ws_asprintf ("source %s: %s", b->source, strerror (errno));
      manifest_record (b, bp->run_uuid);
      bp->done++, bp->failed++;
    }
    else if (resume && manifest_done_before (b)) {
      b->state = B_SKIPPED;
      skipped++;
    }
    else {
      queue[nq++] = b;
      /* A shard's manifest lists every image of the shard from the start. */
      if (record_pending)
        manifest_record (b, bp->run_uuid);
    }
  }
  *nq_ret = nq;
  *skipped_ret = skipped;
  return queue;
}

/* This shard's images of the catalog bs[0..n), renumbered from 0 (the
 * workers' lines name them by index); their catalog positions go into
 * meta's "images".  The weights are the sources' sizes (0 when missing)
 * plus SHARD_IMAGE_COST. */
static struct bimage *
shard_select (struct bimage *bs, size_t n, const struct shard *sh, size_t *n_ret,
              json_object *images, struct strmap *names)
{
  uint64_t *w = ws_malloc ((n ? n : 1) * sizeof *w);
  const char **nm = ws_malloc ((n ? n : 1) * sizeof *nm);
  long *of = ws_malloc ((n ? n : 1) * sizeof *of);
  for (size_t i = 0; i < n; ++i) {
    struct stat sb;
    w[i] = SHARD_IMAGE_COST + (stat (bs[i].source, &sb) == 0 ? (uint64_t) sb.st_size : 0);
    nm[i] = bs[i].name;
  }
  shard_partition (w, nm, n, sh->count, of);
  struct bimage *mine = ws_malloc ((n ? n : 1) * sizeof *mine);
  size_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (of[i] == sh->index) {
      json_object *im = json_object_new_object ();
      jadd_str (im, "name", bs[i].name);
      jadd_int (im, "catalog_index", (int64_t) i);
      jadd_int (im, "weight", (int64_t) w[i]);
      json_object_array_add (images, im);
      strmap_put (names, bs[i].name, (void *) 1);
      mine[k] = bs[i];
      mine[k].index = (int) k;
      k++;
    }
  free (w);
  free (nm);
  free (of);
  *n_ret = k;
  return mine;
}

static json_object *
shard_meta (const struct shard *sh, const char *catalog, json_object *images, const char *state,
            double t0, const struct batch_progress *bp, size_t skipped)
{
  json_object *m = json_object_new_object ();
  jadd_int (m, "index", sh->index);
  jadd_int (m, "count", sh->count);
  jadd_str (m, "engine", sh->engine);
  jadd_str (m, "array_job", sh->array_job[0] ? sh->array_job : NULL);
  char host[256] = "";
  gethostname (host, sizeof host - 1);
  jadd_str (m, "host", host);
  jadd_int (m, "pid", (int64_t) getpid ());
  jadd_str (m, "catalog", catalog);
  jadd_str (m, "state", state);
  json_object_object_add (m, "started", json_object_new_double (t0));
  if (strcmp (state, "running") != 0) {
    json_object_object_add (m, "seconds", json_object_new_double (ws_now () - t0));
    jadd_int (m, "succeeded", (int64_t) (bp->done - bp->failed));
    jadd_int (m, "failed", (int64_t) bp->failed);
    jadd_int (m, "skipped", (int64_t) skipped);
  }
  json_object_object_add (m, "images", json_object_get (images));
  return m;
}

int
cmd_batch (int argc, char **argv)
{
  const char *dir = NULL;
  long jobs = 1, per_launch = 0;
  int resume = 0, json = 0, c;
  const char *shard_spec = NULL, *merge_dir = NULL;
  long shards = 0;
  struct batch_progress bp = { .show = isatty (2) };
  opterr = 0;
  while ((c = getopt_long (argc, argv, batch_short_options, batch_options, NULL)) != -1) {
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
    case 'S': shard_spec = optarg; break;
    case 'N':
      shards = strtol (optarg, &end, 10);
      if (*end || shards < 1 || shards > SHARDS_MAX)
        return usage_error ("batch", "--shards: '%s' is not a number from 1 to %d", optarg, SHARDS_MAX);
      break;
    case 'M': merge_dir = optarg; break;
    case 'J': json = 1; break;
    case 'p': bp.show = 1; break;
    case 'q': bp.show = 0; break;
    case 'A':
      if (ws_allow_dir (optarg) == -1)
        return WS_EXIT_ERROR;
      break;
    case ':': return usage_error ("batch", "option '%s' needs a value", argv[optind - 1]);
    default: return usage_error ("batch", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (merge_dir) {
    if (optind != argc || dir || shard_spec || shards || resume)
      return usage_error ("batch", "--merge DIR takes no catalog and no other options but --json");
    CLEANUP_FREE char *mdir = ws_canonical (merge_dir);
    struct stat sb;
    if (!mdir || stat (mdir, &sb) == -1 || !S_ISDIR (sb.st_mode)) {
      ws_error ("--merge %s: not a directory", merge_dir);
      return WS_EXIT_ERROR;
    }
    int merged;
    int r = batch_merge (mdir, 0, &merged);
    if (merged && json) {
      CLEANUP_FREE char *mp = ws_asprintf ("%s/manifest.json", mdir);
      json_object *m = json_read_strict (mp, MANIFEST_MAX);
      json_print (m);
      json_object_put (m);
    }
    return r;
  }
  if (shards && !shard_spec)
    return usage_error ("batch", "--shards N goes with --shard auto");
  struct shard sh = { 0, 0, NULL, "" };
  if (shard_spec) {
    char why[256];
    if (strcmp (shard_spec, "auto") == 0 ? shard_from_env (shards, &sh, why, sizeof why) == -1
        : shards ? (snprintf (why, sizeof why, "--shards N goes with --shard auto"), 1)
        : shard_parse_spec (shard_spec, &sh, why, sizeof why) == -1)
      return usage_error ("batch", "%s", why);
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
  int missing = 0;
  bp.bs = load_catalog (catalog, adir, &bp.n, &missing);
  if (!bp.bs)
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

  /* A shard: its part of the catalog (every shard checked all of it), and
   * its own manifest. */
  json_object *images = NULL;
  double started = ws_now ();
  CLEANUP_FREE char *mpath = NULL;
  struct strmap *names = NULL;
  if (shard_spec) {
    images = json_object_new_array ();
    names = strmap_new ();
    size_t nall = bp.n;
    bp.bs = shard_select (bp.bs, nall, &sh, &bp.n, images, names);
    CLEANUP_FREE char *mdir = shard_manifest_dir (adir);
    if (mkdir (mdir, 0755) == -1 && errno != EEXIST) {
      ws_error ("%s: %s", mdir, strerror (errno));
      return WS_EXIT_ERROR;
    }
    mpath = shard_manifest_path (adir, sh.index, sh.count);
    fprintf (stderr, "winseal batch: shard %ld of %ld (%s): %zu of %zu images\n", sh.index,
             sh.count, sh.engine, bp.n, nall);
  }
  else
    mpath = ws_asprintf ("%s/manifest.json", adir);
  /* The manifest: the old one (kept entries, --resume) or a new one. */
  char run_uuid[40];
  if (manifest_open (mpath, run_uuid) == -1)
    return WS_EXIT_ERROR;
  bp.run_uuid = run_uuid;
  if (shard_spec) {
    manifest_keep_only (names);
    if (resume)
      shard_references (adir, mpath);
    manifest_set (SHARD_META_KEY, shard_meta (&sh, catalog, images, "running", started, &bp, 0));
  }
  size_t nq = 0, skipped = 0;
  struct bimage **queue = plan (&bp, resume, shard_spec != NULL, &nq, &skipped);
  if (manifest_write () == -1)
    return WS_EXIT_ERROR;

  /* Groups for the workers: as even as -j allows, at most PER_LAUNCH_MAX. */
  if (!per_launch) {
    per_launch = (long) ((nq + jobs - 1) / jobs);
    if (per_launch < 1)
      per_launch = 1;
    if (per_launch > PER_LAUNCH_MAX)
      per_launch = PER_LAUNCH_MAX;
  }
  /* Workers use a private temporary directory below DIR (removed at the
   * end whatever happens). */
  CLEANUP_FREE char *work = ws_mkdtemp_in (adir, ".winseal-batch");
  if (!work)
    return WS_EXIT_ERROR;
  bp.t0 = ws_now ();
  int interrupted = batch_run_workers (&bp, queue, nq, jobs, per_launch, work);
  if (shard_spec)
    manifest_set (SHARD_META_KEY, shard_meta (&sh, catalog, images,
                                              interrupted ? "interrupted" : "finished",
                                              started, &bp, skipped));
  manifest_flush (1);
  for (int t = 0; t < 3 && ws_rmtree (work) == -1; ++t)
    sleep (1);
  if (access (work, F_OK) == 0)
    ws_warning ("%s could not be removed", work);
  batch_display (&bp);
  if (json)
    json_print (manifest_json ());
  fprintf (stderr, "winseal batch: %zu image%s: %zu succeeded, %zu failed, %zu skipped "
           "(already done)%s; manifest %s\n", bp.n, bp.n == 1 ? "" : "s",
           bp.done - bp.failed, bp.failed, skipped, interrupted ? ", interrupted" : "", mpath);
  free (queue);
  /* The shard that finds every shard finished merges. */
  if (shard_spec && !interrupted) {
    int merged;
    if (batch_merge (adir, sh.count, &merged) == WS_EXIT_ERROR)
      ws_warning ("the shards' manifests were not merged; run winseal batch --merge %s", dir);
    else if (!merged)
      fprintf (stderr, "winseal batch: other shards have not finished; the last one merges\n");
  }
  json_object_put (images);
  if (names)
    strmap_free (names);
  if (interrupted)
    return 128 + interrupted;
  return bp.failed ? WS_EXIT_PARTIAL : 0;
}
