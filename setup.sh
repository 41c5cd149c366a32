#!/bin/bash
# winseal: one-step set-up on a fresh Debian bookworm machine.
#
#   ./setup.sh demo    install what is missing, build, and run winseal on a
#                      sample Windows image built from the fixtures
#   ./setup.sh check   install what is missing, build, and run the test suite
#
# Both run as root (to install Debian packages); when every package is
# already installed they also run as any user.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
what=${1:-}
case "$what" in
  demo|check) ;;
  *) echo "usage: ./setup.sh demo|check" >&2; exit 2 ;;
esac

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
# Build tools and libraries, the libguestfs appliance (with a kernel for it
# and ntfs-3g inside), the independent tools the tests use as oracles, and
# a one-node Slurm (with munge) that test-slurm.sh starts by itself.
packages=(
  gcc make autoconf automake pkg-config libc6-dev perl xz-utils
  libguestfs-dev libguestfs-tools guestfs-tools libhivex-dev libhivex-bin
  libxml2-dev libxml2-utils zlib1g-dev libzstd-dev libjson-c-dev
  qemu-utils ntfs-3g "linux-image-$arch" fdisk e2fsprogs dosfstools jq file
  regripper libregf-utils chntpw samdump2
  libvhdi-utils python3-libvhdi libvmdk-utils libqcow-utils libfsntfs-utils valgrind
  slurmctld slurmd slurm-client munge
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed: cannot reach the Debian archive"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/winseal-apt.log 2>&1; then
    tail -n 20 /tmp/winseal-apt.log >&2
    failed=()
    for p in "${missing[@]}"; do
      apt-cache show "$p" >/dev/null 2>&1 || failed+=("$p")
    done
    die "cannot install the Debian packages ${failed[*]:-${missing[*]}} (apt-get log: /tmp/winseal-apt.log)"
  fi
fi
ls /boot/vmlinuz-* >/dev/null 2>&1 \
  || die "no kernel in /boot: the libguestfs appliance needs one (apt-get install linux-image-$arch)"

# Build.
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
  say "bootstrapping (autoreconf)"
  autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; die "autoreconf failed"; }
fi
if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
  say "configuring"
  ./configure --enable-werror -q || die "configure failed (see config.log)"
fi
say "building"
make -s -j"$(nproc)" >/dev/null || { make; die "build failed"; }

case "$what" in
demo)
  say "building the sample image (Windows Server 2022 fixture)"
  builddir=$here fixtures/build-fixtures.sh "$here/demo" ws2022 >/dev/null
  say "running: winseal generalize demo/ws2022.img -o demo/ws2022-sealed.vhd"
  ./winseal generalize demo/ws2022.img -o demo/ws2022-sealed.vhd
  # The sample's machine SID before sealing: verify looks for it in the
  # hives, NTFS security descriptors, folder names and scheduled tasks.
  old=$(sed -n 's/^MACHINE_SID=//p' fixtures/images/ws2022.spec)
  say "running: winseal verify --old-sid $old demo/ws2022-sealed.vhd"
  ./winseal verify --old-sid "$old" demo/ws2022-sealed.vhd
  ;;
check)
  status=0
  make -j"$(nproc)" check || status=$?
  if [ -f test-suite.log ]; then
    pass=0 fail=0 skip=0
    for t in $(find tests -name '*.trs'); do
      r=$(sed -n 's/^:test-result: //p' "$t" | head -n1)
      case "$r" in
        PASS) pass=$((pass+1)) ;;
        SKIP) skip=$((skip+1)) ;;
        *) fail=$((fail+1)) ;;
      esac
    done
    [ $status -eq 0 ] || sed -n '/^FAIL:/,/^$/p;/^ERROR:/,/^$/p' test-suite.log | head -n 200 >&2
    echo "$pass passed, $fail failed, $skip skipped"
    # The slowest tests (each test's log ends with its wall time).
    grep -H '^# test wall time: ' tests/*.log 2>/dev/null \
      | sed 's/^tests\/\(.*\)\.log:# test wall time: \([0-9]*\)s$/\2 \1/' \
      | sort -rn | head -n 8 | awk '{ printf "  %5ss %s\n", $1, $2 }' >&2 || true
  fi
  exit $status
  ;;
esac
