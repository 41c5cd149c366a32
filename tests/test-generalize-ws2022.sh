#!/bin/bash
# winseal generalize on the ws2022 fixture: the output checked with
# RegRipper, libregf, libvhdi, qemu-img, xmllint and byte searches
# (tests/generalize-checks.sh).
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/generalize-checks.sh"
requires command -v jq
requires command -v xmllint
requires command -v guestfish
[ -f "$FIXTURES_DIR/ws2022.img" ] || skip "no ws2022 fixture (../shared/hives missing?)"
check_generalized ws2022
