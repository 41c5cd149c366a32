/* winseal: what an image has installed that provisions it on a cloud —
 * the cloud agents (EC2Launch v2 and v1, EC2Config, Cloudbase-Init, the
 * Azure VM agent) and the external Sysprep providers — found from the
 * SYSTEM and SOFTWARE hives and the file system.  inspect reports them;
 * the cloud-agents and sysprep-providers operations and verify --target
 * act on them. */
#ifndef WINSEAL_AGENTS_H
#define WINSEAL_AGENTS_H

#include <hivex.h>
#include <json-c/json.h>

#include "guest/windows.h"

struct cloud_agent {
  const char *id;               /* "ec2launch-v2" */
  const char *title;            /* "EC2Launch v2" */
  const char *kind;             /* the cloud it provisions for: "ec2", "azure",
                                 * "cloudbase-init" (struct target.agent_kind) */
  const char *services[3];      /* service key names (current control set) */
  const char *paths[3];         /* files or folders below the volume root */
  const char *software_key;     /* a key in SOFTWARE, or NULL */
};
extern const struct cloud_agent cloud_agents[];
extern const size_t n_cloud_agents;
#define CLOUD_AGENTS_MAX 8

/* For each agent, what shows it is installed ("service EC2Launch",
 * "file /ProgramData/...", static or owned by the caller: free each), or
 * NULL.  sys or sw may be NULL.  Returns how many were found. */
size_t agents_detect (struct windows *w, hive_h *sys, hive_h *sw,
                      char *evidence[CLOUD_AGENTS_MAX]);

/* Cloudbase-Init's answer file for its Sysprep, when installed (a
 * resolved guest path that exists, caller frees), or NULL. */
char *agents_cloudbase_unattend (struct windows *w);

/* SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\SysPrepExternal. */
#define SYSPREP_EXTERNAL_KEY "Microsoft\\Windows\\CurrentVersion\\Setup\\SysPrepExternal"
/* The providers registered there, one object per entry: {"pass":
 * "Generalize"|"Specialize"|"Cleanup"|..., "name": value or subkey
 * name, "provider": its data (DLL path, entry point) or null}.  An
 * array (possibly empty), or NULL when sw is NULL.  At most
 * PROVIDERS_MAX entries are listed (*truncated_ret set past it). */
#define PROVIDERS_MAX 256
json_object *sysprep_providers (hive_h *sw, int *truncated_ret);

/* What cannot be reset offline, as inspect and the man page say it. */
#define ACTIVATION_OFFLINE \
  "not reset offline: the rearm count and the KMS client machine id (CMID) stay " \
  "the golden machine's; KMS-activated fleets need Sysprep's own generalize " \
  "(or slmgr /rearm on each machine)"

#endif
