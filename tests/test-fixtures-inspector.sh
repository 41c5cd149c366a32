#!/bin/bash
# libguestfs' own inspection (virt-inspector) recognises every good fixture
# as Windows, with the product name, version, variant, architecture and
# hostname the fixture spec says.
. "$top_srcdir/tests/functions.sh"
requires command -v virt-inspector
requires command -v xmllint

check () {
  local name=$1 xml="$tmp/$1.xml"
  virt-inspector --format=raw -a "$(image "$name")" > "$xml" 2> "$tmp/$name.err" \
    || fail "virt-inspector $name: $(cat "$tmp/$name.err")"
  x () { xmllint --xpath "string(/operatingsystems/operatingsystem/$1)" "$xml"; }
  [ "$(x name)" = windows ] || fail "$name: recognised as '$(x name)'"
  [ "$(x product_name)" = "$(spec_get "$name" PRODUCT_NAME)" ] || fail "$name: product '$(x product_name)'"
  [ "$(x product_variant)" = "$(spec_get "$name" INSTALLATION_TYPE)" ] || fail "$name: variant '$(x product_variant)'"
  local major minor
  major=$(spec_get "$name" MAJOR); minor=$(spec_get "$name" MINOR)
  if [ -z "$major" ]; then          # from CurrentVersion, as 6.3
    major=$(spec_get "$name" CURRENT_VERSION | cut -d. -f1)
    minor=$(spec_get "$name" CURRENT_VERSION | cut -d. -f2)
  fi
  [ "$(x major_version)" = "$major" ] || fail "$name: major '$(x major_version)'"
  [ "$(x minor_version)" = "$minor" ] || fail "$name: minor '$(x minor_version)'"
  [ "$(x arch)" = x86_64 ] || fail "$name: arch '$(x arch)'"
  [ "$(x hostname)" = "$(spec_get "$name" COMPUTERNAME)" ] || fail "$name: hostname '$(x hostname)'"
  # MountedDevices maps C: to the Windows partition.
  local part; part=$(spec_lines "$name" | sed -n 's/^PART=\([0-9]*\):ntfs:[^:]*:[^:]*:[^:]*:c:.*/\1/p')
  [ "$(x "drive_mappings/drive_mapping[@name='C']")" = "/dev/sda$part" ] \
    || fail "$name: C: maps to '$(x "drive_mappings/drive_mapping[@name='C']")'"
  echo "$name: ok"
}

# Two at a time: each appliance is single-threaded.
check ws2022 & p1=$!
check win10 & p2=$!
wait $p1 || fail ws2022
wait $p2 || fail win10
check ws2012r2
