/* formats: explicit little- and big-endian access to on-disk fields. */
#ifndef WINSEAL_BYTES_H
#define WINSEAL_BYTES_H

#include <stdint.h>

static inline uint16_t rd_le16 (const uint8_t *p) { return p[0] | (p[1] << 8); }
static inline uint32_t rd_le32 (const uint8_t *p)
{ return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24; }
static inline uint64_t rd_le64 (const uint8_t *p)
{ return rd_le32 (p) | (uint64_t) rd_le32 (p + 4) << 32; }
static inline uint16_t rd_be16 (const uint8_t *p) { return p[0] << 8 | p[1]; }
static inline uint32_t rd_be32 (const uint8_t *p)
{ return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3]; }
static inline uint64_t rd_be64 (const uint8_t *p)
{ return (uint64_t) rd_be32 (p) << 32 | rd_be32 (p + 4); }

static inline void wr_le16 (uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void wr_le32 (uint8_t *p, uint32_t v)
{ p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline void wr_le64 (uint8_t *p, uint64_t v)
{ wr_le32 (p, (uint32_t) v); wr_le32 (p + 4, (uint32_t) (v >> 32)); }
static inline void wr_be16 (uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void wr_be32 (uint8_t *p, uint32_t v)
{ p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static inline void wr_be64 (uint8_t *p, uint64_t v)
{ wr_be32 (p, (uint32_t) (v >> 32)); wr_be32 (p + 4, (uint32_t) v); }

#endif
