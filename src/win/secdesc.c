/* winseal: self-relative security descriptors: checks and the machine
 * SID move (see secdesc.h).  Layout: revision, sbz1, control (u16), then
 * the offsets of owner, group, SACL and DACL (u32 each, 0 = absent). */
#include <config.h>

#include <string.h>

#include "win/secdesc.h"

#define SD_HDR 20
#define SE_SACL_PRESENT 0x0010
#define SE_DACL_PRESENT 0x0004
#define SE_SELF_RELATIVE 0x8000
#define ACL_HDR 8

static inline uint16_t g16 (const uint8_t *p) { return p[0] | (p[1] << 8); }
static inline uint32_t g32 (const uint8_t *p)
{ return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24); }

/* Where an ACE's trustee SID starts (from the ACE start), or 0 for a type
 * not parsed.  Object ACEs carry flags and up to two GUIDs first. */
static size_t
trustee_offset (const uint8_t *ace, size_t size)
{
  uint8_t type = ace[0];
  switch (type) {
  case 0x00: case 0x01: case 0x02: case 0x03:           /* allowed, denied, audit, alarm */
  case 0x09: case 0x0A: case 0x0D: case 0x0E:           /* their callback forms */
  case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: /* label, resource attribute,
                                                          * scoped policy, trust label,
                                                          * access filter */
    return 8;
  case 0x05: case 0x06: case 0x07: case 0x08:           /* object ACEs */
  case 0x0B: case 0x0C: case 0x0F: case 0x10: {         /* callback object ACEs */
    if (size < 12)
      return SIZE_MAX;
    uint32_t flags = g32 (ace + 8);
    return 12 + ((flags & 1) ? 16 : 0) + ((flags & 2) ? 16 : 0);
  }
  default:
    return 0;                   /* compound (0x04) and unknown types */
  }
}

/* Is there a whole SID at p (avail bytes)?  Returns its length or -1. */
static int
sid_at (const uint8_t *p, size_t avail, struct sid *s)
{
  return sid_from_binary (p, avail, s);
}

/* Move one SID in place when it is of domain 'from'. */
static void
move_sid (uint8_t *p, const struct sid *s, const struct sid *from, const struct sid *to,
          struct sd_stats *st)
{
  st->sids++;
  if (s->revision != 1 || s->authority != 5 || s->count < 4 || s->sub[0] != 21)
    return;
  for (int i = 1; i <= 3; ++i)
    if (s->sub[i] != from->sub[i])
      return;
  for (int i = 1; i <= 3; ++i) {
    uint32_t v = to->sub[i];
    uint8_t *q = p + 8 + 4 * i;
    q[0] = v; q[1] = v >> 8; q[2] = v >> 16; q[3] = v >> 24;
  }
  st->moved++;
}

/* Walk (and, when from/to are given, rewrite) an ACL at off. */
static int
walk_acl (uint8_t *sd, size_t len, uint32_t off, const struct sid *from,
          const struct sid *to, struct sd_stats *st, const char **why)
{
  if (off < SD_HDR || (uint64_t) off + ACL_HDR > len) {
    *why = "an ACL offset lies outside the descriptor";
    return -1;
  }
  uint8_t *acl = sd + off;
  size_t size = g16 (acl + 2), count = g16 (acl + 4);
  if (size < ACL_HDR || off + size > len) {
    *why = "an ACL's size runs past the descriptor";
    return -1;
  }
  if (acl[0] != 2 && acl[0] != 4) {
    *why = "an ACL revision is neither 2 nor 4";
    return -1;
  }
  size_t pos = ACL_HDR;
  for (size_t i = 0; i < count; ++i) {
    if (pos + 4 > size) {
      *why = "an ACE header runs past its ACL";
      return -1;
    }
    uint8_t *ace = acl + pos;
    size_t asz = g16 (ace + 2);
    if (asz < 8 || pos + asz > size) {
      *why = "an ACE's size is too small or runs past its ACL";
      return -1;
    }
    size_t t = trustee_offset (ace, asz);
    if (t == 0)
      st->unknown_aces++;
    else {
      struct sid s;
      int n = t == SIZE_MAX || t >= asz ? -1 : sid_at (ace + t, asz - t, &s);
      if (n < 0) {
        *why = "an ACE's trustee SID runs past the ACE";
        return -1;
      }
      if (from)
        move_sid (ace + t, &s, from, to, st);
      else
        st->sids++;
    }
    pos += asz;
  }
  return 0;
}

static int
walk (uint8_t *sd, size_t len, const struct sid *from, const struct sid *to,
      struct sd_stats *st, const char **why)
{
  memset (st, 0, sizeof *st);
  if (len < SD_HDR) {
    *why = "shorter than a descriptor header";
    return -1;
  }
  if (sd[0] != 1) {
    *why = "descriptor revision is not 1";
    return -1;
  }
  uint16_t control = g16 (sd + 2);
  if (!(control & SE_SELF_RELATIVE)) {
    *why = "not a self-relative descriptor";
    return -1;
  }
  for (int k = 0; k < 2; ++k) {           /* owner, group */
    uint32_t off = g32 (sd + 4 + 4 * k);
    if (!off)
      continue;
    struct sid s;
    if (off < SD_HDR || off >= len || sid_at (sd + off, len - off, &s) < 0) {
      *why = k ? "the group SID lies outside the descriptor"
               : "the owner SID lies outside the descriptor";
      return -1;
    }
    if (from)
      move_sid (sd + off, &s, from, to, st);
    else
      st->sids++;
  }
  uint32_t sacl = g32 (sd + 12), dacl = g32 (sd + 16);
  if ((control & SE_SACL_PRESENT) && sacl && walk_acl (sd, len, sacl, from, to, st, why) == -1)
    return -1;
  if ((control & SE_DACL_PRESENT) && dacl && walk_acl (sd, len, dacl, from, to, st, why) == -1)
    return -1;
  return 0;
}

int
sd_check (const uint8_t *sd, size_t len, const char **why_ret)
{
  struct sd_stats st;
  const char *why = NULL;
  /* A check-only walk never writes (from == NULL). */
  int r = walk ((uint8_t *) sd, len, NULL, NULL, &st, &why);
  if (why_ret)
    *why_ret = why;
  return r;
}

int
sd_move_domain (uint8_t *sd, size_t len, const struct sid *from, const struct sid *to,
                struct sd_stats *st, const char **why_ret)
{
  struct sd_stats local;
  const char *why = NULL;
  if (!st)
    st = &local;
  /* Check the whole descriptor first, so that a malformed one is never
   * half rewritten. */
  if (walk (sd, len, NULL, NULL, st, &why) == -1
      || walk (sd, len, from, to, st, &why) == -1) {
    if (why_ret)
      *why_ret = why;
    return -1;
  }
  if (why_ret)
    *why_ret = NULL;
  return 0;
}
