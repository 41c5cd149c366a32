#!/bin/bash
# VHD outputs are sized for Azure: an odd-sized input gets a fixed VHD whose
# virtual size is a whole number of MiB (file = size + 512) and a dynamic
# VHD of whole 2 MiB blocks; --size grows the disk; qemu-img (-f vpc) and
# libvhdi read back exactly that size.
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img
requires command -v jq

in="$tmp/odd.raw"
head -c $((10 * 1048576 + 1234)) /dev/urandom > "$in"
mib=$((11 * 1048576))

winseal convert --json "$in" "$tmp/odd.vhd" > "$tmp/j" || fail convert
[ "$(jq -r .format "$tmp/j")" = vhd ] || fail "default format for .vhd is not fixed VHD"
[ "$(jq -r .virtual_size "$tmp/j")" = $mib ] || fail "virtual size not rounded to MiB"
[ "$(stat -c %s "$tmp/odd.vhd")" = $((mib + 512)) ] || fail "file is not size + 512"
qemu-img info -f vpc --output=json "$tmp/odd.vhd" | jq -e ".[\"virtual-size\"] == $mib" > /dev/null \
  || fail "qemu-img reads another size"
if command -v vhdiinfo > /dev/null; then
  vhdiinfo "$tmp/odd.vhd" | grep -q "($mib bytes)" || fail "vhdiinfo reads another size"
fi
# The content is the input followed by zeros.
qemu-img convert -f vpc -O raw "$tmp/odd.vhd" "$tmp/back.raw"
cmp -n $((10 * 1048576 + 1234)) "$in" "$tmp/back.raw" || fail "content"
[ -z "$(tail -c $((mib - 10 * 1048576 - 1234)) "$tmp/back.raw" | tr -d '\0' | head -c 1)" ] \
  || fail "padding is not zeros"

winseal convert --format vhd-dynamic --json "$in" "$tmp/odd-d.vhd" > "$tmp/j" || fail dynamic
[ "$(jq -r .virtual_size "$tmp/j")" = $((12 * 1048576)) ] || fail "dynamic not whole 2 MiB blocks"
qemu-img compare -q -f vpc -F vpc "$tmp/odd.vhd" "$tmp/odd-d.vhd" || fail "fixed and dynamic differ"

winseal convert --size 1G --json "$in" "$tmp/big.vhd" > "$tmp/j" || fail "--size"
[ "$(jq -r .virtual_size "$tmp/j")" = 1073741824 ] || fail "--size 1G"
[ "$(du -k "$tmp/big.vhd" | cut -f1)" -lt 20000 ] || fail "fixed VHD not sparse on disk"

# A VHD larger than 2040 GiB (qemu cannot read those; Azure takes up to 32 TiB).
truncate -s 3T "$tmp/huge.raw"
winseal convert --json "$tmp/huge.raw" "$tmp/huge.vhd" > "$tmp/j" || fail "3 TiB VHD"
[ "$(stat -c %s "$tmp/huge.vhd")" = $((3 * 1099511627776 + 512)) ] || fail "3 TiB size"
if command -v vhdiinfo > /dev/null; then
  vhdiinfo "$tmp/huge.vhd" | grep -q '(3298534883328 bytes)' || fail "vhdiinfo 3 TiB"
fi
status=0
winseal convert --size 1M "$in" "$tmp/small.vhd" 2> "$tmp/err" || status=$?
[ $status -ne 0 ] && grep -q 'smaller than' "$tmp/err" && [ ! -e "$tmp/small.vhd" ] \
  || fail "--size below the input's size was not refused"
status=0
winseal convert --size 33T "$in" "$tmp/toobig.vhd" 2> "$tmp/err" || status=$?
[ $status -ne 0 ] && [ ! -e "$tmp/toobig.vhd" ] || fail "33 TiB VHD was not refused"
echo ok
# --azure-min-size: a tiny disk becomes Azure's upload minimum, a 20 MiB
# disk and its footer (fixed and dynamic); refused for other outputs.
truncate -s 3M "$tmp/tiny.raw"
winseal convert --azure-min-size "$tmp/tiny.raw" "$tmp/tiny.vhd" || fail "--azure-min-size"
[ "$(stat -c %s "$tmp/tiny.vhd")" = $((20 * 1048576 + 512)) ] || fail "--azure-min-size: $(stat -c %s "$tmp/tiny.vhd") bytes"
qemu-img info --output=json -f vpc "$tmp/tiny.vhd" | jq -e '."virtual-size" == 20971520' > /dev/null \
  || fail "--azure-min-size: qemu-img reads another size"
winseal convert --format vhd-dynamic --azure-min-size "$tmp/tiny.raw" "$tmp/tinyd.vhd" || fail "--azure-min-size dynamic"
vhdiinfo "$tmp/tinyd.vhd" | grep -q '(20971520 bytes)' || fail "--azure-min-size dynamic: vhdiinfo"
status=0
winseal convert --azure-min-size "$tmp/tiny.raw" "$tmp/tiny.qcow2" 2> "$tmp/err" || status=$?
[ $status -ne 0 ] && grep -q 'is for VHD output' "$tmp/err" && [ ! -e "$tmp/tiny.qcow2" ] \
  || fail "--azure-min-size with a qcow2 output was not refused"
echo "azure-min-size: ok"
