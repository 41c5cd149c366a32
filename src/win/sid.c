/* winseal: SID parsing and formatting. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win/sid.h"

int
sid_from_binary (const uint8_t *p, size_t len, struct sid *ret)
{
  if (len < 8 || p[0] != 1 || p[1] > SID_MAX_SUBAUTH)
    return -1;
  size_t need = 8 + 4 * (size_t) p[1];
  if (len < need)
    return -1;
  ret->revision = p[0];
  ret->count = p[1];
  ret->authority = 0;
  for (int i = 2; i < 8; ++i)
    ret->authority = (ret->authority << 8) | p[i];
  for (unsigned i = 0; i < ret->count; ++i) {
    const uint8_t *q = p + 8 + 4 * i;
    ret->sub[i] = (uint32_t) q[0] | (uint32_t) q[1] << 8
      | (uint32_t) q[2] << 16 | (uint32_t) q[3] << 24;
  }
  return (int) need;
}

void
sid_to_binary (const struct sid *s, uint8_t *out)
{
  out[0] = s->revision;
  out[1] = s->count;
  for (int i = 0; i < 6; ++i)
    out[2 + i] = (s->authority >> (8 * (5 - i))) & 0xff;
  for (unsigned i = 0; i < s->count; ++i) {
    uint8_t *q = out + 8 + 4 * i;
    q[0] = s->sub[i];
    q[1] = s->sub[i] >> 8;
    q[2] = s->sub[i] >> 16;
    q[3] = s->sub[i] >> 24;
  }
}

char *
sid_to_string (const struct sid *s, char buf[SID_STRING_MAX])
{
  int n = snprintf (buf, SID_STRING_MAX, "S-%u-%" PRIu64,
                    s->revision, s->authority);
  for (unsigned i = 0; i < s->count && n > 0 && n < SID_STRING_MAX; ++i)
    n += snprintf (buf + n, SID_STRING_MAX - n, "-%" PRIu32, s->sub[i]);
  return buf;
}

/* Parse one decimal number of at most max, advancing *pp.  -1 on error. */
static int
parse_num (const char **pp, uint64_t max, uint64_t *ret)
{
  const char *p = *pp;
  uint64_t v = 0;
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (uint64_t) (*p - '0');
    if (v > max)
      return -1;
    p++;
  }
  *pp = p;
  *ret = v;
  return 0;
}

int
sid_parse (const char *str, struct sid *ret)
{
  const char *p = str;
  uint64_t v;

  if ((p[0] != 'S' && p[0] != 's') || p[1] != '-')
    return -1;
  p += 2;
  if (parse_num (&p, 1, &v) == -1 || v != 1 || *p != '-')
    return -1;
  ret->revision = 1;
  p++;
  if (parse_num (&p, UINT64_C (0xffffffffffff), &ret->authority) == -1)
    return -1;
  ret->count = 0;
  while (*p == '-') {
    p++;
    if (ret->count == SID_MAX_SUBAUTH
        || parse_num (&p, UINT32_MAX, &v) == -1)
      return -1;
    ret->sub[ret->count++] = (uint32_t) v;
  }
  return *p == '\0' ? 0 : -1;
}

int
sid_equal (const struct sid *a, const struct sid *b)
{
  return a->revision == b->revision && a->count == b->count
    && a->authority == b->authority
    && memcmp (a->sub, b->sub, a->count * sizeof a->sub[0]) == 0;
}

int
sid_is_machine_domain (const struct sid *s)
{
  return s->revision == 1 && s->authority == 5 && s->count == 4
    && s->sub[0] == 21;
}

int
sid_in_domain (const struct sid *s, const struct sid *d)
{
  return s->revision == d->revision && s->authority == d->authority
    && s->count == d->count + 1
    && memcmp (s->sub, d->sub, d->count * sizeof s->sub[0]) == 0;
}

void
sid_append_rid (const struct sid *domain, uint32_t rid, struct sid *ret)
{
  *ret = *domain;
  if (ret->count < SID_MAX_SUBAUTH)
    ret->sub[ret->count++] = rid;
}
