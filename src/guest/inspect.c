/* winseal: what `winseal inspect` reports.  Every field is documented in
 * man/winseal.pod (INSPECT REPORT); the text output is rendered from the
 * same JSON object, so the two cannot disagree. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "guest/appliance.h"
#include "registry/hive.h"
#include "guest/hives.h"
#include "guest/agents.h"
#include "guest/inspect.h"
#include "util/json-out.h"
#include "registry/sam.h"
#include "win/sid.h"

#define ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

struct ctx {
  struct windows *w;
  const char *tmpdir;
  json_object *r, *warnings, *hives;
  char *fatal;                  /* SYSTEM or SOFTWARE is corrupt: why */
};

static void
warn (struct ctx *c, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
static void
warn (struct ctx *c, const char *fmt, ...)
{
  va_list ap;
  char *s;
  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) == -1)
    abort ();
  va_end (ap);
  json_object_array_add (c->warnings, json_object_new_string (s));
  free (s);
}

/* Record the base-block state of a hive (and its logs) in "hives";
 * returns the entry, and in *dirty_ret whether the hive needs its logs
 * (dirty, or a base block that does not parse). */
static json_object *
hive_entry (struct ctx *c, const char *label, const char *path,
            const uint8_t *block, size_t len, int64_t size, int *dirty_ret)
{
  json_object *h = json_object_new_object ();
  struct hive_state st;
  const char *why;
  jadd_str (h, "name", label);
  jadd_str (h, "path", path);
  *dirty_ret = 1;
  if (hive_parse_base_block (block, len, size, &st, &why) == -1) {
    jadd_str (h, "state", "invalid");
    jadd_str (h, "error", why);
    warn (c, "%s hive (%s): %s", label, path, why);
  }
  else {
    jadd_str (h, "state", st.dirty ? "dirty" : "clean");
    *dirty_ret = st.dirty;
    if (st.dirty)
      warn (c, "%s hive (%s) is dirty (sequence numbers %" PRIu32 " and %" PRIu32
            "%s): its newest data may be only in its .LOG1/.LOG2 logs",
            label, path, st.seq1, st.seq2,
            st.checksum == st.checksum_calc ? "" : ", bad checksum");
    jadd_int (h, "sequence1", st.seq1);
    jadd_int (h, "sequence2", st.seq2);
    jadd_bool (h, "checksum_ok", st.checksum == st.checksum_calc);
  }
  int64_t logs = 0;
  for (int i = 1; i <= 2; ++i) {
    CLEANUP_FREE char *lp = ws_asprintf ("%s.LOG%d", path, i);
    CLEANUP_FREE char *rp = guestfs_case_sensitive_path (c->w->g, lp);
    int64_t s = rp ? win_filesize (c->w, rp) : -1;
    if (s > 0)
      logs += s;
  }
  jadd_int (h, "log_bytes", logs);
  json_object_array_add (c->hives, h);
  return h;
}

/* A dirty hive's host copy (local), recovered from its logs as Windows
 * would when it loads the hive: what it would read.  The entry gets
 * "recovery" (the fields of winseal hive --json, or the reason it cannot
 * be recovered). */
static void
recover_entry (struct ctx *c, json_object *h, const char *label, const char *path,
               const char *local)
{
  struct hive_fetch f;
  int ok = hive_fetch_recover (c->w, path, local, 0, &f) == 0;
  json_object *rec = hive_recovery_json (&f.rec, f.names);
  if (!ok) {
    jadd_str (rec, "state", "unrecoverable");
    jadd_str (rec, "error", f.why);
    warn (c, "%s hive (%s) cannot be recovered from its logs: %s%s", label, path, f.why,
          f.rec.repairable ? " (the image commands' --repair-hives would drop what lies there)" : "");
  }
  json_object_object_add (h, "recovery", rec);
  hive_fetch_free (&f);
}

/* Download a system hive into tmpdir and open it.  NULL if absent or
 * unreadable (recorded as a warning). */
static hive_h *
open_system_hive (struct ctx *c, const char *name)
{
  CLEANUP_FREE char *rel = ws_strconcat ("System32/config/", name, NULL);
  CLEANUP_FREE char *path = win_sysroot_path (c->w, rel);
  CLEANUP_FREE char *local = ws_strconcat (c->tmpdir, "/", name, NULL);
  if (!win_is_file (c->w, path)) {
    warn (c, "%s hive not found (%s)", name, path);
    return NULL;
  }
  if (guestfs_download (c->w->g, path, local) == -1) {
    warn (c, "cannot download %s: %s", path, appliance_error (c->w->g));
    return NULL;
  }
  uint8_t block[512];
  struct stat sb;
  FILE *fp = fopen (local, "rb");
  size_t got = fp ? fread (block, 1, sizeof block, fp) : 0;
  if (fp)
    fclose (fp);
  if (stat (local, &sb) == -1)
    sb.st_size = 0;
  int dirty;
  json_object *e = hive_entry (c, name, path, block, got, sb.st_size, &dirty);
  if (dirty)
    recover_entry (c, e, name, path, local);     /* the report reads what Windows would */
  else {
    /* A clean hive is walked from its root as recovery walks every hive:
     * one whose cells point outside its bins would be read in part. */
    char why[512];
    if (hive_local_sound (local, why, sizeof why) == -1) {
      jadd_str (e, "state", "corrupt");
      jadd_str (e, "error", why);
      if (!strcmp (name, "SYSTEM") || !strcmp (name, "SOFTWARE")) {
        if (!c->fatal)
          c->fatal = ws_asprintf ("the %s hive (%s) is corrupt: %s", name, path, why);
      }
      else
        warn (c, "%s hive (%s) is corrupt: %s", name, path, why);
      return NULL;
    }
  }
  hive_h *h = hivex_open (local, 0);
  if (!h)
    warn (c, "%s hive cannot be parsed (%s): corrupt or not a registry hive",
          name, strerror (errno));
  return h;
}

static void
user_hive_state (struct ctx *c, const char *label, const char *path)
{
  int64_t size = win_filesize (c->w, path);
  if (size < 0)
    return;
  size_t len = 0;
  CLEANUP_FREE char *buf = guestfs_pread (c->w->g, path, 512, 0, &len);
  int dirty;
  json_object *e = hive_entry (c, label, path, (const uint8_t *) (buf ? buf : ""),
                               buf ? len : 0, size, &dirty);
  if (!dirty)
    return;
  CLEANUP_FREE char *local = ws_asprintf ("%s/user-hive", c->tmpdir);
  if (guestfs_download (c->w->g, path, local) == 0)
    recover_entry (c, e, label, path, local);
  unlink (local);
}

static void
add_dword_or_null (json_object *o, const char *key, hive_h *h, hive_node_h n,
                   const char *name)
{
  uint32_t d;
  if (h && n && hive_get_dword (h, n, name, &d) == 0)
    jadd_int (o, key, d);
  else
    jadd_null (o, key);
}

static void
partitions (struct ctx *c)
{
  guestfs_h *g = c->w->g;
  json_object *arr = json_object_new_array ();
  CLEANUP_FREE_STRING_LIST char **devs = guestfs_list_devices (g);
  const char *firmware = "bios";
  char table[32] = "";

  for (size_t d = 0; devs && devs[d]; ++d) {
    CLEANUP_FREE char *pt = guestfs_part_get_parttype (g, devs[d]);
    if (!pt)
      continue;
    if (!table[0])
      snprintf (table, sizeof table, "%s", strcmp (pt, "msdos") == 0 ? "mbr" : pt);
    struct guestfs_partition_list *pl = guestfs_part_list (g, devs[d]);
    for (size_t i = 0; pl && i < pl->len; ++i) {
      json_object *p = json_object_new_object ();
      int num = pl->val[i].part_num;
      CLEANUP_FREE char *dev = ws_asprintf ("%s%d", devs[d], num);
      jadd_str (p, "device", dev);
      jadd_int (p, "number", num);
      jadd_int (p, "start", pl->val[i].part_start);
      jadd_int (p, "size", pl->val[i].part_size);
      guestfs_push_error_handler (g, NULL, NULL);
      CLEANUP_FREE char *fs = guestfs_vfs_type (g, dev);
      CLEANUP_FREE char *label = guestfs_vfs_label (g, dev);
      guestfs_pop_error_handler (g);
      int bl = 0;
      for (size_t k = 0; c->w->bitlocker[k]; ++k)
        if (strcmp (c->w->bitlocker[k], dev) == 0)
          bl = 1;
      jadd_str (p, "filesystem", bl ? "bitlocker" : (fs && *fs ? fs : NULL));
      jadd_str (p, "label", label && *label ? label : NULL);
      if (strcmp (pt, "gpt") == 0) {
        guestfs_push_error_handler (g, NULL, NULL);
        CLEANUP_FREE char *type = guestfs_part_get_gpt_type (g, devs[d], num);
        guestfs_pop_error_handler (g);
        jadd_str (p, "type", type);
        if (type && strcasecmp (type, ESP_GUID) == 0) {
          firmware = "uefi";
          jadd_str (p, "role", "efi-system");
        }
      }
      else {
        guestfs_push_error_handler (g, NULL, NULL);
        int id = guestfs_part_get_mbr_id (g, devs[d], num);
        int boot = guestfs_part_get_bootable (g, devs[d], num);
        guestfs_pop_error_handler (g);
        if (id >= 0) {
          char t[16];
          snprintf (t, sizeof t, "0x%02x", id);
          jadd_str (p, "type", t);
        }
        jadd_bool (p, "bootable", boot > 0);
        if (id == 0xEF)
          firmware = "uefi";
      }
      jadd_bool (p, "windows", strcmp (dev, c->w->root) == 0);
      json_object_array_add (arr, p);
    }
    if (pl)
      guestfs_free_partition_list (pl);
  }
  jadd_str (c->r, "partition_table", table[0] ? table : NULL);
  jadd_str (c->r, "firmware", firmware);
  json_object_object_add (c->r, "partitions", arr);
}

static void
system_hive (struct ctx *c, hive_h *h)
{
  json_object *setup = json_object_new_object ();
  json_object *rdp = json_object_new_object ();
  json_object *sets = json_object_new_array ();
  hive_node_h cs = 0;

  if (h) {
    CLEANUP_FREE int *nums = NULL;
    size_t n;
    int current;
    if (hive_control_sets (h, &nums, &n, &current) == 0) {
      for (size_t i = 0; i < n; ++i) {
        char name[16];
        snprintf (name, sizeof name, "ControlSet%03d", nums[i]);
        json_object_array_add (sets, json_object_new_string (name));
      }
      char name[16];
      snprintf (name, sizeof name, "ControlSet%03d", current);
      cs = hivex_node_get_child (h, hivex_root (h), name);
      jadd_str (c->r, "current_control_set", cs ? name : NULL);
      if (!cs)
        warn (c, "SYSTEM: Select\\Current names %s, which does not exist", name);
    }
    else
      warn (c, "SYSTEM: no Select\\Current value");
  }
  if (!cs)
    jadd_null (c->r, "current_control_set");
  json_object_object_add (c->r, "control_sets", sets);

  CLEANUP_FREE char *cn = cs ? hive_get_string (h, hive_walk (h, cs, "Control\\ComputerName\\ComputerName"), "ComputerName") : NULL;
  jadd_str (c->r, "computer_name", cn);
  hive_node_h tcp = cs ? hive_walk (h, cs, "Services\\Tcpip\\Parameters") : 0;
  CLEANUP_FREE char *hn = tcp ? hive_get_string (h, tcp, "Hostname") : NULL;
  CLEANUP_FREE char *nvhn = tcp ? hive_get_string (h, tcp, "NV Hostname") : NULL;
  jadd_str (c->r, "hostname", hn);
  jadd_str (c->r, "nv_hostname", nvhn);

  hive_node_h ts = cs ? hive_walk (h, cs, "Control\\Terminal Server") : 0;
  uint32_t deny;
  if (ts && hive_get_dword (h, ts, "fDenyTSConnections", &deny) == 0) {
    jadd_int (rdp, "fDenyTSConnections", deny);
    jadd_bool (rdp, "enabled", deny == 0);
  }
  else {
    jadd_null (rdp, "fDenyTSConnections");
    jadd_null (rdp, "enabled");
  }
  json_object_object_add (c->r, "rdp", rdp);

  add_dword_or_null (c->r, "persist_all_device_installs", h,
                     cs ? hive_walk (h, cs, "Control\\Windows") : 0,
                     "PersistAllDeviceInstalls");

  hive_node_h s = h ? hive_walk (h, hivex_root (h), "Setup") : 0;
  CLEANUP_FREE char *cmdline = s ? hive_get_string (h, s, "CmdLine") : NULL;
  jadd_str (setup, "CmdLine", cmdline);
  add_dword_or_null (setup, "SetupType", h, s, "SetupType");
  add_dword_or_null (setup, "SystemSetupInProgress", h, s, "SystemSetupInProgress");
  add_dword_or_null (setup, "OOBEInProgress", h, s, "OOBEInProgress");
  add_dword_or_null (setup, "SetupPhase", h, s, "SetupPhase");
  CLEANUP_FREE char *uf = s ? hive_get_string (h, s, "UnattendFile") : NULL;
  jadd_str (setup, "UnattendFile", uf);
  hive_node_h ss = s ? hive_walk (h, s, "Status\\SysprepStatus") : 0;
  add_dword_or_null (setup, "GeneralizationState", h, ss, "GeneralizationState");
  add_dword_or_null (setup, "CleanupState", h, ss, "CleanupState");
  json_object_object_add (c->r, "setup", setup);
}

/* Profiles from ProfileList, with their directories and sizes. */
static void
profiles (struct ctx *c, hive_h *sw, json_object *users)
{
  json_object *arr = json_object_new_array ();
  size_t n;
  struct profile_entry *pl = hive_profile_list (sw, &n);
  for (size_t i = 0; i < n; ++i) {
    const char *name = pl[i].sid_str, *img = pl[i].image_path;
    json_object *p = json_object_new_object ();
    jadd_str (p, "sid", name);
    jadd_str (p, "profile_image_path", img);
    size_t bl;
    hive_type t;
    CLEANUP_FREE uint8_t *bsid = hive_get_bytes (sw, pl[i].node, "Sid", &bl, &t);
    struct sid s;
    if (bsid) {
      char str[SID_STRING_MAX];
      if (sid_from_binary (bsid, bl, &s) > 0) {
        sid_to_string (&s, str);
        jadd_str (p, "sid_value", str);
        if (name && strcasecmp (str, name) != 0)
          warn (c, "ProfileList\\%s: its Sid value is %s", name, str);
      }
      else
        jadd_str (p, "sid_value", "invalid");
    }
    /* The account name when it is a local user. */
    const char *user = NULL;
    for (size_t u = 0; users && u < json_object_array_length (users); ++u) {
      json_object *uo = json_object_array_get_idx (users, u);
      if (name && jget_str (uo, "sid") && strcasecmp (jget_str (uo, "sid"), name) == 0)
        user = jget_str (uo, "name");
    }
    jadd_str (p, "user", user);
    CLEANUP_FREE char *dir = img ? win_map_path (c->w, img, NULL) : NULL;
    int exists = dir && win_is_dir (c->w, dir);
    jadd_str (p, "directory", exists ? dir : NULL);
    jadd_bool (p, "exists", exists);
    if (exists) {
      int64_t kib = guestfs_du (c->w->g, dir);
      jadd_int (p, "bytes", kib >= 0 ? kib * 1024 : -1);
      CLEANUP_FREE char *nt = ws_strconcat (dir, "/NTUSER.DAT", NULL);
      CLEANUP_FREE char *ntp = guestfs_case_sensitive_path (c->w->g, nt);
      CLEANUP_FREE char *label = ws_asprintf ("NTUSER.DAT (%s)", user ? user : name);
      if (ntp)
        user_hive_state (c, label, ntp);
      CLEANUP_FREE char *uc = ws_strconcat (dir, "/AppData/Local/Microsoft/Windows/UsrClass.dat", NULL);
      CLEANUP_FREE char *ucp = guestfs_case_sensitive_path (c->w->g, uc);
      CLEANUP_FREE char *label2 = ws_asprintf ("UsrClass.dat (%s)", user ? user : name);
      if (ucp)
        user_hive_state (c, label2, ucp);
    }
    else
      jadd_null (p, "bytes");
    json_object_array_add (arr, p);
  }
  hive_profile_list_free (pl, n);
  json_object_object_add (c->r, "profiles", arr);
}

static json_object *
sam_and_security (struct ctx *c, hive_h *sam, hive_h *sec)
{
  json_object *ms = json_object_new_object ();
  json_object *users = json_object_new_array ();
  struct sid s1, s2;
  char b1[SID_STRING_MAX], b2[SID_STRING_MAX];
  int have1 = sam && sam_domain_sid (sam, &s1) == 0;
  int have2 = sec && lsa_machine_sid (sec, &s2) == 0;

  jadd_str (ms, "sam", have1 ? sid_to_string (&s1, b1) : NULL);
  jadd_str (ms, "security", have2 ? sid_to_string (&s2, b2) : NULL);
  if (have1 && have2) {
    jadd_bool (ms, "match", sid_equal (&s1, &s2));
    if (!sid_equal (&s1, &s2))
      warn (c, "the machine SID differs between SAM (%s) and SECURITY (%s)", b1, b2);
  }
  else
    jadd_null (ms, "match");
  json_object_object_add (c->r, "machine_sid", ms);

  CLEANUP_FREE char *dn = sec ? lsa_policy_name (sec, "PolAcDmN") : NULL;
  CLEANUP_FREE char *pn = sec ? lsa_policy_name (sec, "PolPrDmN") : NULL;
  jadd_str (c->r, "account_domain", dn);
  jadd_str (c->r, "primary_domain", pn);

  struct sam_user *u = NULL;
  size_t n = 0;
  if (sam && sam_users (sam, &u, &n) == 0) {
    for (size_t i = 0; i < n; ++i) {
      json_object *o = json_object_new_object ();
      jadd_str (o, "name", u[i].name);
      jadd_int (o, "rid", u[i].rid);
      if (have1) {
        struct sid us;
        char b[SID_STRING_MAX];
        sid_append_rid (&s1, u[i].rid, &us);
        jadd_str (o, "sid", sid_to_string (&us, b));
      }
      else
        jadd_null (o, "sid");
      jadd_bool (o, "enabled", u[i].enabled);
      jadd_str (o, "full_name", u[i].fullname && *u[i].fullname ? u[i].fullname : NULL);
      json_object_array_add (users, o);
    }
    sam_free_users (u, n);
  }
  json_object_object_add (c->r, "users", users);
  return users;
}

/* Read a small text file, maybe UTF-16 with a BOM, into UTF-8. */
static char *
read_text (struct windows *w, const char *path)
{
  int64_t size = win_filesize (w, path);
  if (size < 0 || size > 1024 * 1024)
    return NULL;
  size_t len;
  CLEANUP_FREE char *raw = guestfs_read_file (w->g, path, &len);
  if (!raw)
    return NULL;
  if (len >= 2 && (uint8_t) raw[0] == 0xFF && (uint8_t) raw[1] == 0xFE)
    return utf16le_to_utf8 ((uint8_t *) raw + 2, len - 2);
  char *s = ws_malloc (len + 1);
  memcpy (s, raw, len);
  s[len] = '\0';
  return s;
}

static char *
ini_value (const char *text, const char *key)
{
  size_t kl = strlen (key);
  for (const char *p = text; p && *p; ) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (strncasecmp (p, key, kl) == 0) {
      const char *q = p + kl;
      while (*q == ' ')
        q++;
      if (*q == '=') {
        q++;
        size_t l = strcspn (q, "\r\n");
        char *r = ws_malloc (l + 1);
        memcpy (r, q, l);
        r[l] = '\0';
        return r;
      }
    }
    p = strchr (p, '\n');
    if (p)
      p++;
  }
  return NULL;
}

/* Add report[key] = {"present": bool, "bytes": size or null} for a file
 * and return that object; *size_ret (if given) gets the size or -1. */
static json_object *
file_entry (struct ctx *c, const char *key, const char *path, int64_t *size_ret)
{
  json_object *o = json_object_new_object ();
  int64_t size = win_filesize (c->w, path);
  jadd_bool (o, "present", size >= 0);
  if (size >= 0)
    jadd_int (o, "bytes", size);
  else
    jadd_null (o, "bytes");
  json_object_object_add (c->r, key, o);
  if (size_ret)
    *size_ret = size;
  return o;
}

static void
files (struct ctx *c)
{
  struct windows *w = c->w;
  guestfs_h *g = w->g;

  /* Answer files, in the order Setup looks for them. */
  static const char *unattend[] = {
    "@Panther/Unattend/unattend.xml", "@Panther/unattend.xml",
    "@System32/Sysprep/unattend.xml", "unattend.xml", "autounattend.xml",
  };
  json_object *ua = json_object_new_object ();
  json_object *found = json_object_new_array ();
  for (size_t i = 0; i < sizeof unattend / sizeof unattend[0]; ++i) {
    CLEANUP_FREE char *p = unattend[i][0] == '@'
      ? win_sysroot_path (w, unattend[i] + 1) : win_path (w, unattend[i]);
    if (win_is_file (w, p))
      json_object_array_add (found, json_object_new_string (p));
  }
  jadd_bool (ua, "present", json_object_array_length (found) > 0);
  json_object_object_add (ua, "paths", found);
  json_object_object_add (c->r, "unattend", ua);

  CLEANUP_FREE char *scp = win_sysroot_path (w, "Setup/Scripts/SetupComplete.cmd");
  json_object *sc = file_entry (c, "setupcomplete", scp, NULL);
  jadd_str (sc, "path", jget_bool (sc, "present") ? scp : NULL);

  CLEANUP_FREE char *sip = win_sysroot_path (w, "Setup/State/State.ini");
  CLEANUP_FREE char *sit = read_text (w, sip);
  CLEANUP_FREE char *siv = sit ? ini_value (sit, "ImageState") : NULL;
  jadd_str (c->r, "state_ini_image_state", siv);

  /* Event logs. */
  json_object *ev = json_object_new_object ();
  int64_t count = 0, bytes = 0;
  const char *dirs[] = { "System32/winevt/Logs", "System32/config" };
  const char *exts[] = { ".evtx", ".evt" };
  for (int d = 0; d < 2; ++d) {
    CLEANUP_FREE char *dir = win_sysroot_path (w, dirs[d]);
    if (!win_is_dir (w, dir))
      continue;
    CLEANUP_FREE_STRING_LIST char **names = guestfs_ls (g, dir);
    for (size_t i = 0; names && names[i]; ++i) {
      size_t l = strlen (names[i]), el = strlen (exts[d]);
      if (l <= el || strcasecmp (names[i] + l - el, exts[d]) != 0)
        continue;
      CLEANUP_FREE char *p = ws_strconcat (dir, "/", names[i], NULL);
      int64_t s = win_filesize (w, p);
      if (s >= 0) {
        count++;
        bytes += s;
      }
    }
  }
  jadd_int (ev, "count", count);
  jadd_int (ev, "bytes", bytes);
  json_object_object_add (c->r, "event_logs", ev);

  CLEANUP_FREE char *pfp = win_path (w, "pagefile.sys");
  file_entry (c, "pagefile", pfp, NULL);

  CLEANUP_FREE char *hfp = win_path (w, "hiberfil.sys");
  int64_t hfs;
  json_object *hf = file_entry (c, "hiberfile", hfp, &hfs);
  size_t len = 0;
  CLEANUP_FREE char *head = hfs >= 0 ? guestfs_pread (g, hfp, 4, 0, &len) : NULL;
  jadd_bool (hf, "hibernated", head && is_hibernation_header (head, len));
}

/* What else identifies the golden machine or provisions the image: the
 * cloud agents, autologon, the RDP certificate, WSUS ids, external
 * Sysprep providers, and what cannot be reset offline (activation). */
static void
provisioning (struct ctx *c, hive_h *sw, hive_h *sys, hive_h *sec)
{
  json_object *agents = json_object_new_array ();
  char *ev[CLOUD_AGENTS_MAX];
  agents_detect (c->w, sys, sw, ev);
  for (size_t i = 0; i < n_cloud_agents; ++i)
    if (ev[i]) {
      json_object *a = json_object_new_object ();
      jadd_str (a, "agent", cloud_agents[i].id);
      jadd_str (a, "name", cloud_agents[i].title);
      jadd_str (a, "found_by", ev[i]);
      json_object_array_add (agents, a);
      free (ev[i]);
    }
  json_object_object_add (c->r, "cloud_agents", agents);

  json_object *al = json_object_new_object ();
  hive_node_h wl = sw ? hive_walk (sw, hivex_root (sw), "Microsoft\\Windows NT\\CurrentVersion\\Winlogon") : 0;
  CLEANUP_FREE char *aal = wl ? hive_get_string (sw, wl, "AutoAdminLogon") : NULL;
  CLEANUP_FREE char *user = wl ? hive_get_string (sw, wl, "DefaultUserName") : NULL;
  jadd_bool (al, "enabled", aal && strcmp (aal, "1") == 0);
  jadd_str (al, "user", aal && strcmp (aal, "1") == 0 ? user : NULL);
  /* Whether a password is stored, never the password. */
  jadd_bool (al, "winlogon_password", wl && hivex_node_get_value (sw, wl, "DefaultPassword"));
  jadd_bool (al, "lsa_secret", sec && hive_walk (sec, hivex_root (sec),
                                                 "Policy\\Secrets\\DefaultPassword"));
  json_object_object_add (c->r, "autologon", al);

  hive_node_h store = sw ? hive_walk (sw, hivex_root (sw),
                                      "Microsoft\\SystemCertificates\\Remote Desktop\\Certificates") : 0;
  CLEANUP_FREE hive_node_h *certs = store ? hivex_node_children (sw, store) : NULL;
  size_t ncerts = 0;
  for (size_t i = 0; certs && certs[i]; ++i)
    ncerts++;
  jadd_int (c->r, "rdp_certificates", (int64_t) ncerts);

  hive_node_h wu = sw ? hive_walk (sw, hivex_root (sw), "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate") : 0;
  json_object *wsus = json_object_new_array ();
  static const char *const ids[] = { "SusClientId", "SusClientIdValidation", "PingID",
                                     "AccountDomainSid" };
  for (size_t i = 0; wu && i < sizeof ids / sizeof ids[0]; ++i)
    if (hivex_node_get_value (sw, wu, ids[i]))
      json_object_array_add (wsus, json_object_new_string (ids[i]));
  json_object_object_add (c->r, "wsus_ids", wsus);

  int truncated;
  json_object *prov = sysprep_providers (sw, &truncated);
  json_object_object_add (c->r, "sysprep_providers", prov);
  if (truncated)
    warn (c, "more than %d Sysprep providers are registered; the first %d are listed",
          PROVIDERS_MAX, PROVIDERS_MAX);
  jadd_str (c->r, "activation", ACTIVATION_OFFLINE);
}

json_object *
inspect_windows (struct windows *w, const char *tmpdir, char **fatal)
{
  struct ctx c = { .w = w, .tmpdir = tmpdir };
  *fatal = NULL;
  c.r = json_object_new_object ();
  c.warnings = json_object_new_array ();
  c.hives = json_object_new_array ();

  hive_h *sw = open_system_hive (&c, "SOFTWARE");
  hive_h *sys = open_system_hive (&c, "SYSTEM");
  hive_h *sam = open_system_hive (&c, "SAM");
  hive_h *sec = open_system_hive (&c, "SECURITY");
  hive_h *def = open_system_hive (&c, "DEFAULT");

  /* Product and version from SOFTWARE as replayed here (libguestfs's
   * inspection, which a quick open skips, reads the hive without its
   * logs): CurrentMajorVersionNumber/CurrentMinorVersionNumber where
   * Windows 10 and later have them, else CurrentVersion ("6.3"), as
   * libguestfs does. */
  hive_node_h cv = sw ? hive_walk (sw, hivex_root (sw), "Microsoft\\Windows NT\\CurrentVersion") : 0;
  CLEANUP_FREE char *pname = cv ? hive_get_string (sw, cv, "ProductName") : NULL;
  int major = w->major, minor = w->minor;
  uint32_t mj, mn;
  CLEANUP_FREE char *cver = cv ? hive_get_string (sw, cv, "CurrentVersion") : NULL;
  if (cv && hive_get_dword (sw, cv, "CurrentMajorVersionNumber", &mj) == 0
      && hive_get_dword (sw, cv, "CurrentMinorVersionNumber", &mn) == 0 && mj < 1000 && mn < 1000)
    major = (int) mj, minor = (int) mn;
  else if (cver && sscanf (cver, "%d.%d", &major, &minor) != 2)
    major = w->major, minor = w->minor;
  jadd_str (c.r, "product_name", pname ? pname : w->product_name);
  char ver[32];
  snprintf (ver, sizeof ver, "%d.%d", major, minor);
  jadd_str (c.r, "version", ver);
  jadd_int (c.r, "major_version", major);
  jadd_int (c.r, "minor_version", minor);

  CLEANUP_FREE char *build = cv ? hive_get_string (sw, cv, "CurrentBuild") : NULL;
  CLEANUP_FREE char *edition = cv ? hive_get_string (sw, cv, "EditionID") : NULL;
  CLEANUP_FREE char *itype = cv ? hive_get_string (sw, cv, "InstallationType") : NULL;
  CLEANUP_FREE char *dver = cv ? hive_get_string (sw, cv, "DisplayVersion") : NULL;
  jadd_str (c.r, "build", build);
  jadd_str (c.r, "display_version", dver);
  jadd_str (c.r, "edition", edition);
  jadd_str (c.r, "installation_type", itype ? itype : w->product_variant);
  jadd_str (c.r, "arch", w->arch);
  jadd_str (c.r, "systemroot", w->systemroot);
  jadd_str (c.r, "root_device", w->root);
  partitions (&c);
  system_hive (&c, sys);
  json_object *users = sam_and_security (&c, sam, sec);
  /* What generalize refuses (gen_check_supported): a domain controller,
   * a domain member. */
  struct windows_role role;
  hive_windows_role (sys, sec, &role);
  jadd_bool (c.r, "domain_controller", role.dc_why != NULL);
  jadd_bool (c.r, "domain_joined", role.domain_member);
  char dsid[SID_STRING_MAX];
  jadd_str (c.r, "primary_domain_sid", role.domain_member ? sid_to_string (&role.domain_sid, dsid) : NULL);
  profiles (&c, sw, users);
  provisioning (&c, sw, sys, sec);

  hive_node_h st = sw ? hive_walk (sw, hivex_root (sw), "Microsoft\\Windows\\CurrentVersion\\Setup\\State") : 0;
  CLEANUP_FREE char *is = st ? hive_get_string (sw, st, "ImageState") : NULL;
  jadd_str (c.r, "image_state", is);
  hive_node_h intl = def ? hive_walk (def, hivex_root (def), "Control Panel\\International") : 0;
  CLEANUP_FREE char *locale = intl ? hive_get_string (def, intl, "LocaleName") : NULL;
  jadd_str (c.r, "locale", locale);

  files (&c);
  json_object_object_add (c.r, "hives", c.hives);
  json_object_object_add (c.r, "warnings", c.warnings);

  hive_h *all[] = { sw, sys, sam, sec, def };
  for (size_t i = 0; i < 5; ++i)
    if (all[i])
      hivex_close (all[i]);
  if (c.fatal) {                /* no report from a corrupt SYSTEM or SOFTWARE */
    json_object_put (c.r);
    *fatal = c.fatal;
    return NULL;
  }
  return c.r;
}

/* ---------------------------------------------------------------------- */

static const char *
s_or (json_object *o, const char *k, const char *def)
{
  const char *s = jget_str (o, k);
  return s ? s : def;
}

static void
human (int64_t b, char buf[32])
{
  if (b < 0)
    snprintf (buf, 32, "?");
  else if (b < 10 * 1024)
    snprintf (buf, 32, "%" PRId64 " B", b);
  else if (b < 10 * 1024 * 1024)
    snprintf (buf, 32, "%.1f KiB", b / 1024.0);
  else
    snprintf (buf, 32, "%.1f MiB", b / 1048576.0);
}

static const char *
int_or (json_object *o, const char *k, char buf[32])
{
  json_object *v = jget (o, k);
  if (!v)
    return "(not set)";
  snprintf (buf, 32, "%" PRId64, json_object_get_int64 (v));
  return buf;
}

void
inspect_print_text (json_object *r)
{
  char b1[32], b2[32];
  printf ("Image:               %s (%s)\n", s_or (r, "image", "?"), s_or (r, "format", "?"));
  printf ("Product:             %s\n", s_or (r, "product_name", "?"));
  printf ("Version:             %s build %s%s%s\n", s_or (r, "version", "?"),
          s_or (r, "build", "?"), jget_str (r, "display_version") ? " " : "",
          s_or (r, "display_version", ""));
  printf ("Edition:             %s (%s)\n", s_or (r, "edition", "?"),
          s_or (r, "installation_type", "?"));
  printf ("Architecture:        %s\n", s_or (r, "arch", "?"));
  printf ("System root:         %s on %s\n", s_or (r, "systemroot", "?"),
          s_or (r, "root_device", "?"));
  printf ("Firmware:            %s (%s partition table)\n", s_or (r, "firmware", "?"),
          s_or (r, "partition_table", "no"));
  json_object *parts = jget (r, "partitions");
  for (size_t i = 0; parts && i < json_object_array_length (parts); ++i) {
    json_object *p = json_object_array_get_idx (parts, i);
    human (jget_int (p, "size", -1), b1);
    printf ("  %-12s %10s  %-9s %s%s%s\n", s_or (p, "device", "?"), b1,
            s_or (p, "filesystem", "-"), s_or (p, "label", ""),
            jget_bool (p, "windows") ? "  [Windows]" : "",
            jget_str (p, "role") ? "  [EFI system]" : "");
  }
  printf ("Control set:         %s\n", s_or (r, "current_control_set", "?"));
  printf ("Computer name:       %s\n", s_or (r, "computer_name", "?"));
  json_object *ms = jget (r, "machine_sid");
  printf ("Machine SID (SAM):   %s\n", s_or (ms, "sam", "?"));
  printf ("Machine SID (LSA):   %s%s\n", s_or (ms, "security", "?"),
          jget (ms, "match") && !jget_bool (ms, "match") ? "  (DIFFERS from SAM)" : "");
  printf ("Locale:              %s\n", s_or (r, "locale", "?"));
  printf ("Domain:              %s%s%s\n",
          jget_bool (r, "domain_controller") ? "a domain controller of " :
          jget_bool (r, "domain_joined") ? "joined to " : "workgroup ",
          s_or (r, "primary_domain", "?"),
          jget_bool (r, "domain_joined") || jget_bool (r, "domain_controller")
            ? "  (generalize refuses it)" : "");
  json_object *users = jget (r, "users");
  printf ("Local users:         %zu\n", users ? json_object_array_length (users) : 0);
  for (size_t i = 0; users && i < json_object_array_length (users); ++i) {
    json_object *u = json_object_array_get_idx (users, i);
    printf ("  %-20s RID %-6" PRId64 " %s\n", s_or (u, "name", "?"),
            jget_int (u, "rid", -1), jget_bool (u, "enabled") ? "enabled" : "disabled");
  }
  json_object *prof = jget (r, "profiles");
  printf ("Profiles:            %zu\n", prof ? json_object_array_length (prof) : 0);
  for (size_t i = 0; prof && i < json_object_array_length (prof); ++i) {
    json_object *p = json_object_array_get_idx (prof, i);
    human (jget_int (p, "bytes", -1), b1);
    printf ("  %-46s %-28s %s\n", s_or (p, "sid", "?"),
            s_or (p, "profile_image_path", "?"),
            jget_bool (p, "exists") ? b1 : "(no directory)");
  }
  json_object *rdp = jget (r, "rdp");
  printf ("RDP:                 %s (fDenyTSConnections=%s)\n",
          !jget (rdp, "enabled") ? "unknown" : jget_bool (rdp, "enabled") ? "enabled" : "denied",
          int_or (rdp, "fDenyTSConnections", b1));
  printf ("PersistAllDeviceInstalls: %s\n", int_or (r, "persist_all_device_installs", b1));
  printf ("ImageState:          %s (State.ini: %s)\n", s_or (r, "image_state", "(not set)"),
          s_or (r, "state_ini_image_state", "(not set)"));
  json_object *su = jget (r, "setup");
  printf ("SYSTEM\\Setup:        CmdLine=\"%s\" SetupType=%s", s_or (su, "CmdLine", ""),
          int_or (su, "SetupType", b1));
  printf (" SystemSetupInProgress=%s", int_or (su, "SystemSetupInProgress", b1));
  printf (" OOBEInProgress=%s", int_or (su, "OOBEInProgress", b1));
  printf (" SetupPhase=%s\n", int_or (su, "SetupPhase", b1));
  json_object *ua = jget (r, "unattend");
  printf ("unattend.xml:        %s\n", jget_bool (ua, "present")
          ? json_object_get_string (json_object_array_get_idx (jget (ua, "paths"), 0)) : "absent");
  json_object *sc = jget (r, "setupcomplete");
  printf ("SetupComplete.cmd:   %s\n", jget_bool (sc, "present") ? s_or (sc, "path", "?") : "absent");
  json_object *ev = jget (r, "event_logs");
  human (jget_int (ev, "bytes", 0), b1);
  printf ("Event logs:          %" PRId64 " (%s)\n", jget_int (ev, "count", 0), b1);
  json_object *pf = jget (r, "pagefile");
  human (jget_int (pf, "bytes", -1), b1);
  printf ("Pagefile:            %s\n", jget_bool (pf, "present") ? b1 : "absent");
  json_object *hf = jget (r, "hiberfile");
  human (jget_int (hf, "bytes", -1), b2);
  printf ("Hiberfile:           %s%s\n", jget_bool (hf, "present") ? b2 : "absent",
          jget_bool (hf, "hibernated") ? " (hibernation image)" : "");
  json_object *ag = jget (r, "cloud_agents");
  printf ("Cloud agents:        %s", ag && json_object_array_length (ag) ? "" : "none\n");
  for (size_t i = 0; ag && i < json_object_array_length (ag); ++i) {
    json_object *a = json_object_array_get_idx (ag, i);
    printf ("%s%s (%s)%s", i ? "; " : "", s_or (a, "name", "?"), s_or (a, "found_by", "?"),
            i + 1 == json_object_array_length (ag) ? "\n" : "");
  }
  json_object *al = jget (r, "autologon");
  printf ("Autologon:           %s%s%s%s%s\n", jget_bool (al, "enabled") ? "on, user " : "off",
          jget_bool (al, "enabled") ? s_or (al, "user", "?") : "",
          jget_bool (al, "winlogon_password") ? "; Winlogon DefaultPassword set" : "",
          jget_bool (al, "lsa_secret") ? "; LSA secret DefaultPassword set" : "",
          jget_bool (al, "enabled") || jget_bool (al, "winlogon_password")
          || jget_bool (al, "lsa_secret") ? " (secrets removes it)" : "");
  printf ("RDP certificates:    %s\n", int_or (r, "rdp_certificates", b1));
  json_object *ws = jget (r, "wsus_ids");
  printf ("WSUS ids:            %s", ws && json_object_array_length (ws) ? "" : "none\n");
  for (size_t i = 0; ws && i < json_object_array_length (ws); ++i)
    printf ("%s%s%s", i ? ", " : "", json_object_get_string (json_object_array_get_idx (ws, i)),
            i + 1 == json_object_array_length (ws) ? "\n" : "");
  json_object *sp = jget (r, "sysprep_providers");
  printf ("Sysprep providers:   %zu\n", sp ? json_object_array_length (sp) : 0);
  for (size_t i = 0; sp && i < json_object_array_length (sp); ++i) {
    json_object *e = json_object_array_get_idx (sp, i);
    printf ("  %-11s %s%s%s\n", s_or (e, "pass", "?"), s_or (e, "provider", "?"),
            jget_str (e, "pass") && (!strcasecmp (jget_str (e, "pass"), "Generalize")
                                     || !strcasecmp (jget_str (e, "pass"), "Cleanup"))
            ? "  (not run offline)" : "", "");
  }
  printf ("Activation:          %s\n", s_or (r, "activation", "?"));
  json_object *hv = jget (r, "hives");
  printf ("Hives:\n");
  for (size_t i = 0; hv && i < json_object_array_length (hv); ++i) {
    json_object *h = json_object_array_get_idx (hv, i);
    printf ("  %-32s %s\n", s_or (h, "name", "?"), s_or (h, "state", "?"));
  }
  json_object *wa = jget (r, "warnings");
  for (size_t i = 0; wa && i < json_object_array_length (wa); ++i)
    printf ("Warning: %s\n", json_object_get_string (json_object_array_get_idx (wa, i)));
}
