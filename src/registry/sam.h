/* winseal: the SAM and SECURITY hives' binary structures (DESIGN.md §4). */
#ifndef WINSEAL_SAM_H
#define WINSEAL_SAM_H

#include <hivex.h>
#include <stdint.h>

#include "win/sid.h"

/* Layouts of the descriptor tables: {u32 offset, u32 length, u32 qualifier}
 * entries starting at 'table', data offsets relative to 'base'. */
struct sam_layout {
  size_t table;                 /* byte offset of descriptor 0 */
  size_t count;                 /* number of descriptors */
  size_t base;                  /* offsets are relative to this */
};
extern const struct sam_layout sam_domain_v_layout;   /* Domains\*\V */
extern const struct sam_layout sam_user_v_layout;     /* Users\RID\V */
extern const struct sam_layout sam_alias_c_layout;    /* Aliases\RID\C */

/* Locate item idx of a descriptor table in buf (len bytes).  Returns 0 and
 * sets *p_ret / *len_ret / *qual_ret (qual_ret may be NULL), or -1 when the
 * descriptor or its data lies outside buf. */
int sam_item (const uint8_t *buf, size_t len, const struct sam_layout *lay,
              size_t idx, const uint8_t **p_ret, size_t *len_ret,
              uint32_t *qual_ret);

/* User account control bits in F at 0x38. */
#define ACB_DISABLED 0x0001
#define SAM_F_RID 0x30
#define SAM_F_ACB 0x38
#define SAM_F_MIN_LEN 0x50

struct sam_user {
  uint32_t rid;
  char *name;                   /* UTF-8 */
  char *fullname;
  uint16_t acb;
  int enabled;
};

/* The machine SID from SAM\Domains\Account\V.  Returns 0 or -1 (with an
 * error reported naming what is wrong). */
int sam_domain_sid (hive_h *h, struct sid *ret);
/* Every user under SAM\Domains\Account\Users, sorted by RID.  Caller frees
 * with sam_free_users. */
int sam_users (hive_h *h, struct sam_user **users_ret, size_t *n_ret);
void sam_free_users (struct sam_user *u, size_t n);
/* Members (binary SIDs) of an alias's C value: caller frees *sids_ret. */
int sam_alias_members (const uint8_t *c, size_t len, struct sid **sids_ret,
                       size_t *n_ret);

/* Remove one member SID from an alias's C value.  Returns 1 with a new
 * value in *out_ret (caller frees), 0 when the SID is not a member, -1
 * when the value is malformed. */
int sam_alias_remove_member (const uint8_t *c, size_t len, const struct sid *member,
                             uint8_t **out_ret, size_t *out_len_ret);

/* SECURITY hive: Policy\PolAcDmS (machine SID), PolAcDmN (account domain
 * name, UTF-8, caller frees), PolPrDmN (primary domain or workgroup). */
int lsa_machine_sid (hive_h *h, struct sid *ret);
char *lsa_policy_name (hive_h *h, const char *key);

#endif
