/* winseal: the cloud-target table (target.h).
 *
 * Sources: Azure takes fixed VHDs whose virtual size is a whole number of
 * MiB and provisions a generalized image with its own answer file on the
 * provisioning media, which Setup reads only after UnattendFile,
 * %WINDIR%\Panther\Unattend and %WINDIR%\Panther ("Windows Setup
 * Automation Overview", implicit answer file search order;
 * learn.microsoft.com/azure/virtual-machines/windows/prepare-for-upload-vhd-image).
 * AWS VM Import takes stream-optimized VMDK (docs.aws.amazon.com/vm-import,
 * "Supported image formats"); EC2Launch v2 sets the password from its
 * own first-boot tasks.  OpenStack images are qcow2 by convention;
 * Cloudbase-Init ships conf\Unattend.xml for the Sysprep it expects
 * (cloudbase-init documentation, "Sysprep"). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "formats/format.h"
#include "generalize/target.h"

const struct target targets[] = {
  { .name = "generic", .format = "vhd", .answer = ANSWER_WRITE,
    .checks = 0,
    .summary = "A fixed VHD; Panther\\unattend.xml written (--unattend or generated).  "
               "verify --target generic runs the operations' checks only." },
  { .name = "azure", .format = "vhd", .fixed_vhd_only = 1, .vhd_min_size = AZURE_MIN_SIZE,
    .answer = ANSWER_NONE, .agent_kind = "azure",
    .checks = TARGET_CHECK_RDP_OPEN | TARGET_CHECK_FIXED_VHD | TARGET_CHECK_AGENT,
    .summary = "A fixed VHD of at least 20 MiB, its size a whole number of MiB (other "
               "formats refused).  No answer file: Azure provisions with its own, on "
               "media Setup reads after SYSTEM\\Setup UnattendFile, Panther\\Unattend "
               "and Panther, so winseal clears that value and removes unattend.xml and "
               "autounattend.xml from both folders (--unattend and the options that "
               "build an answer file are refused).  verify --target azure: none of "
               "those answer files, Remote Desktop open (now or from SetupComplete.cmd), "
               "the fixed-VHD rules, and a warning when the Azure VM agent is not "
               "installed." },
  { .name = "aws", .format = "vmdk", .answer = ANSWER_WRITE, .agent_kind = "ec2",
    .checks = TARGET_CHECK_RDP_OPEN | TARGET_CHECK_AGENT,
    .summary = "A stream-optimized VMDK (VM Import's format); Panther\\unattend.xml in "
               "EC2Launch v2's style, as for generic.  verify --target aws: Remote "
               "Desktop open, and a warning when no EC2 agent (EC2Launch v2, EC2Launch "
               "v1, EC2Config) is installed." },
  { .name = "openstack", .format = "qcow2", .answer = ANSWER_CLOUDBASE,
    .agent_kind = "cloudbase-init",
    .checks = TARGET_CHECK_RDP_OPEN | TARGET_CHECK_AGENT,
    .summary = "A qcow2.  The answer file is the image's own Cloudbase-Init "
               "conf\\Unattend.xml when Cloudbase-Init is installed (checked like "
               "--unattend; --unattend still wins), else one generated.  verify "
               "--target openstack: Remote Desktop open, Panther\\unattend.xml equal "
               "to Cloudbase-Init's when it is installed, and a warning when it is "
               "not." },
};
const size_t n_targets = sizeof targets / sizeof targets[0];

const struct target *
target_default (void)
{
  return &targets[0];
}

const struct target *
target_by_name (const char *name)
{
  for (size_t i = 0; i < n_targets; ++i)
    if (strcmp (targets[i].name, name) == 0)
      return &targets[i];
  return NULL;
}

const char *
target_names (void)
{
  static char buf[128];
  if (!buf[0])
    for (size_t i = 0; i < n_targets; ++i) {
      size_t l = strlen (buf);
      snprintf (buf + l, sizeof buf - l, "%s%s", i ? ", " : "", targets[i].name);
    }
  return buf;
}
