/* winseal: small utilities (strings, temporary directories, UTF-16). */
#include <config.h>

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "winseal.h"

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
ws_mkdtemp (void)
{
  const char *tmp = getenv ("TMPDIR");
  char *dir = ws_strconcat (tmp && *tmp ? tmp : "/tmp", "/winsealXXXXXX", NULL);
  if (mkdtemp (dir) == NULL) {
    ws_error ("cannot create a temporary directory in %s: %m",
              tmp && *tmp ? tmp : "/tmp");
    free (dir);
    return NULL;
  }
  return dir;
}

static int
rm_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  return remove (path) == -1 && errno != ENOENT ? -1 : 0;
}

int
ws_rmtree (const char *dir)
{
  if (!dir)
    return 0;
  return nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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

char *
ws_read_file (const char *path, size_t max, size_t *len_ret)
{
  FILE *fp = fopen (path, "rb");
  if (!fp) {
    ws_error ("%s: %s", path, strerror (errno));
    return NULL;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= max + 1)
        break;
      cap = cap ? 2 * cap : 65536;
      if (cap > max + 1)
        cap = max + 1;
      buf = ws_realloc (buf, cap + 1);
    }
    size_t n = fread (buf + len, 1, cap - len, fp);
    if (n == 0)
      break;
    len += n;
  }
  int err = ferror (fp);
  fclose (fp);
  if (err || len > max) {
    ws_error ("%s: %s", path, err ? "read error" : "the file is too large");
    free (buf);
    return NULL;
  }
  if (!buf)
    buf = ws_malloc (1);
  buf[len] = '\0';
  *len_ret = len;
  return buf;
}
