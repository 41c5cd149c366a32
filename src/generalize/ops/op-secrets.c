/* winseal operation secrets: what the golden machine would hand every
 * clone that must be its own (../shared/review/sysprep-parity.md):
 *   - automatic logon: the LSA secret DefaultPassword
 *     (SECURITY\Policy\Secrets\DefaultPassword) and Winlogon's
 *     DefaultPassword and AutoLogonCount, AutoAdminLogon set to "0";
 *   - the last logged-on user LogonUI shows (LastLoggedOn*, SelectedUserSID);
 *   - the Remote Desktop listener's self-signed certificate: its entries in
 *     the "Remote Desktop" system certificate store
 *     (SOFTWARE\Microsoft\SystemCertificates\Remote Desktop\Certificates),
 *     SSLCertificateSHA1Hash of the RDP-Tcp listener in every control set,
 *     and its private key's file in ProgramData\Microsoft\Crypto\RSA\MachineKeys
 *     (the CryptoAPI key file whose container the certificate's key
 *     provider property names, TSSecKeySet1 for the self-signed one), so
 *     that each machine makes its own at first start of the service.
 * A key file's container name: the third DWORD of its header is the
 * name's length (with its NUL), the name follows the ten-DWORD header at
 * 0x28.  A store entry's Blob is a list of properties (id, 1, length,
 * data); property 2 (CERT_KEY_PROV_INFO_PROP_ID) is a CRYPT_KEY_PROV_INFO
 * whose first DWORD is the offset of the UTF-16 container name. */
#include <config.h>

#include <string.h>
#include <strings.h>

#include "guest/appliance.h"
#include "generalize/generalize.h"
#include "registry/hive.h"
#include "util/util.h"

#define WINLOGON "Microsoft\\Windows NT\\CurrentVersion\\Winlogon"
#define LOGONUI "Microsoft\\Windows\\CurrentVersion\\Authentication\\LogonUI"
#define RDP_STORE "Microsoft\\SystemCertificates\\Remote Desktop\\Certificates"
#define RDP_TCP "Control\\Terminal Server\\WinStations\\RDP-Tcp"
#define MACHINE_KEYS "ProgramData/Microsoft/Crypto/RSA/MachineKeys"
#define SELF_SIGNED_CONTAINER "TSSecKeySet1"
#define CONTAINERS_MAX 16

static int
is_logonui_user (const char *n, void *arg)
{
  (void) arg;
  return strncasecmp (n, "LastLoggedOn", 12) == 0 || strcasecmp (n, "SelectedUserSID") == 0;
}

static int
is_winlogon_secret (const char *n, void *arg)
{
  (void) arg;
  return strcasecmp (n, "DefaultPassword") == 0 || strcasecmp (n, "AutoLogonCount") == 0;
}

/* The container named by a store entry's Blob (ASCII only), into out. */
static int
blob_container (const uint8_t *b, size_t len, char *out, size_t outlen)
{
  for (size_t p = 0; p + 12 <= len;) {
    uint32_t id = le32 (b + p), plen = le32 (b + p + 8);
    if (plen > len - p - 12)
      return -1;
    const uint8_t *d = b + p + 12;
    if (id == 2 && plen >= 28) {
      uint32_t off = le32 (d);
      size_t k = 0;
      for (uint32_t i = off; off >= 28 && i + 1 < plen && k + 1 < outlen; i += 2) {
        unsigned c = d[i] | (unsigned) d[i + 1] << 8;
        if (c == 0)
          break;
        if (c < 0x20 || c > 0x7E)
          return -1;
        out[k++] = (char) c;
      }
      out[k] = '\0';
      return k ? 0 : -1;
    }
    p += 12 + plen;
  }
  return -1;
}

/* The containers of the RDP store's certificates (SELF_SIGNED_CONTAINER
 * always among them). */
static size_t
rdp_containers (hive_h *sw, hive_node_h store, char names[CONTAINERS_MAX][256])
{
  size_t n = 0;
  snprintf (names[n++], 256, "%s", SELF_SIGNED_CONTAINER);
  CLEANUP_FREE hive_node_h *certs = store ? hivex_node_children (sw, store) : NULL;
  for (size_t i = 0; certs && certs[i] && n < CONTAINERS_MAX; ++i) {
    size_t len;
    hive_type t;
    CLEANUP_FREE uint8_t *blob = hive_get_bytes (sw, certs[i], "Blob", &len, &t);
    if (blob && blob_container (blob, len, names[n], 256) == 0
        && strcasecmp (names[n], SELF_SIGNED_CONTAINER) != 0)
      n++;
  }
  return n;
}

/* Whether a machine key file (its first bytes) holds one of the containers. */
static int
key_file_is (const uint8_t *f, size_t len, char names[][256], size_t n)
{
  if (len < 0x28 + 2)
    return 0;
  uint32_t nl = le32 (f + 8);
  if (nl < 2 || nl > 256 || 0x28 + (size_t) nl > len || f[0x28 + nl - 1] != 0)
    return 0;
  for (size_t i = 0; i < n; ++i)
    if (strlen (names[i]) + 1 == nl && memcmp (f + 0x28, names[i], nl) == 0)
      return 1;
  return 0;
}

/* perform (act) or verify: what is left is a failure. */
static int
walk (struct gen *g, int act)
{
  hive_h *sw = gen_hive (g, "SOFTWARE"), *sec = gen_hive (g, "SECURITY");
  if (!sw || !sec)
    return -1;
  hive_node_h root = hivex_root (sw);
  /* Automatic logon. */
  hive_node_h secrets = hive_walk (sec, hivex_root (sec), "Policy\\Secrets");
  hive_node_h dp = secrets ? hivex_node_get_child (sec, secrets, "DefaultPassword") : 0;
  if (dp && act) {
    if (gen_delete_key (g, "SECURITY", dp, "Policy\\Secrets") == -1)
      return -1;
  }
  else if (dp)
    gen_fail (g, "secrets: the LSA secret DefaultPassword is still there");
  hive_node_h wl = hive_walk (sw, root, WINLOGON);
  if (wl && act) {
    if (gen_delete_values (g, "SOFTWARE", wl, WINLOGON, is_winlogon_secret, NULL) == -1)
      return -1;
    CLEANUP_FREE char *al = hive_get_string (sw, wl, "AutoAdminLogon");
    if (al && gen_set_string (g, "SOFTWARE", wl, WINLOGON, "AutoAdminLogon", "0", hive_t_REG_SZ) == -1)
      return -1;
  }
  else if (wl) {
    if (hivex_node_get_value (sw, wl, "DefaultPassword"))
      gen_fail (g, "secrets: Winlogon's DefaultPassword is still there");
    CLEANUP_FREE char *al = hive_get_string (sw, wl, "AutoAdminLogon");
    if (al && strcmp (al, "0") != 0)
      gen_fail (g, "secrets: Winlogon's AutoAdminLogon is \"%s\"", al);
  }
  hive_node_h lu = hive_walk (sw, root, LOGONUI);
  if (lu && act && gen_delete_values (g, "SOFTWARE", lu, LOGONUI, is_logonui_user, NULL) == -1)
    return -1;
  if (lu && !act) {
    CLEANUP_FREE hive_value_h *v = hivex_node_values (sw, lu);
    for (size_t i = 0; v && v[i]; ++i) {
      CLEANUP_FREE char *vn = hivex_value_key (sw, v[i]);
      if (vn && is_logonui_user (vn, NULL))
        gen_fail (g, "secrets: LogonUI's %s is still there", vn);
    }
  }
  /* The RDP certificate: its key files first (the store names them). */
  hive_node_h store = hive_walk (sw, root, RDP_STORE);
  char names[CONTAINERS_MAX][256];
  size_t nn = rdp_containers (sw, store, names);
  CLEANUP_FREE char *kdir = win_path (g->w, MACHINE_KEYS);
  if (kdir && win_is_dir (g->w, kdir)) {
    CLEANUP_FREE_STRING_LIST char **files = guestfs_ls (g->g, kdir);
    if (!files) {
      ws_error ("%s: cannot list %s: %s", g->w->image, kdir, appliance_error (g->g));
      return -1;
    }
    for (size_t i = 0; files[i]; ++i) {
      CLEANUP_FREE char *p = ws_strconcat (kdir, "/", files[i], NULL);
      if (!win_is_file (g->w, p))
        continue;
      size_t len = 0;
      CLEANUP_FREE char *head = gen_read_file (g, p, &len);
      if (!head || !key_file_is ((const uint8_t *) head, len, names, nn))
        continue;
      if (!act)
        gen_fail (g, "secrets: the RDP certificate's key file %s is still there", files[i]);
      else if (gen_rm_rf (g, p, NULL) == -1)
        return -1;
      else
        gen_change (g, "%s/%s: removed (the RDP certificate's private key)", MACHINE_KEYS, files[i]);
    }
  }
  if (store && act && gen_delete_subkeys (g, "SOFTWARE", store, RDP_STORE) == -1)
    return -1;
  if (store && !act) {
    CLEANUP_FREE hive_node_h *ch = hivex_node_children (sw, store);
    if (ch && ch[0])
      gen_fail (g, "secrets: the Remote Desktop certificate store is not empty");
  }
  size_t nsets;
  CLEANUP_FREE hive_node_h *sets = gen_control_sets (g, &nsets);
  if (!sets)
    return -1;
  hive_h *sys = gen_hive (g, "SYSTEM");
  for (size_t i = 0; i < nsets; ++i) {
    hive_node_h rt = hive_walk (sys, sets[i], RDP_TCP);
    CLEANUP_FREE char *cs = hivex_node_name (sys, sets[i]);
    CLEANUP_FREE char *path = ws_asprintf ("%s\\%s", cs ? cs : "?", RDP_TCP);
    if (act && gen_delete_value (g, "SYSTEM", rt, path, "SSLCertificateSHA1Hash") == -1)
      return -1;
    if (!act && rt && hivex_node_get_value (sys, rt, "SSLCertificateSHA1Hash"))
      gen_fail (g, "secrets: SYSTEM\\%s\\SSLCertificateSHA1Hash is still there", path);
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
    gen_fail (g, "secrets: the hives cannot be read");
}

const struct operation op_secrets = {
  .name = "secrets",
  .heading = "Remove the golden machine's secrets",
  .description =
    "Removes the automatic logon's password (the LSA secret "
    "SECURITY\\Policy\\Secrets\\DefaultPassword, Winlogon's DefaultPassword and "
    "AutoLogonCount; AutoAdminLogon becomes \"0\"), the last logged-on user LogonUI "
    "shows (LastLoggedOn*, SelectedUserSID), and the Remote Desktop listener's "
    "self-signed certificate: the entries of the \"Remote Desktop\" system "
    "certificate store, SSLCertificateSHA1Hash of the RDP-Tcp listener in every "
    "control set and the private key's CryptoAPI file in "
    "ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys (the container the "
    "certificate names, and TSSecKeySet1), so that each machine makes its own "
    "certificate when Remote Desktop starts.  Other LSA secrets (DPAPI_SYSTEM, "
    "NL$KM and services' passwords) are kept: Windows needs them and they cannot "
    "be re-created offline.",
  .enabled_by_default = 1,
  .perform = perform,
  .verify = verify,
};
