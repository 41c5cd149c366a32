/* winseal: small utilities (strings, temporary directories, UTF-16). */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/util.h"

static void
oom (void)
{
  fputs ("winseal: out of memory\n", stderr);
  abort ();
}

void *
ws_malloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p)
    oom ();
  return p;
}

void *
ws_realloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (!p)
    oom ();
  return p;
}

char *
ws_strdup (const char *s)
{
  char *r = strdup (s);
  if (!r)
    oom ();
  return r;
}

char *
ws_asprintf (const char *fmt, ...)
{
  va_list ap;
  char *r;
  va_start (ap, fmt);
  if (vasprintf (&r, fmt, ap) == -1)
    oom ();
  va_end (ap);
  return r;
}

char *
ws_strconcat (const char *first, ...)
{
  va_list ap;
  size_t len = 0;
  const char *s;
  char *r, *p;

  va_start (ap, first);
  for (s = first; s; s = va_arg (ap, const char *))
    len += strlen (s);
  va_end (ap);
  p = r = ws_malloc (len + 1);
  va_start (ap, first);
  for (s = first; s; s = va_arg (ap, const char *)) {
    size_t l = strlen (s);
    memcpy (p, s, l);
    p += l;
  }
  va_end (ap);
  *p = '\0';
  return r;
}

void
free_string_list (char **argv)
{
  if (!argv)
    return;
  for (size_t i = 0; argv[i]; ++i)
    free (argv[i]);
  free (argv);
}

size_t
count_strings (char *const *argv)
{
  size_t n = 0;
  while (argv && argv[n])
    n++;
  return n;
}

char *
utf16le_to_utf8 (const uint8_t *p, size_t len)
{
  char *out = ws_malloc (len / 2 * 3 + 1);
  size_t o = 0;

  for (size_t i = 0; i + 1 < len; i += 2) {
    uint32_t c = le16 (p + i);
    if (c == 0)
      break;
    if (c >= 0xD800 && c < 0xDC00) {          /* high surrogate */
      if (i + 3 >= len)
        goto bad;
      uint32_t lo = le16 (p + i + 2);
      if (lo < 0xDC00 || lo >= 0xE000)
        goto bad;
      c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
      i += 2;
    }
    else if (c >= 0xDC00 && c < 0xE000)
      goto bad;
    if (c < 0x80)
      out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xC0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3F);
    }
    else if (c < 0x10000) {
      out[o++] = 0xE0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3F);
      out[o++] = 0x80 | (c & 0x3F);
    }
    else {
      /* A surrogate pair is 4 input bytes and 4 output bytes: fits. */
      out[o++] = 0xF0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3F);
      out[o++] = 0x80 | ((c >> 6) & 0x3F);
      out[o++] = 0x80 | (c & 0x3F);
    }
  }
  out[o] = '\0';
  return out;
 bad:
  free (out);
  return NULL;
}

uint8_t *
utf8_to_utf16le (const char *s, size_t *len_ret)
{
  size_t n = strlen (s);
  uint8_t *out = ws_malloc (n * 4 + 2);
  size_t o = 0;
  const unsigned char *u = (const unsigned char *) s;

  for (size_t i = 0; i < n; ) {
    uint32_t c;
    if (u[i] < 0x80)
      c = u[i++];
    else if ((u[i] & 0xE0) == 0xC0 && i + 1 < n) {
      c = ((u[i] & 0x1F) << 6) | (u[i+1] & 0x3F);
      i += 2;
    }
    else if ((u[i] & 0xF0) == 0xE0 && i + 2 < n) {
      c = ((u[i] & 0x0F) << 12) | ((u[i+1] & 0x3F) << 6) | (u[i+2] & 0x3F);
      i += 3;
    }
    else if ((u[i] & 0xF8) == 0xF0 && i + 3 < n) {
      c = ((u[i] & 0x07) << 18) | ((u[i+1] & 0x3F) << 12)
        | ((u[i+2] & 0x3F) << 6) | (u[i+3] & 0x3F);
      i += 4;
    }
    else {
      c = 0xFFFD;
      i++;
    }
    if (c >= 0x10000) {
      c -= 0x10000;
      put_le16 (out + o, 0xD800 + (c >> 10));
      put_le16 (out + o + 2, 0xDC00 + (c & 0x3FF));
      o += 4;
    }
    else {
      put_le16 (out + o, c);
      o += 2;
    }
  }
  *len_ret = o;
  return out;
}

char **
strv_push (char **list, const char *s)
{
  size_t n = list ? count_strings (list) : 0;
  list = ws_realloc (list, (n + 2) * sizeof *list);
  list[n] = (char *) s;
  list[n + 1] = NULL;
  return list;
}

ssize_t
utf8_count (const char *s, size_t len)
{
  const unsigned char *u = (const unsigned char *) s;
  ssize_t n = 0;
  for (size_t i = 0; i < len; n++) {
    unsigned c = u[i];
    size_t k;
    uint32_t v, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    else if ((c & 0xE0) == 0xC0) k = 1, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) k = 2, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) k = 3, v = c & 0x07, min = 0x10000;
    else
      return -1;
    if (len - i <= k)
      return -1;
    for (size_t j = 1; j <= k; ++j) {
      if ((u[i + j] & 0xC0) != 0x80)
        return -1;
      v = (v << 6) | (u[i + j] & 0x3F);
    }
    /* Overlong forms, UTF-16 surrogates and values past U+10FFFF are not
     * UTF-8 (RFC 3629, section 3). */
    if (v < min || (v >= 0xD800 && v < 0xE000) || v > 0x10FFFF)
      return -1;
    i += k + 1;
  }
  return n;
}

/* ---- a string map (open addressing, FNV-1a) ---- */

struct strmap {
  size_t cap, n;
  struct { char *key; void *val; } *e;
};

static uint64_t
fnv1a (const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s)
    h = (h ^ (unsigned char) *s) * 1099511628211ull;
  return h;
}

struct strmap *
strmap_new (void)
{
  struct strmap *m = ws_malloc (sizeof *m);
  memset (m, 0, sizeof *m);
  return m;
}

void
strmap_free (struct strmap *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->cap; ++i)
    free (m->e[i].key);
  free (m->e);
  free (m);
}

static size_t
slot_of (const struct strmap *m, const char *key)
{
  size_t i = fnv1a (key) & (m->cap - 1);
  while (m->e[i].key && strcmp (m->e[i].key, key) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

int
strmap_get (const struct strmap *m, const char *key, void **val_ret)
{
  if (!m->cap)
    return 0;
  size_t i = slot_of (m, key);
  if (!m->e[i].key)
    return 0;
  if (val_ret)
    *val_ret = m->e[i].val;
  return 1;
}

int
strmap_put (struct strmap *m, const char *key, void *val)
{
  if ((m->n + 1) * 2 > m->cap) {
    size_t oc = m->cap;
    __typeof__ (m->e) old = m->e;
    m->cap = oc ? oc * 2 : 64;
    m->e = ws_malloc (m->cap * sizeof *m->e);
    memset (m->e, 0, m->cap * sizeof *m->e);
    for (size_t i = 0; i < oc; ++i)
      if (old[i].key)
        m->e[slot_of (m, old[i].key)] = old[i];
    free (old);
  }
  size_t i = slot_of (m, key);
  if (m->e[i].key)
    return 0;
  m->e[i].key = ws_strdup (key);
  m->e[i].val = val;
  m->n++;
  return 1;
}

double
ws_now (void)
{
  struct timeval tv;
  gettimeofday (&tv, NULL);
  return tv.tv_sec + tv.tv_usec / 1e6;
}
