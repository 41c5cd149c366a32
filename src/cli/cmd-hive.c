/* winseal: `winseal hive check FILE` and `winseal hive recover FILE -o OUT`:
 * a registry hive on the host, recovered from its transaction logs as
 * Windows would (registry/hivelog.c), without an appliance. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <string.h>
#include <strings.h>

#include <hivex.h>

#include "cli/cli.h"
#include "registry/hivelog.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

/* A hive is at most 2 GiB (hive bins size is a 32-bit field Windows keeps
 * far lower); a log no larger. */
#define HIVE_FILE_MAX ((size_t) 2 << 30)

enum { O_LOG = 256, O_JSON, O_REPAIR };
const char hive_short_options[] = "o:";
const struct option hive_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "output", required_argument, NULL, 'o' },
  { "log", required_argument, NULL, O_LOG },
  { "json", no_argument, NULL, O_JSON },
  { "repair-hives", no_argument, NULL, O_REPAIR },
  { NULL, 0, NULL, 0 },
};

static void
help (void)
{
  printf ("Usage: winseal hive check [--log LOG]... [--repair-hives] [--json] FILE\n"
          "       winseal hive recover [--log LOG]... [--repair-hives] [--json] FILE -o OUT\n\n"
          "Check a registry hive file, or write it recovered from its transaction\n"
          "logs (new-format .LOG1/.LOG2 entries, or an old-format .LOG) the way\n"
          "Windows recovers a dirty hive when it loads it.  The logs are FILE.LOG,\n"
          "FILE.LOG1 and FILE.LOG2 beside FILE (any case), or those given with --log.\n"
          "FILE is never modified.\n\n"
          "Options:\n"
          "  -o, --output OUT           recover: the recovered hive (a new file,\n"
          "                             written under a temporary name and renamed)\n"
          "  --log LOG                  a transaction log of FILE (repeatable, up to 3;\n"
          "                             instead of those found beside it)\n"
          "  --repair-hives             an incomplete hive (its last bins missing, no\n"
          "                             log supplying them) with keys or values in the\n"
          "                             missing bins: drop the references to them and\n"
          "                             list each one (default: refuse)\n"
          "  --json                     print the result as JSON\n"
          "  --help                     show this help\n\n"
          "Exit status: 0 the hive is clean or recovered (and libhivex reads the\n"
          "result), 1 it cannot be read even with its logs (the reason on one line),\n"
          "or a usage error.\n");
}

/* FILE.LOG, FILE.LOG1, FILE.LOG2 beside FILE, in any case.  Returns how
 * many (paths in names[], caller frees). */
static size_t
find_logs (const char *file, char *names[HIVE_LOGS_MAX])
{
  CLEANUP_FREE char *d = ws_strdup (file), *b = ws_strdup (file);
  const char *dir = dirname (d), *base = basename (b);
  static const char *const suffixes[] = { ".LOG", ".LOG1", ".LOG2" };
  size_t n = 0;
  DIR *dp = opendir (dir);
  if (!dp)
    return 0;
  size_t bl = strlen (base);
  for (int s = 0; s < 3; ++s) {
    rewinddir (dp);
    struct dirent *de;
    while ((de = readdir (dp)))
      if (strncasecmp (de->d_name, base, bl) == 0 && strcasecmp (de->d_name + bl, suffixes[s]) == 0) {
        names[n++] = strchr (file, '/') ? ws_asprintf ("%s/%s", dir, de->d_name)
                                        : ws_strdup (de->d_name);
        break;
      }
  }
  closedir (dp);
  return n;
}

static void
print_text (const char *file, const struct hive_recovery *r, char **names)
{
  printf ("%s: %s", file, hive_recovery_state (r));
  if (r->was_dirty && (r->entries || r->pages))
    printf (": %zu page%s, %" PRIu64 " bytes changed, sequence %u, hive bins %u bytes",
            r->pages, r->pages == 1 ? "" : "s", r->bytes_changed, r->seq, r->bins_size);
  printf ("\n");
  if (r->bad_base_block)
    printf ("  base block: fails its checksum%s\n", r->base_from_log ? "; taken from a log" : "");
  if (r->trimmed_from && !r->ndropped)
    printf ("  incomplete: its hive bins said %u bytes; the %u present hold everything "
            "reachable from the root: cut to them\n", r->trimmed_from, r->bins_size);
  else if (r->trimmed_from)
    printf ("  incomplete: its hive bins said %u bytes; cut to the %u present\n",
            r->trimmed_from, r->bins_size);
  if (r->ndropped) {
    printf ("  repaired: %zu reference%s into the missing hive bins dropped:\n", r->ndropped,
            r->ndropped == 1 ? "" : "s");
    for (size_t i = 0; r->dropped && r->dropped[i]; ++i)
      printf ("    %s\n", r->dropped[i]);
    if (r->ndropped > 10000)
      printf ("    (%zu more)\n", r->ndropped - 10000);
  }
  if (r->reconciled_to)
    printf ("  partly reconciled already: the hive holds the data up to sequence %u\n",
            r->reconciled_to);
  for (size_t i = 0; i < r->nlogs; ++i) {
    const struct hive_log_use *u = &r->logs[i];
    if (u->kind == HIVE_LOG_NONE) {
      printf ("  %s: %s\n", names[i], u->note);
      continue;
    }
    printf ("  %s: %s format", names[i], hive_log_kind_name (u->kind));
    if (u->applied && u->kind == HIVE_LOG_NEW)
      printf (", %zu entr%s applied (sequence %u-%u)", u->entries, u->entries == 1 ? "y" : "ies",
              u->seq_first, u->seq_last);
    else if (u->applied)
      printf (", applied");
    else
      printf (", not applied");
    printf ("%s%s\n", u->note[0] ? ": " : "", u->note);
  }
}

static json_object *
report (const char *file, const struct hive_recovery *r, char **names, const char *why)
{
  json_object *j = json_object_new_object ();
  jadd_str (j, "hive", file);
  jadd_str (j, "error", why);
  json_object *rec = hive_recovery_json (r, names);
  json_object_object_foreach (rec, key, val)
    json_object_object_add (j, key, json_object_get (val));
  json_object_put (rec);
  if (why)
    jadd_str (j, "state", "unrecoverable");
  return j;
}

/* The recovered hive must be one libhivex reads (it is what the
 * operations edit). */
static int
hivex_reads (const char *path)
{
  hive_h *h = hivex_open (path, 0);
  if (!h)
    return 0;
  hivex_close (h);
  return 1;
}

/* Does libhivex read the hive as recovered (a clean hive: the file
 * itself; else a private temporary copy)? */
static int
recovered_reads (const char *file, const struct hive_recovery *rec)
{
  if (!rec->was_dirty)
    return hivex_reads (file);
  CLEANUP_FREE char *dir = ws_mkdtemp ();
  if (!dir)
    return 0;
  CLEANUP_FREE char *tmp = ws_asprintf ("%s/hive", dir);
  int ok = ws_write_file_atomic (tmp, rec->data, rec->len) == 0 && hivex_reads (tmp);
  ws_rmtree (dir);
  return ok;
}

int
cmd_hive (int argc, char **argv)
{
  const char *out = NULL;
  char *given[HIVE_LOGS_MAX];
  size_t ngiven = 0;
  int json = 0, c;
  unsigned flags = 0;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long (argc, argv, hive_short_options, hive_options, NULL)) != -1) {
    switch (c) {
    case 'h': help (); return 0;
    case 'o': out = optarg; break;
    case O_LOG:
      if (ngiven == HIVE_LOGS_MAX)
        return usage_error ("hive", "at most %d --log", HIVE_LOGS_MAX);
      given[ngiven++] = optarg;
      break;
    case O_JSON: json = 1; break;
    case O_REPAIR: flags |= HIVE_RECOVER_REPAIR; break;
    case ':': return usage_error ("hive", "option '%s' needs a value", argv[optind - 1]);
    default: return usage_error ("hive", "unknown option '%s'", argv[optind - 1]);
    }
  }
  /* The operands: the action, then the hive. */
  if (optind >= argc)
    return usage_error ("hive", "no action given (check or recover)");
  const char *action = argv[optind++];
  if (strcmp (action, "check") && strcmp (action, "recover"))
    return usage_error ("hive", "unknown action '%s' (check or recover)", action);
  int recover = !strcmp (action, "recover");
  if (optind != argc - 1)
    return usage_error ("hive", optind >= argc ? "no hive file given" : "too many arguments");
  const char *file = argv[optind];
  if (recover && !out)
    return usage_error ("hive", "recover: no output given (-o OUT)");
  if (!recover && out)
    return usage_error ("hive", "check writes nothing (-o is recover's)");

  char *names[HIVE_LOGS_MAX];
  size_t nlogs = ngiven;
  for (size_t i = 0; i < ngiven; ++i)
    names[i] = ws_strdup (given[i]);
  if (!ngiven)
    nlogs = find_logs (file, names);
  int r = WS_EXIT_ERROR;
  size_t hlen;
  struct hive_log logs[HIVE_LOGS_MAX];
  uint8_t *hive = (uint8_t *) ws_read_file (file, HIVE_FILE_MAX, &hlen);
  size_t nread = 0;
  for (; hive && nread < nlogs; ++nread) {
    size_t ll;
    uint8_t *d = (uint8_t *) ws_read_file (names[nread], HIVE_FILE_MAX, &ll);
    if (!d)
      break;
    logs[nread] = (struct hive_log) { names[nread], d, ll };
  }
  if (hive && nread == nlogs) {
    /* The output is none of the inputs. */
    struct pathset *ps = pathset_new ();
    pathset_add (ps, file, "the hive");
    for (size_t i = 0; i < nlogs; ++i)
      pathset_add (ps, names[i], "a log");
    int bad = out && pathset_add_output (ps, "-o", out) == -1;
    pathset_free (ps);
    struct hive_recovery rec;
    char why[512];
    if (!bad) {
      int ok = hive_recover (hive, hlen, logs, nlogs, flags, &rec, why, sizeof why) == 0;
      /* A clean hive has nothing to recover from its logs: it is simply
       * corrupt (unless cutting or repairing it would do). */
      if (!ok && !rec.was_dirty && !rec.repairable && hlen >= 4096)
        ws_error ("%s: is corrupt (it is clean: its logs have nothing to give): %s", file, why);
      else if (!ok)
        ws_error ("%s: cannot be recovered: %s%s", file, why,
                  rec.repairable ? " (--repair-hives drops what lies there)" : "");
      /* libhivex must read the result before anything is written. */
      else if (!recovered_reads (file, &rec)) {
        ws_error ("%s: %s is not one libhivex reads (a damaged hive)%s", file,
                  rec.was_dirty ? "the recovered hive" : "it", out ? "; nothing written" : "");
        ok = 0;
      }
      else if (out && ws_write_file_atomic (out, rec.data, rec.len) == -1)
        ok = 0;
      if (json) {
        json_object *j = report (file, &rec, names, ok ? NULL : why);
        if (out && ok)
          jadd_str (j, "output", out);
        json_print (j);
        json_object_put (j);
      }
      else if (ok)
        print_text (file, &rec, names);
      hive_recovery_free (&rec);
      r = ok ? WS_EXIT_OK : WS_EXIT_ERROR;
    }
  }
  for (size_t i = 0; i < nread; ++i)
    free ((void *) logs[i].data);
  for (size_t i = 0; i < nlogs; ++i)
    free (names[i]);
  free (hive);
  return r;
}
