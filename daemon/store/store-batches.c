/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

StoreBatch *store_batch_free(StoreBatch *b) {
        if (!b)
                return NULL;
        free(b->name);
        free(b->profile);
        free(b->label_template);
        free(b->user_pin_mode);
        free(b->state);
        free(b->detail);
        free(b->operator_name);
        free(b);
        return NULL;
}

DEFINE_STORE_LIST_FREE(store_batch_list_free, StoreBatch, store_batch_free);

StoreBatchAssignment *store_batch_assignment_free(StoreBatchAssignment *a) {
        if (!a)
                return NULL;
        free(a->order_reference);
        free(a->token_serial);
        free(a->token_label);
        free(a->reader);
        free(a->state);
        free(a->detail);
        free(a);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreBatchAssignment *, store_batch_assignment_free);

DEFINE_STORE_LIST_FREE(store_batch_assignment_list_free, StoreBatchAssignment, store_batch_assignment_free);

static int batch_audit(Store *s, const StoreActor *actor, const char *action, uint64_t batch_id,
                       const char *serial, const char *reference, const char *what, StoreError *error) {
        return store_audit_append_txf(s, actor,
                                      &(StoreAuditEntry) {
                                              .action = action,
                                              .token_serial = serial,
                                              .order_reference = reference,
                                              .result = "ok",
                                      },
                                      error, "batch %" PRIu64 ": %s", batch_id, what);
}

/* Inside the caller's transaction. */
static int assignment_insert(Store *s, const StoreActor *actor, StoreBatchAssignment *a, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *what = NULL;
        int r, rc;

        if (!a || isempty(a->state))
                return store_error_set(error, -EINVAL, "A batch assignment needs a state.");
        a->updated_usec = store_now_usec();
        r = store_prepare(s,
                          "INSERT INTO batch_assignments (batch_id, order_reference, token_serial, token_label, "
                          "reader, state, detail, note, updated_usec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_u64(st, 1, a->batch_id) ?:
             store_bind_text(st, 2, a->order_reference) ?:
             store_bind_text(st, 3, a->token_serial) ?:
             store_bind_text(st, 4, a->token_label) ?:
             store_bind_text(st, 5, a->reader) ?:
             store_bind_text(st, 6, a->state) ?:
             store_bind_text(st, 7, a->detail) ?:
             sqlite3_bind_int(st, 8, a->note) ?:
             store_bind_u64(st, 9, a->updated_usec);
        r = store_step_done(s, st, rc, "Adding a batch assignment", error);
        if (r < 0)
                return r;
        a->id = (uint64_t) sqlite3_last_insert_rowid(s->db);
        if (a->note && asprintf(&what, "note: %s", strempty(a->detail)) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        if (!a->note && asprintf(&what, "order %s", a->state) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        return batch_audit(s, actor, a->note ? "batch-note" : "batch-assignment", a->batch_id, a->token_serial,
                           a->order_reference, what, error);
}

int store_batch_add(Store *s, const StoreActor *actor, StoreBatch *b, StoreBatchAssignment **a, size_t n,
                    StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *what = NULL;
        int r, rc;

        if (!b || isempty(b->profile) || isempty(b->state))
                return store_error_set(error, -EINVAL, "A batch needs a profile and a state.");

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        b->created_usec = store_now_usec();
        r = store_prepare(s,
                          "INSERT INTO batches (name, profile, initialize, label_template, user_pin_mode, state, "
                          "detail, operator, created_usec, finished_usec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, b->name) ?:
             store_bind_text(st, 2, b->profile) ?:
             sqlite3_bind_int(st, 3, b->initialize) ?:
             store_bind_text(st, 4, b->label_template) ?:
             store_bind_text(st, 5, b->user_pin_mode) ?:
             store_bind_text(st, 6, b->state) ?:
             store_bind_text(st, 7, b->detail) ?:
             store_bind_text(st, 8, b->operator_name) ?:
             store_bind_u64(st, 9, b->created_usec) ?:
             store_bind_u64(st, 10, b->finished_usec);
        r = store_step_done(s, st, rc, "Adding a batch", error);
        if (r < 0)
                return r;
        b->id = (uint64_t) sqlite3_last_insert_rowid(s->db);

        if (asprintf(&what, "started, profile %s, %zu order(s)%s", b->profile, n,
                     b->initialize ? ", initialising tokens" : "") < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        r = batch_audit(s, actor, "batch-start", b->id, NULL, NULL, what, error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                a[i]->batch_id = b->id;
                r = assignment_insert(s, actor, a[i], error);
                if (r < 0)
                        return r;
        }
        return store_commit(&tx, error);
}

int store_batch_update(Store *s, const StoreActor *actor, const StoreBatch *b, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *what = NULL;
        int r, rc;

        if (!b || isempty(b->state))
                return store_error_set(error, -EINVAL, "A batch needs a state.");
        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        r = store_prepare(s, "UPDATE batches SET state = ?, detail = ?, finished_usec = ? WHERE id = ?", &st,
                          error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, b->state) ?:
             store_bind_text(st, 2, b->detail) ?:
             store_bind_u64(st, 3, b->finished_usec) ?:
             store_bind_u64(st, 4, b->id);
        r = store_step_done(s, st, rc, "Updating a batch", error);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return store_error_set(error, -ENOENT, "No batch %" PRIu64 ".", b->id);
        if (asprintf(&what, "%s%s%s", b->state, isempty(b->detail) ? "" : ": ", strempty(b->detail)) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        r = batch_audit(s, actor, "batch-state", b->id, NULL, NULL, what, error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}

static int batch_read(sqlite3_stmt *st, StoreBatch **ret) {
        _cleanup_(store_batch_freep) StoreBatch *b = NULL;
        int r;

        b = calloc(1, sizeof(StoreBatch));
        if (!b)
                return -ENOMEM;
        b->id = store_column_u64(st, 0);
        r = store_column_strdup(st, 1, &b->name) ?:
            store_column_strdup(st, 2, &b->profile) ?:
            store_column_strdup(st, 4, &b->label_template) ?:
            store_column_strdup(st, 5, &b->user_pin_mode) ?:
            store_column_strdup(st, 6, &b->state) ?:
            store_column_strdup(st, 7, &b->detail) ?:
            store_column_strdup(st, 8, &b->operator_name);
        if (r < 0)
                return r;
        b->initialize = sqlite3_column_int(st, 3);
        b->created_usec = store_column_u64(st, 9);
        b->finished_usec = store_column_u64(st, 10);
        *ret = TAKE_PTR(b);
        return 0;
}

DEFINE_STORE_ROWS_READER(batches_read, StoreBatch, batch_read, store_batch_list_free, "Out of memory.");

int store_batch_list(Store *s, StoreBatch ***ret, size_t *ret_n, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!ret)
                return store_error_set(error, -EINVAL, "Nowhere to put the batches.");
        r = store_prepare(s,
                          "SELECT id, name, profile, initialize, label_template, user_pin_mode, state, detail, "
                          "operator, created_usec, finished_usec FROM batches ORDER BY id",
                          &st, error);
        if (r < 0)
                return r;
        return batches_read(s, st, SQLITE_OK, "Reading the batches", ret, ret_n, error);
}

int store_batch_assignment_add(Store *s, const StoreActor *actor, StoreBatchAssignment *a, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        int r;

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        r = assignment_insert(s, actor, a, error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}

int store_batch_assignment_update(Store *s, const StoreActor *actor, const StoreBatchAssignment *a,
                                  StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *what = NULL;
        int r, rc;

        if (!a || isempty(a->state))
                return store_error_set(error, -EINVAL, "A batch assignment needs a state.");
        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        r = store_prepare(s,
                          "UPDATE batch_assignments SET token_serial = ?, token_label = ?, reader = ?, state = ?, "
                          "detail = ?, updated_usec = ? WHERE id = ?",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, a->token_serial) ?:
             store_bind_text(st, 2, a->token_label) ?:
             store_bind_text(st, 3, a->reader) ?:
             store_bind_text(st, 4, a->state) ?:
             store_bind_text(st, 5, a->detail) ?:
             store_bind_u64(st, 6, store_now_usec()) ?:
             store_bind_u64(st, 7, a->id);
        r = store_step_done(s, st, rc, "Updating a batch assignment", error);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return store_error_set(error, -ENOENT, "No batch assignment %" PRIu64 ".", a->id);
        if (asprintf(&what, "order %s%s%s", a->state, isempty(a->detail) ? "" : ": ", strempty(a->detail)) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        r = batch_audit(s, actor, "batch-assignment", a->batch_id, a->token_serial, a->order_reference, what,
                        error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}

static int assignment_read(sqlite3_stmt *st, StoreBatchAssignment **ret) {
        _cleanup_(store_batch_assignment_freep) StoreBatchAssignment *a = NULL;
        int r;

        a = calloc(1, sizeof(StoreBatchAssignment));
        if (!a)
                return -ENOMEM;
        a->id = store_column_u64(st, 0);
        a->batch_id = store_column_u64(st, 1);
        r = store_column_strdup(st, 2, &a->order_reference) ?:
            store_column_strdup(st, 3, &a->token_serial) ?:
            store_column_strdup(st, 4, &a->token_label) ?:
            store_column_strdup(st, 5, &a->reader) ?:
            store_column_strdup(st, 6, &a->state) ?:
            store_column_strdup(st, 7, &a->detail);
        if (r < 0)
                return r;
        a->note = sqlite3_column_int(st, 8);
        a->updated_usec = store_column_u64(st, 9);
        *ret = TAKE_PTR(a);
        return 0;
}

DEFINE_STORE_ROWS_READER(assignments_read, StoreBatchAssignment, assignment_read, store_batch_assignment_list_free,
                         "Out of memory.");

int store_batch_assignment_list(Store *s, uint64_t batch_id, StoreBatchAssignment ***ret, size_t *ret_n,
                                StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!ret)
                return store_error_set(error, -EINVAL, "Nowhere to put the assignments.");
        r = store_prepare(s,
                          "SELECT id, batch_id, order_reference, token_serial, token_label, reader, state, detail, "
                          "note, updated_usec FROM batch_assignments WHERE batch_id = ? ORDER BY id",
                          &st, error);
        if (r < 0)
                return r;
        return assignments_read(s, st, store_bind_u64(st, 1, batch_id), "Reading the batch assignments", ret,
                                ret_n, error);
}
