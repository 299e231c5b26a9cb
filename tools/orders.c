/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetonctl.h"
#include "orders.h"
#include "text.h"
#include "tokens.h"

static const char *const order_states[] = {
        "pending", "key-generated", "submitted", "certificate-received", "installed", "failed", "cancelled",
};

bool order_state_known(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(order_states); i++)
                if (streq(s, order_states[i]))
                        return true;
        return false;
}

static int order_compare(const void *a, const void *b) {
        const OrderView *x = a, *y = b;
        uint64_t tx = 0, ty = 0;

        (void) bus_value_get_uint(x->props, "Created", &tx);
        (void) bus_value_get_uint(y->props, "Created", &ty);
        if (tx != ty)
                return tx < ty ? -1 : 1;
        return strcmp(bus_value_get_string(x->props, "Reference") ?: x->path,
                      bus_value_get_string(y->props, "Reference") ?: y->path);
}

int orders_from_objects(const BusValue *objects, OrderView **ret, size_t *ret_n) {
        _cleanup_free_ OrderView *orders = NULL;
        size_t n = 0;

        if (!objects || objects->type != BUS_VALUE_OBJECT)
                return -EBADMSG;
        orders = calloc(objects->n ?: 1, sizeof(OrderView));
        if (!orders)
                return -ENOMEM;
        for (size_t i = 0; i < objects->n; i++) {
                const BusValue *props = bus_value_get(objects->items[i], JETON_ORDER_IFACE);

                if (props && props->type == BUS_VALUE_OBJECT)
                        orders[n++] = (OrderView) { .path = objects->keys[i], .props = props };
        }
        qsort(orders, n, sizeof(OrderView), order_compare);
        *ret = TAKE_PTR(orders);
        *ret_n = n;
        return 0;
}

int order_find(const OrderView *orders, size_t n, const char *spec, const OrderView **ret) {
        _cleanup_free_ char *shown = NULL;

        for (size_t i = 0; i < n; i++)
                if (streq(spec, orders[i].path) ||
                    streq(spec, bus_value_get_string(orders[i].props, "Reference") ?: "")) {
                        *ret = orders + i;
                        return 0;
                }
        shown = text_sanitize(spec);
        log_errorf(-ENXIO, "No order '%s'; 'jetonctl order list' shows the orders.", shown ?: "?");
        return EXIT_NO_TOKEN;
}

int orders_get(sd_bus *bus, BusValue **ret_objects, OrderView **ret, size_t *ret_n) {
        int r;

        r = daemon_get_objects(bus, ret_objects);
        if (r != 0)
                return r;
        r = orders_from_objects(*ret_objects, ret, ret_n);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        return 0;
}

int order_get(sd_bus *bus, const char *spec, BusValue **ret_objects, OrderView **ret_orders,
              const OrderView **ret) {
        size_t n;
        int r;

        r = orders_get(bus, ret_objects, ret_orders, &n);
        if (r != 0)
                return r;
        return order_find(*ret_orders, n, spec, ret);
}

void order_write_json(const OrderView *o, JsonWriter *w) {
        bus_value_write_json_object(o->path, o->props, w);
}

int orders_report_invalid(const char *shown, const sd_bus_error *error) {
        const char *p = error->message ?: "";

        log_errorf(-EINVAL, "%s: nothing was imported:", shown ?: "?");
        while (*p) {
                size_t len = strcspn(p, "\n");
                _cleanup_free_ char *one = strndup(p, len), *safe = text_sanitize(one);

                if (len > 0)
                        fprintf(stderr, "%s: %s\n", shown ?: "?", safe ?: "?");
                p += len;
                if (*p == '\n')
                        p++;
        }
        return -EINVAL;
}
