#!/bin/bash
# Without LIBGUESTFS_BACKEND_SETTINGS, winseal launches with the default
# accelerator and, when that launch fails (this host's KVM has aborted
# qemu, and has left it spinning for ever) or does not finish within
# WINSEAL_LAUNCH_TIMEOUT seconds (45 here, 120 by default), retries once
# with TCG, printing exactly one warning.  -x passes the libguestfs trace
# through.
. "$top_srcdir/tests/functions.sh"
requires command -v jq

unset LIBGUESTFS_BACKEND_SETTINGS
export WINSEAL_LAUNCH_TIMEOUT=45
winseal -x inspect --json "$(image ws2012r2)" > "$tmp/out" 2> "$tmp/err" \
  || fail "inspect failed: $(grep -v 'libguestfs: trace' "$tmp/err" | tail -n 3)"
[ "$(jq -r .product_name "$tmp/out")" = "$(spec_get ws2012r2 PRODUCT_NAME)" ] || fail "wrong report"
grep -q '^libguestfs: trace: launch' "$tmp/err" || fail "-x did not trace libguestfs calls"
grep -v '^libguestfs: trace' "$tmp/err" > "$tmp/msgs" || true
n=$(grep -c 'retrying with TCG' "$tmp/msgs" || true)
[ "$n" -le 1 ] || fail "more than one fallback warning"
if [ "$n" -eq 1 ]; then
  grep -q '^winseal: warning: appliance launch failed' "$tmp/msgs" || fail "warning format"
  echo "KVM launch failed here ($(sed -n 's/.*launch failed (\(.*\)); retrying.*/\1/p' "$tmp/msgs")); winseal fell back to TCG with one warning"
else
  echo "the default launch worked here; no fallback needed"
fi
# Nothing else was printed.
[ "$(grep -vc 'retrying with TCG' "$tmp/msgs" || true)" -eq 0 ] || fail "unexpected messages: $(cat "$tmp/msgs")"
