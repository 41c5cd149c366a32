#!/bin/bash
# winseal batch --shard auto on a real Slurm: a one-node cluster (munged,
# slurmctld, slurmd) started here in a temporary directory and stopped by
# PID.  contrib/slurm/winseal-batch.sbatch runs as an array of three over
# a catalog of two fixture images and one bad file: the merged manifest
# (written by the last task) lists each with its status, the outputs pass
# winseal verify and qemu-img check, and the bad file failed in
# its own shard alone.  A second array with --resume redoes only that
# image (now good); scancel of its task mid-run leaves no partial output
# and a manifest that says interrupted; that index submitted alone
# (--array=I, WINSEAL_SHARDS=3) finishes it.
#
# Slurm is part of the set-up (setup.sh): if the daemons cannot start,
# this fails with the reason, it does not skip.
. "$top_srcdir/tests/functions.sh"
command -v jq > /dev/null && command -v qemu-img > /dev/null || fail "jq or qemu-img is not installed"
slurm_die () { fail "$*"; }
. "$top_srcdir/tests/slurm-env.sh"
trap 'slurm_stop; cleanup' EXIT
slurm_start "$tmp/slurm"

# submit ARGS...: sbatch the contrib script, one CPU a task (two at once).
sbatch_script=$top_srcdir/contrib/slurm/winseal-batch.sbatch
submit () { slurm_submit --cpus-per-task=1 --mem=0 -o "$tmp/task-%A_%a.log" "$@"; }
wait_job () { slurm_wait "$1" 900; }
export WINSEAL

# The catalog: two fixtures and a file that is no disk image at all.
good1=$(image ws2012r2)
good2=$(image win10)
head -c 1048576 /dev/urandom > "$tmp/broken.vhd"
printf 'conectix' | dd of="$tmp/broken.vhd" bs=1 seek=$((1048576 - 512)) conv=notrunc status=none
cat > "$tmp/cat.json" <<EOC
{ "defaults": { "timezone": "UTC" },
  "images": [
    { "name": "server", "source": "$good1", "format": "qcow2" },
    { "name": "desktop", "source": "$good2", "target": "aws", "computer-name": "DESK-01" },
    { "name": "broken", "source": "broken.vhd", "format": "vhdx" } ] }
EOC
out=$tmp/out
m=$out/manifest.json
st () { jq -r --arg n "$1" '.builds[] | select(.name == $n) | .custom_data.'"$2" "${3:-$m}"; }
# shard_of NAME: the index of the shard manifest that lists NAME.
shard_of () {
  local f
  for f in "$out"/manifests/shard-*-of-3.json; do
    jq -e --arg n "$1" '.winseal_shard.images | any(.name == $n)' "$f" > /dev/null \
      && { jq -r .winseal_shard.index "$f"; return; }
  done
}

# 1. The array: three shards.
t0=$SECONDS
job=$(submit --array=0-2 "$sbatch_script" "$tmp/cat.json" "$out")
wait_job "$job"
t_array=$((SECONDS - t0))
[ -f "$m" ] || { cat "$tmp"/task-*.log; fail "no merged manifest after the array"; }
[ "$(jq '.builds | length' "$m")" = 3 ] || fail "the merged manifest does not list 3 images"
[ "$(st server status)" = succeeded ] && [ "$(st desktop status)" = succeeded ] \
  || { cat "$tmp"/task-*.log; fail "the good images did not succeed"; }
[ "$(st broken status)" = failed ] && [ -n "$(st broken error)" ] || fail "the broken file did not fail"
[ "$(jq -r '.winseal_shards.shards | map(.state) | join(",")' "$m")" = finished,finished,finished ] \
  || fail "the merge does not say all three shards finished"
# One image per shard (balanced), and each failure only in its own shard.
for n in server desktop broken; do
  [ "$(jq -s --arg n "$n" '[.[] | select(.builds | any(.name == $n))] | length' "$out"/manifests/shard-*-of-3.json)" = 1 ] \
    || fail "$n is in more than one shard manifest"
done
bs=$(shard_of broken)
for f in "$out"/manifests/shard-*-of-3.json; do
  nf=$(jq '[.builds[] | select(.custom_data.status == "failed")] | length' "$f")
  if [ "$(jq -r .winseal_shard.index "$f")" = "$bs" ]; then
    [ "$nf" = 1 ] || fail "the broken image's shard has $nf failures"
  else
    [ "$nf" = 0 ] || fail "$f has a failure, though the broken image is in shard $bs"
  fi
done
grep -q "merged 3 of 3 shards finished; 3 images: 2 succeeded, 1 failed" "$tmp"/task-"$job"_*.log \
  || { cat "$tmp"/task-*.log; fail "no task printed the merge's summary"; }
# Sacct-free engine check: Slurm ran the tasks (each log names its shard).
for i in 0 1 2; do
  grep -q "shard $i of 3 (Slurm" "$tmp/task-${job}_$i.log" || fail "task $i did not run shard $i of 3"
done
# The outputs (formats qemu-img can check: qcow2, the aws target's
# VMDK, VHDX) and sha256sum; winseal verify at the end.
for f in server.qcow2 desktop.vmdk; do
  qemu-img check -q "$out/$f" || fail "qemu-img check fails on $f"
  [ "$(st "${f%.*}" output_sha256)" = "$(sha256sum < "$out/$f" | cut -c1-64)" ] || fail "$f: output_sha256 is not the file's"
done
[ "$(st desktop computer_name)" = DESK-01 ] || fail "desktop: the catalog's computer-name not applied"

# 2. --resume after the merge: the broken file is now an image.  Only it
# runs again; its task is cancelled mid-run.
sum_server=$(sha256sum < "$out/server.qcow2")
t_server=$(jq '.builds[] | select(.name == "server") | .build_time' "$m")
rm "$tmp/broken.vhd"
ln -s "$good1" "$tmp/broken.vhd"
t2=$(date +%s)
job2=$(submit --array=0-2 "$sbatch_script" "$tmp/cat.json" "$out" --resume)
bi=
for _ in $(seq 1 240); do
  bi=$(shard_of broken)
  f=$out/manifests/shard-$bi-of-3.json
  if [ -n "$bi" ] && [ "$(jq -r '.winseal_shard.started | floor' "$f")" -ge "$t2" ] \
     && compgen -G "$out/.winseal-batch-*" > /dev/null; then
    break
  fi
  bi=
  sleep 0.5
done
[ -n "$bi" ] || { cat "$tmp"/task-"$job2"_*.log; fail "the resumed array never started the broken image"; }
sleep 12
scancel "${job2}_$bi"
wait_job "$job2"
f=$out/manifests/shard-$bi-of-3.json
[ "$(jq -r .winseal_shard.state "$f")" = interrupted ] \
  || { cat "$tmp/task-${job2}_$bi.log"; fail "the cancelled shard's manifest says $(jq -r .winseal_shard.state "$f")"; }
[ "$(st broken status "$f")" = interrupted ] || fail "the cancelled image is not 'interrupted'"
[ ! -e "$out/broken.vhdx" ] || fail "scancel left an output file"
left=$(ls -A "$out" | grep -v -e '^manifest.json$' -e '^manifests$' -e '^server.qcow2$' -e '^desktop.vmdk$' || true)
[ -z "$left" ] || fail "scancel left files in the output directory: $left"
for i in 0 1 2; do
  [ "$i" = "$bi" ] && continue
  grep -q "1 skipped (already done)" "$tmp/task-${job2}_$i.log" \
    || { cat "$tmp/task-${job2}_$i.log"; fail "task $i of the resumed array did not skip its done image"; }
done
[ "$(sha256sum < "$out/server.qcow2")" = "$sum_server" ] || fail "--resume rewrote server.qcow2"

# 3. That index alone, with the count given: it finishes the rest.
job3=$(WINSEAL_SHARDS=3 submit --array="$bi" "$sbatch_script" "$tmp/cat.json" "$out" --resume)
wait_job "$job3"
grep -q "shard $bi of 3" "$tmp/task-${job3}_$bi.log" || { cat "$tmp/task-${job3}_$bi.log"; fail "--array=$bi with WINSEAL_SHARDS=3 did not run shard $bi of 3"; }
[ "$(st broken status)" = succeeded ] || { cat "$tmp/task-${job3}_$bi.log"; fail "the re-run index did not finish the broken image"; }
[ "$(st server status)" = succeeded ] && [ "$(st desktop status)" = succeeded ] || fail "the merge lost a good image"
[ "$(jq '.builds[] | select(.name == "server") | .build_time' "$m")" = "$t_server" ] \
  || fail "the server entry changed, though it was never redone"
qemu-img check -q "$out/broken.vhdx" || fail "qemu-img check fails on broken.vhdx"
# winseal verify on every output: the two from one golden image in one
# launch, the other beside it.
[ "$(st broken old_sid)" = "$(st server old_sid)" ] || fail "server and broken have different old SIDs"
winseal verify --old-sid "$(st desktop old_sid)" "$out/desktop.vmdk" > "$tmp/v-desktop" 2>&1 &
v=$!
winseal verify --old-sid "$(st server old_sid)" "$out/server.qcow2" "$out/broken.vhdx" > "$tmp/v-server" 2>&1 \
  || { cat "$tmp/v-server"; fail "winseal verify fails on server.qcow2 or broken.vhdx"; }
[ "$(grep -c ': 0 checks failed$' "$tmp/v-server")" = 2 ] || { cat "$tmp/v-server"; fail "verify did not check both images"; }
wait $v || { cat "$tmp/v-desktop"; fail "winseal verify fails on desktop.vmdk"; }
# --merge by hand: the same manifest again (harmless twice).
before=$(sha256sum < "$m")
winseal batch --merge "$out" 2> "$tmp/merge.err" || { cat "$tmp/merge.err"; fail "--merge exits non-zero"; }
[ "$(sha256sum < "$m")" = "$before" ] || fail "a second merge wrote a different manifest"
echo "slurm: 3-task array in ${t_array}s, 2 of 3 succeeded; --resume redid 1, scancel clean, index $bi re-run finished it"
