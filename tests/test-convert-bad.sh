#!/bin/bash
# Malformed inputs get one clear line naming the file, a non-zero exit, and
# leave nothing in the output directory: truncated files, bad checksums,
# table entries past the end of the file, absurd sizes, backing chains that
# loop or are too deep, compressed grains that do not inflate,
# unknown qcow2 features (named by bit), differencing VHDs without their
# parent, VHDX with a
# pending log or a parent, and containers
# winseal does not read (by magic).
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img

outdir="$tmp/out"
mkdir "$outdir"
src="$tmp/src.raw"
truncate -s 32M "$src"
head -c 4M /dev/urandom | dd of="$src" bs=1M seek=2 conv=notrunc status=none
compressible 4M | dd of="$src" bs=1M seek=20 conv=notrunc status=none

expect_bad () {   # expect_bad PATTERN FILE [OPTIONS]
  local pattern=$1 file=$2 status=0; shift 2
  winseal convert --format raw "$@" "$file" "$outdir/out.raw" > "$tmp/o" 2> "$tmp/err" || status=$?
  [ $status -ne 0 ] || fail "$(basename "$file"): accepted"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$(basename "$file"): not one line: $(cat "$tmp/err")"
  grep -q "^winseal: .*$(basename "$file")" "$tmp/err" || fail "$(basename "$file"): message does not name the file: $(cat "$tmp/err")"
  grep -Eq "$pattern" "$tmp/err" || fail "$(basename "$file"): '$(cat "$tmp/err")' lacks /$pattern/"
  [ -z "$(ls -A "$outdir")" ] || fail "$(basename "$file"): left $(ls -A "$outdir")"
  echo "ok: $(cat "$tmp/err")"
}

# Patch bytes (hex string) into a file at an offset.
patch () { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# VHD: a fixed VHD with a corrupted footer checksum; a dynamic VHD cut
# short (block table entries past the end); a differencing VHD.
winseal convert "$src" "$tmp/fixed.vhd"
size=$(stat -c %s "$tmp/fixed.vhd")
patch "$tmp/fixed.vhd" $((size - 512 + 64)) 00000000
expect_bad 'checksum' "$tmp/fixed.vhd"
winseal convert --format vhd-dynamic "$src" "$tmp/dyn.vhd"
head -c $(( $(stat -c %s "$tmp/dyn.vhd") / 2 )) "$tmp/dyn.vhd" > "$tmp/dyn-cut.vhd"
expect_bad 'beyond the end' "$tmp/dyn-cut.vhd"
# Differencing: disk type 4, checksum recomputed: a child that names no
# parent; one whose parent is missing; one whose parent is another disk
# (its unique ID is not the one the child records).
cp "$tmp/dyn.vhd" "$tmp/diff.vhd"
f=$(( $(stat -c %s "$tmp/diff.vhd") - 512 ))
patch "$tmp/diff.vhd" $((f + 60)) 00000004
patch "$tmp/diff.vhd" $((f + 64)) 00000000
sum=$(tail -c 512 "$tmp/diff.vhd" | od -An -v -tu1 | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s }')
patch "$tmp/diff.vhd" $((f + 64)) "$(printf '%08x' $(( (~sum) & 0xffffffff )))"
expect_bad 'diff.vhd: invalid VHD: a differencing VHD that names no parent' "$tmp/diff.vhd"
qemu-img convert -f vpc -O raw "$tmp/dyn.vhd" "$tmp/dyn.raw"
perl "$top_srcdir/tests/vhd-diff.pl" --name gone.vhd "$tmp/dyn.vhd" "$tmp/dyn.raw" "$tmp/orphan.vhd" "$tmp/orphan.ref"
expect_bad 'orphan.vhd: a differencing VHD whose parent "gone.vhd" is missing' "$tmp/orphan.vhd"
perl "$top_srcdir/tests/vhd-diff.pl" --wrong-uuid "$tmp/dyn.vhd" "$tmp/dyn.raw" "$tmp/stranger.vhd" "$tmp/stranger.ref"
expect_bad 'stranger.vhd: its parent "dyn.vhd" is not the disk it was made from' "$tmp/stranger.vhd"

# Containers winseal does not read: refused by their magic number, named,
# never converted as raw (made by qemu-img where it writes them, else by
# their magic as qemu's probes look for it), for convert and generalize.
for f in qed parallels qcow; do
  qemu-img create -q -f $f "$tmp/foreign.$f" 64M
done
mk () { { printf "$2"; head -c 1M /dev/zero; } > "$tmp/foreign.$1"; }
mk bochs 'Bochs Virtual HD Image\0'
mk cloop '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n'
mk cowd 'COWD\1\0\0\0'
mk luks 'LUKS\272\276\0\1'
{ head -c 1M /dev/zero; printf 'koly\0\0\0\4'; head -c 504 /dev/zero; } > "$tmp/foreign.dmg"
for f in qed:QED parallels:Parallels qcow:'qcow .version 1' \
         bochs:Bochs cloop:cloop cowd:'VMware ESX COW' luks:LUKS dmg:'Apple disk image'; do
  ext=${f%%:*} name=${f#*:}
  expect_bad "foreign.$ext: an? $name.*winseal does not read it" "$tmp/foreign.$ext"
done
status=0
winseal generalize "$tmp/foreign.qed" -o "$outdir/x.vhd" > /dev/null 2> "$tmp/err" || status=$?
[ $status = 2 ] && grep -q "foreign.qed: a QED image" "$tmp/err" && ! grep -q appliance "$tmp/err" \
  || fail "generalize of a QED image: exit $status, $(cat "$tmp/err")"
[ -z "$(ls -A "$outdir")" ] || fail "generalize of a QED image left $(ls -A "$outdir")"
# VHDX that cannot be read correctly: a log with writes not yet applied
# (never read stale data), a differencing VHDX (tests/vhdx-patch.pl).
qemu-img convert -O vhdx "$src" "$tmp/dirty.vhdx"
cp "$tmp/dirty.vhdx" "$tmp/child.vhdx"
perl "$top_srcdir/tests/vhdx-patch.pl" "$tmp/dirty.vhdx" log
perl "$top_srcdir/tests/vhdx-patch.pl" "$tmp/child.vhdx" parent
expect_bad 'dirty.vhdx: a VHDX whose log holds writes never applied' "$tmp/dirty.vhdx"
expect_bad 'child.vhdx: invalid VHDX: a differencing VHDX \(HasParent\) without a parent locator' "$tmp/child.vhdx"
# Differencing VHDX that cannot be read as its maker meant
# (tests/vhdx-diff.pl): the parent missing, another disk than the one the
# child was made from (parent_linkage is not its DataWriteGuid), a
# partially present block without a sector bitmap, a child naming itself,
# a parent outside the child's folder without --allow-dir.
qemu-img create -q -f vhdx "$tmp/xp.vhdx" 16M
qemu-img convert -f vhdx -O raw "$tmp/xp.vhdx" "$tmp/xp.raw"
dx=$top_srcdir/tests/vhdx-diff.pl
perl "$dx" --rel '.\gone.vhdx' --abs 'C:\VMs\gone.vhdx' "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xorphan.vhdx" "$tmp/x.ref"
expect_bad 'xorphan.vhdx: a differencing VHDX whose parent "gone.vhdx" is missing' "$tmp/xorphan.vhdx"
perl "$dx" --rel 'xp.vhdx' --linkage '{01234567-89ab-cdef-0123-456789abcdef}' "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xstranger.vhdx" "$tmp/x.ref"
expect_bad 'xstranger.vhdx: its parent "xp.vhdx" is not the disk it was made from' "$tmp/xstranger.vhdx"
perl "$dx" --rel 'xp.vhdx' --no-bitmap "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xnobm.vhdx" "$tmp/x.ref"
expect_bad "xnobm.vhdx: invalid VHDX: a partially present block's chunk has no sector bitmap block" "$tmp/xnobm.vhdx"
perl "$dx" --rel 'xloop.vhdx' --linkage '{aaaaaaaa-bbbb-cccc-dddd-000000000000}' "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xloop.vhdx" "$tmp/x.ref"
expect_bad 'backing chain loops back to .*xloop.vhdx' "$tmp/xloop.vhdx"
mkdir -p "$tmp/kids"
perl "$dx" --rel '..\xp.vhdx' "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/kids/xfar.vhdx" "$tmp/x.ref"
expect_bad 'xfar.vhdx.*--allow-dir' "$tmp/kids/xfar.vhdx"
# A log of nothing but entry headers claiming the whole log (each fails
# its checksum): refused at once, not checksummed 256 times over.
head -c 2M /dev/urandom > "$tmp/lgd.raw"
truncate -s 8M "$tmp/lgd.raw"
head -c 1M /dev/urandom | dd of="$tmp/lgd.raw" bs=1M seek=5 conv=notrunc status=none
qemu-img convert -O vhdx -o block_size=1M "$tmp/lgd.raw" "$tmp/dos.vhdx"
perl "$top_srcdir/tests/vhdx-log.pl" "$tmp/dos.vhdx"
loff=$(perl -e 'open my $f, "<:raw", $ARGV[0] or die; seek $f, 65536 + 72, 0; read $f, my $b, 8; print unpack "Q<", $b' "$tmp/dos.vhdx")
perl -e 'open my $f, "+<:raw", $ARGV[0] or die; seek $f, $ARGV[1], 0;
  print $f ("loge" . pack ("V V", 0, 1048576) . "\0" x 4084) x 256' "$tmp/dos.vhdx" "$loff"
expect_bad 'dos.vhdx: a VHDX whose log holds more entry headers than' "$tmp/dos.vhdx"
# A header checksum broken in both headers: invalid.
cp "$tmp/child.vhdx" "$tmp/nohead.vhdx"
printf 'XXXX' | dd of="$tmp/nohead.vhdx" bs=1 seek=65540 conv=notrunc status=none
printf 'XXXX' | dd of="$tmp/nohead.vhdx" bs=1 seek=131076 conv=notrunc status=none
expect_bad 'nohead.vhdx: invalid VHDX: neither header is valid' "$tmp/nohead.vhdx"
# VMDK snapshots whose parent is not the disk they were taken of: a
# parent changed since (its CID is not the child's parentCID), a parent
# that is missing, a descriptor with a parentCID but no parent's name and
# one naming a parent with parentCID ffffffff: refused by name, never read
# as if the child stood alone.
qemu-img convert -O vmdk "$src" "$tmp/parent.vmdk"
qemu-img create -q -f vmdk -b parent.vmdk -F vmdk "$tmp/snap-000001.vmdk"
# (qemu writes the CID without leading zeros: the embedded descriptor's
# value is replaced by another of the same length, so nothing moves.)
perl -0777 -pi -e 's/parentCID=([0-9a-f]+)/"parentCID=" . (($1 =~ tr#b## == length $1) ? "c" : "b") x length $1/e' "$tmp/snap-000001.vmdk"
expect_bad 'snap-000001.vmdk: its parent "parent.vmdk" has CID [0-9a-f]{1,8} but the snapshot was taken of CID 0*(b+|c+) ' "$tmp/snap-000001.vmdk"
qemu-img create -q -f vmdk "$tmp/gone.vmdk" 32M
qemu-img create -q -f vmdk -b gone.vmdk -F vmdk "$tmp/orphan-000001.vmdk"
rm "$tmp/gone.vmdk"
expect_bad 'orphan-000001.vmdk.*gone.vmdk' "$tmp/orphan-000001.vmdk"
truncate -s 32M "$tmp/flat.bin"
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=0badcafe\ncreateType="monolithicFlat"\n\nRW 65536 FLAT "flat.bin" 0\n' > "$tmp/kid.vmdk"
expect_bad 'kid.vmdk: invalid VMDK: the descriptor has a parentCID but no parentFileNameHint' "$tmp/kid.vmdk"
sed 's/parentCID=0badcafe/parentCID=ffffffff\nparentFileNameHint="parent.vmdk"/' "$tmp/kid.vmdk" > "$tmp/kid2.vmdk"
expect_bad 'kid2.vmdk: invalid VMDK: the descriptor names a parent but its parentCID' "$tmp/kid2.vmdk"
sed 's/parentCID=0badcafe/parentCID=ffffffff/; s/FLAT "flat.bin" 0/VMFSSPARSE "flat.bin"/' "$tmp/kid.vmdk" > "$tmp/esxsnap.vmdk"
expect_bad 'esxsnap.vmdk: a VMFSSPARSE extent .an ESXi snapshot.' "$tmp/esxsnap.vmdk"
# A differencing VDI names its parent only by UUID: refused by name.
qemu-img convert -O vdi "$src" "$tmp/diff.vdi"
printf '\4' | dd of="$tmp/diff.vdi" bs=1 seek=$((0x4c)) conv=notrunc status=none
expect_bad 'a VirtualBox differencing image .*winseal does not read it' "$tmp/diff.vdi"

# qcow2: truncated (L2 entries past the end), absurd size, a backing loop
# and a chain deeper than 16.
qemu-img convert -O qcow2 "$src" "$tmp/q.qcow2"
head -c 1M "$tmp/q.qcow2" > "$tmp/q-cut.qcow2"
expect_bad 'beyond the end' "$tmp/q-cut.qcow2"
cp "$tmp/q.qcow2" "$tmp/q-huge.qcow2"
patch "$tmp/q-huge.qcow2" 24 1000000000000000
expect_bad 'absurd' "$tmp/q-huge.qcow2"
# Incompatible feature bits winseal does not know are named (bits 5 and
# 9 here), an external data file by what it is, a zstd stream that does
# not decompress as such.
cp "$tmp/q.qcow2" "$tmp/q-feat.qcow2"
patch "$tmp/q-feat.qcow2" 72 0000000000000220
expect_bad 'feature bits 5, 9 unknown' "$tmp/q-feat.qcow2"
qemu-img create -q -f qcow2 -o data_file="$tmp/q-ext.data" "$tmp/q-ext.qcow2" 32M
expect_bad 'external data file' "$tmp/q-ext.qcow2"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$src" "$tmp/q-zstd.qcow2"
# A compressed cluster (guest offset 20 MiB): L1 entry 0, L2 entry
# 320 (64 KiB clusters: the host offset is the entry's low 54 bits).
off=$(perl -e 'open my $f, "<", $ARGV[0] or die; binmode $f; sub rd { my ($o, $n) = @_; seek $f, $o, 0; read $f, my $b, $n; $b }
  my $l1 = unpack "Q>", rd (40, 8); my $l2 = unpack ("Q>", rd ($l1, 8)) & 0x00fffffffffffe00;
  my $e = unpack "Q>", rd ($l2 + 8 * 320, 8); ($e >> 62 & 1) or die "not compressed\n"; print $e & ((1 << 54) - 1)' "$tmp/q-zstd.qcow2")
patch "$tmp/q-zstd.qcow2" "$off" 0011223344556677
expect_bad 'does not decompress \(zstd\)' "$tmp/q-zstd.qcow2"
qemu-img create -q -f qcow2 "$tmp/loop-a.qcow2" 32M
qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 "$tmp/loop-b.qcow2" 32M
qemu-img rebase -q -u -f qcow2 -b loop-b.qcow2 -F qcow2 "$tmp/loop-a.qcow2"
expect_bad 'loops' "$tmp/loop-b.qcow2"
qemu-img create -q -f qcow2 "$tmp/chain0.qcow2" 32M
for i in $(seq 1 18); do
  qemu-img create -q -f qcow2 -b "chain$((i-1)).qcow2" -F qcow2 "$tmp/chain$i.qcow2" 32M
done
expect_bad 'deeper than 16' "$tmp/chain18.qcow2"

# VMDK: a stream cut short (no footer); a compressed grain that does not
# inflate.
winseal convert "$src" "$tmp/s.vmdk"
head -c $(( $(stat -c %s "$tmp/s.vmdk") - 4096 )) "$tmp/s.vmdk" > "$tmp/s-cut.vmdk"
expect_bad 'footer|beyond the end' "$tmp/s-cut.vmdk"
cp "$tmp/s.vmdk" "$tmp/s-bad.vmdk"
# The first grain starts at sector 128: its marker is 12 bytes, then zlib.
patch "$tmp/s-bad.vmdk" $((128 * 512 + 12 + 40)) ffffffffffffffffffffffffffffffff
expect_bad 'does not inflate' "$tmp/s-bad.vmdk"

# Not an image at all, and an empty file.
: > "$tmp/empty.img"
expect_bad 'empty|too small|no ' "$tmp/empty.img" --input-format qcow2
echo ok
