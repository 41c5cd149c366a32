#!/bin/bash
# winseal generalize on the realhives fixture: the output checked with
# RegRipper, libregf, libvhdi, qemu-img, xmllint and byte searches
# (tests/generalize-checks.sh).
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/generalize-checks.sh"
requires command -v jq
requires command -v xmllint
requires command -v guestfish
[ -f "$FIXTURES_DIR/realhives.img" ] || skip "no realhives fixture (../shared/hives missing?)"
check_generalized realhives
