/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus-order.h"
#include "log.h"
#include "manager.h"
#include "orders.h"
#include "util.h"

static DaemonOrder *daemon_order_free(DaemonOrder *o) {
        if (!o)
                return NULL;
        order_free(o->order);
        free(o->path);
        free(o->csr_path);
        free(o);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(DaemonOrder *, daemon_order_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Order **, store_order_list_free);

static void orders_link(Manager *m, DaemonOrder *o) {
        o->manager = m;
        o->prev = m->orders_tail;
        o->next = NULL;
        if (m->orders_tail)
                m->orders_tail->next = o;
        else
                m->orders = o;
        m->orders_tail = o;
}

static char *outbox_path(Manager *m, const char *reference) {
        char *p;

        if (asprintf(&p, "%s/%s.csr", m->config.outbox, reference) < 0)
                return NULL;
        return p;
}

/* Takes order over in every case. */
static int daemon_order_new(Manager *m, Order *order, DaemonOrder **ret) {
        _cleanup_(order_freep) Order *owned = order;
        _cleanup_(daemon_order_freep) DaemonOrder *o = NULL;
        int r;

        o = calloc(1, sizeof(DaemonOrder));
        if (!o)
                return -ENOMEM;
        r = bus_order_path(owned->reference, &o->path);
        if (r < 0)
                return r;
        o->order = TAKE_PTR(owned);

        /* After a restart, the request written before it is still there. */
        if (o->order->csr_pem && m->config.outbox) {
                _cleanup_free_ char *p = outbox_path(m, o->order->reference);

                if (!p)
                        return -ENOMEM;
                if (access(p, F_OK) >= 0)
                        o->csr_path = TAKE_PTR(p);
        }

        orders_link(m, o);
        *ret = TAKE_PTR(o);
        return 0;
}

int orders_load(Manager *m) {
        _cleanup_(store_order_list_freep) Order **l = NULL;
        StoreError error = {};
        size_t n = 0;
        int r;

        r = store_order_list(m->store, _ORDER_STATE_INVALID, &l, &n, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to read the orders: %s", error.message);

        for (size_t i = 0; i < n; i++) {
                DaemonOrder *o;

                r = daemon_order_new(m, TAKE_PTR(l[i]), &o);
                if (r < 0)
                        return log_error_errno(r, "Failed to publish an order: %m");

                /* Killed after the request was committed but before its
                 * file was written: the store has it, the outbox gets it. */
                if (o->order->state == ORDER_KEY_GENERATED && !o->csr_path && m->config.outbox) {
                        r = orders_outbox_write(m, o, NULL);
                        if (r < 0)
                                log_warning_errno(r, "Failed to write the request of %s to the outbox: %m",
                                                  o->order->reference);
                        else
                                log_notice("Order %s: its request was missing from the outbox, written again.",
                                           o->order->reference);
                }
        }
        log_info("%zu order(s) in %s.", n, m->config.database);
        return 0;
}

void orders_done(Manager *m) {
        while (m->orders) {
                DaemonOrder *o = m->orders;

                m->orders = o->next;
                daemon_order_free(o);
        }
        m->orders_tail = NULL;
}

DaemonOrder *orders_find(Manager *m, const char *reference) {
        if (!reference)
                return NULL;
        for (DaemonOrder *o = m->orders; o; o = o->next)
                if (streq(o->order->reference, reference))
                        return o;
        return NULL;
}

DaemonOrder *orders_find_by_path(Manager *m, const char *path) {
        if (!path)
                return NULL;
        for (DaemonOrder *o = m->orders; o; o = o->next)
                if (streq(o->path, path))
                        return o;
        return NULL;
}

static int publish_new(Manager *m, const char *reference, DaemonOrder **ret) {
        _cleanup_(order_freep) Order *stored = NULL;
        StoreError error = {};
        DaemonOrder *o;
        int r;

        /* What the store has, timestamps included. */
        r = store_order_get(m->store, reference, &stored, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to read back order %s: %s", reference, error.message);
        r = daemon_order_new(m, TAKE_PTR(stored), &o);
        if (r < 0)
                return log_error_errno(r, "Failed to publish order %s: %m", reference);
        bus_order_emit_added(o);
        if (ret)
                *ret = o;
        return 0;
}

int orders_add(Manager *m, const StoreActor *actor, const Order *order, DaemonOrder **ret, StoreError *error) {
        int r;

        r = store_order_add(m->store, actor, order, error);
        if (r < 0)
                return r;
        log_info("Order %s added by %s.", order->reference, actor ? strna(actor->name) : "jetond");
        r = publish_new(m, order->reference, ret);
        if (r < 0 && error) {
                *error = (StoreError) { .code = r };
                (void) snprintf(error->message, sizeof error->message,
                                "The order was stored but cannot be published: %s", strerror(-r));
        }
        return r;
}

int orders_import(Manager *m, const StoreActor *actor, Order *const *orders, size_t n, DaemonOrder **ret,
                  StoreError *error) {
        int r;

        r = store_orders_import(m->store, actor, orders, n, error);
        if (r < 0)
                return r;
        log_info("%zu order(s) imported by %s.", n, actor ? strna(actor->name) : "jetond");
        for (size_t i = 0; i < n; i++) {
                r = publish_new(m, orders[i]->reference, ret ? ret + i : NULL);
                if (r < 0) {
                        if (error) {
                                *error = (StoreError) { .code = r };
                                (void) snprintf(error->message, sizeof error->message,
                                                "The orders were stored but cannot be published: %s",
                                                strerror(-r));
                        }
                        return r;
                }
        }
        return 0;
}

/* After a committed change: what the store now holds replaces our copy,
 * then the bus hears of it. A failure to read it back leaves the old copy
 * (the store is right, and the next restart shows it). */
static void committed(DaemonOrder *o) {
        _cleanup_(order_freep) Order *stored = NULL;
        StoreError error = {};
        int r;

        r = store_order_get(o->manager->store, o->order->reference, &stored, &error);
        if (r < 0)
                log_warning_errno(r, "Failed to read back order %s: %s", o->order->reference, error.message);
        else {
                order_free(o->order);
                o->order = TAKE_PTR(stored);
        }
        log_info("Order %s is now %s.", o->order->reference, order_state_to_string(o->order->state));
        bus_order_emit_changed(o);
}

int orders_record_key(Manager *m, DaemonOrder *o, const StoreActor *actor, const StoreKeyRecord *key,
                      const char *csr_pem, StoreError *error) {
        int r;

        r = store_order_record_key(m->store, actor, o->order->reference, key, csr_pem, error);
        if (r < 0)
                return r;
        committed(o);
        return 0;
}

int orders_fail(Manager *m, DaemonOrder *o, const StoreActor *actor, const char *step, const char *reason,
                StoreError *error) {
        int r;

        r = store_order_set_state(m->store, actor, o->order->reference, ORDER_FAILED, step, reason, error);
        if (r < 0)
                return r;
        committed(o);
        return 0;
}

int orders_set_state(Manager *m, DaemonOrder *o, const StoreActor *actor, OrderState state,
                     StoreError *error) {
        int r;

        r = store_order_set_state(m->store, actor, o->order->reference, state, NULL, NULL, error);
        if (r < 0)
                return r;
        committed(o);
        return 0;
}

int orders_record_certificate(Manager *m, DaemonOrder *o, const StoreActor *actor,
                              const StoreCertificateRecord *cert, StoreError *error) {
        int r;

        r = store_order_record_certificate(m->store, actor, o->order->reference, cert, error);
        if (r < 0)
                return r;
        committed(o);
        return 0;
}

int orders_mark_installed(Manager *m, DaemonOrder *o, const StoreActor *actor, StoreError *error) {
        int r;

        r = store_order_mark_installed(m->store, actor, o->order->reference, error);
        if (r < 0)
                return r;
        committed(o);
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int orders_outbox_write(Manager *m, DaemonOrder *o, const char **ret_path) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *pem = o->order->csr_pem;
        int r;

        if (isempty(pem))
                return -ENODATA;
        if (mkdir(m->config.outbox, 0755) < 0 && errno != EEXIST)
                return -errno;

        path = outbox_path(m, o->order->reference);
        if (!path || asprintf(&tmp, "%s/.%s.csr.XXXXXX", m->config.outbox, o->order->reference) < 0)
                return -ENOMEM;

        /* A reader of the outbox sees the old file or the new one, never a
         * half-written one. */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, 0644) < 0 ? -errno : 0;
        if (r >= 0)
                r = write_all(fd, pem, strlen(pem));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        if (!streq_ptr(o->csr_path, path)) {
                free(o->csr_path);
                o->csr_path = TAKE_PTR(path);
                bus_order_emit_changed(o);
        }
        if (ret_path)
                *ret_path = o->csr_path;
        return 0;
}

void orders_emit_changed(DaemonOrder *o) {
        bus_order_emit_changed(o);
}
