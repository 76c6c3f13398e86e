/*
 * range.h - the values of one field a query bounds, as the query engine gives them
 * (match_ranges()) and as a segment tests them against its blocks' statistics
 * (segment_block_may_hold_range()): one type, so that what a filter promises and what the
 * statistics rule out are read the same way.
 *
 * Bounds are inclusive: [lo, hi] of an integer or time field (INT64_MIN / INT64_MAX when
 * open), [ip_lo, ip_hi] of an IP field in the 16-byte form events store (IPv4 mapped:
 * 10.0.0.0/8 is ::ffff:10.0.0.0 to ::ffff:10.255.255.255).
 *
 * Plain data: no functions, no ownership.
 */
#ifndef STORE_RANGE_H
#define STORE_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ipaddr.h"

struct value_range {
	bool ip; /* ip_lo, ip_hi; else lo, hi */
	int64_t lo, hi;
	struct ipaddr ip_lo, ip_hi;
};

#endif
