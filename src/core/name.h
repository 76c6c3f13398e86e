/*
 * name.h - the one syntax check of the names an operator chooses: tenants, sources and
 * listeners, and IANA time zone names.
 *
 * The configuration loader, the metadata store and the CLI all ask these functions, so
 * a name accepted in one place is accepted everywhere. They check the shape only: whether
 * a tenant exists is the store's business, whether a zone is installed is core/tz's.
 * Names are (pointer, length) and need not be NUL-terminated. Pure functions, any thread.
 */
#ifndef CORE_NAME_H
#define CORE_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_TENANT_MAX 63   /* tenants and sources */
#define NAME_LISTENER_MAX 32
#define NAME_ZONE_MAX 64

/* 1 to max bytes of a-z, 0-9, '_' and '-'. */
bool name_valid(const char *s, size_t len, size_t max);
/*
 * A name a user may create (a tenant, a source): name_valid() with NAME_TENANT_MAX and
 * not starting with '_' (reserved for built-in names such as "_unassigned") or '-'.
 */
bool name_valid_new(const char *s, size_t len);
/* Starts with '_': a built-in name such as "_unassigned". */
bool name_reserved(const char *s, size_t len);
/*
 * The shape of an IANA zone name ("Asia/Tokyo", "Etc/GMT+9", "UTC"): 1 to NAME_ZONE_MAX
 * letters, digits and / _ - +, no leading, trailing or doubled '/' and no '.', so a name
 * can never leave the zoneinfo directory.
 */
bool name_zone_valid(const char *s, size_t len);
/*
 * A Sigma logsource value (category, product, service) or an event.dataset: 1 to max
 * bytes of a-z, 0-9, '_', '-' and '.'. The configuration's logsources use 64, field
 * mappings 128.
 */
bool name_logsource_valid(const char *s, size_t len, size_t max);

#endif
