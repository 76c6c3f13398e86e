/*
 * token.h - the one definition of a token of text, shared by what the store writes and what
 * a search asks: the segments' bloom filters and text search (segment_token_next()) and the
 * evaluation of full-text words and phrases (match.h), which must agree for a search to find
 * the same events in every block it skips or reads.
 *
 * A token is a maximal run of token bytes: ASCII letters, digits, '_', every byte >= 0x80
 * (so a UTF-8 character never splits), and '.' between two of the others, compared without
 * ASCII case. As in Elasticsearch's standard analyzer, '.' and '_' join ("mimikatz.exe",
 * "10.2.100.15", "user_name" are one token each) while '-' and ':' separate, so that
 * "Invoke-Mimikatz" holds "mimikatz", "10.2.100.15:443" and "outside:10.2.100.15/443" hold
 * "10.2.100.15"; a '.' at a token's edge separates too ("Access is denied." holds
 * "denied", "evil.example.com." holds "evil.example.com"). Segments of format 6 build their
 * blooms on this class; older ones on a class where '-', ':' and every '.' joined
 * (segment_token_hash() gives them nothing to skip on). Folding ASCII case never turns a
 * token byte into a delimiter or back.
 *
 * Threads: pure functions.
 */
#ifndef STORE_TOKEN_H
#define STORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* A byte that is a token byte wherever it stands: all of them but '.'. */
static inline bool token_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

/*
 * Whether p[i] of p[0..len) is a token byte: a '.' only between two word bytes, so that a
 * text's or a word's own first and last bytes are judged alike (outside p is a delimiter).
 */
static inline bool token_byte_at(const unsigned char *p, size_t len, size_t i)
{
	if (p[i] != '.')
		return token_word_byte(p[i]);
	return i > 0 && i + 1 < len && token_word_byte(p[i - 1]) && token_word_byte(p[i + 1]);
}

#endif
