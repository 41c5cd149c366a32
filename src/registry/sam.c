/* winseal: parsers for SAM and SECURITY hive values.  Every offset read
 * from the hive is checked against the value's length before use. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hive.h"
#include "registry/sam.h"

const struct sam_layout sam_domain_v_layout = { 0, 4, 0x30 };
const struct sam_layout sam_user_v_layout = { 0, 17, 0xCC };
const struct sam_layout sam_alias_c_layout = { 4, 4, 0x34 };

int
sam_item (const uint8_t *buf, size_t len, const struct sam_layout *lay,
          size_t idx, const uint8_t **p_ret, size_t *len_ret,
          uint32_t *qual_ret)
{
  size_t d = lay->table + 12 * idx;
  if (idx >= lay->count || d + 12 > len || lay->base > len)
    return -1;
  uint32_t off = le32 (buf + d), l = le32 (buf + d + 4);
  if ((uint64_t) lay->base + off + l > len)
    return -1;
  *p_ret = buf + lay->base + off;
  *len_ret = l;
  if (qual_ret)
    *qual_ret = le32 (buf + d + 8);
  return 0;
}

int
sam_domain_sid (hive_h *h, struct sid *ret)
{
  hive_node_h acct = hive_walk (h, hivex_root (h), "SAM\\Domains\\Account");
  CLEANUP_FREE uint8_t *v = NULL;
  size_t len, sl;
  hive_type t;
  const uint8_t *p;

  if (!acct) {
    ws_error ("SAM hive: no SAM\\Domains\\Account key");
    return -1;
  }
  v = hive_get_bytes (h, acct, "V", &len, &t);
  if (!v) {
    ws_error ("SAM hive: SAM\\Domains\\Account has no V value");
    return -1;
  }
  if (sam_item (v, len, &sam_domain_v_layout, 1, &p, &sl, NULL) == -1
      || sid_from_binary (p, sl, ret) != (int) sl
      || !sid_is_machine_domain (ret)) {
    ws_error ("SAM hive: Domains\\Account\\V (%zu bytes) holds no valid "
              "machine SID", len);
    return -1;
  }
  return 0;
}

static int
cmp_rid (const void *a, const void *b)
{
  const struct sam_user *x = a, *y = b;
  return x->rid < y->rid ? -1 : x->rid > y->rid;
}

void
sam_free_users (struct sam_user *u, size_t n)
{
  for (size_t i = 0; u && i < n; ++i) {
    free (u[i].name);
    free (u[i].fullname);
  }
  free (u);
}

int
sam_users (hive_h *h, struct sam_user **users_ret, size_t *n_ret)
{
  hive_node_h users = hive_walk (h, hivex_root (h),
                                 "SAM\\Domains\\Account\\Users");
  CLEANUP_FREE hive_node_h *kids = NULL;
  struct sam_user *u = NULL;
  size_t n = 0;

  if (!users) {
    ws_error ("SAM hive: no SAM\\Domains\\Account\\Users key");
    return -1;
  }
  kids = hivex_node_children (h, users);
  if (!kids) {
    ws_error ("SAM hive: cannot list Users: %m");
    return -1;
  }
  for (size_t i = 0; kids[i]; ++i) {
    CLEANUP_FREE char *name = hivex_node_name (h, kids[i]);
    CLEANUP_FREE uint8_t *v = NULL, *f = NULL;
    size_t vlen, flen, nl;
    hive_type t;
    const uint8_t *p;
    char *end;
    unsigned long rid;

    if (!name || strlen (name) != 8)
      continue;                 /* "Names" and anything unexpected */
    errno = 0;
    rid = strtoul (name, &end, 16);
    if (*end || errno)
      continue;
    v = hive_get_bytes (h, kids[i], "V", &vlen, &t);
    f = hive_get_bytes (h, kids[i], "F", &flen, &t);
    if (!v || sam_item (v, vlen, &sam_user_v_layout, 1, &p, &nl, NULL) == -1) {
      ws_error ("SAM hive: user %s: V value missing or malformed", name);
      sam_free_users (u, n);
      return -1;
    }
    u = ws_realloc (u, (n + 1) * sizeof *u);
    memset (&u[n], 0, sizeof u[n]);
    u[n].rid = (uint32_t) rid;
    u[n].name = utf16le_to_utf8 (p, nl);
    if (!u[n].name)
      u[n].name = ws_strdup ("?");
    if (sam_item (v, vlen, &sam_user_v_layout, 2, &p, &nl, NULL) == 0)
      u[n].fullname = utf16le_to_utf8 (p, nl);
    if (f && flen >= SAM_F_MIN_LEN) {
      u[n].acb = le16 (f + SAM_F_ACB);
      u[n].enabled = !(u[n].acb & ACB_DISABLED);
    }
    n++;
  }
  if (n)
    qsort (u, n, sizeof *u, cmp_rid);
  *users_ret = u;
  *n_ret = n;
  return 0;
}

int
sam_alias_members (const uint8_t *c, size_t len, struct sid **sids_ret,
                   size_t *n_ret)
{
  const uint8_t *p;
  size_t l;
  uint32_t count;
  struct sid *s = NULL;
  size_t n = 0;

  if (sam_item (c, len, &sam_alias_c_layout, 3, &p, &l, &count) == -1)
    return -1;
  if (count > l / 8)
    return -1;
  s = ws_malloc ((count ? count : 1) * sizeof *s);
  for (size_t off = 0; n < count; ) {
    int used = sid_from_binary (p + off, l - off, &s[n]);
    if (used < 0) {
      free (s);
      return -1;
    }
    off += used;
    n++;
  }
  *sids_ret = s;
  *n_ret = n;
  return 0;
}

int
lsa_machine_sid (hive_h *h, struct sid *ret)
{
  hive_node_h k = hive_walk (h, hivex_root (h), "Policy\\PolAcDmS");
  CLEANUP_FREE uint8_t *v = NULL;
  size_t len;
  hive_type t;

  if (!k || !(v = hive_get_bytes (h, k, NULL, &len, &t))) {
    ws_error ("SECURITY hive: no Policy\\PolAcDmS value");
    return -1;
  }
  if (sid_from_binary (v, len, ret) != (int) len || !sid_is_machine_domain (ret)) {
    ws_error ("SECURITY hive: Policy\\PolAcDmS (%zu bytes) is not a machine SID",
              len);
    return -1;
  }
  return 0;
}

char *
lsa_policy_name (hive_h *h, const char *key)
{
  CLEANUP_FREE char *path = ws_strconcat ("Policy\\", key, NULL);
  hive_node_h k = hive_walk (h, hivex_root (h), path);
  CLEANUP_FREE uint8_t *v = NULL;
  size_t len;
  hive_type t;

  if (!k || !(v = hive_get_bytes (h, k, NULL, &len, &t)) || len < 8)
    return NULL;
  /* UNICODE_STRING: u16 length, u16 maximum length, u32 buffer offset. */
  uint32_t l = le16 (v), off = le32 (v + 4);
  if ((uint64_t) off + l > len)
    return NULL;
  return utf16le_to_utf8 (v + off, l);
}

int
sam_alias_remove_member (const uint8_t *c, size_t len, const struct sid *member,
                         uint8_t **out_ret, size_t *out_len_ret)
{
  const uint8_t *p;
  size_t l;
  uint32_t count;
  if (sam_item (c, len, &sam_alias_c_layout, 3, &p, &l, &count) == -1 || count > l / 8)
    return -1;
  uint8_t want[SID_MAX_BINARY];
  size_t wl = sid_binary_len (member);
  sid_to_binary (member, want);
  for (size_t off = 0, i = 0; i < count; ++i) {
    struct sid s;
    int used = sid_from_binary (p + off, l - off, &s);
    if (used < 0)
      return -1;
    if ((size_t) used == wl && memcmp (p + off, want, wl) == 0) {
      size_t at = (size_t) (p - c) + off;         /* absolute position */
      uint8_t *o = ws_malloc (len - wl + 1);
      memcpy (o, c, at);
      memcpy (o + at, c + at + wl, len - at - wl);
      uint32_t rel = (uint32_t) (at - sam_alias_c_layout.base);
      for (size_t d = 0; d < sam_alias_c_layout.count; ++d) {
        uint8_t *e = o + sam_alias_c_layout.table + 12 * d;
        if (d == 3) {
          put_le32 (e + 4, le32 (e + 4) - (uint32_t) wl);
          put_le32 (e + 8, count - 1);
        }
        else if (le32 (e) > rel)
          put_le32 (e, le32 (e) - (uint32_t) wl);
      }
      *out_ret = o;
      *out_len_ret = len - wl;
      return 1;
    }
    off += used;
  }
  return 0;
}
