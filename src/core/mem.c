#include "core/mem.h"
#include "core/compat.h"

#include <stdatomic.h>
/* glibc's allocator is the one in use: not under a sanitizer, whose own replaces it */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MEM_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEM_SANITIZER 1
#endif
#if defined(__GLIBC__) && !defined(MEM_SANITIZER)
#define MEM_GLIBC_MALLOC 1
#include <malloc.h>
#endif

static atomic_long fail_countdown = -1;
static atomic_long failed;

static int should_fail(void)
{
	long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (n < 0)
		return 0;
	if (n == 0) {
		atomic_fetch_add(&failed, 1);
		return 1;
	}
	atomic_fetch_sub(&fail_countdown, 1);
	return 0;
}

int mem_tune(void)
{
#ifdef MEM_GLIBC_MALLOC
	/*
	 * Some glibc versions refuse a threshold past half their heap size (32 MiB); Debian
	 * 12's takes 64 MiB. The trim threshold only after it: setting it freezes the mmap
	 * threshold where it is, and glibc's starting 128 KiB would be worse than its default.
	 */
	if (!mallopt(M_MMAP_THRESHOLD, (int)MEM_MMAP_MIN) &&
	    !mallopt(M_MMAP_THRESHOLD, (int)(MEM_MMAP_MIN / 2)))
		return -EINVAL;
	if (!mallopt(M_TRIM_THRESHOLD, (int)MEM_TRIM_MIN))
		return -EINVAL;
#endif
	return 0;
}

void mem_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
	atomic_store(&failed, 0);
}

long mem_failed_count(void)
{
	return atomic_load(&failed);
}

void *mem_alloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *mem_calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *mem_strndup(const char *s, size_t n)
{
	char *d = mem_alloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *mem_strdup(const char *s)
{
	return mem_strndup(s, strlen(s));
}

void mem_free(void *p)
{
	free(p);
}
