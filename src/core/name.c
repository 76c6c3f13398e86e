/*
 * name.c - shapes of tenant, source, listener and time zone names.
 */
#include "core/name.h"
#include "core/compat.h"

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool name_valid(const char *s, size_t len, size_t max)
{
	if (!s || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

bool name_valid_new(const char *s, size_t len)
{
	return name_valid(s, len, NAME_TENANT_MAX) && s[0] != '_' && s[0] != '-';
}

bool name_reserved(const char *s, size_t len)
{
	return s && len > 0 && s[0] == '_';
}

bool name_zone_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > NAME_ZONE_MAX || s[0] == '/' || s[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' || c == '+';

		if (!ok || (c == '/' && i + 1 < len && s[i + 1] == '/'))
			return false;
	}
	return true;
}

bool name_logsource_valid(const char *s, size_t len, size_t max)
{
	if (!s || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(s[i]) && s[i] != '.')
			return false;
	return true;
}
