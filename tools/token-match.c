/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "token-match.h"

#define PKCS11_SCHEME "pkcs11:"

bool pkcs11_uri_is(const char *s) {
        return s && strncasecmp(s, PKCS11_SCHEME, strlen(PKCS11_SCHEME)) == 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int percent_decode(const char *s, size_t n, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t k = 0;

        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                int hi, lo;

                if (s[i] != '%') {
                        out[k++] = s[i];
                        continue;
                }
                if (n - i < 3)
                        return -EINVAL;
                hi = unhex(s[i + 1]);
                lo = unhex(s[i + 2]);
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                        return -EINVAL;
                out[k++] = (char) (hi << 4 | lo);
                i += 2;
        }
        out[k] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

void pkcs11_uri_done(Pkcs11Uri *u) {
        free(u->token);
        free(u->manufacturer);
        free(u->serial);
        free(u->model);
        *u = (Pkcs11Uri) {};
}

/* The slot in u that a path attribute fills, NULL for the attributes that
 * do not name a token (object, id, slot-id, library-*, vendor x-*, ...). */
static char **uri_field(Pkcs11Uri *u, const char *name, size_t len) {
        static const struct {
                const char *name;
                size_t offset;
        } fields[] = {
                { "token", offsetof(Pkcs11Uri, token) },
                { "manufacturer", offsetof(Pkcs11Uri, manufacturer) },
                { "serial", offsetof(Pkcs11Uri, serial) },
                { "model", offsetof(Pkcs11Uri, model) },
        };

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
                        return (char **) ((char *) u + fields[i].offset);
        return NULL;
}

int pkcs11_uri_parse(const char *uri, Pkcs11Uri *ret) {
        _cleanup_(pkcs11_uri_done) Pkcs11Uri u = {};
        const char *p, *end;

        if (!pkcs11_uri_is(uri))
                return -EINVAL;

        p = uri + strlen(PKCS11_SCHEME);
        /* The query (pin-source, pin-value, module-path, ...) never names
         * a token: it is not even looked at. */
        end = p + strcspn(p, "?#");

        while (p < end) {
                const char *seg_end = memchr(p, ';', (size_t) (end - p));
                const char *eq;
                char **field;
                int r;

                if (!seg_end)
                        seg_end = end;
                if (seg_end == p) {     /* tolerate "pkcs11:a=b;" and ";;" */
                        p++;
                        continue;
                }

                eq = memchr(p, '=', (size_t) (seg_end - p));
                if (!eq)
                        return -EINVAL;

                field = uri_field(&u, p, (size_t) (eq - p));
                if (field) {
                        if (*field)
                                return -EINVAL;
                        r = percent_decode(eq + 1, (size_t) (seg_end - eq - 1), field);
                        if (r < 0)
                                return r;
                }
                p = seg_end;
        }

        *ret = u;
        u = (Pkcs11Uri) {};
        return 0;
}

static bool attr_matches(const char *want, const char *have) {
        return !want || streq(want, have ?: "");
}

bool pkcs11_uri_matches(const Pkcs11Uri *u, const TokenIdentity *t) {
        return attr_matches(u->token, t->label) &&
                attr_matches(u->manufacturer, t->manufacturer) &&
                attr_matches(u->serial, t->serial) &&
                attr_matches(u->model, t->model);
}

int token_match(const char *spec, const TokenIdentity *tokens, size_t n, size_t *matches) {
        _cleanup_(pkcs11_uri_done) Pkcs11Uri uri = {};
        bool is_uri, is_path;
        size_t k = 0;
        int r;

        if (!spec || !*spec)
                return -EINVAL;

        is_uri = pkcs11_uri_is(spec);
        if (is_uri) {
                r = pkcs11_uri_parse(spec, &uri);
                if (r < 0)
                        return r;
        }
        is_path = spec[0] == '/';

        for (size_t i = 0; i < n; i++) {
                const TokenIdentity *t = tokens + i;
                bool m;

                if (is_uri)
                        m = pkcs11_uri_matches(&uri, t);
                else if (is_path)
                        m = streq(spec, t->path ?: "");
                else
                        m = streq(spec, t->serial ?: "") || streq(spec, t->label ?: "");
                if (m)
                        matches[k++] = i;
        }
        return (int) k;
}
