/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "text.h"

bool name_in(const char *name, const char *const *names) {
        for (; *names; names++)
                if (streq(name, *names))
                        return true;
        return false;
}

void print_json_value(const BusValue *v) {
        _cleanup_free_ char *buf = NULL, *safe = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        JsonWriter w;

        if (!f) {
                puts("?");
                return;
        }
        json_writer_init(&w, f, false);
        bus_value_write_json(v, &w);
        fputc('\0', f);         /* json_writer_end() is not used: it adds a newline */
        if (fclose(f) != 0 || !buf) {
                puts("?");
                return;
        }
        safe = text_sanitize(buf);
        puts(safe ?: "?");
}

void field_begin(int indent, int width, const char *name) {
        printf("%*s%*s: ", indent, "", width, name);
}

void field_string(int indent, int width, const char *name, const char *value) {
        _cleanup_free_ char *safe = text_cell(value);

        field_begin(indent, width, name);
        puts(safe ?: "?");
}

void field_time(int indent, int width, const char *name, const BusValue *props, const char *key) {
        char buf[TIME_BUF_MAX];
        uint64_t t;

        if (!bus_value_get_uint(props, key, &t))
                return;
        field_begin(indent, width, name);
        puts(t > 0 ? format_time_utc(buf, t) : "-");
}

void print_unknown_entries(const BusValue *dict, const char *const *known, int indent, int width) {
        for (size_t i = 0; i < bus_value_count(dict); i++)
                if (dict->keys && !name_in(dict->keys[i], known)) {
                        _cleanup_free_ char *name = text_sanitize(dict->keys[i]);

                        field_begin(indent, width, name ?: "?");
                        print_json_value(dict->items[i]);
                }
}
