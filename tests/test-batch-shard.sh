#!/bin/bash
# winseal batch shards on the host, without an appliance: the sources are
# files that fail before any launch (a VHD footer that does not check
# out), of several sizes.  The partition is balanced by size, not count,
# and the same on every run; --shard auto reads Slurm's, Kubernetes' and
# AWS Batch's variables, and refuses when there are none; --merge keeps
# the newest entry of each image, is byte-for-byte repeatable, says when
# a shard has not finished, and refuses a damaged shard manifest with one
# line naming it.  (test-slurm.sh runs the same on a real Slurm.)
. "$top_srcdir/tests/functions.sh"
requires command -v jq
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX \
  SLURM_ARRAY_TASK_STEP SLURM_ARRAY_JOB_ID JOB_COMPLETION_INDEX AWS_BATCH_JOB_ARRAY_INDEX AWS_BATCH_JOB_ID

# Sparse files of 1 to 5 GiB whose last sector is a VHD footer with a bad
# checksum: each image fails at once, with its weight its size + 1 GiB.
for i in 1 2 3 4 5; do
  truncate -s ${i}G "$tmp/s$i.vhd"
  printf 'conectix' | dd of="$tmp/s$i.vhd" bs=1 seek=$((i * 1073741824 - 512)) conv=notrunc status=none
done
cat > "$tmp/cat.json" <<EOC
{ "images": [ { "name": "a", "source": "s1.vhd" }, { "name": "b", "source": "s2.vhd" },
              { "name": "c", "source": "s3.vhd" }, { "name": "d", "source": "s4.vhd" },
              { "name": "e", "source": "s5.vhd" } ] }
EOC
out=$tmp/out
names () { jq -r '[.winseal_shard.images[].name] | join(",")' "$out/manifests/shard-$1-of-$2.json"; }
run () { local status=0; winseal batch "$tmp/cat.json" -o "$out" --no-progress "$@" 2> "$tmp/err" || status=$?; echo $status; }

# Weights 2..6 GiB over two shards, heaviest first to the lighter shard:
# e(6)->0, d(5)->1, c(4)->1, b(3)->0, a(2)->0: 11 and 9 GiB, three images
# and two; by count alone it would be 3 and 2 the other way or 3/2 by
# position.
[ "$(run --shard 0/2)" = 6 ] || { cat "$tmp/err"; fail "shard 0/2 of failing images does not exit 6"; }
grep -q "shard 0 of 2 (command line): 3 of 5 images" "$tmp/err" || { cat "$tmp/err"; fail "shard 0/2 does not say its part"; }
[ "$(names 0 2)" = a,b,e ] || fail "shard 0 of 2 holds $(names 0 2), not a,b,e"
[ ! -e "$out/manifest.json" ] || fail "shard 0 merged before shard 1 finished"
grep -q "other shards have not finished" "$tmp/err" || fail "shard 0 does not say it leaves the merge"
[ "$(jq -r '.winseal_shard.state' "$out/manifests/shard-0-of-2.json")" = finished ] || fail "shard 0's state"
[ "$(jq -r '[.builds[] | .custom_data.status] | join(",")' "$out/manifests/shard-0-of-2.json")" = failed,failed,failed ] \
  || fail "shard 0's manifest does not list its three images as failed"
jq -e '[.builds[].custom_data.error] | all(test("footer checksum"))' "$out/manifests/shard-0-of-2.json" > /dev/null \
  || fail "shard 0's errors do not name the bad footer"
# Slurm's variables, counted from the array's first task: task 5 of 4-5 is shard 1 of 2.
[ "$(SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_MAX=5 run --shard auto)" = 6 ] \
  || { cat "$tmp/err"; fail "--shard auto under Slurm failed"; }
grep -q "shard 1 of 2 (Slurm (SLURM_ARRAY_TASK_ID)): 2 of 5 images" "$tmp/err" || { cat "$tmp/err"; fail "Slurm task 5 of 4-5 is not shard 1 of 2"; }
[ "$(names 1 2)" = c,d ] || fail "shard 1 of 2 holds $(names 1 2), not c,d"
[ "$(jq -r .winseal_shard.array_job "$out/manifests/shard-1-of-2.json")" = slurm:77 ] || fail "array_job not recorded"
# The last shard merged: every image once, in catalog order.
m=$out/manifest.json
[ "$(jq -r '[.builds[].name] | join(",")' "$m")" = a,b,c,d,e ] || fail "the merge is not in catalog order: $(jq -c '[.builds[].name]' "$m")"
grep -q "merged 2 of 2 shards finished; 5 images: 0 succeeded, 5 failed, 0 not done" "$tmp/err" \
  || { cat "$tmp/err"; fail "the merge's summary line"; }
# The same partition again (stable), and twice the same merge.
rm -rf "$out.2"; cp -a "$out" "$out.2"
[ "$(run --shard 0/2)" = 6 ] && [ "$(names 0 2)" = a,b,e ] || fail "shard 0 of 2 changed on a second run"
# Both shards finished now, so shard 0 merged, with its newer entries.
grep -q "merged 2 of 2 shards finished" "$tmp/err" || fail "shard 0 did not merge once all were finished"
[ "$(jq -r '[.builds[] | select(.name == "a" or .name == "b" or .name == "e") | .packer_run_uuid] | unique | .[]' "$m")" \
  = "$(jq -r .last_run_uuid "$out/manifests/shard-0-of-2.json")" ] || fail "the merge did not take shard 0's newer entries"
[ "$(jq -r '.builds[] | select(.name == "c") | .packer_run_uuid' "$m")" \
  = "$(jq -r '.builds[] | select(.name == "c") | .packer_run_uuid' "$out.2/manifest.json")" ] || fail "the merge changed shard 1's entries"
status=0; winseal batch --merge "$out" 2> "$tmp/err" || status=$?
[ $status = 6 ] || fail "--merge with failed images exits $status, not 6"
m2=$(sha256sum < "$m")
winseal batch --merge "$out" 2> /dev/null || true
[ "$(sha256sum < "$m")" = "$m2" ] || fail "merging twice gave two manifests"

# Kubernetes and AWS Batch: the index only, the count from --shards.
[ "$(JOB_COMPLETION_INDEX=2 run --shard auto --shards 3)" = 6 ] && grep -q "shard 2 of 3 (Kubernetes" "$tmp/err" \
  || { cat "$tmp/err"; fail "JOB_COMPLETION_INDEX=2 --shards 3 is not shard 2 of 3"; }
[ "$(AWS_BATCH_JOB_ID=abc:1 AWS_BATCH_JOB_ARRAY_INDEX=1 run --shard auto --shards 3)" = 6 ] \
  && grep -q "shard 1 of 3 (AWS Batch" "$tmp/err" || { cat "$tmp/err"; fail "AWS_BATCH_JOB_ARRAY_INDEX=1 is not shard 1 of 3"; }
[ "$(jq -r .winseal_shard.array_job "$out/manifests/shard-1-of-3.json")" = aws:abc ] || fail "the AWS parent job not recorded"
# Shard 0 of 3 never ran: --merge picks the newest count (3) and says so.
status=0; winseal batch --merge "$out" 2> "$tmp/err" || status=$?
[ $status = 6 ] && grep -q "merged 2 of 3 shards finished" "$tmp/err" && grep -q "0: no manifest" "$tmp/err" \
  || { cat "$tmp/err"; fail "--merge with a missing shard: exit $status"; }

# Refusals: one line, exit 1, nothing written.
refuse () {
  local want=$1; shift
  local status=0
  "$@" > /dev/null 2> "$tmp/err" || status=$?
  [ $status = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q -- "$want" "$tmp/err" \
    || fail "$*: exit $status, not one line saying '$want': $(cat "$tmp/err")"
}
refuse "no array index in the environment" winseal batch "$tmp/cat.json" -o "$tmp/o2" --shard auto
refuse "gives the index only; give the count with --shards N" env JOB_COMPLETION_INDEX=0 "$WINSEAL" batch "$tmp/cat.json" -o "$tmp/o2" --shard auto
refuse "index 3 (Kubernetes (JOB_COMPLETION_INDEX)) is not below the count 3" env JOB_COMPLETION_INDEX=3 "$WINSEAL" batch "$tmp/cat.json" -o "$tmp/o2" --shard auto --shards 3
refuse "SLURM_ARRAY_TASK_ID='x' is not a number" env SLURM_ARRAY_TASK_ID=x "$WINSEAL" batch "$tmp/cat.json" -o "$tmp/o2" --shard auto
refuse "the index is not a number from 0 to 1" winseal batch "$tmp/cat.json" -o "$tmp/o2" --shard 2/2
refuse "is not I/N or auto" winseal batch "$tmp/cat.json" -o "$tmp/o2" --shard 1
refuse "the count is not a number" winseal batch "$tmp/cat.json" -o "$tmp/o2" --shard 0/0
refuse "--shards N goes with --shard auto" winseal batch "$tmp/cat.json" -o "$tmp/o2" --shards 2
refuse "takes no catalog" winseal batch --merge "$out" "$tmp/cat.json"
refuse "no shard manifests" winseal batch --merge "$tmp"
[ ! -e "$tmp/o2" ] || fail "a refused shard made its output directory"
# A damaged shard manifest: named, nothing merged.
before=$(sha256sum < "$m")
jq '.winseal_shard.count = 0' "$out/manifests/shard-1-of-2.json" > "$tmp/x" && mv "$tmp/x" "$out/manifests/shard-1-of-2.json"
refuse "shard-1-of-2.json: winseal_shard: index or count out of range" winseal batch --merge "$out"
printf '{"builds": [' > "$out/manifests/shard-1-of-2.json"
refuse "shard-1-of-2.json" winseal batch --merge "$out"
[ "$(sha256sum < "$m")" = "$before" ] || fail "a refused merge changed the manifest"
echo "batch-shard: partition a,b,e / c,d (11 and 9 GiB), Slurm, Kubernetes and AWS Batch indexes, merges repeatable"
