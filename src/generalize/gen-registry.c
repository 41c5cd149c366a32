/* winseal: the session's registry edits (keys, values, the control sets
 * of SYSTEM), which honour --dry-run and go into the report. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "registry/regedit.h"
#include "util/util.h"


hive_node_h
gen_mkkey (struct gen *g, hive_h *h, hive_node_h node, const char *path)
{
  (void) g;
  CLEANUP_FREE char *copy = ws_strdup (path);
  char *save = NULL;
  for (char *c = strtok_r (copy, "\\", &save); c && node; c = strtok_r (NULL, "\\", &save)) {
    hive_node_h n = hivex_node_get_child (h, node, c);
    if (!n)
      n = hivex_node_add_child (h, node, c);
    node = n;
  }
  return node;
}

int
gen_set_value (struct gen *g, struct ghive *gh, hive_node_h node, const char *name,
               hive_type t, const void *data, size_t len)
{
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  hive_set_value v = { (char *) name, t, len, (char *) data };
  if (hivex_node_set_value (h, node, &v, 0) == -1) {
    ws_error ("%s hive: cannot set %s: %s", gh->label, name, strerror (errno));
    return -1;
  }
  gh->changed = 1;
  return 0;
}

int
gen_set_dword (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
               const char *name, uint32_t v)
{
  struct ghive *gh = gen_ghive (g, hive);
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  uint32_t old;
  int had = hive_get_dword (h, node, name, &old) == 0;
  if (had && old == v)
    return 0;
  uint8_t d[4];
  put_le32 (d, v);
  if (gen_set_value (g, gh, node, name, hive_t_REG_DWORD, d, 4) == -1)
    return -1;
  if (had)
    gen_change (g, "%s\\%s\\%s: %" PRIu32 " -> %" PRIu32, hive, keypath, name, old, v);
  else
    gen_change (g, "%s\\%s\\%s: (absent) -> %" PRIu32, hive, keypath, name, v);
  return 0;
}

int
gen_set_string (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                const char *name, const char *v, hive_type t)
{
  struct ghive *gh = gen_ghive (g, hive);
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  CLEANUP_FREE char *old = hive_get_string (h, node, name);
  if (old && strcmp (old, v) == 0)
    return 0;
  size_t len;
  CLEANUP_FREE uint8_t *u = utf8_to_utf16le (v, &len);
  if (!u)
    return -1;
  u = ws_realloc (u, len + 2);
  u[len] = u[len + 1] = 0;
  if (gen_set_value (g, gh, node, name, t, u, len + 2) == -1)
    return -1;
  gen_change (g, "%s\\%s\\%s: \"%s\" -> \"%s\"", hive, keypath, name[0] ? name : "(default)",
              old ? old : "(absent)", v);
  return 0;
}

hive_node_h *
gen_control_sets (struct gen *g, size_t *n_ret)
{
  hive_h *h = gen_hive (g, "SYSTEM");
  *n_ret = 0;
  if (!h)
    return NULL;
  int *sets, cur;
  size_t n;
  if (hive_control_sets (h, &sets, &n, &cur) == -1 || n == 0) {
    ws_error ("%s: the SYSTEM hive has no control set", g->w->image);
    return NULL;
  }
  hive_node_h *nodes = ws_malloc ((n + 1) * sizeof *nodes);
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    char name[32];
    snprintf (name, sizeof name, "ControlSet%03d", sets[i]);
    hive_node_h cs = hivex_node_get_child (h, hivex_root (h), name);
    if (cs)
      nodes[k++] = cs;
  }
  free (sets);
  nodes[k] = 0;
  *n_ret = k;
  return nodes;
}

int
gen_set_all_sets (struct gen *g, const char *key, int create, const char *name,
                  hive_type t, const char *sz, uint32_t dword)
{
  size_t n;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &n);
  hive_h *h = gen_hive (g, "SYSTEM");
  if (!sets || !h)
    return -1;
  for (size_t i = 0; i < n; ++i) {
    hive_node_h k = hive_walk (h, sets[i], key);
    if (!k && create)
      k = gen_mkkey (g, h, sets[i], key);
    if (!k) {
      if (create)
        return -1;
      continue;
    }
    CLEANUP_FREE char *cs = hivex_node_name (h, sets[i]);
    CLEANUP_FREE char *kp = ws_strconcat (cs, "\\", key, NULL);
    int r = t == hive_t_REG_DWORD ? gen_set_dword (g, "SYSTEM", k, kp, name, dword)
                                  : gen_set_string (g, "SYSTEM", k, kp, name, sz, t);
    if (r == -1)
      return -1;
  }
  return 0;
}

void
gen_check_dword_all_sets (struct gen *g, const char *op, const char *key, const char *name,
                          uint32_t v)
{
  size_t n;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &n);
  hive_h *h = gen_hive (g, "SYSTEM");
  if (!sets || !h) {
    gen_fail (g, "%s: no control set", op);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    hive_node_h k = hive_walk (h, sets[i], key);
    uint32_t d;
    if (!k || hive_get_dword (h, k, name, &d) == -1 || d != v) {
      CLEANUP_FREE char *cs = hivex_node_name (h, sets[i]);
      gen_fail (g, "%s: %s\\%s\\%s is not %" PRIu32, op, cs, key, name, v);
    }
  }
}

static int
name_is (const char *name, void *arg)
{
  return strcasecmp (name, arg) == 0;
}

int
gen_delete_value (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                  const char *name)
{
  return gen_delete_values (g, hive, node, keypath, name_is, (void *) name);
}

int
gen_delete_values (struct gen *g, const char *hive, hive_node_h node, const char *keypath,
                   int (*match) (const char *name, void *arg), void *arg)
{
  struct ghive *gh = gen_ghive (g, hive);
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h || !node)
    return h ? 0 : -1;
  CLEANUP_FREE hive_value_h *vals = hivex_node_values (h, node);
  if (!vals) {
    ws_error ("%s hive: cannot list the values of %s: %s", hive, keypath, strerror (errno));
    return -1;
  }
  size_t n = 0;
  for (; vals[n]; ++n)
    ;
  /* libhivex replaces a key's whole value list: every value that does not
   * match, with its name, type and data as they are. */
  hive_set_value *keep = ws_malloc ((n + 1) * sizeof *keep);
  char **gone = ws_malloc ((n + 1) * sizeof *gone);
  size_t k = 0, ng = 0;
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; ++i) {
    char *vn = hivex_value_key (h, vals[i]);
    if (!vn) {
      ret = -1;
      break;
    }
    if (match (vn, arg)) {
      gone[ng++] = vn;
      continue;
    }
    hive_type t;
    size_t len;
    char *data = hivex_value_value (h, vals[i], &t, &len);
    if (!data) {
      free (vn);
      ret = -1;
      break;
    }
    keep[k++] = (hive_set_value) { vn, t, len, data };
  }
  if (ret == -1)
    ws_error ("%s hive: cannot read the values of %s: %s", hive, keypath, strerror (errno));
  else if (ng && hivex_node_set_values (h, node, k, keep, 0) == -1) {
    ws_error ("%s hive: cannot delete values of %s: %s", hive, keypath, strerror (errno));
    ret = -1;
  }
  for (size_t i = 0; i < ng; ++i) {
    if (ret == 0)
      gen_change (g, "%s\\%s\\%s: deleted", hive, keypath, gone[i][0] ? gone[i] : "(default)");
    free (gone[i]);
  }
  for (size_t i = 0; i < k; ++i) {
    free (keep[i].key);
    free (keep[i].value);
  }
  free (keep);
  free (gone);
  if (ret == 0 && ng)
    gh->changed = 1;
  return ret == 0 ? (int) ng : ret;
}

int
gen_delete_subkeys (struct gen *g, const char *hive, hive_node_h node, const char *keypath)
{
  struct ghive *gh = gen_ghive (g, hive);
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h || !node)
    return h ? 0 : -1;
  int n = 0;
  for (;;) {
    CLEANUP_FREE hive_node_h *ch = hivex_node_children (h, node);
    if (!ch) {
      ws_error ("%s hive: cannot list the subkeys of %s: %s", hive, keypath, strerror (errno));
      return -1;
    }
    if (!ch[0])
      return n;
    if (gen_delete_key (g, hive, ch[0], keypath) == -1)
      return -1;
    n++;
  }
}

int
gen_delete_key (struct gen *g, const char *hive, hive_node_h node, const char *parentpath)
{
  struct ghive *gh = gen_ghive (g, hive);
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  CLEANUP_FREE char *name = hivex_node_name (h, node);
  if (hivex_node_delete_child (h, node) == -1) {
    ws_error ("%s hive: cannot delete %s\\%s: %s", hive, parentpath, name ? name : "?",
              strerror (errno));
    return -1;
  }
  gh->changed = 1;
  gen_change (g, "%s\\%s\\%s: key deleted", hive, parentpath, name ? name : "?");
  return 0;
}
