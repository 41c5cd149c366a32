/* winseal unit tests: a minimal harness (exit 0 pass, 1 fail, 77 skip). */
#ifndef WINSEAL_UNIT_H
#define WINSEAL_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures, unit_checks;

#define CHECK(cond) do {                                                \
    unit_checks++;                                                      \
    if (!(cond)) {                                                      \
      unit_failures++;                                                  \
      fprintf (stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
    }                                                                   \
  } while (0)

#define CHECK_STR(a, b) do {                                            \
    const char *a_ = (a), *b_ = (b);                                    \
    unit_checks++;                                                      \
    if (!a_ || !b_ || strcmp (a_, b_) != 0) {                           \
      unit_failures++;                                                  \
      fprintf (stderr, "FAIL %s:%d: %s is \"%s\", expected \"%s\"\n",   \
               __FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    }                                                                   \
  } while (0)

static inline int
unit_done (const char *name)
{
  printf ("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
  return unit_failures ? 1 : 0;
}

/* Decompress ../shared/hives/NAME.xz into dir; returns the path (caller
 * frees) or NULL when the shared hives are not there. */
static inline char *
unit_shared_hive (const char *dir, const char *name)
{
  const char *src = getenv ("SHARED_HIVES");
  char *path, *cmd;
  if (!src)
    return NULL;
  if (asprintf (&path, "%s/%s", dir, name) == -1
      || asprintf (&cmd, "xz -dc '%s/%s.xz' > '%s' 2>/dev/null", src, name, path) == -1)
    abort ();
  int r = system (cmd);
  free (cmd);
  if (r != 0) {
    free (path);
    return NULL;
  }
  return path;
}

/* Decompress the named shared hives into a new temporary directory
 * (*dir_ret, caller removes).  Returns 0, or -1 when any is missing. */
static inline int
unit_shared_hives (char **dir_ret, const char *const *names, char **paths)
{
  static char dir[] = "/tmp/winseal-unit.XXXXXX";
  if (!mkdtemp (dir))
    abort ();
  *dir_ret = dir;
  int r = 0;
  for (size_t i = 0; names[i]; ++i)
    if (!(paths[i] = unit_shared_hive (dir, names[i])))
      r = -1;
  if (r)
    fprintf (stderr, "../shared/hives not found; real-hive checks skipped\n");
  return r;
}

#ifdef WINSEAL_SAM_H
/* The shared SAM's Administrators alias (Builtin 0x220) lists exactly the
 * domain's -500 and -1000. */
static inline void
unit_check_admins (hive_h *h, const struct sid *dom)
{
  hive_node_h a = hive_walk (h, hivex_root (h), "SAM\\Domains\\Builtin\\Aliases\\00000220");
  size_t cl;
  hive_type t;
  uint8_t *c = hive_get_bytes (h, a, "C", &cl, &t);
  struct sid *m;
  size_t mn = 0;
  CHECK (c && sam_alias_members (c, cl, &m, &mn) == 0 && mn == 2);
  if (c && mn == 2) {
    CHECK (sid_in_domain (&m[0], dom) && m[0].sub[4] == 500);
    CHECK (sid_in_domain (&m[1], dom) && m[1].sub[4] == 1000);
    free (m);
  }
  free (c);
}
#endif

#endif
