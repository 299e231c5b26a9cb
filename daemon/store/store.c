/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store-private.h"

/* Another process (jetonctl reading, sqlite3 for a backup) may hold a lock
 * for a moment; waiting this long is better than failing a provisioning
 * step whose key already sits on a token. */
#define BUSY_TIMEOUT_MS 5000

uint64_t store_now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

int store_error_set(StoreError *error, int code, const char *fmt, ...) {
        va_list ap;

        if (error) {
                error->code = code;
                /* for %m */
                errno = -code;
                va_start(ap, fmt);
                (void) vsnprintf(error->message, sizeof(error->message), fmt, ap);
                va_end(ap);
        }
        return code;
}

int store_errno_from_sqlite(int rc) {
        switch (rc) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:
                return -EEXIST;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
                return -ENOENT;
        }

        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
                return -EBADMSG;
        case SQLITE_NOTADB:
                return -EMEDIUMTYPE;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_MISUSE:
                return -EINVAL;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_PROTOCOL:
                return -EPROTO;
        default:
                return -EIO;
        }
}

int store_error_sqlite(Store *s, StoreError *error, int rc, const char *what) {
        int r = store_errno_from_sqlite(rc);

        if (r == 0)     /* an unexpected row, say */
                r = -EIO;
        return store_error_set(error, r, "%s: %s (%s)", what,
                               s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
                               s && s->path ? s->path : "store");
}

int store_prepare(Store *s, const char *sql, sqlite3_stmt **ret, StoreError *error) {
        int rc;

        rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        if (rc != SQLITE_OK)
                return store_error_sqlite(s, error, rc, "Preparing a statement");
        return 0;
}

int store_exec(Store *s, const char *sql, StoreError *error) {
        int rc;

        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return store_error_sqlite(s, error, rc, "Updating the database");
        return 0;
}

int store_query_row(Store *s, const char *sql, sqlite3_stmt **ret, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s, sql, &st, error);
        if (r < 0)
                return r;
        r = store_step_row(s, st, SQLITE_OK, sql, error);
        if (r < 0)
                return r;
        if (r == 0)
                return store_error_sqlite(s, error, SQLITE_DONE, sql);
        *ret = TAKE_PTR(st);
        return 0;
}

int store_step_done(Store *s, sqlite3_stmt *st, int bind_rc, const char *what, StoreError *error) {
        int rc;

        if (bind_rc != SQLITE_OK)
                return store_error_sqlite(s, error, bind_rc, what);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return store_error_sqlite(s, error, rc, what);
        return 0;
}

int store_step_row(Store *s, sqlite3_stmt *st, int bind_rc, const char *what, StoreError *error) {
        int rc;

        if (bind_rc != SQLITE_OK)
                return store_error_sqlite(s, error, bind_rc, what);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return store_error_sqlite(s, error, rc, what);
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v) {
        if (!v)
                return sqlite3_bind_null(st, i);
        return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

int store_bind_u64(sqlite3_stmt *st, int i, uint64_t v) {
        if (v > INT64_MAX)
                return SQLITE_RANGE;
        return sqlite3_bind_int64(st, i, (sqlite3_int64) v);
}

int store_column_strdup(sqlite3_stmt *st, int i, char **ret) {
        const unsigned char *v;

        *ret = NULL;
        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return 0;
        v = sqlite3_column_text(st, i);
        if (!v)
                return -ENOMEM;
        *ret = strdup((const char *) v);
        return *ret ? 0 : -ENOMEM;
}

uint64_t store_column_u64(sqlite3_stmt *st, int i) {
        sqlite3_int64 v = sqlite3_column_int64(st, i);

        return v < 0 ? 0 : (uint64_t) v;
}

int store_begin(Store *s, Store **ret_tx, StoreError *error) {
        int r;

        r = store_exec(s, "BEGIN IMMEDIATE", error);
        if (r < 0)
                return r;
        *ret_tx = s;
        return 0;
}

int store_commit(Store **tx, StoreError *error) {
        int r;

        r = store_exec(*tx, "COMMIT", error);
        if (r < 0)
                return r;       /* *tx stays set: the cleanup rolls back */
        *tx = NULL;
        return 0;
}

void store_rollbackp(Store **tx) {
        /* Some errors (a full disk, I/O) roll the transaction back on their
         * own; a second ROLLBACK would only fail. */
        if (*tx && !sqlite3_get_autocommit((*tx)->db))
                (void) sqlite3_exec((*tx)->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A pragma that answers with one text row, checked against what we asked. */
static int pragma_expect(Store *s, const char *sql, const char *want, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const char *got;
        int r;

        r = store_query_row(s, sql, &st, error);
        if (r < 0)
                return r;
        got = (const char *) sqlite3_column_text(st, 0);
        if (!got || strcasecmp(got, want) != 0)
                return store_error_set(error, -EOPNOTSUPP, "%s: %s answered '%s', not '%s'.", s->path, sql,
                                       got ?: "", want);
        return 0;
}

/* Sets a pragma, then checks that it took: SQLite ignores what it does not
 * know. */
static int pragma_set(Store *s, const char *set, const char *get, const char *want, StoreError *error) {
        int r;

        r = store_exec(s, set, error);
        if (r < 0)
                return r;
        return pragma_expect(s, get, want, error);
}

static int store_configure(Store *s, StoreError *error) {
        int r;

        (void) sqlite3_extended_result_codes(s->db, 1);
        (void) sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

        /* Before anything writes to the file: WAL mode is recorded in it. */
        r = store_schema_check(s, error);
        if (r < 0)
                return r;

        /* WAL: readers (jetonctl, a backup) never block the daemon's writes,
         * and a commit is one append to the log. */
        r = pragma_expect(s, "PRAGMA journal_mode=WAL", "wal", error);
        if (r < 0)
                return r;

        /* FULL, not WAL's usual NORMAL: NORMAL survives a crash of the
         * daemon but may lose the last commits on power loss, and what we
         * commit has already happened on a token (a key generated, a
         * certificate written) and is announced on the bus as soon as the
         * commit returns. Losing it would leave a key on a token that no
         * order knows of. One fsync per commit is cheap next to a key
         * generation that takes seconds. */
        r = pragma_set(s, "PRAGMA synchronous=FULL", "PRAGMA synchronous", "2", error);
        if (r < 0)
                return r;

        /* Per connection, off by default: keys, requests, certificates and
         * jobs must point at orders that exist. */
        return pragma_set(s, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys", "1", error);
}

int store_open(const char *path, Store **ret, StoreError *error) {
        _cleanup_(store_closep) Store *s = NULL;
        int fd, r, rc;

        if (!path || !path[0] || !ret)
                return store_error_set(error, -EINVAL, "No database path given.");

        s = calloc(1, sizeof(Store));
        if (!s)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        s->path = strdup(path);
        if (!s->path)
                return store_error_set(error, -ENOMEM, "Out of memory.");

        /* Holders' names and e-mail addresses: not for every local user (they
         * read through the bus). SQLite gives its -wal and -shm files the
         * mode of the database, so creating it 0600 covers all three. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return store_error_set(error, -errno, "Cannot open the database %s: %m", path);
        (void) close(fd);

        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int e = s->db ? sqlite3_system_errno(s->db) : 0;

                if (e > 0)
                        return store_error_set(error, -e, "Cannot open the database %s: %m", path);
                return store_error_sqlite(s, error, rc, "Opening the database");
        }

        r = store_configure(s, error);
        if (r < 0)
                return r;

        r = store_schema_migrate(s, error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_close(Store *s) {
        if (!s)
                return NULL;

        /* Every statement is finalised by its function, so this closes for
         * real; _v2 would only defer it if one were not. */
        (void) sqlite3_close_v2(s->db);
        free(s->path);
        free(s);
        return NULL;
}
