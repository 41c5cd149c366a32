/* fuzz: the hive base-block, SID, SAM descriptor-table and alias-member
 * parsers, and the raw hive editor (walk, list check, SID rewrite with
 * renames that grow names), on arbitrary bytes. */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hive.h"
#include "registry/regedit.h"
#include "win/secdesc.h"
#include "registry/sam.h"
#include "win/sid.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct hive_state st;
  const char *why;
  struct sid s;
  char str[SID_STRING_MAX];
  const uint8_t *p;
  size_t l;
  uint32_t q;

  ws_globals.quiet = 1;          /* errors are expected: only crashes count */
  hive_parse_base_block (data, size, size, &st, &why);
  if (sid_from_binary (data, size, &s) > 0)
    sid_to_string (&s, str);
  const struct sam_layout *lays[] = {
    &sam_domain_v_layout, &sam_user_v_layout, &sam_alias_c_layout,
  };
  for (size_t k = 0; k < 3; ++k)
    for (size_t i = 0; i < lays[k]->count; ++i)
      if (sam_item (data, size, lays[k], i, &p, &l, &q) == 0 && l)
        free (utf16le_to_utf8 (p, l));
  struct sid *m;
  size_t n;
  if (sam_alias_members (data, size, &m, &n) == 0) {
    uint8_t *o;
    size_t ol;
    if (n && sam_alias_remove_member (data, size, &m[0], &o, &ol) == 1)
      free (o);
    free (m);
  }
  /* The bytes as a security descriptor, moved between domains. */
  {
    uint8_t *sd = malloc (size ? size : 1);
    if (!sd)
      abort ();
    memcpy (sd, data, size);
    struct sid a, b;
    struct sd_stats sst;
    const char *swhy;
    sid_parse ("S-1-5-21-1-2-3", &a);
    sid_parse ("S-1-5-21-4-5-6", &b);
    sd_move_domain (sd, size, &a, &b, &sst, &swhy);
    free (sd);
  }
  /* The raw editor: the domain of the hive's first machine SID, if any,
   * moved to a longer one; else a fixed one; then scrubbed. */
  struct regf r;
  if (regf_load_buffer (&r, data, size, "FUZZ") == 0) {
    regf_check_lists (&r, NULL);
    struct sid from, to;
    sid_parse ("S-1-5-21-1760460187-1592185332-161725925", &from);
    sid_parse ("S-1-5-21-4294967295-4294967294-4294967293", &to);
    regf_rewrite_domain (&r, &from, &to, NULL);
    regf_check_lists (&r, NULL);
    /* The same-length text rewrite, the byte search and the scrub. */
    regf_rewrite_value_text (&r, "S-1-5-21-1760460187-1592185332-161725925",
                             "S-1-5-21-1760460188-1592185333-161725926", NULL);
    regf_count_text (&r, "S-1-5-21-1760460187-1592185332-161725925");
    struct regf_scrub_stats sst;
    regf_scrub (&r, &sst);
    regf_check_lists (&r, NULL);
  }
  regf_free (&r);
  /* Strings: NUL-terminate a copy for sid_parse. */
  char *copy = malloc (size + 1);
  if (!copy)
    abort ();
  memcpy (copy, data, size);
  copy[size] = '\0';
  sid_parse (copy, &s);
  free (copy);
  return 0;
}
