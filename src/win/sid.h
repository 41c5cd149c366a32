/* winseal: Windows security identifiers (SIDs), binary and string forms. */
#ifndef WINSEAL_SID_H
#define WINSEAL_SID_H

#include <stddef.h>
#include <stdint.h>

#define SID_MAX_SUBAUTH 15
#define SID_MAX_BINARY (8 + 4 * SID_MAX_SUBAUTH)

struct sid {
  uint8_t revision;
  uint8_t count;                /* number of sub-authorities */
  uint64_t authority;           /* 48 bits */
  uint32_t sub[SID_MAX_SUBAUTH];
};

/* Parse a binary SID at p (len bytes available).  Returns the number of
 * bytes used, or -1 if malformed or truncated. */
int sid_from_binary (const uint8_t *p, size_t len, struct sid *ret);
/* Binary length of a SID. */
static inline size_t sid_binary_len (const struct sid *s) { return 8 + 4 * s->count; }
/* Write the binary form to out (sid_binary_len bytes). */
void sid_to_binary (const struct sid *s, uint8_t *out);
/* "S-1-5-21-..." into buf; returns buf. */
#define SID_STRING_MAX 192
char *sid_to_string (const struct sid *s, char buf[SID_STRING_MAX]);
/* Parse the string form.  Returns 0 or -1 (not a SID). */
int sid_parse (const char *str, struct sid *ret);
int sid_equal (const struct sid *a, const struct sid *b);
/* Is s a machine (account domain) SID S-1-5-21-x-y-z? */
int sid_is_machine_domain (const struct sid *s);
/* Is s a SID in the domain d (d's sub-authorities then exactly one RID)? */
int sid_in_domain (const struct sid *s, const struct sid *d);
/* Build domain + RID. */
void sid_append_rid (const struct sid *domain, uint32_t rid, struct sid *ret);

/* sid-text.c */
/* Replace the string SID old by nw in text (UTF-16LE when utf16, else
 * 8-bit), case-insensitively and only where no digit follows.  Returns
 * the number replaced; *out (caller frees) and *outlen when > 0. */
size_t sid_text_replace (const uint8_t *in, size_t len, int utf16, const char *old,
                         const char *nw, uint8_t **out, size_t *outlen);

#endif
