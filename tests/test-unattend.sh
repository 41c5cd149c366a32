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
[ $st = 1 ] && grep -q 'no component is for the image.s processorArchitecture arm64 (they are for amd64)' "$tmp/err" \
  || fail "arch mismatch: $(cat "$tmp/err")"
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
# Answer files as people write them (a corpus written here): accepted
# with the right warnings, or refused naming the line and the problem.
C='publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"'
mk () {
  printf '<?xml version="1.0"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">\n%s\n</unattend>\n' "$2" > "$tmp/$1.xml"
}
comp () { echo "<component name=\"Microsoft-Windows-Shell-Setup\" processorArchitecture=\"$1\" ${2:-$C}>${3:-}</component>"; }
mk multi "<settings pass=\"specialize\">$(comp x86)$(comp AMD64)$(comp arm64)</settings>"
mk wow64 "<settings pass=\"specialize\">$(comp wow64)</settings>"
mk novs "<settings pass=\"specialize\">$(comp amd64 'publicKeyToken="31BF3856AD364E35" language="neutral"')</settings>"
mk plain "<settings pass=\"oobeSystem\">$(comp amd64 "$C" '<UserAccounts><AdministratorPassword><Value>Pl41n-pw</Value><PlainText>true</PlainText></AdministratorPassword></UserAccounts>')</settings>"
mk x64 "<settings pass=\"specialize\">$(comp x64)</settings>"
mk tmpl "<settings pass=\"specialize\">$(comp '{{ architecture }}')</settings>"
mk pct "<settings pass=\"specialize\">$(comp '%arch%')</settings>"
mk token "<settings pass=\"specialize\">$(comp amd64 'publicKeyToken="31bf3856ad36" language="neutral"')</settings>"
mk nolang "<settings pass=\"specialize\">$(comp amd64 'publicKeyToken="31bf3856ad364e35" language=""')</settings>"
mk scope "<settings pass=\"specialize\">$(comp amd64 'publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="all"')</settings>"
mk undecl "<settings pass=\"specialize\">$(comp amd64 "$C" '<RunSynchronous><RunSynchronousCommand foo:action="add"/></RunSynchronous>')</settings>"
mk otherns "<settings xmlns=\"urn:example\" pass=\"specialize\">$(comp amd64)</settings>"
mk compns "<settings pass=\"specialize\"><c:component xmlns:c=\"urn:example\" name=\"A\" processorArchitecture=\"amd64\" $C/></settings>"
mk x86 "<settings pass=\"specialize\">$(comp x86)</settings>"
printf '<?xml version="1.0"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend">\n<settings pass="specialize">&#0;\n</settings>\n<oops\n' > "$tmp/twoerr.xml"
accept () {
  local f=$1 want=$2
  winseal unattend --check "$tmp/$f.xml" --arch amd64 > /dev/null 2> "$tmp/err" || fail "$f.xml refused: $(cat "$tmp/err")"
  if [ -n "$want" ]; then grep -q -- "$want" "$tmp/err" || fail "$f.xml: no warning '$want': $(cat "$tmp/err")"
  else [ ! -s "$tmp/err" ] || fail "$f.xml: unexpected output: $(cat "$tmp/err")"; fi
}
refuse () {
  local f=$1 want=$2 st=0
  winseal unattend --check "$tmp/$f.xml" --arch amd64 > /dev/null 2> "$tmp/err" || st=$?
  [ $st = 1 ] || fail "$f.xml: exit $st, not 1"
  [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q -- "$want" "$tmp/err" || fail "$f.xml: not one line saying '$want': $(cat "$tmp/err")"
  ! grep -qi 'xml[A-Z][a-zA-Z]*:' "$tmp/err" || fail "$f.xml: a libxml2 function name in the message"
}
accept multi '3: pass "specialize": 2 of 3 components are for x86, arm64, not the image.s amd64; Setup ignores them'
accept wow64 ''
accept novs ''
accept plain 'in clear text (PlainText true)'
! grep -q 'Pl41n-pw' "$tmp/err" || fail "the clear-text password was printed"
refuse x64 'x64.xml:3: .*processorArchitecture "x64" is not one of .* (64-bit x86 is amd64)'
refuse tmpl 'tmpl.xml:3: .*"{{ architecture }}" is an unfilled template placeholder'
refuse pct 'pct.xml:3: .*"%arch%" is an unfilled template placeholder'
refuse token 'token.xml:3: .*publicKeyToken "31bf3856ad36" is not 16 hex digits'
refuse nolang 'nolang.xml:3: .*lacks the language attribute'
refuse scope 'scope.xml:3: .*versionScope "all" is not nonSxS or SxS'
refuse undecl 'undecl.xml:3: .*prefix foo .* not defined'
refuse otherns 'otherns.xml:3: .*<settings> is not in the namespace urn:schemas-microsoft-com:unattend'
refuse compns 'compns.xml:3: .*<component> is not in the namespace'
refuse x86 'x86.xml:3: .*no component is for the image.s processorArchitecture amd64 (they are for x86)'
refuse twoerr 'twoerr.xml:3: not a valid answer file: invalid xmlChar value 0'
# xmllint agrees on what is XML: the accepted files and the schema-level
# refusals are well-formed, the two XML-level refusals are not (xmllint
# exits 0 on a namespace error but names it).
for f in multi wow64 novs plain x64 tmpl pct token nolang scope otherns compns x86; do
  xmllint --noout "$tmp/$f.xml" 2> "$tmp/xl" && [ ! -s "$tmp/xl" ] || fail "xmllint refuses $f.xml"
done
xmllint --noout "$tmp/undecl.xml" 2>&1 | grep -q 'namespace error' || fail "xmllint finds no namespace error in undecl.xml"
! xmllint --noout "$tmp/twoerr.xml" 2> /dev/null || fail "xmllint accepts twoerr.xml"
mkdir "$tmp/dir.xml"
refuse_dir () { local st=0; winseal unattend --check "$tmp/dir.xml" 2> "$tmp/err" || st=$?; [ $st = 1 ] && grep -q 'is a directory' "$tmp/err" || fail "a directory: $(cat "$tmp/err")"; }
refuse_dir
echo "unattend: generated, escaped, hidden password right, broken files refused; $(ls "$tmp"/*.xml | wc -l) answer files checked"
