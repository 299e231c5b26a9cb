/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's orders as jetonctl sees them: views onto the Order objects
 * of one GetManagedObjects reply (tokens.h has the same for tokens). */

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "bus-value.h"
#include "json.h"

typedef struct OrderView {
        const char *path;       /* borrowed from the objects tree */
        const BusValue *props;  /* the org.jeton.Jeton1.Order properties */
} OrderView;

/* The Order objects in objects, oldest first (Created, then reference);
 * the array (free() it) borrows from objects. */
int orders_from_objects(const BusValue *objects, OrderView **ret, size_t *ret_n);

/* The order whose reference or object path is spec; reports none and
 * returns EXIT_NO_TOKEN (status 3: "names nothing"). */
int order_find(const OrderView *orders, size_t n, const char *spec, const OrderView **ret);

/* The orders of a new GetManagedObjects reply (daemon_get_objects(),
 * tokens.h), borrowing from *ret_objects; order_get() finds the one spec
 * names among them, as order_find() does. On failure reported, and the
 * verb's return value returned; the caller frees what was set. */
int orders_get(sd_bus *bus, BusValue **ret_objects, OrderView **ret, size_t *ret_n);
int order_get(sd_bus *bus, const char *spec, BusValue **ret_objects, OrderView **ret_orders,
              const OrderView **ret);

/* The order as one JSON object: "path", then every property under its
 * D-Bus name. */
void order_write_json(const OrderView *o, JsonWriter *w);

/* Reports jetond's InvalidOrders error for the file shown (sanitised):
 * "nothing was imported", then one "FILE: line N, field F: message" line
 * per problem, each sanitised. Returns -EINVAL. */
int orders_report_invalid(const char *shown, const sd_bus_error *error);

/* Whether s is a state an order can be in. */
bool order_state_known(const char *s);
