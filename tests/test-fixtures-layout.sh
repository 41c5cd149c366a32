#!/bin/bash
# The fixture disks have the partition layout their specs describe, read
# back with sfdisk and file(1): table type, disk signature/GUID, partition
# starts, sizes and types, and a FAT32 EFI system partition.
. "$top_srcdir/tests/functions.sh"
requires command -v sfdisk
requires command -v file

for name in ws2022 win10 ws2012r2; do
  img=$(image "$name")
  sfdisk --dump "$img" > "$tmp/dump" 2>/dev/null || fail "$name: sfdisk cannot read the table"
  label=$(spec_get "$name" LABEL)
  grep -q "^label: $label\$" "$tmp/dump" || fail "$name: not a $label table"
  if [ "$label" = gpt ]; then
    id=$(spec_get "$name" DISK_GUID)
  else
    id=$(spec_get "$name" DISK_SIGNATURE)
  fi
  grep -qi "^label-id: $id\$" "$tmp/dump" || fail "$name: label-id is not $id"
  disk_mib=$(spec_get "$name" DISK_MIB)
  [ "$(stat -c %s "$img")" -eq $((disk_mib * 1048576)) ] || fail "$name: size"
  while IFS=: read -r num fs start size flabel tree type uuid; do
    [ "$size" != 0 ] || size=$((disk_mib - start - 1))
    line=$(grep "^$img$num :" "$tmp/dump") || fail "$name: no partition $num"
    echo "$line" | grep -q "start= *$((start * 2048))," || fail "$name: partition $num start: $line"
    echo "$line" | grep -q "size= *$((size * 2048))," || fail "$name: partition $num size: $line"
    echo "$line" | grep -qi "type=$type" || fail "$name: partition $num type: $line"
    if [ "$fs" = vfat ]; then
      dd if="$img" bs=512 skip=$((start * 2048)) count=1 status=none | file - | grep -q 'FAT (32 bit)' \
        || fail "$name: partition $num is not FAT32"
    fi
    if [ "$fs" = ntfs ]; then
      dd if="$img" bs=512 skip=$((start * 2048)) count=1 status=none | head -c 11 | tail -c 8 | grep -q NTFS \
        || fail "$name: partition $num is not NTFS"
    fi
  done < <(spec_lines "$name" | sed -n 's/^PART=//p')
  echo "$name: layout ok"
done
