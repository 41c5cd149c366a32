/* winseal: one image to generalize — its options, the checks before the
 * appliance, the session inside it (on one of possibly several disks of
 * one appliance), and the output.  `winseal generalize` runs one job;
 * `winseal batch` runs many, several per appliance launch. */
#ifndef WINSEAL_JOB_H
#define WINSEAL_JOB_H

#include <guestfs.h>
#include <json-c/json.h>

#include "guest/appliance.h"
#include "guest/precheck.h"
#include "formats/format.h"
#include "generalize/generalize.h"

/* Ownership.  The strings a job points to are borrowed (argv, a
 * catalog's JSON, a template) and outlive it, except those given to
 * job_keep.  The job owns, and job_free frees: the lists more_outputs,
 * o.keep_profiles, o.firstboot and o.ua.run_sync (not their strings), the
 * array o.files (not its strings), the strings job_keep took, and its
 * state (tmp and what is in it, overlay, input_dir, the session gen).
 * job_parse starts a job from nothing; job_free leaves it zeroed. */
struct job {
  /* What to do (the generalize options). */
  const char *image;            /* borrowed */
  const char *output;           /* borrowed */
  char **more_outputs;          /* build: more copies of the output, or NULL (the list owned) */
  const char *format;           /* --format (default: OUTPUT's extension, else vhd); borrowed */
  const char *infmt;            /* --input-format; borrowed */
  const char *keep_overlay;     /* borrowed */
  char *staged;                 /* the staged copy of the input (disk_stage), or NULL */
  const char *stage_why;        /* what the input is that it was staged (static), or NULL */
  int force;                    /* --force: --keep-overlay may replace a file */
  int vmdk_layout_set;          /* --vmdk-layout was given */
  int keep_free_space;          /* --keep-free-space: copy free NTFS clusters too */
  uint64_t free_discarded;      /* free NTFS bytes the output did not copy */
  int free_volumes;             /* NTFS volumes whose free clusters were told */
  int in_place;
  struct gen_opts o;
  struct op_selection sel;
  struct convert_opts co;
  /* Set by the caller. */
  int show_progress;
  const char *label;            /* prefix of progress lines (batch: the name), or NULL; borrowed */
  /* The output's progress display (when show_progress and no label), or NULL. */
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *progress_opaque;        /* borrowed */
  /* When set, progress goes here instead of stderr (batch). */
  void (*on_phase) (struct job *j, const char *what);
  void *opaque;                 /* borrowed */
  char **kept;                  /* the strings job_keep took */
  /* State (owned). */
  const char *qfmt;             /* the input's qemu format (a constant) */
  char *tmp, *overlay;
  char *input_dir;              /* the input's real directory (the overlay's backing file) */
  struct disk disk;             /* what the appliance gets (points to image or overlay) */
  struct gen gen;
  int gen_started;
  struct convert_result cr;
  double t0;
  int status;                   /* WS_OK or the WS_FAIL_* kind of the job so far */
};

/* Give the job a string to free with it; returns s. */
char *job_keep (struct job *j, char *s);

/* Everything before the appliance: the image readable, the output
 * writable, the qcow2 overlay created.  Returns 0 or a WS_EXIT code. */
int job_prepare (struct job *j);
/* Inside a launched appliance, on its disk: find Windows, run the
 * operations, write the hives back, unmount.  Returns 0 or a WS_EXIT
 * code. */
int job_run (struct job *j, guestfs_h *g, const char *disk);
/* After the appliance: write the output from the overlay (unless
 * --in-place or --dry-run) and remove the temporary files.  Returns 0 or
 * a WS_EXIT code. */
int job_finish (struct job *j);
/* job_finish without removing the temporary files (job_free does): batch
 * writes an output while the appliance still has its overlay open. */
int job_write_output (struct job *j);
/* The report (call after job_finish succeeded); the job keeps it. */
json_object *job_report (struct job *j);
/* The report as text on stdout (generalize, build). */
void job_print_text (json_object *r, int dry_run);
void job_free (struct job *j);
/* A progress line (when show_progress): time since the job began, what. */
void job_phase (struct job *j, const char *what);

/* A computer name Windows accepts: 1-15 of [A-Za-z0-9-], not all digits. */
int valid_computer_name (const char *n);

#endif
