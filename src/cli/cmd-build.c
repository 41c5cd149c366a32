/* winseal: `winseal build TEMPLATE.json`: the part of an Azure Image
 * Builder template that can be done offline.  The template is checked
 * whole before anything runs (every problem named by its field); local
 * files are checked against their sha256Checksum; then one generalize
 * job copies the File steps and the scripts into the image, adds the
 * script steps to SetupComplete.cmd in template order, and writes one
 * fixed VHD per `distribute` entry of type VHD. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/appliance.h"
#include "cli/build-template.h"
#include "cli/cli.h"
#include "formats/format.h"
#include "generalize/generalize.h"
#include "job/job.h"
#include "job/run.h"
#include "util/json-out.h"
#include "util/jsonin.h"
#include "util/paths.h"
#include "util/util.h"

/* build's own option; the rest are generalize's, but for these. */
const struct option build_options[] = {
  { "skip-online-steps", no_argument, NULL, 0 },
  { "uri-map", required_argument, NULL, 0 },
  { "uri-cache", required_argument, NULL, 0 },
  { "parameters", required_argument, NULL, 0 },
  { "vhd-for-all-distribute", no_argument, NULL, 0 },
  { "first-boot-updates", no_argument, NULL, 0 },
  { NULL, 0, NULL, 0 },
};

/* build's own option at argv[*i] ("--opt VALUE" or "--opt=VALUE"): taken
 * into t (1), not build's (0), or a usage error (-1, reported). */
static int
build_option (struct tmpl *t, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  if (strncmp (a, "--", 2) != 0)
    return 0;
  for (size_t k = 0; build_options[k].name; ++k) {
    const char *n = build_options[k].name;
    size_t l = strlen (n);
    if (strncmp (a + 2, n, l) != 0 || (a[2 + l] != '\0' && a[2 + l] != '='))
      continue;
    const char *val = NULL;
    if (build_options[k].has_arg) {
      if (a[2 + l] == '=')
        val = a + 3 + l;
      else if (*i + 1 < argc)
        val = argv[++*i];
      else
        return usage_error ("build", "option '--%s' needs a value", n), -1;
    }
    else if (a[2 + l] == '=')
      return usage_error ("build", "option '--%s' takes no value", n), -1;
    if (!strcmp (n, "skip-online-steps"))
      t->skip_online = 1;
    else if (!strcmp (n, "vhd-for-all-distribute"))
      t->vhd_for_all = 1;
    else if (!strcmp (n, "first-boot-updates"))
      t->first_boot_updates = 1;
    else if (!strcmp (n, "uri-cache"))
      t->uri_cache = val;
    else if (!strcmp (n, "parameters"))
      t->params_path = val;
    else {
      /* URL=PATH split at the last '=' (a URL's query may hold others;
       * a path seldom does). */
      const char *sep = strrchr (val, '=');
      if (!sep || sep == val || !sep[1] || !strstr (val, "://"))
        return usage_error ("build", "--uri-map: '%s' is not URL=PATH", val), -1;
      t->uri_map = ws_realloc (t->uri_map, (t->n_uri_map + 1) * sizeof *t->uri_map);
      char *url = ws_asprintf ("%.*s", (int) (sep - val), val);
      t->uri_map[t->n_uri_map].url = url;
      t->uri_map[t->n_uri_map].path = sep + 1;
      t->n_uri_map++;
      t->owned = strv_push (t->owned, url);
    }
    return 1;
  }
  return 0;
}
const char build_short_options[] = "";
static const char *const not_for_build[] = {
  "format", "compress", "vmdk-layout", "in-place", "list-operations", "operations-pod", "targets-pod", NULL,
};

int
build_option_applies (const char *generalize_option)
{
  for (size_t i = 0; not_for_build[i]; ++i)
    if (!strcmp (not_for_build[i], generalize_option))
      return 0;
  return 1;
}

static void
help (void)
{
  printf ("Usage: winseal build [OPTIONS] TEMPLATE.json [-o DIR]\n\n"
          "Build an image from an Azure Image Builder template offline: the local\n"
          "image named by properties.source.path is customized and generalized, and\n"
          "each distribute entry of type VHD is written as DIR/RUNOUTPUTNAME.vhd (a\n"
          "fixed VHD).  customize steps: File (copied into the image now, after its\n"
          "sha256Checksum is checked), PowerShell and Shell (inline or a local\n"
          "scriptUri; copied in now and run at first boot from SetupComplete.cmd in\n"
          "template order; Shell lines run under cmd.exe).  WindowsRestart: the steps\n"
          "after it run after a restart, from a startup task.  WindowsUpdate needs the\n"
          "running machine: refused unless --first-boot-updates or --skip-online-steps.\n"
          "Relative paths are relative to the template's folder; the source image and\n"
          "every local file must be in that folder or under --allow-dir DIR.\n\n"
          "Options:\n"
          "  -o, --output DIR           where the VHDs go (default: the current folder)\n"
          "  --skip-online-steps        build without the WindowsUpdate steps and\n"
          "                             properties.validate\n"
          "  --uri-map URL=PATH         a download URI of the template is this local file\n"
          "                             (repeatable; nothing is fetched)\n"
          "  --uri-cache DIR            download URIs are files of DIR named by the step's\n"
          "                             sha256Checksum\n"
          "  --parameters FILE          an ARM parameters file for [parameters('x')]\n"
          "  --vhd-for-all-distribute   write a VHD for each ManagedImage/SharedImage entry\n"
          "                             under its runOutputName\n"
          "  --first-boot-updates       WindowsUpdate steps run at first boot (Windows Update\n"
          "                             Agent API: searchCriteria, filters, updateLimit)\n"
          "  --allow-dir DIR            the template's files may also be in DIR (repeatable)\n"
          "  --target T                 azure (default: no answer file, the VHDs at least\n"
          "                             20 MiB), generic, aws or openstack (winseal(1),\n"
          "                             CLOUD TARGETS); the outputs stay fixed VHDs\n"
          "  --azure-min-size           the fixed VHDs at least 20 MiB (Azure's upload minimum)\n"
          "  --dry-run, --json, --progress, --no-progress, --repair-hives, and the\n"
          "                             operation options of `winseal generalize` (see\n"
          "                             its --help)\n\n"
          "Exit status: 0 done, 1 a bad template or another error, 2-5 and 7 as generalize.\n"
          "See winseal(1), section build.\n");
}

/* Inside the appliance: the job, unless the time limit was reached while
 * the appliance was starting. */
static int
build_work (guestfs_h *g, void *opaque)
{
  if (signals_alarm_fired ())
    return WS_EXIT_ERROR;
  return job_run (opaque, g, NULL);
}

int
cmd_build (int argc, char **argv)
{
  /* --skip-online-steps is build's; the rest is generalize's. */
  struct tmpl t;
  memset (&t, 0, sizeof t);
  char **rest = strv_push (NULL, argv[0]);
  int nrest = 1;
  for (int i = 1; i < argc; ++i) {
    int b = build_option (&t, argc, argv, &i);
    if (b == -1) {
      free (rest);
      free_template (&t);
      return WS_EXIT_ERROR;
    }
    if (b == 0) {
      rest = strv_push (rest, argv[i]);
      nrest++;
    }
  }
  struct job j;
  int json = 0, special = 0, n = 0;
  char **operands = NULL;
  int r = job_parse (&j, nrest, rest, "build", &json, &special, &operands, &n);
  if (r == 0 && special) {
    if (special == 'h')
      help ();
    else
      r = usage_error ("build", "see winseal generalize --list-operations");
    goto out;
  }
  if (r == 0 && n != 1)
    r = usage_error ("build", n == 0 ? "no template given" : "too many arguments");
  if (r == 0 && (j.format || j.co.wopts.compress || j.in_place))
    r = usage_error ("build", "--format, --compress and --in-place do not apply: a VHD "
                     "distribute entry is a fixed VHD");
  if (r)
    goto out;
  t.path = operands[0];
  const char *dir = j.output ? j.output : ".";
  struct stat st;
  if (stat (dir, &st) == -1 || !S_ISDIR (st.st_mode)) {
    r = usage_error ("build", "-o %s: not a folder", dir);
    goto out;
  }
  if (load_template (&t) == -1) {
    r = WS_EXIT_ERROR;
    goto out;
  }
  size_t nscripts = 0;
  for (size_t i = 0; i < t.nsteps; ++i)
    nscripts += t.steps[i].kind == S_POWERSHELL || t.steps[i].kind == S_SHELL;
  if (nscripts && !op_enabled (&j.sel, "setupcomplete")) {
    r = usage_error ("build", "the template's PowerShell and Shell steps run from "
                     "SetupComplete.cmd: the setupcomplete operation must stay enabled");
    goto out;
  }

  /* The job: the template's source, outputs, files and first-boot lines. */
  j.image = t.source;
  j.infmt = t.infmt;
  j.co.size = t.disk_size;
  for (size_t i = 0; i < t.nouts; ++i) {
    const char *nm = t.outs[i].name;
    size_t l = strlen (nm);
    t.outs[i].path = l > 4 && !strcasecmp (nm + l - 4, ".vhd") ? ws_asprintf ("%s/%s", dir, nm)
                                                                : ws_asprintf ("%s/%s.vhd", dir, nm);
    if (i == 0)
      j.output = t.outs[0].path;
    else
      j.more_outputs = strv_push (j.more_outputs, t.outs[i].path);
  }
  j.format = "vhd";
  if (!j.o.target)              /* Image Builder templates are Azure's */
    j.o.target = target_by_name ("azure");
  char **lines = first_boot_lines (&t);
  if (t.errors) {
    r = WS_EXIT_ERROR;
    goto out;
  }
  struct guest_file *files = ws_malloc ((t.nsteps + t.nextra + 1) * sizeof *files);
  size_t nf = 0;
  for (size_t i = 0; i < t.nsteps; ++i) {
    struct step *s = &t.steps[i];
    if (s->kind == S_FILE)
      files[nf++] = (struct guest_file) { s->host, s->dest };
    else if (s->kind == S_POWERSHELL || s->kind == S_SHELL)
      files[nf++] = (struct guest_file) { s->host, s->script };
  }
  for (size_t i = 0; i < t.nextra; ++i)
    files[nf++] = (struct guest_file) { t.extra[i].host, t.extra[i].dest };
  j.o.files = files;
  j.o.n_files = nf;
  for (size_t i = 0; lines && lines[i]; ++i)
    job_keep (&j, lines[i]);
  char **user_lines = j.o.firstboot;    /* the build's steps go first */
  for (size_t i = 0; user_lines && user_lines[i]; ++i)
    lines = strv_push (lines, user_lines[i]);
  free (user_lines);
  j.o.firstboot = lines;
  for (size_t i = 0; i < t.nsteps; ++i)
    if (t.steps[i].kind == S_ONLINE)
      ws_warning ("%s: customize step %zu (%s) is not done: it needs the running machine",
                  t.path, i + 1, t.steps[i].type);
  if (t.validate_skipped)
    ws_warning ("%s: properties.validate is not done: in-VM validation needs the running "
                "machine", t.path);

  r = job_check_options (&j, "build");
  if (r == 0)
    r = job_prepare (&j);
  if (r == 0) {
    /* The appliance part has the template's time limit; writing the
     * outputs is not interrupted (it cannot hang). */
    signals_alarm ((unsigned) t.timeout * 60);
    job_phase (&j, "launching the appliance");
    r = run_appliance (&j.disk, 1, RUN_SHUTDOWN_MUST, j.image, build_work, &j, NULL);
    int timed_out = signals_alarm_cancel ();
    if (timed_out) {
      ws_error ("%s: the build took longer than buildTimeoutInMinutes (%d); stopped, "
                "nothing written", t.path, t.timeout);
      r = WS_EXIT_ERROR;
    }
  }
  if (r == 0)
    r = job_finish (&j);
  if (r == 0) {
    json_object *rep = job_report (&j);
    json_object_object_add (rep, "build", build_report (&t));
    if (json)
      json_print (rep);
    else {
      job_print_text (rep, j.o.dry_run);
      for (size_t i = 0; i < t.nsteps; ++i)
        printf ("step %-2zu %-14s %s\n", i + 1, t.steps[i].type,
                t.steps[i].kind == S_FILE ? t.steps[i].dest
                : t.steps[i].kind == S_ONLINE ? "(skipped: needs the running machine)"
                : t.steps[i].kind == S_RESTART ? "(restart at first boot; the next steps after it)"
                : t.steps[i].script);
      for (size_t i = 1; i < t.nouts && !j.o.dry_run; ++i)
        printf ("%-14s %s\n", "output", t.outs[i].path);
    }
  }
 out:
  job_free (&j);
  free_template (&t);
  free (rest);
  return cli_exit (r);
}
