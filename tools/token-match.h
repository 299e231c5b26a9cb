/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which token a person means by the TOKEN argument of jetonctl. Pure: no
 * bus, no I/O, so it is unit tested on its own.
 *
 * TOKEN is one of:
 * - a D-Bus object path ("/org/jeton/Jeton1/token/..."): that object;
 * - a PKCS#11 URI (RFC 7512, "pkcs11:token=holder-1;serial=2A3B"): every
 *   token whose label (token=), manufacturer, serial and model equal all
 *   the attributes given, after percent-decoding; other path attributes
 *   and the whole query part ("?pin-source=...") are ignored;
 * - anything else: the token whose serial or label equals it. */

#include <stdbool.h>
#include <stddef.h>

typedef struct TokenIdentity {
        const char *path;
        const char *serial;
        const char *label;
        const char *manufacturer;
        const char *model;
} TokenIdentity;

/* The attributes of a PKCS#11 URI that name a token; NULL when absent. */
typedef struct Pkcs11Uri {
        char *token;
        char *manufacturer;
        char *serial;
        char *model;
} Pkcs11Uri;

/* True when s starts with the "pkcs11:" scheme (case-insensitive, as
 * RFC 3986 schemes are). */
bool pkcs11_uri_is(const char *s);

/* Parses uri into *ret (freed with pkcs11_uri_done()). Returns 0, or
 * -EINVAL when it is not a pkcs11: URI, an attribute has no '=', a
 * token-naming attribute appears twice, or a percent escape is malformed
 * or decodes to NUL; -ENOMEM. */
int pkcs11_uri_parse(const char *uri, Pkcs11Uri *ret);
void pkcs11_uri_done(Pkcs11Uri *u);

bool pkcs11_uri_matches(const Pkcs11Uri *u, const TokenIdentity *t);

/* Decodes RFC 3986 percent escapes in s[0..n) into a new NUL-terminated
 * string. -EINVAL on a malformed escape or an escaped NUL; -ENOMEM. */
int percent_decode(const char *s, size_t n, char **ret);

/* Fills matches[] (room for n entries) with the indices of the tokens
 * that spec names, in order, and returns how many there are (0..n): the
 * caller reports 0 as "not found" and more than 1 as "ambiguous".
 * Returns -EINVAL for a malformed pkcs11: URI, -ENOMEM. */
int token_match(const char *spec, const TokenIdentity *tokens, size_t n, size_t *matches);
