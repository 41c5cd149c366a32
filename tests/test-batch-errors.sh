#!/bin/bash
# winseal batch: every failure is recorded with its real reason, per
# image, whichever library it comes from, and the stderr line names the
# image, with several workers (-j 2): an output directory that fills up
# while an output is written (formats/, in the worker's output thread),
# and an image the formats library refuses (a VHD whose footer checksum
# is wrong, in the worker's main thread).  Nothing is left at the
# outputs and the source is untouched.
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v qemu-img
[ "$(id -u)" = 0 ] || skip "mounting a small file system needs root"

# "big": ws2012r2 grown to 2 GiB with 1.25 GiB of non-zero data after its
# partition (Windows never sees it; winseal copies it like any data).
src=$(image ws2012r2)
big=$tmp/src/big.img
mkdir -p "$tmp/src"
cp --sparse=always "$src" "$big"
size=$(stat -c %s "$src")
truncate -s 2G "$big"
tr '\0' 'Z' < /dev/zero | dd of="$big" bs=1M seek=$((size / 1048576)) count=1280 \
  conv=notrunc iflag=fullblock status=none
[ "$(stat -c %s "$big")" = 2147483648 ] || fail "the grown image is not 2 GiB"

# "broken": a dynamic VHD whose footer's checksum is wrong.
qemu-img create -q -f vpc -o subformat=dynamic "$tmp/src/broken.vhd" 64M
bsize=$(stat -c %s "$tmp/src/broken.vhd")
printf '\377\377\377\377' | dd of="$tmp/src/broken.vhd" bs=1 seek=$((bsize - 512 + 64)) \
  conv=notrunc status=none

# DIR: a file system with room for the overlays (winseal asks for 1 GiB
# for each before it starts) but not for big's 1.3 GB output.
out=$tmp/out
mkdir -p "$out"
mount -t tmpfs -o size=1100m tmpfs "$out" || skip "cannot mount a tmpfs"
trap 'umount -l "$out" 2>/dev/null || true; cleanup' EXIT
cat > "$tmp/cat.json" <<EOF
{ "defaults": { "format": "vhd-dynamic" },
  "images": [
    { "name": "big", "source": "src/big.img" },
    { "name": "broken", "source": "src/broken.vhd" } ] }
EOF
set +e
winseal batch "$tmp/cat.json" -o "$out" -j 2 --per-launch 1 --no-progress \
  > "$tmp/run.out" 2> "$tmp/run.err"
rc=$?
set -e
[ $rc = 6 ] || { cat "$tmp/run.err"; fail "batch exits $rc, not 6 (some failed)"; }
m=$out/manifest.json
err () { jq -r --arg n "$1" '.builds[] | select(.name == $n) | .custom_data.error' "$m"; }
st () { jq -r --arg n "$1" '.builds[] | select(.name == $n) | .custom_data.status' "$m"; }
[ "$(st big)" = failed ] && [ "$(st broken)" = failed ] || fail "statuses: big $(st big), broken $(st broken)"
# The reasons, not "failed".
grep -q "No space left on device" <<<"$(err big)" \
  || { cat "$tmp/run.err"; fail "big: the manifest says '$(err big)', not that $out is full"; }
grep -q "big.vhd" <<<"$(err big)" || fail "big: the reason names no output: $(err big)"
grep -q "invalid VHD" <<<"$(err broken)" \
  || { cat "$tmp/run.err"; fail "broken: the manifest says '$(err broken)', not the format's reason"; }
# On stderr, each reason on a line that names its image.
grep -q "^winseal: big: .*No space left on device" "$tmp/run.err" \
  || { cat "$tmp/run.err"; fail "no stderr line names big with its reason"; }
grep -q "^winseal: broken: .*invalid VHD" "$tmp/run.err" \
  || { cat "$tmp/run.err"; fail "no stderr line names broken with its reason"; }
# Nothing at the outputs, no temporary files, the work directory gone.
left=$(ls -A "$out" | grep -vx manifest.json || true)
[ -z "$left" ] || fail "left in the output directory: $left"
# The source is untouched (its Windows part compared with the fixture).
cmp -s <(dd if="$big" bs=1M count=$((size / 1048576)) status=none) "$src" \
  || fail "big's source changed"
echo "batch -j 2: big failed with '$(err big)'; broken with '$(err broken)'"
