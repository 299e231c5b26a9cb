/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl list: the tokens present, as an aligned table or JSON. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetonctl.h"
#include "text.h"
#include "tokens.h"

enum {
        COL_SERIAL,
        COL_LABEL,
        COL_MODEL,
        COL_READER,
        COL_STATE,
        COL_CERTS,
        COL_EXPIRES,
        _COL_MAX,
};

static const char *const headers[_COL_MAX] = {
        "SERIAL", "LABEL", "MODEL", "READER", "STATE", "CERTS", "EXPIRES",
};

/* "2026-11-21 (364 days)", "2023-01-01 EXPIRED", or "-" with no certificate. */
static char *format_expiry(size_t n_certs, uint64_t not_after, uint64_t now) {
        char date[TIME_BUF_MAX];
        int64_t days;
        char *s;

        if (n_certs == 0 || not_after == 0)
                return strdup("-");
        format_date_utc(date, not_after);
        if (not_after <= now)
                return asprintf(&s, "%s EXPIRED", date) < 0 ? NULL : s;
        days = days_until(not_after, now);
        return asprintf(&s, "%s (%lld day%s)", date, (long long) days, days == 1 ? "" : "s") < 0 ? NULL : s;
}

/* The cells of one row; a cell never looks empty (text_cell()). */
static int row_fill(char **cells, const Token *t, uint64_t now) {
        uint64_t not_after;
        size_t n_certs = token_certificates(t->props, &not_after);
        _cleanup_free_ char *model = token_model(t->props);

        if (!model)
                return -ENOMEM;
        cells[COL_SERIAL] = text_cell(bus_value_get_string(t->props, "Serial"));
        cells[COL_LABEL] = text_cell(bus_value_get_string(t->props, "Label"));
        cells[COL_MODEL] = text_cell(model);
        cells[COL_READER] = text_cell(bus_value_get_string(t->props, "Reader"));
        cells[COL_STATE] = text_cell(bus_value_get_string(t->props, "State"));
        if (asprintf(&cells[COL_CERTS], "%zu", n_certs) < 0)
                cells[COL_CERTS] = NULL;
        cells[COL_EXPIRES] = format_expiry(n_certs, not_after, now);

        for (size_t j = 0; j < _COL_MAX; j++)
                if (!cells[j])
                        return -ENOMEM;
        return 0;
}

static int print_table(const Token *tokens, size_t n, bool legend) {
        uint64_t now = now_usec();
        char **cells;
        int r = 0;

        if (n == 0) {
                if (legend)
                        puts("No tokens present.");
                return 0;
        }
        cells = calloc(n * _COL_MAX, sizeof(char *));
        if (!cells)
                return log_errorf(-ENOMEM, "Out of memory.");
        for (size_t i = 0; i < n && r >= 0; i++)
                r = row_fill(cells + i * _COL_MAX, tokens + i, now);
        if (r >= 0) {
                text_print_table(stdout, headers, _COL_MAX, cells, n, legend);
                if (legend)
                        printf("\n%zu token%s listed.\n", n, n == 1 ? "" : "s");
        }
        for (size_t i = 0; i < n * _COL_MAX; i++)
                free(cells[i]);
        free(cells);
        return r < 0 ? log_errorf(r, "Out of memory.") : 0;
}

/* USB tokens jetond saw that need a PKCS#11 module which is not installed:
 * without this line a holder sees their token simply missing. */
static void print_missing_modules(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *syspath, *model, *id, *status;
        static const char needs[] = "needs-module:";

        if (sd_bus_get_property(bus, JETON_BUS_NAME, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "Devices", &error,
                                &reply, "a(ssss)") < 0 ||
            sd_bus_message_enter_container(reply, 'a', "(ssss)") < 0)
                return;         /* an older jetond: nothing to add */
        while (sd_bus_message_read(reply, "(ssss)", &syspath, &model, &id, &status) > 0) {
                if (strncmp(status, needs, strlen(needs)) != 0)
                        continue;
                _cleanup_free_ char *m = text_sanitize(model), *i = text_sanitize(id),
                                    *module = text_sanitize(status + strlen(needs));
                if (m && i && module)
                        printf("%s (USB %s) is plugged in but needs the PKCS#11 module %s, which is not "
                               "installed.\n", m, i, module);
        }
}

int verb_list(Context *c, int argc, char **argv) {
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_free_ Token *tokens = NULL;
        size_t n;
        int r;

        r = tokens_get(c->bus, &objects, &tokens, &n);
        if (r != 0)
                return r;

        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                json_begin_array(&w);
                for (size_t i = 0; i < n; i++)
                        token_write_json(tokens + i, &w);
                json_end_array(&w);
                return json_output_end(&w);
        }

        r = print_table(tokens, n, c->legend);
        if (r >= 0)
                print_missing_modules(c->bus);
        return r;
}
