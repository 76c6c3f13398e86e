#include "core/msg.h"
#include "core/compat.h"
#include "core/mem.h"

struct msg *msg_new(const void *data, uint32_t len)
{
	struct msg *m = mem_alloc(sizeof(*m) + len + 1);

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->len = len;
	if (data)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	return m;
}

void msg_free(struct msg *m)
{
	mem_free(m);
}
