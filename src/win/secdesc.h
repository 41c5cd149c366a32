/* winseal: self-relative security descriptors (the NTFS $Secure and
 * registry sk-cell form): bound-checked parsing of owner, group, DACL and
 * SACL and of every ACE type, and the machine-domain SID move done on
 * them.  Plain C with no library dependency, so that the static helper
 * run inside the appliance can use it too. */
#ifndef WINSEAL_SECDESC_H
#define WINSEAL_SECDESC_H

#include <stddef.h>
#include <stdint.h>

#include "win/sid.h"

/* What a walk over one descriptor found. */
struct sd_stats {
  size_t sids;                  /* SIDs seen (owner, group, ACE trustees) */
  size_t moved;                 /* of them, moved to the new domain */
  size_t unknown_aces;          /* ACEs of a type not parsed (left alone) */
};

/* Check a self-relative descriptor of len bytes.  Returns 0, or -1 with a
 * static reason in *why_ret. */
int sd_check (const uint8_t *sd, size_t len, const char **why_ret);

/* Move every SID of domain 'from' (S-1-5-21-x-y-z, the domain itself or
 * domain + RID) in the descriptor — owner, group, and the trustee of every
 * ACE of the DACL and SACL, object and callback ACEs included — to the
 * domain 'to'.  Lengths never change, so the edit is in place.  ACE types
 * it cannot parse are left untouched and counted.  Returns 0, or -1 (the
 * descriptor is malformed; nothing changed, reason in *why_ret). */
int sd_move_domain (uint8_t *sd, size_t len, const struct sid *from,
                    const struct sid *to, struct sd_stats *st, const char **why_ret);

#endif
