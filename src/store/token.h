/*
 * token.h - the one definition of a token of text, shared by what the store writes and what
 * a search asks: the segments' bloom filters and text search (segment_token_next()) and the
 * evaluation of full-text words and phrases (match.h), which must agree for a search to find
 * the same events in every block it skips or reads.
 *
 * A token is a maximal run of token bytes: ASCII letters, digits, '.', '_' and every byte
 * >= 0x80 (so a UTF-8 character never splits), compared without ASCII case. As in
 * Elasticsearch's standard analyzer, '.' and '_' join ("mimikatz.exe", "10.2.100.15",
 * "user_name" are one token each) while '-' and ':' separate, so that "Invoke-Mimikatz"
 * holds "mimikatz", "10.2.100.15:443" and "outside:10.2.100.15/443" hold "10.2.100.15".
 * Segments of format 6 build their blooms on this class; older ones on the class with '-'
 * and ':' (segment_token_hash() gives them nothing to skip on). Folding ASCII case never
 * turns a token byte into a delimiter or back.
 *
 * Threads: pure functions.
 */
#ifndef STORE_TOKEN_H
#define STORE_TOKEN_H

#include <stdbool.h>

static inline bool token_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c >= 0x80;
}

#endif
