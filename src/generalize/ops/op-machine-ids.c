/* winseal operation machine-ids: the per-machine identifiers Sysprep's
 * generalize pass resets beside the SID (../shared/review/sysprep-parity.md
 * lists the sources): a new Cryptography\MachineGuid; the CEIP/SQM
 * MachineId and the Windows Update (WSUS) client identity (SusClientId,
 * SusClientIdValidation, PingID, AccountDomainSid) deleted, so that each
 * machine makes its own on first use (WSUS tells its clients apart by
 * SusClientId: clones sharing one appear as one computer); and the
 * random number generator's saved seed (SYSTEM\RNG\Seed) replaced by new
 * random bytes of its length, so clones do not start from one state. */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/util.h"

#define CRYPTO_KEY "Microsoft\\Cryptography"
#define SQM_KEY "Microsoft\\SQMClient"
#define WU_KEY "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate"
#define SEED_MAX 4096

static const char *const wu_values[] = {
  "SusClientId", "SusClientIdValidation", "PingID", "AccountDomainSid", NULL,
};

static void
random_bytes (void *p, size_t n)
{
  if (getrandom (p, n, 0) != (ssize_t) n)
    abort ();
}

/* A random (version 4) GUID as MachineGuid holds one: lower case, no
 * braces. */
static void
new_guid (char out[37])
{
  uint8_t b[16];
  random_bytes (b, sizeof b);
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
            b[12], b[13], b[14], b[15]);
}

static int
is_guid (const char *s)
{
  if (!s || strlen (s) != 36)
    return 0;
  for (int i = 0; i < 36; ++i)
    if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !isxdigit ((unsigned char) s[i]))
      return 0;
  return 1;
}

static int
perform (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE"), *sys = gen_hive (g, "SYSTEM");
  if (!sw || !sys)
    return -1;
  hive_node_h root = hivex_root (sw);
  char guid[37];
  new_guid (guid);
  hive_node_h c = gen_mkkey (g, sw, root, CRYPTO_KEY);
  if (!c || gen_set_string (g, "SOFTWARE", c, CRYPTO_KEY, "MachineGuid", guid, hive_t_REG_SZ) == -1)
    return -1;
  if (gen_delete_value (g, "SOFTWARE", hive_walk (sw, root, SQM_KEY), SQM_KEY, "MachineId") == -1)
    return -1;
  hive_node_h wu = hive_walk (sw, root, WU_KEY);
  for (size_t i = 0; wu_values[i]; ++i)
    if (gen_delete_value (g, "SOFTWARE", wu, WU_KEY, wu_values[i]) == -1)
      return -1;
  hive_node_h rng = hive_walk (sys, hivex_root (sys), "RNG");
  size_t len = 0;
  hive_type t;
  CLEANUP_FREE uint8_t *seed = rng ? hive_get_bytes (sys, rng, "Seed", &len, &t) : NULL;
  if (seed && t == hive_t_REG_BINARY && len > 0 && len <= SEED_MAX) {
    random_bytes (seed, len);
    if (gen_set_value (g, gen_ghive (g, "SYSTEM"), rng, "Seed", t, seed, len) == -1)
      return -1;
    gen_change (g, "SYSTEM\\RNG\\Seed: %zu new random bytes", len);
  }
  else if (seed)
    gen_warn (g, "machine-ids: SYSTEM\\RNG\\Seed is not a binary value of 1 to %d bytes; "
              "left as it is", SEED_MAX);
  return 0;
}

static void
verify (struct gen *g)
{
  hive_h *sw = gen_hive (g, "SOFTWARE");
  if (!sw) {
    gen_fail (g, "machine-ids: the SOFTWARE hive cannot be read");
    return;
  }
  hive_node_h root = hivex_root (sw);
  hive_node_h c = hive_walk (sw, root, CRYPTO_KEY);
  CLEANUP_FREE char *guid = c ? hive_get_string (sw, c, "MachineGuid") : NULL;
  if (!is_guid (guid))
    gen_fail (g, "machine-ids: SOFTWARE\\%s\\MachineGuid is %s, not a GUID", CRYPTO_KEY,
              guid ? guid : "absent");
  hive_node_h sqm = hive_walk (sw, root, SQM_KEY);
  if (sqm && hivex_node_get_value (sw, sqm, "MachineId"))
    gen_fail (g, "machine-ids: SOFTWARE\\%s\\MachineId is still there", SQM_KEY);
  hive_node_h wu = hive_walk (sw, root, WU_KEY);
  for (size_t i = 0; wu && wu_values[i]; ++i)
    if (hivex_node_get_value (sw, wu, wu_values[i]))
      gen_fail (g, "machine-ids: SOFTWARE\\%s\\%s is still there", WU_KEY, wu_values[i]);
}

const struct operation op_machine_ids = {
  .name = "machine-ids",
  .heading = "Reset the per-machine identifiers",
  .description =
    "Gives the machine a new random SOFTWARE\\Microsoft\\Cryptography\\MachineGuid; "
    "deletes SOFTWARE\\Microsoft\\SQMClient\\MachineId and, under "
    "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate, SusClientId, "
    "SusClientIdValidation, PingID and AccountDomainSid (Windows Update makes a new "
    "client identity, so that WSUS does not see every clone as one computer); and "
    "replaces SYSTEM\\RNG\\Seed with new random bytes of the same length.  As "
    "Sysprep's generalize pass resets them.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
