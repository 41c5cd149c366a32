/* winseal: one image to generalize (see job.h): the generalize options,
 * the checks before the appliance, the session on one appliance disk, the
 * output. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "job/job.h"
#include "util/json-out.h"
#include "util/paths.h"
#include "util/util.h"

int
valid_computer_name (const char *n)
{
  size_t l = strlen (n);
  if (l == 0 || l > 15 || strspn (n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != l)
    return 0;
  return strspn (n, "0123456789") != l;
}


void
job_phase (struct job *j, const char *what)
{
  if (j->on_phase)
    j->on_phase (j, what);
  else if (j->show_progress)
    fprintf (stderr, "[%6.1fs] %s%s%s\n", ws_now () - j->t0, j->label ? j->label : "",
             j->label ? ": " : "", what);
}

/* Checks on an output before the appliance starts. */
static int
check_output (const char *out, const struct convert_opts *co, uint64_t vsize)
{
  CLEANUP_FREE char *copy = ws_strdup (out);
  const char *dir = dirname (copy);
  if (access (dir, W_OK) == -1) {
    ws_error ("%s: cannot write in %s: %s", out, dir, strerror (errno));
    return -1;
  }
  convert_clean_stale (dir);    /* what killed runs left beside it */
  struct statvfs sv;
  if (format_output_needs_full_size (co) && statvfs (dir, &sv) == 0) {
    uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
    if (avail < vsize) {
      ws_error ("%s: a fixed VHD of %" PRIu64 " bytes does not fit in %s (%" PRIu64
                " bytes free)", out, vsize, dir, avail);
      return -1;
    }
  }
  return 0;
}

/* The free space TMPDIR needs for the overlay and the hive copies: the
 * overlay holds what the run changes (the hives, file-system metadata,
 * files placed, the answer file): up to 1 GiB, never more than the disk,
 * plus the files placed. */
static uint64_t
overlay_need (const struct job *j, uint64_t vsize)
{
  uint64_t need = vsize < (UINT64_C (1) << 30) ? vsize : UINT64_C (1) << 30;
  for (size_t i = 0; i < j->o.n_files; ++i) {
    struct stat st;
    if (stat (j->o.files[i].host, &st) == 0)
      need += st.st_size;
  }
  return need;
}

/* The path policy: no output (OUTPUT, the copies, the kept overlay) may
 * be an input of this run or another output of it. */
static int
check_paths (struct job *j, const struct image *in)
{
  struct pathset *ps = pathset_new ();
  pathset_add_image (ps, in, "the input image");
  if (j->o.unattend_file)
    pathset_add (ps, j->o.unattend_file, "the answer file (--unattend)");
  if (j->o.setupcomplete_file)
    pathset_add (ps, j->o.setupcomplete_file, "the --setupcomplete file");
  if (j->o.ua.password_file)
    pathset_add (ps, j->o.ua.password_file, "the password file");
  for (size_t i = 0; i < j->o.n_files; ++i)
    pathset_add (ps, j->o.files[i].host, "a file the template copies in");
  int r = 0;
  if (!j->in_place && j->output && !j->o.dry_run)
    r = pathset_add_output (ps, "-o", j->output);
  for (size_t i = 0; !r && j->more_outputs && j->more_outputs[i] && !j->o.dry_run; ++i)
    r = pathset_add_output (ps, "output", j->more_outputs[i]);
  if (!r && j->keep_overlay) {
    r = pathset_add_output (ps, "--keep-overlay", j->keep_overlay);
    struct stat st;
    if (!r && lstat (j->keep_overlay, &st) == 0) {
      if (!j->force || !S_ISREG (st.st_mode)) {
        ws_error ("--keep-overlay %s: %s; refused (--force replaces a file)",
                  j->keep_overlay, S_ISREG (st.st_mode) ? "the file exists"
                  : "exists and is not a regular file");
        r = -1;
      }
      else if (unlink (j->keep_overlay) == -1) {
        ws_error ("--keep-overlay %s: %s", j->keep_overlay, strerror (errno));
        r = -1;
      }
    }
  }
  pathset_free (ps);
  return r;
}

int
job_prepare (struct job *j)
{
  const char *image = j->image;
  const char *stage_why;
  int r = disk_precheck (image, &j->qfmt, &stage_why);
  if (r)
    return j->status = r;
  if (stage_why && j->in_place) {
    ws_error ("%s: --in-place: the image is %s; write an output instead", image, stage_why);
    return j->status = WS_FAIL;
  }
  uint64_t vsize = 0;
  {
    struct image *in = image_open (image, NULL);
    if (!in)
      return j->status = WS_FAIL_UNREADABLE;
    vsize = in->size;
    r = check_paths (j, in);
    image_close (in);
    if (r)
      return j->status = WS_FAIL;
  }
  if (!j->in_place && j->output && !j->o.dry_run
      && check_output (j->output, &j->co, vsize) == -1)
    return j->status = WS_FAIL;
  for (size_t i = 0; j->more_outputs && j->more_outputs[i] && !j->o.dry_run; ++i)
    if (check_output (j->more_outputs[i], &j->co, vsize) == -1)
      return j->status = WS_FAIL;

  /* The disk the appliance sees: a qcow2 overlay over the untouched input. */
  j->tmp = ws_mkdtemp ();
  if (!j->tmp)
    return j->status = WS_FAIL;
  if (!j->in_place) {
    if (ws_check_space ("TMPDIR", ws_tmpdir (), overlay_need (j, vsize)) == -1)
      return j->status = WS_FAIL;
    if (j->keep_overlay) {
      CLEANUP_FREE char *kc = ws_strdup (j->keep_overlay);
      if (ws_check_space ("--keep-overlay", dirname (kc), overlay_need (j, vsize)) == -1)
        return j->status = WS_FAIL;
    }
  }
  /* An input qemu would read otherwise than winseal does reaches the
   * appliance as winseal reads it: a staged qcow2 copy under the overlay. */
  if (stage_why) {
    /* Beside a kept overlay, which needs it as its backing file. */
    CLEANUP_FREE char *at = j->keep_overlay ? ws_strconcat (j->keep_overlay, ".input.qcow2", NULL)
                                            : ws_strconcat (j->tmp, "/staged-input.qcow2", NULL);
    struct stat sst;
    if (j->keep_overlay && !j->force && lstat (at, &sst) == 0) {
      ws_error ("--keep-overlay: %s (the staged copy of the input kept beside it) exists; "
                "refused (--force replaces a file)", at);
      return j->status = WS_FAIL;
    }
    r = disk_stage (image, stage_why, at);
    if (r)
      return j->status = r;
    j->staged = ws_strdup (at);
    j->stage_why = stage_why;
  }
  const char *base = j->staged ? j->staged : image, *bfmt = j->staged ? "qcow2" : j->qfmt;
  j->disk = (struct disk) { base, bfmt, j->o.dry_run };
  if (j->in_place && !j->o.dry_run) {
    printf ("winseal: --in-place: %s itself is being modified\n", image);
    return 0;
  }
  char abs[PATH_MAX];
  if (!realpath (base, abs)) {
    ws_error ("%s: %s", image, strerror (errno));
    return j->status = WS_FAIL;
  }
  j->overlay = j->keep_overlay ? ws_strdup (j->keep_overlay)
                               : ws_strconcat (j->tmp, "/overlay.qcow2", NULL);
  guestfs_h *h0 = guestfs_create ();
  if (!h0 || guestfs_disk_create (h0, j->overlay, "qcow2", -1,
                                  GUESTFS_DISK_CREATE_BACKINGFILE, abs,
                                  GUESTFS_DISK_CREATE_BACKINGFORMAT, bfmt, -1) == -1) {
    ws_error ("%s: cannot create the overlay: %s", image, h0 ? appliance_error (h0) : "no handle");
    if (h0)
      guestfs_close (h0);
    return j->status = WS_FAIL;
  }
  guestfs_close (h0);
  /* Where the input's directory is, the overlay's backing file may be. */
  CLEANUP_FREE char *adir = ws_strdup (abs);
  j->input_dir = ws_strdup (dirname (adir));
  j->disk = (struct disk) { j->overlay, "qcow2", 0 };
  return 0;
}

int
job_run (struct job *j, guestfs_h *g, const char *disk)
{
  const char *image = j->image;
  struct gen_opts *o = &j->o;
  struct windows w;
  job_phase (j, "finding Windows");
  int r = windows_find (g, image, disk, o->dry_run, &w);
  if (r == 0 && o->unattend_file
      && unattend_check_file (o->unattend_file, image_unattend_arch (w.arch)) == -1)
    r = WS_FAIL;
  if (r == 0) {
    j->gen_started = 1;
    if (gen_begin (&j->gen, &w, o, 0) == -1)
      r = WS_FAIL;
  }
  if (r == 0) {
    job_phase (j, "copying and checking the hives");
    j->gen.sel = &j->sel;               /* the hive loader checks what will be removed */
    if (gen_load_hives (&j->gen) == -1)
      r = WS_FAIL;
    else
      r = gen_check_supported (&j->gen);
  }
  if (r == 0 && o->n_files) {
    job_phase (j, "copying files into the image");
    if (gen_place_files (&j->gen) == -1)
      r = WS_FAIL;
  }
  if (r == 0) {
    job_phase (j, "running the operations");
    if (gen_run (&j->gen, &j->sel) == -1)
      r = WS_FAIL;
  }
  if (r == 0) {
    job_phase (j, o->dry_run ? "checking the edited hives" : "writing the hives back");
    if (gen_commit (&j->gen) == -1)
      r = WS_FAIL;
  }
  if (r == 0 && !o->dry_run) {
    guestfs_push_error_handler (g, NULL, NULL);
    guestfs_fstrim (g, "/", -1);          /* ntfs-3g may not support it */
    guestfs_pop_error_handler (g);
  }
  windows_close (&w);
  if (j->gen_started)
    j->gen.w = NULL;                    /* w is gone */
  guestfs_push_error_handler (g, NULL, NULL);
  int u = guestfs_umount_all (g);
  guestfs_pop_error_handler (g);
  if (r == 0 && (u == -1 || guestfs_sync (g) == -1)) {
    ws_error ("%s: cannot close the file systems cleanly: %s", image, appliance_error (g));
    r = WS_FAIL;
  }
  unattend_clear_password (&o->ua);
  return j->status = r;
}

int
job_write_output (struct job *j)
{
  int r = j->status;
  if (r == 0 && !j->in_place && j->output && !j->o.dry_run) {
    job_phase (j, "writing the output image");
    struct image *in = image_open_within (j->overlay, NULL, j->input_dir);
    /* What NTFS no longer uses (deleted files' data) is not copied. */
    struct rangeset rs = { 0 };
    struct mft_clear *mc = NULL;
    if (in && !j->keep_free_space) {
      mc = mft_clear_new ();
      j->free_volumes = disk_free_space (j->image, in, &rs, mc);
      j->free_discarded = rs.bytes;
      j->co.discard = &rs;
      j->co.mft = mc;
    }
    if (j->show_progress && !j->label && j->progress) {
      j->co.progress = j->progress;
      j->co.opaque = j->progress_opaque;
    }
    if (!in || convert_image (in, j->output, &j->co, &j->cr) == -1)
      r = WS_FAIL;
    for (size_t i = 0; r == 0 && j->more_outputs && j->more_outputs[i]; ++i) {
      struct convert_result cr2;
      if (convert_image (in, j->more_outputs[i], &j->co, &cr2) == -1) {
        r = WS_FAIL;
        unlink (j->output);     /* all the outputs or none */
        for (size_t k = 0; k < i; ++k)
          unlink (j->more_outputs[k]);
      }
    }
    if (in)
      image_close (in);
    j->co.progress = NULL;
    j->co.discard = NULL;
    j->co.mft = NULL;
    rangeset_free (&rs);
    mft_clear_free (mc);
  }
  return j->status = r;
}

int
job_finish (struct job *j)
{
  int r = job_write_output (j);
  if (j->tmp) {
    ws_rmtree (j->tmp);
    free (j->tmp);
    j->tmp = NULL;
  }
  return j->status = r;
}

json_object *
job_report (struct job *j)
{
  struct gen *gen = &j->gen;
  json_object *rep = gen->report;
  jadd_str (rep, "image", j->image);
  /* The input's format as probed (or given), in winseal's names. */
  const struct format_ops *inf = j->qfmt ? format_by_name (j->qfmt) : NULL;
  jadd_str (rep, "input_format", inf ? format_name (inf) : j->qfmt);
  /* What made the input reach the appliance as a staged copy, or null. */
  jadd_str (rep, "input_staged", j->stage_why);
  jadd_bool (rep, "dry_run", j->o.dry_run);
  jadd_bool (rep, "in_place", j->in_place);
  if (gen->have_new_sid) {
    char a[SID_STRING_MAX], b2[SID_STRING_MAX];
    jadd_str (rep, "old_sid", sid_to_string (&gen->old_sid, a));
    jadd_str (rep, "new_sid", sid_to_string (&gen->new_sid, b2));
  }
  jadd_str (rep, "computer_name", gen->computer_name);
  json_object *ops, *pc, *pr;
  if (json_object_object_get_ex (rep, "operations", &ops)
      && json_object_object_get_ex (ops, "profile-cleanup", &pc)
      && json_object_object_get_ex (pc, "profiles_removed", &pr))
    json_object_object_add (rep, "profiles_removed", json_object_get (pr));
  jadd_int (rep, "bytes_freed", gen->bytes_freed);
  jadd_int (rep, "files_zeroed_before_removal", (int64_t) gen->files_zeroed);
  json_object_object_add (rep, "files_written", json_object_get (gen->files_written));
  json_object_object_add (rep, "warnings", json_object_get (gen->warnings));
  if (j->output && !j->o.dry_run) {
    jadd_str (rep, "output", j->output);
    jadd_str (rep, "format", format_output_name (&j->co));
    jadd_int (rep, "virtual_size", j->cr.virtual_size);
    jadd_int (rep, "output_size", j->cr.file_size);
    /* Free NTFS clusters written as zeros, not copied (null: --keep-free-space). */
    if (j->keep_free_space)
      json_object_object_add (rep, "free_bytes_not_copied", NULL);
    else
      jadd_int (rep, "free_bytes_not_copied", (int64_t) j->free_discarded);
    jadd_int (rep, "ntfs_volumes_mapped", j->free_volumes);
    /* Freed MFT records emptied, and records in use whose slack was zeroed. */
    jadd_int (rep, "mft_records_cleared", (int64_t) j->cr.mft_records_cleared);
    jadd_int (rep, "mft_records_trimmed", (int64_t) j->cr.mft_records_trimmed);
  }
  char secs[32];
  snprintf (secs, sizeof secs, "%.1f", ws_now () - j->t0);
  json_object_object_add (rep, "seconds", json_object_new_double_s (atof (secs), secs));
  return rep;
}

/* The report's hive_recovery, one line per hive (and one per dropped
 * reference). */
static void
print_recovery (json_object *arr)
{
  printf ("[hive-recovery] Dirty hives recovered (as Windows would) before the operations\n");
  for (size_t i = 0; i < json_object_array_length (arr); ++i) {
    json_object *h = json_object_array_get_idx (arr, i), *logs = jget (h, "logs");
    json_object *dr = jget (h, "dropped");
    const char *state = jget_str (h, "state") ? jget_str (h, "state") : "";
    int64_t entries = jget_int (h, "entries", 0), pages = jget_int (h, "pages", 0);
    int64_t trimmed = jget_int (h, "trimmed_from", 0), dropped = jget_int (h, "dropped_count", 0);
    printf ("  %s: %s", jget_str (h, "hive") ? jget_str (h, "hive") : "?", state);
    if (pages) {
      printf (" from");
      int first = 1;
      for (size_t k = 0; logs && k < json_object_array_length (logs); ++k) {
        json_object *l = json_object_array_get_idx (logs, k);
        if (jget_bool (l, "applied")) {
          printf ("%s %s", first ? "" : ",", jget_str (l, "log") ? jget_str (l, "log") : "?");
          first = 0;
        }
      }
      printf (" (%" PRId64 " entr%s, %" PRId64 " page%s, %" PRId64 " bytes changed, sequence %"
              PRId64 ")", entries, entries == 1 ? "y" : "ies", pages, pages == 1 ? "" : "s",
              jget_int (h, "bytes_changed", 0), jget_int (h, "sequence", 0));
    }
    if (trimmed)
      printf ("%s its bins said %" PRId64 " bytes, cut to the %" PRId64 " present",
              pages ? ";" : ":", trimmed, jget_int (h, "bins_size", 0));
    if (dropped)
      printf ("; %" PRId64 " reference%s into the missing bins dropped", dropped,
              dropped == 1 ? "" : "s");
    if (!strcmp (state, "dirty, nothing to replay"))
      printf (": written back clean as it is");
    printf ("\n");
    for (size_t k = 0; dr && k < json_object_array_length (dr); ++k)
      printf ("    dropped: %s\n", json_object_get_string (json_object_array_get_idx (dr, k)));
  }
}

void
job_print_text (json_object *r, int dry_run)
{
  json_object *ops, *w, *rec;
  if (dry_run)
    printf ("Dry run: nothing was written.  The changes generalize would make:\n\n");
  if (json_object_object_get_ex (r, "hive_recovery", &rec))
    print_recovery (rec);
  if (json_object_object_get_ex (r, "operations", &ops)) {
    json_object_object_foreach (ops, name, op) {
      json_object *h, *ch;
      json_object_object_get_ex (op, "heading", &h);
      printf ("[%s] %s\n", name, json_object_get_string (h));
      if (json_object_object_get_ex (op, "changes", &ch)) {
        size_t n = json_object_array_length (ch);
        for (size_t i = 0; i < n; ++i)
          printf ("  %s\n", json_object_get_string (json_object_array_get_idx (ch, i)));
        if (n == 0)
          printf ("  (nothing to change)\n");
      }
    }
  }
  static const char *const keys[] = { "input_format", "old_sid", "new_sid", "computer_name",
                                      "bytes_freed", "output", "format", "output_size",
                                      "seconds", NULL };
  printf ("\n");
  for (size_t i = 0; keys[i]; ++i) {
    json_object *v;
    if (json_object_object_get_ex (r, keys[i], &v) && v)
      printf ("%-14s %s\n", keys[i], json_object_get_string (v));
  }
  if (json_object_object_get_ex (r, "warnings", &w) && json_object_array_length (w))
    printf ("warnings       %zu (see above)\n", json_object_array_length (w));
}

char *
job_keep (struct job *j, char *s)
{
  j->kept = strv_push (j->kept, s);
  return s;
}

void
job_free (struct job *j)
{
  if (j->staged && j->keep_overlay)
    j->staged[0] = '\0';       /* the kept overlay's backing file stays */
  else if (j->staged)
    unlink (j->staged);
  free (j->staged);
  if (j->tmp) {
    ws_rmtree (j->tmp);
    free (j->tmp);
  }
  if (j->gen_started)
    gen_end (&j->gen);
  free (j->overlay);
  free (j->input_dir);
  free (j->more_outputs);
  free ((void *) j->o.files);
  free (j->o.keep_profiles);
  free (j->o.firstboot);
  free_string_list (j->kept);
  free (j->o.ua.run_sync);
  unattend_clear_password (&j->o.ua);
  memset (j, 0, sizeof *j);
}
