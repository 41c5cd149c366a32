/* winseal: a guest hive's host copy recovered from its logs (hives.h). */
#include <config.h>

#include <string.h>
#include <unistd.h>

#include "guest/hives.h"
#include "util/paths.h"
#include "util/util.h"

/* A hive file or log on the host, whole (hives are at most 2 GiB). */
#define HIVE_FILE_MAX ((size_t) 2 << 30)

int
hive_fetch_recover (struct windows *w, const char *guest_path, const char *local,
                    unsigned flags, struct hive_fetch *f)
{
  static const char *const suffixes[] = { ".LOG", ".LOG1", ".LOG2" };
  struct hive_log logs[HIVE_LOGS_MAX];
  memset (f, 0, sizeof *f);
  for (int s = 0; s < 3; ++s) {
    CLEANUP_FREE char *lp = ws_strconcat (guest_path, suffixes[s], NULL);
    CLEANUP_FREE char *rp = guestfs_case_sensitive_path (w->g, lp);
    if (!rp || !win_is_file (w, rp) || win_filesize (w, rp) <= 0)
      continue;
    CLEANUP_FREE char *copy = ws_asprintf ("%s%s", local, suffixes[s]);
    size_t len;
    uint8_t *data = NULL;
    guestfs_push_error_handler (w->g, NULL, NULL);
    if (guestfs_download (w->g, rp, copy) == 0)
      data = (uint8_t *) ws_read_file (copy, HIVE_FILE_MAX, &len);
    guestfs_pop_error_handler (w->g);
    unlink (copy);
    if (!data) {
      if (!f->unreadable)
        f->unreadable = ws_strdup (rp);
      continue;
    }
    const char *base = strrchr (rp, '/');
    f->names[f->nlogs] = ws_strdup (base ? base + 1 : rp);
    logs[f->nlogs] = (struct hive_log) { f->names[f->nlogs], data, len };
    f->nlogs++;
  }
  size_t hlen;
  CLEANUP_FREE uint8_t *hive = (uint8_t *) ws_read_file (local, HIVE_FILE_MAX, &hlen);
  int r = -1;
  snprintf (f->why, sizeof f->why, "cannot read its host copy");
  if (hive && hive_recover (hive, hlen, logs, f->nlogs, flags, &f->rec, f->why, sizeof f->why) == 0) {
    r = ws_write_file_atomic (local, f->rec.data, f->rec.len);
    if (r == -1)
      snprintf (f->why, sizeof f->why, "cannot write its recovered copy");
    free (f->rec.data);
    f->rec.data = NULL;
  }
  for (size_t i = 0; i < f->nlogs; ++i)
    free ((void *) logs[i].data);
  return r;
}

int
hive_local_sound (const char *local, char *why, size_t whylen)
{
  size_t len;
  CLEANUP_FREE uint8_t *data = (uint8_t *) ws_read_file (local, HIVE_FILE_MAX, &len);
  struct hive_recovery rec;
  snprintf (why, whylen, "cannot read its host copy");
  if (!data || hive_recover (data, len, NULL, 0, 0, &rec, why, whylen) == -1)
    return -1;
  hive_recovery_free (&rec);
  return 0;
}

void
hive_fetch_free (struct hive_fetch *f)
{
  hive_recovery_free (&f->rec);
  for (size_t i = 0; i < f->nlogs; ++i)
    free (f->names[i]);
  free (f->unreadable);
  memset (f, 0, sizeof *f);
}
