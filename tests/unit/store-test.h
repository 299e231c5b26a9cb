/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the store's unit tests (tests/unit/test-store-*.c):
 * a private directory per test, sample orders, a raw sqlite3 connection to
 * look at (or tamper with) what the store wrote, and an implementation of
 * the audit chain written from its description in store-audit.c, not from
 * its code. Header-only: each test is one executable. */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "store.h"

#define TEST_CSR_PEM                                                 \
        "-----BEGIN CERTIFICATE REQUEST-----\n"                      \
        "MIIBVDCB/AIBADAaMRgwFgYDVQQDDA9DYW1pbGxlIER1cG9udDBZMBMGByqGSM49\n" \
        "-----END CERTIFICATE REQUEST-----\n"
#define TEST_CERT_PEM                                                \
        "-----BEGIN CERTIFICATE-----\n"                              \
        "MIIBszCCAVmgAwIBAgIUaKz2Lr3yYpG5XnJpkYl5Q2JmD3AwCgYIKoZIzj0EAwIw\n" \
        "-----END CERTIFICATE-----\n"

/* A new directory under base (NULL: $TMPDIR or /tmp). */
static inline char *store_test_dir_in(const char *base) {
        const char *tmp = getenv("TMPDIR");
        char *d = NULL;

        if (!base)
                base = tmp && tmp[0] ? tmp : "/tmp";
        assert_true(asprintf(&d, "%s/jeton-store-XXXXXX", base) > 0);
        assert_non_null(mkdtemp(d));
        return d;
}

static inline char *store_test_dir(void) {
        return store_test_dir_in(NULL);
}

static inline char *store_test_path(const char *dir, const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* Removes the directory and the files in it (the database, -wal, -shm). */
static inline void store_test_dir_remove(char *dir) {
        DIR *d;
        struct dirent *de;

        if (!dir)
                return;
        d = opendir(dir);
        if (d) {
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        (void) rmdir(dir);
        free(dir);
}

static inline Order *store_test_order(const char *reference) {
        Order *o = order_new();

        assert_non_null(o);
        o->reference = strdup(reference);
        o->ca = strdup("Certinomis");
        o->product = strdup("OPE-AES-CAP-1A");
        o->profile = strdup("certinomis-decideur");
        o->validity_years = 1;
        o->holder.given_name = strdup("Camille");
        o->holder.surname = strdup("Dupont");
        o->holder.email = strdup("camille.dupont@example.fr");
        o->holder.identifier = strdup("IDCFR-12345");
        o->organisation.name = strdup("Exemple SARL");
        o->organisation.siren = strdup("123456782");
        o->organisation.siret = strdup("12345678200002");
        o->organisation.vat = strdup("FR32123456782");
        assert_non_null(o->organisation.vat);
        return o;
}

static inline StoreKeyRecord store_test_key(const char *key_id_hex, const char *label, const char *token_serial) {
        return (StoreKeyRecord) {
                .key_id_hex = key_id_hex,
                .label = label,
                .algorithm = "rsa:3072",
                .evidence = {
                        .local = true,
                        .always_sensitive = true,
                        .never_extractable = true,
                        .token_manufacturer = (char *) "SoftHSM project",
                        .token_model = (char *) "SoftHSM v2",
                        .token_serial = (char *) token_serial,
                },
        };
}

static inline StoreCertificateRecord store_test_cert(void) {
        static const uint8_t der[] = { 0x30, 0x82, 0x01, 0xb3, 0x00, 0x01, 0x02, 0xff };

        return (StoreCertificateRecord) {
                .pem = TEST_CERT_PEM,
                .der = der,
                .der_size = sizeof(der),
                .serial_hex = "68acf62ebdf26291b95e7269918979436266" "0f70",
                .not_after_usec = UINT64_C(1798761600) * 1000000,      /* 2027-01-01 */
        };
}

/* ---- a second, raw connection to the database --------------------------- */

static inline sqlite3 *raw_open(const char *path) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
        return db;
}

/* Runs SQL; returns the SQLite code, *ret_msg (may be NULL) the message. */
static inline int raw_exec(sqlite3 *db, const char *sql, char **ret_msg) {
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

        if (ret_msg)
                *ret_msg = msg ? strdup(msg) : NULL;
        sqlite3_free(msg);
        return rc;
}

static inline void raw_exec_ok(sqlite3 *db, const char *sql) {
        char *msg = NULL;
        int rc = raw_exec(db, sql, &msg);

        if (rc != SQLITE_OK)
                fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        free(msg);
}

/* Opens the database at path, runs SQL that must succeed, closes it. */
static inline void raw_exec_at(const char *path, const char *sql) {
        sqlite3 *db = raw_open(path);

        raw_exec_ok(db, sql);
        sqlite3_close(db);
}

/* Prepares the SQL formatted from fmt, which *ret_sql gets (for messages;
 * the caller frees it). */
static inline sqlite3_stmt *raw_vprepare(sqlite3 *db, char **ret_sql, const char *fmt, va_list ap) {
        sqlite3_stmt *st = NULL;

        assert_true(vasprintf(ret_sql, fmt, ap) > 0);
        if (sqlite3_prepare_v2(db, *ret_sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("%s: %s", *ret_sql, sqlite3_errmsg(db));
        return st;
}

/* The first column of the first row as an integer (0 when no row). */
static inline int64_t raw_int(sqlite3 *db, const char *fmt, ...) {
        sqlite3_stmt *st;
        char *sql = NULL;
        va_list ap;
        int64_t v = 0;
        int rc;

        va_start(ap, fmt);
        st = raw_vprepare(db, &sql, fmt, ap);
        va_end(ap);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        else if (rc != SQLITE_DONE)
                fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        free(sql);
        return v;
}

/* The first column of the first row as a malloc'd string (NULL: no row or NULL). */
static inline char *raw_text(sqlite3 *db, const char *fmt, ...) {
        sqlite3_stmt *st;
        char *sql = NULL, *v = NULL;
        va_list ap;

        va_start(ap, fmt);
        st = raw_vprepare(db, &sql, fmt, ap);
        va_end(ap);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                v = strdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        free(sql);
        return v;
}

static inline int64_t audit_count(const char *path) {
        sqlite3 *db = raw_open(path);
        int64_t n = raw_int(db, "SELECT count(*) FROM audit");

        sqlite3_close(db);
        return n;
}

/* ---- a fixture: a database in a private directory -------------------------- */

typedef struct StoreFixture {
        char *dir;
        char *path;             /* dir/jeton.db */
        Store *store;           /* NULL unless made with open_store */
        sqlite3 *raw;           /* a second, raw connection; NULL unless made with open_raw */
} StoreFixture;

/* For a cmocka setup: the directory, and if asked the store opened there
 * and a raw connection to its database. */
static inline StoreFixture *store_fixture_new(bool open_store, bool open_raw) {
        StoreFixture *f = calloc(1, sizeof(StoreFixture));
        StoreError error = {};

        assert_non_null(f);
        f->dir = store_test_dir();
        f->path = store_test_path(f->dir, "jeton.db");
        if (open_store && store_open(f->path, &f->store, &error) < 0)
                fail_msg("store_open: %s", error.message);
        if (open_raw)
                f->raw = raw_open(f->path);
        return f;
}

/* A cmocka teardown for store_fixture_new(). */
static inline int store_fixture_teardown(void **state) {
        StoreFixture *f = *state;

        sqlite3_close(f->raw);
        store_close(f->store);
        free(f->path);
        store_test_dir_remove(f->dir);
        free(f);
        return 0;
}

/* ---- the audit chain, from its description -------------------------------- */

static inline void chain_u64(uint8_t **p, uint64_t v) {
        for (int i = 7; i >= 0; i--)
                *(*p)++ = (uint8_t) (v >> (8 * i));
}

static inline void chain_str(uint8_t **p, const char *s) {
        size_t n;

        if (!s) {
                *(*p)++ = 0;
                return;
        }
        n = strlen(s);
        *(*p)++ = 1;
        for (int i = 3; i >= 0; i--)
                *(*p)++ = (uint8_t) (n >> (8 * i));
        memcpy(*p, s, n);
        *p += n;
}

static inline void chain_sha256(const void *data, size_t n, uint8_t out[32]) {
        unsigned len = 32;

        assert_int_equal(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), 1);
}

static inline void chain_genesis(uint8_t out[32]) {
        chain_sha256("jeton audit log v1", strlen("jeton audit log v1"), out);
}

static inline void chain_hex(const uint8_t h[32], char out[65]) {
        for (size_t i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", h[i]);
}

/* hash = SHA-256(prev || id, time, uid (8 bytes BE) || name, action, token,
 * order, result, detail (0x00 or 0x01 + 4-byte BE length + bytes)). */
static inline void chain_hash(const uint8_t prev[32], uint64_t id, uint64_t time_usec, uint64_t uid,
                              const char *name, const char *action, const char *token, const char *order,
                              const char *result, const char *detail, uint8_t out[32]) {
        const char *strs[] = { name, action, token, order, result, detail };
        size_t size = 32 + 3 * 8;
        uint8_t *buf, *p;

        for (size_t i = 0; i < 6; i++)
                size += 5 + (strs[i] ? strlen(strs[i]) : 0);
        p = buf = malloc(size);
        assert_non_null(buf);
        memcpy(p, prev, 32);
        p += 32;
        chain_u64(&p, id);
        chain_u64(&p, time_usec);
        chain_u64(&p, uid);
        for (size_t i = 0; i < 6; i++)
                chain_str(&p, strs[i]);
        chain_sha256(buf, (size_t) (p - buf), out);
        free(buf);
}
