/* winseal: the machine SID in scheduled tasks (tasks.c). */
#ifndef WINSEAL_TASKS_H
#define WINSEAL_TASKS_H

#include "generalize/generalize.h"

struct task_result {
  size_t scanned, rewritten, hashes;
  char **offenders;             /* task files still holding the old SID */
};

/* Scheduled tasks (Windows\System32\Tasks, UTF-16 with a BOM or 8-bit):
 * rewrite the old SID's string form to the new one (check_only: list the
 * files holding it), and update the task's TaskCache entry in SOFTWARE:
 * its Hash when it was the SHA-256 of the file, and the old SID's UTF-16
 * text in its binary values.  Returns 0 or -1. */
int fs_sid_tasks (struct gen *g, const struct sid *old, const struct sid *nw, int check_only,
                  struct task_result *res);

#endif
