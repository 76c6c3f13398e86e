#include "core/crc32c.h"
#include "core/compat.h"

#include <pthread.h>
#include <stdbool.h>

#include "core/le.h"

#define POLY 0x82F63B78u /* reflected */

/* table[k][b]: the CRC of byte b followed by k zero bytes (slicing by 8) */
static uint32_t table[8][256];
static bool have_sse42;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = c & 1 ? c >> 1 ^ POLY : c >> 1;
		table[0][b] = c;
	}
	for (unsigned b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			table[k][b] = table[k - 1][b] >> 8 ^ table[0][table[k - 1][b] & 0xff];
#if defined(__x86_64__) && defined(__GNUC__)
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t portable(uint32_t c, const unsigned char *p, size_t len)
{
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo = c ^ le_get32(p), hi = le_get32(p + 4);

		c = table[7][lo & 0xff] ^ table[6][lo >> 8 & 0xff] ^ table[5][lo >> 16 & 0xff] ^
		    table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][hi >> 8 & 0xff] ^
		    table[1][hi >> 16 & 0xff] ^ table[0][hi >> 24];
	}
	while (len--)
		c = c >> 8 ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t hardware(uint32_t c, const unsigned char *p,
							  size_t len)
{
	uint64_t c64 = c;

	for (; len >= 8; p += 8, len -= 8)
		c64 = __builtin_ia32_crc32di(c64, le_get64(p));
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t crc32c_portable(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&once, crc32c_init);
	return ~portable(~crc, p, len);
}

uint32_t crc32c(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&once, crc32c_init);
#if defined(__x86_64__) && defined(__GNUC__)
	if (have_sse42)
		return ~hardware(~crc, p, len);
#endif
	return ~portable(~crc, p, len);
}
