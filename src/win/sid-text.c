/* winseal: SIDs in text (scheduled-task XML, UTF-16LE or 8-bit): the
 * string form of one SID replaced by another's.  No library is used, as
 * in the rest of win/. */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "win/sid.h"

static void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (!q)
    abort ();                   /* as ws_realloc: out of memory */
  return q;
}

static int
unit_at (const uint8_t *p, size_t i, int utf16)
{
  return utf16 ? (p[2 * i] | (p[2 * i + 1] << 8)) : p[i];
}

size_t
sid_text_replace (const uint8_t *in, size_t len, int utf16, const char *old,
                  const char *nw, uint8_t **out, size_t *outlen)
{
  size_t w = utf16 ? 2 : 1, units = len / w, ol = strlen (old), nl = strlen (nw);
  size_t count = 0;
  uint8_t *o = NULL;
  size_t on = 0, cap = 0;
  size_t copied = 0;            /* units of in already copied to o */
  for (size_t i = 0; i + ol <= units; ) {
    size_t k = 0;
    while (k < ol) {
      int c = unit_at (in, i + k, utf16), e = (unsigned char) old[k];
      if (c != e && !(e == 'S' && c == 's'))
        break;
      k++;
    }
    int next = i + ol < units ? unit_at (in, i + ol, utf16) : -1;
    if (k < ol || (next >= '0' && next <= '9')) {
      i++;
      continue;
    }
    /* A match at unit i: copy what precedes it, then the new text. */
    size_t need = on + (i - copied) * w + nl * w + (units - i) * w + 2;
    if (need > cap) {
      cap = need * 2;
      o = xrealloc (o, cap);
    }
    memcpy (o + on, in + copied * w, (i - copied) * w);
    on += (i - copied) * w;
    for (size_t j = 0; j < nl; ++j) {
      o[on++] = (uint8_t) nw[j];
      if (utf16)
        o[on++] = 0;
    }
    i += ol;
    copied = i;
    count++;
  }
  if (!count)
    return 0;
  size_t rest = len - copied * w;
  if (on + rest > cap)
    o = xrealloc (o, on + rest);
  memcpy (o + on, in + copied * w, rest);
  on += rest;
  *out = o;
  *outlen = on;
  return count;
}
