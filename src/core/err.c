#include "core/err.h"
#include "core/compat.h"
#include "core/json.h"

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) >= (int)sizeof(e->msg)) /* cut */
		e->msg[json_utf8_cut(e->msg, sizeof(e->msg) - 1, sizeof(e->msg) - 1)] = '\0';
	va_end(ap);
	return code;
}

void err_clear(struct err *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}
