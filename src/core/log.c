#include "core/log.h"
#include "core/compat.h"

#include "core/timeutil.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = LOG_LEVEL_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int log_level_parse(const char *s, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strlen(level_names[i]) == len && !memcmp(level_names[i], s, len))
			return (int)i;
	return -1;
}

static void vlog(const char *level, const char *module, const char *func,
		 const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s %s: ",
		     ts.tv_nsec / 1000000, level, module, func ? func : "-");
	if (k > 0)
		n += (size_t)k;
	if (n < sizeof(line)) {
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (k > 0)
			n += (size_t)k;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report a failing stderr */
	}
}

void log_write(enum log_level level, const char *module, const char *func,
	       const char *fmt, ...)
{
	va_list ap;

	if ((int)level > atomic_load_explicit(&current_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vlog(level_names[level], module, func, fmt, ap);
	va_end(ap);
}

void log_limit_init(struct log_limit *l, unsigned seconds)
{
	atomic_init(&l->next_ns, 0);
	atomic_init(&l->suppressed, 0);
	l->interval_ns = (int64_t)seconds * 1000000000;
}

bool log_limit_allow(struct log_limit *l, uint64_t *suppressed)
{
	int64_t now = time_mono_ns(), next = atomic_load(&l->next_ns);

	/* one thread wins the slot; the others count themselves as suppressed */
	if (now < next || !atomic_compare_exchange_strong(&l->next_ns, &next,
							   now + l->interval_ns)) {
		atomic_fetch_add_explicit(&l->suppressed, 1, memory_order_relaxed);
		return false;
	}
	*suppressed = atomic_exchange(&l->suppressed, 0);
	return true;
}

void log_write_limited(struct log_limit *l, enum log_level level, const char *module,
		       const char *func, const char *fmt, ...)
{
	uint64_t suppressed;
	char text[1536];
	va_list ap;

	if ((int)level > atomic_load_explicit(&current_level, memory_order_relaxed) ||
	    !log_limit_allow(l, &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (suppressed)
		log_write(level, module, func, "%s (%llu similar messages suppressed)", text,
			  (unsigned long long)suppressed);
	else
		log_write(level, module, func, "%s", text);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", "koban", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
