/* winseal: cloud targets (--target generic|azure|aws|openstack) — one
 * table of what differs per cloud: the default output format, the
 * answer-file policy, the agent the cloud provisions with, and the
 * readiness checks `verify --target` runs.  The code asks the table; no
 * target name is compared anywhere else. */
#ifndef WINSEAL_TARGET_H
#define WINSEAL_TARGET_H

#include <stdint.h>

enum answer_policy {
  ANSWER_WRITE,                 /* Panther\unattend.xml: --unattend or generated */
  ANSWER_NONE,                  /* no answer file Setup would read before the cloud's
                                 * own on its provisioning media; stale ones removed */
  ANSWER_CLOUDBASE,             /* the image's Cloudbase-Init conf\Unattend.xml when
                                 * installed (unless --unattend), else generated */
};

/* Readiness checks of `verify --target` (bits of struct target.checks).
 * The answer-file policy is checked by the unattend operation's verify. */
#define TARGET_CHECK_RDP_OPEN        0x1  /* Remote Desktop open (now or at first boot) */
#define TARGET_CHECK_FIXED_VHD       0x2  /* the image file is a fixed VHD of whole MiB */
#define TARGET_CHECK_AGENT           0x4  /* the cloud's agent is installed (else a warning) */

struct target {
  const char *name;
  const char *format;           /* default output format (format_output_lookup name) */
  int fixed_vhd_only;           /* other output formats refused */
  uint64_t vhd_min_size;        /* VHD: the smallest virtual size written (0: none) */
  enum answer_policy answer;
  const char *agent_kind;       /* the agents (agents.h kind) the cloud provisions
                                 * with, or NULL */
  unsigned checks;              /* TARGET_CHECK_* */
  const char *summary;          /* one paragraph, for the man page and --help */
};

extern const struct target targets[];
extern const size_t n_targets;
/* The generic target (no --target). */
const struct target *target_default (void);
/* A target by name, or NULL. */
const struct target *target_by_name (const char *name);
/* "generic, azure, aws, openstack" (static). */
const char *target_names (void);

#endif
