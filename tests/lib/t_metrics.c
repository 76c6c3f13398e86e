#include "t_metrics.h"
#include "core/compat.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"

long long t_metric(const char *series, long long missing)
{
	struct buf out = BUF_INIT(1 << 20);
	size_t n = strlen(series);
	long long v = missing;

	if (metrics_render(&out) == 0) {
		/* a sample line: at the start or after a newline, then a space and the value */
		for (const char *p = out.p; (p = strstr(p, series)); p += n) {
			if ((p == out.p || p[-1] == '\n') && p[n] == ' ') {
				v = strtoll(p + n + 1, NULL, 10);
				break;
			}
		}
	}
	buf_release(&out);
	return v;
}
