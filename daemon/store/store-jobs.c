/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

StoreJob *store_job_free(StoreJob *j) {
        if (!j)
                return NULL;
        free(j->kind);
        free(j->token_serial);
        free(j->order_reference);
        free(j->state);
        free(j->stage);
        free(j->result);
        free(j->error_message);
        free(j);
        return NULL;
}

DEFINE_STORE_LIST_FREE(store_job_list_free, StoreJob, store_job_free);

#define JOB_COLUMNS \
        "id, kind, token_serial, order_reference, state, stage, percent, result, error, created_usec, updated_usec"

static int job_read(sqlite3_stmt *st, StoreJob **ret) {
        _cleanup_(store_job_freep) StoreJob *j = NULL;
        int r;

        j = calloc(1, sizeof(StoreJob));
        if (!j)
                return -ENOMEM;
        j->id = store_column_u64(st, 0);
        r = store_column_strdup(st, 1, &j->kind) ?:
            store_column_strdup(st, 2, &j->token_serial) ?:
            store_column_strdup(st, 3, &j->order_reference) ?:
            store_column_strdup(st, 4, &j->state) ?:
            store_column_strdup(st, 5, &j->stage) ?:
            store_column_strdup(st, 7, &j->result) ?:
            store_column_strdup(st, 8, &j->error_message);
        if (r < 0)
                return r;
        j->percent = (unsigned) sqlite3_column_int(st, 6);
        j->created_usec = store_column_u64(st, 9);
        j->updated_usec = store_column_u64(st, 10);
        *ret = TAKE_PTR(j);
        return 0;
}

DEFINE_STORE_ROWS_READER(jobs_read, StoreJob, job_read, store_job_list_free, "Out of memory.");

static int job_check(const StoreJob *job, StoreError *error) {
        if (!job || isempty(job->kind) || isempty(job->state))
                return store_error_set(error, -EINVAL, "A job needs a kind and a state.");
        if (job->percent > 100)
                return store_error_set(error, -EINVAL, "A job's progress is 0 to 100 percent, not %u.", job->percent);
        return 0;
}

static int job_audit(Store *s, const StoreActor *actor, const char *action, uint64_t id, const StoreJob *job,
                     const char *change, const char *result, StoreError *error) {
        return store_audit_append_txf(s, actor,
                                      &(StoreAuditEntry) {
                                              .action = action,
                                              .token_serial = job->token_serial,
                                              .order_reference = job->order_reference,
                                              .result = result,
                                      },
                                      error, "job %" PRIu64 " %s: %s%s%s%s%s%s%s", id, job->kind, change,
                                      job->stage ? ", stage " : "", strempty(job->stage),
                                      job->result ? ", result " : "", strempty(job->result),
                                      job->error_message ? ", error: " : "", strempty(job->error_message));
}

static int order_exists(Store *s, const char *reference, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s, "SELECT 1 FROM orders WHERE reference = ?", &st, error);
        if (r < 0)
                return r;
        return store_step_order(s, st, reference, error);
}

int store_job_add(Store *s, const StoreActor *actor, const StoreJob *job, uint64_t *ret_id, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *change = NULL;
        uint64_t now = store_now_usec(), id;
        int r, rc;

        r = job_check(job, error);
        if (r < 0)
                return r;

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        if (job->order_reference) {
                r = order_exists(s, job->order_reference, error);
                if (r < 0)
                        return r;
        }

        r = store_prepare(s,
                          "INSERT INTO jobs (kind, token_serial, order_reference, state, stage, percent, result, "
                          "error, created_usec, updated_usec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, job->kind) ?:
             store_bind_text(st, 2, job->token_serial) ?:
             store_bind_text(st, 3, job->order_reference) ?:
             store_bind_text(st, 4, job->state) ?:
             store_bind_text(st, 5, job->stage) ?:
             sqlite3_bind_int(st, 6, (int) job->percent) ?:
             store_bind_text(st, 7, job->result) ?:
             store_bind_text(st, 8, job->error_message) ?:
             store_bind_u64(st, 9, now) ?:
             store_bind_u64(st, 10, now);
        r = store_step_done(s, st, rc, "Adding a job", error);
        if (r < 0)
                return r;
        id = (uint64_t) sqlite3_last_insert_rowid(s->db);

        if (asprintf(&change, "added, %s", job->state) < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        r = job_audit(s, actor, "job-add", id, job, change, "ok", error);
        if (r < 0)
                return r;
        r = store_commit(&tx, error);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

static int job_get(Store *s, uint64_t id, StoreJob **ret, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", &st, error);
        if (r < 0)
                return r;
        r = store_step_row(s, st, store_bind_u64(st, 1, id), "Reading a job", error);
        if (r < 0)
                return r;
        if (r == 0)
                return store_error_set(error, -ENOENT, "No job %" PRIu64 ".", id);
        r = job_read(st, ret);
        if (r < 0)
                return store_error_set(error, r, "Out of memory.");
        return 0;
}

int store_job_get(Store *s, uint64_t id, StoreJob **ret, StoreError *error) {
        if (!ret)
                return store_error_set(error, -EINVAL, "Nowhere to put the job.");
        return job_get(s, id, ret, error);
}

int store_job_list(Store *s, const char *state, StoreJob ***ret, size_t *ret_n, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (!ret)
                return store_error_set(error, -EINVAL, "Nowhere to put the jobs.");

        r = store_prepare(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE ?1 IS NULL OR state = ?1 ORDER BY id", &st,
                          error);
        if (r < 0)
                return r;
        return jobs_read(s, st, store_bind_text(st, 1, state), "Listing jobs", ret, ret_n, error);
}

/* Begins the transaction of a change to job id (*ret_tx, which the caller's
 * cleanup rolls back) and reads the job as it was. */
static int job_change_begin(Store *s, uint64_t id, Store **ret_tx, StoreJob **ret_old, StoreError *error) {
        int r;

        r = store_begin(s, ret_tx, error);
        if (r < 0)
                return r;
        return job_get(s, id, ret_old, error);
}

int store_job_update(Store *s, const StoreActor *actor, const StoreJob *job, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(store_job_freep) StoreJob *old = NULL;
        _cleanup_free_ char *change = NULL;
        int r, rc;

        r = job_check(job, error);
        if (r < 0)
                return r;

        r = job_change_begin(s, job->id, &tx, &old, error);
        if (r < 0)
                return r;

        r = store_prepare(s,
                          "UPDATE jobs SET token_serial = ?, state = ?, stage = ?, percent = ?, result = ?, "
                          "error = ?, updated_usec = ? WHERE id = ?",
                          &st, error);
        if (r < 0)
                return r;
        rc = store_bind_text(st, 1, job->token_serial) ?:
             store_bind_text(st, 2, job->state) ?:
             store_bind_text(st, 3, job->stage) ?:
             sqlite3_bind_int(st, 4, (int) job->percent) ?:
             store_bind_text(st, 5, job->result) ?:
             store_bind_text(st, 6, job->error_message) ?:
             store_bind_u64(st, 7, store_now_usec()) ?:
             store_bind_u64(st, 8, job->id);
        r = store_step_done(s, st, rc, "Updating a job", error);
        if (r < 0)
                return r;

        if (!streq(old->state, job->state) || !streq_ptr(old->stage, job->stage) ||
            !streq_ptr(old->token_serial, job->token_serial)) {
                StoreJob audited = *job;

                /* kind and order are the job's own, whatever the caller
                 * passed. */
                audited.kind = old->kind;
                audited.order_reference = old->order_reference;
                if (asprintf(&change, "%s -> %s", old->state, job->state) < 0)
                        return store_error_set(error, -ENOMEM, "Out of memory.");
                /* the result of a job's step is the state it reached */
                r = job_audit(s, actor, "job-update", job->id, &audited, change, job->state, error);
                if (r < 0)
                        return r;
        }
        return store_commit(&tx, error);
}

int store_job_remove(Store *s, const StoreActor *actor, uint64_t id, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(store_job_freep) StoreJob *old = NULL;
        int r;

        r = job_change_begin(s, id, &tx, &old, error);
        if (r < 0)
                return r;

        r = store_prepare(s, "DELETE FROM jobs WHERE id = ?", &st, error);
        if (r < 0)
                return r;
        r = store_step_done(s, st, store_bind_u64(st, 1, id), "Removing a job", error);
        if (r < 0)
                return r;

        r = job_audit(s, actor, "job-remove", id, old, "removed", "ok", error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}
