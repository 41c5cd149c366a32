#!/bin/bash
# raw -> every output format -> raw is byte-identical; qemu-img compare
# agrees with the input, qemu-img check accepts qcow2 and VMDK outputs,
# and libvhdi, libvmdk and libqcow report the right sizes.
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img
requires command -v jq

# 96 MiB sparse disk: random data, a compressible text run, zeros between.
in="$tmp/in.raw"
truncate -s 96M "$in"
head -c 8M /dev/urandom | dd of="$in" bs=1M seek=3 conv=notrunc status=none
compressible 12M \
  | dd of="$in" bs=1M seek=40 conv=notrunc status=none
printf 'last sector' | dd of="$in" bs=1 seek=$((96*1048576 - 11)) conv=notrunc status=none
# Unaligned pieces: data that starts and ends inside a 4 KiB block, a VHD
# block and a qcow2 cluster (these go through the page cache, the aligned
# data around them with direct I/O where the file system has it).
head -c 150000 /dev/urandom | dd of="$in" bs=1 seek=$((1048576 + 777)) conv=notrunc status=none
head -c 5000 /dev/urandom | dd of="$in" bs=1 seek=$((60*1048576 - 2500)) conv=notrunc status=none

# Direct I/O where the file system offers it (ext4, xfs, btrfs here; not
# tmpfs): the aligned bulk of every output must have gone that way (the
# VMDK stream and compressed qcow2 through a staging buffer).  With WINSEAL_NO_DIRECT_IO everything goes through the
# page cache.  Both must give the input's disk.
case $(stat -f -c %T "$tmp") in
  ext2/ext3|xfs|btrfs) direct_fs=1 ;;
  *) direct_fs=0; echo "note: $tmp is $(stat -f -c %T "$tmp"): no direct I/O expected" ;;
esac

declare -A qfmt=([vhd]=vpc [vhd-dynamic]=vpc [vmdk]=vmdk [qcow2]=qcow2 [qcow2-c]=qcow2 [vhdx]=vhdx [raw]=raw)
for f in vhd vhd-dynamic vmdk qcow2 qcow2-c vhdx raw; do
  out="$tmp/out.$f"
  args=(--format "${f%-c}")
  [ "$f" = qcow2-c ] && args+=(-c)
  WINSEAL_NO_DIRECT_IO=1 winseal convert "${args[@]}" --json "$in" "$out.buffered" \
    > "$tmp/$f.b.json" || fail "convert to $f through the page cache"
  [ "$(jq -r .direct_io_bytes "$tmp/$f.b.json")" = 0 ] || fail "$f: direct I/O although disabled"
  winseal convert "${args[@]}" --json --checksum "$in" "$out" > "$tmp/$f.json" \
    || fail "convert to $f"
  direct=$(jq -r .direct_io_bytes "$tmp/$f.json")
  # At least the aligned bulk of the data (compressed outputs are ~9 MB).
  least=$((15 * 1048576))
  case $f in vmdk|qcow2-c) least=$((6 * 1048576)) ;; esac
  [ "$direct_fs" = 0 ] || [ "$direct" -gt "$least" ] \
    || fail "$f: only $direct bytes written with direct I/O"

  qemu-img compare -q -f raw -F "${qfmt[$f]}" "$in" "$out.buffered" \
    || fail "$f (through the page cache): qemu-img compare"
  rm -f "$out.buffered"
  [ "$(jq -r .virtual_size "$tmp/$f.json")" = $((96*1048576)) ] || fail "$f: virtual size"
  [ "$(jq -r .sha256 "$tmp/$f.json")" = "$(sha256sum "$out" | cut -d' ' -f1)" ] || fail "$f: sha256"
  qemu-img compare -q -f raw -F "${qfmt[$f]}" "$in" "$out" || fail "$f: qemu-img compare"
  winseal convert --format raw "$out" "$tmp/back.raw" || fail "$f: convert back"
  cmp "$in" "$tmp/back.raw" || fail "$f: round trip differs"
  case $f in
    qcow2*|vmdk|vhdx) qemu-img check -q -f "${qfmt[$f]}" "$out" || fail "$f: qemu-img check" ;;
  esac
  echo "$f: ok ($(stat -c %s "$out") bytes)"
done

# No output is larger than qemu-img's for the same disk (file sizes).
declare -A qopts=([vhd]="-O vpc -o subformat=fixed" [vhd-dynamic]="-O vpc"
  [vmdk]="-O vmdk -o subformat=streamOptimized" [qcow2]="-O qcow2" [qcow2-c]="-c -O qcow2"
  [vhdx]="-O vhdx -o block_size=32M")
for f in vhd vhd-dynamic vmdk qcow2 qcow2-c vhdx; do
  # shellcheck disable=SC2086
  qemu-img convert -f raw ${qopts[$f]} "$in" "$tmp/q.$f" || fail "qemu-img convert $f"
  ours=$(stat -c %s "$tmp/out.$f") theirs=$(stat -c %s "$tmp/q.$f")
  echo "$f: $ours bytes, qemu-img $theirs"
  [ "$ours" -le "$theirs" ] || fail "$f: $ours bytes, larger than qemu-img's $theirs"
  rm -f "$tmp/q.$f"
done
# The qcow2 file ends where its last refcount entries end (not on a
# cluster boundary), as qemu's own files may: qemu still writes to it.
if command -v qemu-io >/dev/null; then
  for f in qcow2 qcow2-c; do
    [ $(( $(stat -c %s "$tmp/out.$f") % 65536 )) != 0 ] || fail "$f ends on a cluster boundary"
    qemu-io -c "write -P 0x5a 50M 3M" "$tmp/out.$f" >/dev/null || fail "$f: qemu-io write"
    qemu-img check -q -f qcow2 "$tmp/out.$f" || fail "$f: qemu-img check after a write"
    qemu-io -c "read -P 0x5a 50M 3M" "$tmp/out.$f" | grep -q '^read 3145728/3145728' \
      || fail "$f: qemu-io read back"
  done
fi

# Compression happened where it pays: the text run, not the random data.
qemu-img check -f qcow2 "$tmp/out.qcow2-c" | grep -Eq '[1-9][0-9.]*% compressed clusters' \
  || fail "qcow2 -c wrote no compressed clusters"
[ "$(stat -c %s "$tmp/out.vmdk")" -lt $((15 * 1048576)) ] || fail "vmdk: text run not compressed"

# Independent readers report the sizes.
if command -v vhdiinfo >/dev/null; then
  for f in vhd vhd-dynamic; do
    vhdiinfo "$tmp/out.$f" | grep -q "Media size.*(100663296 bytes)" || fail "vhdiinfo $f"
  done
  vhdiinfo "$tmp/out.vhd" | grep -q 'Disk type.*Fixed' || fail "vhdiinfo: not fixed"
  # The VHDX (libvhdi reads VHDX too): dynamic, the size, 512-byte
  # logical sectors.
  vhdiinfo "$tmp/out.vhdx" > "$tmp/vx" || fail "vhdiinfo vhdx"
  grep -q 'Format.*VHDX' "$tmp/vx" && grep -q 'Disk type.*Dynamic' "$tmp/vx" \
    && grep -q "Media size.*(100663296 bytes)" "$tmp/vx" && grep -q 'Bytes per sector.*: 512 bytes' "$tmp/vx" \
    || fail "vhdiinfo vhdx: $(cat "$tmp/vx")"
  vhdiinfo "$tmp/out.vhd-dynamic" | grep -q 'Disk type.*Dynamic' || fail "vhdiinfo: not dynamic"
fi
if command -v vmdkinfo >/dev/null; then
  vmdkinfo "$tmp/out.vmdk" > "$tmp/vi" || fail vmdkinfo
  grep -q 'Disk type.*Stream optimized' "$tmp/vi" || fail "vmdkinfo: type"
  grep -q 'Media size.*(100663296 bytes)' "$tmp/vi" || fail "vmdkinfo: size"
fi
# The importers' checks on the VMDK (tests/vmdk-check.pl: a sparse header,
# a plain-ASCII descriptor, one SPARSE extent with a plain name), also
# when the output's name has quotes, spaces and non-ASCII letters.
perl "$top_srcdir/tests/vmdk-check.pl" "$tmp/out.vmdk" || fail "out.vmdk fails the importers' checks"
odd="$tmp/Dísk \"1\" x.vmdk"
winseal convert "$tmp/in.raw" "$odd" || fail "convert to an oddly named VMDK"
perl "$top_srcdir/tests/vmdk-check.pl" "$odd" || fail "the oddly named VMDK fails the importers' checks"
grep -aq '^RW [0-9]* SPARSE "D__sk__1__x.vmdk"$' "$odd" || fail "the extent name is not the ASCII form"
# --vmdk-layout header-gd: the header names the grain directory the footer
# names (not "at the end"); qemu-img and winseal read the same disk.
winseal convert --vmdk-layout header-gd "$tmp/in.raw" "$tmp/hg.vmdk" || fail "--vmdk-layout header-gd"
perl "$top_srcdir/tests/vmdk-check.pl" "$tmp/hg.vmdk" || fail "header-gd VMDK fails the importers' checks"
hgd=$(od -An -tu8 -j56 -N8 "$tmp/hg.vmdk" | tr -d ' ')
fgd=$(od -An -tu8 -j $(( $(stat -c %s "$tmp/hg.vmdk") - 1024 + 56 )) -N8 "$tmp/hg.vmdk" | tr -d ' ')
[ "$hgd" = "$fgd" ] && [ "$hgd" != 18446744073709551615 ] || fail "header-gd: header $hgd, footer $fgd"
qemu-img compare -q -f raw -F vmdk "$tmp/in.raw" "$tmp/hg.vmdk" || fail "header-gd: qemu-img compare"
winseal convert --format raw "$tmp/hg.vmdk" "$tmp/hg.raw" && cmp "$tmp/in.raw" "$tmp/hg.raw" || fail "header-gd: read back"
rm -f "$tmp/hg.raw"
status=0
winseal convert --vmdk-layout header-gd "$tmp/in.raw" "$tmp/hg.qcow2" 2> "$tmp/err" || status=$?
[ $status -ne 0 ] && grep -q 'is for VMDK output' "$tmp/err" || fail "--vmdk-layout with a qcow2 output was not refused"
if command -v qcowinfo >/dev/null; then
  qcowinfo "$tmp/out.qcow2" | grep -q 'Media size.*(100663296 bytes)' || fail qcowinfo
fi
qemu-img info -f vpc "$tmp/out.vhd" | grep -q 'virtual size: 96 MiB (100663296 bytes)' \
  || fail "qemu-img reads the fixed VHD at another size"
# The streamOptimized VMDK ends with an end-of-stream marker (a zero sector)
# after the footer.
[ "$(tail -c 512 "$tmp/out.vmdk" | od -An -v -tx1 | tr -d ' \n' | tr -d 0)" = "" ] \
  || fail "vmdk: no end-of-stream marker"
[ "$(tail -c 1024 "$tmp/out.vmdk" | head -c 4)" = KDMV ] || fail "vmdk: no footer"
