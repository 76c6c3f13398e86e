/*
 * mem.h - the one allocation wrapper.
 *
 * Every heap allocation in koban goes through these functions, so that a test can make
 * the Nth allocation fail (mem_fail_after) and check that the caller reports a clean
 * error instead of crashing. They return NULL on failure like malloc; callers must check.
 * Memory from mem_alloc/mem_calloc/mem_realloc/mem_strndup is released with mem_free.
 *
 * Thread safety: all functions may be called from any thread. The failure hook is global
 * and meant for single-threaded unit tests and fuzz targets.
 */
#ifndef CORE_MEM_H
#define CORE_MEM_H

#include <stddef.h>

void *mem_alloc(size_t n);
void *mem_calloc(size_t nmemb, size_t size);
void *mem_realloc(void *p, size_t n);
/* Copies n bytes of s and adds a NUL. */
char *mem_strndup(const char *s, size_t n);
char *mem_strdup(const char *s);
void mem_free(void *p);

/*
 * Tunes the C library's allocator for koban's batch loops, once at the start of main():
 * glibc's defaults hand blocks past a moving threshold (up to 32 MiB) straight to mmap and
 * give freed memory at the heap's top back to the kernel past 2x that, so a store import
 * that grows per-segment arrays of tens of MiB faults every page in again per block and
 * segment (a quarter of its CPU time, measured by bench/segment). With the threshold fixed
 * at MEM_MMAP_MIN and the trim threshold at MEM_TRIM_MIN, freed memory is reused: a
 * process keeps up to that much freed memory per malloc arena instead of returning it.
 * (A glibc that refuses 64 MiB gets half that.) Without glibc's allocator (another C
 * library, or a sanitizer's allocator in its place), nothing. 0, or -EINVAL
 * when the C library refused a setting (the allocator then keeps its defaults).
 */
#define MEM_MMAP_MIN ((size_t)64 << 20)
#define MEM_TRIM_MIN ((size_t)128 << 20)
int mem_tune(void);

/*
 * Test hook: after n more successful allocations, every further one fails until
 * mem_fail_after(-1) turns the hook off. n = 0 fails the very next allocation.
 */
void mem_fail_after(long n);
/* Number of allocations refused by the hook since it was last set. */
long mem_failed_count(void);

#endif
