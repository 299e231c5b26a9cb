/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-event.h"
#include "text.h"
#include "tokens.h"

#define JETON_IFACE_PREFIX "org.jeton.Jeton1."

static const char *const kind_names[] = {
        [EVENT_ADDED] = "added",
        [EVENT_REMOVED] = "removed",
        [EVENT_CHANGED] = "changed",
};

/* "token-added" for org.jeton.Jeton1.Token, "order-changed" for a later
 * ...Order, "object-removed" for an interface not ours. */
static char *event_name(const char *interface, EventKind kind) {
        _cleanup_free_ char *noun = NULL;
        char *s;

        if (strncmp(interface, JETON_IFACE_PREFIX, strlen(JETON_IFACE_PREFIX)) == 0)
                noun = text_kebab_case(interface + strlen(JETON_IFACE_PREFIX));
        else
                noun = strdup("object");
        if (!noun || asprintf(&s, "%s-%s", noun, kind_names[kind]) < 0)
                return NULL;
        return s;
}

static void print_prefix(uint64_t t, const char *name) {
        char buf[TIME_BUF_MAX];

        printf("%s %-15s", format_clock_local(buf, t), name);
}

static void json_prefix(JsonWriter *w, uint64_t t, const char *name) {
        char buf[TIME_BUF_MAX];

        json_key(w, "timestamp");
        json_uint(w, t);
        json_key(w, "time");
        json_string(w, format_iso8601(buf, t));
        json_key(w, "event");
        json_string(w, name);
}

/* A value on one line: strings (quoted when needed), numbers, yes/no;
 * a list of dictionaries (keys, certificates) as its length, any other
 * list item by item, a struct's fields space-separated, empty strings
 * left out ("empty" reader with no ATR). */
static void print_short_value(const BusValue *v) {
        if (!v) {
                fputs("?", stdout);
                return;
        }
        switch (v->type) {
        case BUS_VALUE_BOOL:
                fputs(v->b ? "yes" : "no", stdout);
                break;
        case BUS_VALUE_INT:
                printf("%lld", (long long) v->i);
                break;
        case BUS_VALUE_UINT:
                printf("%llu", (unsigned long long) v->u);
                break;
        case BUS_VALUE_DOUBLE:
                printf("%g", v->d);
                break;
        case BUS_VALUE_STRING:
                text_print(stdout, v->s, false);
                break;
        case BUS_VALUE_OBJECT:
                printf("%zu", v->n);
                break;
        case BUS_VALUE_ARRAY:
                if (v->n > 0 && v->items[0]->type == BUS_VALUE_OBJECT) {
                        printf("%zu", v->n);
                        break;
                }
                if (v->n == 0)
                        fputs("none", stdout);
                for (size_t i = 0; i < v->n; i++) {
                        const BusValue *item = v->items[i];

                        if (i > 0)
                                fputs(", ", stdout);
                        if (item->type != BUS_VALUE_ARRAY) {
                                print_short_value(item);
                                continue;
                        }
                        for (size_t j = 0, shown = 0; j < item->n; j++) {
                                const char *field = bus_value_string(item->items[j]);

                                if (field && !*field)
                                        continue;
                                if (shown++ > 0)
                                        putchar(' ');
                                print_short_value(item->items[j]);
                        }
                }
                break;
        }
}

static void print_token_summary(const BusValue *props, bool full) {
        const char *serial = bus_value_get_string(props, "Serial");

        /* A card no module recognises has no model or serial: its ATR
         * is what tells it apart. */
        if (serial && *serial) {
                _cleanup_free_ char *model = token_model(props);

                putchar(' ');
                text_print(stdout, model ?: "?", false);
                fputs(" serial ", stdout);
                text_print(stdout, serial, false);
        } else {
                fputs(" card atr ", stdout);
                text_print(stdout, bus_value_get_string(props, "Atr") ?: "?", false);
        }
        if (!full)
                return;
        fputs(" label ", stdout);
        text_print(stdout, bus_value_get_string(props, "Label") ?: "", true);
        fputs(" reader ", stdout);
        text_print(stdout, bus_value_get_string(props, "Reader") ?: "?", true);
        fputs(" state ", stdout);
        text_print(stdout, bus_value_get_string(props, "State") ?: "?", false);
}

static void print_changes(const Event *e) {
        for (size_t i = 0; i < bus_value_count(e->changed); i++) {
                _cleanup_free_ char *name = text_kebab_case(e->changed->keys[i]);
                const BusValue *old = bus_value_get(e->old, e->changed->keys[i]);

                fputs(i > 0 ? "; " : " ", stdout);
                text_print(stdout, name ?: "?", false);
                putchar(' ');
                /* "old -> new" for single values; a list is shown as it is now. */
                if (old && old->type != BUS_VALUE_ARRAY && old->type != BUS_VALUE_OBJECT) {
                        print_short_value(old);
                        fputs(" -> ", stdout);
                }
                print_short_value(bus_value_get(e->props, e->changed->keys[i]));
        }
        for (size_t i = 0; i < bus_value_count(e->invalidated); i++) {
                _cleanup_free_ char *name = text_kebab_case(bus_value_string(e->invalidated->items[i]) ?: "?");

                fputs(i > 0 || bus_value_count(e->changed) > 0 ? "; " : " ", stdout);
                text_print(stdout, name ?: "?", false);
                fputs(" changed", stdout);
        }
}

int event_print(const Event *e, JsonMode json) {
        _cleanup_free_ char *name = event_name(e->interface, e->kind);
        uint64_t t = now_usec();

        if (!name)
                return -ENOMEM;

        if (json != JSON_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, false);
                json_begin_object(&w);
                json_prefix(&w, t, name);
                json_key(&w, "path");
                json_string(&w, e->path);
                json_key(&w, "interface");
                json_string(&w, e->interface);
                if (e->kind == EVENT_CHANGED) {
                        json_key(&w, "changed");
                        json_begin_object(&w);
                        for (size_t i = 0; i < bus_value_count(e->changed); i++) {
                                json_key(&w, e->changed->keys[i]);
                                bus_value_write_json(bus_value_get(e->props, e->changed->keys[i]), &w);
                        }
                        json_end_object(&w);
                        json_key(&w, "invalidated");
                        if (e->invalidated)
                                bus_value_write_json(e->invalidated, &w);
                        else {
                                json_begin_array(&w);
                                json_end_array(&w);
                        }
                }
                json_key(&w, "properties");
                if (e->props)
                        bus_value_write_json(e->props, &w);
                else {
                        json_begin_object(&w);
                        json_end_object(&w);
                }
                json_end_object(&w);
                return json_writer_end(&w);
        }

        print_prefix(t, name);
        if (streq(e->interface, JETON_TOKEN_IFACE))
                print_token_summary(e->props, e->kind != EVENT_CHANGED);
        else {
                putchar(' ');
                text_print(stdout, e->path, false);
        }
        if (e->kind == EVENT_CHANGED)
                print_changes(e);
        putchar('\n');
        return fflush(stdout) == 0 ? 0 : -errno;
}

int event_print_daemon(bool started, const char *owner, JsonMode json) {
        const char *name = started ? "daemon-started" : "daemon-stopped";
        uint64_t t = now_usec();

        if (json != JSON_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, false);
                json_begin_object(&w);
                json_prefix(&w, t, name);
                json_key(&w, "owner");
                json_string(&w, owner);
                json_end_object(&w);
                return json_writer_end(&w);
        }
        print_prefix(t, name);
        printf(" %s %s\n", JETON_BUS_NAME, owner);
        return fflush(stdout) == 0 ? 0 : -errno;
}
