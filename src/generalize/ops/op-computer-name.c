/* winseal operation computer-name: reset the computer name in every
 * control set (ComputerName, ActiveComputerName, Tcpip Hostname and NV
 * Hostname) and in SECURITY's PolAcDmN. */
#include <config.h>

#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/json-out.h"
#include "registry/sam.h"
#include "util/util.h"

/* "WIN-" and 11 random letters and digits, as Windows Setup names a
 * machine. */
static char *
generated_name (void)
{
  static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  uint8_t rnd[11];
  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    abort ();
  char *n = ws_malloc (16);
  memcpy (n, "WIN-", 4);
  for (int i = 0; i < 11; ++i)
    n[4 + i] = set[rnd[i] % 36];
  n[15] = '\0';
  return n;
}

static int
set_lsa_name (struct gen *g, const char *name)
{
  struct ghive *gh = gen_ghive (g, "SECURITY");
  hive_h *h = gen_ghive_handle (g, gh);
  if (!h)
    return -1;
  hive_node_h k = gen_mkkey (g, h, hivex_root (h), "Policy\\PolAcDmN");
  CLEANUP_FREE char *old = lsa_policy_name (h, "PolAcDmN");
  if (!k)
    return -1;
  size_t l;
  CLEANUP_FREE uint8_t *u = utf8_to_utf16le (name, &l);
  /* LSA UNICODE_STRING: length, maximum length, offset of the text. */
  CLEANUP_FREE uint8_t *b = ws_malloc (8 + l + 2);
  put_le16 (b, (uint16_t) l);
  put_le16 (b + 2, (uint16_t) (l + 2));
  put_le32 (b + 4, 8);
  memcpy (b + 8, u, l);
  b[8 + l] = b[9 + l] = 0;
  if (gen_set_value (g, gh, k, "", hive_t_REG_NONE, b, 8 + l + 2) == -1)
    return -1;
  gen_change (g, "SECURITY\\Policy\\PolAcDmN: \"%s\" -> \"%s\"", old ? old : "", name);
  return 0;
}

static const struct { const char *key, *value; int create; } places[] = {
  { "Control\\ComputerName\\ComputerName", "ComputerName", 1 },
  { "Control\\ComputerName\\ActiveComputerName", "ComputerName", 0 },
  { "Services\\Tcpip\\Parameters", "Hostname", 0 },
  { "Services\\Tcpip\\Parameters", "NV Hostname", 0 },
};

static int
perform (struct gen *g)
{
  char *name = g->o->computer_name ? ws_strdup (g->o->computer_name) : generated_name ();
  g->computer_name = name;
  jadd_str (g->op, "computer_name", name);
  for (size_t p = 0; p < sizeof places / sizeof places[0]; ++p)
    if (gen_set_all_sets (g, places[p].key, places[p].create, places[p].value,
                          hive_t_REG_SZ, name, 0) == -1)
      return -1;
  return set_lsa_name (g, name);
}

static void
verify (struct gen *g)
{
  hive_h *sec = gen_hive (g, "SECURITY"), *h = gen_hive (g, "SYSTEM");
  CLEANUP_FREE char *lsa = sec ? lsa_policy_name (sec, "PolAcDmN") : NULL;
  size_t n;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &n);
  if (!lsa || !sets) {
    gen_fail (g, "computer-name: cannot read the computer name");
    return;
  }
  jadd_str (g->op, "computer_name", lsa);
  for (size_t i = 0; i < n; ++i)
    for (size_t p = 0; p < sizeof places / sizeof places[0]; ++p) {
      hive_node_h k = hive_walk (h, sets[i], places[p].key);
      CLEANUP_FREE char *v = k ? hive_get_string (h, k, places[p].value) : NULL;
      if (v && strcasecmp (v, lsa) != 0) {
        CLEANUP_FREE char *cs = hivex_node_name (h, sets[i]);
        gen_fail (g, "computer-name: %s\\%s\\%s is \"%s\", PolAcDmN is \"%s\"", cs,
                  places[p].key, places[p].value, v, lsa);
      }
    }
}

const struct operation op_computer_name = {
  .name = "computer-name",
  .heading = "Reset the computer name",
  .description =
    "Sets a new computer name in every control set (ComputerName, "
    "ActiveComputerName, Tcpip Hostname and NV Hostname) and in SECURITY's "
    "PolAcDmN: --computer-name NAME, or a generated WIN-XXXXXXXXXXX name.  Without "
    "--computer-name the answer file asks Setup for a new name at first boot "
    "(<ComputerName>*</ComputerName>).",
  .enabled_by_default = 1,
  .options = "--computer-name NAME",
  .perform = perform,
  .verify = verify,
};
