/* winseal: generating and validating unattend.xml with libxml2.  No
 * network access and no external entity is ever loaded: documents with a
 * DTD are refused, and parsing uses XML_PARSE_NONET without entity
 * substitution. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "util/paths.h"
#include "generalize/unattend.h"
#include "util/util.h"

static void
cleanup_xmlfreedoc (void *p)
{
  xmlDocPtr d = *(xmlDocPtr *) p;
  if (d)
    xmlFreeDoc (d);
}
#define CLEANUP_XMLFREEDOC __attribute__((cleanup (cleanup_xmlfreedoc)))

static const char *const passes[] = {
  "windowsPE", "offlineServicing", "generalize", "specialize",
  "auditSystem", "auditUser", "oobeSystem", NULL,
};

int
unattend_read_password (struct unattend_opts *o)
{
  if (!o->password_file)
    return 0;
  size_t len;
  char *buf = ws_read_text ("--admin-password-file", o->password_file, PASSWORD_FILE_MAX, &len);
  if (!buf)
    return -1;
  const char *why = NULL;
  size_t n = strcspn (buf, "\n");      /* the first line */
  if (memchr (buf, '\0', len))
    why = "holds a NUL byte";
  while (!why && n > 0 && buf[n - 1] == '\r')
    n--;
  ssize_t chars = why ? 0 : utf8_count (buf, n);
  if (!why && chars < 0)
    why = "the password is not valid UTF-8";
  else if (!why && (chars == 0 || chars > 127))
    why = "the first line must hold a password of 1 to 127 characters";
  if (why) {
    explicit_bzero (buf, len);
    free (buf);
    ws_error ("--admin-password-file %s: %s", o->password_file, why);
    return -1;
  }
  explicit_bzero (buf + n, len - n);
  buf[n] = '\0';
  o->password = buf;
  return 0;
}

void
unattend_clear_password (struct unattend_opts *o)
{
  if (o->password) {
    explicit_bzero (o->password, strlen (o->password));
    free (o->password);
    o->password = NULL;
  }
}

static const char b64[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of UTF-16LE(password + "AdministratorPassword"), as Windows
 * stores a hidden password.  Caller frees (and wipes). */
static char *
hidden_password (const char *pw)
{
  CLEANUP_FREE char *s = ws_strconcat (pw, "AdministratorPassword", NULL);
  size_t len;
  uint8_t *u = utf8_to_utf16le (s, &len);
  explicit_bzero (s, strlen (s));
  if (!u)
    return NULL;
  char *out = ws_malloc ((len + 2) / 3 * 4 + 1), *o = out;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t) u[i] << 16 | (i + 1 < len ? (uint32_t) u[i + 1] << 8 : 0)
                 | (i + 2 < len ? u[i + 2] : 0);
    *o++ = b64[v >> 18 & 63];
    *o++ = b64[v >> 12 & 63];
    *o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
    *o++ = i + 2 < len ? b64[v & 63] : '=';
  }
  *o = '\0';
  explicit_bzero (u, len);
  free (u);
  return out;
}

static xmlNodePtr
component (xmlNodePtr settings, xmlNsPtr wcm, const char *name, const char *arch)
{
  (void) wcm;
  xmlNodePtr c = xmlNewChild (settings, NULL, BAD_CAST "component", NULL);
  xmlNewProp (c, BAD_CAST "name", BAD_CAST name);
  xmlNewProp (c, BAD_CAST "processorArchitecture", BAD_CAST arch);
  xmlNewProp (c, BAD_CAST "publicKeyToken", BAD_CAST "31bf3856ad364e35");
  xmlNewProp (c, BAD_CAST "language", BAD_CAST "neutral");
  xmlNewProp (c, BAD_CAST "versionScope", BAD_CAST "nonSxS");
  return c;
}

static xmlNodePtr
text (xmlNodePtr parent, const char *name, const char *value)
{
  /* xmlNewTextChild escapes the value. */
  return xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST value);
}

char *
unattend_generate (const struct unattend_opts *o, size_t *len_ret)
{
  const char *arch = o->arch ? o->arch : "amd64";
  const char *locale = o->locale ? o->locale : "en-US";
  CLEANUP_XMLFREEDOC xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr root = xmlNewNode (NULL, BAD_CAST "unattend");
  xmlNsPtr ns = xmlNewNs (root, BAD_CAST UNATTEND_NS, NULL);
  xmlSetNs (root, ns);
  xmlNsPtr wcm = xmlNewNs (root, BAD_CAST WCM_NS, BAD_CAST "wcm");
  xmlDocSetRootElement (doc, root);

  if (o->persist_devices) {
    xmlNodePtr s = xmlNewChild (root, ns, BAD_CAST "settings", NULL);
    xmlNewProp (s, BAD_CAST "pass", BAD_CAST "generalize");
    xmlNodePtr c = component (s, wcm, "Microsoft-Windows-PnpSysprep", arch);
    text (c, "PersistAllDeviceInstalls", "true");
    text (c, "DoNotCleanUpNonPresentDevices", "true");
  }

  xmlNodePtr s = xmlNewChild (root, ns, BAD_CAST "settings", NULL);
  xmlNewProp (s, BAD_CAST "pass", BAD_CAST "specialize");
  xmlNodePtr c = component (s, wcm, "Microsoft-Windows-Shell-Setup", arch);
  text (c, "ComputerName", o->computer_name ? o->computer_name : "*");
  if (o->copy_profile)
    text (c, "CopyProfile", "true");
  text (c, "TimeZone", o->timezone ? o->timezone : "UTC");
  if (o->run_sync && o->run_sync[0]) {
    c = component (s, wcm, "Microsoft-Windows-Deployment", arch);
    xmlNodePtr rs = text (c, "RunSynchronous", NULL);
    for (size_t i = 0; o->run_sync[i]; ++i) {
      xmlNodePtr cmd = text (rs, "RunSynchronousCommand", NULL);
      xmlNewNsProp (cmd, wcm, BAD_CAST "action", BAD_CAST "add");
      char order[24];
      snprintf (order, sizeof order, "%zu", i + 1);
      text (cmd, "Order", order);
      text (cmd, "Path", o->run_sync[i]);
    }
  }

  s = xmlNewChild (root, ns, BAD_CAST "settings", NULL);
  xmlNewProp (s, BAD_CAST "pass", BAD_CAST "oobeSystem");
  c = component (s, wcm, "Microsoft-Windows-International-Core", arch);
  text (c, "InputLocale", locale);
  text (c, "SystemLocale", locale);
  text (c, "UILanguage", locale);
  text (c, "UserLocale", locale);
  c = component (s, wcm, "Microsoft-Windows-Shell-Setup", arch);
  xmlNodePtr oobe = text (c, "OOBE", NULL);
  text (oobe, "HideEULAPage", "true");
  text (oobe, "ProtectYourPC", "3");
  if (o->password) {
    CLEANUP_FREE char *hp = hidden_password (o->password);
    if (!hp)
      return NULL;
    xmlNodePtr ua = text (c, "UserAccounts", NULL);
    xmlNodePtr ap = text (ua, "AdministratorPassword", NULL);
    text (ap, "Value", hp);
    text (ap, "PlainText", "false");
    explicit_bzero (hp, strlen (hp));
  }
  if (o->org)
    text (c, "RegisteredOrganization", o->org);
  if (o->owner)
    text (c, "RegisteredOwner", o->owner);

  xmlChar *mem = NULL;
  int size = 0;
  xmlDocDumpFormatMemoryEnc (doc, &mem, &size, "utf-8", 1);
  if (!mem)
    return NULL;
  char *out = ws_malloc ((size_t) size + 1);
  memcpy (out, mem, size);
  out[size] = '\0';
  explicit_bzero (mem, size);
  xmlFree (mem);
  *len_ret = size;
  return out;
}

static int
known_pass (const char *p)
{
  for (size_t i = 0; passes[i]; ++i)
    if (strcmp (p, passes[i]) == 0)
      return 1;
  return 0;
}

static void
silent (void *ctx, const char *msg, ...)
{
  (void) ctx;
  (void) msg;
}

/* The first problem libxml2 reports while parsing (errors, and the
 * namespace warnings: an undeclared prefix makes a document that is not
 * namespace-well-formed). */
struct first_error {
  int set, line;
  char msg[200];
};

#if LIBXML_VERSION >= 21200
static void
on_error (void *ctx, const xmlError *e)
#else
static void
on_error (void *ctx, xmlErrorPtr e)
#endif
{
  struct first_error *fe = ctx;
  if (fe->set || !e)
    return;
  if (e->level < XML_ERR_ERROR && e->domain != XML_FROM_NAMESPACE)
    return;
  fe->set = 1;
  fe->line = e->line;
  const char *m = e->message ? e->message : "not well-formed XML";
  /* libxml2 prefixes some messages with its function's name
   * ("xmlParseCharRef: ..."): not for people. */
  if (strncmp (m, "xml", 3) == 0) {
    const char *colon = strstr (m, ": ");
    if (colon && (size_t) (colon - m) < 40 && !memchr (m, ' ', (size_t) (colon - m)))
      m = colon + 2;
  }
  snprintf (fe->msg, sizeof fe->msg, "%s", m);
  fe->msg[strcspn (fe->msg, "\n")] = '\0';
}

xmlDocPtr
xml_read_untrusted (const char *buf, size_t len, const char *name, size_t max, char *why,
                    size_t whylen, int *line_ret)
{
  *line_ret = 0;
  if (len > max) {
    snprintf (why, whylen, "%zu bytes is larger than the limit (%zu MiB)", len, max >> 20);
    return NULL;
  }
  struct first_error fe = { 0 };
  xmlSetGenericErrorFunc (NULL, silent);
  xmlSetStructuredErrorFunc (&fe, on_error);
  xmlDocPtr doc = xmlReadMemory (buf, (int) len, name, NULL, XML_PARSE_NONET);
  xmlSetStructuredErrorFunc (NULL, NULL);
  if (!doc || fe.set) {
    *line_ret = fe.set ? fe.line : 0;
    snprintf (why, whylen, "%s", fe.set ? fe.msg : "not well-formed XML");
    if (doc)
      xmlFreeDoc (doc);
    return NULL;
  }
  if (doc->intSubset || doc->extSubset) {
    snprintf (why, whylen, "it has a DOCTYPE (no DTD is read; entities are never loaded)");
    xmlFreeDoc (doc);
    return NULL;
  }
  return doc;
}

static xmlDocPtr
parse (const char *buf, size_t len, const char *name)
{
  char why[240];
  int line;
  xmlDocPtr doc = xml_read_untrusted (buf, len, name, UNATTEND_MAX, why, sizeof why, &line);
  if (!doc) {
    if (line)
      ws_error ("%s:%d: not a valid answer file: %s", name, line, why);
    else
      ws_error ("%s: not a valid answer file: %s", name, why);
  }
  return doc;
}

/* processorArchitecture values of the unattend schema (Windows ADK,
 * "Components" reference: the attribute's enumeration). */
static const char *const schema_arches[] = {
  "x86", "ia64", "amd64", "wow64", "msil", "shx", "arm", "arm64", "data", "neutral", NULL,
};

/* Setup applies a component whose architecture is the image's; wow64
 * components (32-bit parts of a 64-bit system) apply on amd64; neutral,
 * msil and data ones on any. */
static int
arch_applies (const char *comp, const char *image)
{
  return strcasecmp (comp, image) == 0
    || (strcasecmp (comp, "wow64") == 0 && strcasecmp (image, "amd64") == 0)
    || strcasecmp (comp, "neutral") == 0 || strcasecmp (comp, "msil") == 0
    || strcasecmp (comp, "data") == 0;
}

/* An unfilled template placeholder ("%arch%", "{{ architecture }}",
 * "${arch}", "$(arch)") in an attribute value. */
static int
placeholder (const char *v)
{
  if (strstr (v, "{{") || strstr (v, "}}") || strstr (v, "${") || strstr (v, "$("))
    return 1;
  const char *p = strchr (v, '%');
  if (!p)
    return 0;
  const char *q = strchr (p + 1, '%');
  if (!q || q == p + 1)
    return 0;
  for (const char *x = p + 1; x < q; ++x)
    if (!(*x == '_' || *x == '-' || *x == '.' || (*x >= 'a' && *x <= 'z')
          || (*x >= 'A' && *x <= 'Z') || (*x >= '0' && *x <= '9')))
      return 0;
  return 1;
}

static int
in_unattend_ns (xmlNodePtr n)
{
  return n->ns && n->ns->href && strcmp ((const char *) n->ns->href, UNATTEND_NS) == 0;
}

/* The component's attributes: present where the schema requires them,
 * with values the schema allows.  Returns 0 or -1 (reported). */
static int
check_component (xmlNodePtr c, const char *name)
{
  static const char *const attrs[] = {
    "name", "processorArchitecture", "publicKeyToken", "language", "versionScope", NULL,
  };
  for (size_t i = 0; attrs[i]; ++i) {
    CLEANUP_FREE xmlChar *xv = xmlGetProp (c, BAD_CAST attrs[i]);
    const char *v = (const char *) xv;
    if (!v && i == 4)
      continue;                 /* versionScope is optional (default nonSxS) */
    if (!v || !*v) {
      ws_error ("%s:%d: not a valid answer file: a component lacks the %s attribute",
                name, c->line, attrs[i]);
      return -1;
    }
    if (placeholder (v)) {
      ws_error ("%s:%d: not a valid answer file: %s=\"%s\" is an unfilled template "
                "placeholder", name, c->line, attrs[i], v);
      return -1;
    }
    if (i == 1) {
      size_t k = 0;
      while (schema_arches[k] && strcasecmp (schema_arches[k], v))
        k++;
      if (!schema_arches[k]) {
        ws_error ("%s:%d: not a valid answer file: processorArchitecture \"%s\" is not one "
                  "of x86, ia64, amd64, wow64, msil, shx, arm, arm64, data, neutral%s", name,
                  c->line, v, strcasecmp (v, "x64") == 0 ? " (64-bit x86 is amd64)" : "");
        return -1;
      }
    }
    if (i == 2 && (strlen (v) != 16 || strspn (v, "0123456789abcdefABCDEF") != 16)) {
      ws_error ("%s:%d: not a valid answer file: publicKeyToken \"%s\" is not 16 hex digits",
                name, c->line, v);
      return -1;
    }
    if (i == 4 && strcasecmp (v, "nonSxS") && strcasecmp (v, "SxS")) {
      ws_error ("%s:%d: not a valid answer file: versionScope \"%s\" is not nonSxS or SxS",
                name, c->line, v);
      return -1;
    }
  }
  return 0;
}

/* Warn about passwords in clear text (<PlainText>true</PlainText>), never
 * naming the password. */
static void
plaintext_passwords (xmlNodePtr n, const char *name)
{
  for (; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE)
      continue;
    if (strcmp ((const char *) n->name, "PlainText") == 0) {
      CLEANUP_FREE xmlChar *t = xmlNodeGetContent (n);
      if (t && strcasecmp ((const char *) t, "true") == 0)
        ws_warning ("%s:%d: the password in <%s> is in clear text (PlainText true): it is in "
                    "the image as it is until the first boot deletes the answer file",
                    name, n->line, n->parent ? (const char *) n->parent->name : "?");
    }
    plaintext_passwords (n->children, name);
  }
}

int
unattend_check_buffer (const char *buf, size_t len, const char *name, const char *arch)
{
  CLEANUP_XMLFREEDOC xmlDocPtr doc = parse (buf, len, name);
  if (!doc)
    return -1;
  xmlNodePtr root = xmlDocGetRootElement (doc);
  if (!root || strcmp ((const char *) root->name, "unattend") != 0 || !in_unattend_ns (root)) {
    ws_error ("%s:%d: not a valid answer file: the root element must be 'unattend' "
              "in the namespace %s", name, root ? root->line : 0, UNATTEND_NS);
    return -1;
  }
  int settings = 0;
  for (xmlNodePtr s = root->children; s; s = s->next) {
    if (s->type != XML_ELEMENT_NODE)
      continue;
    if (strcmp ((const char *) s->name, "settings") != 0)
      continue;                 /* servicing, cpi:offlineImage: not checked */
    if (!in_unattend_ns (s)) {
      ws_error ("%s:%d: not a valid answer file: <settings> is not in the namespace %s",
                name, s->line, UNATTEND_NS);
      return -1;
    }
    settings++;
    CLEANUP_FREE xmlChar *pass = xmlGetProp (s, BAD_CAST "pass");
    if (!pass || !known_pass ((const char *) pass)) {
      ws_error ("%s:%d: not a valid answer file: settings pass \"%s\" is not one of "
                "windowsPE, offlineServicing, generalize, specialize, auditSystem, "
                "auditUser, oobeSystem", name, s->line, pass ? (char *) pass : "");
      return -1;
    }
    size_t comps = 0, applies = 0;
    char others[64] = "";
    for (xmlNodePtr c = s->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (strcmp ((const char *) c->name, "component") != 0) {
        ws_error ("%s:%d: not a valid answer file: <%s> inside <settings> (only "
                  "<component> belongs there)", name, c->line, c->name);
        return -1;
      }
      if (!in_unattend_ns (c)) {
        ws_error ("%s:%d: not a valid answer file: <component> is not in the namespace %s",
                  name, c->line, UNATTEND_NS);
        return -1;
      }
      if (check_component (c, name) == -1)
        return -1;
      comps++;
      CLEANUP_FREE xmlChar *ca = xmlGetProp (c, BAD_CAST "processorArchitecture");
      if (!arch || arch_applies ((const char *) ca, arch))
        applies++;
      else if (!strstr (others, (const char *) ca) && strlen (others) + strlen ((char *) ca) + 3 < sizeof others) {
        if (*others)
          strcat (others, ", ");
        strcat (others, (const char *) ca);
      }
    }
    /* Setup applies the components of the image's architecture and
     * ignores the others (files written for several architectures). */
    if (comps && !applies) {
      ws_error ("%s:%d: answer file settings pass \"%s\": no component is for the image's "
                "processorArchitecture %s (they are for %s)", name, s->line, pass, arch, others);
      return -1;
    }
    if (applies < comps)
      ws_warning ("%s:%d: pass \"%s\": %zu of %zu components are for %s, not the image's %s; "
                  "Setup ignores them", name, s->line, pass, comps - applies, comps, others, arch);
  }
  if (!settings) {
    ws_error ("%s: not a valid answer file: no <settings> element", name);
    return -1;
  }
  plaintext_passwords (root->children, name);
  return 0;
}

int
unattend_check_file (const char *path, const char *arch)
{
  size_t len;
  CLEANUP_FREE char *buf = ws_read_file (path, UNATTEND_MAX, &len);
  if (!buf)
    return -1;
  return unattend_check_buffer (buf, len, path, arch);
}

int
unattend_has_setting (const char *buf, size_t len, const char *pass,
                      const char *comp, const char *element, const char *value)
{
  xmlSetGenericErrorFunc (NULL, silent);
  CLEANUP_XMLFREEDOC xmlDocPtr doc =
    xmlReadMemory (buf, (int) len, "unattend.xml", NULL,
                   XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc || doc->intSubset)
    return 0;
  xmlNodePtr root = xmlDocGetRootElement (doc);
  for (xmlNodePtr s = root ? root->children : NULL; s; s = s->next) {
    if (s->type != XML_ELEMENT_NODE || strcmp ((const char *) s->name, "settings"))
      continue;
    CLEANUP_FREE xmlChar *p = xmlGetProp (s, BAD_CAST "pass");
    if (!p || strcmp ((const char *) p, pass))
      continue;
    for (xmlNodePtr c = s->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      CLEANUP_FREE xmlChar *n = xmlGetProp (c, BAD_CAST "name");
      if (!n || strcmp ((const char *) n, comp))
        continue;
      for (xmlNodePtr e = c->children; e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE || strcmp ((const char *) e->name, element))
          continue;
        CLEANUP_FREE xmlChar *t = xmlNodeGetContent (e);
        if (t && strcasecmp ((const char *) t, value) == 0)
          return 1;
      }
    }
  }
  return 0;
}
