/* winseal: the machine SID in scheduled tasks: the task files under
 * Windows\System32\Tasks and their TaskCache entries in SOFTWARE (part
 * of sid-reset; the NTFS side is fsids.c). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "formats/format.h"
#include "generalize/tasks.h"
#include "helper/helper-proto.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "util/util.h"

#define HELPER_NAME "winseal-fshelper"
#define HELPER_GUEST "/" HELPER_NAME
#define HIVES_GUEST "/winseal-hives.bin"
#define LIST_GUEST "/winseal-fslist"
#define MOUNT_PREFIX "/winseal-vol"
#define LIST_MAX 5              /* offenders listed per kind */

#define TASKCACHE "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks"

/* The TaskCache\Tasks\{GUID} key whose Path is task_path, or 0. */
static hive_node_h
task_cache_entry (hive_h *sw, const char *task_path)
{
  hive_node_h tasks = hive_walk (sw, hivex_root (sw), TASKCACHE);
  CLEANUP_FREE hive_node_h *kids = tasks ? hivex_node_children (sw, tasks) : NULL;
  for (size_t i = 0; kids && kids[i]; ++i) {
    CLEANUP_FREE char *p = hive_get_string (sw, kids[i], "Path");
    if (p && strcasecmp (p, task_path) == 0)
      return kids[i];
  }
  return 0;
}

static int
update_task_cache (struct gen *g, const char *task_path, const uint8_t *old_xml, size_t old_len,
                   const uint8_t *new_xml, size_t new_len, const char *os, const char *ns,
                   struct task_result *res)
{
  struct ghive *gh = gen_ghive (g, "SOFTWARE");
  hive_h *sw = gh ? gen_ghive_handle (g, gh) : NULL;
  if (!sw)
    return -1;
  hive_node_h e = task_cache_entry (sw, task_path);
  if (!e) {
    gen_warn (g, "task %s has no TaskCache entry in SOFTWARE", task_path);
    return 0;
  }
  CLEANUP_FREE hive_value_h *vals = hivex_node_values (sw, e);
  for (size_t i = 0; vals && vals[i]; ++i) {
    CLEANUP_FREE char *name = hivex_value_key (sw, vals[i]);
    hive_type t;
    size_t len;
    CLEANUP_FREE char *data = name ? hivex_value_value (sw, vals[i], &t, &len) : NULL;
    if (!data || t != hive_t_REG_BINARY)
      continue;
    if (strcasecmp (name, "Hash") == 0) {
      /* Only a hash known to be the file's SHA-256 is recomputed. */
      uint8_t h[32];
      sha256_buffer (old_xml, old_len, h);
      if (len == 32 && memcmp (data, h, 32) == 0) {
        sha256_buffer (new_xml, new_len, h);
        if (gen_set_value (g, gh, e, "Hash", hive_t_REG_BINARY, h, 32) == -1)
          return -1;
        gen_change (g, "SOFTWARE\\...\\TaskCache\\Tasks entry of %s: Hash recomputed", task_path);
        res->hashes++;
      }
      else
        gen_warn (g, "task %s: its TaskCache Hash is not the SHA-256 of the task file; "
                  "left as it was (the Task Scheduler may report the task as changed)",
                  task_path);
      continue;
    }
    uint8_t *nd;
    size_t nl;
    if (!sid_text_replace ((uint8_t *) data, len, 1, os, ns, &nd, &nl))
      continue;
    if (nl != len) {
      gen_warn (g, "task %s: TaskCache value %s holds the old SID as text, and the new "
                "SID's text has another length; left as it was", task_path, name);
      free (nd);
      continue;
    }
    int sr = gen_set_value (g, gh, e, name, hive_t_REG_BINARY, nd, nl);
    free (nd);
    if (sr == -1)
      return -1;
    gen_change (g, "SOFTWARE\\...\\TaskCache\\Tasks entry of %s: %s rewritten", task_path, name);
  }
  return 0;
}

/* Rewrite one task file's content (data, len: as read) and its TaskCache
 * entry.  *written_ret (caller frees) / *wlen_ret: what was written, or
 * NULL when it holds no old SID.  Returns 0 or -1. */
static int
rewrite_task (struct gen *g, const char *path, const char *task_path, const uint8_t *data,
              size_t len, const char *os, const char *ns, int check_only,
              struct task_result *res, uint8_t **written_ret, size_t *wlen_ret)
{
  *written_ret = NULL;
  int utf16 = len >= 2 && data[0] == 0xFF && data[1] == 0xFE;
  size_t bom = utf16 ? 2 : 0;
  uint8_t *nd;
  size_t nl;
  size_t n = sid_text_replace (data + bom, len - bom, utf16, os, ns, &nd, &nl);
  if (!n)
    return 0;
  if (check_only) {
    res->offenders = strv_push (res->offenders, ws_strdup (task_path));
    free (nd);
    return 0;
  }
  size_t wl = nl + bom;
  uint8_t *wp = ws_malloc (wl);
  memcpy (wp, data, bom);
  memcpy (wp + bom, nd, nl);
  free (nd);
  if (gen_write_file (g, path, (const char *) wp, wl) == -1) {
    free (wp);
    return -1;
  }
  gen_change (g, "task %s: %zu occurrences of the old SID rewritten", task_path, n);
  res->rewritten++;
  if (update_task_cache (g, task_path, data, len, wp, wl, os, ns, res) == -1) {
    free (wp);
    return -1;
  }
  *written_ret = wp;
  *wlen_ret = wl;
  return 0;
}

int
fs_sid_tasks (struct gen *g, const struct sid *old, const struct sid *nw, int check_only,
              struct task_result *res)
{
  memset (res, 0, sizeof *res);
  char os[SID_STRING_MAX], ns[SID_STRING_MAX];
  sid_to_string (old, os);
  sid_to_string (nw, ns);
  int remember = !check_only && !g->o->dry_run;
  if (remember && g->tasks_known && sid_equal (old, &g->tasks_sid)) {
    /* The next clone: the files the last rewrite changed, as it wrote
     * them (no other task file held the SID; nothing has changed them). */
    for (size_t i = 0; i < g->n_task_copies; ++i) {
      struct task_copy *c = &g->task_copies[i];
      uint8_t *wp;
      size_t wl;
      res->scanned++;
      if (rewrite_task (g, c->path, c->task_path, c->data, c->len, os, ns, 0, res, &wp, &wl) == -1)
        return -1;
      if (wp) {
        free (c->data);
        c->data = wp;
        c->len = wl;
      }
    }
    g->tasks_sid = *nw;
    return 0;
  }
  CLEANUP_FREE char *dir = win_sysroot_path (g->w, "System32/Tasks");
  if (!dir || !win_is_dir (g->w, dir))
    return 0;
  CLEANUP_FREE_STRING_LIST char **files = guestfs_find (g->g, dir);
  if (!files) {
    ws_error ("%s: cannot list %s: %s", g->w->image, dir, appliance_error (g->g));
    return -1;
  }
  for (size_t i = 0; remember && i < g->n_task_copies; ++i) {
    free (g->task_copies[i].path);
    free (g->task_copies[i].task_path);
    free (g->task_copies[i].data);
  }
  if (remember)
    g->n_task_copies = 0;
  for (size_t i = 0; files[i]; ++i) {
    CLEANUP_FREE char *path = ws_asprintf ("%s/%s", dir, files[i][0] == '/' ? files[i] + 1 : files[i]);
    if (!win_is_file (g->w, path))
      continue;
    int64_t size = win_filesize (g->w, path);
    if (size < 0 || size > (4 << 20)) {
      gen_warn (g, "task file %s is larger than 4 MiB; not read", path);
      continue;
    }
    size_t len;
    CLEANUP_FREE char *data = guestfs_read_file (g->g, path, &len);
    if (!data) {
      ws_error ("%s: cannot read %s: %s", g->w->image, path, appliance_error (g->g));
      return -1;
    }
    res->scanned++;
    const char *rel = files[i];
    while (*rel == '/')
      rel++;
    char *task_path = ws_asprintf ("\\%s", rel);
    for (char *c = task_path; *c; ++c)
      if (*c == '/')
        *c = '\\';
    uint8_t *wp;
    size_t wl;
    if (rewrite_task (g, path, task_path, (uint8_t *) data, len, os, ns, check_only, res,
                      &wp, &wl) == -1) {
      free (task_path);
      return -1;
    }
    if (wp && remember) {
      g->task_copies = ws_realloc (g->task_copies, (g->n_task_copies + 1) * sizeof *g->task_copies);
      g->task_copies[g->n_task_copies++] = (struct task_copy) { ws_strdup (path), task_path, wp, wl };
    }
    else {
      free (wp);
      free (task_path);
    }
  }
  if (remember) {
    g->tasks_sid = *nw;
    g->tasks_known = 1;
  }
  return 0;
}
