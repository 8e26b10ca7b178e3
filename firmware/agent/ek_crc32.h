#ifndef EK_CRC32_H
#define EK_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed pieces in order. Equals zlib.crc32. */
uint32_t ek_crc32_update(uint32_t crc, const uint8_t *data, size_t n);

#endif
