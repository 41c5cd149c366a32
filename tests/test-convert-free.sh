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
requires command -v ntfsundelete
requires command -v fsntfsinfo

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

# Deleted files' MFT records: a small file (its data resident in its
# record) removed by ntfs-3g, and stale bytes put past the used size of a
# kept file's record.  Oracles: ntfsundelete finds the removed file before
# and nothing after, a byte search finds neither its data, nor its name,
# nor the stale bytes; ntfs-3g mounts the output read-write, ntfscat reads
# the kept file, ntfsfix -n and fsntfsinfo read it.
truncate -s 64M "$tmp/mft.img"
mkntfs -F -Q -q "$tmp/mft.img" > /dev/null 2>&1 || fail "mkntfs failed"
echo GONE-RESIDENT-DATA > "$tmp/gone.txt"
echo kept > "$tmp/kept.txt"
ntfscp -q "$tmp/mft.img" "$tmp/gone.txt" gone-file.txt && ntfscp -q "$tmp/mft.img" "$tmp/kept.txt" kept.txt \
  || fail "ntfscp failed"
mkdir "$tmp/mnt"
if ntfs-3g "$tmp/mft.img" "$tmp/mnt" 2> /dev/null; then   # FUSE; else the appliance
  rm "$tmp/mnt/gone-file.txt" && umount "$tmp/mnt" || fail "rm through ntfs-3g failed"
else
  guestfish --format=raw -a "$tmp/mft.img" run : mount /dev/sda / : rm /gone-file.txt \
    || fail "rm through guestfish failed"
fi
# The kept file's record: stale bytes after its used size.
perl -e 'open F, "+<:raw", $ARGV[0] or die; read F, $b, 512; my $spc = ord substr $b, 13, 1;
  my $bps = unpack "v", substr $b, 11, 2; my $mft = unpack ("Q<", substr $b, 48, 8) * $spc * $bps;
  for my $n (16 .. 200) { seek F, $mft + $n * 1024, 0; read F, my $r, 1024;
    next unless substr ($r, 0, 4) eq "FILE" && index ($r, "k\0e\0p\0t\0.\0t\0x\0t\0") > 0;
    my $used = unpack "V", substr $r, 0x18, 4; die "no room" if $used + 40 > 1022;
    seek F, $mft + $n * 1024 + $used + 16, 0; print F "STALE-SLACK-BYTES"; exit 0 }
  die "kept.txt has no record"' "$tmp/mft.img" || fail "cannot plant stale bytes"
gone () { LC_ALL=C grep -aPo 'GONE-RESIDENT|g\x00o\x00n\x00e\x00-\x00f\x00i\x00l\x00e|STALE-SLACK' "$1" | wc -l; }
[ "$(gone "$tmp/mft.img")" -ge 3 ] || fail "the removed file is not in the volume to begin with"
{ ntfsundelete -s "$tmp/mft.img" 2>&1 || true; } | grep -q 'gone-file.txt' || fail "ntfsundelete does not find the removed file"
ntfsfix -n "$tmp/mft.img" > /dev/null 2>&1 || fail "ntfsfix -n fails on the input"
winseal convert --json --discard-free-space "$tmp/mft.img" "$tmp/mft.raw" > "$tmp/mft.json" \
  || fail "convert --discard-free-space failed"
[ "$(gone "$tmp/mft.raw")" = 0 ] || fail "the removed file's record or the stale bytes were copied"
[ "$(jq .mft_records_cleared "$tmp/mft.json")" -ge 1 ] || fail "mft_records_cleared: $(jq .mft_records_cleared "$tmp/mft.json")"
[ "$(jq .mft_records_trimmed "$tmp/mft.json")" -ge 1 ] || fail "mft_records_trimmed: $(jq .mft_records_trimmed "$tmp/mft.json")"
ntfsundelete -s "$tmp/mft.raw" > "$tmp/und" 2>&1 || true
grep -q 'gone-file.txt' "$tmp/und" && fail "ntfsundelete still finds the removed file"
grep -q 'potentially recoverable content: 0' "$tmp/und" || fail "ntfsundelete finds recoverable files: $(tail -3 "$tmp/und")"
[ "$(ntfscat "$tmp/mft.raw" kept.txt)" = kept ] || fail "kept.txt does not read back"
ntfsfix -n "$tmp/mft.raw" > "$tmp/fix" 2>&1 || { cat "$tmp/fix"; fail "ntfsfix -n fails on the output"; }
fsntfsinfo "$tmp/mft.raw" > /dev/null 2>&1 || fail "libfsntfs cannot read the output"
if ntfs-3g "$tmp/mft.raw" "$tmp/mnt" 2> /dev/null; then
  echo new > "$tmp/mnt/new.txt" && [ "$(cat "$tmp/mnt/kept.txt")" = kept ] && umount "$tmp/mnt" \
    || fail "the output does not take a write through ntfs-3g"
  ntfsfix -n "$tmp/mft.raw" > /dev/null 2>&1 || fail "ntfsfix -n fails after a write"
fi
winseal convert --json "$tmp/mft.img" "$tmp/mft-all.raw" > /dev/null
[ "$(gone "$tmp/mft-all.raw")" -ge 3 ] || fail "without --discard-free-space the records should be copied as they are"
# $MFT's own bitmap unreadable (its attribute's type changed): the free
# clusters still go, the records are copied as they are, one warning.
cp "$tmp/mft.img" "$tmp/nobm.img"
perl -e 'open F, "+<:raw", $ARGV[0] or die; read F, $b, 512; my $spc = ord substr $b, 13, 1;
  my $bps = unpack "v", substr $b, 11, 2; my $mft = unpack ("Q<", substr $b, 48, 8) * $spc * $bps;
  seek F, $mft, 0; read F, my $r, 1024; my $a = unpack "v", substr $r, 0x14, 2;
  while ($a + 8 < 1024) { my ($t, $l) = unpack "VV", substr $r, $a, 8; last if $t == 0xFFFFFFFF;
    if ($t == 0xB0) { seek F, $mft + $a, 0; print F pack "V", 0xB8; exit 0 } $a += $l }
  die "no \$BITMAP"' "$tmp/nobm.img" || fail "cannot damage \$MFT's bitmap"
winseal convert --json --discard-free-space "$tmp/nobm.img" "$tmp/nobm.raw" > "$tmp/nobm.json" 2> "$tmp/nobm.err" \
  || fail "an unreadable \$MFT bitmap made convert fail"
grep -q 'freed MFT records cannot be cleared (\$MFT has no bitmap of the records in use); they are copied as they are' "$tmp/nobm.err" \
  || fail "no warning for the unreadable \$MFT bitmap: $(cat "$tmp/nobm.err")"
[ "$(jq .mft_records_cleared "$tmp/nobm.json")" = 0 ] || fail "records were cleared without \$MFT's bitmap"
[ "$(jq .free_bytes_not_copied "$tmp/nobm.json")" -gt $((50 << 20)) ] || fail "the free clusters were copied"
[ "$(gone "$tmp/nobm.raw")" -ge 3 ] || fail "the records were not copied as they are"
echo "MFT: $(jq .mft_records_cleared "$tmp/mft.json") freed records emptied, $(jq .mft_records_trimmed "$tmp/mft.json") trimmed; ntfsundelete finds nothing"

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
