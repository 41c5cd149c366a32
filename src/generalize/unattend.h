/* winseal: Windows Setup answer files (unattend.xml): generated with
 * libxml2's tree API, and validated before any appliance starts. */
#ifndef WINSEAL_UNATTEND_H
#define WINSEAL_UNATTEND_H

#include <stddef.h>

struct unattend_opts {
  const char *arch;             /* amd64, x86 or arm64 */
  const char *locale;           /* e.g. en-US; NULL = en-US */
  const char *timezone;         /* NULL = UTC */
  const char *org, *owner;      /* NULL = left out */
  const char *computer_name;    /* NULL = "*" (Setup picks one) */
  const char *password_file;    /* --admin-password-file */
  char *password;               /* read from it; never printed */
  int copy_profile;
  int persist_devices;          /* PnpSysprep in the generalize pass */
  char **run_sync;              /* RunSynchronous commands, in order */
};

#define UNATTEND_NS "urn:schemas-microsoft-com:unattend"
/* The largest answer file read (real ones are a few KiB). */
#define UNATTEND_MAX (16 << 20)
#define WCM_NS "http://schemas.microsoft.com/WMIConfig/2002/State"

/* Read the administrator password (first line of the file, without its
 * line end) into o->password.  Returns 0 or -1 (reported; the password is
 * never part of a message). */
int unattend_read_password (struct unattend_opts *o);
/* A password file is a small text file. */
#define PASSWORD_FILE_MAX 4096
void unattend_clear_password (struct unattend_opts *o);

/* An XML document from an untrusted file (an answer file, an agent's
 * configuration): at most max bytes, no network, no DTD (refused), no
 * entity loading, namespace-well-formed.  NULL with why (one phrase, no
 * libxml2 function names) and *line_ret (0: none) when refused. */
struct _xmlDoc;
struct _xmlDoc *xml_read_untrusted (const char *buf, size_t len, const char *name, size_t max,
                                    char *why, size_t whylen, int *line_ret);

/* The answer file as UTF-8 XML text: caller frees; *len_ret set. */
char *unattend_generate (const struct unattend_opts *o, size_t *len_ret);

/* Validate an answer file: well-formed and namespace-well-formed, no
 * DTD, root 'unattend' and its settings and components in the unattend
 * namespace, known pass names, every component with a name, a schema
 * processorArchitecture, a 16-hex-digit publicKeyToken, a language and
 * an optional versionScope (nonSxS or SxS), no unfilled placeholders.
 * With arch, a pass whose components are all for other architectures is
 * refused (wow64 applies on amd64; neutral, msil and data anywhere) and
 * the ignored ones get a warning.  PlainText passwords get a warning.
 * Returns 0, or -1 with one line reported naming the file (and line). */
int unattend_check_buffer (const char *buf, size_t len, const char *name, const char *arch);
int unattend_check_file (const char *path, const char *arch);

/* Does a valid answer file set 'element' (e.g. "PersistAllDeviceInstalls")
 * to "true" in component 'component' of pass 'pass'?  1 yes, 0 no. */
int unattend_has_setting (const char *buf, size_t len, const char *pass,
                          const char *component, const char *element, const char *value);

/* The answer file's processorArchitecture for a libguestfs arch (x86_64
 * -> amd64, i386 -> x86, aarch64 -> arm64); NULL when unknown. */
const char *image_unattend_arch (const char *guestfs_arch);

#endif
