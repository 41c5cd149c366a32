/* formats: CRC-32C (crc32c.h): the reflected polynomial 0x82F63B78,
 * byte at a time from a table made once. */
#include <config.h>

#include <pthread.h>

#include "crc32c.h"

static uint32_t table[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
make_table (void)
{
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
}

static uint32_t
update (uint32_t c, const uint8_t *p, size_t len)
{
  while (len--)
    c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return c;
}

uint32_t
crc32c (const void *p, size_t len)
{
  pthread_once (&once, make_table);
  return ~update (0xFFFFFFFFu, p, len);
}

uint32_t
crc32c_skip (const void *p, size_t len, size_t skip)
{
  static const uint8_t zero[4];
  pthread_once (&once, make_table);
  const uint8_t *b = p;
  if (skip + 4 > len)
    return ~update (0xFFFFFFFFu, b, len);
  uint32_t c = update (0xFFFFFFFFu, b, skip);
  c = update (c, zero, 4);
  return ~update (c, b + skip + 4, len - skip - 4);
}
