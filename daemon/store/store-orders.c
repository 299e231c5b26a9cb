/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-private.h"

static bool is_lower_hex(const char *s, bool even) {
        size_t n;

        if (!s || !s[0])
                return false;
        n = strspn(s, "0123456789abcdef");
        return s[n] == 0 && (!even || n % 2 == 0);
}

static const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

/* ---- reading ------------------------------------------------------------- */

int store_step_order(Store *s, sqlite3_stmt *st, const char *reference, StoreError *error) {
        int r;

        r = store_step_row(s, st, store_bind_text(st, 1, reference), "Reading an order", error);
        if (r < 0)
                return r;
        if (r == 0)
                return store_error_set(error, -ENOENT, "No order '%s'.", reference);
        return 0;
}

/* The order and its current key, request and certificate. */
#define ORDER_SELECT                                                                                  \
        "SELECT o.reference, o.ca, o.product, o.profile, o.validity_years, "                          \
        "o.holder_given_name, o.holder_surname, o.holder_email, o.holder_identifier, "                \
        "o.organisation_name, o.organisation_siren, o.organisation_siret, o.organisation_vat, "       \
        "o.state, o.failed_step, o.failed_reason, o.created_usec, o.updated_usec, "                   \
        "k.key_id_hex, k.label, k.local, k.always_sensitive, k.never_extractable, "                   \
        "k.token_manufacturer, k.token_model, k.token_serial, r.csr_pem, "                            \
        "(SELECT c.pem FROM certificates c WHERE c.key_id = k.id ORDER BY c.id DESC LIMIT 1) "        \
        "FROM orders o LEFT JOIN keys k ON k.id = o.key_id LEFT JOIN requests r ON r.key_id = k.id "

static int order_read(sqlite3_stmt *st, Order **ret) {
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_free_ char *state = NULL;
        int r;

        o = order_new();
        if (!o)
                return -ENOMEM;

        r = store_column_strdup(st, 0, &o->reference) ?:
            store_column_strdup(st, 1, &o->ca) ?:
            store_column_strdup(st, 2, &o->product) ?:
            store_column_strdup(st, 3, &o->profile) ?:
            store_column_strdup(st, 5, &o->holder.given_name) ?:
            store_column_strdup(st, 6, &o->holder.surname) ?:
            store_column_strdup(st, 7, &o->holder.email) ?:
            store_column_strdup(st, 8, &o->holder.identifier) ?:
            store_column_strdup(st, 9, &o->organisation.name) ?:
            store_column_strdup(st, 10, &o->organisation.siren) ?:
            store_column_strdup(st, 11, &o->organisation.siret) ?:
            store_column_strdup(st, 12, &o->organisation.vat) ?:
            store_column_strdup(st, 13, &state) ?:
            store_column_strdup(st, 14, &o->failed_step) ?:
            store_column_strdup(st, 15, &o->failed_reason) ?:
            store_column_strdup(st, 18, &o->key_id_hex) ?:
            store_column_strdup(st, 19, &o->key_label) ?:
            store_column_strdup(st, 23, &o->evidence.token_manufacturer) ?:
            store_column_strdup(st, 24, &o->evidence.token_model) ?:
            store_column_strdup(st, 25, &o->evidence.token_serial) ?:
            store_column_strdup(st, 26, &o->csr_pem) ?:
            store_column_strdup(st, 27, &o->certificate_pem);
        if (r < 0)
                return r;

        o->validity_years = (unsigned) sqlite3_column_int64(st, 4);
        o->state = order_state_from_string(state);
        if (o->state < 0)       /* the schema's CHECK makes this a damaged file */
                return -EBADMSG;
        o->created_usec = store_column_u64(st, 16);
        o->updated_usec = store_column_u64(st, 17);
        o->evidence.local = sqlite3_column_int(st, 20);
        o->evidence.always_sensitive = sqlite3_column_int(st, 21);
        o->evidence.never_extractable = sqlite3_column_int(st, 22);

        *ret = TAKE_PTR(o);
        return 0;
}

int store_order_get(Store *s, const char *reference, Order **ret, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!reference || !ret)
                return store_error_set(error, -EINVAL, "No order reference given.");

        r = store_prepare(s, ORDER_SELECT "WHERE o.reference = ?", &st, error);
        if (r < 0)
                return r;
        r = store_step_order(s, st, reference, error);
        if (r < 0)
                return r;

        r = order_read(st, ret);
        if (r < 0)
                return store_error_set(error, r, "Reading order '%s' failed: %m", reference);
        return 0;
}

DEFINE_STORE_LIST_FREE(store_order_list_free, Order, order_free);
DEFINE_STORE_ROWS_READER(orders_read, Order, order_read, store_order_list_free, "Reading an order failed: %m");

int store_order_list(Store *s, OrderState filter, Order ***ret, size_t *ret_n, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!ret || filter >= _ORDER_STATE_MAX || filter < _ORDER_STATE_INVALID)
                return store_error_set(error, -EINVAL, "Invalid order state filter.");

        r = store_prepare(s, ORDER_SELECT "WHERE ?1 IS NULL OR o.state = ?1 ORDER BY o.rowid", &st, error);
        if (r < 0)
                return r;
        return orders_read(s, st, store_bind_text(st, 1, filter < 0 ? NULL : order_state_to_string(filter)),
                           "Listing orders", ret, ret_n, error);
}

/* ---- adding -------------------------------------------------------------- */

static int order_insert(Store *s, const Order *o, uint64_t now, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        if (!o || !o->reference || !o->reference[0])
                return store_error_set(error, -EINVAL, "An order needs a reference.");
        if (o->state != ORDER_PENDING)
                return store_error_set(error, -EINVAL, "Order '%s' is %s: a new order starts pending.",
                                       o->reference, strna(order_state_to_string(o->state)));

        r = store_prepare(s,
                          "INSERT INTO orders (reference, ca, product, profile, validity_years, "
                          "holder_given_name, holder_surname, holder_email, holder_identifier, "
                          "organisation_name, organisation_siren, organisation_siret, organisation_vat, "
                          "state, created_usec, updated_usec) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, o->reference) ?:
             store_bind_text(st, 2, o->ca) ?:
             store_bind_text(st, 3, o->product) ?:
             store_bind_text(st, 4, o->profile) ?:
             store_bind_u64(st, 5, o->validity_years) ?:
             store_bind_text(st, 6, o->holder.given_name) ?:
             store_bind_text(st, 7, o->holder.surname) ?:
             store_bind_text(st, 8, o->holder.email) ?:
             store_bind_text(st, 9, o->holder.identifier) ?:
             store_bind_text(st, 10, o->organisation.name) ?:
             store_bind_text(st, 11, o->organisation.siren) ?:
             store_bind_text(st, 12, o->organisation.siret) ?:
             store_bind_text(st, 13, o->organisation.vat) ?:
             store_bind_u64(st, 14, now) ?:
             store_bind_u64(st, 15, now);
        r = store_step_done(s, st, rc, "Adding an order", error);
        if (r == -EEXIST)       /* a primary key or unique constraint; binding never says so */
                return store_error_set(error, -EEXIST, "Order '%s' already exists.", o->reference);
        return r;
}

/* What identifies the order in the audit log; the holder's name stays out of
 * an append-only log. */
static int order_audit_add(Store *s, const StoreActor *actor, const Order *o, const char *action,
                           StoreError *error) {
        return store_audit_append_txf(s, actor,
                                      &(StoreAuditEntry) {
                                              .action = action,
                                              .order_reference = o->reference,
                                              .result = "ok",
                                      },
                                      error, "ca=%s product=%s profile=%s validity=%uy", strna(o->ca),
                                      strna(o->product), strna(o->profile), o->validity_years);
}

int store_order_add(Store *s, const StoreActor *actor, const Order *o, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        int r;

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        r = order_insert(s, o, store_now_usec(), error);
        if (r < 0)
                return r;
        r = order_audit_add(s, actor, o, "order-add", error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}

int store_orders_import(Store *s, const StoreActor *actor, Order *const *orders, size_t n, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        uint64_t now = store_now_usec();
        int r;

        if (n > 0 && !orders)
                return store_error_set(error, -EINVAL, "No orders given.");

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                r = order_insert(s, orders[i], now, error);
                if (r == -EEXIST) {
                        /* Tell a file that names an order twice from one that
                         * names an order we have; the loop runs on failure
                         * only. */
                        for (size_t j = 0; j < i; j++)
                                if (streq(orders[j]->reference, orders[i]->reference))
                                        return store_error_set(error, -EEXIST,
                                                               "Order '%s' is given twice (entries %zu and %zu "
                                                               "of %zu); nothing was imported.",
                                                               orders[i]->reference, j + 1, i + 1, n);
                        return store_error_set(error, -EEXIST,
                                               "Order '%s' (entry %zu of %zu) already exists; nothing was "
                                               "imported.",
                                               orders[i]->reference, i + 1, n);
                }
                if (r < 0) {
                        StoreError cause = {};

                        if (error)
                                cause = *error;
                        return store_error_set(error, r, "Entry %zu of %zu: %s Nothing was imported.", i + 1, n,
                                               cause.message);
                }
                r = order_audit_add(s, actor, orders[i], "order-import", error);
                if (r < 0)
                        return r;
        }

        return store_commit(&tx, error);
}

/* ---- state changes -------------------------------------------------------- */

typedef struct OrderRow {
        OrderState state;
        int64_t key_id;                 /* 0: none */
        char *token_serial;             /* of the current key */
} OrderRow;

static void order_row_done(OrderRow *row) {
        row->token_serial = mfree(row->token_serial);
}

/* Reads what a state change needs, inside the caller's transaction. */
static int order_row_read(Store *s, const char *reference, OrderRow *ret, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *state = NULL;
        int r;

        if (!reference || !reference[0])
                return store_error_set(error, -EINVAL, "No order reference given.");

        r = store_prepare(s,
                          "SELECT o.state, o.key_id, k.token_serial FROM orders o "
                          "LEFT JOIN keys k ON k.id = o.key_id WHERE o.reference = ?",
                          &st, error);
        if (r < 0)
                return r;
        r = store_step_order(s, st, reference, error);
        if (r < 0)
                return r;

        r = store_column_strdup(st, 0, &state);
        if (r < 0)
                return store_error_set(error, r, "Out of memory.");
        *ret = (OrderRow) {
                .state = order_state_from_string(state),
                .key_id = sqlite3_column_int64(st, 1),
        };
        if (ret->state < 0)
                return store_error_set(error, -EBADMSG, "Order '%s' has an unknown state '%s'.", reference,
                                       strna(state));
        r = store_column_strdup(st, 2, &ret->token_serial);
        if (r < 0)
                return store_error_set(error, r, "Out of memory.");
        return 0;
}

static int check_transition(const char *reference, OrderState from, OrderState to, StoreError *error) {
        if (!order_state_transition_allowed(from, to))
                return store_error_set(error, -EINVAL, "Order '%s' is %s: it cannot become %s.", reference,
                                       order_state_to_string(from), strna(order_state_to_string(to)));
        return 0;
}

/* A change of state is
 *
 *   _cleanup_(store_rollbackp) Store *tx = NULL;
 *   _cleanup_(order_row_done) OrderRow row = {};
 *   r = order_change_begin(s, &tx, reference, to, &row, error);
 *   ... what the new state records ...
 *   return order_change_commit(&tx, actor, reference, &row, to, ...);
 *
 * order_change_begin() begins the transaction and reads the order, which
 * must be allowed to become 'to'. */
static int order_change_begin(Store *s, Store **ret_tx, const char *reference, OrderState to, OrderRow *ret,
                              StoreError *error) {
        int r;

        r = store_begin(s, ret_tx, error);
        if (r < 0)
                return r;
        r = order_row_read(s, reference, ret, error);
        if (r < 0)
                return r;
        return check_transition(reference, ret->state, to, error);
}

/* Moves the order to 'to', writes the audit record of the move and commits. */
static int order_change_commit(Store **tx, const StoreActor *actor, const char *reference, const OrderRow *row,
                               OrderState to, const char *failed_step, const char *failed_reason,
                               int64_t key_id, const char *action, const char *detail, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        Store *s = *tx;
        int r, rc;

        r = store_prepare(s,
                          "UPDATE orders SET state = ?, failed_step = ?, failed_reason = ?, key_id = ?, "
                          "updated_usec = ? WHERE reference = ?",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, order_state_to_string(to)) ?:
             store_bind_text(st, 2, failed_step) ?:
             store_bind_text(st, 3, failed_reason) ?:
             (key_id > 0 ? sqlite3_bind_int64(st, 4, key_id) : sqlite3_bind_null(st, 4)) ?:
             store_bind_u64(st, 5, store_now_usec()) ?:
             store_bind_text(st, 6, reference);
        r = store_step_done(s, st, rc, "Changing an order's state", error);
        if (r < 0)
                return r;

        r = store_audit_append_txf(s, actor,
                                   &(StoreAuditEntry) {
                                           .action = action,
                                           .token_serial = row->token_serial,
                                           .order_reference = reference,
                                           .result = to == ORDER_FAILED ? "failed" :
                                                     to == ORDER_CANCELLED ? "cancelled" : "ok",
                                   },
                                   error, "%s -> %s%s%s", order_state_to_string(row->state),
                                   order_state_to_string(to), detail ? ": " : "", strempty(detail));
        if (r < 0)
                return r;
        return store_commit(tx, error);
}

int store_order_set_state(Store *s, const StoreActor *actor, const char *reference, OrderState state,
                          const char *failed_step, const char *failed_reason, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(order_row_done) OrderRow row = {};
        _cleanup_free_ char *detail = NULL;
        int r;

        switch (state) {
        case ORDER_PENDING:
        case ORDER_SUBMITTED:
        case ORDER_CANCELLED:
                if (failed_step || failed_reason)
                        return store_error_set(error, -EINVAL, "Only a failed order has a failed step and reason.");
                break;
        case ORDER_FAILED:
                if (isempty(failed_step) || isempty(failed_reason))
                        return store_error_set(error, -EINVAL,
                                               "A failed order needs the step it failed at and the reason.");
                if (asprintf(&detail, "at %s: %s", failed_step, failed_reason) < 0)
                        return store_error_set(error, -ENOMEM, "Out of memory.");
                break;
        case ORDER_KEY_GENERATED:
        case ORDER_CERTIFICATE_RECEIVED:
        case ORDER_INSTALLED:
                return store_error_set(error, -EINVAL,
                                       "An order becomes %s when its %s is recorded, not by a state change.",
                                       order_state_to_string(state),
                                       state == ORDER_KEY_GENERATED ? "key" :
                                       state == ORDER_INSTALLED ? "installation" : "certificate");
        default:
                return store_error_set(error, -EINVAL, "Invalid order state %i.", (int) state);
        }

        r = order_change_begin(s, &tx, reference, state, &row, error);
        if (r < 0)
                return r;

        /* Back to pending is a retry from the start: the next key is a new
         * one. The old key stays in 'keys' (it may still be on a token). */
        return order_change_commit(&tx, actor, reference, &row, state, failed_step, failed_reason,
                                   state == ORDER_PENDING ? 0 : row.key_id, "order-state", detail, error);
}

int store_order_record_key(Store *s, const StoreActor *actor, const char *reference, const StoreKeyRecord *key,
                           const char *csr_pem, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins_key = NULL, *ins_req = NULL;
        _cleanup_(order_row_done) OrderRow row = {};
        _cleanup_free_ char *detail = NULL;
        uint64_t now = store_now_usec();
        int64_t key_id;
        int r, rc;

        if (!key || !is_lower_hex(key->key_id_hex, true))
                return store_error_set(error, -EINVAL,
                                       "A key id (CKA_ID) is lower-case hex, an even number of digits.");
        if (isempty(key->evidence.token_serial))
                return store_error_set(error, -EINVAL, "A key needs the serial number of the token it is on.");
        if (isempty(csr_pem) || !strstr(csr_pem, "-----BEGIN ") || !strstr(csr_pem, "CERTIFICATE REQUEST-----"))
                return store_error_set(error, -EINVAL, "A key needs its certificate request, in PEM.");

        r = order_change_begin(s, &tx, reference, ORDER_KEY_GENERATED, &row, error);
        if (r < 0)
                return r;

        r = store_prepare(s,
                          "INSERT INTO keys (order_reference, token_serial, token_manufacturer, token_model, "
                          "key_id_hex, label, algorithm, local, always_sensitive, never_extractable, created_usec) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &ins_key, error);
        if (r < 0)
                return r;
        rc = store_bind_text(ins_key, 1, reference) ?:
             store_bind_text(ins_key, 2, key->evidence.token_serial) ?:
             store_bind_text(ins_key, 3, key->evidence.token_manufacturer) ?:
             store_bind_text(ins_key, 4, key->evidence.token_model) ?:
             store_bind_text(ins_key, 5, key->key_id_hex) ?:
             store_bind_text(ins_key, 6, key->label) ?:
             store_bind_text(ins_key, 7, key->algorithm) ?:
             sqlite3_bind_int(ins_key, 8, key->evidence.local) ?:
             sqlite3_bind_int(ins_key, 9, key->evidence.always_sensitive) ?:
             sqlite3_bind_int(ins_key, 10, key->evidence.never_extractable) ?:
             store_bind_u64(ins_key, 11, now);
        r = store_step_done(s, ins_key, rc, "Recording a key", error);
        if (r < 0)
                return r;
        key_id = sqlite3_last_insert_rowid(s->db);

        r = store_prepare(s,
                          "INSERT INTO requests (key_id, order_reference, csr_pem, created_usec) VALUES (?, ?, ?, ?)",
                          &ins_req, error);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(ins_req, 1, key_id) ?:
             store_bind_text(ins_req, 2, reference) ?:
             store_bind_text(ins_req, 3, csr_pem) ?:
             store_bind_u64(ins_req, 4, now);
        r = store_step_done(s, ins_req, rc, "Recording a certificate request", error);
        if (r < 0)
                return r;

        /* The audit record names the token of the new key. */
        free(row.token_serial);
        row.token_serial = strdup(key->evidence.token_serial);
        if (!row.token_serial)
                return store_error_set(error, -ENOMEM, "Out of memory.");

        if (asprintf(&detail, "key %s %s label=%s on %s %s: local=%s always-sensitive=%s never-extractable=%s",
                     key->key_id_hex, strna(key->algorithm), strna(key->label),
                     strna(key->evidence.token_manufacturer), strna(key->evidence.token_model),
                     yes_no(key->evidence.local), yes_no(key->evidence.always_sensitive),
                     yes_no(key->evidence.never_extractable)) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");

        return order_change_commit(&tx, actor, reference, &row, ORDER_KEY_GENERATED, NULL, NULL, key_id,
                                   "order-key", detail, error);
}

static void format_time(uint64_t usec, char buf[static 32]) {
        time_t t = (time_t) (usec / UINT64_C(1000000));
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, 32, "@%" PRIu64, usec / UINT64_C(1000000));
}

int store_order_record_certificate(Store *s, const StoreActor *actor, const char *reference,
                                   const StoreCertificateRecord *cert, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(order_row_done) OrderRow row = {};
        _cleanup_free_ char *detail = NULL;
        char not_after[32];
        int r, rc;

        if (!cert || isempty(cert->pem) || !cert->der || cert->der_size == 0 || cert->der_size > INT32_MAX)
                return store_error_set(error, -EINVAL, "A certificate needs its PEM and its DER.");
        if (!is_lower_hex(cert->serial_hex, false))
                return store_error_set(error, -EINVAL, "A certificate's serial number is lower-case hex.");

        r = order_change_begin(s, &tx, reference, ORDER_CERTIFICATE_RECEIVED, &row, error);
        if (r < 0)
                return r;
        if (row.key_id <= 0)    /* every state that leads here has a key */
                return store_error_set(error, -EBADMSG, "Order '%s' is %s but has no key.", reference,
                                       order_state_to_string(row.state));

        r = store_prepare(s,
                          "INSERT INTO certificates (key_id, order_reference, pem, der, serial_hex, not_after_usec, "
                          "created_usec) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          &st, error);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(st, 1, row.key_id) ?:
             store_bind_text(st, 2, reference) ?:
             store_bind_text(st, 3, cert->pem) ?:
             sqlite3_bind_blob(st, 4, cert->der, (int) cert->der_size, SQLITE_STATIC) ?:
             store_bind_text(st, 5, cert->serial_hex) ?:
             store_bind_u64(st, 6, cert->not_after_usec) ?:
             store_bind_u64(st, 7, store_now_usec());
        r = store_step_done(s, st, rc, "Recording a certificate", error);
        if (r < 0)
                return r;

        format_time(cert->not_after_usec, not_after);
        if (asprintf(&detail, "certificate serial %s, not after %s", cert->serial_hex, not_after) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        return order_change_commit(&tx, actor, reference, &row, ORDER_CERTIFICATE_RECEIVED, NULL, NULL, row.key_id,
                                   "order-certificate", detail, error);
}

int store_order_mark_installed(Store *s, const StoreActor *actor, const char *reference, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *find = NULL, *mark = NULL;
        _cleanup_(order_row_done) OrderRow row = {};
        _cleanup_free_ char *detail = NULL, *serial = NULL;
        int64_t cert_id;
        int r, rc;

        r = order_change_begin(s, &tx, reference, ORDER_INSTALLED, &row, error);
        if (r < 0)
                return r;

        r = store_prepare(s, "SELECT id, serial_hex FROM certificates WHERE key_id = ? ORDER BY id DESC LIMIT 1",
                          &find, error);
        if (r < 0)
                return r;
        r = store_step_row(s, find, sqlite3_bind_int64(find, 1, row.key_id), "Reading a certificate", error);
        if (r < 0)
                return r;
        if (r == 0)     /* certificate-received always has one */
                return store_error_set(error, -EBADMSG, "Order '%s' is %s but has no certificate.", reference,
                                       order_state_to_string(row.state));
        cert_id = sqlite3_column_int64(find, 0);
        r = store_column_strdup(find, 1, &serial);
        if (r < 0)
                return store_error_set(error, r, "Out of memory.");

        r = store_prepare(s, "UPDATE certificates SET installed = 1, installed_usec = ? WHERE id = ?", &mark, error);
        if (r < 0)
                return r;
        rc = store_bind_u64(mark, 1, store_now_usec()) ?: sqlite3_bind_int64(mark, 2, cert_id);
        r = store_step_done(s, mark, rc, "Marking a certificate installed", error);
        if (r < 0)
                return r;

        if (asprintf(&detail, "certificate serial %s installed on token %s", strna(serial),
                     strna(row.token_serial)) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        return order_change_commit(&tx, actor, reference, &row, ORDER_INSTALLED, NULL, NULL, row.key_id,
                                   "order-installed", detail, error);
}
