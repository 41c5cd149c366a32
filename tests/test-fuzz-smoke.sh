#!/bin/bash
# Every reader survives thousands of mutated images (bit flips, boundary
# values, truncations) under AddressSanitizer and UBSan: no crash, no
# memory error, no hang.  Seeds are small images written by qemu-img and
# by winseal, and real hives.
. "$top_srcdir/tests/functions.sh"
requires command -v qemu-img

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
seeds="$tmp/seeds"
mkdir -p "$seeds"
truncate -s 4M "$tmp/in.raw"
head -c 200K /dev/urandom | dd of="$tmp/in.raw" bs=64K seek=3 conv=notrunc status=none
compressible 300K | dd of="$tmp/in.raw" bs=64K seek=20 conv=notrunc status=none
qemu-img convert -O vpc "$tmp/in.raw" "$seeds/q.vhd"
winseal convert --format vhd-dynamic "$tmp/in.raw" "$seeds/w.vhd"
winseal convert --format vhd "$tmp/in.raw" "$seeds/w-fixed.vhd"
qemu-img convert -O vmdk -o subformat=monolithicSparse "$tmp/in.raw" "$seeds/q.vmdk"
winseal convert "$tmp/in.raw" "$seeds/w.vmdk"
qemu-img convert -c -O qcow2 "$tmp/in.raw" "$seeds/q.qcow2"
winseal convert -c "$tmp/in.raw" "$seeds/w.qcow2"
qemu-img convert -O qcow2 -o compat=0.10 "$tmp/in.raw" "$seeds/q2.qcow2"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$tmp/in.raw" "$seeds/qz.qcow2"
qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=32k "$tmp/in.raw" "$seeds/qx.qcow2"
qemu-img convert -O vdi "$tmp/in.raw" "$seeds/q.vdi"
qemu-img convert -O vdi -o static=on "$tmp/in.raw" "$seeds/q-static.vdi"
qemu-img convert -O vhdx -o block_size=1M "$tmp/in.raw" "$seeds/q.vhdx"
# A VHDX with a log to replay (its first and fourth blocks as
# tests/vhdx-log.pl wants them).
truncate -s 5M "$tmp/lg.raw"
head -c 64K /dev/urandom | dd of="$tmp/lg.raw" conv=notrunc status=none
qemu-img convert -O vhdx -o block_size=1M "$tmp/lg.raw" "$seeds/log.vhdx"
perl "$top_srcdir/tests/vhdx-log.pl" "$seeds/log.vhdx"
# A differencing VHDX (tests/vhdx-diff.pl; its parent is not beside the
# harness's input, so what is fuzzed is the locator, the BAT states and the
# sector bitmap entries).
qemu-img create -q -f vhdx "$tmp/dp.vhdx" 3M
qemu-img convert -f vhdx -O raw "$tmp/dp.vhdx" "$tmp/dp.raw"
perl "$top_srcdir/tests/vhdx-diff.pl" --rel 'dp.vhdx' --abs 'C:\VMs\dp.vhdx' "$tmp/dp.vhdx" "$tmp/dp.raw" "$seeds/diff.vhdx" "$tmp/dc.ref"

n=${FUZZ_ITERATIONS:-1500}
# The image harnesses open, map and read a whole image per mutation (and
# the NTFS one maps the free clusters and rewrites the MFT): a third as
# many mutations keeps this test near two minutes.
ni=$((n / 3))
fz="$top_builddir/fuzz"
timeout 600 "$fz/fuzz-vhd" "$ni" "$seeds"/*.vhd || fail "vhd reader"
timeout 600 "$fz/fuzz-vmdk" "$ni" "$seeds"/*.vmdk || fail "vmdk reader"
timeout 600 "$fz/fuzz-qcow2" "$ni" "$seeds"/*.qcow2 || fail "qcow2 reader"
timeout 600 "$fz/fuzz-vdi" "$ni" "$seeds"/*.vdi || fail "vdi reader"
timeout 600 "$fz/fuzz-vhdx" "$ni" "$seeds"/*.vhdx || fail "vhdx reader"
# NTFS volumes (mkntfs) for the free-cluster map, MFT records and $Secure,
# bare and in an MBR disk.
if command -v mkntfs > /dev/null; then
  truncate -s 2M "$seeds/v.ntfs"
  mkntfs -F -Q -q "$seeds/v.ntfs" > /dev/null 2>&1 || fail "mkntfs failed"
  # A file in its own MFT record, for the record rewriting.
  echo small > "$tmp/small.txt"
  ntfscp -q "$seeds/v.ntfs" "$tmp/small.txt" small.txt || fail "ntfscp failed"
  # Its descriptor names S-1-5-21-1-2-3-1000, the domain the harness
  # moves in $Secure (owner and the DACL's one ACE).
  if command -v ntfssecaudit > /dev/null; then
    printf '%s\n' 'File /small.txt' \
      '        000000  01000480 40000000 5c000000 00000000' \
      '        000010  14000000 02002c00 01000000 00002400' \
      '        000020  ff011f00 01050000 00000005 15000000' \
      '        000030  01000000 02000000 03000000 e8030000' \
      '        000040  01050000 00000005 15000000 01000000' \
      '        000050  02000000 03000000 e8030000 01050000' \
      '        000060  00000005 15000000 01000000 02000000' \
      '        000070  03000000 e8030000' > "$tmp/acl.txt"
    ntfssecaudit -s "$seeds/v.ntfs" "$tmp/acl.txt" 2>&1 | grep -q '^1 ACLs* ha' || fail "ntfssecaudit -s failed"
  fi
  truncate -s 4M "$seeds/d.ntfs"
  printf 'label: dos\nstart=2048, size=4096, type=7\n' | sfdisk -q "$seeds/d.ntfs"
  dd if="$seeds/v.ntfs" of="$seeds/d.ntfs" bs=1M seek=1 conv=notrunc status=none
  timeout 600 "$fz/fuzz-ntfs" "$ni" "$seeds"/*.ntfs || fail "NTFS free-cluster map, MFT records and \$Secure"
fi
hives=()
for h in SAM SECURITY; do
  if [ -f "$SHARED_HIVES/$h.xz" ]; then
    # Whole hives (256 and 32 KiB): the raw editor walks and edits them.
    xz -dc "$SHARED_HIVES/$h.xz" > "$tmp/$h"
    hives+=("$tmp/$h")
  fi
done
# A SAM user V value and alias C value from the fixture generator's layout.
printf 'regf' > "$tmp/tiny"
timeout 600 "$fz/fuzz-hive" $((n * 4)) "$tmp/tiny" "${hives[@]}" || fail "hive parsers"
# Hive recovery: a length-prefixed hive and its log(s), from the shared
# dirty hives (new and old format).
dirty=$top_srcdir/../shared/hives-dirty
hl=()
if [ -d "$dirty" ]; then
  seed () {     # seed NAME HIVE LOG: 4-byte length, the hive's used part, the log
    local h="$tmp/$1.hive"
    xz -dc "$dirty/$2.xz" > "$h"
    local n; n=$(( $(od -An -tu4 -j40 -N4 "$h" | tr -d ' ') + 4096 ))
    { perl -e 'print pack("V", shift)' "$n"; head -c "$n" "$h"; xz -dc "$dirty/$3.xz"; } > "$tmp/$1.seed"
    hl+=("$tmp/$1.seed")
  }
  seed new NewDirtyHive1/NewDirtyHive NewDirtyHive1/NewDirtyHive.LOG2
  seed old OldDirtyHive/OldDirtyHive OldDirtyHive/OldDirtyHive.LOG1
  # A hive cut short, no log, repair on (the length's top bit): the walk
  # that trims or repairs it.
  xz -dc "$dirty/TruncatedDirtyHive.xz" > "$tmp/cut.hive"
  { perl -e 'print pack("V", 0x80000000 | shift)' "$(stat -c %s "$tmp/cut.hive")"; cat "$tmp/cut.hive"; } > "$tmp/cut.seed"
  hl+=("$tmp/cut.seed")
fi
timeout 600 "$fz/fuzz-hivelog" "$n" "$tmp/tiny" "${hl[@]}" || fail "hive log recovery"
# Catalogs and templates (with escapes, nesting, a duplicate key).
printf '{ "defaults": { "timezone": "UTC", "run-sync": ["a", "b\\u00e9"] },
  "images": [ { "name": "a", "source": "x.img", "sid": 1.5e3, "dry": null },
 { "name": "b", "source": "y", "n\\u0061me": "c" } ] }
' > "$tmp/catalog.json"
printf '{"type":"Microsoft.VirtualMachineImages/imageTemplates","properties":{"source":{"type":"LocalImage","path":"a.img"},"customize":[{"type":"Shell","name":"s","inline":["echo \\"x\\""]}],"distribute":[{"type":"VHD","runOutputName":"o"}]}}' > "$tmp/template.json"
printf "[parameters('osDisk')]" > "$tmp/arm.txt"
# A shard manifest as batch --merge reads it back, and a --shard value.
printf '{"builds":[{"name":"a","build_time":1,"custom_data":{"status":"failed"}}],"last_run_uuid":"u","winseal_shard":{"index":1,"count":2,"state":"finished","started":1.5,"seconds":2,"images":[{"name":"a","catalog_index":0}]}}' > "$tmp/shard.json"
printf '3/10' > "$tmp/shard.txt"
timeout 600 "$fz/fuzz-json" $((n * 4)) "$tmp/catalog.json" "$tmp/template.json" "$tmp/arm.txt" \
  "$tmp/shard.json" "$tmp/shard.txt" || fail "JSON reader"
# Answer files (the generated one, with a password and RunSynchronous)
# and an EC2Config Config.xml with plugins to enable.
printf 'pw\n' > "$tmp/pw"
"$top_builddir/winseal" unattend --admin-password-file "$tmp/pw" --run-sync 'cmd /c x' > "$tmp/ua.xml" \
  || fail "winseal unattend"
printf '<?xml version="1.0"?>\n<Ec2ConfigurationSettings><Plugins>
<Plugin><Name>Ec2SetPassword</Name><State>Disabled</State></Plugin>
<Plugin><Name>Ec2HandleUserData</Name><State>Enabled</State></Plugin>
</Plugins><GlobalSettings/></Ec2ConfigurationSettings>\n' > "$tmp/ec2.xml"
timeout 600 "$fz/fuzz-xml" $((n * 2)) "$tmp/ua.xml" "$tmp/ec2.xml" || fail "XML readers"
