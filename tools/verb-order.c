/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl order add|import|list|show|cancel: certificate orders as
 * jetond holds them. Adding, importing and cancelling are checked by
 * jetond (polkit action org.jeton.Jeton1.manage-orders); reading is open. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "call-error.h"
#include "fields.h"
#include "jetonctl.h"
#include "orders.h"
#include "text.h"

#define FIELD_WIDTH 14

const char *const order_arg_names[_ORDER_ARG_MAX] = {
        [ORDER_ARG_REFERENCE] = "reference",
        [ORDER_ARG_PROFILE] = "profile",
        [ORDER_ARG_CA] = "ca",
        [ORDER_ARG_PRODUCT] = "product",
        [ORDER_ARG_GIVEN_NAME] = "given-name",
        [ORDER_ARG_SURNAME] = "surname",
        [ORDER_ARG_EMAIL] = "email",
        [ORDER_ARG_IDENTIFIER] = "identifier",
        [ORDER_ARG_ORGANISATION] = "organisation",
        [ORDER_ARG_SIRET] = "siret",
        [ORDER_ARG_SIREN] = "siren",
        [ORDER_ARG_VAT] = "vat",
};

static const Subcommand subcommands[] = {
        { "add", 2, 2 },
        { "import", 3, 3 },
        { "list", 2, 2 },
        { "show", 3, 3 },
        { "cancel", 3, 3 },
};

int verb_order_check(const Context *c, int argc, char **argv) {
        static const OrderArg required[] = {
                ORDER_ARG_REFERENCE, ORDER_ARG_PROFILE, ORDER_ARG_GIVEN_NAME, ORDER_ARG_SURNAME,
        };
        int r;

        if (argc < 2) {
                log_errorf(-EINVAL, "'order' needs a command: add, import, list, show or cancel.");
                return EXIT_USAGE;
        }
        r = subcommand_check(subcommands, ELEMENTSOF(subcommands), argc, argv);
        if (r != 0)
                return r;

        if (streq(argv[1], "add")) {
                for (size_t k = 0; k < ELEMENTSOF(required); k++)
                        if (!c->order_args[required[k]] || !*c->order_args[required[k]]) {
                                log_errorf(-EINVAL, "'order add' needs --%s.", order_arg_names[required[k]]);
                                return EXIT_USAGE;
                        }
                if (c->order_args[ORDER_ARG_SIRET] && c->order_args[ORDER_ARG_SIREN]) {
                        log_errorf(-EINVAL, "Give --siret or --siren, not both: a SIRET holds the SIREN.");
                        return EXIT_USAGE;
                }
        } else
                for (size_t k = 0; k < _ORDER_ARG_MAX; k++)
                        if (c->order_args[k] || c->validity_years > 0) {
                                log_errorf(-EINVAL, "Order fields are options of 'order add' only.");
                                return EXIT_USAGE;
                        }
        if (c->format && !streq(argv[1], "import")) {
                log_errorf(-EINVAL, "--format is an option of 'order import' only.");
                return EXIT_USAGE;
        }
        if (c->state && !streq(argv[1], "list")) {
                log_errorf(-EINVAL, "--state is an option of 'order list' only.");
                return EXIT_USAGE;
        }
        return 0;
}

static const char *path_reference(const char *path, char **buf) {
        if (sd_bus_path_decode(path, JETON_ORDER_PREFIX, buf) > 0)
                return *buf;
        return path;
}

static int order_add(Context *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        int r;

        r = jetond_call_new(c->bus, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "AddOrder", &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; i < _ORDER_ARG_MAX && r >= 0; i++)
                if (c->order_args[i] && *c->order_args[i])
                        r = sd_bus_message_append(m, "{sv}", order_arg_names[i], "s", c->order_args[i]);
        if (r >= 0 && c->validity_years > 0)
                r = sd_bus_message_append(m, "{sv}", "validity-years", "u", c->validity_years);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");

        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0)
                return log_call_error(&error, r, "Failed to add the order");
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");

        printf("Added order %s (%s).\n", c->order_args[ORDER_ARG_REFERENCE], path);
        return 0;
}

static int order_import(Context *c, const char *file) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *shown = text_sanitize(file);
        const char *path;
        size_t n = 0;
        int fd, r;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_errorf(-errno, "Failed to open %s: %m", shown ?: "?");

        r = jetond_call_new(c->bus, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "ImportOrders", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "hsa{sv}", fd, c->format ?: "", 0);
        close(fd);
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");

        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, JETON_ERROR_PREFIX "InvalidOrders"))
                        return orders_report_invalid(shown, &error);
                return log_call_error(&error, r, "Failed to import the orders");
        }

        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        while ((r = sd_bus_message_read(reply, "o", &path)) > 0) {
                _cleanup_free_ char *ref = NULL;
                _cleanup_free_ char *safe = text_sanitize(path_reference(path, &ref));

                printf("Imported order %s\n", safe ?: "?");
                n++;
        }
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        printf("%zu order%s imported.\n", n, n == 1 ? "" : "s");
        return 0;
}

enum {
        COL_REFERENCE,
        COL_PROFILE,
        COL_HOLDER,
        COL_ORGANISATION,
        COL_STATE,
        COL_TOKEN,
        COL_UPDATED,
        _COL_MAX,
};

static const char *const headers[_COL_MAX] = {
        "REFERENCE", "PROFILE", "HOLDER", "ORGANISATION", "STATE", "TOKEN", "UPDATED",
};

static char *holder_name(const BusValue *props) {
        const char *given = bus_value_get_string(props, "GivenName") ?: "";
        const char *surname = bus_value_get_string(props, "Surname") ?: "";
        char *s;

        if (asprintf(&s, "%s%s%s", given, *given && *surname ? " " : "", surname) < 0)
                return NULL;
        return s;
}

static int row_fill(char **cells, const OrderView *o) {
        _cleanup_free_ char *holder = holder_name(o->props);
        char buf[TIME_BUF_MAX];
        uint64_t updated = 0;

        if (!holder)
                return -ENOMEM;
        cells[COL_REFERENCE] = text_cell(bus_value_get_string(o->props, "Reference"));
        cells[COL_PROFILE] = text_cell(bus_value_get_string(o->props, "Profile"));
        cells[COL_HOLDER] = text_cell(holder);
        cells[COL_ORGANISATION] = text_cell(bus_value_get_string(o->props, "Organisation"));
        cells[COL_STATE] = text_cell(bus_value_get_string(o->props, "State"));
        cells[COL_TOKEN] = text_cell(bus_value_get_string(o->props, "TokenSerial"));
        (void) bus_value_get_uint(o->props, "Updated", &updated);
        cells[COL_UPDATED] = text_cell(updated > 0 ? format_time_utc(buf, updated) : NULL);
        for (size_t j = 0; j < _COL_MAX; j++)
                if (!cells[j])
                        return -ENOMEM;
        return 0;
}

static int order_list(Context *c) {
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_free_ OrderView *all = NULL;
        _cleanup_free_ char **cells = NULL;
        size_t n_all, n = 0;
        int r;

        r = orders_get(c->bus, &objects, &all, &n_all);
        if (r != 0)
                return r;
        /* Filter in place: the views are borrowed pointers. */
        for (size_t i = 0; i < n_all; i++)
                if (!c->state || streq(bus_value_get_string(all[i].props, "State") ?: "", c->state))
                        all[n++] = all[i];

        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                json_begin_array(&w);
                for (size_t i = 0; i < n; i++)
                        order_write_json(all + i, &w);
                json_end_array(&w);
                return json_output_end(&w);
        }

        if (n == 0) {
                if (c->legend)
                        puts(c->state ? "No orders in that state." : "No orders.");
                return 0;
        }
        cells = calloc(n * _COL_MAX, sizeof(char *));
        if (!cells)
                return log_errorf(-ENOMEM, "Out of memory.");
        for (size_t i = 0; i < n && r >= 0; i++)
                r = row_fill(cells + i * _COL_MAX, all + i);
        if (r >= 0) {
                text_print_table(stdout, headers, _COL_MAX, cells, n, c->legend);
                if (c->legend)
                        printf("\n%zu order%s listed.\n", n, n == 1 ? "" : "s");
        }
        for (size_t i = 0; i < n * _COL_MAX; i++)
                free(cells[i]);
        return r < 0 ? log_errorf(r, "Out of memory.") : 0;
}

static void print_evidence(const BusValue *props) {
        static const char *const flags[] = { "local", "always-sensitive", "never-extractable" };
        static const char *const known[] = {
                "local", "always-sensitive", "never-extractable", "token-manufacturer", "token-model",
                "token-serial", NULL,
        };
        const BusValue *e = bus_value_get(props, "Evidence");
        bool first = true;

        if (bus_value_count(e) == 0) {
                if (e)
                        field_string(0, FIELD_WIDTH, "Evidence", NULL);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
                bool b;

                if (!bus_value_get_bool(e, flags[i], &b))
                        continue;
                if (first)
                        field_begin(0, FIELD_WIDTH, "Evidence");
                printf("%s%s=%s", first ? "" : " ", flags[i], b ? "yes" : "no");
                first = false;
        }
        if (!first)
                putchar('\n');
        field_string(4, FIELD_WIDTH - 4, "Manufacturer", bus_value_get_string(e, "token-manufacturer"));
        field_string(4, FIELD_WIDTH - 4, "Model", bus_value_get_string(e, "token-model"));
        field_string(4, FIELD_WIDTH - 4, "Serial", bus_value_get_string(e, "token-serial"));
        print_unknown_entries(e, known, 4, FIELD_WIDTH - 4);
}

static void print_order(const OrderView *o) {
        static const char *const strings[][2] = {
                { "Reference", "Reference" },
                { "State", "State" },
                { "FailedStep", "Failed step" },
                { "FailedReason", "Failed reason" },
                { "Profile", "Profile" },
                { "Ca", "CA" },
                { "Product", "Product" },
                { "GivenName", "Given name" },
                { "Surname", "Surname" },
                { "Email", "Email" },
                { "Identifier", "Identifier" },
                { "Organisation", "Organisation" },
                { "Siren", "SIREN" },
                { "Siret", "SIRET" },
                { "Vat", "VAT" },
                { "TokenSerial", "Token serial" },
                { "KeyId", "Key ID" },
                { "CsrPath", "CSR path" },
        };
        static const char *const known[] = {
                "Reference", "State", "FailedStep", "FailedReason", "Profile", "Ca", "Product", "GivenName",
                "Surname", "Email", "Identifier", "Organisation", "Siren", "Siret", "Vat", "TokenSerial",
                "KeyId", "CsrPath", "ValidityYears", "Evidence", "Csr", "Certificate", "NotAfter", "Created",
                "Updated", NULL,
        };
        const char *csr = bus_value_get_string(o->props, "Csr");
        const char *cert = bus_value_get_string(o->props, "Certificate");
        uint64_t u, now = now_usec();
        char buf[TIME_BUF_MAX];

        fputs("Order ", stdout);
        text_print(stdout, o->path, false);
        putchar('\n');
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                const char *v = bus_value_get_string(o->props, strings[i][0]);

                /* The failure fields say nothing unless the order failed. */
                if (!bus_value_get(o->props, strings[i][0]) ||
                    (strncmp(strings[i][0], "Failed", 6) == 0 && (!v || !*v)))
                        continue;
                field_string(0, FIELD_WIDTH, strings[i][1], v);
                if (streq(strings[i][0], "Product") && bus_value_get_uint(o->props, "ValidityYears", &u)) {
                        field_begin(0, FIELD_WIDTH, "Validity");
                        printf("%llu year%s\n", (unsigned long long) u, u == 1 ? "" : "s");
                }
        }
        print_evidence(o->props);
        if (csr) {
                field_begin(0, FIELD_WIDTH, "CSR");
                puts(*csr ? "present (PEM: see --json or the CSR path)" : "-");
        }
        if (cert) {
                field_begin(0, FIELD_WIDTH, "Certificate");
                if (!*cert)
                        puts("-");
                else if (bus_value_get_uint(o->props, "NotAfter", &u) && u > 0) {
                        int64_t days = days_until(u, now);

                        fputs("not after ", stdout);
                        fputs(format_time_utc(buf, u), stdout);
                        if (u <= now)
                                puts(" EXPIRED");
                        else
                                printf(" (%lld day%s left)\n", (long long) days, days == 1 ? "" : "s");
                } else
                        puts("present");
        }
        field_time(0, FIELD_WIDTH, "Created", o->props, "Created");
        field_time(0, FIELD_WIDTH, "Updated", o->props, "Updated");
        print_unknown_entries(o->props, known, 0, FIELD_WIDTH);
}

static int order_show(Context *c, const char *spec) {
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_free_ OrderView *orders = NULL;
        const OrderView *o;
        int r;

        r = order_get(c->bus, spec, &objects, &orders, &o);
        if (r != 0)
                return r;

        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                order_write_json(o, &w);
                return json_output_end(&w);
        }
        print_order(o);
        return 0;
}

static int order_cancel(Context *c, const char *spec) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_free_ OrderView *orders = NULL;
        _cleanup_free_ char *shown = NULL;
        const OrderView *o;
        int r;

        r = order_get(c->bus, spec, &objects, &orders, &o);
        if (r != 0)
                return r;

        r = jetond_call_new(c->bus, o->path, JETON_ORDER_IFACE, "Cancel", &m);
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");
        r = sd_bus_call(c->bus, m, 0, &error, NULL);
        if (r < 0)
                return log_call_error(&error, r, "Failed to cancel the order");
        shown = text_sanitize(bus_value_get_string(o->props, "Reference") ?: spec);
        printf("Cancelled order %s.\n", shown ?: "?");
        return 0;
}

int verb_order(Context *c, int argc, char **argv) {
        const char *sub = argv[1];

        if (streq(sub, "add"))
                return order_add(c);
        if (streq(sub, "import"))
                return order_import(c, argv[2]);
        if (streq(sub, "list"))
                return order_list(c);
        if (streq(sub, "show"))
                return order_show(c, argv[2]);
        return order_cancel(c, argv[2]);
}
