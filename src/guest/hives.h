/* winseal: a hive of the guest on the host, recovered from its logs
 * (hives.c): what the session's hive loader and inspect share. */
#ifndef WINSEAL_GUEST_HIVES_H
#define WINSEAL_GUEST_HIVES_H

#include "guest/windows.h"
#include "registry/hivelog.h"

/* What recovering one hive gave. */
struct hive_fetch {
  struct hive_recovery rec;     /* rec.data is NULL: it has been written to the host copy */
  char *names[HIVE_LOGS_MAX];   /* the logs' file names */
  size_t nlogs;
  char *unreadable;             /* a log that could not be copied, or NULL */
  char why[512];                /* when it cannot be recovered */
};

/* The hive guest_path has been copied to local: recover it from its logs
 * (guest_path.LOG, .LOG1, .LOG2, in any case; copied beside local, then
 * removed) and write the result over local (flags: hive_recover's).  Returns 0, or -1 when it
 * cannot be recovered (the reason in f->why; local unchanged).  Free f
 * with hive_fetch_free. */
int hive_fetch_recover (struct windows *w, const char *guest_path, const char *local,
                        unsigned flags, struct hive_fetch *f);
void hive_fetch_free (struct hive_fetch *f);
/* A clean hive's host copy walked from its root as recovery walks every
 * hive (registry/hivetrim.c): 0 when sound, else -1 with why. */
int hive_local_sound (const char *local, char *why, size_t whylen);

#endif
