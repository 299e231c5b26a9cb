/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.jeton.Jeton1.Order: one object per order under
 * /org/jeton/Jeton1/order/, served by a fallback vtable, an object-find
 * callback and a node enumerator over the orders (orders.h); and the
 * Manager's order methods (AddOrder, ImportOrders). */

#include <systemd/sd-bus.h>

#include "manager.h"
#include "orders.h"

extern const sd_bus_vtable order_vtable[];

int bus_order_setup(Manager *m);

/* JETON_ORDER_PREFIX "/" sd_bus_path_encode(reference). */
int bus_order_path(const char *reference, char **ret);

/* InterfacesAdded / PropertiesChanged (all properties); failures to send
 * are logged, never fatal. */
void bus_order_emit_added(DaemonOrder *o);
void bus_order_emit_changed(DaemonOrder *o);

/* Manager methods, in bus-manager.c's vtable. */
int bus_order_method_add(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_order_method_import(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* Refuses (Error.Exists) orders whose reference is known already, naming
 * all of them, not just the first; 0 when every one is new. */
int bus_orders_refuse_known(Manager *m, Order *const *orders, size_t n, sd_bus_error *error);
