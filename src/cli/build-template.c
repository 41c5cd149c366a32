/* winseal build: the Azure Image Builder template schema (the
 * imageTemplates resource: source, customize, distribute, vmProfile), the
 * local files and inline scripts it names, and the first-boot lines of
 * its script steps.  The documentation of the fields is winseal(1),
 * BUILD. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "cli/build-template.h"
#include "cli/cli.h"
#include "formats/format.h"
#include "generalize/generalize.h"
#include "job/job.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

static void
terr (struct tmpl *t, const char *field, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static void
terr (struct tmpl *t, const char *field, const char *fmt, ...)
{
  char msg[600];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ws_error ("%s: %s: %s", t->path, field, msg);
  t->errors++;
}

/* Every key of obj is in allowed[] or in ignored[] (Azure-only: noted).
 * prefix names obj ("properties.vmProfile"). */
static void
check_keys (struct tmpl *t, json_object *obj, const char *prefix,
            const char *const *allowed, const char *const *ignored)
{
  json_object_object_foreach (obj, key, val) {
    (void) val;
    int ok = 0;
    for (size_t i = 0; allowed && allowed[i] && !ok; ++i)
      ok = strcmp (key, allowed[i]) == 0;
    for (size_t i = 0; ignored && ignored[i] && !ok; ++i)
      if (strcmp (key, ignored[i]) == 0) {
        ok = 1;
        CLEANUP_FREE char *f = prefix[0] ? ws_asprintf ("%s.%s", prefix, key) : ws_strdup (key);
        json_object_array_add (t->ignored, json_object_new_string (f));
      }
    if (!ok) {
      CLEANUP_FREE char *f = prefix[0] ? ws_asprintf ("%s.%s", prefix, key) : ws_strdup (key);
      terr (t, f, "not a field winseal build knows (see winseal(1), build)");
    }
  }
}

/* A string field (NULL when absent; reported when required or not a
 * string). */
static const char *
str_field (struct tmpl *t, json_object *obj, const char *prefix, const char *key, int required)
{
  json_object *v;
  CLEANUP_FREE char *f = ws_asprintf ("%s.%s", prefix, key);
  if (!json_object_object_get_ex (obj, key, &v) || json_object_is_type (v, json_type_null)) {
    if (required)
      terr (t, f, "missing");
    return NULL;
  }
  if (!json_object_is_type (v, json_type_string)) {
    terr (t, f, "must be a string");
    return NULL;
  }
  /* (ARM expressions were evaluated or refused before: resolve_value.) */
  const char *s = json_object_get_string (v);
  if (required && !s[0]) {
    terr (t, f, "empty");
    return NULL;
  }
  return s;
}

/* An integer field in [lo, hi] (def when absent). */
static int64_t
int_field (struct tmpl *t, json_object *obj, const char *prefix, const char *key,
           int64_t lo, int64_t hi, int64_t def)
{
  json_object *v;
  if (!json_object_object_get_ex (obj, key, &v))
    return def;
  CLEANUP_FREE char *f = ws_asprintf ("%s.%s", prefix, key);
  errno = 0;
  int64_t n = json_object_get_int64 (v);
  if (!json_object_is_type (v, json_type_int) || errno || n < lo || n > hi) {
    terr (t, f, "must be a whole number from %" PRId64 " to %" PRId64, lo, hi);
    return def;
  }
  return n;
}

static int
bool_field (struct tmpl *t, json_object *obj, const char *prefix, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex (obj, key, &v))
    return 0;
  if (!json_object_is_type (v, json_type_boolean)) {
    CLEANUP_FREE char *f = ws_asprintf ("%s.%s", prefix, key);
    terr (t, f, "must be true or false");
    return 0;
  }
  return json_object_get_boolean (v);
}

/* A download URI resolved to a local file given on the command line:
 * --uri-map URL=PATH, else --uri-cache DIR (the file named by the step's
 * sha256Checksum).  NULL and *tried 0 when neither applies. */
static char *
mapped_file (struct tmpl *t, const char *field, const char *uri, const char *sum, int *tried)
{
  *tried = 0;
  for (size_t i = 0; i < t->n_uri_map; ++i)
    if (strcmp (t->uri_map[i].url, uri) == 0) {
      *tried = 1;
      const char *why = ws_input_refused (t->uri_map[i].path);
      if (why) {
        terr (t, field, "\"%s\" (--uri-map): %s: %s", uri, t->uri_map[i].path, why);
        return NULL;
      }
      return ws_strdup (t->uri_map[i].path);
    }
  if (!t->uri_cache)
    return NULL;
  *tried = 1;
  size_t n = sum ? strlen (sum) : 0;
  int hex = n == 64;
  for (size_t i = 0; hex && i < n; ++i)
    hex = isxdigit ((unsigned char) sum[i]);
  if (!hex) {
    terr (t, field, "\"%s\": --uri-cache finds files by the step's sha256Checksum, which it "
          "does not have; use --uri-map URL=PATH", uri);
    return NULL;
  }
  char low[65];
  for (size_t i = 0; i < 64; ++i)
    low[i] = (char) tolower ((unsigned char) sum[i]);
  low[64] = '\0';
  char *path = ws_asprintf ("%s/%s", t->uri_cache, low);
  const char *why = ws_input_refused (path);
  if (why) {
    terr (t, field, "\"%s\": not in --uri-cache (%s: %s)", uri, path, why);
    free (path);
    return NULL;
  }
  return path;
}

/* A local file named by a URI field: a path (relative to the template's
 * folder) or file:///path; a download only through --uri-map or
 * --uri-cache (nothing is fetched).  Caller frees. */
static char *
local_file (struct tmpl *t, const char *field, const char *uri, const char *sum)
{
  char *path;
  if (strstr (uri, "://") && strncasecmp (uri, "file://", 7) != 0) {
    int tried;
    char *m = mapped_file (t, field, uri, sum, &tried);
    if (m || tried)
      return m;
  }
  if (strncasecmp (uri, "file://", 7) == 0) {
    const char *p = uri + 7;
    if (strncasecmp (p, "localhost/", 10) == 0)
      p += 9;
    if (p[0] != '/') {
      terr (t, field, "\"%s\": a file: URI must hold an absolute path", uri);
      return NULL;
    }
    /* Percent-decoding. */
    path = ws_malloc (strlen (p) + 1);
    char *o = path;
    for (; *p; ++p) {
      if (p[0] == '%' && isxdigit ((unsigned char) p[1]) && isxdigit ((unsigned char) p[2])) {
        char hex[3] = { p[1], p[2], 0 };
        *o++ = (char) strtol (hex, NULL, 16);
        p += 2;
      }
      else
        *o++ = *p;
    }
    *o = '\0';
    if (strlen (path) != (size_t) (o - path)) {
      terr (t, field, "\"%s\": a NUL byte in the path", uri);
      free (path);
      return NULL;
    }
  }
  else if (strstr (uri, "://")) {
    terr (t, field, "\"%s\": winseal builds offline and downloads nothing; fetch the file "
          "and give its local path, or map it with --uri-map URL=PATH or --uri-cache DIR", uri);
    return NULL;
  }
  else
    path = uri[0] == '/' ? ws_strdup (uri) : ws_asprintf ("%s/%s", t->dir, uri);
  /* The path policy: files in the template's folder (or --allow-dir),
   * regular files only. */
  const char *why = ws_outside (path, t->dir);
  if (!why)
    why = ws_input_refused (path);
  if (why) {
    terr (t, field, "%s: %s", path, why);
    free (path);
    return NULL;
  }
  return path;
}

/* The sha256 of a host file into hex; checked against want (when not
 * NULL).  Returns 0 or -1 (reported). */
static int
check_sha256 (struct tmpl *t, const char *field, const char *path, const char *want,
              char hex[65])
{
  if (want) {
    size_t n = strlen (want);
    int ok = n == 64;
    for (size_t i = 0; ok && i < n; ++i)
      ok = isxdigit ((unsigned char) want[i]);
    if (!ok) {
      terr (t, field, "\"%s\" is not a SHA-256 (64 hexadecimal digits)", want);
      return -1;
    }
  }
  if (ws_sha256_path (path, 0, hex) == -1) {
    terr (t, field, "%s: cannot read: %s", path, strerror (errno));
    return -1;
  }
  if (want && strcasecmp (want, hex) != 0) {
    terr (t, field, "%s does not match: its SHA-256 is %s, the template says %s",
          path, hex, want);
    return -1;
  }
  return 0;
}

/* A Windows destination winseal can write: an absolute path on the
 * Windows volume, naming a file. */
static int
valid_destination (const char *d)
{
  const char *rest;
  if (strncasecmp (d, "%SystemDrive%\\", 14) == 0)
    rest = d + 14;
  else if (strncasecmp (d, "%SystemRoot%\\", 13) == 0)
    rest = d + 13;
  else if (strncasecmp (d, "%windir%\\", 9) == 0)
    rest = d + 9;
  else if ((d[0] == 'C' || d[0] == 'c') && d[1] == ':' && (d[2] == '\\' || d[2] == '/'))
    rest = d + 3;
  else
    return 0;
  if (!*rest || rest[strlen (rest) - 1] == '\\' || rest[strlen (rest) - 1] == '/')
    return 0;
  /* Components: no empty, ".", ".." or reserved characters. */
  const char *c = rest;
  while (*c) {
    size_t n = strcspn (c, "\\/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return 0;
    for (size_t i = 0; i < n; ++i)
      if ((unsigned char) c[i] < 32 || strchr ("<>:\"|?*", c[i]))
        return 0;
    c += n;
    if (*c)
      c++;
  }
  return 1;
}

/* A step name as it may appear in a cmd echo line. */
static char *
safe_name (const char *s)
{
  char *r = ws_strdup (s ? s : "");
  for (char *p = r; *p; ++p)
    if (!isalnum ((unsigned char) *p) && !strchr (" ._-", *p))
      *p = '_';
  return r;
}

static int
has_non_ascii (const char *s, size_t n)
{
  for (size_t i = 0; i < n; ++i)
    if ((unsigned char) s[i] >= 0x80)
      return 1;
  return 0;
}

/* Write a script for the image into the build's temporary folder.
 * ps: PowerShell (UTF-8 with a BOM, which Windows PowerShell 5.1 needs
 * for non-ASCII text); else cmd.  Line ends become CRLF.  Returns the
 * path or NULL. */
static char *write_named_script (struct tmpl *t, const char *name, int ps, const char *text,
                                 size_t len);

static char *
write_script (struct tmpl *t, size_t idx, int ps, const char *text, size_t len)
{
  char name[32];
  snprintf (name, sizeof name, "%02zu.%s", idx + 1, ps ? "ps1" : "cmd");
  return write_named_script (t, name, ps, text, len);
}

static char *
write_named_script (struct tmpl *t, const char *name, int ps, const char *text, size_t len)
{
  char *path = ws_asprintf ("%s/%s", t->tmp, name);
  FILE *fp = fopen (path, "wb");
  if (!fp) {
    ws_error ("%s: %s", path, strerror (errno));
    free (path);
    return NULL;
  }
  if (ps && !(len >= 3 && !memcmp (text, "\xef\xbb\xbf", 3)))
    fputs ("\xef\xbb\xbf", fp);
  if (!ps && has_non_ascii (text, len))
    fputs ("chcp 65001 >nul\r\n", fp);
  for (size_t i = 0; i < len; ++i) {
    if (text[i] == '\r')
      continue;
    if (text[i] == '\n')
      fputc ('\r', fp);
    fputc (text[i], fp);
  }
  if (len && text[len - 1] != '\n')
    fputs ("\r\n", fp);
  if (fclose (fp) != 0) {
    ws_error ("%s: %s", path, strerror (errno));
    free (path);
    return NULL;
  }
  return path;
}

/* PowerShell validExitCodes: a number, a string of digits or a list. */
static void
exit_codes (struct tmpl *t, struct step *s, json_object *c, const char *prefix)
{
  json_object *v;
  if (!json_object_object_get_ex (c, "validExitCodes", &v))
    return;
  CLEANUP_FREE char *f = ws_asprintf ("%s.validExitCodes", prefix);
  size_t n = json_object_is_type (v, json_type_array) ? json_object_array_length (v) : 1;
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_is_type (v, json_type_array) ? json_object_array_get_idx (v, i) : v;
    const char *str = json_object_get_string (e);
    char *end;
    errno = 0;
    long long code = strtoll (str ? str : "", &end, 10);
    if (!(json_object_is_type (e, json_type_int) || json_object_is_type (e, json_type_string))
        || !str || !*str || *end || errno || code < INT32_MIN || code > UINT32_MAX) {
      terr (t, f, "must be an exit code or a list of them");
      return;
    }
    s->codes = strv_push (s->codes, ws_asprintf ("%lld", code > INT32_MAX ? code - 4294967296LL : code));
  }
  if (n == 0)
    terr (t, f, "an empty list");
}

/* A PowerShell single-quoted string literal of v ('' for '). */
static void
ps_quote (char **buf, size_t *len, const char *v)
{
  size_t n = strlen (v);
  *buf = ws_realloc (*buf, *len + 2 * n + 3);
  (*buf)[(*len)++] = '\'';
  for (size_t i = 0; i < n; ++i) {
    if (v[i] == '\'')
      (*buf)[(*len)++] = '\'';
    (*buf)[(*len)++] = v[i];
  }
  (*buf)[(*len)++] = '\'';
  (*buf)[*len] = '\0';
}

/* Append s to the NUL-terminated text *buf of *len bytes. */
static void
text_add (char **buf, size_t *len, const char *s)
{
  size_t n = strlen (s);
  *buf = ws_realloc (*buf, *len + n + 1);
  memcpy (*buf + *len, s, n + 1);
  *len += n;
}

/* WindowsUpdate with --first-boot-updates: a PowerShell step that
 * searches, downloads and installs updates through the Windows Update
 * Agent API (Microsoft.Update.Session) at first boot, honouring
 * searchCriteria (default "IsInstalled=0"), filters ("include:EXPR" /
 * "exclude:EXPR", PowerShell over the update as $_, the first that
 * matches decides; none matching: not installed) and updateLimit
 * (default 1000), as Image Builder's Windows Update customizer reads
 * them. */
static void
windows_update_step (struct tmpl *t, size_t i, json_object *c, struct step *s, const char *prefix)
{
  static const char *const keys[] = { "type", "name", "searchCriteria", "filters",
                                      "updateLimit", NULL };
  check_keys (t, c, prefix, keys, NULL);
  const char *crit = str_field (t, c, prefix, "searchCriteria", 0);
  int64_t limit = int_field (t, c, prefix, "updateLimit", 1, 100000, 1000);
  char *text = NULL;
  size_t len = 0;
  text_add (&text, &len, "# winseal build: Image Builder's WindowsUpdate step, at first boot, through\n"
          "# the Windows Update Agent API.  Updates that need a restart finish at the\n"
          "# next restart (SetupComplete.cmd must not restart the machine).\n"
          "$ErrorActionPreference = 'Stop'\n$criteria = ");
  ps_quote (&text, &len, crit && *crit ? crit : "IsInstalled=0");
  char lim[64];
  snprintf (lim, sizeof lim, "\n$limit = %" PRId64 "\n", limit);
  text_add (&text, &len, lim);
  text_add (&text, &len, "$session = New-Object -ComObject Microsoft.Update.Session\n"
          "Write-Output \"searching for updates: $criteria\"\n"
          "$found = $session.CreateUpdateSearcher().Search($criteria).Updates\n"
          "$chosen = New-Object -ComObject Microsoft.Update.UpdateColl\n"
          "foreach ($u in $found) {\n"
          "  if ($chosen.Count -ge $limit) { break }\n");
  json_object *f;
  CLEANUP_FREE char *ff = ws_asprintf ("%s.filters", prefix);
  size_t nf = 0;
  if (json_object_object_get_ex (c, "filters", &f)) {
    if (!json_object_is_type (f, json_type_array)) {
      terr (t, ff, "must be a list of \"include:EXPR\" or \"exclude:EXPR\"");
      free (text);
      return;
    }
    nf = json_object_array_length (f);
  }
  if (nf == 0)
    text_add (&text, &len, "  $take = $true\n");
  else {
    text_add (&text, &len, "  $take = $false\n");
    for (size_t k = 0; k < nf; ++k) {
      json_object *e = json_object_array_get_idx (f, k);
      const char *v = json_object_is_type (e, json_type_string) ? json_object_get_string (e) : NULL;
      int inc = v && strncasecmp (v, "include:", 8) == 0, exc = v && strncasecmp (v, "exclude:", 8) == 0;
      if ((!inc && !exc) || !v[8] || strchr (v, '\n') || strchr (v, '\r')) {
        terr (t, ff, "[%zu]: \"%s\" is not \"include:EXPR\" or \"exclude:EXPR\" (one line)", k,
              v ? v : "");
        free (text);
        return;
      }
      char head[96];
      snprintf (head, sizeof head, "  %sif (@($u | Where-Object { ", k ? "else" : "");
      text_add (&text, &len, head);
      text_add (&text, &len, v + 8);
      text_add (&text, &len, inc ? " }).Count) { $take = $true }\n" : " }).Count) { $take = $false }\n");
    }
  }
  text_add (&text, &len, "  if (-not $take) { Write-Output \"not chosen: $($u.Title)\"; continue }\n"
          "  if (-not $u.EulaAccepted) { $u.AcceptEula() }\n"
          "  [void]$chosen.Add($u)\n"
          "}\n"
          "Write-Output \"$($chosen.Count) of $($found.Count) updates chosen\"\n"
          "if ($chosen.Count -eq 0) { exit 0 }\n"
          "$dl = $session.CreateUpdateDownloader(); $dl.Updates = $chosen; [void]$dl.Download()\n"
          "$inst = $session.CreateUpdateInstaller(); $inst.Updates = $chosen\n"
          "$res = $inst.Install()\n"
          "Write-Output \"installed: result $($res.ResultCode), restart needed: $($res.RebootRequired)\"\n"
          "# OperationResultCode: 2 succeeded, 3 succeeded with errors.\n"
          "if ($res.ResultCode -eq 2 -or $res.ResultCode -eq 3) { exit 0 }\n"
          "exit 1\n");
  s->kind = S_POWERSHELL;
  if (!s->name)
    s->name = "WindowsUpdate";
  s->host = write_script (t, i, 1, text, len);
  if (!s->host)
    t->errors++;
  s->script = ws_asprintf (SCRIPT_DIR "\\%02zu-powershell.ps1", i + 1);
  free (text);
}

/* One customize entry. */
static void
load_step (struct tmpl *t, size_t i, json_object *c, struct step *s)
{
  char prefix[64];
  snprintf (prefix, sizeof prefix, "properties.customize[%zu]", i);
  if (!json_object_is_type (c, json_type_object)) {
    terr (t, prefix, "must be an object");
    return;
  }
  s->type = str_field (t, c, prefix, "type", 1);
  if (!s->type)
    return;
  s->name = str_field (t, c, prefix, "name", 0);
  CLEANUP_FREE char *tf = ws_asprintf ("%s.type", prefix);
  CLEANUP_FREE char *nf = ws_asprintf ("%s.name", prefix);
  if (!strcasecmp (s->type, "WindowsUpdate") && t->first_boot_updates) {
    windows_update_step (t, i, c, s, prefix);
    return;
  }
  if (!strcasecmp (s->type, "WindowsRestart")) {
    /* A restart point of the first-boot sequence (first_boot_lines). */
    static const char *const restart[] = { "type", "name", "restartCommand",
                                           "restartCheckCommand", "restartTimeout", NULL };
    s->kind = S_RESTART;
    check_keys (t, c, prefix, restart, NULL);
    s->restart_cmd = str_field (t, c, prefix, "restartCommand", 0);
    CLEANUP_FREE char *rf = ws_asprintf ("%s.restartCommand", prefix);
    if (s->restart_cmd && (strpbrk (s->restart_cmd, "\r\n") || !*s->restart_cmd)) {
      terr (t, rf, "must be one command line");
      s->restart_cmd = NULL;
    }
    (void) str_field (t, c, prefix, "restartCheckCommand", 0);
    (void) str_field (t, c, prefix, "restartTimeout", 0);
    return;
  }
  if (!strcasecmp (s->type, "WindowsUpdate")) {
    static const char *const update[] = { "type", "name", "searchCriteria", "filters",
                                          "updateLimit", NULL };
    s->kind = S_ONLINE;
    check_keys (t, c, prefix, update, NULL);
    if (!t->skip_online)
      terr (t, tf, "%s needs the running machine and cannot be done offline; pass "
            "--skip-online-steps to build without it", s->type);
    return;
  }
  if (!s->name)
    terr (t, nf, "missing (every File, PowerShell and Shell step is named)");
  if (!strcasecmp (s->type, "File")) {
    static const char *const keys[] = { "type", "name", "sourceUri", "destination",
                                        "sha256Checksum", NULL };
    s->kind = S_FILE;
    check_keys (t, c, prefix, keys, NULL);
    const char *src = str_field (t, c, prefix, "sourceUri", 1);
    s->dest = str_field (t, c, prefix, "destination", 1);
    const char *sum = str_field (t, c, prefix, "sha256Checksum", 0);
    CLEANUP_FREE char *sf = ws_asprintf ("%s.sourceUri", prefix);
    CLEANUP_FREE char *df = ws_asprintf ("%s.destination", prefix);
    CLEANUP_FREE char *cf = ws_asprintf ("%s.sha256Checksum", prefix);
    if (s->dest && !valid_destination (s->dest)) {
      terr (t, df, "\"%s\" is not a file path on the Windows volume (C:\\..., "
            "%%SystemDrive%%\\..., %%SystemRoot%%\\...)", s->dest);
      s->dest = NULL;
    }
    if (src && (s->host = local_file (t, sf, src, sum)))
      check_sha256 (t, cf, s->host, sum, s->sha256);
    return;
  }
  int ps = !strcasecmp (s->type, "PowerShell");
  if (!ps && strcasecmp (s->type, "Shell")) {
    terr (t, tf, "\"%s\" is not a step winseal build runs (File, PowerShell, Shell, "
          "WindowsRestart; WindowsUpdate with --first-boot-updates or --skip-online-steps)",
          s->type);
    return;
  }
  static const char *const pskeys[] = { "type", "name", "inline", "scriptUri", "sha256Checksum",
                                        "runElevated", "runAsSystem", "validExitCodes", NULL };
  static const char *const shkeys[] = { "type", "name", "inline", "scriptUri",
                                        "sha256Checksum", NULL };
  s->kind = ps ? S_POWERSHELL : S_SHELL;
  check_keys (t, c, prefix, ps ? pskeys : shkeys, NULL);
  if (ps) {
    bool_field (t, c, prefix, "runElevated");  /* SetupComplete runs as LocalSystem anyway */
    bool_field (t, c, prefix, "runAsSystem");
    exit_codes (t, s, c, prefix);
  }
  json_object *in = NULL;
  json_object_object_get_ex (c, "inline", &in);
  const char *uri = str_field (t, c, prefix, "scriptUri", 0);
  const char *sum = str_field (t, c, prefix, "sha256Checksum", 0);
  CLEANUP_FREE char *inf = ws_asprintf ("%s.inline", prefix);
  CLEANUP_FREE char *uf = ws_asprintf ("%s.scriptUri", prefix);
  CLEANUP_FREE char *cf = ws_asprintf ("%s.sha256Checksum", prefix);
  if ((in != NULL) == (uri != NULL)) {
    terr (t, prefix, "give either \"inline\" or \"scriptUri\"");
    return;
  }
  if (in) {
    if (sum)
      terr (t, cf, "applies to scriptUri, not to inline commands");
    /* A string, or a list of strings (one line each). */
    char *text = NULL;
    size_t len = 0;
    size_t n = json_object_is_type (in, json_type_array) ? json_object_array_length (in) : 1;
    int bad = n == 0;
    for (size_t k = 0; k < n && !bad; ++k) {
      json_object *e = json_object_is_type (in, json_type_array) ? json_object_array_get_idx (in, k) : in;
      if (!json_object_is_type (e, json_type_string)) {
        bad = 1;
        break;
      }
      text_add (&text, &len, json_object_get_string (e));
      text_add (&text, &len, "\n");
    }
    if (bad)
      terr (t, inf, "must be a string or a non-empty list of strings");
    else
      s->host = write_script (t, i, ps, text, len);
    free (text);
  }
  else {
    CLEANUP_FREE char *p = local_file (t, uf, uri, sum);
    if (p && check_sha256 (t, cf, p, sum, s->sha256) == 0) {
      if (ps)
        s->host = ws_strdup (p);        /* PowerShell reads LF line ends */
      else {
        /* cmd.exe mishandles labels in LF-only batch files: CRLF it. */
        size_t len = 0;
        CLEANUP_FREE char *text = ws_read_file (p, 16 << 20, &len);
        if (text)
          s->host = write_script (t, i, 0, text, len);
        else
          t->errors++;
      }
    }
  }
  s->script = ws_asprintf (SCRIPT_DIR "\\%02zu-%s.%s", i + 1, ps ? "powershell" : "shell",
                           ps ? "ps1" : "cmd");
}

static void
load_distribute (struct tmpl *t, json_object *props)
{
  json_object *d;
  if (!json_object_object_get_ex (props, "distribute", &d)
      || !json_object_is_type (d, json_type_array) || json_object_array_length (d) == 0) {
    terr (t, "properties.distribute", "must be a non-empty list (of VHD entries)");
    return;
  }
  size_t n = json_object_array_length (d);
  t->outs = ws_malloc (n * sizeof *t->outs);
  memset (t->outs, 0, n * sizeof *t->outs);
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_array_get_idx (d, i);
    char prefix[64];
    snprintf (prefix, sizeof prefix, "properties.distribute[%zu]", i);
    if (!json_object_is_type (e, json_type_object)) {
      terr (t, prefix, "must be an object");
      continue;
    }
    const char *type = str_field (t, e, prefix, "type", 1);
    CLEANUP_FREE char *tf = ws_asprintf ("%s.type", prefix);
    int azure = type && (!strcasecmp (type, "ManagedImage") || !strcasecmp (type, "SharedImage"));
    if (type && strcasecmp (type, "VHD") && !(azure && t->vhd_for_all)) {
      terr (t, tf, "\"%s\" needs Azure; winseal build writes VHD entries only%s", type,
            azure ? " (--vhd-for-all-distribute writes a VHD for it)" : "");
      continue;
    }
    static const char *const keys[] = { "type", "runOutputName", "tags", "artifactTags", NULL };
    /* Where Azure would put it: noted (a VHD's uri; a managed or
     * gallery image's place, with --vhd-for-all-distribute). */
    static const char *const ign[] = { "uri", NULL };
    static const char *const ign_azure[] = { "imageId", "location", "galleryImageId",
                                             "replicationRegions", "targetRegions",
                                             "excludeFromLatest", "storageAccountType",
                                             "versioning", "uri", NULL };
    check_keys (t, e, prefix, keys, azure ? ign_azure : ign);
    if (azure)
      t->outs_from_azure++;
    const char *name = str_field (t, e, prefix, "runOutputName", 1);
    CLEANUP_FREE char *nf = ws_asprintf ("%s.runOutputName", prefix);
    int ok = name != NULL;
    for (const char *p = name; ok && *p; ++p)
      ok = isalnum ((unsigned char) *p) || strchr ("._-", *p);
    if (name && (!ok || name[0] == '.')) {
      terr (t, nf, "\"%s\" is not a file name ([A-Za-z0-9._-], not starting with '.')", name);
      continue;
    }
    json_object *tags = NULL;
    if (json_object_object_get_ex (e, "tags", &tags)
        || json_object_object_get_ex (e, "artifactTags", &tags)) {
      if (!json_object_is_type (tags, json_type_object)) {
        terr (t, prefix, "tags must be an object");
        tags = NULL;
      }
    }
    if (!name)
      continue;
    for (size_t k = 0; k < t->nouts; ++k)
      if (!strcmp (t->outs[k].name, name))
        terr (t, nf, "\"%s\" is used twice (runOutputName must be unique)", name);
    t->outs[t->nouts].name = name;
    t->outs[t->nouts].tags = tags;
    t->nouts++;
  }
}

/* The imageTemplates resource: the file itself, or the one resource of an
 * ARM deployment template. */
static json_object *
find_resource (struct tmpl *t)
{
  json_object *res;
  if (!json_object_object_get_ex (t->root, "resources", &res))
    return t->root;
  static const char *const arm[] = { "$schema", "contentVersion", "parameters", "variables",
                                     "outputs", "functions", "metadata", NULL };
  static const char *const allowed[] = { "resources", NULL };
  check_keys (t, t->root, "", allowed, arm);
  json_object *found = NULL;
  size_t n = json_object_is_type (res, json_type_array) ? json_object_array_length (res) : 0;
  for (size_t i = 0; i < n; ++i) {
    json_object *r = json_object_array_get_idx (res, i), *ty;
    if (json_object_object_get_ex (r, "type", &ty)
        && !strcasecmp (json_object_get_string (ty), TEMPLATE_TYPE)) {
      if (found) {
        terr (t, "resources", "holds more than one %s; build one at a time", TEMPLATE_TYPE);
        return NULL;
      }
      found = r;
    }
  }
  if (!found)
    terr (t, "resources", "holds no %s resource", TEMPLATE_TYPE);
  return found;
}

/* ---- ARM template expressions ----
 * A string value "[...]" is an expression (ARM template syntax; "[[" at
 * the start is a literal "[").  winseal evaluates only
 * [parameters('NAME')] (from --parameters, else the template's
 * defaultValue) and [variables('NAME')] (the template's variables); any
 * other is refused by its field. */

#define EXPR_DEPTH 8

/* The value an expression string stands for (a new reference), or NULL
 * (reported at field). */
static json_object *resolve_value (struct tmpl *t, json_object *v, const char *field, int depth);

static json_object *
expr_value (struct tmpl *t, const char *s, const char *field, int depth)
{
  char name[128];
  int kind = json_arm_reference (s, name, sizeof name);
  if (!kind) {
    terr (t, field, "\"%s\" is an ARM template expression winseal does not evaluate (only "
          "[parameters('NAME')] and [variables('NAME')]); put the value itself", s);
    return NULL;
  }
  json_object *found = NULL, *o, *x;
  if (kind == 'p') {
    if (t->params && json_object_object_get_ex (t->params, name, &o)
        && json_object_object_get_ex (o, "value", &x))
      found = x;
    else if (t->root != t->res && json_object_object_get_ex (t->root, "parameters", &o)
             && json_object_is_type (o, json_type_object) && json_object_object_get_ex (o, name, &o)
             && json_object_is_type (o, json_type_object)
             && json_object_object_get_ex (o, "defaultValue", &x))
      found = x;
    if (!found) {
      terr (t, field, "\"%s\": parameter '%s' has no value (give it in --parameters FILE, or "
            "a defaultValue)", s, name);
      return NULL;
    }
  }
  else {
    if (t->root != t->res && json_object_object_get_ex (t->root, "variables", &o)
        && json_object_is_type (o, json_type_object) && json_object_object_get_ex (o, name, &x))
      found = x;
    if (!found) {
      terr (t, field, "\"%s\": the template has no variable '%s'", s, name);
      return NULL;
    }
  }
  /* A value may itself hold expressions (a variable naming a parameter). */
  return resolve_value (t, found, field, depth + 1);
}

/* A deep copy of v with every expression evaluated, or NULL (reported). */
static json_object *
resolve_value (struct tmpl *t, json_object *v, const char *field, int depth)
{
  if (depth > EXPR_DEPTH) {
    terr (t, field, "expressions nested more than %d deep", EXPR_DEPTH);
    return NULL;
  }
  if (json_object_is_type (v, json_type_string)) {
    const char *s = json_object_get_string (v);
    size_t l = strlen (s);
    if (l >= 2 && s[0] == '[' && s[1] == '[')
      return json_object_new_string (s + 1);
    if (l >= 2 && s[0] == '[' && s[l - 1] == ']')
      return expr_value (t, s, field, depth);
    return json_object_get (v);
  }
  if (json_object_is_type (v, json_type_array)) {
    json_object *a = json_object_new_array ();
    int bad = 0;
    for (size_t i = 0; i < json_object_array_length (v); ++i) {
      CLEANUP_FREE char *f = ws_asprintf ("%s[%zu]", field, i);
      json_object *e = resolve_value (t, json_object_array_get_idx (v, i), f, depth);
      bad |= !e;
      json_object_array_add (a, e ? e : json_object_new_string (""));
    }
    if (bad) {
      json_object_put (a);
      return NULL;
    }
    return a;
  }
  if (json_object_is_type (v, json_type_object)) {
    json_object *o = json_object_new_object ();
    int bad = 0;
    json_object_object_foreach (v, key, val) {
      CLEANUP_FREE char *f = field[0] ? ws_asprintf ("%s.%s", field, key) : ws_strdup (key);
      json_object *e = resolve_value (t, val, f, depth);
      bad |= !e;
      json_object_object_add (o, key, e);
    }
    if (bad) {
      json_object_put (o);
      return NULL;
    }
    return o;
  }
  return json_object_get (v);
}

/* --parameters FILE: an ARM deployment parameters file. 0 or -1. */
static int
load_parameters (struct tmpl *t)
{
  if (!t->params_path)
    return 0;
  json_object *p = json_read_strict (t->params_path, WS_TEXT_MAX), *ps;
  if (!p)
    return -1;
  if (!json_object_is_type (p, json_type_object) || !json_object_object_get_ex (p, "parameters", &ps)
      || !json_object_is_type (ps, json_type_object)) {
    ws_error ("%s: not an ARM parameters file (an object with \"parameters\": {NAME: "
              "{\"value\": ...}})", t->params_path);
    json_object_put (p);
    return -1;
  }
  int bad = 0;
  json_object_object_foreach (ps, key, val) {
    json_object *x;
    if (!json_object_is_type (val, json_type_object) || !json_object_object_get_ex (val, "value", &x)) {
      ws_error ("%s: parameters.%s: %s", t->params_path, key,
                json_object_is_type (val, json_type_object)
                && json_object_object_get_ex (val, "reference", &x)
                ? "a Key Vault reference needs Azure; give the value itself"
                : "has no \"value\"");
      bad = 1;
    }
  }
  if (bad) {
    json_object_put (p);
    return -1;
  }
  t->params_file = p;
  t->params = ps;
  return 0;
}

/* Is this a template for a Linux image (a Linux publisher or offer, a
 * shell script with a #! line or a .sh script, a File put at a POSIX
 * path)?  Then it is refused with one line before anything else: winseal
 * builds Windows images.  Returns 1 (reported) or 0. */
static int
linux_template (struct tmpl *t, json_object *props)
{
  static const char *const distros[] = {
    "canonical", "redhat", "openlogic", "suse", "debian", "credativ", "almalinux",
    "kinvolk", "erockyenterprisesoftwarefoundationinc1653071250513", "ubuntu", "rhel",
    "centos", "sles", "rocky", "flatcar", "mariner", "azure-linux", "oracle-linux", NULL,
  };
  char why[200] = "";
  json_object *src, *v;
  if (json_object_object_get_ex (props, "source", &src) && json_object_is_type (src, json_type_object))
    for (const char *const *f = (const char *const[]) { "publisher", "offer", NULL }; *f && !*why; ++f)
      if (json_object_object_get_ex (src, *f, &v) && json_object_is_type (v, json_type_string))
        for (size_t i = 0; distros[i] && !*why; ++i)
          if (strcasestr (json_object_get_string (v), distros[i]))
            snprintf (why, sizeof why, "properties.source.%s is \"%s\"", *f,
                      json_object_get_string (v));
  json_object *cust;
  if (!*why && json_object_object_get_ex (props, "customize", &cust)
      && json_object_is_type (cust, json_type_array))
    for (size_t i = 0; i < json_object_array_length (cust) && !*why; ++i) {
      json_object *c = json_object_array_get_idx (cust, i), *in;
      if (!json_object_is_type (c, json_type_object))
        continue;
      const char *dest = json_object_object_get_ex (c, "destination", &v)
                         && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      const char *uri = json_object_object_get_ex (c, "scriptUri", &v)
                        && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      const char *first = NULL;
      if (json_object_object_get_ex (c, "inline", &in))
        first = json_object_is_type (in, json_type_array) && json_object_array_length (in)
                ? json_object_get_string (json_object_array_get_idx (in, 0))
                : json_object_is_type (in, json_type_string) ? json_object_get_string (in) : NULL;
      size_t ul = uri ? strlen (uri) : 0;
      if (dest && dest[0] == '/')
        snprintf (why, sizeof why, "properties.customize[%zu].destination is \"%.100s\"", i, dest);
      else if (first && strncmp (first, "#!", 2) == 0)
        snprintf (why, sizeof why, "properties.customize[%zu].inline starts with \"%.40s\"", i, first);
      else if (ul > 3 && strcasecmp (uri + ul - 3, ".sh") == 0)
        snprintf (why, sizeof why, "properties.customize[%zu].scriptUri is a .sh script", i);
    }
  if (!*why)
    return 0;
  ws_error ("%s: a Linux template (%s): winseal build builds Windows images", t->path, why);
  t->errors = -1;               /* reported: no summary line */
  return 1;
}

/* Load and check the whole template.  Returns 0, or -1 after reporting
 * every problem. */
int
load_template (struct tmpl *t)
{
  t->root = json_read_strict (t->path, WS_TEXT_MAX);
  if (!t->root)
    return -1;
  if (!json_object_is_type (t->root, json_type_object)) {
    ws_error ("%s: a template is a JSON object", t->path);
    return -1;
  }
  CLEANUP_FREE char *pcopy = ws_strdup (t->path);
  char *slash = strrchr (pcopy, '/');
  t->dir = slash ? (*slash = '\0', ws_strdup (pcopy[0] ? pcopy : "/")) : ws_strdup (".");
  t->ignored = json_object_new_array ();
  t->tmp = ws_mkdtemp ();
  if (!t->tmp)
    return -1;
  json_object *r = t->res = find_resource (t);
  if (!r)
    goto out;
  if (load_parameters (t) == -1) {
    t->errors = -1;
    goto out;
  }
  /* Expressions first: an unresolved one is reported by its field alone
   * (not again as the wrong type or a missing value). */
  int wrapped = r != t->root;
  {
    int before = t->errors;
    json_object *resolved = resolve_value (t, r, wrapped ? "resources[]" : "", 0);
    if (!resolved || t->errors > before) {
      json_object_put (resolved);
      goto out;
    }
    t->resolved = resolved;
    r = t->res = resolved;
  }
  json_object *lp;
  if (json_object_object_get_ex (r, "properties", &lp) && json_object_is_type (lp, json_type_object)
      && linux_template (t, lp))
    goto out;
  const char *pre = wrapped ? "resources[]" : "";
  static const char *const top[] = { "type", "properties", NULL };
  /* Fields that place or describe the Azure resource, and the read-only
   * ones of a template exported from Azure: noted and ignored. */
  static const char *const azure[] = { "apiVersion", "location", "name", "tags", "identity",
                                       "dependsOn", "id", "systemData", "etag", NULL };
  check_keys (t, r, pre, top, azure);
  json_object *v;
  if (json_object_object_get_ex (r, "type", &v)
      && (!json_object_is_type (v, json_type_string)
          || strcasecmp (json_object_get_string (v), TEMPLATE_TYPE)))
    terr (t, "type", "must be \"%s\"", TEMPLATE_TYPE);
  json_object *props;
  if (!json_object_object_get_ex (r, "properties", &props)
      || !json_object_is_type (props, json_type_object)) {
    terr (t, "properties", "missing (it holds source, customize and distribute)");
    goto out;
  }
  static const char *const pkeys[] = { "source", "customize", "distribute",
                                       "buildTimeoutInMinutes", "vmProfile", "validate", NULL };
  static const char *const pignored[] = { "stagingResourceGroup", "optimize", "errorHandling",
                                          "autoRun", "managedResourceTags",
                                          "exactStagingResourceGroup", "provisioningState",
                                          "provisioningError", "lastRunStatus", NULL };
  check_keys (t, props, "properties", pkeys, pignored);
  /* In-VM validation runs on the built VM: like WindowsRestart. */
  json_object *val;
  if (json_object_object_get_ex (props, "validate", &val)) {
    if (!t->skip_online)
      terr (t, "properties.validate", "in-VM validation needs the running machine and cannot "
            "be done offline; pass --skip-online-steps to build without it");
    else
      t->validate_skipped = 1;
  }
  int64_t to = int_field (t, props, "properties", "buildTimeoutInMinutes", 0, TIMEOUT_MAX, 0);
  t->timeout = to ? (int) to : TIMEOUT_DEFAULT;

  json_object *vm;
  if (json_object_object_get_ex (props, "vmProfile", &vm)) {
    if (!json_object_is_type (vm, json_type_object))
      terr (t, "properties.vmProfile", "must be an object");
    else {
      static const char *const vk[] = { "osDiskSizeGB", NULL };
      static const char *const vi[] = { "vmSize", "vnetConfig", "userAssignedIdentities", NULL };
      check_keys (t, vm, "properties.vmProfile", vk, vi);
      int64_t gb = int_field (t, vm, "properties.vmProfile", "osDiskSizeGB", 0, 32768, 0);
      t->disk_size = (uint64_t) gb << 30;
    }
  }

  json_object *src;
  if (!json_object_object_get_ex (props, "source", &src) || !json_object_is_type (src, json_type_object))
    terr (t, "properties.source", "missing (winseal builds from a local image: "
          "{\"type\": \"LocalImage\", \"path\": \"...\"})");
  else {
    const char *type = str_field (t, src, "properties.source", "type", 1);
    static const char *const sk[] = { "type", "path", "format", NULL };
    /* A cloud source with a local copy of it: the cloud fields are notes. */
    static const char *const si[] = { "publisher", "offer", "sku", "version", "planInfo",
                                      "imageId", "imageVersionID", "imageVersionId",
                                      "exactVersion", NULL };
    check_keys (t, src, "properties.source", sk, si);
    if (type && strcasecmp (type, "LocalImage") && strcasecmp (type, "PlatformImage")
        && strcasecmp (type, "ManagedImage") && strcasecmp (type, "SharedImageVersion"))
      terr (t, "properties.source.type", "\"%s\" is not LocalImage, PlatformImage, "
            "ManagedImage or SharedImageVersion", type);
    const char *path = str_field (t, src, "properties.source", "path", 0);
    if (!path)
      terr (t, "properties.source.path", "missing: winseal builds from a local copy of "
            "the image; add \"path\"");
    else {
      t->source = path[0] == '/' ? ws_strdup (path) : ws_asprintf ("%s/%s", t->dir, path);
      const char *why = ws_outside (t->source, t->dir);
      if (why)
        terr (t, "properties.source.path", "%s: %s", t->source, why);
    }
    t->infmt = str_field (t, src, "properties.source", "format", 0);
  }

  json_object *cust;
  if (json_object_object_get_ex (props, "customize", &cust)) {
    if (!json_object_is_type (cust, json_type_array))
      terr (t, "properties.customize", "must be a list");
    else {
      t->nsteps = json_object_array_length (cust);
      t->steps = ws_malloc ((t->nsteps + 1) * sizeof *t->steps);
      memset (t->steps, 0, (t->nsteps + 1) * sizeof *t->steps);
      for (size_t i = 0; i < t->nsteps; ++i) {
        load_step (t, i, json_object_array_get_idx (cust, i), &t->steps[i]);
        for (size_t k = 0; k < i && t->steps[i].name; ++k)
          if (t->steps[k].name && !strcmp (t->steps[k].name, t->steps[i].name)) {
            char f[64];
            snprintf (f, sizeof f, "properties.customize[%zu].name", i);
            terr (t, f, "\"%s\" is also customize[%zu]'s (names must be unique)",
                  t->steps[i].name, k);
          }
      }
    }
  }
  load_distribute (t, props);
 out:
  if (t->errors < 0)
    return -1;
  if (t->errors) {
    ws_error ("%s: %d problem%s in the template; nothing was done", t->path, t->errors,
              t->errors == 1 ? "" : "s");
    return -1;
  }
  return 0;
}

void
free_template (struct tmpl *t)
{
  if (t->resolved)
    json_object_put (t->resolved);
  if (t->params_file)
    json_object_put (t->params_file);
  free (t->uri_map);
  for (size_t i = 0; i < t->nextra; ++i) {
    free (t->extra[i].host);
    free (t->extra[i].dest);
  }
  free (t->extra);
  free_string_list (t->owned);
  for (size_t i = 0; i < t->nsteps; ++i) {
    free (t->steps[i].host);
    free (t->steps[i].script);
    free_string_list (t->steps[i].codes);
  }
  free (t->steps);
  for (size_t i = 0; i < t->nouts; ++i)
    free (t->outs[i].path);
  free (t->outs);
  if (t->tmp)
    ws_rmtree (t->tmp);
  free (t->tmp);
  free (t->dir);
  free (t->source);
  if (t->ignored)
    json_object_put (t->ignored);
  if (t->root)
    json_object_put (t->root);
}

/* The SetupComplete.cmd lines that run the script steps in template order
 * (File steps are in place already; skipped online steps are noted). */
#define CONTINUE_TASK "winseal-build-continue-%zu"
#define CONTINUE_SCRIPT "continue-%zu.cmd"

/* The lines of one part of the first-boot sequence: the steps from
 * *i up to the next WindowsRestart (or the end), then either the restart
 * point (a startup task for part + 1, the restart) or the end (the
 * scripts removed).  *i is left after the restart step. */
static char **
part_lines (struct tmpl *t, size_t part, size_t *i, size_t nscripts, int *restarts)
{
  char **l = NULL;
#define ADD(...) (l = strv_push (l, ws_asprintf (__VA_ARGS__)))
  if (part == 0) {
    ADD ("REM winseal build: the template's customize steps, in template order; "
         "output in " BUILD_LOG);
    ADD ("set \"WINSEAL_BUILD_LOG=" BUILD_LOG "\"");
    ADD ("echo [%%DATE%% %%TIME%%] winseal build: %zu first-boot step%s >> \"%%WINSEAL_BUILD_LOG%%\"",
         nscripts, nscripts == 1 ? "" : "s");
  }
  else {
    ADD ("@echo off");
    ADD ("REM winseal build: part %zu of the first-boot steps, after a WindowsRestart; run "
         "once by the startup task " CONTINUE_TASK ", as LocalSystem", part + 1, part);
    ADD ("schtasks.exe /Delete /F /TN \"" CONTINUE_TASK "\" >nul 2>&1", part);
    ADD ("set \"WINSEAL_BUILD_LOG=" BUILD_LOG "\"");
    ADD ("echo [%%DATE%% %%TIME%%] winseal build: continuing after the restart (part %zu) "
         ">> \"%%WINSEAL_BUILD_LOG%%\"", part + 1);
  }
  *restarts = 0;
  for (; *i < t->nsteps; ++*i) {
    struct step *s = &t->steps[*i];
    CLEANUP_FREE char *nm = safe_name (s->name);
    size_t no = *i + 1;
    if (s->kind == S_FILE) {
      ADD ("REM step %zu (File \"%s\"): copied to %s when the image was built", no, nm, s->dest);
      continue;
    }
    if (s->kind == S_ONLINE) {
      ADD ("REM step %zu (%s): not done (--skip-online-steps)", no, s->type);
      continue;
    }
    if (s->kind == S_RESTART) {
      /* SetupComplete.cmd must not restart the machine while it runs
       * (Setup has not finished): a delayed restart, after a startup
       * task for the next part is registered. */
      ADD ("REM step %zu (WindowsRestart): the next steps run after a restart, from the "
           "startup task " CONTINUE_TASK, no, part + 1);
      ADD ("schtasks.exe /Create /F /TN \"" CONTINUE_TASK "\" /SC ONSTART /RU SYSTEM /RL HIGHEST "
           "/TR \"%%WINDIR%%\\Setup\\Scripts\\winseal-build\\" CONTINUE_SCRIPT "\" "
           ">> \"%%WINSEAL_BUILD_LOG%%\" 2>&1", part + 1, part + 2);
      ADD ("if errorlevel 1 goto winseal_build_%zu_noresume", no);
      ADD ("echo [%%DATE%% %%TIME%%] step %zu: restarting >> \"%%WINSEAL_BUILD_LOG%%\"", no);
      if (s->restart_cmd)
        ADD ("%s", s->restart_cmd);
      else
        ADD ("shutdown.exe /r /f /t 60 /d p:4:1 /c \"winseal build: WindowsRestart (step %zu)\"", no);
      ADD ("goto winseal_build_restart");
      ADD (":winseal_build_%zu_noresume", no);
      ADD ("echo [%%DATE%% %%TIME%%] step %zu: cannot register the startup task; the later "
           "steps are not run >> \"%%WINSEAL_BUILD_LOG%%\"", no);
      ADD ("goto winseal_build_end");
      ++*i;
      *restarts = 1;
      break;
    }
    ADD ("echo [%%DATE%% %%TIME%%] step %zu (%s \"%s\"): starting >> \"%%WINSEAL_BUILD_LOG%%\"",
         no, s->kind == S_POWERSHELL ? "PowerShell" : "Shell", nm);
    if (s->kind == S_POWERSHELL)
      ADD ("\"%%WINDIR%%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" -NoLogo -NoProfile "
           "-NonInteractive -ExecutionPolicy Bypass -File \"%s\" >> \"%%WINSEAL_BUILD_LOG%%\" 2>&1",
           s->script);
    else
      ADD ("\"%%ComSpec%%\" /d /c \"%s\" >> \"%%WINSEAL_BUILD_LOG%%\" 2>&1", s->script);
    ADD ("set WINSEAL_RC=%%ERRORLEVEL%%");
    if (s->codes)
      for (size_t k = 0; s->codes[k]; ++k)
        ADD ("if \"%%WINSEAL_RC%%\"==\"%s\" goto winseal_build_%zu_ok", s->codes[k], no);
    else
      ADD ("if \"%%WINSEAL_RC%%\"==\"0\" goto winseal_build_%zu_ok", no);
    ADD ("echo [%%DATE%% %%TIME%%] step %zu failed with exit code %%WINSEAL_RC%%; the later "
         "steps are not run >> \"%%WINSEAL_BUILD_LOG%%\"", no);
    ADD ("goto winseal_build_end");
    ADD (":winseal_build_%zu_ok", no);
    ADD ("echo [%%DATE%% %%TIME%%] step %zu: done >> \"%%WINSEAL_BUILD_LOG%%\"", no);
  }
  ADD (":winseal_build_end");
  ADD ("REM The scripts may hold what the image should not keep.");
  ADD ("rmdir /s /q \"" SCRIPT_DIR "\"");
  if (*restarts)
    ADD (":winseal_build_restart");
#undef ADD
  return l;
}

char **
first_boot_lines (struct tmpl *t)
{
  size_t nscripts = 0;
  for (size_t i = 0; i < t->nsteps; ++i)
    nscripts += t->steps[i].kind == S_POWERSHELL || t->steps[i].kind == S_SHELL;
  if (!nscripts)
    return NULL;
  size_t i = 0;
  int restarts;
  char **first = part_lines (t, 0, &i, nscripts, &restarts);
  for (size_t part = 1; restarts; ++part) {
    char **l = part_lines (t, part, &i, nscripts, &restarts);
    size_t len = 0;
    char *text = NULL;
    for (size_t k = 0; l[k]; ++k) {
      text_add (&text, &len, l[k]);
      text_add (&text, &len, "\n");
    }
    free_string_list (l);
    char name[64];
    snprintf (name, sizeof name, CONTINUE_SCRIPT, part + 1);
    char *host = write_named_script (t, name, 0, text, len);
    free (text);
    if (!host) {
      t->errors++;
      free_string_list (first);
      return NULL;
    }
    t->extra = ws_realloc (t->extra, (t->nextra + 1) * sizeof *t->extra);
    t->extra[t->nextra].host = host;
    t->extra[t->nextra].dest = ws_asprintf ("%%WINDIR%%\\Setup\\Scripts\\winseal-build\\%s", name);
    t->nextra++;
  }
  return first;
}

json_object *
build_report (struct tmpl *t)
{
  json_object *b = json_object_new_object ();
  jadd_str (b, "template", t->path);
  json_object *steps = json_object_new_array ();
  for (size_t i = 0; i < t->nsteps; ++i) {
    struct step *s = &t->steps[i];
    json_object *o = json_object_new_object ();
    jadd_int (o, "step", (int64_t) i + 1);
    jadd_str (o, "type", s->type);
    jadd_str (o, "name", s->name);
    switch (s->kind) {
    case S_FILE:
      jadd_str (o, "action", "copied into the image");
      jadd_str (o, "destination", s->dest);
      jadd_str (o, "sha256", s->sha256);
      break;
    case S_POWERSHELL:
    case S_SHELL:
      jadd_str (o, "action", "runs at first boot (SetupComplete.cmd)");
      jadd_str (o, "script", s->script);
      break;
    case S_ONLINE:
      jadd_str (o, "action", "skipped: needs the running machine (--skip-online-steps)");
      break;
    case S_RESTART:
      jadd_str (o, "action", "restarts at first boot; the later steps run after it, from a "
                "startup task");
      break;
    }
    json_object_array_add (steps, o);
  }
  json_object_object_add (b, "steps", steps);
  json_object *outs = json_object_new_array ();
  for (size_t i = 0; i < t->nouts; ++i) {
    json_object *o = json_object_new_object ();
    jadd_str (o, "runOutputName", t->outs[i].name);
    jadd_str (o, "path", t->outs[i].path);
    if (t->outs[i].tags)
      json_object_object_add (o, "tags", json_object_get (t->outs[i].tags));
    json_object_array_add (outs, o);
  }
  json_object_object_add (b, "outputs", outs);
  json_object_object_add (b, "ignored_fields", json_object_get (t->ignored));
  jadd_int (b, "timeout_minutes", t->timeout);
  return b;
}
