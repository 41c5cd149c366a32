/* winseal batch: shards (batch-shard.c, no I/O: fuzzed) and the merge of
 * their manifests (batch-merge.c). */
#ifndef WINSEAL_BATCH_SHARD_H
#define WINSEAL_BATCH_SHARD_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define SHARDS_MAX 100000
/* The key of a shard manifest that says which shard it is. */
#define SHARD_META_KEY "winseal_shard"
/* An image's weight in the partition: its source file's size plus this,
 * the cost of an image apart from its data (inspection, hive work, the
 * output's metadata), as bytes of data it takes as long to copy. */
#define SHARD_IMAGE_COST (1ull << 30)

struct shard {
  long index, count;
  const char *engine;           /* where index and count came from */
  char array_job[64];           /* the engine's job, when it says */
};

/* "I/N": 0 <= I < N.  0, or -1 with why set. */
int shard_parse_spec (const char *spec, struct shard *s, char *why, size_t n);
/* --shard auto: from the engine's environment; shards is --shards N (0
 * when not given).  0, or -1 with why set. */
int shard_from_env (long shards, struct shard *s, char *why, size_t n);
/* shard_of[i] for the n images of the given weights and names. */
void shard_partition (const uint64_t *weights, const char *const *names, size_t n, long count,
                      long *shard_of);

enum shard_state { SHARD_RUNNING, SHARD_FINISHED, SHARD_INTERRUPTED };
const char *shard_state_name (enum shard_state st);

/* A shard manifest read back: its fields point into the JSON. */
struct shard_file {
  long index, count;
  enum shard_state state;
  double started, seconds;
  const char *run_uuid;
  json_object *images;          /* [{ "name", "catalog_index" }] */
  json_object *builds;
};
/* Check what a shard manifest holds.  0, or -1 with why set. */
int shard_file_check (json_object *o, struct shard_file *sf, char *why, size_t n);

/* batch-merge.c: DIR/manifest.json from DIR/manifests/shard-*.json (and the
 * older DIR/manifest.json), the newest entry of each image winning.  With
 * want_count > 0 (a shard's own merge), nothing is done unless all
 * want_count shards finished; *merged says whether it wrote.  Returns the
 * exit status: 0 all shards finished and every image succeeded, 6 some
 * failed or some shard did not finish, 1 an unreadable shard manifest. */
int batch_merge (const char *dir, long want_count, int *merged);
/* --resume in a shard also believes DIR/manifest.json and the other
 * shards' manifests (all but own); one it cannot read is passed over with
 * a warning (its images are then done again, never wrongly skipped). */
void shard_references (const char *dir, const char *own);
/* The shard manifests' directory and one shard's manifest in it. */
char *shard_manifest_dir (const char *dir);
char *shard_manifest_path (const char *dir, long index, long count);

#endif
