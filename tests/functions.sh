# winseal tests: shared helpers, sourced by every tests/test-*.sh.
set -eu

: "${top_srcdir:?run the tests with make check}"
: "${FIXTURES_DIR:=$top_builddir/tests/images}"
: "${WINSEAL:=$top_builddir/winseal}"
VG=${VG:-}

# Third-party libguestfs tools need TCG on hosts whose KVM aborts qemu
# (DESIGN.md §6).  winseal falls back by itself; test-tcg-fallback.sh
# checks that without this setting.
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}

fail () { echo "FAIL: $*" >&2; exit 1; }
skip () { echo "SKIP: $*"; exit 77; }

# requires CMD...: skip the test unless the command runs.
requires () { "$@" >/dev/null 2>&1 || skip "'$*' is not available"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/winseal-test.XXXXXX")
# The test's wall time goes to its log (setup.sh check lists the slowest).
cleanup () { rm -rf "$tmp"; echo "# test wall time: ${SECONDS}s"; }
trap cleanup EXIT

# Run winseal (under valgrind when make check-valgrind set VG).
winseal () { $VG "$WINSEAL" "$@"; }

image () {
  local f="$FIXTURES_DIR/$1.img"
  [ -f "$f" ] || fail "fixture image $f is missing (make check builds it)"
  echo "$f"
}

# spec_get IMAGE KEY: a value from fixtures/images/IMAGE.spec (with its
# INCLUDEs; the last assignment wins).
spec_lines () {
  local f="$top_srcdir/fixtures/images/${1%.spec}.spec" line
  [ -f "$f" ] || fail "no fixture spec $f"
  while IFS= read -r line; do
    case "$line" in
      INCLUDE=*) spec_lines "${line#INCLUDE=}" ;;
      ''|'#'*) ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < "$f"
}
spec_get () {
  spec_lines "${1%.spec}" | sed -n "s/^$2=//p" | tail -n1
}
# spec_users IMAGE: "rid name enabled|disabled profile|noprofile", one per
# user, later lines overriding earlier ones with the same RID, by RID.
spec_users () {
  spec_lines "$1" | sed -n 's/^USER=//p' \
    | awk -F: '{ u[$1] = $1 " " $2 " " $5 " " $6 } END { for (r in u) print u[r] }' \
    | sort -n
}

# with_lock FILE CMD...: run CMD holding an exclusive lock (tests run in
# parallel and share cached results).
with_lock () { local l=$1; shift; ( flock 9; "$@" ) 9>"$l"; }

# inspect_json IMAGE: winseal inspect --json of a fixture, cached beside
# the image while neither the image nor winseal has changed.
inspect_json () {
  local img; img=$(image "$1")
  local out="$FIXTURES_DIR/$1.inspect${VG:+.valgrind}.json"
  _inspect () {
    if [ ! -s "$out" ] || [ "$img" -nt "$out" ] || [ "$WINSEAL" -nt "$out" ]; then
      winseal inspect --json "$img" > "$out.tmp" || { rm -f "$out.tmp"; return 1; }
      mv "$out.tmp" "$out"
    fi
  }
  with_lock "$out.lock" _inspect || fail "winseal inspect $1 failed"
  cat "$out"
}

# guest_hives: copy the hives of the three good fixtures out of the images
# with guestfish (one appliance launch), into $FIXTURES_DIR/hives/NAME/.
guest_hives () {
  local dir="$FIXTURES_DIR/hives"
  _extract () {
    local stamp="$dir/.stamp" i
    if [ -f "$stamp" ] && [ -z "$(find "$FIXTURES_DIR" -maxdepth 1 -name '*.img' -newer "$stamp")" ]; then
      return 0
    fi
    rm -rf "$dir"
    local args=() script="run" n=0 letters=(a b c)
    for i in ws2022 win10 ws2012r2; do
      args+=(-a "$(image $i)")
      local part; part=$(spec_lines $i | sed -n 's/^PART=\([0-9]*\):ntfs:[^:]*:[^:]*:[^:]*:c:.*/\1/p')
      mkdir -p "$dir/$i"
      script="$script
mount-ro /dev/sd${letters[$n]}$part /
copy-out /Windows/System32/config $dir/$i
copy-out /Users $dir/$i
umount /"
      n=$((n+1))
    done
    echo "$script" | guestfish --ro --format=raw "${args[@]}" >/dev/null
    touch "$stamp"
  }
  mkdir -p "$dir"
  with_lock "$FIXTURES_DIR/hives.lock" _extract || fail "cannot copy hives out of the fixtures"
  echo "$dir"
}

# compressible N: N bytes of repetitive text on stdout.
compressible () { ( set +o pipefail; yes "winseal test data, compressible line $1" | head -c "$1" ); }

# c_part IMAGE: the partition number of the fixture's C: volume.
c_part () {
  spec_lines "$1" | sed -n 's/^PART=\([0-9]*\):ntfs:[^:]*:[^:]*:[^:]*:c:.*/\1/p'
}

# generalized IMAGE: run `winseal generalize` on a fixture once (shared by
# the tests, cached while neither the image nor winseal changed) into
# $FIXTURES_DIR/gen/IMAGE/: out.vhd, overlay.qcow2 (--keep-overlay),
# report.json, input.sha256 / input.sha256.after (the input before and
# after), and files/ holding what guestfish copies out of out.vhd
# (config, Users, Panther, Setup, winevt).
generalized () {
  local name=$1 img; img=$(image "$1")
  local dir="$FIXTURES_DIR/gen${VG:+.valgrind}/$name"
  _generalize () {
    if [ -f "$dir/.stamp" ] && [ ! "$img" -nt "$dir/.stamp" ] && [ ! "$WINSEAL" -nt "$dir/.stamp" ]; then
      return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir/files"
    sha256sum < "$img" > "$dir/input.sha256"
    # The image's spec names the cloud target it is generalized for.
    local target; target=$(spec_get "$name" TEST_TARGET)
    winseal generalize --json --no-progress --keep-overlay "$dir/overlay.qcow2" \
      ${target:+--target "$target"} "$img" -o "$dir/out.vhd" > "$dir/report.json" 2> "$dir/stderr" \
      || { cat "$dir/stderr" >&2; return 1; }
    sha256sum < "$img" > "$dir/input.sha256.after"
    mkdir -p "$dir/files/pf" "$dir/files/pd" "$dir/files/cb" "$dir/files/az"
    # (The agents' folders are on some images only: their absence is not
    # an error.)
    guestfish --ro --format=vpc -a "$dir/out.vhd" > /dev/null 2> >(grep -v 'is not a file or directory$' >&2) <<EOS
run
mount-ro /dev/sda$(c_part "$name") /
copy-out /Windows/System32/config $dir/files
copy-out /Users $dir/files
-copy-out /Windows/Panther $dir/files
copy-out /Windows/Setup $dir/files
-copy-out /Windows/System32/winevt $dir/files
-copy-out "/Program Files/Amazon" $dir/files/pf
-copy-out /ProgramData/Amazon $dir/files/pd
-copy-out "/Program Files/Cloudbase Solutions" $dir/files/cb
-copy-out /WindowsAzure $dir/files/az
EOS
    # C:'s NTFS security descriptors before and after, as ntfs-3g's
    # ntfssecaudit reads them from the volume, and the task file.
    if command -v ntfssecaudit >/dev/null; then
      local part start size
      part=$(c_part "$name")
      read -r start size < <(sfdisk -d "$img" | sed -n "s|^$img$part : start= *\([0-9]*\), size= *\([0-9]*\).*|\1 \2|p")
      [ -n "$size" ] || { echo "cannot find partition $part of $img" >&2; return 1; }
      local vol
      for vol in "$img:acl.before" "$dir/out.vhd:acl.after"; do
        dd if="${vol%:*}" of="$dir/c.ntfs" bs=1M iflag=skip_bytes,count_bytes \
           skip=$((start * 512)) count=$((size * 512)) conv=sparse status=none
        ntfssecaudit -b "$dir/c.ntfs" / > "$dir/${vol##*:}" 2>/dev/null \
          || { echo "ntfssecaudit cannot read C: of ${vol%:*}" >&2; return 1; }
      done
      ntfscat "$dir/c.ntfs" /Windows/System32/Tasks/winseal/BuildAgent > "$dir/files/task.xml" 2>/dev/null \
        || rm -f "$dir/files/task.xml"
      rm -f "$dir/c.ntfs"
    fi
    touch "$dir/.stamp"
  }
  mkdir -p "$(dirname "$dir")"
  with_lock "$dir.lock" _generalize || fail "winseal generalize $name failed"
  echo "$dir"
}

# count_bytes FILE HEX: how many times the bytes (hex) occur in FILE
# (read in pieces: whole disk images too; any byte, newlines included).
count_bytes () {
  perl -e 'open my $f, "<:raw", $ARGV[0] or die "$ARGV[0]: $!\n"; my $p = pack "H*", $ARGV[1];
           my ($n, $keep, $buf) = (0, "", ""); my $l = length $p;
           while (read $f, $buf, 16 << 20) { my $d = $keep . $buf; $n += () = $d =~ /\Q$p\E/g;
             $keep = length $d >= $l ? substr $d, 1 - $l : $d; $keep = "" if $l == 1;
             $n -= () = $keep =~ /\Q$p\E/g; }
           print "$n\n"' "$1" "$2"
}

# sid_hex SID: the 12 bytes of a machine SID's three sub-authorities
# (little-endian), as hex.
sid_hex () {
  echo "$1" | awk -F- '{ for (i = 5; i <= 7; i++) { v = $i; printf "%02x%02x%02x%02x", v % 256, int(v / 256) % 256, int(v / 65536) % 256, int(v / 16777216) % 256 } print "" }'
}
