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
/* Steps a statement that must return no row (SQLITE_DONE). */
int store_step_done(Store *s, sqlite3_stmt *st, const char *what, StoreError *error);

/* Binders return an SQLite code, so that a run of them chains with ?:
 * (SQLITE_OK is 0) and is checked once. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);   /* NULL binds NULL */
int store_bind_u64(sqlite3_stmt *st, int i, uint64_t v);       /* SQLITE_RANGE above INT64_MAX */
/* Column readers return 0 or -ENOMEM; NULL columns give NULL. */
int store_column_strdup(sqlite3_stmt *st, int i, char **ret);
uint64_t store_column_u64(sqlite3_stmt *st, int i);

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
