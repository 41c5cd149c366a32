#!/bin/bash
# bench/batch.sh: catalogs.  Times, in one run, 8 fixture images (the four
# fixtures, twice each) processed
#   (a) by 8 sequential `winseal generalize` runs,
#   (b) by one `winseal batch -j 2` (several images per appliance launch),
#   (c) and 8 clones of one golden image (`winseal clone -n 8`),
# and prints the times and the ratios b/a and c/a (targets: at most 0.4
# and 0.3).
#
# usage: bench/batch.sh [WORKDIR]      (default /var/tmp/winseal-bench)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
winseal=${WINSEAL:-$here/winseal}
work=${1:-/var/tmp/winseal-bench}/batch
imgs=$here/tests/images
[ -x "$winseal" ] || { echo "build winseal first (./setup.sh check or make)" >&2; exit 1; }
names=(ws2022 win10 ws2012r2)
[ -f "$imgs/realhives.img" ] && names+=(realhives) || names+=(ws2022)
for n in "${names[@]}"; do
  [ -f "$imgs/$n.img" ] || { echo "no $imgs/$n.img (make check builds the fixtures)" >&2; exit 1; }
done
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
rm -rf "$work"
mkdir -p "$work"
now () { date +%s.%N; }
list=()
for round in 1 2; do
  for n in "${names[@]}"; do list+=("$n:$n-$round"); done
done

# (a) sequential generalize runs.
mkdir -p "$work/a"
t0=$(now)
for e in "${list[@]}"; do
  "$winseal" generalize --no-progress "$imgs/${e%%:*}.img" -o "$work/a/${e#*:}.vhd" > /dev/null 2>&1
done
ta=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
rm -rf "$work/a"

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
