#!/bin/bash
# winseal unattend: the generated answer file is well-formed (xmllint),
# escapes what it is given, hides the password the way Windows does
# (checked against perl's own UTF-16LE + base64), never prints it, and
# --check refuses broken files.
. "$top_srcdir/tests/functions.sh"
requires command -v xmllint
requires perl -MMIME::Base64 -MEncode -e 1

pw='S3cret&<"pw'"'"'é'
printf '%s\n' "$pw" > "$tmp/pw"
winseal unattend --admin-password-file "$tmp/pw" --org 'A & <B>' --owner "O'Brien" \
  --timezone 'W. Europe Standard Time' --locale fr-FR --computer-name BUILD-01 \
  --run-sync 'cmd /c echo first' --run-sync 'powershell -c "& {exit 0}"' --copy-profile \
  > "$tmp/u.xml" 2> "$tmp/err"
xmllint --noout "$tmp/u.xml" || fail "not well-formed"
! grep -qF "$pw" "$tmp/u.xml" "$tmp/err" || fail "the password appears in clear"
winseal unattend --check "$tmp/u.xml" > /dev/null || fail "--check refuses the generated file"

xp () { xmllint --xpath "string($1)" "$tmp/u.xml"; }
c () { echo "//*[local-name()='settings'][@pass='$1']/*[@name='$2']"; }
e () { echo "*[local-name()='$1']"; }
want=$(perl -MMIME::Base64 -MEncode -CA -e 'print encode_base64(encode("UTF-16LE", $ARGV[0] . "AdministratorPassword"), "")' "$pw")
[ "$(xp "$(c oobeSystem Microsoft-Windows-Shell-Setup)/$(e UserAccounts)/$(e AdministratorPassword)/$(e Value)")" = "$want" ] \
  || fail "hidden password is not base64(UTF-16LE(password + AdministratorPassword))"
[ "$(xp "$(c oobeSystem Microsoft-Windows-Shell-Setup)/$(e UserAccounts)/$(e AdministratorPassword)/$(e PlainText)")" = false ] \
  || fail "PlainText is not false"
[ "$(xp "$(c oobeSystem Microsoft-Windows-Shell-Setup)/$(e RegisteredOrganization)")" = 'A & <B>' ] || fail "org"
[ "$(xp "$(c oobeSystem Microsoft-Windows-Shell-Setup)/$(e RegisteredOwner)")" = "O'Brien" ] || fail "owner"
[ "$(xp "$(c oobeSystem Microsoft-Windows-Shell-Setup)/$(e OOBE)/$(e HideEULAPage)")" = true ] || fail "HideEULAPage"
[ "$(xp "$(c oobeSystem Microsoft-Windows-International-Core)/$(e SystemLocale)")" = fr-FR ] || fail "locale"
[ "$(xp "$(c specialize Microsoft-Windows-Shell-Setup)/$(e TimeZone)")" = 'W. Europe Standard Time' ] || fail "timezone"
[ "$(xp "$(c specialize Microsoft-Windows-Shell-Setup)/$(e ComputerName)")" = BUILD-01 ] || fail "computer name"
[ "$(xp "$(c specialize Microsoft-Windows-Shell-Setup)/$(e CopyProfile)")" = true ] || fail "CopyProfile"
rs="$(c specialize Microsoft-Windows-Deployment)/$(e RunSynchronous)/$(e RunSynchronousCommand)"
[ "$(xp "$rs[$(e Order)='1']/$(e Path)")" = 'cmd /c echo first' ] || fail "RunSynchronous 1"
[ "$(xp "$rs[$(e Order)='2']/$(e Path)")" = 'powershell -c "& {exit 0}"' ] || fail "RunSynchronous 2"
[ "$(xp "count($rs[@*[local-name()='action']='add'])")" = 2 ] || fail "wcm:action=add"
[ "$(xp "$(c generalize Microsoft-Windows-PnpSysprep)/$(e PersistAllDeviceInstalls)")" = true ] || fail "PnpSysprep"
winseal unattend --no-persist-devices > "$tmp/np.xml"
[ "$(xmllint --xpath "count(//*[@name='Microsoft-Windows-PnpSysprep'])" "$tmp/np.xml")" = 0 ] \
  || fail "--no-persist-devices left PnpSysprep in"

# --check: architecture, and broken files.
set +e
winseal unattend --check "$tmp/u.xml" --arch arm64 2> "$tmp/err"; st=$?
set -e
[ $st = 1 ] && grep -q 'processorArchitecture "amd64" but the image is arm64' "$tmp/err" || fail "arch mismatch"
printf 'not xml' > "$tmp/bad.xml"
set +e
winseal unattend --check "$tmp/bad.xml" 2> "$tmp/err"; st=$?
set -e
[ $st = 1 ] && grep -q 'bad.xml:1: not a valid answer file' "$tmp/err" || fail "not-XML accepted"
printf 'x\n' > "$tmp/empty-pw"; : > "$tmp/empty-pw"
set +e
winseal unattend --admin-password-file "$tmp/empty-pw" > /dev/null 2> "$tmp/err"; st=$?
set -e
[ $st = 1 ] && grep -q 'empty' "$tmp/err" || fail "an empty password file accepted"
echo "unattend: generated, escaped, hidden password right, broken files refused"
