#!/bin/bash
# With clang present, the libFuzzer targets (make fuzz) run for a short,
# bounded time on each reader, seeded with real images: no crash, no
# sanitizer report, no leak.
. "$top_srcdir/tests/functions.sh"
requires command -v clang
requires command -v qemu-img

make -s -C "$top_builddir" fuzz > "$tmp/build.log" 2>&1 || skip "clang cannot build libFuzzer targets here: $(tail -n 2 "$tmp/build.log")"
secs=${FUZZ_SECONDS:-5}
truncate -s 2M "$tmp/in.raw"
head -c 100K /dev/urandom | dd of="$tmp/in.raw" bs=64K seek=3 conv=notrunc status=none
compressible 200K | dd of="$tmp/in.raw" bs=64K seek=10 conv=notrunc status=none
for f in vhd vmdk qcow2 vdi vhdx ntfs; do
  mkdir -p "$tmp/corpus-$f"
done
qemu-img convert -O vpc "$tmp/in.raw" "$tmp/corpus-vhd/q"
winseal convert --format vhd-dynamic "$tmp/in.raw" "$tmp/corpus-vhd/w.vhd"
qemu-img convert -O vmdk "$tmp/in.raw" "$tmp/corpus-vmdk/q"
winseal convert "$tmp/in.raw" "$tmp/corpus-vmdk/w.vmdk"
qemu-img convert -c -O qcow2 "$tmp/in.raw" "$tmp/corpus-qcow2/q"
winseal convert -c "$tmp/in.raw" "$tmp/corpus-qcow2/w.qcow2"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$tmp/in.raw" "$tmp/corpus-qcow2/z"
qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=32k "$tmp/in.raw" "$tmp/corpus-qcow2/x"
qemu-img convert -O vdi "$tmp/in.raw" "$tmp/corpus-vdi/q"
qemu-img convert -O vhdx -o block_size=1M "$tmp/in.raw" "$tmp/corpus-vhdx/q"
truncate -s 5M "$tmp/lg.raw"
head -c 64K /dev/urandom | dd of="$tmp/lg.raw" conv=notrunc status=none
qemu-img convert -O vhdx -o block_size=1M "$tmp/lg.raw" "$tmp/corpus-vhdx/log"
perl "$top_srcdir/tests/vhdx-log.pl" "$tmp/corpus-vhdx/log"
truncate -s 2M "$tmp/corpus-ntfs/v"
mkntfs -F -Q -q "$tmp/corpus-ntfs/v" > /dev/null 2>&1 || fail "mkntfs failed"
echo small > "$tmp/small.txt"          # a file in its own MFT record
ntfscp -q "$tmp/corpus-ntfs/v" "$tmp/small.txt" small.txt || fail "ntfscp failed"
# A differencing VHDX (tests/vhdx-diff.pl; its parent is not beside the
# harness's input, so what is fuzzed is the locator, the BAT states and the
# sector bitmap entries).
qemu-img create -q -f vhdx "$tmp/dp.vhdx" 3M
qemu-img convert -f vhdx -O raw "$tmp/dp.vhdx" "$tmp/dp.raw"
perl "$top_srcdir/tests/vhdx-diff.pl" --rel 'dp.vhdx' --abs 'C:\VMs\dp.vhdx' "$tmp/dp.vhdx" "$tmp/dp.raw" "$tmp/corpus-vhdx/diff" "$tmp/dc.ref"
for f in vhd vmdk qcow2 vdi vhdx ntfs; do
  "$top_builddir/fuzz/libfuzzer-$f" -max_total_time="$secs" -rss_limit_mb=2048 \
    -timeout=10 -max_len=3000000 "$tmp/corpus-$f" > "$tmp/$f.log" 2>&1 \
    || fail "libFuzzer found a problem in the $f reader: $(grep -m3 -E 'ERROR|SUMMARY' "$tmp/$f.log")"
  echo "$f: $(grep -Eo 'Done [0-9]+ runs' "$tmp/$f.log")"
done
mkdir -p "$tmp/corpus-hive"
printf 'regf' > "$tmp/corpus-hive/a"
"$top_builddir/fuzz/libfuzzer-hive" -max_total_time="$secs" "$tmp/corpus-hive" > "$tmp/hive.log" 2>&1 \
  || fail "libFuzzer found a problem in the hive parsers: $(grep -m3 -E 'ERROR|SUMMARY' "$tmp/hive.log")"
echo "hive: $(grep -Eo 'Done [0-9]+ runs' "$tmp/hive.log")"
mkdir -p "$tmp/corpus-json"
printf '{ "images": [ { "name": "a", "source": "x", "t\\u0069mezone": "UTC" } ] }' > "$tmp/corpus-json/a"
printf '{"builds":[{"name":"a","build_time":1,"custom_data":{"status":"failed"}}],"last_run_uuid":"u","winseal_shard":{"index":1,"count":2,"state":"finished","started":1.5,"seconds":2,"images":[{"name":"a","catalog_index":0}]}}' > "$tmp/corpus-json/shard"
printf '3/10' > "$tmp/corpus-json/shard-spec"
"$top_builddir/fuzz/libfuzzer-json" -max_total_time="$secs" "$tmp/corpus-json" > "$tmp/json.log" 2>&1 \
  || fail "libFuzzer found a problem in the JSON reader: $(grep -m3 -E 'ERROR|SUMMARY' "$tmp/json.log")"
echo "json: $(grep -Eo 'Done [0-9]+ runs' "$tmp/json.log")"
mkdir -p "$tmp/corpus-xml"
"$top_builddir/winseal" unattend > "$tmp/corpus-xml/ua" || fail "winseal unattend"
printf '<Ec2ConfigurationSettings><Plugins><Plugin><Name>Ec2SetPassword</Name><State>Disabled</State></Plugin></Plugins></Ec2ConfigurationSettings>' > "$tmp/corpus-xml/ec2"
"$top_builddir/fuzz/libfuzzer-xml" -max_total_time="$secs" "$tmp/corpus-xml" > "$tmp/xml.log" 2>&1 \
  || fail "libFuzzer found a problem in the XML readers: $(grep -m3 -E 'ERROR|SUMMARY' "$tmp/xml.log")"
echo "xml: $(grep -Eo 'Done [0-9]+ runs' "$tmp/xml.log")"
mkdir -p "$tmp/corpus-hivelog"
# A length-prefixed hive (its base block and one bin) and a new-format log.
{ perl -e 'print pack("V", 8192)'; printf 'regf'; head -c 8188 /dev/zero; printf 'regf'; head -c 508 /dev/zero; printf 'HvLE'; } \
  > "$tmp/corpus-hivelog/a"
# A hive cut short, repair on (the length's top bit), when the shared
# hives are there.
cut=$top_srcdir/../shared/hives-dirty/TruncatedDirtyHive.xz
if [ -f "$cut" ]; then
  xz -dc "$cut" > "$tmp/cut.hive"
  { perl -e 'print pack("V", 0x80000000 | shift)' "$(stat -c %s "$tmp/cut.hive")"; cat "$tmp/cut.hive"; } \
    > "$tmp/corpus-hivelog/cut"
fi
"$top_builddir/fuzz/libfuzzer-hivelog" -max_total_time="$secs" "$tmp/corpus-hivelog" > "$tmp/hivelog.log" 2>&1 \
  || fail "libFuzzer found a problem in the hive log recovery: $(grep -m3 -E 'ERROR|SUMMARY' "$tmp/hivelog.log")"
echo "hivelog: $(grep -Eo 'Done [0-9]+ runs' "$tmp/hivelog.log")"
