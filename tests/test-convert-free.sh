#!/bin/bash
# Free NTFS clusters are not copied (convert --discard-free-space, as
# generalize does by default): volumes made by mkntfs, a 20 MiB file
# written by ntfscp and then overwritten by a small one (its clusters
# freed, its data still there); on a bare volume, an MBR disk and a GPT
# disk.  Oracles: a byte search of the output finds none of the freed
# data (and finds it without the option), ntfs-3g's ntfscat reads the
# kept file back byte for byte, ntfsfix -n and libfsntfs's fsntfsinfo read
# the volume, qemu-img compare agrees with the raw output; a volume whose
# $Bitmap record is damaged is copied whole with one warning.
. "$top_srcdir/tests/functions.sh"
requires command -v mkntfs
requires command -v ntfscp
requires command -v ntfscat
requires command -v sfdisk
requires command -v jq

perl -e 'print "DELETED-SECRET-" x (20 * 1024 * 1024 / 15)' > "$tmp/big.bin"
echo small > "$tmp/small.txt"
head -c 3M /dev/urandom > "$tmp/keep.bin"
ksum=$(sha256sum < "$tmp/keep.bin")

mkvol () {   # mkvol FILE: a 64 MiB NTFS volume, keep.bin kept, big.bin freed
  truncate -s 64M "$1"
  mkntfs -F -Q -q -L T "$1" > /dev/null 2>&1 || fail "mkntfs failed"
  ntfscp -q "$1" "$tmp/big.bin" big.bin && ntfscp -q "$1" "$tmp/keep.bin" keep.bin \
    && ntfscp -q -f "$1" "$tmp/small.txt" big.bin || fail "ntfscp failed"
  [ "$(ntfscat "$1" big.bin)" = small ] || fail "big.bin was not overwritten"
}
secrets () { LC_ALL=C grep -ao 'DELETED-SECRET' "$1" | wc -l; }

# A bare volume.
mkvol "$tmp/vol.img"
[ "$(secrets "$tmp/vol.img")" -gt 1000 ] || fail "the freed data is not in the volume to begin with"
winseal convert --json "$tmp/vol.img" "$tmp/all.raw" > /dev/null
[ "$(secrets "$tmp/all.raw")" -gt 1000 ] || fail "without --discard-free-space the freed data should be copied"
winseal convert --json --discard-free-space "$tmp/vol.img" "$tmp/vol.raw" > "$tmp/vol.json" \
  || fail "convert --discard-free-space failed"
[ "$(secrets "$tmp/vol.raw")" = 0 ] || fail "the freed data was copied ($(secrets "$tmp/vol.raw") times)"
[ "$(jq .ntfs_volumes_mapped "$tmp/vol.json")" = 1 ] || fail "ntfs_volumes_mapped: $(jq .ntfs_volumes_mapped "$tmp/vol.json")"
free=$(jq .free_bytes_not_copied "$tmp/vol.json")
[ "$free" -gt $((50 << 20)) ] || fail "free_bytes_not_copied is only $free"
[ "$(ntfscat "$tmp/vol.raw" keep.bin | sha256sum)" = "$ksum" ] || fail "keep.bin does not read back"
ntfsfix -n "$tmp/vol.raw" > "$tmp/fix" 2>&1 || { cat "$tmp/fix"; fail "ntfsfix -n fails on the output"; }
if command -v fsntfsinfo > /dev/null; then
  fsntfsinfo "$tmp/vol.raw" > /dev/null 2>&1 || fail "libfsntfs cannot read the output"
fi
used=$(du -k "$tmp/vol.raw" | cut -f1)
[ "$used" -lt 8192 ] || fail "the raw output allocates $used KiB (the volume uses about 4 MiB)"
echo "bare volume: $free free bytes not copied, $used KiB allocated, keep.bin intact"

# The same volume at 1 MiB of an MBR disk and of a GPT disk, as a VHD.
for label in dos gpt; do
  d=$tmp/disk-$label.img
  truncate -s 80M "$d"
  printf 'label: %s\nstart=2048, size=131072, type=%s\n' "$label" \
    "$([ $label = dos ] && echo 7 || echo EBD0A0A2-B9E5-4433-87C0-68B6B72699C7)" | sfdisk -q "$d"
  dd if="$tmp/vol.img" of="$d" bs=1M seek=1 conv=notrunc,sparse status=none
  winseal convert --json --discard-free-space "$d" "$tmp/disk-$label.vhd" > "$tmp/d.json" \
    || fail "$label: convert failed"
  [ "$(jq .ntfs_volumes_mapped "$tmp/d.json")" = 1 ] || fail "$label: the partition's volume was not mapped"
  [ "$(secrets "$tmp/disk-$label.vhd")" = 0 ] || fail "$label: the freed data was copied"
  qemu-img convert -f vpc -O raw "$tmp/disk-$label.vhd" "$tmp/back.raw"
  dd if="$tmp/back.raw" of="$tmp/part.raw" bs=1M skip=1 count=64 status=none
  [ "$(ntfscat "$tmp/part.raw" keep.bin | sha256sum)" = "$ksum" ] || fail "$label: keep.bin does not read back"
  cmp -s <(head -c 1M "$d") <(head -c 1M "$tmp/back.raw") || fail "$label: the partition table changed"
  echo "$label disk: free clusters not copied, the table and keep.bin intact"
done

# A damaged $Bitmap record (MFT record 6's signature): copied whole, one warning.
cp "$tmp/vol.img" "$tmp/bad.img"
mft=$(perl -e 'open F, "<:raw", $ARGV[0]; read F, $b, 512; my $spc = ord substr $b, 13, 1;
  my $bps = unpack "v", substr $b, 11, 2; print unpack ("Q<", substr $b, 48, 8) * $spc * $bps' "$tmp/bad.img")
printf 'XXXX' | dd of="$tmp/bad.img" bs=1 seek=$((mft + 6 * 1024)) conv=notrunc status=none
winseal convert --json --discard-free-space "$tmp/bad.img" "$tmp/bad.raw" > "$tmp/bad.json" 2> "$tmp/bad.err" \
  || fail "a damaged \$Bitmap record made convert fail"
grep -q 'free clusters cannot be told (MFT record 6 (\$Bitmap) is not a sound record in use); the disk is copied whole' "$tmp/bad.err" \
  || fail "no warning for the damaged \$Bitmap: $(cat "$tmp/bad.err")"
cmp -s "$tmp/bad.img" "$tmp/bad.raw" || fail "the damaged volume was not copied whole"
echo "damaged \$Bitmap: copied whole, with a warning"
