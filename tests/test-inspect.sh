#!/bin/bash
# winseal inspect reports what the fixture generator put into each good
# image: product, version, layout, names, SIDs, users, profiles, RDP and
# setup state, files and hive states.
. "$top_srcdir/tests/functions.sh"
requires command -v jq

check () {
  local name=$1 j="$tmp/$1.json"
  inspect_json "$name" > "$j"
  q () { jq -r "$1" "$j"; }
  eq () { local got; got=$(q "$1"); [ "$got" = "$2" ] || fail "$name: $1 is '$got', expected '$2'"; }
  s () { spec_get "$name" "$1"; }

  eq .product_name "$(s PRODUCT_NAME)"
  eq .build "$(s CURRENT_BUILD)"
  eq .edition "$(s EDITION_ID)"
  eq .installation_type "$(s INSTALLATION_TYPE)"
  eq .arch x86_64
  eq .systemroot /Windows
  if [ -n "$(s MAJOR)" ]; then eq .version "$(s MAJOR).$(s MINOR)"; else eq .version "$(s CURRENT_VERSION)"; fi
  if [ "$(s LABEL)" = gpt ]; then
    eq .partition_table gpt; eq .firmware uefi
    eq '[.partitions[] | select(.role == "efi-system")] | length' 1
    eq '[.partitions[] | select(.role == "efi-system")][0].filesystem' vfat
  else
    eq .partition_table mbr; eq .firmware bios
  fi
  eq '.partitions | length' "$(spec_lines "$name" | grep -c '^PART=')"
  local cpart; cpart=$(spec_lines "$name" | sed -n 's/^PART=\([0-9]*\):ntfs:[^:]*:[^:]*:[^:]*:c:.*/\1/p')
  eq .root_device "/dev/sda$cpart"
  eq '[.partitions[] | select(.windows)][0].device' "/dev/sda$cpart"
  eq .current_control_set ControlSet001
  eq '.control_sets | join(",")' ControlSet001,ControlSet002
  eq .computer_name "$(s COMPUTERNAME)"
  eq .hostname "$(s COMPUTERNAME)"
  eq .account_domain "$(s COMPUTERNAME)"
  eq .primary_domain WORKGROUP
  eq .domain_joined false
  eq .domain_controller false
  eq .primary_domain_sid null
  eq .machine_sid.sam "$(s MACHINE_SID)"
  eq .machine_sid.security "$(s MACHINE_SID)"
  eq .machine_sid.match true
  eq .locale "$(s LOCALE)"

  # Users: names, RIDs, SIDs, enabled state.
  local expect got
  expect=$(spec_users "$name" | awk -v sid="$(s MACHINE_SID)" '{ print $1, $2, sid "-" $1, ($3 == "enabled") }')
  got=$(q '.users[] | "\(.rid) \(.name) \(.sid) \(if .enabled then 1 else 0 end)"')
  [ "$got" = "$expect" ] || fail "$name: users differ:
$got
expected:
$expect"

  # Profiles: S-1-5-18/19/20 plus one per user with a profile, each with
  # its directory and a size.
  local nprof; nprof=$(spec_users "$name" | grep -c ' profile$')
  eq '.profiles | length' $((3 + nprof))
  for rid in $(spec_users "$name" | awk '$4 == "profile" { print $1 }'); do
    local usid="$(s MACHINE_SID)-$rid" uname
    uname=$(spec_users "$name" | awk -v r="$rid" '$1 == r { print $2 }')
    eq ".profiles[] | select(.sid == \"$usid\") | .profile_image_path" "C:\\Users\\$uname"
    eq ".profiles[] | select(.sid == \"$usid\") | .sid_value" "$usid"
    eq ".profiles[] | select(.sid == \"$usid\") | .directory" "/Users/$uname"
    eq ".profiles[] | select(.sid == \"$usid\") | .user" "$uname"
    eq ".profiles[] | select(.sid == \"$usid\") | .bytes > 200000" true
  done

  eq .rdp.fDenyTSConnections 0
  eq .rdp.enabled true
  local persist; persist=$(s PERSIST_DEVICES)
  eq .persist_all_device_installs "${persist:-null}"
  eq .image_state IMAGE_STATE_COMPLETE
  eq .state_ini_image_state IMAGE_STATE_COMPLETE
  eq '.setup | "\(.CmdLine)|\(.SetupType)|\(.SystemSetupInProgress)|\(.OOBEInProgress)|\(.SetupPhase)"' '|0|0|0|0'
  if [ -n "$(s STALE_ANSWERS)" ]; then eq .unattend.present true; else eq .unattend.present false; fi
  if [ -n "$(s SETUPCOMPLETE)" ]; then
    eq .setupcomplete.present true
    eq .setupcomplete.path /Windows/Setup/Scripts/SetupComplete.cmd
  else
    eq .setupcomplete.present false
  fi
  eq .event_logs.count "$(s EVENT_LOGS)"
  eq .event_logs.bytes $(( $(s EVENT_LOGS) * 69632 ))
  eq .pagefile.bytes $(( $(s PAGEFILE_KIB) * 1024 ))
  if [ -n "$(s HIBERFIL)" ]; then
    eq .hiberfile.present true; eq .hiberfile.hibernated false
  else
    eq .hiberfile.present false
  fi
  # What provisions the image or identifies the golden machine.
  local agents="" v id
  for v in EC2LAUNCH2:ec2launch-v2 EC2LAUNCH1:ec2launch-v1 EC2CONFIG:ec2config CLOUDBASE:cloudbase-init AZURE_AGENT:azure-vm-agent; do
    [ -n "$(s "${v%%:*}")" ] && agents="$agents${agents:+,}${v#*:}"
  done
  eq '[.cloud_agents[].agent] | join(",")' "$agents"
  [ -z "$(s EC2LAUNCH2)" ] || eq '.cloud_agents[] | select(.agent == "ec2launch-v2") | .found_by' "service EC2Launch"
  [ -z "$(s AZURE_AGENT)" ] || eq '.cloud_agents[] | select(.agent == "azure-vm-agent") | .found_by' "service WindowsAzureGuestAgent"
  [ -z "$(s EC2CONFIG)" ] || eq '.cloud_agents[] | select(.agent == "ec2config") | .found_by' \
    "file Program Files/Amazon/Ec2ConfigService/Settings/Config.xml"
  eq '.autologon | "\(.enabled) \(.user) \(.winlogon_password) \(.lsa_secret)"' \
    "true $(spec_users "$name" | awk '$1 == 1000 { print $2 }') true true"
  eq .rdp_certificates 1
  eq '.wsus_ids | join(",")' SusClientId,SusClientIdValidation
  if [ -n "$(s PROVIDERS)" ]; then
    eq '[.sysprep_providers[] | "\(.pass)=\(.provider)"] | join(";")' \
      'Generalize=C:\WindowsAzure\GuestAgent_2.7.41491.1102\VMAgentDisabler.dll,DisableVMAgent;Specialize=C:\Program Files\Fabrikam\fabsysprep.dll,SpecializeFabrikam'
  else
    eq '.sysprep_providers | length' 0
  fi
  q .activation | grep -q 'KMS client machine id' || fail "$name: inspect does not say activation cannot be reset offline"
  ! grep -q "$(s AUTOLOGON_PASSWORD)" "$j" || fail "$name: inspect printed the autologon password"
  eq '[.hives[] | select(.state != "clean")] | length' 0
  eq '.hives | length' $((5 + 2 * nprof))
  eq '.warnings | length' 0
  echo "$name: ok"
}

check ws2022
check win10
check ws2012r2

# The text report says the same things for people.
winseal inspect "$(image ws2012r2)" > "$tmp/text"
grep -q "^Product: *$(spec_get ws2012r2 PRODUCT_NAME)\$" "$tmp/text" || fail "text: product"
grep -q "^Computer name: *$(spec_get ws2012r2 COMPUTERNAME)\$" "$tmp/text" || fail "text: computer name"
grep -q "^Machine SID (SAM): *$(spec_get ws2012r2 MACHINE_SID)\$" "$tmp/text" || fail "text: SID"
grep -q '^SetupComplete.cmd: */Windows/Setup/Scripts/SetupComplete.cmd$' "$tmp/text" || fail "text: SetupComplete"
grep -q '^Cloud agents: *EC2Launch v1 (file .*); EC2Config (file .*)$' "$tmp/text" || fail "text: cloud agents: $(grep '^Cloud agents' "$tmp/text")"
grep -q '^Autologon: *on, user .*LSA secret DefaultPassword set (secrets removes it)$' "$tmp/text" || fail "text: autologon"
grep -q '^WSUS ids: *SusClientId, SusClientIdValidation$' "$tmp/text" || fail "text: WSUS ids"
grep -q '^Activation: *not reset offline' "$tmp/text" || fail "text: activation"

# What generalize refuses, reported: a domain member (JSON) and a domain
# controller (text), as their specs made them.
winseal inspect --json "$(image bad-domain)" > "$tmp/dom.json" || fail "inspect bad-domain failed"
[ "$(jq -r '[.domain_joined, .primary_domain, .primary_domain_sid, .domain_controller] | join(" ")' "$tmp/dom.json")" \
  = "true $(spec_get bad-domain DOMAIN_NAME) $(spec_get bad-domain DOMAIN_SID) false" ] \
  || fail "bad-domain: $(jq -c '{domain_joined, primary_domain, primary_domain_sid, domain_controller}' "$tmp/dom.json")"
winseal inspect "$(image bad-dc)" > "$tmp/dc.txt" || fail "inspect bad-dc failed"
grep -q '^Domain: *a domain controller of .*(generalize refuses it)$' "$tmp/dc.txt" || fail "bad-dc: $(grep '^Domain' "$tmp/dc.txt")"
echo "bad-domain and bad-dc: reported as a domain member and a domain controller"

