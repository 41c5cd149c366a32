# winseal tests: what must hold after `winseal generalize` on a fixture,
# checked with independent tools.  Sourced by test-generalize-IMAGE.sh
# after functions.sh; call check_generalized IMAGE.

# free_space_oracle OVERLAY RAW: the disk OVERLAY holds, as raw, with each
# NTFS partition's unused clusters zeroed by ntfs-3g's ntfswipe and the
# sectors past the volume's last whole cluster zeroed: what a generalize
# output must hold.
free_space_oracle () {
  local ov=$1 raw=$2
  qemu-img convert -O raw "$ov" "$raw"
  local start size
  while read -r start size; do
    LC_ALL=C dd if="$raw" bs=1 skip=$((start * 512 + 3)) count=8 status=none | grep -q '^NTFS    $' || continue
    dd if="$raw" of="$raw.part" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) \
      count=$((size * 512)) conv=sparse status=none
    ntfswipe -U -f -q "$raw.part" > /dev/null 2>&1 || fail "ntfswipe failed on the partition at sector $start"
    perl -e 'open my $f, "+<:raw", $ARGV[0] or die; read $f, my $b, 512;
      my ($bps, $spc) = unpack "v C", substr $b, 11, 3; my $tot = unpack "Q<", substr $b, 40, 8;
      my $end = int ($tot / $spc) * $spc * $bps; my $n = $tot * $bps - $end;
      if ($n > 0) { seek $f, $end, 0; print $f "\0" x $n }' "$raw.part"
    # Written back whole: zeros too (conv=sparse would skip them).
    dd if="$raw.part" of="$raw" bs=1M oflag=seek_bytes seek=$((start * 512)) conv=notrunc status=none
    rm -f "$raw.part"
  done < <(sfdisk -J "$raw" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size)"')
}

# mft_oracle NAME EXPECT OUT REPORT: the MFT records winseal rewrites
# (freed ones emptied, the slack of others zeroed) lie in each NTFS
# volume's $MFT data.  For each volume, ntfs-3g's ntfscmp finds every file
# in use the same in EXPECT and OUT, and no difference but $MFT's own data;
# ntfsundelete finds deleted files with recoverable content in EXPECT's
# volumes and none in OUT's.  The $MFT's clusters (its runs, as ntfsinfo
# lists them) are then copied from OUT into EXPECT, so that the byte
# comparison that follows covers everything else.
# Sets used_bytes: the bytes OUT's partitions use (an NTFS volume's
# clusters in use, as ntfsinfo counts them; any other partition whole).
mft_oracle () {
  local name=$1 exp=$2 out=$3 r=$4 start size cs run vcn lcn len before=0 after=0 n
  used_bytes=0
  while read -r start size; do
    if ! LC_ALL=C dd if="$exp" bs=1 skip=$((start * 512 + 3)) count=8 status=none | grep -q '^NTFS    $'; then
      used_bytes=$((used_bytes + size * 512))
      continue
    fi
    dd if="$exp" of="$tmp/E.vol" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) count=$((size * 512)) conv=sparse status=none
    dd if="$out" of="$tmp/O.vol" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) count=$((size * 512)) conv=sparse status=none
    ntfscmp "$tmp/E.vol" "$tmp/O.vol" 2>&1 | tr '\r' '\n' | grep -E 'DIFFER|!=' > "$tmp/cmp" || true
    if grep -qv '^Inode 0 attribute 0x80 content:' "$tmp/cmp"; then
      cat "$tmp/cmp"; fail "$name: ntfscmp finds files that differ in the volume at sector $start"
    fi
    n=$({ ntfsundelete -s "$tmp/E.vol" 2>&1 || true; } | sed -n 's/^Files with potentially recoverable content: //p')
    before=$((before + ${n:-0}))
    n=$({ ntfsundelete -s "$tmp/O.vol" 2>&1 || true; } | sed -n 's/^Files with potentially recoverable content: //p')
    [ "$n" = 0 ] || fail "$name: ntfsundelete finds ${n:-no count of} deleted files to recover in the output's volume at sector $start"
    after=$((after + n))
    cs=$(perl -e 'open F, "<:raw", $ARGV[0]; read F, $b, 512; print unpack ("v", substr $b, 11, 2) * ord substr $b, 13, 1' "$tmp/E.vol")
    run=0
    while read -r vcn lcn len; do
      dd if="$out" of="$exp" bs=1M iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none \
        skip=$((start * 512 + lcn * cs)) seek=$((start * 512 + lcn * cs)) count=$((len * cs))
      run=$((run + 1))
    done < <(ntfsinfo -v -i 0 "$tmp/E.vol" 2>/dev/null \
               | awk '/Dumping attribute/ { d = /\$DATA/ } d && /^\t\t\t0x/ { print $1, $2, $3 }')
    [ $run -ge 1 ] || fail "$name: ntfsinfo lists no runs of \$MFT in the volume at sector $start"
    used_bytes=$((used_bytes + $(ntfsinfo -m "$tmp/O.vol" 2>/dev/null | awk '
      /Cluster Size:/ { cs = $3 } /Volume Size in Clusters:/ { n = $5 } /Free Clusters:/ { f = $3 }
      END { print (n - f) * cs }')))
    # The output takes writes: ntfs-3g (no mount) adds a file, in a record
    # freed and emptied if there is one, and reads it back.
    head -c 100000 /dev/urandom > "$tmp/add.bin"
    ntfscp -q "$tmp/O.vol" "$tmp/add.bin" winseal-added.bin || fail "$name: ntfs-3g cannot write to the output's volume at sector $start"
    cmp -s <(ntfscat "$tmp/O.vol" winseal-added.bin) "$tmp/add.bin" || fail "$name: a file written to the output's volume does not read back"
    ntfsfix -n "$tmp/O.vol" > /dev/null 2>&1 || fail "$name: ntfsfix -n fails on the output's volume at sector $start after a write"
    # And ntfs-3g mounts it read-write (where FUSE works here).
    mkdir -p "$tmp/mnt"
    if ntfs-3g "$tmp/O.vol" "$tmp/mnt" 2> /dev/null; then
      { echo mounted > "$tmp/mnt/winseal-mounted.txt" && cmp -s "$tmp/mnt/winseal-added.bin" "$tmp/add.bin"; } \
        || { umount "$tmp/mnt"; fail "$name: the output's volume at sector $start does not take writes through an ntfs-3g mount"; }
      umount "$tmp/mnt" || fail "$name: cannot unmount the output's volume"
      [ "$(ntfscat "$tmp/O.vol" winseal-mounted.txt)" = mounted ] || fail "$name: a file written through the mount does not read back"
      ntfsfix -n "$tmp/O.vol" > /dev/null 2>&1 || fail "$name: ntfsfix -n fails after the mount"
    fi
    rm -f "$tmp/E.vol" "$tmp/O.vol" "$tmp/add.bin"
  done < <(sfdisk -J "$exp" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size)"')
  [ "$before" -ge 1 ] || fail "$name: ntfsundelete finds no deleted file in the input to begin with"
  [ "$(jq .mft_records_cleared "$r")" -ge 1 ] || fail "$name: mft_records_cleared is $(jq .mft_records_cleared "$r")"
  echo "$name: $before deleted files recoverable from the MFT before, $after after"
}

# zblocks FILE: how many 4 KiB-aligned blocks of FILE are all 'Z' (0x5A,
# the fixtures' cache.bin), reading only its data ranges.
zblocks () {
  /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; z = b"Z" * 4096; n = off = 0
while off < size:
    try: s = os.lseek(fd, off, os.SEEK_DATA)
    except OSError: break
    e = os.lseek(fd, s, os.SEEK_HOLE); s -= s % 4096
    for o in range(s, e, 4096): n += os.pread(fd, 4096, o) == z
    off = e
print(n)' "$1"
}

check_generalized () {
  local name=$1 dir; dir=$(generalized "$name")
  local r="$dir/report.json" f="$dir/files"
  local old new
  old=$(spec_get "$name" MACHINE_SID)
  new=$(jq -r .new_sid "$r")

  # The input is untouched.
  cmp -s "$dir/input.sha256" "$dir/input.sha256.after" || fail "$name: the input image changed"

  # The report.
  [ "$(jq -r .old_sid "$r")" = "$old" ] || fail "$name: report old_sid is not $old"
  [[ $new =~ ^S-1-5-21-[0-9]+-[0-9]+-[0-9]+$ ]] && [ "$new" != "$old" ] \
    || fail "$name: report new_sid '$new'"
  [[ $(jq -r .computer_name "$r") =~ ^WIN-[A-Z0-9]{11}$ ]] || fail "$name: computer_name"
  [ "$(jq -r .format "$r")" = vhd ] || fail "$name: format"
  [ "$(jq '.profiles_removed | length' "$r")" = "$(spec_users "$name" | awk '$4 == "profile" && $1 != 500' | wc -l)" ] \
    || fail "$name: profiles_removed does not list every non-Administrator profile"
  local vs; vs=$(jq -r .virtual_size "$r")
  [ $((vs % 1048576)) -eq 0 ] || fail "$name: virtual size $vs is not whole MiB"
  [ "$(stat -c %s "$dir/out.vhd")" -eq $((vs + 512)) ] || fail "$name: VHD file size"

  # The VHD: libvhdi reads it at its virtual size; its content is the
  # overlay's (input + changes) with every NTFS volume's unused clusters
  # zeroed as ntfs-3g's ntfswipe --unused zeroes them (and the sectors
  # past a volume's last whole cluster), byte for byte.
  if command -v vhdiinfo >/dev/null; then
    vhdiinfo "$dir/out.vhd" | grep -Eq "Media size.*\($vs bytes\)" \
      || fail "$name: vhdiinfo does not read $vs bytes"
  fi
  [ "$(jq -r .ntfs_volumes_mapped "$r")" -ge 1 ] || fail "$name: no NTFS volume's free clusters were mapped"
  free_space_oracle "$dir/overlay.qcow2" "$tmp/expect.raw"
  qemu-img convert -f vpc -O raw "$dir/out.vhd" "$tmp/out.raw"
  mft_oracle "$name" "$tmp/expect.raw" "$tmp/out.raw" "$r"
  /usr/bin/python3 "$top_srcdir/tests/sparse-cmp.py" "$tmp/expect.raw" "$tmp/out.raw" \
    || fail "$name: out.vhd is not the overlay with its free clusters zeroed"
  # A big file the golden machine deleted (DELETED_MIB, its data in free
  # clusters) is not in the output, which allocates no more than what its
  # volumes use (and 4 MiB: partition tables, the footer, rounding).
  local del; del=$(spec_get "$name" DELETED_MIB)
  if [ -n "$del" ]; then
    local din dout alloc
    din=$(LC_ALL=C grep -aoF 'DELETED-FILE-DATA.' "$(image "$name")" | wc -l)
    dout=$(LC_ALL=C grep -aoF 'DELETED-FILE-DATA.' "$tmp/out.raw" | wc -l)
    [ "$din" -ge $((del * 1048576 / 18 - 1)) ] || fail "$name: the input holds $din copies of the deleted file's pattern, not its $del MiB"
    [ "$dout" = 0 ] || fail "$name: the deleted file's data is in the output ($dout times)"
    alloc=$(($(du -B1 "$dir/out.vhd" | cut -f1)))
    [ "$alloc" -le $((used_bytes + (4 << 20))) ] \
      || fail "$name: out.vhd allocates $alloc bytes; its volumes use $used_bytes"
    echo "$name: the deleted $del MiB not in the output; out.vhd allocates $alloc bytes, its volumes use $used_bytes"
  fi
  # The kept profiles' files (not their hives, which winseal edits) read
  # back from the output (copied out by guestfish) byte for byte as
  # ntfs-3g's ntfscat reads them from the input's C:.
  local cp_ cs_ cz kept=0 rel
  cp_=$(c_part "$name")
  read -r cs_ cz < <(sfdisk -J "$(image "$name")" | jq -r ".partitiontable.partitions[$((cp_ - 1))] | \"\(.start) \(.size)\"")
  dd if="$(image "$name")" of="$tmp/in-c.vol" bs=1M iflag=skip_bytes,count_bytes skip=$((cs_ * 512)) \
    count=$((cz * 512)) conv=sparse status=none
  while IFS= read -r rel; do
    [ "$(ntfscat "$tmp/in-c.vol" "/Users/$rel" 2>/dev/null | sha256sum)" = "$(sha256sum < "$f/Users/$rel")" ] \
      || fail "$name: the kept file Users/$rel does not read back as the input holds it"
    kept=$((kept + 1))
  done < <(cd "$f/Users" && find . -type f ! -iname '*.dat' ! -path './Public/AccountPictures/*' | sed 's|^\./||')
  [ $kept -ge 4 ] || fail "$name: only $kept kept profile files to compare"
  # machine-ids: SYSTEM\RNG\Seed is new random bytes of the input's length.
  ntfscat "$tmp/in-c.vol" /Windows/System32/config/SYSTEM > "$tmp/in-SYSTEM" || fail "$name: ntfscat SYSTEM"
  if hivexget "$tmp/in-SYSTEM" RNG Seed > "$tmp/seed.in" 2> /dev/null; then
    hivexget "$f/config/SYSTEM" RNG Seed > "$tmp/seed.out" || fail "$name: RNG\\Seed is gone"
    [ "$(stat -c %s "$tmp/seed.in")" = "$(stat -c %s "$tmp/seed.out")" ] && ! cmp -s "$tmp/seed.in" "$tmp/seed.out" \
      || fail "$name: RNG\\Seed is not new random bytes of its old length"
  fi
  # secrets: the RDP certificate's key file is gone from the output's C:
  # (ntfsls), the other machine key stays; neither the autologon password,
  # nor the LSA secret, nor the key container's name is in the output.
  dd if="$tmp/out.raw" of="$tmp/out-c.vol" bs=1M iflag=skip_bytes,count_bytes skip=$((cs_ * 512)) \
    count=$((cz * 512)) conv=sparse status=none
  local mk=/ProgramData/Microsoft/Crypto/RSA/MachineKeys
  keys () { ntfsls -p "$mk" "$1" | grep -v '^\.\.\?$'; }
  [ "$(keys "$tmp/in-c.vol" | wc -l)" = 2 ] || fail "$name: the input holds $(keys "$tmp/in-c.vol" | wc -l) machine keys, not 2"
  [ "$(keys "$tmp/out-c.vol")" = "6d14e4b1d8ca773bab785d1be032546e_$(spec_get "$name" MACHINE_GUID)" ] \
    || fail "$name: machine keys left: $(keys "$tmp/out-c.vol" | tr '\n' ' ')"
  local pw s_; pw=$(spec_get "$name" AUTOLOGON_PASSWORD)
  for s_ in "$pw" "$(sed 's/./&\\x00/g' <<< "$pw")" LSA-SECRET-MARKER TSSecKeySet1 "$(sed 's/./&\\x00/g' <<< TSSecKeySet1)"; do
    ! LC_ALL=C grep -aqP "$s_" "$tmp/out.raw" || fail "$name: a removed secret ($s_) is still in the output"
  done
  # cleanup-files: ntfs-3g's ntfsls finds what it removes gone (the
  # folders left empty), in the input there.
  local j_
  nls () { ntfsls -p "$1" "$2" 2>/dev/null | grep -vxE '\.\.?' || true; }
  for j_ in pagefile.sys swapfile.sys Windows/MEMORY.DMP; do
    nls "/$(dirname "$j_")" "$tmp/in-c.vol" | grep -qixF "$(basename "$j_")" \
      || fail "$name: the input has no $j_"
    ! nls "/$(dirname "$j_")" "$tmp/out-c.vol" | grep -qixF "$(basename "$j_")" \
      || fail "$name: $j_ is still in the output"
  done
  for j_ in Windows/Temp Windows/Minidump Windows/Prefetch Windows/SoftwareDistribution/Download \
            Windows/SoftwareDistribution/DataStore Windows/Logs/CBS Windows/Logs/DISM \
            ProgramData/Microsoft/Windows/WER/ReportQueue ProgramData/Microsoft/Windows/WER/ReportArchive \
            ProgramData/Microsoft/Windows/WER/Temp Users/Administrator/AppData/Local/Temp; do
    [ -n "$(nls "/$j_" "$tmp/in-c.vol")" ] || fail "$name: the input's $j_ is empty"
    nls "/$(dirname "$j_")" "$tmp/out-c.vol" | grep -qixF "$(basename "$j_")" \
      || fail "$name: the folder $j_ is gone (its contents only should be)"
    [ -z "$(nls "/$j_" "$tmp/out-c.vol")" ] || fail "$name: $j_ is not empty in the output"
  done
  [ "$(jq '.operations["cleanup-files"].bytes_freed' "$r")" -ge $(( $(spec_get "$name" PAGEFILE_KIB) * 1024 )) ] \
    || fail "$name: cleanup-files reports fewer bytes freed than the paging file's"
  rm -f "$tmp/in-c.vol" "$tmp/in-SYSTEM" "$tmp/out-c.vol"
  # Nothing of the removed profiles' files is left in the whole output:
  # notes.txt (small: resident in its MFT record) and cache.bin (200000
  # bytes of 0x5A in clusters: 48 whole 4 KiB blocks of it per profile),
  # searched for byte by byte.  cache.bin lies in each profile's
  # AppData\Local\Temp, which cleanup-files empties in the kept profiles
  # too: no block of it is left at all.
  local zin zout removed
  removed=$(jq '.profiles_removed | length' "$r")
  zin=$(zblocks "$(image "$name")")
  zout=$(zblocks "$tmp/out.raw")
  [ "$removed" -ge 1 ] && [ "$zin" -ge $((48 * removed)) ] || fail "$name: the input holds $zin blocks of cache.bin data"
  [ "$zout" = 0 ] || fail "$name: $zout blocks of cache.bin data in the output (removed profiles' and Temp files)"
  local u
  for u in $(spec_users "$name" | awk '$4 == "profile" && $1 != 500 { print $2 }'); do
    ! LC_ALL=C grep -aqF "Notes of $u." "$tmp/out.raw" || fail "$name: \"Notes of $u.\" (a removed profile's file) is still in the output"
  done
  # The old machine's domain (its SID's 12 bytes) nowhere in the whole
  # output: hives, NTFS $Secure (old descriptors ntfs-3g keeps), boot
  # stores (BCD), free space.
  local left; left=$(count_bytes "$tmp/out.raw" "$(sid_hex "$old")")
  [ "$(count_bytes "$(image "$name")" "$(sid_hex "$old")")" -gt 0 ] || fail "$name: the old domain's bytes are not in the input"
  [ "$left" = 0 ] || fail "$name: the old SID's domain bytes occur $left times in the output"
  # Each NTFS volume of the output is sound for ntfs-3g's ntfsfix (-n:
  # nothing to fix), libfsntfs reads it, and ntfs-3g's ntfssecaudit -a
  # finds its shared security descriptors ($Secure: $SDS's first copy,
  # $SII, $SDH, every key in every list) sound.  (Not $SDS's mirror copy:
  # when $SDS's data ends off a 16-byte boundary, as ntfs-3g's appends
  # leave it, ntfssecaudit 1.5.0 reads a header past the end of the data
  # and reports a length left in its buffer; the bytes there are zeros.)
  local ps pz nv=0
  while read -r ps pz; do
    LC_ALL=C dd if="$tmp/out.raw" bs=1 skip=$((ps * 512 + 3)) count=8 status=none | grep -q '^NTFS    $' || continue
    dd if="$tmp/out.raw" of="$tmp/vol.raw" bs=512 skip="$ps" count="$pz" conv=sparse status=none
    ntfsfix -n "$tmp/vol.raw" > "$tmp/fix" 2>&1 || { cat "$tmp/fix"; fail "$name: ntfsfix -n fails on the volume at sector $ps"; }
    if command -v fsntfsinfo > /dev/null; then
      fsntfsinfo "$tmp/vol.raw" > /dev/null 2>&1 || fail "$name: libfsntfs cannot read the volume at sector $ps"
    fi
    if command -v ntfssecaudit > /dev/null; then
      ntfssecaudit -a "$tmp/vol.raw" > "$tmp/audit" 2>&1 || fail "$name: ntfssecaudit -a fails on the volume at sector $ps"
      local sec_
      for sec_ in '$SDS-1' '$SII' '$SDH'; do
        grep -qxF "0 errors in $sec_" "$tmp/audit" || fail "$name: ntfssecaudit -a: errors in $sec_ of the volume at sector $ps"
      done
      grep -q "All keys are present in all lists" "$tmp/audit" || fail "$name: ntfssecaudit -a: \$Secure keys missing (sector $ps)"
    fi
    nv=$((nv + 1))
  done < <(sfdisk -J "$tmp/out.raw" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size)"')
  [ $nv -ge 1 ] || fail "$name: no NTFS volume in the output"
  rm -f "$tmp/expect.raw" "$tmp/out.raw" "$tmp/vol.raw"

  # Hives: libregf parses each one; the old domain's 12 bytes are in none,
  # nor its text in ASCII or UTF-16 (free cells and slack included).
  local hex; hex=$(sid_hex "$old")
  local u16; u16=$(printf %s "$old" | iconv -f ASCII -t UTF-16LE | od -An -v -tx1 | tr -d ' \n')
  local hives=("$f"/config/{SYSTEM,SOFTWARE,SAM,SECURITY,DEFAULT})
  while IFS= read -r h; do hives+=("$h"); done < <(find "$f/Users" -iname 'ntuser.dat' -o -iname 'usrclass.dat')
  [ ${#hives[@]} -ge 7 ] || fail "$name: too few hives copied out (${#hives[@]})"
  for h in "${hives[@]}"; do
    if command -v regfexport >/dev/null; then
      regfexport "$h" > /dev/null 2> "$tmp/export.err" || fail "$name: regfexport fails on ${h#$f/}"
      [ ! -s "$tmp/export.err" ] || fail "$name: regfexport reports errors on ${h#$f/}: $(head -c 300 "$tmp/export.err")"
    fi
    [ "$(count_bytes "$h" "$hex")" = 0 ] || fail "$name: the old SID's bytes are still in ${h#$f/}"
    ! LC_ALL=C grep -aq -- "$old" "$h" || fail "$name: the old SID string is still in ${h#$f/}"
    [ "$(count_bytes "$h" "$u16")" = 0 ] || fail "$name: the old SID as UTF-16 text is still in ${h#$f/}"
  done

  # RegRipper: users under the new SID; profiles renamed; RDP denied.
  if command -v regripper >/dev/null; then
    regripper -r "$f/config/SAM" -p samparse > "$tmp/sam" 2>/dev/null || fail "$name: samparse"
    local nsid; nsid=$(grep -c "^SID *: $new-" "$tmp/sam" || true)
    local nusers; nusers=$(grep -c "^Username" "$tmp/sam" || true)
    [ "$nusers" -gt 0 ] && [ "$nsid" = "$nusers" ] \
      || fail "$name: samparse shows $nsid of $nusers users under $new"
    ! grep -q -- "$old" "$tmp/sam" || fail "$name: samparse still shows $old"
    regripper -r "$f/config/SOFTWARE" -p profilelist > "$tmp/pl" 2>/dev/null || fail "$name: profilelist"
    grep -q "^SID *: $new-500$" "$tmp/pl" || fail "$name: profilelist lacks $new-500"
    [ "$(grep -c '^SID *: S-1-5-21-' "$tmp/pl")" = 1 ] \
      || fail "$name: profilelist still lists other local profiles"
    regripper -r "$f/config/SYSTEM" -p termserv > "$tmp/ts" 2>/dev/null || fail "$name: termserv"
    grep -q "fDenyTSConnections = 1" "$tmp/ts" || fail "$name: termserv does not show RDP denied"
  fi

  # machine-ids, read back by hivexget: a new MachineGuid, no SQM
  # MachineId, no WSUS client identity, a new RNG seed of the old length.
  local guid; guid=$(hivexget "$f/config/SOFTWARE" 'Microsoft\Cryptography' MachineGuid)
  [[ $guid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] \
    && [ "$guid" != "$(spec_get "$name" MACHINE_GUID)" ] || fail "$name: MachineGuid is '$guid'"
  # network-state, read back by hivexget and hivexsh: no DHCP lease on
  # any interface (EnableDHCP kept), no DHCPv6 DUID, no 169.254 route
  # (others kept), no Network List profile, signature or Nla cache.
  local cs ifk vals
  for cs in ControlSet001 ControlSet002; do
    for ifk in $(printf 'cd %s\\Services\\Tcpip\\Parameters\\Interfaces\nls\n' "$cs" | hivexsh "$f/config/SYSTEM" 2>/dev/null); do
      vals=$(hivexget "$f/config/SYSTEM" "$cs\Services\Tcpip\Parameters\Interfaces\\$ifk" 2>/dev/null || true)
      ! grep -Eiq '^"(Dhcp[^"]*|Lease[^"]*|T1|T2)"=' <<< "$vals" || fail "$name: $cs interface $ifk keeps DHCP lease values: $(grep -Ei '^"(Dhcp|Lease|T1|T2)' <<< "$vals" | head -3)"
    done
    ! hivexget "$f/config/SYSTEM" "$cs\Services\Tcpip6\Parameters" Dhcpv6DUID > /dev/null 2>&1 || fail "$name: $cs keeps Dhcpv6DUID"
    vals=$(hivexget "$f/config/SYSTEM" "$cs\Services\Tcpip\Parameters\PersistentRoutes" 2>/dev/null || true)
    ! grep -q '^"169\.254\.' <<< "$vals" || fail "$name: $cs keeps a 169.254 persistent route"
  done
  if [ -z "$(spec_get "$name" REAL_HIVES)" ]; then
    [ "$(hivexget "$f/config/SYSTEM" "ControlSet001\Services\Tcpip\Parameters\Interfaces\\$(spec_get "$name" NIC_GUID)" EnableDHCP)" = 1 ] \
      || fail "$name: EnableDHCP was not kept"
    hivexget "$f/config/SYSTEM" 'ControlSet001\Services\Tcpip\Parameters\PersistentRoutes' | grep -q '^"10\.10\.0\.0,' \
      || fail "$name: a route other than 169.254's was removed"
  fi
  local nk
  for nk in Profiles 'Signatures\Managed' 'Signatures\Unmanaged' 'Nla\Cache'; do
    [ -z "$(printf 'cd Microsoft\\Windows NT\\CurrentVersion\\NetworkList\\%s\nls\n' "$nk" | hivexsh "$f/config/SOFTWARE" 2>/dev/null)" ] \
      || fail "$name: NetworkList\\$nk still has subkeys"
  done
  # secrets, read back by hivexget and hivexsh: no autologon password
  # (LSA secret, Winlogon), AutoAdminLogon 0, no last logged-on user, no
  # RDP certificate in the store nor its hash on the listener.
  ! hivexget "$f/config/SECURITY" 'Policy\Secrets\DefaultPassword\CurrVal' > /dev/null 2>&1 \
    || fail "$name: the LSA secret DefaultPassword is still there"
  hivexget "$f/config/SECURITY" 'Policy\Secrets' > /dev/null 2>&1 || fail "$name: Policy\\Secrets is gone"
  ! hivexget "$f/config/SOFTWARE" 'Microsoft\Windows NT\CurrentVersion\Winlogon' DefaultPassword > /dev/null 2>&1 \
    || fail "$name: Winlogon's DefaultPassword is still there"
  [ "$(hivexget "$f/config/SOFTWARE" 'Microsoft\Windows NT\CurrentVersion\Winlogon' AutoAdminLogon)" = 0 ] \
    || fail "$name: AutoAdminLogon is not 0"
  ! hivexget "$f/config/SOFTWARE" 'Microsoft\Windows\CurrentVersion\Authentication\LogonUI' LastLoggedOnUser > /dev/null 2>&1 \
    || fail "$name: LogonUI's LastLoggedOnUser is still there"
  [ -z "$(printf 'cd Microsoft\\SystemCertificates\\Remote Desktop\\Certificates\nls\n' | hivexsh "$f/config/SOFTWARE" 2>/dev/null)" ] \
    || fail "$name: the Remote Desktop certificate store is not empty"
  for cs in ControlSet001 ControlSet002; do
    ! hivexget "$f/config/SYSTEM" "$cs\Control\Terminal Server\WinStations\RDP-Tcp" SSLCertificateSHA1Hash > /dev/null 2>&1 \
      || fail "$name: $cs keeps the RDP listener's SSLCertificateSHA1Hash"
  done
  # Nor are the old ones anywhere in SOFTWARE (free cells included).
  local id idhex
  for id in "$(spec_get "$name" MACHINE_GUID)" "$(spec_get "$name" SUS_CLIENT_ID)" "$(spec_get "$name" SQM_MACHINE_ID)"; do
    idhex=$(printf %s "$id" | iconv -f ASCII -t UTF-16LE | od -An -v -tx1 | tr -d ' \n')
    [ "$(count_bytes "$f/config/SOFTWARE" "$idhex")" = 0 ] || fail "$name: the old identifier $id is still in SOFTWARE"
  done
  local v
  ! hivexget "$f/config/SOFTWARE" 'Microsoft\SQMClient' MachineId > /dev/null 2>&1 \
    || fail "$name: SQMClient\\MachineId is still there"
  for v in SusClientId SusClientIdValidation PingID AccountDomainSid; do
    ! hivexget "$f/config/SOFTWARE" 'Microsoft\Windows\CurrentVersion\WindowsUpdate' "$v" > /dev/null 2>&1 \
      || fail "$name: WindowsUpdate\\$v is still there"
  done

  # The answer file, by the target's policy.
  local target; target=$(spec_get "$name" TEST_TARGET)
  local cbua="$f/cb/Cloudbase Solutions/Cloudbase-Init/conf/Unattend.xml"
  if [ "$target" = azure ]; then
    # Azure provisions with its own answer file: none that Setup reads
    # before it (the fixture had two stale ones and UnattendFile).
    local p
    for p in Panther/unattend.xml Panther/autounattend.xml Panther/Unattend/unattend.xml Panther/Unattend/autounattend.xml; do
      [ ! -e "$f/$p" ] || fail "$name: --target azure left Windows\\$p"
    done
    [ -z "$(hivexget "$f/config/SYSTEM" 'Setup' UnattendFile 2>/dev/null)" ] \
      || fail "$name: SYSTEM\\Setup UnattendFile still names an answer file"
    [ "$(jq -r '.operations.unattend.target' "$r")" = azure ] || fail "$name: the report's unattend target"
  elif [ "$target" = openstack ] && [ -f "$cbua" ]; then
    # The image's own Cloudbase-Init answer file, byte for byte.
    cmp -s "$cbua" "$f/Panther/unattend.xml" || fail "$name: Panther\\unattend.xml is not Cloudbase-Init's Unattend.xml"
    xmllint --noout "$f/Panther/unattend.xml" || fail "$name: unattend.xml is not well-formed"
  else
    local ua="$f/Panther/unattend.xml"
    xmllint --noout "$ua" || fail "$name: unattend.xml is not well-formed"
    local x="declare namespace u='urn:schemas-microsoft-com:unattend';"
    _xp () { xmllint --xpath "string($1)" "$ua" 2>/dev/null; }
    local ns="*[local-name()='unattend' and namespace-uri()='urn:schemas-microsoft-com:unattend']"
    local set="$ns/*[local-name()='settings']"
    [ "$(_xp "count(/$ns)")" = 1 ] || fail "$name: unattend root/namespace"
    [ "$(_xp "$set[@pass='generalize']/*[@name='Microsoft-Windows-PnpSysprep']/*[local-name()='PersistAllDeviceInstalls']")" = true ] \
      || fail "$name: PersistAllDeviceInstalls"
    [ "$(_xp "$set[@pass='generalize']/*[@name='Microsoft-Windows-PnpSysprep']/*[local-name()='DoNotCleanUpNonPresentDevices']")" = true ] \
      || fail "$name: DoNotCleanUpNonPresentDevices"
    [ "$(_xp "$set[@pass='specialize']/*[@name='Microsoft-Windows-Shell-Setup']/*[local-name()='ComputerName']")" = '*' ] \
      || fail "$name: ComputerName is not *"
    [ "$(_xp "$set[@pass='specialize']/*[@name='Microsoft-Windows-Shell-Setup']/*[local-name()='TimeZone']")" = UTC ] \
      || fail "$name: TimeZone"
    [ "$(_xp "$set[@pass='oobeSystem']/*[@name='Microsoft-Windows-International-Core']/*[local-name()='UserLocale']")" = "$(spec_get "$name" LOCALE)" ] \
      || fail "$name: UserLocale is not the image's locale"
    [ "$(_xp "count(//*[local-name()='component'][@processorArchitecture!='amd64'])")" = 0 ] \
      || fail "$name: a component is not amd64"

  fi

  # Cloud agents back in their first-boot state (guestfish copied the
  # output's agent folders; hivexsh/hivexget read the hives; xmllint
  # EC2Config's settings).
  local empty
  empty () { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }
  if [ -n "$(spec_get "$name" EC2LAUNCH2)" ]; then
    [ ! -e "$f/pd/Amazon/EC2Launch/state/.run-once" ] || fail "$name: EC2Launch v2's .run-once is still there"
    [ ! -e "$f/pd/Amazon/EC2Launch/state/state.json" ] || fail "$name: EC2Launch v2's state.json is still there"
    empty "$f/pd/Amazon/EC2Launch/log" || fail "$name: EC2Launch v2's log folder is not empty"
    [ -f "$f/pd/Amazon/EC2Launch/config/agent-config.yml" ] || fail "$name: EC2Launch v2's config is gone"
  fi
  if [ -n "$(spec_get "$name" EC2LAUNCH1)" ]; then
    grep -q 'InitializeInstance.ps1" -Schedule' "$f/Setup/Scripts/SetupComplete.cmd" \
      && grep -q '^schtasks.exe /Run /TN "Amazon Ec2 Launch - Instance Initialization"' "$f/Setup/Scripts/SetupComplete.cmd" \
      || fail "$name: SetupComplete.cmd does not schedule and start EC2Launch v1's initialization"
    empty "$f/pd/Amazon/EC2-Windows/Launch/Log" || fail "$name: EC2Launch v1's Log folder is not empty"
    [ -f "$f/pd/Amazon/EC2-Windows/Launch/Config/LaunchConfig.json" ] || fail "$name: EC2Launch v1's config is gone"
  fi
  if [ -n "$(spec_get "$name" EC2CONFIG)" ]; then
    local cx="$f/pf/Amazon/Ec2ConfigService/Settings/Config.xml" pl
    for pl in Ec2SetPassword Ec2SetComputerName Ec2HandleUserData; do
      [ "$(xmllint --xpath "string(//Plugin[Name='$pl']/State)" "$cx")" = Enabled ] \
        || fail "$name: EC2Config's $pl is not Enabled"
    done
    [ "$(xmllint --xpath "string(//Plugin[Name='Ec2InitializeDrives']/State)" "$cx")" = Enabled ] \
      || fail "$name: EC2Config's other plugin changed"
    [ "$(xmllint --xpath "string(//GlobalSettings/ManageShutdown)" "$cx")" = true ] \
      || fail "$name: EC2Config's GlobalSettings changed"
    empty "$f/pf/Amazon/Ec2ConfigService/Logs" || fail "$name: EC2Config's Logs folder is not empty"
  fi
  if [ -n "$(spec_get "$name" CLOUDBASE)" ]; then
    [ -z "$(printf 'cd Cloudbase Solutions\\Cloudbase-Init\nls\n' | hivexsh "$f/config/SOFTWARE" 2>/dev/null)" ] \
      || fail "$name: Cloudbase-Init still has an instance's plugin state"
    hivexget "$f/config/SOFTWARE" 'Cloudbase Solutions\Cloudbase-Init' > /dev/null 2>&1 \
      || fail "$name: the Cloudbase-Init key itself is gone"
    empty "$f/cb/Cloudbase Solutions/Cloudbase-Init/log" || fail "$name: Cloudbase-Init's log folder is not empty"
    [ -f "$cbua" ] || fail "$name: Cloudbase-Init's Unattend.xml is gone"
  fi
  if [ -n "$(spec_get "$name" AZURE_AGENT)" ]; then
    empty "$f/az/WindowsAzure/Logs" || fail "$name: the Azure VM agent's Logs folder is not empty"
    ls "$f/az/WindowsAzure"/GuestAgent_*/WindowsAzureGuestAgent.exe > /dev/null 2>&1 \
      || fail "$name: the Azure VM agent's program is gone"
  fi
  local nagents=0 v
  for v in EC2LAUNCH2 EC2LAUNCH1 EC2CONFIG CLOUDBASE AZURE_AGENT; do
    [ -n "$(spec_get "$name" $v)" ] && nagents=$((nagents + 1))
  done
  [ "$(jq '.operations["cloud-agents"].agents | length' "$r")" = "$nagents" ] \
    || fail "$name: the report names $(jq -c '[.operations["cloud-agents"].agents[].agent]' "$r"), not $nagents agents"
  if [ -n "$(spec_get "$name" PROVIDERS)" ]; then
    [ "$(jq '.operations["sysprep-providers"].providers | length' "$r")" = 2 ] \
      || fail "$name: the report does not list the 2 Sysprep providers"
    [ "$(jq '.operations["sysprep-providers"].not_run' "$r")" = 1 ] || fail "$name: not_run is not 1"
    jq -e '.warnings | map(select(test("Generalize provider VMAgentDisabler.dll"))) | length == 1' "$r" > /dev/null \
      || fail "$name: no warning names the generalize provider VMAgentDisabler.dll"
  fi

  # SetupComplete.cmd: CRLF everywhere, one winseal block, RDP re-opened.
  local sc="$f/Setup/Scripts/SetupComplete.cmd"
  [ -f "$sc" ] || fail "$name: no SetupComplete.cmd"
  [ "$(grep -c $'[^\r]$' "$sc" || true)" = 0 ] || fail "$name: SetupComplete.cmd has LF-only lines"
  [ "$(grep -c '^REM >>> winseal' "$sc")" = 1 ] || fail "$name: winseal blocks in SetupComplete.cmd"
  grep -q 'fDenyTSConnections /t REG_DWORD /d 0' "$sc" || fail "$name: SetupComplete does not re-open RDP"

  # Reseal state, logs, profiles.
  grep -q "^ImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" "$f/Setup/State/State.ini" \
    || fail "$name: State.ini"
  [ -z "$(find "$f" -iname '*.evtx')" ] || fail "$name: event logs left"
  for u in $(spec_users "$name" | awk '$4 == "profile" && $1 != 500 { print $2 }'); do
    [ ! -e "$f/Users/$u" ] || fail "$name: profile $u is still there"
  done
  [ -d "$f/Users/Administrator" ] && [ -d "$f/Users/Default" ] || fail "$name: kept profiles missing"

  # NTFS security descriptors (read back by ntfs-3g's ntfssecaudit): each
  # the old one with only the domain moved; recycle bins of removed
  # profiles gone, the others and SID-named folders renamed.
  if [ -f "$dir/acl.after" ]; then
    local args=() rid tu
    for u in $(spec_users "$name" | awk '$4 == "profile" && $1 != 500 { print $1 ":" $2 }'); do
      args+=("-/Users/${u#*:}" "-/\$Recycle.Bin/$old-${u%%:*}")
    done
    tu=$(spec_users "$name" | awk '$1 >= 1000 && $3 == "enabled" { print $1; exit }')
    if [ -n "$tu" ]; then
      args+=(+/ProgramData/winseal-acl/object-aces.txt +/ProgramData/winseal-acl/unknown-ace.txt
             +/ProgramData/winseal-acl/tree/sub/deeper/c.txt +/Windows/System32/Tasks/winseal/BuildAgent
             "+/Users/Public/AccountPictures/$old-$tu")
      spec_users "$name" | grep -q '^500 ' && args+=("+/\$Recycle.Bin/$old-500")
    fi
    perl "$top_srcdir/tests/acl-compare.pl" "$dir/acl.before" "$dir/acl.after" "$old" "$new" "${args[@]}" \
      > "$tmp/acl" || fail "$name: NTFS descriptors: $(cat "$tmp/acl")"
    echo "$name: $(cat "$tmp/acl")"
    [ "$(jq '.operations["sid-reset"].file_system.descriptors_rewritten' "$r")" -gt 0 ] \
      || fail "$name: report: no descriptor rewritten"
    # The scheduled task runs as the new SID; its TaskCache Hash is the
    # file's SHA-256 (hivexregedit reads the hive).
    if [ -n "$tu" ]; then
      [ -f "$f/task.xml" ] || fail "$name: no task file in the output"
      iconv -f UTF-16 -t UTF-8 "$f/task.xml" | grep -q "<UserId>$new-$tu</UserId>" \
        || fail "$name: the task does not run as $new-$tu"
      ! iconv -f UTF-16 -t UTF-8 "$f/task.xml" | grep -q -- "$old" || fail "$name: the task still names $old"
      local sum hash
      sum=$(sha256sum < "$f/task.xml" | cut -c1-64)
      hash=$(hivexregedit --export --prefix 'HKEY_LOCAL_MACHINE\SOFTWARE' "$f/config/SOFTWARE" \
               'Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tasks' 2>/dev/null \
             | perl -0ne 'print lc $1 =~ s/[^0-9a-f]//gr if /"Hash"=hex(?:\(3\))?:((?:[0-9a-f,]|\\\s*)+)/i')
      [ "$hash" = "$sum" ] || fail "$name: TaskCache Hash '$hash' is not the task file's SHA-256 $sum"
    fi
  fi

  # winseal's own verify agrees (with the old SID to look for).
  winseal verify ${target:+--target "$target"} --old-sid "$old" "$dir/out.vhd" > "$tmp/verify" \
    || { cat "$tmp/verify"; fail "$name: winseal verify fails on the output"; }
  if [ -n "$target" ]; then
    grep -q '^ok   target$' "$tmp/verify" || fail "$name: verify --target $target ran no readiness check"
  fi
  echo "$name: generalized $old -> $new; all checks hold"
}
