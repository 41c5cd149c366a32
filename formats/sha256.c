/* formats: SHA-256 (FIPS 180-4), for output checksums. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format-int.h"

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
block (uint32_t h[8], const uint8_t *p)
{
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = (uint32_t) p[4*i] << 24 | (uint32_t) p[4*i+1] << 16 | (uint32_t) p[4*i+2] << 8 | p[4*i+3];
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = ROR (w[i-15], 7) ^ ROR (w[i-15], 18) ^ (w[i-15] >> 3);
    uint32_t s1 = ROR (w[i-2], 17) ^ ROR (w[i-2], 19) ^ (w[i-2] >> 10);
    w[i] = w[i-16] + s0 + w[i-7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 = k + (ROR (e, 6) ^ ROR (e, 11) ^ ROR (e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR (a, 2) ^ ROR (a, 13) ^ ROR (a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

/* Many blocks: the portable code, or the x86 SHA extensions when the CPU
 * has them (about 6 times faster: an output's checksum is read back over
 * the whole virtual disk). */
static void
blocks_portable (uint32_t h[8], const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; ++i)
    block (h, p + 64 * i);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* The state lives in two vectors as the SHA256RNDS2 instruction wants
 * it: (A, B, E, F) and (C, D, G, H), highest lane first; each group of
 * four rounds adds K to four message words and runs two double rounds;
 * the message schedule is a ring of four vectors extended with
 * SHA256MSG1/MSG2. */
__attribute__((target ("sha,sse4.1,ssse3")))
static void
blocks_shani (uint32_t h[8], const uint8_t *p, size_t n)
{
  const __m128i bswap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abcd = _mm_loadu_si128 ((const __m128i *) h);
  __m128i efgh = _mm_loadu_si128 ((const __m128i *) (h + 4));
  __m128i cdab = _mm_shuffle_epi32 (abcd, 0xB1);
  __m128i hgfe = _mm_shuffle_epi32 (efgh, 0x1B);
  __m128i abef = _mm_alignr_epi8 (cdab, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16 (hgfe, cdab, 0xF0);
  for (size_t b = 0; b < n; ++b, p += 64) {
    __m128i save0 = abef, save1 = cdgh, m[4];
    for (int g = 0; g < 16; ++g) {
      __m128i w;
      if (g < 4)
        w = m[g] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (p + 16 * g)), bswap);
      else {
        w = _mm_sha256msg1_epu32 (m[g & 3], m[(g + 1) & 3]);
        w = _mm_add_epi32 (w, _mm_alignr_epi8 (m[(g + 3) & 3], m[(g + 2) & 3], 4));
        w = m[g & 3] = _mm_sha256msg2_epu32 (w, m[(g + 3) & 3]);
      }
      __m128i wk = _mm_add_epi32 (w, _mm_loadu_si128 ((const __m128i *) (K + 4 * g)));
      cdgh = _mm_sha256rnds2_epu32 (cdgh, abef, wk);
      abef = _mm_sha256rnds2_epu32 (abef, cdgh, _mm_shuffle_epi32 (wk, 0x0E));
    }
    abef = _mm_add_epi32 (abef, save0);
    cdgh = _mm_add_epi32 (cdgh, save1);
  }
  __m128i feba = _mm_shuffle_epi32 (abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32 (cdgh, 0xB1);
  _mm_storeu_si128 ((__m128i *) h, _mm_blend_epi16 (feba, dchg, 0xF0));
  _mm_storeu_si128 ((__m128i *) (h + 4), _mm_alignr_epi8 (dchg, feba, 8));
}

static int
have_shani (void)
{
  static int known = -1;
  if (known < 0) {
    unsigned a, b, c, d;
    known = __get_cpuid_count (7, 0, &a, &b, &c, &d) && (b & (1u << 29))
            && __get_cpuid (1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9))
            && !getenv ("WINSEAL_SHA256_PORTABLE");
  }
  return known;
}
#endif

static void
blocks (uint32_t h[8], const uint8_t *p, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_shani ()) {
    blocks_shani (h, p, n);
    return;
  }
#endif
  blocks_portable (h, p, n);
}

static const uint32_t h0[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* The last blocks: the fill (< 64) bytes left in buf (which has room for
 * 128 more), 0x80, zeros, the bit length of total bytes. */
static void
finish (uint32_t h[8], uint8_t *buf, size_t fill, uint64_t total)
{
  buf[fill++] = 0x80;
  while (fill % 64 != 56)
    buf[fill++] = 0;
  uint64_t bits = total * 8;
  for (int i = 7; i >= 0; --i)
    buf[fill++] = bits >> (8 * i);
  blocks (h, buf, fill / 64);
}

/* Holes of a sparse file are hashed as zeros without being read. */
int
sha256_file (int fd, char hex[65])
{
  static const uint8_t zeros[1 << 16];
  uint32_t h[8];
  memcpy (h, h0, sizeof h);
  size_t cap = 1 << 20, fill = 0;
  uint8_t *buf = malloc (cap + 128);
  uint64_t total = 0, off = 0, data_end = 0;
  if (!buf)
    abort ();
  for (;;) {
    ssize_t r;
    if (off >= data_end) {
      /* Where the next data is (SEEK_DATA may be unsupported: read all). */
      off_t d = lseek (fd, (off_t) off, SEEK_DATA);
      off_t e = d >= 0 ? lseek (fd, d, SEEK_HOLE) : -1;
      if (d < 0 && errno == ENXIO) {
        off_t end = lseek (fd, 0, SEEK_END);
        d = e = end < 0 ? (off_t) off : end;
      }
      if (d < 0 || e < d)
        data_end = UINT64_MAX;
      else if ((uint64_t) d > off) {
        /* A hole up to d: zeros, a block-aligned run at a time. */
        uint64_t left = (uint64_t) d - off;
        while (left) {
          size_t want = left < sizeof zeros ? left : sizeof zeros;
          if (fill) {               /* first complete the pending block */
            size_t k = 64 - fill < want ? 64 - fill : want;
            memset (buf + fill, 0, k);
            fill += k;
            want = k;
            if (fill == 64) {
              blocks (h, buf, 1);
              fill = 0;
            }
          }
          else if (want >= 64) {
            want = want / 64 * 64;
            blocks (h, zeros, want / 64);
          }
          else {
            memset (buf, 0, want);
            fill = want;
          }
          left -= want;
          off += want;
          total += want;
        }
        data_end = (uint64_t) e;
        continue;
      }
      else
        data_end = (uint64_t) e;
      if (data_end == off)
        break;                  /* the end of the file */
    }
    size_t want = cap - fill;
    if (data_end != UINT64_MAX && data_end - off < want)
      want = data_end - off;
    r = pread (fd, buf + fill, want, (off_t) off);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      free (buf);
      return -1;
    }
    off += r;
    total += r;
    fill += r;
    size_t whole = fill / 64;
    blocks (h, buf, whole);
    memmove (buf, buf + whole * 64, fill - whole * 64);
    fill -= whole * 64;
    if (r == 0)
      break;
  }
  finish (h, buf, fill, total);
  free (buf);
  for (int i = 0; i < 8; ++i)
    snprintf (hex + 8 * i, 9, "%08x", h[i]);
  return 0;
}

void
sha256_buffer (const void *data, size_t len, uint8_t out[32])
{
  uint32_t h[8];
  memcpy (h, h0, sizeof h);
  const uint8_t *p = data;
  size_t whole = len / 64 * 64;
  blocks (h, p, whole / 64);
  uint8_t tail[192];
  memcpy (tail, p + whole, len - whole);
  finish (h, tail, len - whole, len);
  for (int i = 0; i < 8; ++i)
    for (int k = 0; k < 4; ++k)
      out[4 * i + k] = h[i] >> (24 - 8 * k);
}
