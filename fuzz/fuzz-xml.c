/* fuzz: the XML readers of files taken from an image or the user — the
 * answer-file checker (unattend_check_buffer, unattend_has_setting; also
 * what --target openstack applies to Cloudbase-Init's Unattend.xml) and
 * the EC2Config Config.xml rewriter (ec2config_enable), whose output is
 * read back as it would be on a second run. */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>

#include "generalize/agentconf.h"
#include "generalize/unattend.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  ws_globals.quiet = 1;
  if (unattend_check_buffer (text, size, "fuzz.xml", "amd64") == 0)
    (void) unattend_has_setting (text, size, "generalize", "Microsoft-Windows-PnpSysprep",
                                 "PersistAllDeviceInstalls", "true");
  char *out = NULL;
  size_t outlen;
  int changed, missing;
  char why[160];
  if (ec2config_enable (text, size, &out, &outlen, &changed, &missing, why, sizeof why) == 0
      && out) {
    char *again = NULL;
    size_t l2;
    int c2, m2;
    /* A rewritten file is a Config.xml with nothing left to enable. */
    if (ec2config_enable (out, outlen, &again, &l2, &c2, &m2, why, sizeof why) != 0 || c2 != 0)
      abort ();
    free (again);
  }
  free (out);
  return 0;
}
