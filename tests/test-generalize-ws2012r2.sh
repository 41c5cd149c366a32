#!/bin/bash
# winseal generalize on the ws2012r2 fixture: the output checked with
# RegRipper, libregf, libvhdi, qemu-img, xmllint and byte searches
# (tests/generalize-checks.sh).
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/generalize-checks.sh"
requires command -v jq
requires command -v xmllint
requires command -v guestfish
[ -f "$FIXTURES_DIR/ws2012r2.img" ] || skip "no ws2012r2 fixture (../shared/hives missing?)"
check_generalized ws2012r2
