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
  { NULL, 0, NULL, 0 },
};
const char batch_short_options[] = "o:j:";

static void
help (void)
{
  printf ("Usage: winseal batch CATALOG -o DIR [-j N] [--resume]\n\n"
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
          "  --progress, --no-progress   one line per image in flight plus a total\n"
          "                         (default: on a terminal)\n\n"
          "Exit status: 0 all images succeeded, 6 some failed (see the manifest),\n"
          "1 a bad catalog or options (nothing done), 130/143 interrupted.\n", PER_LAUNCH_MAX);
}

/* The images to run, in catalog order: those pending after the missing
 * sources failed and --resume skipped what an earlier run did. */
static struct bimage **
plan (struct batch_progress *bp, int resume, size_t *nq_ret, size_t *skipped_ret)
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
    else
      queue[nq++] = b;
  }
  *nq_ret = nq;
  *skipped_ret = skipped;
  return queue;
}

int
cmd_batch (int argc, char **argv)
{
  const char *dir = NULL;
  long jobs = 1, per_launch = 0;
  int resume = 0, json = 0, c;
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

  /* The manifest: the old one (kept entries, --resume) or a new one. */
  CLEANUP_FREE char *mpath = ws_asprintf ("%s/manifest.json", adir);
  char run_uuid[40];
  if (manifest_open (mpath, run_uuid) == -1)
    return WS_EXIT_ERROR;
  bp.run_uuid = run_uuid;
  size_t nq = 0, skipped = 0;
  struct bimage **queue = plan (&bp, resume, &nq, &skipped);
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
  if (interrupted)
    return 128 + interrupted;
  return bp.failed ? WS_EXIT_PARTIAL : 0;
}
