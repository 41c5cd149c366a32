/* winseal: reading JSON inputs (catalogs, templates) strictly.  json-c
 * keeps the last of two equal keys in an object without a word; a catalog
 * or template that says a thing twice is refused instead, so this file
 * scans the text for duplicate keys before json-c parses it. */
#include <config.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/jsonin.h"
#include "util/util.h"

#define MAX_DEPTH 64            /* json-c refuses deeper documents anyway */

struct key {
  char *s;
  size_t len, line;
};

struct scan {
  const char *p, *end;
  size_t line;
  int depth;
  char *dup;                    /* the first duplicate key found */
  size_t dup_line;
};

static void
skip_ws (struct scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) {
    if (*s->p == '\n')
      s->line++;
    s->p++;
  }
}

static int
hexval (char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int
hex4 (const char *p, const char *end, unsigned *v)
{
  if (end - p < 4)
    return -1;
  *v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hexval (p[i]);
    if (h < 0)
      return -1;
    *v = *v << 4 | (unsigned) h;
  }
  return 0;
}

/* A string at s->p (which is '"'); decoded into *out (caller frees) when
 * out is not NULL.  -1 when malformed. */
static int
string (struct scan *s, char **out, size_t *len_ret)
{
  s->p++;
  const char *start = s->p;
  char *buf = out ? ws_malloc ((size_t) (s->end - start) + 1) : NULL;
  size_t n = 0;
  while (s->p < s->end && *s->p != '"') {
    char c = *s->p++;
    if (c == '\n')
      s->line++;
    if (c != '\\') {
      if (buf)
        buf[n++] = c;
      continue;
    }
    if (s->p >= s->end)
      goto bad;
    c = *s->p++;
    unsigned u;
    switch (c) {
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case '"': case '\\': case '/': break;
    case 'u':
      if (hex4 (s->p, s->end, &u) == -1)
        goto bad;
      s->p += 4;
      if (u >= 0xD800 && u < 0xDC00 && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
        unsigned lo;
        if (hex4 (s->p + 2, s->end, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          s->p += 6;
        }
      }
      if (buf) {
        /* UTF-8; at most 4 bytes for the 6 or 12 read. */
        if (u < 0x80)
          buf[n++] = (char) u;
        else if (u < 0x800) {
          buf[n++] = (char) (0xC0 | u >> 6);
          buf[n++] = (char) (0x80 | (u & 0x3F));
        }
        else if (u < 0x10000) {
          buf[n++] = (char) (0xE0 | u >> 12);
          buf[n++] = (char) (0x80 | ((u >> 6) & 0x3F));
          buf[n++] = (char) (0x80 | (u & 0x3F));
        }
        else {
          buf[n++] = (char) (0xF0 | u >> 18);
          buf[n++] = (char) (0x80 | ((u >> 12) & 0x3F));
          buf[n++] = (char) (0x80 | ((u >> 6) & 0x3F));
          buf[n++] = (char) (0x80 | (u & 0x3F));
        }
      }
      continue;
    default:
      goto bad;
    }
    if (buf)
      buf[n++] = c;
  }
  if (s->p >= s->end)
    goto bad;
  s->p++;                       /* the closing quote */
  if (buf) {
    buf[n] = '\0';
    *out = buf;
    *len_ret = n;
  }
  return 0;
 bad:
  free (buf);
  return -1;
}

static int
cmp_key (const void *a, const void *b)
{
  const struct key *x = a, *y = b;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  int c = memcmp (x->s, y->s, x->len);
  if (c)
    return c;
  return x->line < y->line ? -1 : x->line > y->line;
}

static int value (struct scan *s);

static int
object (struct scan *s)
{
  struct key *keys = NULL;
  size_t n = 0, cap = 0;
  int r = -1;
  s->p++;
  skip_ws (s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return 0;
  }
  for (;;) {
    skip_ws (s);
    if (s->p >= s->end || *s->p != '"')
      goto out;
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      keys = ws_realloc (keys, cap * sizeof *keys);
    }
    keys[n].line = s->line;
    if (string (s, &keys[n].s, &keys[n].len) == -1)
      goto out;
    n++;
    skip_ws (s);
    if (s->p >= s->end || *s->p != ':')
      goto out;
    s->p++;
    if (value (s) == -1)
      goto out;
    skip_ws (s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == '}') {
      s->p++;
      break;
    }
    goto out;
  }
  r = 0;
  if (n > 1 && !s->dup) {
    qsort (keys, n, sizeof *keys, cmp_key);
    for (size_t i = 1; i < n && !s->dup; ++i)
      if (keys[i].len == keys[i - 1].len && !memcmp (keys[i].s, keys[i - 1].s, keys[i].len)) {
        /* Shown in a message: control characters and NULs as '?'. */
        s->dup = ws_malloc (keys[i].len + 1);
        for (size_t k = 0; k < keys[i].len; ++k)
          s->dup[k] = (unsigned char) keys[i].s[k] < 0x20 || keys[i].s[k] == 0x7f ? '?' : keys[i].s[k];
        s->dup[keys[i].len] = '\0';
        s->dup_line = keys[i].line;
      }
  }
 out:
  for (size_t i = 0; i < n; ++i)
    free (keys[i].s);
  free (keys);
  return r;
}

static int
value (struct scan *s)
{
  skip_ws (s);
  if (s->p >= s->end)
    return -1;
  if (++s->depth > MAX_DEPTH)
    return -1;
  int r = 0;
  if (*s->p == '{')
    r = object (s);
  else if (*s->p == '[') {
    s->p++;
    skip_ws (s);
    if (s->p < s->end && *s->p == ']')
      s->p++;
    else
      for (;;) {
        if (value (s) == -1) {
          r = -1;
          break;
        }
        skip_ws (s);
        if (s->p < s->end && *s->p == ',') {
          s->p++;
          continue;
        }
        if (s->p < s->end && *s->p == ']') {
          s->p++;
          break;
        }
        r = -1;
        break;
      }
  }
  else if (*s->p == '"')
    r = string (s, NULL, NULL);
  else {
    /* A number, true, false or null: json-c checks its spelling. */
    const char *start = s->p;
    while (s->p < s->end && strchr (",}] \t\r\n", *s->p) == NULL)
      s->p++;
    r = s->p > start ? 0 : -1;
  }
  s->depth--;
  return r;
}

int
json_find_duplicate (const char *text, size_t len, char **key_ret, size_t *line_ret)
{
  struct scan s = { text, text + len, 1, 0, NULL, 0 };
  int r = value (&s);
  if (s.dup) {
    *key_ret = s.dup;
    *line_ret = s.dup_line;
    return 1;
  }
  return r == -1 ? -1 : 0;
}

/* The line and column (from 1) of byte off of text. */
static void
line_col (const char *text, size_t off, size_t *line, size_t *col)
{
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off; ++i)
    if (text[i] == '\n')
      ++*line, *col = 1;
    else if (((unsigned char) text[i] & 0xC0) != 0x80)   /* count characters */
      ++*col;
}

json_object *
json_parse_strict (const char *name, const char *text, size_t len)
{
  /* A UTF-8 byte-order mark (Windows editors write one) is not JSON text
   * but does no harm. */
  if (len >= 3 && (unsigned char) text[0] == 0xEF && (unsigned char) text[1] == 0xBB
      && (unsigned char) text[2] == 0xBF)
    text += 3, len -= 3;
  if (len > INT_MAX) {
    ws_error ("%s: not a JSON file: too large", name);
    return NULL;
  }
  struct json_tokener *tok = json_tokener_new ();
  if (!tok)
    abort ();
  json_object *o = json_tokener_parse_ex (tok, text, (int) len);
  enum json_tokener_error e = json_tokener_get_error (tok);
  size_t used = tok->char_offset;
  json_tokener_free (tok);
  size_t line, col;
  if (!o || e != json_tokener_success) {
    line_col (text, used > len ? len : used, &line, &col);
    ws_error ("%s: line %zu, column %zu: not a JSON file: %s", name, line, col,
              e == json_tokener_continue || e == json_tokener_success
              ? "the text ends inside a value" : json_tokener_error_desc (e));
    json_object_put (o);
    return NULL;
  }
  for (size_t i = used; i < len; ++i)
    if (!strchr (" \t\r\n", text[i])) {
      line_col (text, i, &line, &col);
      ws_error ("%s: line %zu, column %zu: not a JSON file: text after the JSON value",
                name, line, col);
      json_object_put (o);
      return NULL;
    }
  const char *nul = memchr (text, '\0', len);
  if (nul) {
    line_col (text, (size_t) (nul - text), &line, &col);
    ws_error ("%s: line %zu, column %zu: not a JSON file: a NUL byte", name, line, col);
    json_object_put (o);
    return NULL;
  }
  char *key = NULL;
  line = 0;
  if (json_find_duplicate (text, len, &key, &line) == 1) {
    ws_error ("%s: line %zu: the key \"%s\" appears twice in one object; say it once",
              name, line, key);
    free (key);
    json_object_put (o);
    return NULL;
  }
  return o;
}

/* Skip spaces, then take the character c: 1, or 0 when it is not there. */
static int
take (const char **p, char c)
{
  while (**p == ' ')
    ++*p;
  if (**p != c)
    return 0;
  ++*p;
  return 1;
}

int
json_arm_reference (const char *s, char *name, size_t n)
{
  static const char *const fns[] = { "parameters", "variables" };
  if (s[0] != '[')
    return 0;
  const char *p = s + 1;
  while (*p == ' ')
    p++;
  for (size_t k = 0; k < 2; ++k) {
    size_t l = strlen (fns[k]);
    if (strncasecmp (p, fns[k], l) != 0)
      continue;
    const char *q = p + l;
    if (!take (&q, '(') || !take (&q, '\''))
      return 0;
    const char *e = strchr (q, '\'');
    if (!e || e == q || (size_t) (e - q) >= n)
      return 0;
    memcpy (name, q, (size_t) (e - q));
    name[e - q] = '\0';
    e++;
    if (!take (&e, ')') || !take (&e, ']') || *e)
      return 0;
    return k == 0 ? 'p' : 'v';
  }
  return 0;
}
