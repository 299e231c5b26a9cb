/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl show TOKEN: every property of one token, its keys and its
 * certificates with their expiry. Properties and dictionary entries this
 * version does not know are printed too, as JSON, so nothing the daemon
 * says is hidden. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "jetonctl.h"
#include "text.h"
#include "tokens.h"

#define FIELD_WIDTH 14

static void print_pin_flags(const BusValue *props) {
        const BusValue *flags = bus_value_get(props, "PinFlags");
        uint64_t min, max;

        if (flags) {
                field_begin(0, FIELD_WIDTH, "PIN flags");
                if (bus_value_count(flags) == 0)
                        fputs("none", stdout);
                for (size_t i = 0; i < bus_value_count(flags); i++) {
                        if (i > 0)
                                putchar(' ');
                        text_print(stdout, bus_value_string(flags->items[i]) ?: "?", false);
                }
                putchar('\n');
        }
        if (bus_value_get_uint(props, "PinMinLength", &min) && bus_value_get_uint(props, "PinMaxLength", &max)) {
                field_begin(0, FIELD_WIDTH, "PIN length");
                printf("%llu to %llu\n", (unsigned long long) min, (unsigned long long) max);
        }
}

static void print_keys(const BusValue *props) {
        static const char *const known[] = {
                "id", "label", "class", "algorithm", "size", "curve",
                "local", "sensitive", "extractable", "always-authenticate", NULL,
        };
        static const char *const attributes[] = { "local", "sensitive", "extractable", "always-authenticate", NULL };
        const BusValue *keys = bus_value_get(props, "Keys");
        size_t n = bus_value_count(keys);

        if (n == 0) {
                puts("\nKeys: none");
                return;
        }
        printf("\nKeys (%zu):\n", n);
        for (size_t i = 0; i < n; i++) {
                const BusValue *k = keys->items[i];
                const char *curve = bus_value_get_string(k, "curve");
                uint64_t size;
                bool first = true;

                fputs("  ", stdout);
                text_print(stdout, bus_value_get_string(k, "class") ?: "?", false);
                putchar(' ');
                text_print(stdout, bus_value_get_string(k, "algorithm") ?: "?", false);
                if (bus_value_get_uint(k, "size", &size) && size > 0)
                        printf(" %llu bits", (unsigned long long) size);
                if (curve && *curve) {
                        fputs(" curve ", stdout);
                        text_print(stdout, curve, false);
                }
                putchar('\n');
                field_string(4, 10, "ID", bus_value_get_string(k, "id"));
                field_string(4, 10, "Label", bus_value_get_string(k, "label"));

                for (const char *const *a = attributes; *a; a++) {
                        bool b;

                        if (!bus_value_get_bool(k, *a, &b))
                                continue;
                        if (first)
                                field_begin(4, 10, "Attributes");
                        printf("%s%s=%s", first ? "" : " ", *a, b ? "yes" : "no");
                        first = false;
                }
                if (!first)
                        putchar('\n');
                print_unknown_entries(k, known, 4, 10);
        }
}

static const char *category_name(uint64_t category) {
        switch (category) {
        case 0:
                return "unspecified";
        case 1:
                return "token user";
        case 2:
                return "authority";
        case 3:
                return "other entity";
        default:
                return "unknown";
        }
}

static void print_certificates(const BusValue *props, uint64_t now) {
        static const char *const known[] = {
                "id", "label", "subject", "issuer", "serial", "not-before", "not-after", "category", NULL,
        };
        const BusValue *certs = bus_value_get(props, "Certificates");
        size_t n = bus_value_count(certs);

        if (n == 0) {
                puts("\nCertificates: none");
                return;
        }
        printf("\nCertificates (%zu):\n", n);
        for (size_t i = 0; i < n; i++) {
                const BusValue *cert = certs->items[i];
                char buf[TIME_BUF_MAX];
                uint64_t t, category;

                _cleanup_free_ char *subject = text_sanitize(bus_value_get_string(cert, "subject") ?: "?");

                printf("  %s\n", subject ?: "?");
                field_string(4, 10, "Issuer", bus_value_get_string(cert, "issuer"));
                field_string(4, 10, "Serial", bus_value_get_string(cert, "serial"));
                field_string(4, 10, "ID", bus_value_get_string(cert, "id"));
                field_string(4, 10, "Label", bus_value_get_string(cert, "label"));
                if (bus_value_get_uint(cert, "not-before", &t)) {
                        field_begin(4, 10, "Not before");
                        puts(format_time_utc(buf, t));
                }
                if (bus_value_get_uint(cert, "not-after", &t)) {
                        int64_t days = days_until(t, now);

                        field_begin(4, 10, "Not after");
                        fputs(format_time_utc(buf, t), stdout);
                        if (t <= now)
                                puts(" EXPIRED");
                        else
                                printf(" (%lld day%s left)\n", (long long) days, days == 1 ? "" : "s");
                }
                if (bus_value_get_uint(cert, "category", &category)) {
                        field_begin(4, 10, "Category");
                        printf("%s (%llu)\n", category_name(category), (unsigned long long) category);
                }
                print_unknown_entries(cert, known, 4, 10);
        }
}

static void print_token(const Token *t) {
        /* In the order a person looks for them; the rest follows below. */
        static const char *const strings[][2] = {
                { "Label", "Label" },
                { "Manufacturer", "Manufacturer" },
                { "Model", "Model" },
                { "Serial", "Serial" },
                { "State", "State" },
                { "Reader", "Reader" },
                { "Module", "Module" },
                { "Atr", "ATR" },
                { "Uri", "URI" },
        };
        static const char *const known[] = {
                "Label", "Manufacturer", "Model", "Serial", "State", "Reader", "Module", "Atr", "Uri",
                "Slot", "InsertedAt", "PinFlags", "PinMinLength", "PinMaxLength", "Keys", "Certificates", NULL,
        };
        uint64_t now = now_usec(), u;
        char buf[TIME_BUF_MAX];

        fputs("Token ", stdout);
        text_print(stdout, t->path, false);
        putchar('\n');

        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (bus_value_get(t->props, strings[i][0]))
                        field_string(0, FIELD_WIDTH, strings[i][1], bus_value_get_string(t->props, strings[i][0]));
        if (bus_value_get_uint(t->props, "Slot", &u)) {
                field_begin(0, FIELD_WIDTH, "Slot");
                printf("%llu\n", (unsigned long long) u);
        }
        print_pin_flags(t->props);
        if (bus_value_get_uint(t->props, "InsertedAt", &u) && u > 0) {
                field_begin(0, FIELD_WIDTH, "Inserted");
                puts(format_time_utc(buf, u));
        }
        print_unknown_entries(t->props, known, 0, FIELD_WIDTH);

        print_keys(t->props);
        print_certificates(t->props, now);
}

int verb_show(Context *c, int argc, char **argv) {
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_free_ Token *tokens = NULL;
        const Token *t;
        size_t n;
        int r;

        r = tokens_get(c->bus, &objects, &tokens, &n);
        if (r != 0)
                return r;
        r = token_find(tokens, n, argv[1], &t);
        if (r != 0)
                return r;

        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                token_write_json(t, &w);
                return json_output_end(&w);
        }

        print_token(t);
        return 0;
}
