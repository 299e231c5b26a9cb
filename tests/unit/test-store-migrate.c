/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Schema versions: a database of version 1, written here with the schema as
 * it was released (a frozen copy, so that editing a released step in
 * store-schema.c shows), is brought to the latest version with its data; a
 * newer or foreign database is refused untouched; a step that fails leaves
 * the database at the version before it. */

#include "store-test.h"

#define LATEST 4

static const char schema_v1[] =
        "PRAGMA application_id = 1246057550;\n"
        "CREATE TABLE orders (\n"
        "        reference TEXT PRIMARY KEY NOT NULL CHECK (reference <> ''),\n"
        "        ca TEXT,\n"
        "        product TEXT,\n"
        "        profile TEXT,\n"
        "        validity_years INTEGER NOT NULL CHECK (validity_years >= 0),\n"
        "        holder_given_name TEXT,\n"
        "        holder_surname TEXT,\n"
        "        holder_email TEXT,\n"
        "        holder_identifier TEXT,\n"
        "        organisation_name TEXT,\n"
        "        organisation_siren TEXT,\n"
        "        organisation_siret TEXT,\n"
        "        organisation_vat TEXT,\n"
        "        state TEXT NOT NULL CHECK (state IN ('pending', 'key-generated', 'submitted',\n"
        "                'certificate-received', 'installed', 'failed', 'cancelled')),\n"
        "        failed_step TEXT,\n"
        "        failed_reason TEXT,\n"
        "        key_id INTEGER REFERENCES keys(id),\n"
        "        created_usec INTEGER NOT NULL,\n"
        "        updated_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX orders_state ON orders(state);\n"
        "CREATE TABLE keys (\n"
        "        id INTEGER PRIMARY KEY,\n"
        "        order_reference TEXT NOT NULL REFERENCES orders(reference),\n"
        "        token_serial TEXT NOT NULL,\n"
        "        token_manufacturer TEXT,\n"
        "        token_model TEXT,\n"
        "        key_id_hex TEXT NOT NULL CHECK (length(key_id_hex) > 0 AND length(key_id_hex) % 2 = 0\n"
        "                AND key_id_hex NOT GLOB '*[^0-9a-f]*'),\n"
        "        label TEXT,\n"
        "        algorithm TEXT,\n"
        "        local INTEGER NOT NULL CHECK (local IN (0, 1)),\n"
        "        always_sensitive INTEGER NOT NULL CHECK (always_sensitive IN (0, 1)),\n"
        "        never_extractable INTEGER NOT NULL CHECK (never_extractable IN (0, 1)),\n"
        "        created_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX keys_order ON keys(order_reference);\n"
        "CREATE TABLE requests (\n"
        "        id INTEGER PRIMARY KEY,\n"
        "        key_id INTEGER NOT NULL UNIQUE REFERENCES keys(id),\n"
        "        order_reference TEXT NOT NULL REFERENCES orders(reference),\n"
        "        csr_pem TEXT NOT NULL,\n"
        "        created_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX requests_order ON requests(order_reference);\n"
        "CREATE TABLE certificates (\n"
        "        id INTEGER PRIMARY KEY,\n"
        "        key_id INTEGER NOT NULL REFERENCES keys(id),\n"
        "        order_reference TEXT NOT NULL REFERENCES orders(reference),\n"
        "        pem TEXT NOT NULL,\n"
        "        der BLOB NOT NULL,\n"
        "        serial_hex TEXT NOT NULL,\n"
        "        not_after_usec INTEGER NOT NULL,\n"
        "        installed INTEGER NOT NULL DEFAULT 0 CHECK (installed IN (0, 1)),\n"
        "        installed_usec INTEGER,\n"
        "        created_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX certificates_key ON certificates(key_id);\n"
        "CREATE INDEX certificates_order ON certificates(order_reference);\n"
        "CREATE TABLE audit (\n"
        "        id INTEGER PRIMARY KEY,\n"
        "        time_usec INTEGER NOT NULL,\n"
        "        actor_uid INTEGER NOT NULL,\n"
        "        actor_name TEXT NOT NULL,\n"
        "        action TEXT NOT NULL,\n"
        "        token_serial TEXT,\n"
        "        order_reference TEXT,\n"
        "        result TEXT NOT NULL,\n"
        "        detail TEXT,\n"
        "        hash TEXT NOT NULL\n"
        ");\n"
        "CREATE INDEX audit_order ON audit(order_reference);\n"
        "CREATE INDEX audit_token ON audit(token_serial);\n"
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be changed'); END;\n"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be deleted'); END;\n"
        "PRAGMA user_version = 1;\n";

/* What a version-1 jetond would have written: an installed order, a pending
 * one, and the audit records of both, chained. */
static const char data_v1[] =
        "INSERT INTO orders (reference, ca, product, profile, validity_years, holder_given_name, "
        "  holder_surname, holder_email, organisation_name, organisation_siret, state, key_id, "
        "  created_usec, updated_usec) VALUES "
        "  ('BD1734971738', 'Certinomis', 'OPE-AES-CAP-1A', 'certinomis-decideur', 1, 'Camille', 'Dupont', "
        "   'camille.dupont@example.fr', 'Exemple SARL', '12345678200002', 'pending', NULL, 1000, 1000), "
        "  ('CG0001', 'Certigna', 'Pack ID RGS**', 'certigna-rgs2', 3, 'Jean', 'Martin', NULL, NULL, NULL, "
        "   'pending', NULL, 2000, 2000);\n"
        "INSERT INTO keys (id, order_reference, token_serial, token_manufacturer, token_model, key_id_hex, "
        "  label, algorithm, local, always_sensitive, never_extractable, created_usec) VALUES "
        "  (1, 'CG0001', '0123456789abcdef', 'SoftHSM project', 'SoftHSM v2', 'c0ffee', 'CG0001', 'p256', "
        "   1, 1, 1, 3000);\n"
        "INSERT INTO requests (key_id, order_reference, csr_pem, created_usec) VALUES "
        "  (1, 'CG0001', '" TEST_CSR_PEM "', 3000);\n"
        "INSERT INTO certificates (key_id, order_reference, pem, der, serial_hex, not_after_usec, installed, "
        "  installed_usec, created_usec) VALUES "
        "  (1, 'CG0001', '" TEST_CERT_PEM "', x'3082', '01', 1798761600000000, 1, 5000, 4000);\n"
        "UPDATE orders SET state = 'installed', key_id = 1, updated_usec = 5000 WHERE reference = 'CG0001';\n";

typedef StoreFixture Fixture;

/* The store is opened by each test, over what it made. */
static int setup(void **state) {
        *state = store_fixture_new(false, false);
        return 0;
}

static void add_audit_v1(sqlite3 *db, uint8_t prev[32], uint64_t id, const char *action, const char *order,
                         const char *token) {
        sqlite3_stmt *st = NULL;
        uint8_t h[32];
        char hex[65];

        chain_hash(prev, id, 1000 * id, 0, "root", action, token, order, "ok", "v1", h);
        chain_hex(h, hex);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO audit VALUES (?, ?, 0, 'root', ?, ?, ?, 'ok', 'v1', ?)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, (sqlite3_int64) id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) (1000 * id));
        sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
        if (token)
                sqlite3_bind_text(st, 4, token, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, order, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, hex, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        memcpy(prev, h, 32);
}

static void make_v1(Fixture *f, bool with_data) {
        sqlite3 *db = NULL;
        uint8_t chain[32];

        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
        raw_exec_ok(db, "PRAGMA journal_mode=WAL");
        raw_exec_ok(db, schema_v1);
        if (with_data) {
                raw_exec_ok(db, data_v1);
                chain_genesis(chain);
                add_audit_v1(db, chain, 1, "order-add", "BD1734971738", NULL);
                add_audit_v1(db, chain, 2, "order-add", "CG0001", NULL);
                add_audit_v1(db, chain, 3, "order-key", "CG0001", "0123456789abcdef");
                add_audit_v1(db, chain, 4, "order-installed", "CG0001", "0123456789abcdef");
        }
        sqlite3_close(db);
}

static void test_new_database_is_latest(void **state) {
        Fixture *f = *state;
        _cleanup_(store_closep) Store *s = NULL;
        StoreError error = {};
        sqlite3 *db;

        assert_int_equal(store_open(f->path, &s, &error), 0);
        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), LATEST);
        assert_int_equal(raw_int(db, "PRAGMA application_id"), 0x4A45544E);
        assert_int_equal(raw_int(db, "SELECT last_id FROM audit_head"), 0);
        sqlite3_close(db);
        s = store_close(s);

        /* opening again changes nothing */
        assert_int_equal(store_open(f->path, &s, &error), 0);
        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), LATEST);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_head"), 1);
        sqlite3_close(db);
}

static void test_v1_to_latest(void **state) {
        Fixture *f = *state;
        _cleanup_(store_closep) Store *s = NULL;
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_free_ char *head = NULL, *last_hash = NULL;
        StoreJob job = { .kind = (char *) "install", .order_reference = (char *) "BD1734971738",
                         .state = (char *) "queued" };
        StoreError error = {};
        uint64_t head_id = 0, job_id = 0;
        sqlite3 *db;

        make_v1(f, true);
        db = raw_open(f->path);
        last_hash = raw_text(db, "SELECT hash FROM audit WHERE id = 4");
        sqlite3_close(db);

        if (store_open(f->path, &s, &error) < 0)
                fail_msg("store_open: %s", error.message);

        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), LATEST);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        sqlite3_close(db);

        /* the data of version 1, read through today's store */
        assert_int_equal(store_order_get(s, "CG0001", &o, &error), 0);
        assert_int_equal(o->state, ORDER_INSTALLED);
        assert_int_equal(o->validity_years, 3);
        assert_string_equal(o->product, "Pack ID RGS**");
        assert_string_equal(o->key_id_hex, "c0ffee");
        assert_string_equal(o->evidence.token_serial, "0123456789abcdef");
        assert_string_equal(o->csr_pem, TEST_CSR_PEM);
        assert_string_equal(o->certificate_pem, TEST_CERT_PEM);
        o = order_free(o);
        assert_int_equal(store_order_get(s, "BD1734971738", &o, &error), 0);
        assert_int_equal(o->state, ORDER_PENDING);
        assert_null(o->holder.identifier);

        /* the head (version 3) starts where the version-1 log ended */
        assert_int_equal(store_audit_head(s, &head_id, &head, &error), 0);
        assert_int_equal(head_id, 4);
        assert_string_equal(head, last_hash);
        assert_int_equal(store_audit_verify(s, NULL, &error), 0);

        /* jobs (version 2) work, and the chain goes on */
        assert_int_equal(store_job_add(s, NULL, &job, &job_id, &error), 0);
        assert_int_equal(store_order_set_state(s, NULL, "BD1734971738", ORDER_CANCELLED, NULL, NULL, &error), 0);
        assert_int_equal(audit_count(f->path), 6);
        assert_int_equal(store_audit_verify(s, NULL, &error), 0);
}

static void test_empty_v1_to_latest(void **state) {
        Fixture *f = *state;
        _cleanup_(store_closep) Store *s = NULL;
        _cleanup_free_ char *head = NULL;
        StoreError error = {};
        uint64_t head_id = 99;

        make_v1(f, false);
        assert_int_equal(store_open(f->path, &s, &error), 0);
        assert_int_equal(store_audit_head(s, &head_id, &head, &error), 0);
        assert_int_equal(head_id, 0);
        assert_int_equal(store_audit_verify(s, NULL, &error), 0);
}

static void test_newer_refused(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        StoreError error = {};
        sqlite3 *db;

        make_v1(f, true);
        raw_exec_at(f->path, "PRAGMA user_version = 99; CREATE TABLE from_the_future (x)");

        assert_int_equal(store_open(f->path, &s, &error), -EPROTONOSUPPORT);
        assert_null(s);
        assert_non_null(strstr(error.message, "schema version 99"));
        assert_non_null(strstr(error.message, "newer"));

        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_head'"), 0);
        sqlite3_close(db);
}

static void test_foreign_database_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *mode = NULL;
        Store *s = NULL;
        StoreError error = {};
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
        raw_exec_ok(db, "CREATE TABLE moz_cookies (name TEXT)");
        sqlite3_close(db);

        assert_int_equal(store_open(f->path, &s, &error), -EMEDIUMTYPE);
        assert_non_null(strstr(error.message, "another program"));
        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema"), 1);
        /* not even switched to WAL, which the file would remember */
        mode = raw_text(db, "PRAGMA journal_mode");
        assert_string_equal(mode, "delete");
        sqlite3_close(db);
}

static void test_not_sqlite_refused(void **state) {
        Fixture *f = *state;
        static const char text[] = "reference;ca\nBD1734971738;Certinomis\n......................................"
                                   "........................................................................";
        Store *s = NULL;
        StoreError error = {};
        char back[sizeof(text)] = {};
        FILE *file;

        file = fopen(f->path, "we");
        assert_non_null(file);
        assert_int_equal(fwrite(text, 1, sizeof(text), file), sizeof(text));
        assert_int_equal(fclose(file), 0);

        assert_int_equal(store_open(f->path, &s, &error), -EMEDIUMTYPE);
        assert_non_null(strstr(error.message, "not an SQLite database"));

        file = fopen(f->path, "re");
        assert_non_null(file);
        assert_int_equal(fread(back, 1, sizeof(back), file), sizeof(text));
        fclose(file);
        assert_memory_equal(back, text, sizeof(text));
}

static void test_failed_step_rolls_back(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        StoreError error = {};
        sqlite3 *db;

        /* step 2 creates the table jobs, then indexes, one of whose names is
         * taken: the table must go with the failure */
        make_v1(f, true);
        raw_exec_at(f->path, "CREATE INDEX jobs_order ON orders(ca)");

        assert_true(store_open(f->path, &s, &error) < 0);
        assert_null(s);
        assert_non_null(strstr(error.message, "from version 1 to 2"));
        assert_non_null(strstr(error.message, "stays at 1"));
        assert_non_null(strstr(error.message, "jobs_order"));

        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('jobs', 'jobs_state')"), 0);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM orders"), 2);

        /* once the obstacle is gone, the migration completes */
        raw_exec_ok(db, "DROP INDEX jobs_order");
        sqlite3_close(db);
        assert_int_equal(store_open(f->path, &s, &error), 0);
        assert_int_equal(store_audit_verify(s, NULL, &error), 0);
        store_close(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_new_database_is_latest, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_v1_to_latest, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_empty_v1_to_latest, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_newer_refused, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_not_sqlite_refused, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_failed_step_rolls_back, setup, store_fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
