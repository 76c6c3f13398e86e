#include "core/field.h"
#include "core/compat.h"
#include "core/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>

struct field_def {
	const char *name;
	uint32_t len;
	enum field_type type;
	int array;
};

static const struct field_def known[FIELD_COUNT] = {
#define FIELD_DEF(id, name, type, arr) [FIELD_##id] = { name, sizeof(name) - 1, type, arr },
	FIELD_TABLE(FIELD_DEF)
#undef FIELD_DEF
};

/*
 * Vendor fields live in fixed chunks that never move, so field_name() can read them
 * without the lock once it holds an id handed out under it.
 */
#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define HASH_SIZE (FIELD_DYNAMIC_MAX * 2 + FIELD_COUNT * 2) /* keeps load <= 1/2 */

static struct field_def *chunks[FIELD_DYNAMIC_MAX / CHUNK_SIZE];
static atomic_uint dynamic_count; /* published with release after the entry is written */
static int32_t *hash_slots; /* id + 1, 0 = empty */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static uint32_t hash_name(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static const struct field_def *def_of(unsigned id)
{
	if (id < FIELD_COUNT)
		return &known[id];
	id -= FIELD_COUNT;
	return &chunks[id >> CHUNK_BITS][id & (CHUNK_SIZE - 1)];
}

/* Slot of name, or of the empty slot where it would go. Caller holds the lock. */
static size_t find_slot(const char *name, size_t len)
{
	size_t i = hash_name(name, len) % HASH_SIZE;

	for (;; i = (i + 1) % HASH_SIZE) {
		const struct field_def *d;

		if (!hash_slots[i])
			return i;
		d = def_of((unsigned)hash_slots[i] - 1);
		if (d->len == len && !memcmp(d->name, name, len))
			return i;
	}
}

/* Builds the hash of known names; caller holds the write lock. */
static int ensure_table(void)
{
	if (hash_slots)
		return 0;
	hash_slots = mem_calloc(HASH_SIZE, sizeof(*hash_slots));
	if (!hash_slots)
		return -ENOMEM;
	for (unsigned id = 0; id < FIELD_COUNT; id++)
		hash_slots[find_slot(known[id].name, known[id].len)] = (int32_t)id + 1;
	return 0;
}

static int lookup_locked(const char *name, size_t len)
{
	size_t slot;

	if (!hash_slots)
		return -EAGAIN;
	slot = find_slot(name, len);
	return hash_slots[slot] ? hash_slots[slot] - 1 : -ENOENT;
}

int field_lookup(const char *name, size_t len)
{
	int id;

	if (len == 0 || len > FIELD_NAME_MAX)
		return -ENOENT;
	pthread_rwlock_rdlock(&lock);
	id = lookup_locked(name, len);
	pthread_rwlock_unlock(&lock);
	if (id != -EAGAIN)
		return id;
	pthread_rwlock_wrlock(&lock);
	id = ensure_table() ? -ENOMEM : lookup_locked(name, len);
	pthread_rwlock_unlock(&lock);
	return id;
}

int field_lookup_nocase(const char *name, size_t len)
{
	unsigned n = field_count();

	for (unsigned id = 0; id < n; id++) {
		const struct field_def *d = def_of(id);

		if (d->len == len && !strncasecmp(d->name, name, len))
			return (int)id;
	}
	return -ENOENT;
}

static int register_locked(const char *name, size_t len, enum field_type type)
{
	unsigned n = atomic_load_explicit(&dynamic_count, memory_order_relaxed);
	unsigned c = n >> CHUNK_BITS;
	struct field_def *d;
	char *copy;
	int id;

	id = lookup_locked(name, len);
	if (id != -ENOENT)
		return id;
	if (n >= FIELD_DYNAMIC_MAX)
		return -ENOSPC;
	if (!chunks[c]) {
		chunks[c] = mem_calloc(CHUNK_SIZE, sizeof(struct field_def));
		if (!chunks[c])
			return -ENOMEM;
	}
	copy = mem_strndup(name, len);
	if (!copy)
		return -ENOMEM;
	d = &chunks[c][n & (CHUNK_SIZE - 1)];
	d->name = copy;
	d->len = (uint32_t)len;
	d->type = type;
	id = (int)(FIELD_COUNT + n);
	hash_slots[find_slot(name, len)] = id + 1;
	atomic_store_explicit(&dynamic_count, n + 1, memory_order_release);
	return id;
}

int field_intern(const char *name, size_t len, enum field_type type)
{
	int id;

	if (len == 0 || len > FIELD_NAME_MAX)
		return -EINVAL;
	id = field_lookup(name, len);
	if (id >= 0 || id != -ENOENT)
		return id;
	pthread_rwlock_wrlock(&lock);
	id = ensure_table();
	if (!id)
		id = register_locked(name, len, type);
	pthread_rwlock_unlock(&lock);
	return id;
}

const char *field_name(unsigned id)
{
	return def_of(id)->name;
}

enum field_type field_type(unsigned id)
{
	return def_of(id)->type;
}

/* What an integer field holds: one row per kind, the fields of each in int_kind(). */
static const struct {
	int64_t min, max;
	const char *words; /* for messages: "expected ..." */
} int_kinds[] = {
	{ INT64_MIN, INT64_MAX, "an integer" },
	{ 0, 65535, "an integer from 0 to 65535 (a port)" },
	{ 0, INT64_MAX, "an integer 0 or more (a count or size)" },
};

static unsigned int_kind(unsigned id)
{
	switch (id) {
	case FIELD_SOURCE_PORT:
	case FIELD_SOURCE_NAT_PORT:
	case FIELD_DESTINATION_PORT:
	case FIELD_DESTINATION_NAT_PORT:
	case FIELD_CLIENT_PORT:
	case FIELD_SERVER_PORT:
	case FIELD_URL_PORT:
		return 1;
	case FIELD_SOURCE_BYTES:
	case FIELD_SOURCE_PACKETS:
	case FIELD_DESTINATION_BYTES:
	case FIELD_DESTINATION_PACKETS:
	case FIELD_NETWORK_BYTES:
	case FIELD_NETWORK_PACKETS:
	case FIELD_HTTP_REQUEST_BODY_BYTES:
	case FIELD_HTTP_RESPONSE_BODY_BYTES:
	case FIELD_HTTP_RESPONSE_BYTES:
	case FIELD_FILE_SIZE:
		return 2;
	default:
		return 0;
	}
}

bool field_int_valid(unsigned id, int64_t v)
{
	unsigned k = int_kind(id);

	return v >= int_kinds[k].min && v <= int_kinds[k].max;
}

const char *field_int_range(unsigned id)
{
	return int_kinds[int_kind(id)].words;
}

int field_is_array(unsigned id)
{
	return id < FIELD_COUNT && known[id].array;
}

unsigned field_count(void)
{
	return FIELD_COUNT + atomic_load_explicit(&dynamic_count, memory_order_acquire);
}
