/* Unit tests: SAM and SECURITY parsers on the real hives of
 * ../shared/hives and on malformed values. */
#include <config.h>

#include <hivex.h>

#include "registry/hive.h"
#include "registry/sam.h"
#include "unit.h"
#include "util/util.h"

static void
malformed (void)
{
  uint8_t v[0x40] = { 0 };
  const uint8_t *p;
  size_t l;
  /* Descriptor 1 of a domain V pointing past the end. */
  put_le32 (v + 12, 0x100);
  put_le32 (v + 16, 24);
  CHECK (sam_item (v, sizeof v, &sam_domain_v_layout, 1, &p, &l, NULL) == -1);
  /* Offset + length overflowing 32 bits. */
  put_le32 (v + 12, 0xFFFFFFF0);
  put_le32 (v + 16, 0x20);
  CHECK (sam_item (v, sizeof v, &sam_domain_v_layout, 1, &p, &l, NULL) == -1);
  /* In range. */
  put_le32 (v + 12, 0);
  put_le32 (v + 16, 0x10);
  CHECK (sam_item (v, sizeof v, &sam_domain_v_layout, 1, &p, &l, NULL) == 0
         && p == v + 0x30 && l == 0x10);
  /* Descriptor index out of the table, table past the buffer. */
  CHECK (sam_item (v, sizeof v, &sam_domain_v_layout, 4, &p, &l, NULL) == -1);
  CHECK (sam_item (v, 20, &sam_domain_v_layout, 1, &p, &l, NULL) == -1);
  CHECK (sam_item (v, sizeof v, &sam_user_v_layout, 0, &p, &l, NULL) == -1);

  /* Alias C with a member count larger than the data can hold. */
  uint8_t c[0x34 + 12] = { 0 };
  put_le32 (c + 0x28, 0);          /* members offset */
  put_le32 (c + 0x2C, 12);         /* length */
  put_le32 (c + 0x30, 5);          /* count */
  struct sid *s;
  size_t n;
  CHECK (sam_alias_members (c, sizeof c, &s, &n) == -1);
  /* One 12-byte SID: S-1-5-4. */
  put_le32 (c + 0x30, 1);
  uint8_t sid4[12] = { 1, 1, 0, 0, 0, 0, 0, 5, 4, 0, 0, 0 };
  memcpy (c + 0x34, sid4, 12);
  CHECK (sam_alias_members (c, sizeof c, &s, &n) == 0 && n == 1 && s[0].sub[0] == 4);
  free (s);
  /* Count says 2 but the second SID is missing. */
  put_le32 (c + 0x30, 2);
  put_le32 (c + 0x2C, 12);
  CHECK (sam_alias_members (c, sizeof c, &s, &n) == -1);
}

int
main (void)
{
  malformed ();

  static const char *const names[] = { "SAM", "SECURITY", "SYSTEM", NULL };
  char *dir, *paths[3] = { NULL };
  int have = unit_shared_hives (&dir, names, paths) == 0;
  CLEANUP_FREE char *sam = paths[0], *sec = paths[1], *sys = paths[2];
  if (!have) {
    ws_rmtree (dir);
    return unit_failures ? 1 : 77;
  }
  char buf[SID_STRING_MAX];
  struct sid s;

  hive_h *h = hive_open_file (sam, "SAM", 0);
  CHECK (h != NULL);
  if (h) {
    CHECK (sam_domain_sid (h, &s) == 0);
    CHECK_STR (sid_to_string (&s, buf), "S-1-5-21-1760460187-1592185332-161725925");
    struct sam_user *u;
    size_t n;
    CHECK (sam_users (h, &u, &n) == 0);
    CHECK (n == 3);
    if (n == 3) {
      CHECK (u[0].rid == 500 && !u[0].enabled);
      CHECK_STR (u[0].name, "Administrator");
      CHECK (u[1].rid == 501 && !u[1].enabled);
      CHECK_STR (u[1].name, "Guest");
      CHECK (u[2].rid == 1000 && u[2].enabled);
      CHECK_STR (u[2].name, "Preston");
    }
    sam_free_users (u, n);
    /* Administrators: the real C value lists -500 and -1000. */
    unit_check_admins (h, &s);
    hivex_close (h);
  }

  /* SECURITY (another machine than the SAM; dirty, no logs). */
  h = hive_open_file (sec, "SECURITY", 0);
  CHECK (h != NULL);
  if (h) {
    CHECK (lsa_machine_sid (h, &s) == 0);
    CHECK_STR (sid_to_string (&s, buf), "S-1-5-21-1786693902-1815088602-2777321892");
    CLEANUP_FREE char *dn = lsa_policy_name (h, "PolAcDmN");
    CLEANUP_FREE char *pn = lsa_policy_name (h, "PolPrDmN");
    CHECK_STR (dn, "DESKTOP-M964FJN");
    CHECK_STR (pn, "WORKGROUP");
    hivex_close (h);
  }

  /* A hive without a SAM: a clear error, not a crash. */
  h = hive_open_file (sys, "SYSTEM", 0);
  if (h) {
    CHECK (sam_domain_sid (h, &s) == -1);
    CHECK (lsa_machine_sid (h, &s) == -1);
    hivex_close (h);
  }
  ws_rmtree (dir);
  return unit_done ("unit-sam");
}
