/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetonctl.h"
#include "text.h"
#include "tokens.h"

int daemon_get_objects(sd_bus *bus, BusValue **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, JETON_BUS_NAME, JETON_ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &error, &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, "Failed to list jetond's objects");

        r = bus_value_read(reply, ret);
        if (r < 0)
                return log_errorf(r, "Failed to read jetond's objects: %m");
        return 0;
}

static int token_compare(const void *a, const void *b) {
        const Token *x = a, *y = b;
        int c = strcmp(bus_value_get_string(x->props, "Reader") ?: "",
                       bus_value_get_string(y->props, "Reader") ?: "");

        return c != 0 ? c : strcmp(x->path, y->path);
}

int tokens_from_objects(const BusValue *objects, Token **ret, size_t *ret_n) {
        _cleanup_free_ Token *tokens = NULL;
        size_t n = 0;

        if (!objects || objects->type != BUS_VALUE_OBJECT)
                return -EBADMSG;

        tokens = calloc(objects->n ?: 1, sizeof(Token));
        if (!tokens)
                return -ENOMEM;

        for (size_t i = 0; i < objects->n; i++) {
                const BusValue *props = bus_value_get(objects->items[i], JETON_TOKEN_IFACE);

                if (props && props->type == BUS_VALUE_OBJECT)
                        tokens[n++] = (Token) { .path = objects->keys[i], .props = props };
        }
        qsort(tokens, n, sizeof(Token), token_compare);

        *ret = TAKE_PTR(tokens);
        *ret_n = n;
        return 0;
}

int tokens_get(sd_bus *bus, BusValue **ret_objects, Token **ret, size_t *ret_n) {
        int r;

        r = daemon_get_objects(bus, ret_objects);
        if (r != 0)
                return r;
        r = tokens_from_objects(*ret_objects, ret, ret_n);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        return 0;
}

TokenIdentity token_identity(const Token *t) {
        return (TokenIdentity) {
                .path = t->path,
                .serial = bus_value_get_string(t->props, "Serial"),
                .label = bus_value_get_string(t->props, "Label"),
                .manufacturer = bus_value_get_string(t->props, "Manufacturer"),
                .model = bus_value_get_string(t->props, "Model"),
        };
}

/* spec as it may be echoed: sanitised, and without a URI's query part,
 * which may carry a pin-value. */
static char *spec_for_display(const char *spec) {
        _cleanup_free_ char *s = text_sanitize(spec);

        if (s && pkcs11_uri_is(s))
                s[strcspn(s, "?")] = '\0';
        return TAKE_PTR(s);
}

int token_spec_check(const char *spec) {
        _cleanup_free_ char *shown = NULL;

        if (pkcs11_uri_is(spec) && strstr(spec + strcspn(spec, "?"), "pin-value="))
                log_errorf(0, "Warning: ignoring pin-value in the URI. jetonctl never uses a PIN, and one "
                           "on a command line is visible to other users and kept in shell history.");

        if (token_match(spec, NULL, 0, NULL) != -EINVAL)
                return 0;
        shown = spec_for_display(spec);
        log_errorf(-EINVAL, "Invalid TOKEN '%s': expected a serial, a label, an object path or a "
                   "pkcs11: URI with valid percent escapes.", shown ?: "?");
        return EXIT_USAGE;
}

int token_find(const Token *tokens, size_t n, const char *spec, const Token **ret) {
        _cleanup_free_ TokenIdentity *ids = calloc(n ?: 1, sizeof(TokenIdentity));
        _cleanup_free_ size_t *matches = calloc(n ?: 1, sizeof(size_t));
        _cleanup_free_ char *shown = spec_for_display(spec);
        int k;

        if (!ids || !matches || !shown)
                return log_errorf(-ENOMEM, "Out of memory.");

        for (size_t i = 0; i < n; i++)
                ids[i] = token_identity(tokens + i);

        k = token_match(spec, ids, n, matches);
        if (k < 0)
                return log_errorf(k, "Failed to match tokens: %m");
        if (k == 0) {
                log_errorf(-ENXIO, "No token matches '%s'; 'jetonctl list' shows the tokens present.", shown);
                return EXIT_NO_TOKEN;
        }
        if (k > 1) {
                log_errorf(-ENOTUNIQ, "'%s' matches %d tokens; name one by serial, object path or "
                           "pkcs11: URI:", shown, k);
                for (int i = 0; i < k; i++) {
                        fputs("        ", stderr);
                        text_print(stderr, tokens[matches[i]].path, false);
                        fputs(" serial ", stderr);
                        text_print(stderr, ids[matches[i]].serial, false);
                        fputs(" label ", stderr);
                        text_print(stderr, ids[matches[i]].label, true);
                        fputc('\n', stderr);
                }
                return EXIT_NO_TOKEN;
        }

        *ret = tokens + matches[0];
        return 0;
}

size_t token_certificates(const BusValue *props, uint64_t *ret_nearest_not_after) {
        const BusValue *certs = bus_value_get(props, "Certificates");
        uint64_t nearest = 0;
        size_t n = bus_value_count(certs);

        for (size_t i = 0; i < n; i++) {
                uint64_t t;

                if (bus_value_get_uint(certs->items[i], "not-after", &t) && (nearest == 0 || t < nearest))
                        nearest = t;
        }
        *ret_nearest_not_after = nearest;
        return n;
}

char *token_model(const BusValue *props) {
        const char *manufacturer = bus_value_get_string(props, "Manufacturer") ?: "";
        const char *model = bus_value_get_string(props, "Model") ?: "";
        char *s;

        if (*manufacturer && *model) {
                if (asprintf(&s, "%s/%s", manufacturer, model) < 0)
                        return NULL;
                return s;
        }
        return strdup(*manufacturer ? manufacturer : *model ? model : "-");
}

void token_write_json(const Token *t, JsonWriter *w) {
        bus_value_write_json_object(t->path, t->props, w);
}
