#!/bin/bash
# bench/batch.sh: catalogs.  Times, in one run, 8 fixture images (the four
# fixtures, twice each) processed
#   (a) by 8 sequential `winseal generalize` runs,
#   (b) by one `winseal batch -j 2` (several images per appliance launch),
#   (c) and 8 clones of one golden image (`winseal clone -n 8`),
# and prints the times and the ratios b/a and c/a (targets: at most 0.4
# and 0.3); then (d) the batch bookkeeping alone, without an appliance:
# catalogs of 1,000, 2,000 and 10,000 images checked and refused whole
# (one bad key at the end), and run with every source failing its
# pre-appliance check (the manifest gets every entry), with the time per
# image, which stays flat when the bookkeeping is linear; and (e) the
# same 8-image catalog as a 2-task Slurm array (a one-node Slurm started
# here, tests/slurm-env.sh; each task --shard auto on one CPU) against (b)
# in the same run: the engine's overhead e/b - 1 (target under 10 %), and
# from it the projected time of 1,000 images on 50 two-core nodes.
#
# usage: bench/batch.sh [WORKDIR]      (default /var/tmp/winseal-bench)
#        BENCH_ONLY=bookkeeping bench/batch.sh   (only (d); no fixtures needed)
#        BENCH_ONLY=slurm bench/batch.sh         (only (b) and (e); root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
work=${1:-/var/tmp/winseal-bench}/batch
imgs=$here/tests/images
[ -x "$winseal" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
now () { date +%s.%N; }

# (d) bookkeeping: N-image catalogs, refused whole and all failing.
bookkeeping () {
  local d=$work/d n
  rm -rf "$d"
  mkdir -p "$d"
  printf 'not a disk image\n' > "$d/src.txt"
  printf '%-8s %14s %10s %14s %10s\n' images "refused (s)" "ms/image" "all fail (s)" "ms/image"
  for n in 1000 2000 10000; do
    awk -v n="$n" -v bad=1 'BEGIN { printf "{ \"images\": [\n";
      for (i = 0; i < n; i++) printf "%s  { \"name\": \"img%05d\", \"source\": \"src.txt\"%s }",
        (i ? ",\n" : ""), i, (bad && i == n - 1 ? ", \"colour\": 1" : "");
      printf "\n] }\n" }' > "$d/bad$n.json"
    awk -v n="$n" 'BEGIN { printf "{ \"images\": [\n";
      for (i = 0; i < n; i++) printf "%s  { \"name\": \"img%05d\", \"source\": \"src.txt\" }",
        (i ? ",\n" : ""), i; printf "\n] }\n" }' > "$d/fail$n.json"
    local t0 t1 t2
    t0=$(now)
    "$winseal" batch "$d/bad$n.json" -o "$d/out-bad$n" --no-progress > /dev/null 2>&1 || true
    t1=$(now)
    "$winseal" batch "$d/fail$n.json" -o "$d/out-fail$n" -j 2 --no-progress > /dev/null 2>&1 || true
    t2=$(now)
    local nf
    nf=$(jq '[.builds[] | select(.custom_data.status == "failed")] | length' "$d/out-fail$n/manifest.json")
    [ "$nf" = "$n" ] || { echo "bookkeeping: $nf of $n images failed, not all" >&2; exit 1; }
    awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
      printf "%-8d %14.2f %10.3f %14.2f %10.3f\n", n, b - a, (b - a) * 1000 / n, c - b, (c - b) * 1000 / n }'
  done
  rm -rf "$d"
}
if [ "${BENCH_ONLY:-}" = bookkeeping ]; then
  rm -rf "$work"; mkdir -p "$work"
  bookkeeping
  exit 0
fi
names=(ws2022 win10 ws2012r2)
[ -f "$imgs/realhives.img" ] && names+=(realhives) || names+=(ws2022)
for n in "${names[@]}"; do
  [ -f "$imgs/$n.img" ] || { echo "no $imgs/$n.img (make check builds the fixtures)" >&2; exit 1; }
done
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
rm -rf "$work"
mkdir -p "$work"
list=()
for round in 1 2; do
  for n in "${names[@]}"; do list+=("$n:$n-$round"); done
done

only=${BENCH_ONLY:-}
# (a) sequential generalize runs.
ta=0
if [ -z "$only" ]; then
  mkdir -p "$work/a"
  t0=$(now)
  for e in "${list[@]}"; do
    "$winseal" generalize --no-progress "$imgs/${e%%:*}.img" -o "$work/a/${e#*:}.vhd" > /dev/null 2>&1
  done
  ta=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
  rm -rf "$work/a"
fi

# (b) one batch, two workers.
{
  printf '{ "images": [\n'
  sep=
  for e in "${list[@]}"; do
    printf '%s  { "name": "%s", "source": "%s/%s.img" }' "$sep" "${e#*:}" "$imgs" "${e%%:*}"
    sep=$',\n'
  done
  printf '\n] }\n'
} > "$work/catalog.json"
t0=$(now)
"$winseal" batch "$work/catalog.json" -o "$work/b" -j 2 --no-progress > /dev/null 2>&1
tb=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
okb=$(jq '[.builds[] | select(.custom_data.status == "succeeded")] | length' "$work/b/manifest.json")
rm -rf "$work/b"

# (e) the same catalog as a 2-task Slurm array, one CPU a task, -j 1
# each: the same work as (b), two workers, four images a launch.
. "$here/tests/slurm-env.sh"
trap slurm_stop EXIT
slurm_start "$work/slurm"
t0=$(now)
job=$(WINSEAL=$winseal slurm_submit --array=0-1 --cpus-per-task=1 --mem=0 -o "$work/task-%a.log" \
  "$here/contrib/slurm/winseal-batch.sbatch" "$work/catalog.json" "$work/e")
slurm_wait "$job" 3600
te=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
slurm_stop
oke=$(jq '[.builds[] | select(.custom_data.status == "succeeded")] | length' "$work/e/manifest.json")
shard_times=$(jq -r '[.winseal_shards.shards[] | "\(.seconds | floor) s"] | join(", ")' "$work/e/manifest.json")
rm -rf "$work/e"
# 1,000 images on 50 two-core nodes: 20 images a node, each node as fast
# as this one (te for 8 images), all nodes at once.
proj=$(awk -v e="$te" 'BEGIN { printf "%.0f", e / 8 * 1000 / 50 }')
if [ "$only" = slurm ]; then
  printf '8 images (%s, twice), fixed VHD outputs, %d cores, TCG appliance\n' "${names[*]}" "$(nproc)"
  printf '(b) winseal batch -j 2          %7.1f s   %s/8 succeeded\n' "$tb" "$okb"
  printf '(e) Slurm array 0-1, --shard auto %5.1f s   e/b %.3f (overhead target < 10%%)   %s/8 succeeded; shards %s\n' \
    "$te" "$(awk -v e="$te" -v b="$tb" 'BEGIN { print e / b }')" "$oke" "$shard_times"
  printf '    projected: 1,000 images on 50 two-core nodes: %s s (%.1f min), %.2f s per image on one node\n' \
    "$proj" "$(awk -v p="$proj" 'BEGIN { print p / 60 }')" "$(awk -v e="$te" 'BEGIN { print e / 8 }')"
  exit 0
fi

# (c) eight clones of one golden image.
mkdir -p "$work/c"
t0=$(now)
"$winseal" clone "$imgs/ws2022.img" -n 8 -o "$work/c/web-%02d.vhd" --computer-name 'WEB-%02d' \
  --no-progress > /dev/null 2>&1
tc=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
okc=$(ls "$work/c" | wc -l)
rm -rf "$work/c"

printf '8 images (%s, twice), fixed VHD outputs, %d cores, TCG appliance\n' "${names[*]}" "$(nproc)"
printf '(a) 8 x winseal generalize      %7.1f s\n' "$ta"
printf '(b) winseal batch -j 2          %7.1f s   b/a %.2f (target <= 0.40)   %s/8 succeeded\n' \
  "$tb" "$(awk -v b="$tb" -v a="$ta" 'BEGIN { print b / a }')" "$okb"
printf '(c) winseal clone -n 8 (ws2022) %7.1f s   c/a %.2f (target <= 0.30)   %s/8 written\n' \
  "$tc" "$(awk -v c="$tc" -v a="$ta" 'BEGIN { print c / a }')" "$okc"
printf '(e) Slurm array 0-1, --shard auto %5.1f s   e/b %.3f (overhead target < 10%%)   %s/8 succeeded; shards %s\n' \
  "$te" "$(awk -v e="$te" -v b="$tb" 'BEGIN { print e / b }')" "$oke" "$shard_times"
printf '    projected: 1,000 images on 50 two-core nodes: %s s (%.1f min)\n' "$proj" "$(awk -v p="$proj" 'BEGIN { print p / 60 }')"
printf '(d) batch bookkeeping, no appliance (catalog check; every source failing before the appliance):\n'
bookkeeping
