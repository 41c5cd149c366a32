/* Unit tests: SID parsing and formatting. */
#include <config.h>

#include "win/sid.h"
#include "unit.h"

int
main (void)
{
  struct sid s, t;
  char buf[SID_STRING_MAX];
  uint8_t bin[SID_MAX_BINARY];

  CHECK (sid_parse ("S-1-5-21-1760460187-1592185332-161725925", &s) == 0);
  CHECK (s.count == 4 && s.authority == 5 && s.sub[0] == 21 && s.sub[3] == 161725925);
  CHECK (sid_is_machine_domain (&s));
  CHECK_STR (sid_to_string (&s, buf), "S-1-5-21-1760460187-1592185332-161725925");
  sid_to_binary (&s, bin);
  static const uint8_t expect[] = {
    1, 4, 0, 0, 0, 0, 0, 5, 0x15, 0, 0, 0,
    0x9b, 0x7d, 0xee, 0x68, 0xf4, 0xd1, 0xe6, 0x5e, 0xe5, 0xbd, 0xa3, 0x09,
  };
  CHECK (sid_binary_len (&s) == 24 && memcmp (bin, expect, 24) == 0);
  CHECK (sid_from_binary (expect, 24, &t) == 24 && sid_equal (&s, &t));
  CHECK (sid_from_binary (expect, 23, &t) == -1);          /* truncated */
  CHECK (sid_from_binary (expect, 7, &t) == -1);

  struct sid u;
  sid_append_rid (&s, 1000, &u);
  CHECK (sid_in_domain (&u, &s) && !sid_in_domain (&s, &s));
  CHECK_STR (sid_to_string (&u, buf), "S-1-5-21-1760460187-1592185332-161725925-1000");
  CHECK (!sid_is_machine_domain (&u));

  CHECK (sid_parse ("S-1-5-18", &t) == 0 && t.count == 1 && !sid_is_machine_domain (&t));
  CHECK (sid_parse ("s-1-5-32-544", &t) == 0 && t.count == 2);
  CHECK (sid_parse ("S-1-5-21-4294967295-0-1", &t) == 0);
  /* Malformed. */
  const char *bad[] = {
    "", "S", "S-", "S-1", "S-2-5", "S-1-", "S-1-5-", "S-1-5-x", "S-1-5-21-4294967296",
    "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "S-1-5 ", "X-1-5",
    "S-1-281474976710656",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    CHECK (sid_parse (bad[i], &t) == -1);
  /* 15 sub-authorities is the maximum and round-trips. */
  CHECK (sid_parse ("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", &t) == 0);
  CHECK_STR (sid_to_string (&t, buf), "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15");
  /* A binary SID claiming more sub-authorities than allowed. */
  uint8_t big[8 + 4 * 16] = { 1, 16 };
  CHECK (sid_from_binary (big, sizeof big, &t) == -1);
  uint8_t rev2[12] = { 2, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0 };
  CHECK (sid_from_binary (rev2, sizeof rev2, &t) == -1);
  return unit_done ("unit-sid");
}
