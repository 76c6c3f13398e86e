#include "core/msg.h"
#include "core/compat.h"
#include "core/mem.h"

#include <stdatomic.h>

struct msg_slab {
	atomic_uint refs; /* messages carved from it, plus one while it is a pool's current */
	size_t used;
	_Alignas(max_align_t) unsigned char data[MSG_SLAB_SIZE];
};

/* The current slab of each tenant in this thread, allocated on first use. */
static _Thread_local struct msg_slab **pool;

#define MSG_ALIGN (_Alignof(max_align_t))

static void init_msg(struct msg *m, struct msg_slab *slab, const void *data, uint32_t len)
{
	memset(m, 0, sizeof(*m));
	m->slab = slab;
	m->len = len;
	if (data)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
}

struct msg *msg_new(const void *data, uint32_t len)
{
	struct msg *m = mem_alloc(sizeof(*m) + len + 1);

	if (m)
		init_msg(m, NULL, data, len);
	return m;
}

static void slab_unref(struct msg_slab *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		mem_free(s);
}

struct msg *msg_new_pooled(const void *data, uint32_t len, unsigned tenant)
{
	size_t need = (sizeof(struct msg) + len + 1 + MSG_ALIGN - 1) & ~(MSG_ALIGN - 1);
	struct msg_slab *s;
	struct msg *m;

	if (need > MSG_SLAB_SIZE / 8 || tenant >= MSG_POOL_TENANTS)
		return msg_new(data, len);
	if (!pool && !(pool = mem_calloc(MSG_POOL_TENANTS, sizeof(*pool))))
		return NULL;
	s = pool[tenant];
	if (!s || MSG_SLAB_SIZE - s->used < need) {
		struct msg_slab *fresh = mem_alloc(sizeof(*fresh));

		if (!fresh)
			return NULL;
		atomic_init(&fresh->refs, 1);
		fresh->used = 0;
		if (s)
			slab_unref(s);
		pool[tenant] = s = fresh;
	}
	m = (struct msg *)(s->data + s->used);
	s->used += need;
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	init_msg(m, s, data, len);
	return m;
}

void msg_free(struct msg *m)
{
	if (m->slab)
		slab_unref(m->slab);
	else
		mem_free(m);
}

void msg_pool_release(void)
{
	if (!pool)
		return;
	for (unsigned i = 0; i < MSG_POOL_TENANTS; i++)
		if (pool[i])
			slab_unref(pool[i]);
	mem_free(pool);
	pool = NULL;
}
