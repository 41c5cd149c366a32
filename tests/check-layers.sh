#!/bin/bash
# The layers' one direction of dependency (README, Layout):
#   util -> win -> registry -> guest -> generalize -> job -> cli
# A file may include headers of its own layer or a lower one, always
# named with their layer ("registry/hive.h").  formats/ is a library of
# its own: it includes nothing of src/, and its drivers' header
# (format-int.h) is for formats/ (and its unit test and fuzzers) only.
# win/ and helper/ (the static in-appliance helper) use no other layer;
# generalize/fsids.c shares helper/helper-proto.h, the wire format.
# Fails, naming each offending line, when a lower layer includes a
# higher one.
set -u
src=${top_srcdir:-.}
rank () {
  case $1 in
    util) echo 0 ;; win) echo 1 ;; registry) echo 2 ;; guest) echo 3 ;;
    generalize) echo 4 ;; job) echo 5 ;; cli) echo 6 ;; helper) echo 1 ;;
    formats) echo -1 ;; *) echo 99 ;;
  esac
}
check_tree () (
cd "$1" || exit 1
bad=0
checked=0
fail () { echo "check-layers: $*" >&2; bad=$((bad + 1)); }
for f in $(find src formats -name '*.[ch]' | sort); do
  layer=${f#src/}; layer=${layer%%/*}
  [ "${f%%/*}" = formats ] && layer=formats
  mine=$(rank "$layer")
  [ "$mine" = 99 ] && { fail "$f: not in a layer's folder"; continue; }
  while IFS= read -r line; do
    checked=$((checked + 1))
    inc=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' <<<"$line")
    case $inc in
      */*) theirs=${inc%%/*} ;;
      *) # formats/ includes its own files by plain name; nobody else may.
         if [ "$layer" = formats ] && [ -f "formats/$inc" ]; then continue; fi
         fail "$f: #include \"$inc\" does not name its layer"; continue ;;
    esac
    if [ "$layer" = formats ]; then
      fail "$f: formats/ includes \"$inc\" (formats uses nothing of src/)"; continue
    fi
    if [ "$inc" = formats/format-int.h ]; then
      fail "$f: \"$inc\" is the drivers' header (use formats/format.h)"; continue
    fi
    [ -f "src/$inc" ] || [ -f "$inc" ] || { fail "$f: \"$inc\" does not exist"; continue; }
    [ "$theirs" = formats ] && continue            # every layer may use formats/
    if [ "$inc" = helper/helper-proto.h ]; then
      case $layer in helper|generalize) continue ;; esac
    fi
    if [ "$layer" = helper ] || [ "$layer" = win ]; then
      case $theirs in win|helper) continue ;; esac
      fail "$f: $layer/ includes \"$inc\" ($layer/ uses win/ only)"; continue
    fi
    [ "$theirs" = helper ] && { fail "$f: includes \"$inc\" (the helper is a program of its own)"; continue; }
    t=$(rank "$theirs")
    if [ "$t" -gt "$mine" ]; then
      fail "$f: $layer/ includes \"$inc\" of the higher layer $theirs/"
    fi
  done < <(grep -E '^#include "' "$f")
done
# Exit codes are decided in cli/ only; signal handlers are set in
# cli/signals.c only (the libraries expose async-signal-safe hooks).
for f in $(grep -rlE '\bWS_EXIT_[A-Z_]+' src formats --include='*.[ch]' | grep -v '^src/cli/'); do
  while IFS= read -r l; do
    fail "$f: line ${l%%:*}: an exit code outside cli/"
  done < <(grep -nE '\bWS_EXIT_[A-Z_]+' "$f" | grep -vE '^[0-9]+: *(/?\*|//)')
done
for f in $(grep -rlE '\b(sigaction|signal) \([A-Za-z_0-9]+ *,' src formats --include='*.[ch]' | grep -v '^src/cli/signals.c$'); do
  fail "$f: sets a signal handler (only cli/signals.c does)"
done
# The check must have seen the tree (a test that cannot fail is a defect).
[ "$checked" -gt 100 ] || fail "only $checked include lines seen: wrong directory?"
[ "$bad" -eq 0 ] || { echo "check-layers: $bad problem(s)" >&2; exit 1; }
echo "check-layers: $checked include lines, every one downwards"
)

check_tree "$src" || exit 1

# The check itself: a copy of the tree with one upward include in each of
# three places must fail, naming each.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/src" "$src/formats" "$tmp/"
echo '#include "cli/cli.h"' >> "$tmp/src/job/job.c"
echo '#include "util/util.h"' >> "$tmp/src/win/sid.c"
echo '#include "guest/windows.h"' >> "$tmp/src/registry/hive.h"
echo 'static int x = WS_EXIT_PARTIAL;' >> "$tmp/src/guest/inspect.c"
echo 'static void f (void) { signal (SIGINT, SIG_IGN); }' >> "$tmp/formats/convert.c"
out=$(check_tree "$tmp" 2>&1) && { echo "check-layers: upward includes were not found" >&2; exit 1; }
for f in src/job/job.c src/win/sid.c src/registry/hive.h src/guest/inspect.c formats/convert.c; do
  grep -q "^check-layers: $f: " <<<"$out" || { echo "check-layers: missed $f: $out" >&2; exit 1; }
done
echo "check-layers: the check finds what was planted (3 upward includes, an exit code, a handler)"
