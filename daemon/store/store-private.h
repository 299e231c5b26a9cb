/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the SQLite implementation of the store shares between its files. No
 * other part of jeton includes this. */

#include <sqlite3.h>
#include <stdarg.h>

#include "store.h"
#include "util.h"

struct Store {
        sqlite3 *db;
        char *path;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);

uint64_t store_now_usec(void);

/* Fills *error (may be NULL) and returns code, which must be negative. */
int store_error_set(StoreError *error, int code, const char *fmt, ...) _printf_(3, 4);
/* The errno for an SQLite result code. */
int store_errno_from_sqlite(int rc);
/* For a failed SQLite call: "<what>: <SQLite's message>", errno from rc. */
int store_error_sqlite(Store *s, StoreError *error, int rc, const char *what);

/* ---- statements ---------------------------------------------------------- */

int store_prepare(Store *s, const char *sql, sqlite3_stmt **ret, StoreError *error);
/* Runs statements that return no rows. */
int store_exec(Store *s, const char *sql, StoreError *error);
/* Prepares a statement without parameters (a pragma, a count) and steps it to
 * its first row, which it must have. */
int store_query_row(Store *s, const char *sql, sqlite3_stmt **ret, StoreError *error);

/* Binders return an SQLite code, so that a run of them chains with ?:
 * (SQLITE_OK is 0) and is checked once, by the step that follows:
 *
 *   rc = store_bind_text(st, 1, ...) ?:
 *        store_bind_u64(st, 2, ...);
 *   r = store_step_done(s, st, rc, "Adding a thing", error);
 *
 * what names the operation in the message of either failure. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);   /* NULL binds NULL */
int store_bind_u64(sqlite3_stmt *st, int i, uint64_t v);       /* SQLITE_RANGE above INT64_MAX */
/* Steps a statement that must return no row (SQLITE_DONE). */
int store_step_done(Store *s, sqlite3_stmt *st, int bind_rc, const char *what, StoreError *error);
/* Steps a statement that returns at most one row: 1 on a row, 0 for none
 * (the caller knows what a missing row means). */
int store_step_row(Store *s, sqlite3_stmt *st, int bind_rc, const char *what, StoreError *error);

/* Steps a statement whose parameter 1 is an order reference to the order's
 * row: 0, or -ENOENT when there is no such order (store-orders.c). */
int store_step_order(Store *s, sqlite3_stmt *st, const char *reference, StoreError *error);

/* Column readers return 0 or -ENOMEM; NULL columns give NULL. */
int store_column_strdup(sqlite3_stmt *st, int i, char **ret);
uint64_t store_column_u64(sqlite3_stmt *st, int i);

/* ---- lists of rows ---------------------------------------------------------
 *
 * Every list the store returns is a NULL-terminated array of pointers. */

/* Defines the public name(), which frees such an array and what it points
 * to with free_one(), and its cleanup namep(). */
#define DEFINE_STORE_LIST_FREE(name, type, free_one)                    \
        type **name(type **l) {                                         \
                if (!l)                                                 \
                        return NULL;                                    \
                for (type **i = l; *i; i++)                             \
                        free_one(*i);                                   \
                free(l);                                                \
                return NULL;                                            \
        }                                                               \
        DEFINE_TRIVIAL_CLEANUP_FUNC(type **, name)

/* Defines
 *
 *   static int name(Store *s, sqlite3_stmt *st, int bind_rc, const char *what,
 *                   type ***ret, size_t *ret_n, StoreError *error);
 *
 * which steps st (bound with bind_rc, as for store_step_done()) to its end
 * and returns its rows in a new array, each read by
 *
 *   int read_row(sqlite3_stmt *st, type **ret);        0 or a negative errno
 *
 * and *ret_n (may be NULL) the count. A failed read_row() is reported with
 * the message read_failed (a format string: %m says its errno). A macro, not
 * a function over void pointers, so that each list keeps its own type. */
#define DEFINE_STORE_ROWS_READER(name, type, read_row, list_free, read_failed)                           \
        static int name(Store *s, sqlite3_stmt *st, int bind_rc, const char *what, type ***ret,         \
                        size_t *ret_n, StoreError *error) {                                            \
                _cleanup_(list_free##p) type **l = NULL;                                               \
                size_t n = 0, allocated = 1;                                                           \
                int r, rc;                                                                             \
                                                                                                       \
                if (bind_rc != SQLITE_OK)                                                              \
                        return store_error_sqlite(s, error, bind_rc, what);                            \
                l = calloc(allocated, sizeof(type *));                                                 \
                if (!l)                                                                                \
                        return store_error_set(error, -ENOMEM, "Out of memory.");                      \
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {                                        \
                        if (n + 2 > allocated) {                                                       \
                                type **m = reallocarray(l, allocated * 2, sizeof(type *));             \
                                                                                                       \
                                if (!m)                                                                \
                                        return store_error_set(error, -ENOMEM, "Out of memory.");      \
                                l = m;                                                                 \
                                allocated *= 2;                                                        \
                        }                                                                              \
                        r = read_row(st, &l[n]);                                                       \
                        if (r < 0)                                                                     \
                                return store_error_set(error, r, read_failed);                         \
                        l[++n] = NULL;                                                                 \
                }                                                                                      \
                if (rc != SQLITE_DONE)                                                                 \
                        return store_error_sqlite(s, error, rc, what);                                 \
                if (ret_n)                                                                             \
                        *ret_n = n;                                                                    \
                *ret = TAKE_PTR(l);                                                                    \
                return 0;                                                                              \
        }

/* ---- transactions --------------------------------------------------------
 *
 *   _cleanup_(store_rollbackp) Store *tx = NULL;
 *   r = store_begin(s, &tx, error);            BEGIN IMMEDIATE
 *   ...
 *   return store_commit(&tx, error);           COMMIT, or ROLLBACK on return
 *
 * IMMEDIATE takes the write lock at once: a read that later turns into a
 * write cannot fail with SQLITE_BUSY halfway, where busy_timeout does not
 * help. */
int store_begin(Store *s, Store **ret_tx, StoreError *error);
int store_commit(Store **tx, StoreError *error);
void store_rollbackp(Store **tx);

/* ---- audit ---------------------------------------------------------------- */

/* Appends a record inside the caller's transaction. */
int store_audit_append_tx(Store *s, const StoreActor *actor, const StoreAuditEntry *e,
                          StoreError *error);
/* The same with e->detail formatted from fmt (e's own detail is ignored). */
int store_audit_append_txf(Store *s, const StoreActor *actor, const StoreAuditEntry *e, StoreError *error,
                           const char *fmt, ...) _printf_(5, 6);

/* The canonical encoding of a record that its hash covers (exposed for
 * tests, which check it against an independent implementation). */
int store_audit_hash(const uint8_t prev[32], const StoreAuditRecord *r, uint8_t ret[32]);
void store_audit_genesis(uint8_t ret[32]);

/* ---- schema ----------------------------------------------------------------- */

/* The schema version this build writes (PRAGMA user_version). */
unsigned store_schema_version(void);
/* Whether the file is an SQLite database of ours (or empty) and of a
 * version we know, without writing to it. */
int store_schema_check(Store *s, StoreError *error);
/* Brings the schema from its version to the latest, one transaction per
 * step. */
int store_schema_migrate(Store *s, StoreError *error);
