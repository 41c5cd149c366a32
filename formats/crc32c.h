/* formats: CRC-32C (Castagnoli), as VHDX checksums its headers, region
 * tables, metadata-free structures and log entries (MS-VHDX 2.2.2). */
#ifndef WINSEAL_CRC32C_H
#define WINSEAL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len bytes (initial value and final xor 0xFFFFFFFF). */
uint32_t crc32c (const void *p, size_t len);
/* The CRC-32C of len bytes whose 4 bytes at skip are taken as zero (the
 * checksum field of the structure being checked). */
uint32_t crc32c_skip (const void *p, size_t len, size_t skip);

#endif
