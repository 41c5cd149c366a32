/* winseal: EC2Config's Config.xml (agentconf.h).  Parsed with libxml2 as
 * the answer files are: no network, no DTD, no entity loading; every
 * element is checked before it is used. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "generalize/agentconf.h"
#include "generalize/unattend.h"
#include "util/util.h"

const char *const ec2config_first_boot_plugins[] = {
  "Ec2SetPassword", "Ec2HandleUserData", "Ec2SetComputerName", NULL,
};

#define XML_MAX (16 << 20)

static int
is (xmlNodePtr n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && xmlStrcmp (n->name, BAD_CAST name) == 0;
}

/* The one child element called name; NULL when none, *dup set when
 * several. */
static xmlNodePtr
only_child (xmlNodePtr n, const char *name, int *dup)
{
  xmlNodePtr found = NULL;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (is (c, name)) {
      if (found)
        *dup = 1;
      found = c;
    }
  return found;
}

int
ec2config_enable (const char *xml, size_t len, char **out_ret, size_t *outlen_ret,
                  int *changed_ret, int *missing_ret, char *why, size_t whylen)
{
  *out_ret = NULL;
  *outlen_ret = 0;
  *changed_ret = *missing_ret = 0;
  int line;
  char msg[240];
  xmlDocPtr doc = xml_read_untrusted (xml, len, "Config.xml", XML_MAX, msg, sizeof msg, &line);
  if (!doc) {
    if (line)
      snprintf (why, whylen, "line %d: %s", line, msg);
    else
      snprintf (why, whylen, "%s", msg);
    return -1;
  }
  int r = -1;
  xmlNodePtr root = xmlDocGetRootElement (doc);
  if (!root || !is (root, "Ec2ConfigurationSettings")) {
    snprintf (why, whylen, "the root element is not Ec2ConfigurationSettings");
    goto out;
  }
  int dup = 0;
  xmlNodePtr plugins = only_child (root, "Plugins", &dup);
  if (!plugins || dup) {
    snprintf (why, whylen, "%s Plugins element", dup ? "more than one" : "no");
    goto out;
  }
  int seen[8] = { 0 };
  int changed = 0;
  for (xmlNodePtr p = plugins->children; p; p = p->next) {
    if (!is (p, "Plugin"))
      continue;
    int d = 0;
    xmlNodePtr name = only_child (p, "Name", &d);
    xmlNodePtr state = only_child (p, "State", &d);
    if (!name || !state || d) {
      snprintf (why, whylen, "a Plugin (line %ld) without exactly one Name and one State",
                xmlGetLineNo (p));
      goto out;
    }
    xmlChar *n = xmlNodeGetContent (name);
    xmlChar *s = xmlNodeGetContent (state);
    for (size_t i = 0; n && s && ec2config_first_boot_plugins[i]; ++i)
      if (xmlStrcmp (n, BAD_CAST ec2config_first_boot_plugins[i]) == 0) {
        seen[i] = 1;
        if (xmlStrcmp (s, BAD_CAST "Enabled") != 0) {
          xmlNodeSetContent (state, BAD_CAST "Enabled");
          changed++;
        }
      }
    xmlFree (n);
    xmlFree (s);
  }
  for (size_t i = 0; ec2config_first_boot_plugins[i]; ++i)
    *missing_ret += !seen[i];
  *changed_ret = changed;
  if (changed) {
    xmlChar *buf = NULL;
    int n = 0;
    xmlDocDumpMemoryEnc (doc, &buf, &n, "utf-8");
    if (!buf || n <= 0) {
      xmlFree (buf);
      snprintf (why, whylen, "cannot be written back");
      goto out;
    }
    *out_ret = ws_malloc ((size_t) n + 1);
    memcpy (*out_ret, buf, (size_t) n);
    (*out_ret)[n] = '\0';
    *outlen_ret = (size_t) n;
    xmlFree (buf);
  }
  r = 0;
out:
  xmlFreeDoc (doc);
  return r;
}
