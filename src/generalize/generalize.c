/* winseal: the generalize / verify session on one mounted Windows: hives
 * copied to the host and checked before anything changes, the report, the
 * operations run, and the final commit (commit to a host copy, verify it
 * re-opens, upload, empty the logs).  Its guest-file and registry edits
 * are gen-files.c's and gen-registry.c's. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "guest/hives.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "registry/hivelog.h"
#include "registry/regedit.h"
#include "registry/sam.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

static const char *const system_hives[] = { "SYSTEM", "SOFTWARE", "SAM", "SECURITY", "DEFAULT", NULL };

/* ---- report ---- */

static char *
vfmt (const char *fmt, va_list ap)
{
  char *s;
  if (vasprintf (&s, fmt, ap) == -1)
    abort ();
  return s;
}

void
gen_change (struct gen *g, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = vfmt (fmt, ap);
  va_end (ap);
  if (g->changes)
    json_object_array_add (g->changes, json_object_new_string (s));
  free (s);
}

void
gen_warn (struct gen *g, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = vfmt (fmt, ap);
  va_end (ap);
  json_object_array_add (g->warnings, json_object_new_string (s));
  ws_warning ("%s", s);
  free (s);
}

void
gen_fail (struct gen *g, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = vfmt (fmt, ap);
  va_end (ap);
  g->failed_checks++;
  if (g->changes)
    json_object_array_add (g->changes, json_object_new_string (s));
  free (s);
}

/* ---- hives ---- */

static struct ghive *
add_hive (struct gen *g, const char *label, const char *guest_path, int user)
{
  g->hives = ws_realloc (g->hives, (g->nhives + 1) * sizeof *g->hives);
  struct ghive *gh = &g->hives[g->nhives];
  memset (gh, 0, sizeof *gh);
  gh->label = ws_strdup (label);
  gh->guest_path = ws_strdup (guest_path);
  gh->local = ws_asprintf ("%s/hive%zu", g->tmpdir, g->nhives);
  gh->user = user;
  g->nhives++;
  return gh;
}

struct ghive *
gen_ghive (struct gen *g, const char *name)
{
  for (size_t i = 0; i < g->nhives; ++i)
    if (strcmp (g->hives[i].label, name) == 0)
      return &g->hives[i];
  return NULL;
}

hive_h *
gen_ghive_handle (struct gen *g, struct ghive *gh)
{
  (void) g;
  if (!gh)
    return NULL;
  if (!gh->h) {
    gh->h = hivex_open (gh->local, g->verify ? 0 : HIVEX_OPEN_WRITE);
    if (!gh->h)
      ws_error ("%s hive (%s): cannot be parsed: %s", gh->label, gh->guest_path,
                strerror (errno));
  }
  return gh->h;
}

hive_h *
gen_hive (struct gen *g, const char *name)
{
  struct ghive *gh = gen_ghive (g, name);
  if (!gh) {
    ws_error ("%s: the %s hive was not found", g->w->image, name);
    return NULL;
  }
  return gen_ghive_handle (g, gh);
}

void
gen_hive_changed (struct gen *g, struct ghive *gh)
{
  (void) g;
  gh->changed = 1;
}

int
gen_hive_flush (struct gen *g, struct ghive *gh)
{
  (void) g;
  if (!gh->h)
    return 0;
  int r = 0;
  if (gh->changed && !g->verify) {
    CLEANUP_FREE char *tmp = ws_strconcat (gh->local, ".new", NULL);
    if (hivex_commit (gh->h, tmp, 0) == -1 || rename (tmp, gh->local) == -1) {
      ws_error ("%s hive: cannot commit the edited copy: %s", gh->label, strerror (errno));
      r = -1;
    }
  }
  hivex_close (gh->h);
  gh->h = NULL;
  return r;
}

/* The report's record of a dirty hive's recovery ("hive_recovery"). */
static void
report_recovery (struct gen *g, struct ghive *gh, const struct hive_recovery *r,
                 char **names)
{
  json_object *arr;
  if (!json_object_object_get_ex (g->report, "hive_recovery", &arr)) {
    arr = json_object_new_array ();
    json_object_object_add (g->report, "hive_recovery", arr);
  }
  json_object *o = hive_recovery_json (r, names);
  jadd_str (o, "hive", gh->label);
  jadd_str (o, "path", gh->guest_path);
  json_object_array_add (arr, o);
}

/* A dirty hive's host copy, recovered from its logs as Windows would
 * (guest/hives.c, registry/hivelog.c).  Returns 0, or -1 when it cannot
 * be recovered (reported, naming it). */
static int
recover_hive (struct gen *g, struct ghive *gh)
{
  struct hive_fetch f;
  int ok = hive_fetch_recover (g->w, gh->guest_path, gh->local,
                               g->o->repair_hives ? HIVE_RECOVER_REPAIR : 0, &f) == 0;
  if (f.unreadable)
    gen_warn (g, "the %s hive's log %s cannot be read; recovered without it", gh->label,
              f.unreadable);
  if (!ok)
    ws_error ("%s: the %s hive (%s) is dirty and cannot be recovered from its logs: %s%s",
              g->w->image, gh->label, gh->guest_path, f.why,
              f.rec.repairable ? " (--repair-hives drops what lies there)" : "");
  else {
    const struct hive_recovery *r = &f.rec;
    report_recovery (g, gh, r, f.names);
    char from[200] = "";
    for (size_t i = 0; i < f.nlogs; ++i)
      if (r->logs[i].applied)
        snprintf (from + strlen (from), sizeof from - strlen (from), "%s%s",
                  from[0] ? ", " : "", f.names[i]);
    if (r->ndropped)
      gen_warn (g, "the %s hive (%s) was incomplete (its bins said %u bytes, %u are there): "
                "repaired, dropping %zu reference%s to keys and values in the missing bins "
                "(listed in the report, hive_recovery)", gh->label, gh->guest_path,
                r->trimmed_from, r->bins_size, r->ndropped, r->ndropped == 1 ? "" : "s");
    else if (r->trimmed_from)
      gen_warn (g, "the %s hive (%s) was incomplete (its bins said %u bytes, %u are there, "
                "and nothing reachable lies past them): cut to them", gh->label, gh->guest_path,
                r->trimmed_from, r->bins_size);
    if (r->entries || r->pages || r->base_from_log)
      gen_warn (g, "the %s hive (%s) was dirty: recovered from %s (%zu entr%s, %zu page%s, "
                "sequence %u)", gh->label, gh->guest_path, from[0] ? from : "its log",
                r->entries, r->entries == 1 ? "y" : "ies", r->pages, r->pages == 1 ? "" : "s",
                r->seq);
    else if (!r->trimmed_from)
      gen_warn (g, "the %s hive (%s) is dirty but its logs hold nothing newer; it is "
                "edited and written back clean", gh->label, gh->guest_path);
    /* Written back clean, and its logs emptied, at the commit. */
    gh->changed = 1;
  }
  hive_fetch_free (&f);
  return ok ? 0 : -1;
}

/* Download a hive and check its state; a dirty one (or one whose base
 * block fails its checksum) is recovered from its logs. */
static int
fetch_hive (struct gen *g, struct ghive *gh)
{
  if (guestfs_download (g->g, gh->guest_path, gh->local) == -1) {
    ws_error ("%s: cannot copy the %s hive (%s): %s", g->w->image, gh->label,
              gh->guest_path, appliance_error (g->g));
    return -1;
  }
  uint8_t block[512];
  struct stat sb;
  const char *why;
  struct hive_state st;
  int fd = open (gh->local, O_RDONLY | O_CLOEXEC);
  int got = fd != -1 && fstat (fd, &sb) == 0 && pread (fd, block, sizeof block, 0) == (ssize_t) sizeof block;
  if (fd != -1)
    close (fd);
  if (!got || memcmp (block, "regf", 4) != 0) {
    ws_error ("%s: the %s hive (%s) is not a registry hive", g->w->image, gh->label,
              gh->guest_path);
    return -1;
  }
  int parsed = hive_parse_base_block (block, sizeof block, sb.st_size, &st, &why) == 0;
  if ((!parsed || st.dirty) && recover_hive (g, gh) == -1)
    return -1;
  char broken[512];
  if (parsed && !st.dirty && hive_local_sound (gh->local, broken, sizeof broken) == -1) {
    ws_error ("%s: the %s hive (%s) is corrupt: %s", g->w->image, gh->label, gh->guest_path,
              broken);
    return -1;
  }
  /* libhivex must be able to read it, and so must the raw editor. */
  hive_h *h = hivex_open (gh->local, 0);
  if (!h) {
    ws_error ("%s: the %s hive (%s) is corrupt: libhivex cannot parse it (%s)",
              g->w->image, gh->label, gh->guest_path, strerror (errno));
    return -1;
  }
  hivex_close (h);
  return 0;
}

/* Add and fetch the NTUSER.DAT and UsrClass.dat of the profile in dir
 * (a mounted path), labelled with its directory name. */
static int
add_profile_hives (struct gen *g, const char *dir, const char *sid)
{
  static const char *const files[] = { "NTUSER.DAT", "AppData/Local/Microsoft/Windows/UsrClass.dat" };
  int r = 0;
  const char *base = strrchr (dir, '/') ? strrchr (dir, '/') + 1 : dir;
  for (int f = 0; f < 2; ++f) {
    CLEANUP_FREE char *rel = ws_strconcat (dir + 1, "/", files[f], NULL);
    CLEANUP_FREE char *path = win_path (g->w, rel);
    if (!win_is_file (g->w, path))
      continue;
    CLEANUP_FREE char *label = ws_asprintf ("%s of %s", f ? "UsrClass.dat" : "NTUSER.DAT", base);
    struct ghive *gh = add_hive (g, label, path, 1);
    gh->profile_sid = sid ? ws_strdup (sid) : NULL;
    if (fetch_hive (g, gh) == -1)
      r = -1;                   /* the others are named in the same run */
  }
  return r;
}

int
gen_profile_kept (struct gen *g, const struct sid *s, const char *dir_name)
{
  if (s->count == 5 && s->sub[4] == 500)        /* the built-in Administrator */
    return 1;
  for (size_t i = 0; g->o->keep_profiles && g->o->keep_profiles[i]; ++i)
    if (strcasecmp (g->o->keep_profiles[i], dir_name) == 0)
      return 1;
  return 0;
}

int
gen_profile_dir (struct gen *g, const char *sidstr, const char *pip, char **dir_ret,
                 const char **why_ret)
{
  *dir_ret = NULL;
  *why_ret = NULL;
  /* Windows writes no "." or ".." into a ProfileImagePath. */
  for (const char *p = pip; *p; ) {
    size_t n = strcspn (p, "\\/");
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
      *why_ret = "holds a \".\" or \"..\" component";
      return -1;
    }
    p += n;
    p += strspn (p, "\\/");
  }
  const char *why;
  char *dir = win_map_path (g->w, pip, &why);
  if (!dir) {
    /* Another drive is a profile kept where it is; anything else is a
     * path winseal will not act on. */
    int other_drive = pip[0] && pip[1] == ':' && pip[0] != 'C' && pip[0] != 'c';
    if (other_drive)
      return 0;
    *why_ret = why;
    return -1;
  }
  why = win_profile_dir_refused (g->w, dir);
  /* Profiles live in the profiles folder (ProfilesDirectory). */
  hive_h *sw = why ? NULL : gen_hive (g, "SOFTWARE");
  hive_node_h pl = sw ? hive_walk (sw, hivex_root (sw), PROFILE_LIST_KEY) : 0;
  CLEANUP_FREE char *pd = pl ? hive_get_string (sw, pl, "ProfilesDirectory") : NULL;
  CLEANUP_FREE char *pdir = win_map_path (g->w, pd ? pd : "%SystemDrive%\\Users", NULL);
  size_t pl_len = pdir ? strlen (pdir) : 0;
  if (!why && pdir && !(strncasecmp (dir, pdir, pl_len) == 0 && dir[pl_len] == '/'
                        && dir[pl_len + 1])) {
    static __thread char buf[128];
    snprintf (buf, sizeof buf, "is outside the profiles folder (%.80s)", pd ? pd : "%SystemDrive%\\Users");
    why = buf;
  }
  if (why) {
    *why_ret = why;
    free (dir);
    return -1;
  }
  *dir_ret = dir;
  return 1;
}

const char *
gen_profile_base (const char *winpath)
{
  const char *b = strrchr (winpath, '\\');
  return b ? b + 1 : winpath;
}

/* The hives of every local profile in ProfileList whose directory is on
 * the Windows volume, and of the Default profile.  Every profile the
 * profile-cleanup operation would remove is checked here, before anything
 * changes: one whose ProfileImagePath leads out of the volume, to its
 * root, a system folder or a built-in profile is refused by name and the
 * run stops (nothing is deleted). */
static int
load_user_hives (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE");
  if (!sw)
    return -1;
  const struct op_selection *sel = g->plan ? g->plan : g->sel;
  int cleanup = !sel || op_enabled (sel, "profile-cleanup");
  int refused = 0;
  size_t n;
  struct profile_entry *pl = hive_profile_list (sw, &n);
  int r = 0;
  for (size_t i = 0; i < n; ++i) {
    const char *sid = pl[i].sid_str, *pip = pl[i].image_path;
    if (!pl[i].local || !pip)
      continue;
    if (cleanup && !gen_profile_kept (g, &pl[i].sid, gen_profile_base (pip))) {
      CLEANUP_FREE char *rdir = NULL;
      const char *why;
      if (gen_profile_dir (g, sid, pip, &rdir, &why) == -1) {
        const char *b = gen_profile_base (pip);
        ws_error ("%s: profile %s: its ProfileImagePath \"%s\" %s; refused (nothing "
                  "was changed; --keep-profile %s leaves the profile alone)", g->w->image,
                  sid, pip, why, b[0] ? b : "NAME");
        refused++;
        continue;
      }
    }
    /* Hives are read (and their SIDs rewritten) where the profile is. */
    CLEANUP_FREE char *dir = win_map_path (g->w, pip, NULL);
    if (dir && win_is_dir (g->w, dir) && add_profile_hives (g, dir, sid) == -1)
      r = -1;
  }
  hive_profile_list_free (pl, n);
  if (r == -1)
    return -1;
  if (refused)
    return -1;
  CLEANUP_FREE char *def = win_path (g->w, "Users/Default");
  if (win_is_dir (g->w, def) && add_profile_hives (g, def, NULL) == -1)
    return -1;
  return 0;
}

int
gen_load_hives (struct gen *g)
{
  int failed = 0, software_ok = 0;
  for (size_t i = 0; system_hives[i]; ++i) {
    CLEANUP_FREE char *rel = ws_strconcat ("System32/config/", system_hives[i], NULL);
    CLEANUP_FREE char *path = win_sysroot_path (g->w, rel);
    if (!win_is_file (g->w, path)) {
      if (strcmp (system_hives[i], "DEFAULT") == 0) {
        gen_warn (g, "the DEFAULT hive is missing (%s)", path);
        continue;
      }
      ws_error ("%s: the %s hive is missing (%s)", g->w->image, system_hives[i], path);
      return -1;
    }
    struct ghive *gh = add_hive (g, system_hives[i], path, 0);
    if (fetch_hive (g, gh) == -1)
      failed++;                 /* the others are named in the same run */
    else if (!strcmp (system_hives[i], "SOFTWARE"))
      software_ok = 1;
  }
  /* The profiles' hives are found through SOFTWARE: when it is sound,
   * they are checked (and named when they cannot be recovered) too. */
  if (failed) {
    if (software_ok)
      load_user_hives (g);
    return -1;
  }
  return load_user_hives (g);
}

int
gen_check_supported (struct gen *g)
{
  const char *img = g->w->image;
  hive_h *sw = gen_hive (g, "SOFTWARE"), *sys = gen_hive (g, "SYSTEM");
  struct ghive *sgh = gen_ghive (g, "SECURITY");
  hive_h *sec = sgh ? gen_ghive_handle (g, sgh) : NULL;
  if (!sw || !sys || !sec)
    return WS_FAIL;
  int major, minor;
  if (hive_windows_version (sw, &major, &minor) == -1) {
    ws_error ("%s: the SOFTWARE hive records no Windows version (CurrentVersion); "
              "refused: winseal cannot tell how to reseal it", img);
    return WS_FAIL_UNSUPPORTED;
  }
  /* Windows XP and Server 2003 (5.x) have no Setup\State and reseal
   * through other values (sysprep.inf, mini-setup); Vista is 6.0. */
  if (major < 6) {
    hive_node_h cv = hive_walk (sw, hivex_root (sw), "Microsoft\\Windows NT\\CurrentVersion");
    CLEANUP_FREE char *pname = cv ? hive_get_string (sw, cv, "ProductName") : NULL;
    ws_error ("%s: Windows %d.%d (%s) is older than Windows Vista / Server 2008; "
              "winseal reseals Vista and later only; nothing was changed", img, major, minor,
              pname ? pname : "no ProductName");
    return WS_FAIL_UNSUPPORTED;
  }
  struct windows_role role;
  hive_windows_role (sys, sec, &role);
  if (role.dc_why) {
    ws_error ("%s: Windows is a domain controller (%s); Sysprep does not generalize "
              "domain controllers and neither does winseal; nothing was changed", img, role.dc_why);
    return WS_FAIL_UNSUPPORTED;
  }
  if (role.domain_member) {
    char s[SID_STRING_MAX];
    CLEANUP_FREE char *dname = lsa_policy_name (sec, "PolPrDmN");
    ws_error ("%s: Windows is joined to the domain %s (%s%s); Sysprep unjoins a domain "
              "member, which cannot be done safely offline: unjoin it and seal it again; "
              "nothing was changed", img, dname && *dname ? dname : "(unnamed)",
              sid_to_string (&role.domain_sid, s),
              role.machine_account ? ", with a $MACHINE.ACC secret" : "");
    return WS_FAIL_UNSUPPORTED;
  }
  return 0;
}

int
gen_begin (struct gen *g, struct windows *w, const struct gen_opts *o, int verify)
{
  memset (g, 0, sizeof *g);
  g->w = w;
  g->g = w->g;
  g->o = o;
  g->verify = verify;
  g->tmpdir = ws_mkdtemp ();
  if (!g->tmpdir)
    return -1;
  g->report = json_object_new_object ();
  g->warnings = json_object_new_array ();
  g->files_written = json_object_new_array ();
  return 0;
}

void
gen_end (struct gen *g)
{
  free (g->removed_rids);
  g->removed_rids = NULL;
  for (size_t i = 0; i < g->n_task_copies; ++i) {
    free (g->task_copies[i].path);
    free (g->task_copies[i].task_path);
    free (g->task_copies[i].data);
  }
  free (g->task_copies);
  g->task_copies = NULL;
  free_string_list (g->firstboot_extra);
  g->firstboot_extra = NULL;
  g->n_task_copies = 0;
  for (size_t i = 0; i < g->nhives; ++i) {
    struct ghive *gh = &g->hives[i];
    if (gh->h)
      hivex_close (gh->h);
    free (gh->label);
    free (gh->guest_path);
    free (gh->local);
    free (gh->profile_sid);
  }
  free (g->hives);
  ws_rmtree (g->tmpdir);
  free (g->tmpdir);
  free (g->computer_name);
  json_object_put (g->report);
  json_object_put (g->warnings);
  json_object_put (g->files_written);
  g->report = g->warnings = g->files_written = NULL;
}

int
gen_run (struct gen *g, const struct op_selection *sel)
{
  g->sel = g->plan ? g->plan : sel;
  json_object *ops = json_object_new_object ();
  json_object_object_add (g->report, "operations", ops);
  for (size_t i = 0; i < n_operations; ++i) {
    const struct operation *op = operations[i];
    if (!sel->enabled[i])
      continue;
    g->op = json_object_new_object ();
    g->changes = json_object_new_array ();
    jadd_str (g->op, "heading", op->heading);
    json_object_object_add (g->op, g->verify ? "failed" : "changes", g->changes);
    json_object_object_add (ops, op->name, g->op);
    if (g->verify) {
      if (op->verify)
        op->verify (g);
    }
    else if (op->perform (g) == -1)
      return -1;
  }
  for (size_t i = 0; i < n_operations && !g->verify; ++i) {
    const struct operation *op = operations[i];
    if (!sel->enabled[i] || !op->finish)
      continue;
    g->op = json_object_object_get (ops, op->name);
    g->changes = json_object_object_get (g->op, "changes");
    if (op->finish (g) == -1)
      return -1;
  }
  g->op = g->changes = NULL;
  return 0;
}

/* The report's "hives_written" list (made on first use). */
static json_object *
hives_written (struct gen *g)
{
  json_object *hv;
  if (!json_object_object_get_ex (g->report, "hives_written", &hv)) {
    hv = json_object_new_array ();
    json_object_object_add (g->report, "hives_written", hv);
  }
  return hv;
}

/* Zero what the hive's structure does not use (regf_scrub) in a host
 * copy about to be written, and count it in the report's "hive_scrub". */
static int
scrub_hive (struct gen *g, struct ghive *gh)
{
  struct regf r;
  if (regf_load (&r, gh->local, gh->label) == -1)
    return -1;
  struct regf_scrub_stats st;
  int ret = regf_scrub (&r, &st);
  if (ret == 0 && r.changed)
    ret = regf_save (&r, gh->local);
  regf_free (&r);
  if (ret == -1)
    return -1;
  json_object *sc;
  if (!json_object_object_get_ex (g->report, "hive_scrub", &sc)) {
    sc = json_object_new_object ();
    json_object_object_add (g->report, "hive_scrub", sc);
    jadd_int (sc, "free_cells", 0);
    jadd_int (sc, "free_bytes", 0);
    jadd_int (sc, "slack_bytes", 0);
    jadd_int (sc, "unreached_cells", 0);
    jadd_int (sc, "unreached_bytes", 0);
  }
  static const char *const keys[] = { "free_cells", "free_bytes", "slack_bytes",
                                      "unreached_cells", "unreached_bytes" };
  const size_t add[] = { st.free_cells, st.free_bytes, st.slack_bytes, st.lost_cells,
                         st.lost_bytes };
  for (int i = 0; i < 5; ++i) {
    json_object *v;
    json_object_object_get_ex (sc, keys[i], &v);
    jadd_int (sc, keys[i], json_object_get_int64 (v) + (int64_t) add[i]);
  }
  return 0;
}

int
gen_hives_ready (struct gen *g, struct ghive ***list_ret, size_t *n_ret)
{
  struct ghive **list = ws_malloc ((g->nhives + 1) * sizeof *list);
  size_t n = 0;
  for (size_t i = 0; i < g->nhives; ++i) {
    struct ghive *gh = &g->hives[i];
    if (gen_hive_flush (g, gh) == -1)
      goto fail;
    if (!gh->changed)
      continue;
    if (gh->user && gh->profile_sid && !win_is_file (g->w, gh->guest_path))
      continue;                 /* its profile was removed */
    /* No old data ships in it: free cells, slack, lost cells zeroed. */
    if (!g->verify && scrub_hive (g, gh) == -1)
      goto fail;
    /* Verify the host copy before it goes anywhere near the image. */
    struct hive_state st;
    hive_h *h = hivex_open (gh->local, 0);
    struct regf r;
    const char *why = NULL;
    int ok = h && hive_file_state (gh->local, &st) == 0 && !st.dirty
             && regf_load (&r, gh->local, gh->label) == 0;
    if (h)
      hivex_close (h);
    if (ok) {
      ok = regf_check_lists (&r, &why) == 0;
      regf_free (&r);
    }
    if (!ok) {
      ws_error ("%s hive: the edited copy does not verify (%s); nothing was written to "
                "the image for it", gh->label, why ? why : "does not re-open clean");
      goto fail;
    }
    list[n++] = gh;
  }
  *list_ret = list;
  *n_ret = n;
  return 0;
 fail:
  free (list);
  return -1;
}

void
gen_hives_written (struct gen *g, struct ghive **list, size_t n)
{
  json_object *hv = hives_written (g);
  for (size_t i = 0; i < n; ++i) {
    json_object_array_add (hv, json_object_new_string (list[i]->guest_path));
    if (!g->o->dry_run) {
      list[i]->changed = 0;     /* written: a later commit (clone) skips it unless edited again */
      list[i]->logs_emptied = 1;
    }
  }
}

int
gen_commit (struct gen *g)
{
  struct ghive **list;
  size_t n;
  hives_written (g);
  if (gen_hives_ready (g, &list, &n) == -1)
    return -1;
  for (size_t i = 0; i < n && !g->o->dry_run; ++i) {
    struct ghive *gh = list[i];
    if (guestfs_upload (g->g, gh->local, gh->guest_path) == -1) {
      ws_error ("%s: cannot write %s: %s", g->w->image, gh->guest_path, appliance_error (g->g));
      free (list);
      return -1;
    }
    /* Stale logs must not be replayed over the edited hive (once: a
     * later commit of the same session, as in clone, finds them empty). */
    for (int l = 1; l <= 2 && !gh->logs_emptied; ++l) {
      CLEANUP_FREE char *lp = ws_asprintf ("%s.LOG%d", gh->guest_path, l);
      CLEANUP_FREE char *rp = guestfs_case_sensitive_path (g->g, lp);
      if (rp && win_is_file (g->w, rp) && win_filesize (g->w, rp) > 0
          && guestfs_truncate (g->g, rp) == -1) {
        ws_error ("%s: cannot empty %s: %s", g->w->image, rp, appliance_error (g->g));
        free (list);
        return -1;
      }
    }
  }
  gen_hives_written (g, list, n);
  free (list);
  return 0;
}
