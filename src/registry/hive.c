/* winseal: registry hive base blocks and libhivex convenience functions. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/hive.h"

uint32_t
hive_base_block_checksum (const uint8_t *p)
{
  uint32_t x = 0;
  for (size_t i = 0; i < 508; i += 4)
    x ^= le32 (p + i);
  if (x == 0xFFFFFFFF)
    x = 0xFFFFFFFE;
  else if (x == 0)
    x = 1;
  return x;
}

int
hive_parse_base_block (const uint8_t *p, size_t len, uint64_t file_size,
                       struct hive_state *st, const char **why_ret)
{
  memset (st, 0, sizeof *st);
  if (len < 512 || file_size < REGF_BLOCK) {
    *why_ret = "file too short for a registry hive";
    return -1;
  }
  if (memcmp (p, "regf", 4) != 0) {
    *why_ret = "no \"regf\" signature";
    return -1;
  }
  st->seq1 = le32 (p + 0x04);
  st->seq2 = le32 (p + 0x08);
  st->major = le32 (p + 0x14);
  st->minor = le32 (p + 0x18);
  st->bins_size = le32 (p + 0x28);
  st->checksum = le32 (p + 0x1FC);
  st->checksum_calc = hive_base_block_checksum (p);
  if (st->major != 1) {
    *why_ret = "unsupported major version";
    return -1;
  }
  if (st->bins_size % REGF_BLOCK != 0
      || (uint64_t) st->bins_size > file_size - REGF_BLOCK) {
    *why_ret = "hive bins size is larger than the file";
    return -1;
  }
  st->dirty = st->seq1 != st->seq2 || st->checksum != st->checksum_calc;
  return 0;
}

int
hive_file_state (const char *file, struct hive_state *st)
{
  uint8_t buf[512];
  struct stat sb;
  const char *why;
  int fd = open (file, O_RDONLY | O_CLOEXEC);

  if (fd == -1) {
    ws_error ("%s: %m", file);
    return -1;
  }
  if (fstat (fd, &sb) == -1 || pread (fd, buf, sizeof buf, 0) != (ssize_t) sizeof buf) {
    ws_error ("%s: cannot read the hive's base block", file);
    close (fd);
    return -1;
  }
  close (fd);
  if (hive_parse_base_block (buf, sizeof buf, sb.st_size, st, &why) == -1) {
    ws_error ("%s: not a valid registry hive: %s", file, why);
    return -1;
  }
  return 0;
}

hive_h *
hive_open_file (const char *file, const char *label, int flags)
{
  hive_h *h = hivex_open (file, flags);
  if (h == NULL)
    ws_error ("%s hive: cannot be parsed (%m): corrupt or not a registry hive",
              label);
  return h;
}

void
ws_cleanup_hivex_close (void *ptr)
{
  hive_h *h = *(hive_h **) ptr;
  if (h)
    hivex_close (h);
}

hive_node_h
hive_walk (hive_h *h, hive_node_h node, const char *path)
{
  CLEANUP_FREE char *copy = ws_strdup (path);
  char *save = NULL;
  for (char *tok = strtok_r (copy, "\\", &save); tok && node;
       tok = strtok_r (NULL, "\\", &save))
    node = hivex_node_get_child (h, node, tok);
  return node;
}

static hive_value_h
find_value (hive_h *h, hive_node_h node, const char *name)
{
  if (!node)
    return 0;
  return hivex_node_get_value (h, node, name ? name : "");
}

char *
hive_get_string (hive_h *h, hive_node_h node, const char *name)
{
  hive_value_h v = find_value (h, node, name);
  hive_type t;
  size_t len;
  if (!v || hivex_value_type (h, v, &t, &len) == -1)
    return NULL;
  if (t != hive_t_REG_SZ && t != hive_t_REG_EXPAND_SZ)
    return NULL;
  return hivex_value_string (h, v);
}

int
hive_get_dword (hive_h *h, hive_node_h node, const char *name, uint32_t *ret)
{
  hive_value_h v = find_value (h, node, name);
  hive_type t;
  size_t len;
  if (!v || hivex_value_type (h, v, &t, &len) == -1)
    return -1;
  if (t != hive_t_REG_DWORD && t != hive_t_REG_DWORD_BIG_ENDIAN)
    return -1;
  errno = 0;
  int32_t d = hivex_value_dword (h, v);
  if (d == -1 && errno != 0)
    return -1;
  *ret = (uint32_t) d;
  return 0;
}

uint8_t *
hive_get_bytes (hive_h *h, hive_node_h node, const char *name,
                size_t *len_ret, hive_type *type_ret)
{
  hive_value_h v = find_value (h, node, name);
  if (!v)
    return NULL;
  return (uint8_t *) hivex_value_value (h, v, type_ret, len_ret);
}

int
hive_control_sets (hive_h *h, int **sets_ret, size_t *n_ret, int *current_ret)
{
  hive_node_h root = hivex_root (h);
  hive_node_h select = hive_walk (h, root, "Select");
  uint32_t cur;
  CLEANUP_FREE hive_node_h *children = NULL;

  if (!select || hive_get_dword (h, select, "Current", &cur) == -1)
    return -1;
  *current_ret = (int) cur;
  children = hivex_node_children (h, root);
  if (!children)
    return -1;
  size_t n = 0;
  for (size_t i = 0; children[i]; ++i)
    n++;
  int *sets = ws_malloc (sizeof (int) * (n + 1));
  size_t k = 0;
  for (size_t i = 0; children[i]; ++i) {
    CLEANUP_FREE char *name = hivex_node_name (h, children[i]);
    unsigned num;
    char tail;
    if (name && strncasecmp (name, "ControlSet", 10) == 0
        && sscanf (name + 10, "%3u%c", &num, &tail) == 1
        && strlen (name) == 13 && num >= 1)
      sets[k++] = (int) num;
  }
  *sets_ret = sets;
  *n_ret = k;
  return 0;
}

struct profile_entry *
hive_profile_list (hive_h *sw, size_t *n_ret)
{
  *n_ret = 0;
  hive_node_h pl = sw ? hive_walk (sw, hivex_root (sw), PROFILE_LIST_KEY) : 0;
  hive_node_h *kids = pl ? hivex_node_children (sw, pl) : NULL;
  if (!kids)
    return NULL;
  size_t n = 0;
  while (kids[n])
    n++;
  struct profile_entry *list = ws_malloc ((n + 1) * sizeof *list);
  for (size_t i = 0; i < n; ++i) {
    struct profile_entry *e = &list[i];
    memset (e, 0, sizeof *e);
    e->node = kids[i];
    e->sid_str = hivex_node_name (sw, kids[i]);
    e->local = e->sid_str && sid_parse (e->sid_str, &e->sid) == 0 && e->sid.count == 5
               && e->sid.sub[0] == 21;
    e->image_path = hive_get_string (sw, kids[i], "ProfileImagePath");
  }
  free (kids);
  *n_ret = n;
  return list;
}

void
hive_profile_list_free (struct profile_entry *list, size_t n)
{
  for (size_t i = 0; list && i < n; ++i) {
    free (list[i].sid_str);
    free (list[i].image_path);
  }
  free (list);
}

int
hive_windows_version (hive_h *sw, int *major, int *minor)
{
  hive_node_h cv = hive_walk (sw, hivex_root (sw), "Microsoft\\Windows NT\\CurrentVersion");
  if (!cv)
    return -1;
  uint32_t mj, mn;
  if (hive_get_dword (sw, cv, "CurrentMajorVersionNumber", &mj) == 0
      && hive_get_dword (sw, cv, "CurrentMinorVersionNumber", &mn) == 0
      && mj < 1000 && mn < 1000) {
    *major = (int) mj, *minor = (int) mn;
    return 0;
  }
  CLEANUP_FREE char *cver = hive_get_string (sw, cv, "CurrentVersion");
  int a, b;
  char tail;
  if (!cver || sscanf (cver, "%d.%d%c", &a, &b, &tail) != 2 || a < 0 || a > 999 || b < 0 || b > 999)
    return -1;
  *major = a, *minor = b;
  return 0;
}

hive_node_h
hive_current_set_walk (hive_h *sys, const char *path)
{
  CLEANUP_FREE int *sets = NULL;
  size_t n;
  int cur;
  if (hive_control_sets (sys, &sets, &n, &cur) == -1 || cur < 1 || cur > 999)
    return 0;
  char p[512];
  snprintf (p, sizeof p, "ControlSet%03d\\%s", cur, path);
  return hive_walk (sys, hivex_root (sys), p);
}

void
hive_windows_role (hive_h *sys, hive_h *sec, struct windows_role *r)
{
  memset (r, 0, sizeof *r);
  if (sys) {
    hive_node_h po = hive_current_set_walk (sys, "Control\\ProductOptions");
    CLEANUP_FREE char *pt = po ? hive_get_string (sys, po, "ProductType") : NULL;
    if (pt && strcasecmp (pt, "LanmanNT") == 0)
      r->dc_why = "its ProductType is LanmanNT";
    else if (hive_current_set_walk (sys, "Services\\NTDS\\Parameters"))
      r->dc_why = "it has the NTDS (Active Directory) service's parameters";
  }
  if (!sec)
    return;
  hive_node_h dm = hive_walk (sec, hivex_root (sec), "Policy\\PolPrDmS");
  size_t len = 0;
  hive_type t;
  CLEANUP_FREE uint8_t *b = dm ? hive_get_bytes (sec, dm, "", &len, &t) : NULL;
  /* A workgroup's primary domain has no SID (an empty value). */
  if (b && len >= 8 && sid_from_binary (b, len, &r->domain_sid) > 0
      && sid_is_machine_domain (&r->domain_sid))
    r->domain_member = 1;
  r->machine_account = hive_walk (sec, hivex_root (sec), "Policy\\Secrets\\$MACHINE.ACC") != 0;
}
