/* winseal operation setupcomplete: Windows\Setup\Scripts\SetupComplete.cmd
 * with CRLF line ends.  An existing script is kept and extended; winseal's
 * part is one marked block, replaced (never duplicated) on a second run. */
#include <config.h>

#include <string.h>

#include "generalize/generalize.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

/* SetupComplete.cmd block markers. */
#define SC_BEGIN "REM >>> winseal: first-boot steps (managed by winseal; do not edit)"
#define SC_END "REM <<< winseal"

/* Append s to *buf converting every line end to CRLF. */
static void
append_crlf (char **buf, size_t *len, const char *s, size_t n)
{
  *buf = ws_realloc (*buf, *len + 2 * n + 3);
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == '\r')
      continue;
    if (s[i] == '\n')
      (*buf)[(*len)++] = '\r';
    (*buf)[(*len)++] = s[i];
  }
  if (*len && (*buf)[*len - 1] != '\n') {
    (*buf)[(*len)++] = '\r';
    (*buf)[(*len)++] = '\n';
  }
  (*buf)[*len] = '\0';
}

static void
append_line (char **buf, size_t *len, const char *s)
{
  append_crlf (buf, len, s, strlen (s));
}

/* The existing script without winseal's block. */
static void
strip_block (const char *old, size_t olen, char **buf, size_t *len)
{
  const char *b = memmem (old, olen, SC_BEGIN, strlen (SC_BEGIN));
  if (!b) {
    if (olen)
      append_crlf (buf, len, old, olen);
    return;
  }
  if (b > old)
    append_crlf (buf, len, old, b - old);
  const char *e = memmem (b, olen - (b - old), SC_END, strlen (SC_END));
  if (!e)
    return;                     /* a block cut short: drop the rest of it */
  const char *after = memchr (e, '\n', olen - (e - old));
  if (after && (size_t) (after + 1 - old) < olen)
    strip_block (after + 1, olen - (after + 1 - old), buf, len);
}

static int
perform (struct gen *g)
{
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "Setup/Scripts");
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Setup/Scripts/SetupComplete.cmd");
  size_t olen = 0;
  CLEANUP_FREE char *old = gen_read_file (g, path, &olen);
  /* winseal's block goes first: an existing script may end with "exit". */
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  append_line (&buf, &len, SC_BEGIN);
  if (op_enabled (g->sel, "rdp-deny") && !g->o->keep_rdp_closed) {
    append_line (&buf, &len, "REM Remote Desktop was closed for the first boot; open it again.");
    append_line (&buf, &len, GEN_RDP_REOPEN_CMD);
  }
  append_line (&buf, &len, "REM The answer file can hold the administrator password.");
  append_line (&buf, &len, "del /q /f \"%WINDIR%\\Panther\\unattend.xml\" "
               "\"%WINDIR%\\Panther\\Unattend\\unattend.xml\" "
               "\"%WINDIR%\\System32\\Sysprep\\unattend.xml\" >nul 2>&1");
  if (g->o->setupcomplete_file) {
    size_t n;
    CLEANUP_FREE char *text = ws_read_text ("--setupcomplete", g->o->setupcomplete_file,
                                            WS_TEXT_MAX, &n);
    if (!text)
      return -1;
    append_crlf (&buf, &len, text, n);
  }
  for (size_t i = 0; g->firstboot_extra && g->firstboot_extra[i]; ++i)
    append_line (&buf, &len, g->firstboot_extra[i]);
  for (size_t i = 0; g->o->firstboot && g->o->firstboot[i]; ++i)
    append_line (&buf, &len, g->o->firstboot[i]);
  append_line (&buf, &len, SC_END);
  if (old)
    strip_block (old, olen, &buf, &len);
  if (gen_mkdir_p (g, dir) == -1 || gen_write_file (g, path, buf, len) == -1)
    return -1;
  gen_change (g, "%s: %s (%zu bytes)", path,
              old ? "winseal's block written, the rest kept" : "written", len);
  jadd_bool (g->op, "existing_script_kept", old != NULL);
  return 0;
}

static void
verify (struct gen *g)
{
  CLEANUP_FREE char *path = win_sysroot_path (g->w, "Setup/Scripts/SetupComplete.cmd");
  size_t len = 0;
  CLEANUP_FREE char *s = gen_read_file (g, path, &len);
  if (!s) {
    gen_fail (g, "setupcomplete: %s is missing", path);
    return;
  }
  for (size_t i = 0; i < len; ++i)
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      gen_fail (g, "setupcomplete: %s has a line without CRLF", path);
      break;
    }
  size_t blocks = 0;
  for (const char *p = s; (p = memmem (p, len - (p - s), SC_BEGIN, strlen (SC_BEGIN)));
       p += strlen (SC_BEGIN))
    blocks++;
  if (blocks != 1)
    gen_fail (g, "setupcomplete: %s holds %zu winseal blocks (expected 1)", path, blocks);
}

const struct operation op_setupcomplete = {
  .name = "setupcomplete",
  .heading = "Write the first-boot script (SetupComplete.cmd)",
  .description =
    "Writes Windows\\Setup\\Scripts\\SetupComplete.cmd (CRLF line ends), which "
    "Windows runs as LocalSystem after OOBE.  An existing script is kept after "
    "winseal's part, which is one marked block at the top (so an \"exit\" in the "
    "old script cannot skip it), replaced on a second run.  The block opens "
    "Remote Desktop again (unless --keep-rdp-closed or rdp-deny is off), deletes "
    "the answer-file copies that can hold the administrator password, then runs "
    "what cloud-agents asks for (EC2Launch v1's InitializeInstance.ps1 -Schedule), "
    "the lines of --setupcomplete FILE and each --firstboot-command in order.  "
    "Windows does not run it on images activated with OEM keys.",
  .enabled_by_default = 1,
  .options = "--setupcomplete FILE, --firstboot-command CMD (repeatable)",
  .perform = perform,
  .verify = verify,
};
