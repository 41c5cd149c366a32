/* winseal: the walk that decides whether an incomplete hive may be cut to
 * the hive bins present (hivetrim.c); used by hive_recover only. */
#ifndef WINSEAL_HIVETRIM_H
#define WINSEAL_HIVETRIM_H

#include "registry/hivelog.h"

/* d: the whole hive, base block first, with at least 'present' bytes of
 * sound hive bins after it.  Returns 1 when every cell reachable from the
 * root lies within them; with repair, what does not is first dropped
 * from d (each drop appended to r->dropped).  Returns 0 otherwise, with
 * why naming the first key that would lose something. */
int hive_trim_check (uint8_t *d, uint32_t present, int repair, struct hive_recovery *r,
                     char *why, size_t whylen);

#endif
