/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The orders the daemon knows, on the loop's thread: one DaemonOrder per
 * order of the store, published as an org.jeton.Jeton1.Order object
 * (bus-order.c). The store is the truth: at start every order is read from
 * it, and every change goes to the store first and is announced on the bus
 * (PropertiesChanged) only once it is committed.
 *
 * The transition helpers below are what the job engine calls, from the
 * loop's thread, when a step's result comes back. Each one commits, then
 * replaces o->order with what the store now holds, then emits. On failure
 * nothing changed (neither the store nor the object), the negative errno is
 * returned and *error (may be NULL) says why. actor NULL stands for the
 * daemon itself; pass the actor of the method call that started the job
 * (bus_actor_from_message(), authorize.h) to keep the audit log's "who". */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "order.h"
#include "store.h"

typedef struct Manager Manager;
typedef struct Job Job;

#define JETON_ORDER_PREFIX "/org/jeton/Jeton1/order"
#define JETON_ORDER_INTERFACE "org.jeton.Jeton1.Order"

typedef struct DaemonOrder DaemonOrder;
struct DaemonOrder {
        Manager *manager;
        DaemonOrder *next, *prev;

        Order *order;           /* as the store has it; never NULL */
        char *path;             /* JETON_ORDER_PREFIX "/" sd_bus_path_encode(reference) */
        char *csr_path;         /* the outbox file, once written; NULL before */
};

/* At start, after store_open(): publishes every order of the store. */
int orders_load(Manager *m);
/* Shutdown: frees every DaemonOrder without signals. */
void orders_done(Manager *m);

DaemonOrder *orders_find(Manager *m, const char *reference);
DaemonOrder *orders_find_by_path(Manager *m, const char *path);

/* Manager.AddOrder / ImportOrders: o is validated already; it is added to
 * the store (-EEXIST: the reference is known), then published
 * (InterfacesAdded). *ret (may be NULL) gets the new object. */
int orders_add(Manager *m, const StoreActor *actor, const Order *o, DaemonOrder **ret, StoreError *error);
/* All or nothing; ret (may be NULL) receives n borrowed pointers. */
int orders_import(Manager *m, const StoreActor *actor, Order *const *orders, size_t n, DaemonOrder **ret,
                  StoreError *error);

/* pending (or failed at key generation) -> key-generated: records the key,
 * its evidence and token identity (key->evidence.token_serial required) and
 * the request. Does not write the outbox: call orders_outbox_write() after. */
int orders_record_key(Manager *m, DaemonOrder *o, const StoreActor *actor, const StoreKeyRecord *key,
                      const char *csr_pem, StoreError *error);
/* -> failed, with the step ("keygen", "install", ...) and a sentence. */
int orders_fail(Manager *m, DaemonOrder *o, const StoreActor *actor, const char *step, const char *reason,
                StoreError *error);
/* -> submitted, cancelled, or pending (a retry after a failure: the order
 * forgets its key). For the other states use the helpers around it. */
int orders_set_state(Manager *m, DaemonOrder *o, const StoreActor *actor, OrderState state,
                     StoreError *error);
/* -> certificate-received; cert was checked against the order's key. */
int orders_record_certificate(Manager *m, DaemonOrder *o, const StoreActor *actor,
                              const StoreCertificateRecord *cert, StoreError *error);
/* -> installed. */
int orders_mark_installed(Manager *m, DaemonOrder *o, const StoreActor *actor, StoreError *error);

/* Writes the order's request to "<outbox>/<REFERENCE>.csr" (PEM, mode 0644,
 * atomically: a temporary file renamed over it), creating the outbox
 * directory if needed, and announces CsrPath. *ret_path (may be NULL) gets
 * the file's path (borrowed from o). -ENODATA when the order has no request
 * yet. Failures are not logged: the caller decides. */
int orders_outbox_write(Manager *m, DaemonOrder *o, const char **ret_path);

/* PropertiesChanged for every property of the Order (after a change the
 * store made that the helpers above do not cover). */
void orders_emit_changed(DaemonOrder *o);
