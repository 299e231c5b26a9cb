/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "bus-token.h"
#include "log.h"
#include "util.h"

int bus_token_path(const char *id, char **ret) {
        return sd_bus_path_encode(JETON_TOKEN_PREFIX, id, ret);
}

static int append_hex(sd_bus_message *reply, const char *key, const uint8_t *p, size_t n) {
        _cleanup_free_ char *hex = hexmem(p, n);

        if (!hex)
                return -ENOMEM;
        return sd_bus_message_append(reply, "{sv}", key, "s", hex);
}

static int append_key(sd_bus_message *reply, const JP11Key *k) {
        const char *curve = k->curve == JP11_CURVE_NONE ? "" : jp11_curve_name(k->curve);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_hex(reply, "id", k->id, k->id_len);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "label", "s", k->label,
                                  "class", "s", k->is_private ? "private" : "public",
                                  "algorithm", "s", strempty(jp11_key_type_name(k->type)),
                                  "size", "u", (uint32_t) k->bits,
                                  "curve", "s", strempty(curve),
                                  "local", "b", (int) k->local,
                                  "sensitive", "b", (int) k->sensitive,
                                  "extractable", "b", (int) k->extractable,
                                  "always-authenticate", "b", (int) k->always_authenticate);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_keys(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Token *t = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_keys; i++) {
                r = append_key(reply, t->keys + i);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static uint64_t time_to_usec(time_t t) {
        return t <= 0 ? 0 : (uint64_t) t * UINT64_C(1000000);
}

static int append_certificate(sd_bus_message *reply, const JP11Certificate *c) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_hex(reply, "id", c->id, c->id_len);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "label", "s", c->label,
                                  "subject", "s", c->subject,
                                  "issuer", "s", c->issuer,
                                  "serial", "s", c->serial,
                                  "not-before", "t", time_to_usec(c->not_before),
                                  "not-after", "t", time_to_usec(c->not_after),
                                  "category", "u", (uint32_t) c->category);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_certificates(sd_bus *bus, const char *path, const char *interface,
                                     const char *property, sd_bus_message *reply, void *userdata,
                                     sd_bus_error *error) {
        Token *t = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_certs; i++) {
                r = append_certificate(reply, t->certs + i);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

const sd_bus_vtable token_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Reader", "s", NULL, offsetof(Token, reader), EMITS),
        SD_BUS_PROPERTY("Module", "s", NULL, offsetof(Token, module), EMITS),
        SD_BUS_PROPERTY("Slot", "t", NULL, offsetof(Token, slot), EMITS),
        SD_BUS_PROPERTY("Manufacturer", "s", NULL, offsetof(Token, manufacturer), EMITS),
        SD_BUS_PROPERTY("Model", "s", NULL, offsetof(Token, model), EMITS),
        SD_BUS_PROPERTY("Serial", "s", NULL, offsetof(Token, serial), EMITS),
        SD_BUS_PROPERTY("Label", "s", NULL, offsetof(Token, label), EMITS),
        SD_BUS_PROPERTY("Atr", "s", NULL, offsetof(Token, atr), EMITS),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(Token, state), EMITS),
        SD_BUS_PROPERTY("PinFlags", "as", NULL, offsetof(Token, pin_flags), EMITS),
        SD_BUS_PROPERTY("PinMinLength", "u", NULL, offsetof(Token, pin_min_length), EMITS),
        SD_BUS_PROPERTY("PinMaxLength", "u", NULL, offsetof(Token, pin_max_length), EMITS),
        SD_BUS_PROPERTY("Keys", "aa{sv}", property_get_keys, 0, EMITS),
        SD_BUS_PROPERTY("Certificates", "aa{sv}", property_get_certificates, 0, EMITS),
        SD_BUS_PROPERTY("Uri", "s", NULL, offsetof(Token, uri), EMITS),
        SD_BUS_PROPERTY("InsertedAt", "t", NULL, offsetof(Token, inserted_at), EMITS),
        SD_BUS_VTABLE_END
};

static int token_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                             void **found, sd_bus_error *error) {
        _cleanup_free_ char *id = NULL;
        Manager *m = userdata;
        Token *t;
        int r;

        r = sd_bus_path_decode(path, JETON_TOKEN_PREFIX, &id);
        if (r <= 0)
                return r;
        t = registry_find_token(m, id);
        if (!t)
                return 0;
        *found = t;
        return 1;
}

static int token_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                 sd_bus_error *error) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        Manager *m = userdata;

        if (!l)
                return -ENOMEM;
        for (Token *t = m->tokens; t; t = t->next)
                if (strv_extend(&l, t->path) < 0)
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

int bus_token_setup(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->slot_tokens, JETON_TOKEN_PREFIX, JETON_TOKEN_INTERFACE,
                                       token_vtable, token_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the token vtable: %m");
        r = sd_bus_add_node_enumerator(m->bus, &m->slot_token_enumerator, JETON_TOKEN_PREFIX,
                                       token_node_enumerator, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the token enumerator: %m");
        return 0;
}

void bus_token_emit_added(Token *t) {
        int r;

        if (!t->manager->bus)
                return;
        r = sd_bus_emit_interfaces_added(t->manager->bus, t->path, JETON_TOKEN_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce %s: %m", t->path);
}

void bus_token_emit_removed(Token *t) {
        int r;

        if (!t->manager->bus)
                return;
        r = sd_bus_emit_interfaces_removed(t->manager->bus, t->path, JETON_TOKEN_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce the removal of %s: %m", t->path);
}

void bus_token_emit_changed(Token *t, char **properties) {
        int r;

        if (!t->manager->bus)
                return;
        r = sd_bus_emit_properties_changed_strv(t->manager->bus, t->path, JETON_TOKEN_INTERFACE, properties);
        if (r < 0)
                log_warning_errno(r, "Failed to announce changes of %s: %m", t->path);
}
