/* winseal: generating and validating unattend.xml with libxml2.  No
 * network access and no external entity is ever loaded: documents with a
 * DTD are refused, and parsing uses XML_PARSE_NONET without entity
 * substitution. */
#include <config.h>

#include <errno.h>
#include <string.h>

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

static xmlDocPtr
parse (const char *buf, size_t len, const char *name)
{
  if (len > 16 << 20) {
    ws_error ("%s: an answer file of %zu bytes is too large", name, len);
    return NULL;
  }
  xmlSetGenericErrorFunc (NULL, silent);
  xmlResetLastError ();
  xmlDocPtr doc = xmlReadMemory (buf, (int) len, name, NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    const xmlError *e = xmlGetLastError ();
    char msg[200] = "not well-formed XML";
    if (e && e->message) {
      snprintf (msg, sizeof msg, "%s", e->message);
      msg[strcspn (msg, "\n")] = '\0';
    }
    ws_error ("%s:%d: not a valid answer file: %s", name, e ? e->line : 0, msg);
    return NULL;
  }
  if (doc->intSubset || doc->extSubset) {
    ws_error ("%s: not a valid answer file: it has a DOCTYPE (answer files have "
              "no DTD; entities are never loaded)", name);
    xmlFreeDoc (doc);
    return NULL;
  }
  return doc;
}

static const char *const comp_attrs[] = {
  "name", "processorArchitecture", "publicKeyToken", "language", "versionScope", NULL,
};

int
unattend_check_buffer (const char *buf, size_t len, const char *name, const char *arch)
{
  CLEANUP_XMLFREEDOC xmlDocPtr doc = parse (buf, len, name);
  if (!doc)
    return -1;
  xmlNodePtr root = xmlDocGetRootElement (doc);
  if (!root || strcmp ((const char *) root->name, "unattend") != 0
      || !root->ns || strcmp ((const char *) root->ns->href, UNATTEND_NS) != 0) {
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
    settings++;
    CLEANUP_FREE xmlChar *pass = xmlGetProp (s, BAD_CAST "pass");
    if (!pass || !known_pass ((const char *) pass)) {
      ws_error ("%s:%d: not a valid answer file: settings pass \"%s\" is not one of "
                "windowsPE, offlineServicing, generalize, specialize, auditSystem, "
                "auditUser, oobeSystem", name, s->line, pass ? (char *) pass : "");
      return -1;
    }
    for (xmlNodePtr c = s->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (strcmp ((const char *) c->name, "component") != 0) {
        ws_error ("%s:%d: not a valid answer file: <%s> inside <settings> (only "
                  "<component> belongs there)", name, c->line, c->name);
        return -1;
      }
      for (size_t i = 0; comp_attrs[i]; ++i) {
        CLEANUP_FREE xmlChar *v = xmlGetProp (c, BAD_CAST comp_attrs[i]);
        if (!v || !*v) {
          ws_error ("%s:%d: not a valid answer file: a component lacks the %s attribute",
                    name, c->line, comp_attrs[i]);
          return -1;
        }
        if (arch && i == 1 && strcmp ((const char *) v, arch) != 0) {
          ws_error ("%s:%d: answer file component is for processorArchitecture \"%s\" "
                    "but the image is %s", name, c->line, v, arch);
          return -1;
        }
      }
    }
  }
  if (!settings) {
    ws_error ("%s: not a valid answer file: no <settings> element", name);
    return -1;
  }
  return 0;
}

int
unattend_check_file (const char *path, const char *arch)
{
  size_t len;
  CLEANUP_FREE char *buf = ws_read_file (path, 16 << 20, &len);
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
