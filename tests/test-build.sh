#!/bin/bash
# winseal build: an Azure Image Builder template with File, PowerShell
# (inline and scriptUri), Shell and a skipped WindowsRestart, distributed
# as a VHD.  The output is read back with guestfish: the copied file has
# the template's SHA-256 (sha256sum), SetupComplete.cmd runs the script
# steps in template order with -ExecutionPolicy Bypass, each script in the
# image holds the template's commands; vhdiinfo and qemu-img read the VHD,
# and a second VHD distribute entry holds the same disk (its own VHD id).
# Bad templates are refused before the appliance starts, every problem
# named by its field.  The source is bad-dirty (hives as a live copy
# leaves them), built with --repair-hives: the output holds the value only
# SYSTEM's LOG1 had and the repaired UsrClass.dat (hivexget,
# tests/hive-consistency.pl).
. "$top_srcdir/tests/functions.sh"
requires command -v jq
requires command -v guestfish
requires command -v vhdiinfo
requires command -v hivexget

img=$(image bad-dirty)
mkdir -p "$tmp/tpl/scripts" "$tmp/out"
head -c 300000 /dev/urandom > "$tmp/tpl/payload.bin"
printf 'Write-Output "from a script file"\r\nexit 3\r\n' > "$tmp/tpl/scripts/setup.ps1"
printf 'echo from a cmd file\nmkdir C:\\buildArtifacts\\made\n' > "$tmp/tpl/scripts/setup.cmd"
payload_sum=$(sha256sum < "$tmp/tpl/payload.bin" | cut -c1-64)
ps_sum=$(sha256sum < "$tmp/tpl/scripts/setup.ps1" | cut -c1-64)

# template FILE JSON-OF-CUSTOMIZE JSON-OF-DISTRIBUTE: a template around them.
template () {
  jq -n --arg src "$img" --argjson c "$2" --argjson d "$3" '{
    type: "Microsoft.VirtualMachineImages/imageTemplates",
    apiVersion: "2020-02-14", location: "westeurope", tags: {team: "images"},
    properties: {
      buildTimeoutInMinutes: 60,
      vmProfile: {vmSize: "Standard_D2s_v3", osDiskSizeGB: 0},
      source: {type: "PlatformImage", publisher: "MicrosoftWindowsDesktop",
               offer: "Windows-10", sku: "20h2-ent", version: "latest", path: $src},
      customize: $c, distribute: $d }}' > "$1"
}
vhd='[{"type": "VHD", "runOutputName": "win10-web", "tags": {"build": "42"}}]'
good="[
  {\"type\": \"File\", \"name\": \"payload\", \"sourceUri\": \"payload.bin\",
   \"destination\": \"C:\\\\buildArtifacts\\\\payload.bin\", \"sha256Checksum\": \"$payload_sum\"},
  {\"type\": \"PowerShell\", \"name\": \"make-dirs\", \"runElevated\": true,
   \"inline\": [\"New-Item -ItemType Directory -Force C:\\\\logs\", \"Set-Content C:\\\\logs\\\\a.txt 'first'\"]},
  {\"type\": \"WindowsRestart\", \"restartTimeout\": \"5m\"},
  {\"type\": \"PowerShell\", \"name\": \"from-file\", \"scriptUri\": \"scripts/setup.ps1\",
   \"sha256Checksum\": \"$ps_sum\", \"validExitCodes\": [0, 3]},
  {\"type\": \"Shell\", \"name\": \"cmd-step\", \"scriptUri\": \"file://$tmp/tpl/scripts/setup.cmd\"},
  {\"type\": \"Shell\", \"name\": \"last\", \"inline\": \"echo last step\"}
]"

# ---- refused before any work: exit 1, one line per problem, nothing written ----
refused () {            # refused NAME EXPECTED-TEXT [build options]
  local f=$1 want=$2; shift 2
  set +e
  winseal build --allow-dir "$FIXTURES_DIR" "$@" "$f" -o "$tmp/out" > /dev/null 2> "$tmp/err"
  local rc=$?
  set -e
  [ $rc = 1 ] || { cat "$tmp/err"; fail "$(basename "$f"): exit $rc, not 1"; }
  grep -qF -- "$want" "$tmp/err" || { cat "$tmp/err"; fail "$(basename "$f"): no '$want' in the message"; }
  ! grep -q 'launching\|appliance' "$tmp/err" || fail "$(basename "$f"): the appliance was started"
  [ -z "$(ls -A "$tmp/out")" ] || fail "$(basename "$f"): something was written"
}
template "$tmp/tpl/online.json" "$good" "$vhd"
bad_sum=$(echo "$good" | sed "s/$payload_sum/$(printf '%064d' 0)/")
template "$tmp/tpl/sum.json" "$bad_sum" "$vhd"
refused "$tmp/tpl/sum.json" "properties.customize[0].sha256Checksum: $tmp/tpl/payload.bin does not match: its SHA-256 is $payload_sum" --skip-online-steps
template "$tmp/tpl/many.json" '[
  {"type": "File", "name": "a", "sourceUri": "https://example.com/a", "destination": "D:\\a"},
  {"type": "PowerShell", "name": "a", "inline": "x", "scriptUri": "scripts/setup.ps1"},
  {"type": "PowerShell", "name": "b", "inline": ["x"], "colour": "red"},
  {"type": "Shell", "name": "c", "scriptUri": "scripts/missing.cmd"},
  {"type": "WindowsUpdate", "updateLimit": 20},
  {"type": "Ansible", "name": "d"}]' \
  '[{"type": "managedImage", "runOutputName": "m", "imageId": "x", "location": "y"},
    {"type": "VHD", "runOutputName": "../x"}]'
refused "$tmp/tpl/many.json" "10 problems in the template; nothing was done"
for want in "customize[0].sourceUri: \"https://example.com/a\": winseal builds offline" \
            "customize[0].destination: \"D:\\a\" is not a file path on the Windows volume" \
            "customize[1]: give either \"inline\" or \"scriptUri\"" \
            "customize[1].name: \"a\" is also customize[0]'s" \
            "customize[2].colour: not a field" \
            "customize[3].scriptUri: $tmp/tpl/scripts/missing.cmd: No such file" \
            "customize[4].type: WindowsUpdate needs the running machine" \
            "customize[5].type: \"Ansible\" is not a step winseal build runs" \
            "distribute[0].type: \"managedImage\" needs Azure" \
            "distribute[1].runOutputName: \"../x\" is not a file name"; do
  grep -qF -- "$want" "$tmp/err" || { cat "$tmp/err"; fail "many.json: no '$want'"; }
done
echo '{"properties": {"source": {"path": "x"}, "distribute": []}, "resources": 1' > "$tmp/tpl/broken.json"
refused "$tmp/tpl/broken.json" "broken.json: line 2, column 1: not a JSON file"
printf '{\n  "type": "Microsoft.VirtualMachineImages/imageTemplates",\n  "properties": {"source": [1 2]}\n}\n' > "$tmp/tpl/broken2.json"
refused "$tmp/tpl/broken2.json" "broken2.json: line 3, column 31: not a JSON file"
# In-VM validation needs the running machine, as WindowsRestart does.
jq '.properties.validate = {inVMValidations: [{type: "PowerShell", name: "v", inline: ["x"]}]}' \
  "$tmp/tpl/online.json" > "$tmp/tpl/validate.json"
refused "$tmp/tpl/validate.json" "properties.validate: in-VM validation needs the running machine"
# A Linux template: one line saying so, before any other check.
jq -n '{type: "Microsoft.VirtualMachineImages/imageTemplates", properties: {
  source: {type: "PlatformImage", publisher: "Canonical", offer: "0001-com-ubuntu-server-jammy", sku: "22_04-lts"},
  customize: [{type: "Shell", name: "s", inline: ["#!/bin/bash", "sudo apt-get update"]},
              {type: "File", name: "f", sourceUri: "https://example.com/x", destination: "/tmp/x"}],
  distribute: [{type: "ManagedImage", runOutputName: "u", imageId: "x", location: "y"}]}}' > "$tmp/tpl/linux.json"
refused "$tmp/tpl/linux.json" 'a Linux template (properties.source.publisher is "Canonical"): winseal build builds Windows images'
[ "$(wc -l < "$tmp/err")" = 1 ] || fail "linux.json: more than one line: $(cat "$tmp/err")"
jq '.properties.source = {type: "LocalImage", path: "x.img"}' "$tmp/tpl/linux.json" > "$tmp/tpl/linux2.json"
refused "$tmp/tpl/linux2.json" 'a Linux template (properties.customize[0].inline starts with "#!/bin/bash")'
[ "$(wc -l < "$tmp/err")" = 1 ] || fail "linux2.json: more than one line: $(cat "$tmp/err")"
# ARM expressions: only parameters() and variables(); another is refused
# by its field (inside an inline list too) with no follow-on problem.
jq -n --arg src "$img" '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  parameters: {who: {type: "string"}}, variables: {greeting: "[concat('"'"'hi '"'"', parameters('"'"'who'"'"'))]"},
  resources: [{type: "Microsoft.VirtualMachineImages/imageTemplates", apiVersion: "2022-02-14", location: "x",
    properties: {source: {type: "LocalImage", path: $src},
      customize: [{type: "PowerShell", name: "p", inline: ["echo ok", "[variables('"'"'greeting'"'"')]"]},
                  {type: "Shell", name: "s", inline: "[parameters('"'"'who'"'"')]"}],
      distribute: [{type: "VHD", runOutputName: "o"}]}}]}' > "$tmp/tpl/expr.json"
refused "$tmp/tpl/expr.json" "resources[].properties.customize[0].inline[1]: \"[concat('hi ', parameters('who'))]\" is an ARM template expression winseal does not evaluate"
grep -qF "resources[].properties.customize[1].inline: \"[parameters('who')]\": parameter 'who' has no value" "$tmp/err" \
  || fail "expr.json: the parameter without a value is not named: $(cat "$tmp/err")"
[ "$(grep -c 'expr.json: resources' "$tmp/err")" = 2 ] && grep -q '2 problems in the template' "$tmp/err" || fail "expr.json: follow-on problems: $(cat "$tmp/err")"
printf '{"parameters": {"who": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}}}' > "$tmp/kv.json"
refused "$tmp/tpl/expr.json" "parameters.who: a Key Vault reference needs Azure" --parameters "$tmp/kv.json"
# Downloads: --uri-cache needs the step's sha256Checksum; a ManagedImage
# entry needs --vhd-for-all-distribute.
template "$tmp/tpl/dl.json" '[{"type": "PowerShell", "name": "x", "scriptUri": "https://example.com/x.ps1"}]' \
  '[{"type": "ManagedImage", "runOutputName": "m", "imageId": "i", "location": "l"}]'
refused "$tmp/tpl/dl.json" 'customize[0].scriptUri: "https://example.com/x.ps1": --uri-cache finds files by the step'"'"'s sha256Checksum' --uri-cache "$tmp"
grep -qF 'distribute[0].type: "ManagedImage" needs Azure; winseal build writes VHD entries only (--vhd-for-all-distribute writes a VHD for it)' "$tmp/err" \
  || fail "dl.json: the ManagedImage entry's message: $(cat "$tmp/err")"
refused "$tmp/tpl/dl.json" 'customize[0].scriptUri: "https://example.com/x.ps1": winseal builds offline and downloads nothing' --vhd-for-all-distribute
template "$tmp/tpl/wu.json" '[{"type": "WindowsUpdate", "filters": ["maybe:$true"]}]' "$vhd"
refused "$tmp/tpl/wu.json" 'customize[0].filters: [0]: "maybe:$true" is not "include:EXPR" or "exclude:EXPR"' --first-boot-updates

# ---- the build ----
# As exported from Azure (read-only fields, placement fields, a VHD
# entry's uri) and saved by a Windows editor (a UTF-8 BOM): the fields
# are noted and ignored.  Two downloads resolved locally (--uri-map, and
# --uri-cache by sha256Checksum), a destination from --parameters, and a
# ManagedImage entry written as a VHD (--vhd-for-all-distribute).
mkdir -p "$tmp/dl" "$tmp/cache"
printf 'mapped download\r\n' > "$tmp/dl/extra.txt"
printf 'Write-Output "from the cache"\r\n' > "$tmp/cached.ps1"
cached_sum=$(sha256sum < "$tmp/cached.ps1" | cut -c1-64)
cp "$tmp/cached.ps1" "$tmp/cache/$cached_sum"
printf '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0", "parameters": {"extraDest": {"value": "C:\\\\buildArtifacts\\\\extra.txt"}}}' > "$tmp/params.json"
good_dl=$(jq --arg s "$cached_sum" '. + [
  {type: "File", name: "mapped", sourceUri: "https://example.com/files/extra.txt", destination: "[parameters('"'"'extraDest'"'"')]"},
  {type: "PowerShell", name: "cached", scriptUri: "https://example.com/scripts/cached.ps1", sha256Checksum: $s},
  {type: "WindowsUpdate", searchCriteria: "IsInstalled=0 and Type='"'"'Software'"'"'",
   filters: ["exclude:$_.Title -like '"'"'*Preview*'"'"'", "include:$true"], updateLimit: 5}]' <<<"$good")
template "$tmp/tpl/web0.json" "$good_dl" '[{"type": "VHD", "runOutputName": "win10-web", "tags": {"build": "42"},
                                         "uri": "https://example.blob.core.windows.net/vhds/x.vhd"},
                                        {"type": "VHD", "runOutputName": "win10-web-copy.vhd"},
                                        {"type": "ManagedImage", "runOutputName": "win10-managed",
                                         "imageId": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/images/z",
                                         "location": "westeurope"}]'
{ printf '\xef\xbb\xbf'; jq '.systemData = {createdBy: "someone"}
  | .properties += {stagingResourceGroup: "/subscriptions/x/resourceGroups/y", optimize: {vmBoot: {state: "Enabled"}},
                    errorHandling: {onCustomizerError: "abort"}, autoRun: {state: "Disabled"},
                    managedResourceTags: {a: "b"}, provisioningState: "Succeeded",
                    lastRunStatus: {runState: "Succeeded"}, exactStagingResourceGroup: "/x"}
  | .properties.source.exactVersion = "19045.1.1"' "$tmp/tpl/web0.json"; } > "$tmp/tpl/web.json"
sum=$(sha256sum < "$img")
# The source image is in the fixtures' folder, not the template's: --allow-dir.
winseal build "$tmp/tpl/web.json" -o "$tmp/out" --allow-dir "$FIXTURES_DIR" --skip-online-steps --json --no-progress --repair-hives \
  --uri-map "https://example.com/files/extra.txt=$tmp/dl/extra.txt" --uri-cache "$tmp/cache" \
  --parameters "$tmp/params.json" --vhd-for-all-distribute --first-boot-updates \
  > "$tmp/r.json" 2> "$tmp/err" || { cat "$tmp/err"; fail "winseal build failed"; }
[ "$(sha256sum < "$img")" = "$sum" ] || fail "the source image changed"
! grep -q "WindowsRestart" "$tmp/err" || fail "a warning about the WindowsRestart step: $(cat "$tmp/err")"
out="$tmp/out/win10-web.vhd"
[ -f "$out" ] || fail "no $out"
[ "$(ls -A "$tmp/out" | tr '\n' ' ')" = "win10-managed.vhd win10-web-copy.vhd win10-web.vhd " ] \
  || fail "the output folder holds: $(ls -A "$tmp/out")"
# The same disk (each VHD has its own footer identifier).
qemu-img compare -q -f vpc -F vpc "$out" "$tmp/out/win10-web-copy.vhd" || fail "the two VHD distribute entries hold different disks"
! cmp -s "$out" "$tmp/out/win10-web-copy.vhd" || fail "the two VHDs share a unique id"
[ "$(jq -r .build.outputs[1].path "$tmp/r.json")" = "$tmp/out/win10-web-copy.vhd" ] || fail "report: outputs[1].path"
[ "$(jq -r .build.outputs[0].path "$tmp/r.json")" = "$out" ] || fail "report: outputs[0].path"
[ "$(jq -r .build.outputs[0].tags.build "$tmp/r.json")" = 42 ] || fail "report: the tags"
qemu-img compare -q -f vpc -F vpc "$out" "$tmp/out/win10-managed.vhd" || fail "the ManagedImage entry's VHD holds another disk"
[ "$(jq -r '.build.steps | map(.type) | join(",")' "$tmp/r.json")" = "File,PowerShell,WindowsRestart,PowerShell,Shell,Shell,File,PowerShell,WindowsUpdate" ] \
  || fail "report: steps $(jq -c .build.steps "$tmp/r.json")"
[ "$(jq -r .build.steps[0].sha256 "$tmp/r.json")" = "$payload_sum" ] || fail "report: the File's sha256"
jq -e '.build.ignored_fields | index("location") and index("properties.vmProfile.vmSize") and index("properties.source.offer")
       and index("systemData") and index("properties.stagingResourceGroup") and index("properties.optimize")
       and index("properties.errorHandling") and index("properties.autoRun") and index("properties.managedResourceTags")
       and index("properties.provisioningState") and index("properties.lastRunStatus")
       and index("properties.exactStagingResourceGroup") and index("properties.source.exactVersion")
       and index("properties.distribute[0].uri")' \
  "$tmp/r.json" > /dev/null || fail "report: ignored fields $(jq -c .build.ignored_fields "$tmp/r.json")"

# The VHD, read by libvhdi and qemu-img: a fixed VHD of the reported size.
vsize=$(jq -r .virtual_size "$tmp/r.json")
vhdiinfo "$out" > "$tmp/vhdi" || fail "vhdiinfo cannot read the output"
grep -q "Disk type.*Fixed" "$tmp/vhdi" || fail "vhdiinfo: not a fixed VHD: $(cat "$tmp/vhdi")"
grep -q "Media size.*$vsize bytes" "$tmp/vhdi" || fail "vhdiinfo: media size is not $vsize"
[ "$(qemu-img info -f vpc --output=json "$out" | jq -r '."virtual-size"')" = "$vsize" ] \
  || fail "qemu-img: virtual size is not $vsize"

# What the image holds, copied out by guestfish.
part=$(c_part bad-dirty)
mkdir "$tmp/got"
guestfish --ro -a "$out" > /dev/null 2> >(grep -v 'unattend.xml' >&2) <<EOF
run
mount-ro /dev/sda$part /
-download /Windows/Panther/unattend.xml $tmp/got/unattend.xml
download /buildArtifacts/payload.bin $tmp/got/payload.bin
download /buildArtifacts/extra.txt $tmp/got/extra.txt
download /Windows/Setup/Scripts/winseal-build/08-powershell.ps1 $tmp/got/08.ps1
download /Windows/Setup/Scripts/winseal-build/09-powershell.ps1 $tmp/got/09.ps1
download /Windows/Setup/Scripts/SetupComplete.cmd $tmp/got/SetupComplete.cmd
download /Windows/Setup/Scripts/winseal-build/continue-2.cmd $tmp/got/continue-2.cmd
download /Windows/Setup/Scripts/winseal-build/02-powershell.ps1 $tmp/got/02.ps1
download /Windows/Setup/Scripts/winseal-build/04-powershell.ps1 $tmp/got/04.ps1
download /Windows/Setup/Scripts/winseal-build/05-shell.cmd $tmp/got/05.cmd
download /Windows/Setup/Scripts/winseal-build/06-shell.cmd $tmp/got/06.cmd
download /Windows/System32/config/SYSTEM $tmp/got/SYSTEM
download /Users/Administrator/AppData/Local/Microsoft/Windows/UsrClass.dat $tmp/got/UsrClass.dat
EOF
[ "$(hivexget "$tmp/got/SYSTEM" 'ControlSet001\Control\Windows' CSDVersion)" = 256 ] \
  || fail "SYSTEM lacks the value only its LOG1 had"
# build's default target is azure: no answer file of winseal's.
[ ! -e "$tmp/got/unattend.xml" ] || fail "build wrote Windows\\Panther\\unattend.xml (its default target is azure)"
[ "$(jq -r .operations.unattend.target "$tmp/r.json")" = azure ] || fail "report: the unattend target is not azure"
! hivexget "$tmp/got/UsrClass.dat" 'Local Settings\Software\Microsoft\Windows\Shell\Bags\1\Desktop' ItemPos > /dev/null 2>&1 \
  && perl "$top_srcdir/tests/hive-consistency.pl" "$tmp/got/UsrClass.dat" > /dev/null \
  || fail "UsrClass.dat is not the repaired one"
[ "$(jq -r '[.hive_recovery[] | select(.state == "repaired") | .hive] | join(",")' "$tmp/r.json")" = "UsrClass.dat of Administrator" ] \
  || fail "report: hive_recovery $(jq -c .hive_recovery "$tmp/r.json")"
[ "$(sha256sum < "$tmp/got/payload.bin" | cut -c1-64)" = "$payload_sum" ] \
  || fail "the file in the image does not match its sha256Checksum"
cmp -s "$tmp/got/04.ps1" "$tmp/tpl/scripts/setup.ps1" || fail "04-powershell.ps1 is not scripts/setup.ps1"
cmp -s "$tmp/got/extra.txt" "$tmp/dl/extra.txt" || fail "the --uri-map download is not the mapped file at the --parameters destination"
cmp -s "$tmp/got/08.ps1" "$tmp/cached.ps1" || fail "the --uri-cache script is not the cached file"
# --first-boot-updates: the WindowsUpdate step is a script for the Windows
# Update Agent API with the template's criteria, filters (in order) and limit.
tr -d '\r' < "$tmp/got/09.ps1" | sed '1s/^\xef\xbb\xbf//' > "$tmp/09"
grep -qxF "\$criteria = 'IsInstalled=0 and Type=''Software'''" "$tmp/09" || fail "09.ps1: the search criteria: $(grep criteria "$tmp/09")"
grep -qxF '$limit = 5' "$tmp/09" || fail "09.ps1: the update limit"
grep -qF 'New-Object -ComObject Microsoft.Update.Session' "$tmp/09" || fail "09.ps1 does not use the Windows Update Agent API"
[ "$(sed -n 's/^ *\(else\)\{0,1\}if (@(\$u | Where-Object { \(.*\) })\.Count) { \$take = \(.*\) }$/\2 -> \3/p' "$tmp/09" | tr '\n' '|')" \
  = "\$_.Title -like '*Preview*' -> \$false|\$true -> \$true|" ] || { cat "$tmp/09"; fail "09.ps1: the filters are not applied in order"; }
# The inline PowerShell: a UTF-8 BOM, then the commands, CRLF.
[ "$(head -c3 "$tmp/got/02.ps1" | od -An -tx1 | tr -d ' ')" = efbbbf ] || fail "02.ps1 has no BOM"
printf '\xef\xbb\xbfNew-Item -ItemType Directory -Force C:\\logs\r\nSet-Content C:\\logs\\a.txt '"'"'first'"'"'\r\n' \
  | cmp -s - "$tmp/got/02.ps1" || { od -c "$tmp/got/02.ps1" | head; fail "02.ps1 does not hold the inline commands"; }
# The Shell file: the same lines with CRLF ends.
sed 's/$/\r/' "$tmp/tpl/scripts/setup.cmd" | cmp -s - "$tmp/got/05.cmd" || fail "05-shell.cmd is not setup.cmd with CRLF"
printf 'echo last step\r\n' | cmp -s - "$tmp/got/06.cmd" || fail "06-shell.cmd is not the inline line"

# SetupComplete.cmd: CRLF, and the steps invoked in template order, each
# checked against its valid exit codes before the next one; at the
# WindowsRestart (step 3) it registers a startup task for the rest and
# restarts later, and continue-2.cmd (run by that task) does steps 4-9.
sc="$tmp/got/SetupComplete.cmd" cc="$tmp/got/continue-2.cmd"
for f in "$sc" "$cc"; do
  [ "$(grep -c $'\r$' "$f")" = "$(wc -l < "$f")" ] || fail "$(basename "$f") has lines without CRLF"
done
tr -d '\r' < "$sc" > "$tmp/sc"
tr -d '\r' < "$cc" > "$tmp/cc"
order () {
  grep 'winseal-build\\0[0-9]-\|^REM step' "$1" | grep -v 'rmdir' \
    | sed -n 's/.*\(REM step [0-9]\).*/\1/p; s/.*winseal-build\\\(0[0-9]\)-\(powershell\|shell\).*/\1-\2/p' | tr '\n' ' '
}
seq_got=$(order "$tmp/sc")
[ "$seq_got" = "REM step 1 02-powershell REM step 3 " ] || { cat "$tmp/sc"; fail "SetupComplete.cmd runs the steps as: $seq_got"; }
seq_got=$(order "$tmp/cc")
[ "$seq_got" = "04-powershell 05-shell 06-shell REM step 7 08-powershell 09-powershell " ] \
  || { cat "$tmp/cc"; fail "continue-2.cmd runs the steps as: $seq_got"; }
grep -q '^schtasks.exe /Create /F /TN "winseal-build-continue-1" /SC ONSTART /RU SYSTEM /RL HIGHEST /TR "%WINDIR%\\Setup\\Scripts\\winseal-build\\continue-2.cmd"' "$tmp/sc" \
  || fail "SetupComplete.cmd does not register the startup task for part 2"
grep -q '^shutdown.exe /r /f /t 60 ' "$tmp/sc" || fail "SetupComplete.cmd does not restart (later) at the WindowsRestart step"
# The restart comes after the task, the scripts are not removed before it.
awk '/schtasks.exe \/Create/ { c = NR } /^shutdown.exe/ { s = NR } /^goto winseal_build_restart$/ { g = NR }
     /^:winseal_build_restart$/ { l = NR } END { exit !(c && c < s && s < g && g < l) }' "$tmp/sc" \
  || fail "SetupComplete.cmd: task, restart, jump past the clean-up are not in that order"
sed -n '2,3p' "$tmp/cc" | grep -q '^schtasks.exe /Delete /F /TN "winseal-build-continue-1"' \
  || fail "continue-2.cmd does not remove its task first (it must run once)"
tail -n 2 "$tmp/cc" | grep -q 'rmdir /s /q "%WINDIR%\\Setup\\Scripts\\winseal-build"' \
  || fail "continue-2.cmd does not remove the scripts at the end"
for n in 02 04; do
  grep -q "powershell.exe\" .*-ExecutionPolicy Bypass -File \"%WINDIR%\\\\Setup\\\\Scripts\\\\winseal-build\\\\$n-powershell.ps1\"" "$tmp/sc" "$tmp/cc" \
    || fail "step $n is not run by powershell.exe -ExecutionPolicy Bypass"
done
grep -q '^if "%WINSEAL_RC%"=="3" goto winseal_build_4_ok$' "$tmp/cc" || fail "step 4's exit code 3 is not accepted"
[ "$(grep -c '^goto winseal_build_end$' "$tmp/sc")" = 2 ] && [ "$(grep -c '^goto winseal_build_end$' "$tmp/cc")" = 5 ] \
  || fail "not every script step stops the build when it fails"
# The build's lines are inside winseal's block, which opens the file.
head -n1 "$tmp/sc" | grep -q '^REM >>> winseal' || fail "winseal's block does not open SetupComplete.cmd"
awk '/^REM <<< winseal/ { end = NR } /winseal-build\\02-powershell/ { last = NR } END { exit !(last && last < end) }' "$tmp/sc" \
  || fail "the build's steps are outside winseal's block"
echo "build: 9 steps (2 File, one of them --uri-map, 3 PowerShell, one of them --uri-cache, 2 Shell, WindowsUpdate at first boot, a WindowsRestart between them), 3 VHDs (one for a ManagedImage entry), payload $payload_sum, $vsize-byte fixed VHD"
