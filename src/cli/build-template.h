/* winseal build: an Azure Image Builder template (JSON) read and checked
 * whole, every problem named by its field (build-template.c). */
#ifndef WINSEAL_BUILD_TEMPLATE_H
#define WINSEAL_BUILD_TEMPLATE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define TEMPLATE_TYPE "Microsoft.VirtualMachineImages/imageTemplates"
#define TIMEOUT_DEFAULT 240     /* minutes, as Image Builder */
#define TIMEOUT_MAX 960
#define SCRIPT_DIR "%%WINDIR%%\\Setup\\Scripts\\winseal-build"    /* printf formats */
#define BUILD_LOG "%%WINDIR%%\\Panther\\winseal-build.log"

enum step_kind { S_FILE, S_POWERSHELL, S_SHELL, S_ONLINE, S_RESTART };

struct step {
  enum step_kind kind;
  const char *type, *name;      /* point into the template */
  char *host;                   /* File source, or the script to copy in */
  const char *dest;             /* File: its Windows destination */
  char *script;                 /* scripts: the Windows path of the copy */
  char sha256[65];              /* of the host file */
  char **codes;                 /* PowerShell validExitCodes (strings) */
  const char *restart_cmd;      /* WindowsRestart: restartCommand, or NULL */
};

struct output { const char *name; char *path; json_object *tags; };

struct tmpl {
  const char *path;             /* the template file */
  char *dir;                    /* its folder */
  char *tmp;                    /* inline scripts are written here */
  json_object *root, *res;      /* the file; the imageTemplates resource */
  char *source;
  const char *infmt;
  uint64_t disk_size;           /* vmProfile.osDiskSizeGB, bytes (0: the source's) */
  int timeout;                  /* minutes */
  struct step *steps;
  size_t nsteps;
  struct output *outs;
  size_t nouts;
  json_object *ignored;         /* the Azure-only fields, by path */
  int skip_online, errors;
  int validate_skipped;         /* properties.validate left out (--skip-online-steps) */
  /* Command-line inputs (cmd-build.c). */
  struct uri_map { const char *url, *path; } *uri_map;   /* --uri-map URL=PATH */
  size_t n_uri_map;
  const char *uri_cache;        /* --uri-cache DIR */
  const char *params_path;      /* --parameters FILE */
  int vhd_for_all;              /* --vhd-for-all-distribute */
  int first_boot_updates;       /* --first-boot-updates */
  /* Owned. */
  json_object *params_file, *params;    /* the parameters file; its "parameters" */
  json_object *resolved;        /* the resource with its expressions evaluated */
  int outs_from_azure;          /* ManagedImage/SharedImage entries written as VHDs */
  char **owned;                 /* strings made from the command line */
  /* The continuation scripts after each WindowsRestart (first_boot_lines):
   * host copies in tmp, and where they go in the image. */
  struct extra_file { char *host, *dest; } *extra;
  size_t nextra;
};

/* Read, check and prepare t->path (the local files hashed, the inline
 * scripts written to t->tmp).  0, or -1 after every problem was reported. */
int load_template (struct tmpl *t);
void free_template (struct tmpl *t);
/* The SetupComplete.cmd lines that run the script steps in template order
 * (NULL when there are none); caller frees the list and its strings.  The
 * steps after each WindowsRestart go into a continuation script run by a
 * startup task (t->extra, to copy into the image).  NULL and t->errors
 * set when a continuation script cannot be written. */
char **first_boot_lines (struct tmpl *t);
/* The "build" part of the report. */
json_object *build_report (struct tmpl *t);

#endif
