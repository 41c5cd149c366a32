/* winseal: the cloud agents' configuration files that first boot depends
 * on, read and rewritten on the host (no appliance): EC2Config's
 * Settings\Config.xml. */
#ifndef WINSEAL_AGENTCONF_H
#define WINSEAL_AGENTCONF_H

#include <stddef.h>

/* The EC2Config plugins that EC2Config disables after the first launch
 * and that a new instance needs again (sysprep-parity.md [23]). */
extern const char *const ec2config_first_boot_plugins[];

/* Config.xml (<Ec2ConfigurationSettings><Plugins><Plugin><Name>N</Name>
 * <State>S</State>...): set State to "Enabled" for each first-boot
 * plugin.  *out_ret (caller frees) is the rewritten file when a state
 * changed, else NULL; *changed_ret how many changed, *missing_ret how
 * many of those plugins the file does not list.  Returns 0, or -1 with
 * why (one line) when the file is not such a Config.xml (not
 * well-formed, a DTD, another root, a Plugin without one Name and one
 * State). */
int ec2config_enable (const char *xml, size_t len, char **out_ret, size_t *outlen_ret,
                      int *changed_ret, int *missing_ret, char *why, size_t whylen);

#endif
