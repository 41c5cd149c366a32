#!/bin/bash
# Images written by qemu-img are read correctly: dynamic and fixed VHD,
# streamOptimized, monolithicSparse and monolithicFlat VMDK, and a
# compressed qcow2 used as the backing file of another qcow2, zstd and
# extended-L2 qcow2, and VDI
# (VirtualBox) static and dynamic, VHDX (Hyper-V) dynamic, fixed and
# differencing, differencing VHD, and VMDK snapshot chains.
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img
requires command -v qemu-io
requires command -v jq

in="$tmp/in.raw"
truncate -s 64M "$in"
head -c 6M /dev/urandom | dd of="$in" bs=1M seek=1 conv=notrunc status=none
compressible 5M | dd of="$in" bs=1M seek=30 conv=notrunc status=none

# cmp that does not read the holes both files have (4 GiB disks below).
scmp () { /usr/bin/python3 "$top_srcdir/tests/sparse-cmp.py" "$@"; }
check () {   # check FILE EXPECTED_RAW
  winseal convert --format raw "$1" "$tmp/back.raw" || fail "$1: convert"
  scmp "$2" "$tmp/back.raw" || fail "$1: content differs"
  echo "$(basename "$1"): ok"
}

qemu-img convert -O vpc "$in" "$tmp/q-dyn.vhd"
qemu-img convert -O vpc -o subformat=fixed "$in" "$tmp/q-fix.vhd"
# qemu's VHDs are sized by CHS geometry: compare with qemu's own reading.
qemu-img convert -f vpc -O raw "$tmp/q-dyn.vhd" "$tmp/q-dyn.ref"
check "$tmp/q-dyn.vhd" "$tmp/q-dyn.ref"
check "$tmp/q-fix.vhd" "$tmp/q-dyn.ref"
for sub in streamOptimized monolithicSparse monolithicFlat; do
  qemu-img convert -O vmdk -o subformat=$sub "$in" "$tmp/q-$sub.vmdk"
  check "$tmp/q-$sub.vmdk" "$in"
done
head -c 20M /dev/urandom > "$tmp/base.raw"
compressible 20M >> "$tmp/base.raw"
qemu-img convert -c -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$tmp/top.qcow2" 64M
qemu-io -c 'write -P 0x55 10M 3M' -c 'write -z 25M 1M' "$tmp/top.qcow2" > /dev/null
qemu-img convert -O raw "$tmp/top.qcow2" "$tmp/top.ref"
check "$tmp/top.qcow2" "$tmp/top.ref"
# A compressed qcow2 that itself has a (compressed) backing file.
qemu-img convert -c -O qcow2 -B base.qcow2 -F qcow2 "$tmp/top.qcow2" "$tmp/top-c.qcow2"
qemu-img info --backing-chain "$tmp/top-c.qcow2" | grep -q 'backing file: base.qcow2' \
  || fail "qemu-img did not make a backed compressed image"
check "$tmp/top-c.qcow2" "$tmp/top.ref"
# zstd-compressed clusters (compression type 1).
qemu-img convert -c -O qcow2 -o compression_type=zstd "$tmp/base.raw" "$tmp/zstd.qcow2"
qemu-img info "$tmp/zstd.qcow2" | grep -q 'compression type: zstd' || fail "qemu-img did not write zstd"
check "$tmp/zstd.qcow2" "$tmp/base.raw"
# Extended L2 entries (32 subclusters a cluster): a base image, and a child
# whose clusters are partly its own subclusters, partly zero subclusters,
# partly the backing file's, written by qemu-io at 4 KiB granularity.
qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=128k "$tmp/base.raw" "$tmp/ext.qcow2"
check "$tmp/ext.qcow2" "$tmp/base.raw"
qemu-img create -q -f qcow2 -b ext.qcow2 -F qcow2 -o extended_l2=on,cluster_size=128k "$tmp/ext-top.qcow2"
qemu-io -c 'write -P 0x55 4k 4k' -c 'write -z 260k 8k' -c 'write -P 0x66 3149824 12k' \
  -c 'write -z 7M 4k' -c 'write -P 0x67 41021440 4k' "$tmp/ext-top.qcow2" > /dev/null
qemu-img info "$tmp/ext-top.qcow2" | grep -q 'extended l2: true' || fail "qemu-img did not write extended L2"
qemu-img convert -O raw "$tmp/ext-top.qcow2" "$tmp/ext-top.ref"
check "$tmp/ext-top.qcow2" "$tmp/ext-top.ref"
echo "qcow2: zstd clusters and extended L2 subclusters read as qemu reads them"
# A v2 qcow2 (compat=0.10) backed by a raw file, with no backing format.
qemu-img create -q -f qcow2 -o compat=0.10 -b in.raw "$tmp/v2.qcow2" 64M 2>/dev/null \
  || qemu-img create -q -f qcow2 -o compat=0.10 -b in.raw -F raw "$tmp/v2.qcow2" 64M
check "$tmp/v2.qcow2" "$in"
# VirtualBox VDI (dynamic and static), and a dynamic one with a block
# marked discarded (its map entry set to 0xFFFFFFFE: reads as zeros) and
# one written by qemu-io: byte for byte what qemu-img reads; the probe
# names it (convert --json).
for o in static=off static=on; do
  qemu-img convert -O vdi -o $o "$in" "$tmp/q-$o.vdi"
  check "$tmp/q-$o.vdi" "$in"
done
qemu-img convert -O vdi "$in" "$tmp/d.vdi"
qemu-io -f vdi -c 'write -P 0x33 40M 1M' "$tmp/d.vdi" > /dev/null
map=$(od -An -tu4 -j$((0x154)) -N4 "$tmp/d.vdi" | tr -d ' ')
printf '\xfe\xff\xff\xff' | dd of="$tmp/d.vdi" bs=1 seek=$((map + 4 * 2)) conv=notrunc status=none
[ "$(od -An -tx4 -j$((map + 8)) -N4 "$tmp/d.vdi" | tr -d ' ')" = fffffffe ] || fail "d.vdi: the map entry was not patched"
qemu-img convert -f vdi -O raw "$tmp/d.vdi" "$tmp/d.ref"
check "$tmp/d.vdi" "$tmp/d.ref"
winseal convert --json "$tmp/d.vdi" "$tmp/d.vhd" > "$tmp/d.json" || fail "d.vdi: convert to VHD"
[ "$(jq -r .input_format "$tmp/d.json")" = vdi ] || fail "d.vdi: input_format $(jq -r .input_format "$tmp/d.json")"
qemu-img compare -q -f vdi -F vpc "$tmp/d.vdi" "$tmp/d.vhd" || fail "d.vdi: qemu-img compare with the VHD written"
echo "vdi: static, dynamic and discarded blocks read as qemu reads them"
# Hyper-V VHDX made by qemu-img: dynamic (its default block size, 1 MiB
# and 64 MiB blocks, blocks written by qemu-io) and fixed, byte for byte
# what qemu-img reads.
for o in subformat=dynamic subformat=fixed block_size=1M block_size=64M; do
  qemu-img convert -O vhdx -o $o "$in" "$tmp/q-$o.vhdx"
  check "$tmp/q-$o.vhdx" "$in"
done
qemu-img create -q -f vhdx "$tmp/w.vhdx" 100M
qemu-io -f vhdx -c 'write -P 0x61 3M 5M' -c 'write -P 0x62 70M 64K' "$tmp/w.vhdx" > /dev/null
qemu-img convert -f vhdx -O raw "$tmp/w.vhdx" "$tmp/w.ref"
check "$tmp/w.vhdx" "$tmp/w.ref"
winseal convert --json "$tmp/w.vhdx" "$tmp/w.qcow2" > "$tmp/w.json" || fail "w.vhdx: convert to qcow2"
[ "$(jq -r .input_format "$tmp/w.json")" = vhdx ] || fail "w.vhdx: input_format $(jq -r .input_format "$tmp/w.json")"
qemu-img compare -q -f vhdx -F qcow2 "$tmp/w.vhdx" "$tmp/w.qcow2" || fail "w.vhdx: qemu-img compare with the qcow2 written"
winseal convert --progress "$tmp/w.vhdx" "$tmp/w.raw" 2> "$tmp/w.err" || fail "w.vhdx: convert --progress"
grep -q 'vhdx -> raw \[' "$tmp/w.err" || fail "the progress line does not say the input format: $(head -c 200 "$tmp/w.err")"
echo "vhdx: dynamic (three block sizes), fixed and qemu-io writes read as qemu reads them"
# ESXi datastore downloads: a descriptor with a VMFS extent (and the same
# as VMFSTHIN) reads as its flat file, byte for byte.
cp "$in" "$tmp/esx-flat.vmdk"
sectors=$(( $(stat -c %s "$in") / 512 ))
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="vmfs"\n\nRW %s VMFS "esx-flat.vmdk"\n' "$sectors" > "$tmp/esx.vmdk"
check "$tmp/esx.vmdk" "$in"
sed 's/ VMFS / VMFSTHIN /; s/"vmfs"/"vmfsThin"/' "$tmp/esx.vmdk" > "$tmp/esx-thin.vmdk"
check "$tmp/esx-thin.vmdk" "$in"
# VMDK delta chains, byte for byte what qemu-img reads: a hosted snapshot
# (monolithicSparse, zeroed-grain entries: a zeroed grain hides the
# parent's data) of a streamOptimized parent, and a second snapshot of it
# split in twoGbMaxExtentSparse extents (the parent shows through the
# extents' unallocated grains); then the same second snapshot whose
# descriptor names its parent by a Windows path, as VMware on Windows
# writes it (looked for beside it, checked by CID).
qemu-img convert -O vmdk -o subformat=streamOptimized "$in" "$tmp/base.vmdk"
qemu-img create -q -f vmdk -o zeroed_grain=on -b base.vmdk -F vmdk "$tmp/base-000001.vmdk"
qemu-io -f vmdk -c 'write -P 0x71 2M 192k' -c 'write -z 4M 1M' -c 'write -P 0x72 33M 64k' \
  "$tmp/base-000001.vmdk" > /dev/null
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b base-000001.vmdk -F vmdk \
  "$tmp/base-000002.vmdk"
qemu-io -f vmdk -c 'write -P 0x73 2162688 64k' -c 'write -P 0x74 31M 2M' "$tmp/base-000002.vmdk" > /dev/null
grep -aq 'parentFileNameHint="base-000001.vmdk"' "$tmp/base-000002.vmdk" || fail "qemu-img wrote no parent hint"
for v in base-000001 base-000002; do
  qemu-img convert -O raw "$tmp/$v.vmdk" "$tmp/$v.ref"
  cmp -s "$tmp/$v.ref" "$in" && fail "$v.vmdk: the snapshot changes nothing"
  check "$tmp/$v.vmdk" "$tmp/$v.ref"
done
sed 's/parentFileNameHint="base-000001.vmdk"/parentFileNameHint="C:\\VMs\\base\\base-000001.vmdk"/' \
  "$tmp/base-000002.vmdk" > "$tmp/win-000002.vmdk"
grep -aq 'C:.VMs.base.base-000001.vmdk' "$tmp/win-000002.vmdk" || fail "the hint was not rewritten"
check "$tmp/win-000002.vmdk" "$tmp/base-000002.ref"
winseal convert --json "$tmp/base-000002.vmdk" "$tmp/chain.vhd" > "$tmp/chain.json" || fail "vmdk chain: convert to VHD"
qemu-img compare -q -f vmdk -F vpc "$tmp/base-000002.vmdk" "$tmp/chain.vhd" || fail "vmdk chain: qemu-img compare"
echo "vmdk: snapshot chains read as qemu reads them"
# Differencing VHDs (Hyper-V's snapshots, .avhd), built by
# tests/vhd-diff.pl by the specification over a dynamic parent: read
# through the parent sector by sector as the bitmaps say, byte for byte
# the raw disk the builder lays out; libvhdi (vhdimount, where FUSE works
# here) reads the same.  A grandchild over the child; a child found by its
# absolute (W2ku) locator only, and by the parent's Unicode name only; one
# with single-sector runs.
qemu-img convert -O raw "$in" "$tmp/vp.src"
winseal convert --format vhd-dynamic "$tmp/vp.src" "$tmp/vp.vhd"
qemu-img convert -f vpc -O raw "$tmp/vp.vhd" "$tmp/vp.raw"
d=$top_srcdir/tests/vhd-diff.pl
perl "$d" "$tmp/vp.vhd" "$tmp/vp.raw" "$tmp/vc.vhd" "$tmp/vc.ref"
perl "$d" --name vc.vhd --odd "$tmp/vc.vhd" "$tmp/vc.ref" "$tmp/vg.vhd" "$tmp/vg.ref"
perl "$d" --locators w2ku "$tmp/vp.vhd" "$tmp/vp.raw" "$tmp/vk.vhd" "$tmp/vk.ref"
perl "$d" --locators '' "$tmp/vp.vhd" "$tmp/vp.raw" "$tmp/vn.vhd" "$tmp/vn.ref"
cmp -s "$tmp/vc.ref" "$tmp/vp.raw" && fail "the differencing VHD changes nothing"
vhdiinfo "$tmp/vc.vhd" | grep -q 'Disk type.*Differential' || fail "libvhdi does not see a differencing VHD"
for v in vc vg vk vn; do check "$tmp/$v.vhd" "$tmp/$v.ref"; done
mkdir "$tmp/mnt"
if command -v vhdimount > /dev/null && vhdimount "$tmp/vc.vhd" "$tmp/mnt" > /dev/null 2>&1; then
  # vhdimount shows the chain as vhdi1 (the parent) and vhdi2 (the child).
  cmp "$tmp/mnt/vhdi2" "$tmp/vc.ref"; r=$?
  fusermount -u "$tmp/mnt" 2>/dev/null || umount "$tmp/mnt"
  [ $r -eq 0 ] || fail "vc.vhd: libvhdi reads the chain otherwise"
  echo "vc.vhd: libvhdi reads the same"
else
  echo "note: vhdimount cannot mount here (no FUSE): the builder's layout is the oracle"
fi
echo "vhd: differencing chains read through their parents"
# Differencing VHDX (Hyper-V's checkpoints, .avhdx), built by
# tests/vhdx-diff.pl by [MS-VHDX] over a dynamic parent written by
# qemu-img (4 GiB + 8 MiB: two chunks, each with its sector bitmap block):
# every block state, read byte for byte as the builder lays the disk out,
# and as libvhdi reads it (pyvhdi; without the zero and undefined states,
# which libvhdi 20210425 reads through to the parent).  A grandchild over
# a child; a parent found by "..\" from a subfolder (--allow-dir), by its
# absolute_win32_path alone, and by volume_path alone (a 16 MiB parent).
dx=$top_srcdir/tests/vhdx-diff.pl
qemu-img create -q -f vhdx "$tmp/xp.vhdx" 4104M
qemu-io -f vhdx -c 'write -P 0x70 0 9M' -c 'write -P 0x71 4095M 9M' "$tmp/xp.vhdx" > /dev/null
qemu-img convert -f vhdx -O raw "$tmp/xp.vhdx" "$tmp/xp.raw"
perl "$dx" --rel '.\xp.vhdx' "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xc.vhdx" "$tmp/xc.ref"
perl "$dx" --rel 'xp.vhdx' --no-zero-states "$tmp/xp.vhdx" "$tmp/xp.raw" "$tmp/xz.vhdx" "$tmp/xz.ref"
perl "$dx" --rel 'xz.vhdx' --no-zero-states --tag 3 "$tmp/xz.vhdx" "$tmp/xz.ref" "$tmp/xg.vhdx" "$tmp/xg.ref"
# The parent paths on a small parent (16 MiB: one chunk).
qemu-img create -q -f vhdx "$tmp/xq.vhdx" 16M
qemu-io -f vhdx -c 'write -P 0x72 0 16M' "$tmp/xq.vhdx" > /dev/null
qemu-img convert -f vhdx -O raw "$tmp/xq.vhdx" "$tmp/xq.raw"
mkdir "$tmp/sub"
perl "$dx" --rel '..\xq.vhdx' "$tmp/xq.vhdx" "$tmp/xq.raw" "$tmp/sub/xs.vhdx" "$tmp/xs.ref"
perl "$dx" --abs '\\?\D:\Hyper-V\xq.vhdx' "$tmp/xq.vhdx" "$tmp/xq.raw" "$tmp/xa.vhdx" "$tmp/xa.ref"
perl "$dx" --vol '\\?\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\VMs\xq.vhdx' \
  "$tmp/xq.vhdx" "$tmp/xq.raw" "$tmp/xv.vhdx" "$tmp/xv.ref"
scmp "$tmp/xc.ref" "$tmp/xp.raw" 2> /dev/null && fail "the differencing VHDX changes nothing"
scmp "$tmp/xg.ref" "$tmp/xz.ref" 2> /dev/null && fail "the grandchild changes nothing"
vhdiinfo "$tmp/xc.vhdx" | grep -q 'Disk type.*Differential' || fail "libvhdi does not see a differencing VHDX"
for v in xc xz xg xa xv; do check "$tmp/$v.vhdx" "$tmp/$v.ref"; done
winseal convert --allow-dir "$tmp" --format raw "$tmp/sub/xs.vhdx" "$tmp/back.raw" \
  || fail "sub/xs.vhdx: convert with its parent in the folder above"
cmp "$tmp/xs.ref" "$tmp/back.raw" || fail "sub/xs.vhdx: content differs"
/usr/bin/python3 "$top_srcdir/tests/vhdi-read.py" "$tmp/xz.lib" "$tmp/xz.vhdx" "$tmp/xp.vhdx" \
  || fail "libvhdi cannot read xz.vhdx"
scmp "$tmp/xz.lib" "$tmp/xz.ref" || fail "xz.vhdx: libvhdi reads the chain otherwise"
/usr/bin/python3 "$top_srcdir/tests/vhdi-read.py" "$tmp/xg.lib" "$tmp/xg.vhdx" "$tmp/xz.vhdx" "$tmp/xp.vhdx" \
  || fail "libvhdi cannot read xg.vhdx"
scmp "$tmp/xg.lib" "$tmp/xg.ref" || fail "xg.vhdx: libvhdi reads the chain otherwise"
winseal convert "$tmp/xg.vhdx" "$tmp/xg.qcow2" || fail "xg.vhdx: convert to qcow2"
qemu-img compare -q -f raw -F qcow2 "$tmp/xg.ref" "$tmp/xg.qcow2" || fail "xg.vhdx: qemu-img compare with the qcow2 written"
rm -f "$tmp"/x?.raw "$tmp"/x?.ref "$tmp"/x?.lib "$tmp/xg.qcow2" "$tmp/back.raw"
echo "vhdx: differencing chains read through their parents (libvhdi reads the same)"
# The size a VHD's creator means: Virtual PC ("vpc ") and older qemu
# ("qemu") footers by the CHS geometry, newer qemu ("qem2") and Hyper-V by
# the current size; qemu reads each so, and so must winseal (64 MiB:
# 963/8/17 is 130968 sectors).
creator () {   # creator VHD APP: the footer's (and its copy's) creator app
  perl -e 'my ($f, $app) = @ARGV; open my $h, "+<:raw", $f or die; my $size = -s $f;
    for my $at (0, $size - 512) { seek $h, $at, 0; read $h, my $b, 512;
      next unless substr ($b, 0, 8) eq "conectix"; substr ($b, 28, 4) = $app;
      substr ($b, 64, 4) = "\0\0\0\0"; my $s = 0; $s += $_ for unpack "C*", $b;
      substr ($b, 64, 4) = pack "N", (~$s) & 0xffffffff; seek $h, $at, 0; print $h $b }' "$1" "$2"
}
for app in 'vpc ' qemu qem2; do
  cp "$tmp/vp.vhd" "$tmp/app.vhd"
  creator "$tmp/app.vhd" "$app"
  qemu-img convert -f vpc -O raw "$tmp/app.vhd" "$tmp/app.ref"
  want=$([ "$app" = qem2 ] && echo 67108864 || echo 67055616)
  [ "$(stat -c %s "$tmp/app.ref")" = "$want" ] || fail "creator '$app': qemu reads $(stat -c %s "$tmp/app.ref") bytes, not $want"
  check "$tmp/app.vhd" "$tmp/app.ref"
done
echo "vhd: the creator's size convention, as qemu's"
# A VHDX whose log holds writes never applied (tests/vhdx-log.pl: two
# entries that write, zero, and allocate a block past the file's end, and
# a later one whose checksum fails): replayed in memory, never into the
# file, byte for byte what qemu reads after its own replay on a copy
# (qemu-img check -r all).  When the last entry of the sequence is torn
# (its data sector lacks the sequence number) the sequence before it is
# replayed, as [MS-VHDX] 2.3.3 says (qemu refuses that log): the page the
# torn entry would have written keeps the first entry's data.
head -c 2M /dev/urandom > "$tmp/lg.raw"
truncate -s 8M "$tmp/lg.raw"
head -c 1M /dev/urandom | dd of="$tmp/lg.raw" bs=1M seek=5 conv=notrunc status=none
for v in lg lgt; do
  qemu-img convert -O vhdx -o block_size=1M "$tmp/lg.raw" "$tmp/$v.vhdx"
done
perl "$top_srcdir/tests/vhdx-log.pl" "$tmp/lg.vhdx"
perl "$top_srcdir/tests/vhdx-log.pl" "$tmp/lgt.vhdx" bad
cp "$tmp/lg.vhdx" "$tmp/lg-q.vhdx"
qemu-img check -q -r all "$tmp/lg-q.vhdx" > /dev/null 2>&1 || true   # it reports the replay as a repair
qemu-img convert -f vhdx -O raw "$tmp/lg-q.vhdx" "$tmp/lg.ref"
sum=$(sha256sum < "$tmp/lg.vhdx")
check "$tmp/lg.vhdx" "$tmp/lg.ref"
[ "$(sha256sum < "$tmp/lg.vhdx")" = "$sum" ] || fail "lg.vhdx: reading it changed it"
cmp -s "$tmp/lg.ref" "$tmp/lg.raw" && fail "lg.vhdx: the log changes nothing"
cp "$tmp/lg.ref" "$tmp/lgt.ref"
printf 'L%.0s' $(seq 4096) | dd of="$tmp/lgt.ref" bs=4096 seek=2 conv=notrunc status=none
check "$tmp/lgt.vhdx" "$tmp/lgt.ref"
echo "vhdx: pending logs replayed as qemu replays them"
