/*
 * compat.h - the first include of every koban source file after its own header.
 *
 * Pulls in the C library headers every module uses and then banned.h, so no module
 * can reach a banned function.
 */
#ifndef CORE_COMPAT_H
#define CORE_COMPAT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

#include "core/banned.h"

#endif
