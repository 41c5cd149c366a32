/* winseal operation network-state: what the golden machine learnt of its
 * networks, which Sysprep's generalize pass (and the cloud agents'
 * image preparation) drop (../shared/review/sysprep-parity.md): each
 * interface's DHCP lease (the Dhcp* values, Lease*, T1, T2 under
 * Tcpip\Parameters\Interfaces, and under its per-network subkeys), the
 * DHCPv6 client identifier (Tcpip6\Parameters\Dhcpv6DUID: clones sharing
 * one get one IPv6 lease), the persistent routes to 169.254.0.0/16 (the
 * instance metadata and KMS routes EC2Launch v1 adds for the golden
 * machine's gateway), and the Network List Service's memory of networks
 * (NetworkList Profiles, Signatures, Nla\Cache).  EnableDHCP and static
 * settings are kept. */
#include <config.h>

#include <string.h>
#include <strings.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/util.h"

#define TCPIP_IF "Services\\Tcpip\\Parameters\\Interfaces"
#define ROUTES "Services\\Tcpip\\Parameters\\PersistentRoutes"
#define TCPIP6 "Services\\Tcpip6\\Parameters"
#define NETLIST "Microsoft\\Windows NT\\CurrentVersion\\NetworkList"

static const char *const netlist_keys[] = {
  NETLIST "\\Profiles", NETLIST "\\Signatures\\Managed", NETLIST "\\Signatures\\Unmanaged",
  NETLIST "\\Nla\\Cache", NULL,
};

/* A lease value: Dhcp*, Lease*, T1, T2. */
static int
is_lease (const char *name, void *arg)
{
  (void) arg;
  return strncasecmp (name, "Dhcp", 4) == 0 || strncasecmp (name, "Lease", 5) == 0
    || strcasecmp (name, "T1") == 0 || strcasecmp (name, "T2") == 0;
}

/* A persistent route to 169.254.0.0/16 (named "DEST,MASK,GATEWAY,METRIC"). */
static int
is_link_local_route (const char *name, void *arg)
{
  (void) arg;
  return strncmp (name, "169.254.", 8) == 0;
}

static int
is_duid (const char *name, void *arg)
{
  (void) arg;
  return strcasecmp (name, "Dhcpv6DUID") == 0;
}

/* Walk the state to drop: delete it (act, perform) or record what is
 * left as failures (verify). */
static int
walk (struct gen *g, int act)
{
  hive_h *sys = gen_hive (g, "SYSTEM"), *sw = gen_hive (g, "SOFTWARE");
  if (!sys || !sw)
    return -1;
  size_t nsets;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &nsets);
  if (!sets)
    return -1;
  for (size_t i = 0; i < nsets; ++i) {
    CLEANUP_FREE char *csname = hivex_node_name (sys, sets[i]);
    struct { const char *path; int (*match) (const char *, void *); int depth; } what[] = {
      { TCPIP_IF, is_lease, 2 }, { ROUTES, is_link_local_route, 0 }, { TCPIP6, is_duid, 0 },
    };
    for (size_t w = 0; w < sizeof what / sizeof what[0]; ++w) {
      hive_node_h base = hive_walk (sys, sets[i], what[w].path);
      if (!base)
        continue;
      /* The key itself (depth 0), or its subkeys and theirs (the
       * interfaces and their per-network keys). */
      hive_node_h todo[1024];
      char *paths[1024];
      size_t nt = 0;
      if (what[w].depth == 0) {
        todo[nt] = base;
        paths[nt++] = ws_asprintf ("%s\\%s", csname, what[w].path);
      }
      else {
        CLEANUP_FREE hive_node_h *ifs = hivex_node_children (sys, base);
        for (size_t k = 0; ifs && ifs[k] && nt < 1024; ++k) {
          CLEANUP_FREE char *in = hivex_node_name (sys, ifs[k]);
          todo[nt] = ifs[k];
          paths[nt++] = ws_asprintf ("%s\\%s\\%s", csname, what[w].path, in ? in : "?");
          CLEANUP_FREE hive_node_h *sub = hivex_node_children (sys, ifs[k]);
          for (size_t m = 0; sub && sub[m] && nt < 1024; ++m) {
            CLEANUP_FREE char *sn = hivex_node_name (sys, sub[m]);
            todo[nt] = sub[m];
            paths[nt++] = ws_asprintf ("%s\\%s\\%s\\%s", csname, what[w].path, in ? in : "?",
                                       sn ? sn : "?");
          }
        }
      }
      int r = 0;
      for (size_t k = 0; k < nt; ++k) {
        if (r == 0 && act)
          r = gen_delete_values (g, "SYSTEM", todo[k], paths[k], what[w].match, NULL) < 0 ? -1 : 0;
        else if (r == 0) {
          CLEANUP_FREE hive_value_h *v = hivex_node_values (sys, todo[k]);
          for (size_t m = 0; v && v[m]; ++m) {
            CLEANUP_FREE char *vn = hivex_value_key (sys, v[m]);
            if (vn && what[w].match (vn, NULL)) {
              gen_fail (g, "network-state: SYSTEM\\%s\\%s is still there", paths[k], vn);
            }
          }
        }
        free (paths[k]);
      }
      if (r == -1)
        return -1;
    }
  }
  for (size_t i = 0; netlist_keys[i]; ++i) {
    hive_node_h k = hive_walk (sw, hivex_root (sw), netlist_keys[i]);
    if (!k)
      continue;
    if (act) {
      if (gen_delete_subkeys (g, "SOFTWARE", k, netlist_keys[i]) == -1)
        return -1;
    }
    else {
      CLEANUP_FREE hive_node_h *ch = hivex_node_children (sw, k);
      if (ch && ch[0]) {
        gen_fail (g, "network-state: SOFTWARE\\%s still has subkeys", netlist_keys[i]);
      }
    }
  }
  return 0;
}

static int
perform (struct gen *g)
{
  return walk (g, 1);
}

static void
verify (struct gen *g)
{
  if (walk (g, 0) == -1)
    gen_fail (g, "network-state: the SYSTEM and SOFTWARE hives cannot be read");
}

const struct operation op_network_state = {
  .name = "network-state",
  .heading = "Forget the golden machine's networks",
  .description =
    "Deletes, in every control set, each interface's DHCP lease (the values "
    "Dhcp*, Lease*, T1 and T2 under Services\\Tcpip\\Parameters\\Interfaces and its "
    "per-network subkeys; EnableDHCP and static addresses stay), "
    "Services\\Tcpip6\\Parameters\\Dhcpv6DUID (so that clones do not share one DHCPv6 "
    "identity) and the persistent routes to 169.254.0.0/16 (the metadata and KMS "
    "routes EC2Launch v1 adds for the golden machine's gateway); and in SOFTWARE "
    "the Network List Service's profiles, signatures and Nla\\Cache "
    "(Microsoft\\Windows NT\\CurrentVersion\\NetworkList), as Sysprep's generalize "
    "pass does.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
