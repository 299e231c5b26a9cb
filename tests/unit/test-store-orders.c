/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The store's orders and jobs, against a real SQLite database in a private
 * directory; what the store wrote is also read back through a second, raw
 * connection. */

#include "store-test.h"

typedef StoreFixture Fixture;

static const StoreActor alice = { .uid = 1000, .name = "alice" };

static int setup(void **state) {
        *state = store_fixture_new(true, false);
        return 0;
}

static void add_order(Fixture *f, const char *reference) {
        _cleanup_(order_freep) Order *o = store_test_order(reference);
        StoreError error = {};

        if (store_order_add(f->store, &alice, o, &error) < 0)
                fail_msg("store_order_add(%s): %s", reference, error.message);
}

static OrderState order_state(Fixture *f, const char *reference) {
        _cleanup_(order_freep) Order *o = NULL;
        StoreError error = {};

        if (store_order_get(f->store, reference, &o, &error) < 0)
                fail_msg("store_order_get(%s): %s", reference, error.message);
        return o->state;
}

static void record_key(Fixture *f, const char *reference, const char *key_id) {
        StoreKeyRecord key = store_test_key(key_id, reference, "0123456789abcdef");
        StoreError error = {};

        if (store_order_record_key(f->store, &alice, reference, &key, TEST_CSR_PEM, &error) < 0)
                fail_msg("store_order_record_key(%s): %s", reference, error.message);
}

static StoreAuditRecord *last_audit(Fixture *f) {
        StoreAuditRecord **l = NULL, *last;
        StoreError error = {};
        size_t n = 0;

        assert_int_equal(store_audit_list(f->store, 0, 0, &l, &n, &error), 0);
        assert_true(n > 0);
        last = l[n - 1];
        l[n - 1] = NULL;
        store_audit_list_free(l);
        return last;
}

/* ---- opening ---------------------------------------------------------------- */

static void test_open_creates_private_wal_database(void **state) {
        Fixture *f = *state;
        struct stat st;
        sqlite3 *db;
        _cleanup_free_ char *mode = NULL;

        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        db = raw_open(f->path);
        mode = raw_text(db, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 4);
        assert_int_equal(raw_int(db, "PRAGMA application_id"), 0x4A45544E);
        sqlite3_close(db);
}

static void test_reopen_keeps_everything(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = NULL;
        StoreError error = {};

        add_order(f, "BD1734971738");
        record_key(f, "BD1734971738", "a1b2c3");
        f->store = store_close(f->store);

        assert_int_equal(store_open(f->path, &f->store, &error), 0);
        assert_int_equal(store_order_get(f->store, "BD1734971738", &o, &error), 0);
        assert_int_equal(o->state, ORDER_KEY_GENERATED);
        assert_string_equal(o->key_id_hex, "a1b2c3");
        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

/* ---- adding and reading --------------------------------------------------------- */

static void test_add_get_roundtrip(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *want = store_test_order("BD1734971738"), *got = NULL;
        _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
        StoreError error = {};

        /* no optional field of the holder: NULL must come back NULL */
        free(want->holder.identifier);
        want->holder.identifier = NULL;
        want->validity_years = 3;
        assert_int_equal(store_order_add(f->store, &alice, want, &error), 0);
        assert_int_equal(store_order_get(f->store, "BD1734971738", &got, &error), 0);

        for (OrderField i = 0; i < _ORDER_FIELD_MAX; i++) {
                const char *a = order_field_get(want, i), *b = order_field_get(got, i);

                if (!a)
                        assert_null(b);
                else
                        assert_string_equal(a, b);
        }
        assert_int_equal(got->validity_years, 3);
        assert_int_equal(got->state, ORDER_PENDING);
        assert_null(got->key_id_hex);
        assert_null(got->csr_pem);
        assert_null(got->certificate_pem);
        assert_null(got->failed_step);
        assert_true(got->created_usec > 0);
        assert_int_equal(got->created_usec, got->updated_usec);

        rec = last_audit(f);
        assert_int_equal(rec->id, 1);
        assert_string_equal(rec->action, "order-add");
        assert_string_equal(rec->order_reference, "BD1734971738");
        assert_string_equal(rec->result, "ok");
        assert_int_equal(rec->actor_uid, 1000);
        assert_string_equal(rec->actor_name, "alice");
        assert_null(rec->token_serial);
        /* the holder's name stays out of the append-only log */
        assert_null(strstr(rec->detail, "Dupont"));
        assert_non_null(strstr(rec->detail, "OPE-AES-CAP-1A"));
}

static void test_add_duplicate_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *again = store_test_order("BD1734971738"), *got = NULL;
        StoreError error = {};

        add_order(f, "BD1734971738");
        free(again->ca);
        again->ca = strdup("Certigna");

        assert_int_equal(store_order_add(f->store, &alice, again, &error), -EEXIST);
        assert_int_equal(error.code, -EEXIST);
        assert_non_null(strstr(error.message, "BD1734971738"));
        assert_non_null(strstr(error.message, "already exists"));

        /* nothing of the refused call is kept, not even its audit record */
        assert_int_equal(store_order_get(f->store, "BD1734971738", &got, &error), 0);
        assert_string_equal(got->ca, "Certinomis");
        assert_int_equal(audit_count(f->path), 1);
}

static void test_add_invalid(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = store_test_order("X1");
        StoreError error = {};

        o->state = ORDER_SUBMITTED;
        assert_int_equal(store_order_add(f->store, &alice, o, &error), -EINVAL);
        assert_non_null(strstr(error.message, "pending"));

        o->state = ORDER_PENDING;
        o->reference[0] = 0;
        assert_int_equal(store_order_add(f->store, &alice, o, &error), -EINVAL);
        assert_int_equal(audit_count(f->path), 0);
}

static void test_get_unknown(void **state) {
        Fixture *f = *state;
        Order *o = NULL;
        StoreError error = {};

        assert_int_equal(store_order_get(f->store, "NOPE", &o, &error), -ENOENT);
        assert_null(o);
        assert_non_null(strstr(error.message, "NOPE"));
}

static void test_list_filter(void **state) {
        Fixture *f = *state;
        Order **l = NULL;
        StoreError error = {};
        size_t n = 99;

        add_order(f, "A1");
        add_order(f, "B2");
        add_order(f, "C3");
        assert_int_equal(store_order_set_state(f->store, &alice, "B2", ORDER_CANCELLED, NULL, NULL, &error), 0);

        assert_int_equal(store_order_list(f->store, _ORDER_STATE_INVALID, &l, &n, &error), 0);
        assert_int_equal(n, 3);
        assert_string_equal(l[0]->reference, "A1");
        assert_string_equal(l[1]->reference, "B2");
        assert_string_equal(l[2]->reference, "C3");
        assert_null(l[3]);
        assert_int_equal(l[1]->state, ORDER_CANCELLED);
        l = store_order_list_free(l);

        assert_int_equal(store_order_list(f->store, ORDER_PENDING, &l, &n, &error), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->reference, "A1");
        assert_string_equal(l[1]->reference, "C3");
        l = store_order_list_free(l);

        assert_int_equal(store_order_list(f->store, ORDER_INSTALLED, &l, &n, &error), 0);
        assert_int_equal(n, 0);
        assert_non_null(l);
        assert_null(l[0]);
        l = store_order_list_free(l);

        assert_int_equal(store_order_list(f->store, _ORDER_STATE_MAX, &l, &n, &error), -EINVAL);
}

/* ---- the state machine ------------------------------------------------------------ */

static void test_set_state_follows_the_model(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
        StoreError error = {};
        int64_t n;

        add_order(f, "R1");
        n = audit_count(f->path);

        /* pending -> submitted skips the key */
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_SUBMITTED, NULL, NULL, &error), -EINVAL);
        assert_non_null(strstr(error.message, "R1 is pending") ?: strstr(error.message, "'R1' is pending"));
        /* states that record something are not set directly */
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_KEY_GENERATED, NULL, NULL, &error),
                         -EINVAL);
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_INSTALLED, NULL, NULL, &error), -EINVAL);
        /* failed needs its step and reason, and only failed has them */
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_FAILED, "keygen", NULL, &error), -EINVAL);
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_CANCELLED, "keygen", "x", &error),
                         -EINVAL);
        assert_int_equal(store_order_set_state(f->store, &alice, "NOPE", ORDER_CANCELLED, NULL, NULL, &error),
                         -ENOENT);
        assert_int_equal(audit_count(f->path), n);
        assert_int_equal(order_state(f, "R1"), ORDER_PENDING);

        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_FAILED, "keygen",
                                               "the token is full", &error), 0);
        assert_int_equal(store_order_get(f->store, "R1", &o, &error), 0);
        assert_int_equal(o->state, ORDER_FAILED);
        assert_string_equal(o->failed_step, "keygen");
        assert_string_equal(o->failed_reason, "the token is full");
        o = order_free(o);

        rec = last_audit(f);
        assert_string_equal(rec->action, "order-state");
        assert_string_equal(rec->result, "failed");
        assert_non_null(strstr(rec->detail, "pending -> failed"));
        assert_non_null(strstr(rec->detail, "the token is full"));

        /* a retry clears the failure */
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_PENDING, NULL, NULL, &error), 0);
        assert_int_equal(store_order_get(f->store, "R1", &o, &error), 0);
        assert_int_equal(o->state, ORDER_PENDING);
        assert_null(o->failed_step);
        assert_null(o->failed_reason);

        /* cancelled is final */
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_CANCELLED, NULL, NULL, &error), 0);
        assert_int_equal(store_order_set_state(f->store, &alice, "R1", ORDER_PENDING, NULL, NULL, &error), -EINVAL);
        assert_int_equal(order_state(f, "R1"), ORDER_CANCELLED);
}

static void test_record_key(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
        StoreKeyRecord key = store_test_key("00ff10", "K1", "0123456789abcdef");
        StoreError error = {};
        sqlite3 *db;

        add_order(f, "K1");

        /* refused: upper-case or odd id, no token serial, no request */
        key.key_id_hex = "00FF10";
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, TEST_CSR_PEM, &error), -EINVAL);
        key.key_id_hex = "0ff10";
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, TEST_CSR_PEM, &error), -EINVAL);
        key.key_id_hex = "00ff10";
        key.evidence.token_serial = NULL;
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, TEST_CSR_PEM, &error), -EINVAL);
        key.evidence.token_serial = (char *) "0123456789abcdef";
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, "not a request", &error), -EINVAL);
        assert_int_equal(store_order_record_key(f->store, &alice, "NOPE", &key, TEST_CSR_PEM, &error), -ENOENT);
        assert_int_equal(order_state(f, "K1"), ORDER_PENDING);

        key.evidence.never_extractable = false;
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, TEST_CSR_PEM, &error), 0);
        assert_int_equal(store_order_get(f->store, "K1", &o, &error), 0);
        assert_int_equal(o->state, ORDER_KEY_GENERATED);
        assert_string_equal(o->key_id_hex, "00ff10");
        assert_string_equal(o->key_label, "K1");
        assert_true(o->evidence.local);
        assert_true(o->evidence.always_sensitive);
        assert_false(o->evidence.never_extractable);
        assert_string_equal(o->evidence.token_serial, "0123456789abcdef");
        assert_string_equal(o->evidence.token_manufacturer, "SoftHSM project");
        assert_string_equal(o->evidence.token_model, "SoftHSM v2");
        assert_string_equal(o->csr_pem, TEST_CSR_PEM);
        assert_null(o->certificate_pem);

        rec = last_audit(f);
        assert_string_equal(rec->action, "order-key");
        assert_string_equal(rec->token_serial, "0123456789abcdef");
        assert_non_null(strstr(rec->detail, "00ff10"));
        assert_non_null(strstr(rec->detail, "never-extractable=no"));

        /* key, request and state in one go: a second key is refused whole */
        assert_int_equal(store_order_record_key(f->store, &alice, "K1", &key, TEST_CSR_PEM, &error), -EINVAL);
        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM keys"), 1);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM requests"), 1);
        assert_int_equal(raw_int(db, "SELECT algorithm = 'rsa:3072' FROM keys"), 1);
        sqlite3_close(db);
}

static void test_full_lifecycle(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = NULL;
        StoreCertificateRecord cert = store_test_cert();
        _cleanup_free_ char *serial = NULL;
        StoreAuditRecord **l = NULL;
        StoreError error = {};
        const void *der;
        sqlite3 *db;
        size_t n;

        add_order(f, "L1");
        /* no certificate before the key */
        assert_int_equal(store_order_record_certificate(f->store, &alice, "L1", &cert, &error), -EINVAL);
        record_key(f, "L1", "0a0b");
        assert_int_equal(store_order_mark_installed(f->store, &alice, "L1", &error), -EINVAL);
        assert_int_equal(store_order_set_state(f->store, &alice, "L1", ORDER_SUBMITTED, NULL, NULL, &error), 0);

        cert.serial_hex = "XYZ";
        assert_int_equal(store_order_record_certificate(f->store, &alice, "L1", &cert, &error), -EINVAL);
        cert = store_test_cert();
        assert_int_equal(store_order_record_certificate(f->store, &alice, "L1", &cert, &error), 0);
        assert_int_equal(order_state(f, "L1"), ORDER_CERTIFICATE_RECEIVED);
        assert_int_equal(store_order_mark_installed(f->store, &alice, "L1", &error), 0);

        assert_int_equal(store_order_get(f->store, "L1", &o, &error), 0);
        assert_int_equal(o->state, ORDER_INSTALLED);
        assert_string_equal(o->certificate_pem, TEST_CERT_PEM);
        assert_true(o->updated_usec >= o->created_usec);

        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "SELECT installed FROM certificates WHERE order_reference = 'L1'"), 1);
        assert_true(raw_int(db, "SELECT installed_usec FROM certificates WHERE order_reference = 'L1'") > 0);
        assert_int_equal(raw_int(db, "SELECT not_after_usec FROM certificates"), (int64_t) cert.not_after_usec);
        serial = raw_text(db, "SELECT serial_hex FROM certificates");
        assert_string_equal(serial, cert.serial_hex);
        {
                sqlite3_stmt *st = NULL;

                assert_int_equal(sqlite3_prepare_v2(db, "SELECT der FROM certificates", -1, &st, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                der = sqlite3_column_blob(st, 0);
                assert_int_equal(sqlite3_column_bytes(st, 0), cert.der_size);
                assert_memory_equal(der, cert.der, cert.der_size);
                sqlite3_finalize(st);
        }
        sqlite3_close(db);

        /* one record per step, in order, on the order's token */
        assert_int_equal(store_audit_list(f->store, 0, 0, &l, &n, &error), 0);
        assert_int_equal(n, 5);
        assert_string_equal(l[0]->action, "order-add");
        assert_string_equal(l[1]->action, "order-key");
        assert_string_equal(l[2]->action, "order-state");
        assert_string_equal(l[3]->action, "order-certificate");
        assert_non_null(strstr(l[3]->detail, "not after 2027-01-01T00:00:00Z"));
        assert_string_equal(l[4]->action, "order-installed");
        for (size_t i = 1; i < n; i++) {
                assert_string_equal(l[i]->token_serial, "0123456789abcdef");
                assert_string_equal(l[i]->order_reference, "L1");
        }
        store_audit_list_free(l);

        /* installed is final */
        assert_int_equal(store_order_set_state(f->store, &alice, "L1", ORDER_CANCELLED, NULL, NULL, &error), -EINVAL);
        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

static void test_retry_makes_a_new_key(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = NULL;
        StoreCertificateRecord cert = store_test_cert();
        StoreError error = {};
        sqlite3 *db;

        add_order(f, "T1");
        record_key(f, "T1", "01");
        assert_int_equal(store_order_record_certificate(f->store, &alice, "T1", &cert, &error), 0);
        assert_int_equal(store_order_set_state(f->store, &alice, "T1", ORDER_FAILED, "install",
                                               "the token was removed", &error), 0);
        assert_int_equal(store_order_get(f->store, "T1", &o, &error), 0);
        /* a failed order still shows the key it failed with */
        assert_string_equal(o->key_id_hex, "01");
        o = order_free(o);

        assert_int_equal(store_order_set_state(f->store, &alice, "T1", ORDER_PENDING, NULL, NULL, &error), 0);
        assert_int_equal(store_order_get(f->store, "T1", &o, &error), 0);
        assert_null(o->key_id_hex);
        assert_null(o->csr_pem);
        assert_null(o->certificate_pem);
        o = order_free(o);

        record_key(f, "T1", "02");
        assert_int_equal(store_order_get(f->store, "T1", &o, &error), 0);
        assert_string_equal(o->key_id_hex, "02");
        /* the certificate belonged to the old key */
        assert_null(o->certificate_pem);

        db = raw_open(f->path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM keys WHERE order_reference = 'T1'"), 2);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM requests WHERE order_reference = 'T1'"), 2);
        sqlite3_close(db);
}

/* ---- import ---------------------------------------------------------------------- */

static void test_import_all_or_nothing(void **state) {
        Fixture *f = *state;
        Order *batch[3] = {};
        Order *o = NULL;
        StoreError error = {};

        batch[0] = store_test_order("I1");
        batch[1] = store_test_order("I2");
        batch[2] = store_test_order("I3");
        assert_int_equal(store_orders_import(f->store, &alice, batch, 3, &error), 0);
        assert_int_equal(audit_count(f->path), 3);
        for (size_t i = 0; i < 3; i++)
                order_free(batch[i]);

        /* one order known already: none of the batch goes in */
        batch[0] = store_test_order("I4");
        batch[1] = store_test_order("I2");
        batch[2] = store_test_order("I5");
        assert_int_equal(store_orders_import(f->store, &alice, batch, 3, &error), -EEXIST);
        assert_non_null(strstr(error.message, "'I2' (entry 2 of 3) already exists"));
        assert_int_equal(store_order_get(f->store, "I4", &o, NULL), -ENOENT);
        assert_int_equal(store_order_get(f->store, "I5", &o, NULL), -ENOENT);
        assert_int_equal(audit_count(f->path), 3);

        /* one order given twice */
        free(batch[1]->reference);
        batch[1]->reference = strdup("I6");
        free(batch[2]->reference);
        batch[2]->reference = strdup("I4");
        assert_int_equal(store_orders_import(f->store, &alice, batch, 3, &error), -EEXIST);
        assert_non_null(strstr(error.message, "'I4' is given twice (entries 1 and 3 of 3)"));
        assert_int_equal(store_order_get(f->store, "I6", &o, NULL), -ENOENT);

        /* an invalid order: named by its entry */
        free(batch[2]->reference);
        batch[2]->reference = strdup("I7");
        batch[2]->state = ORDER_INSTALLED;
        assert_int_equal(store_orders_import(f->store, &alice, batch, 3, &error), -EINVAL);
        assert_non_null(strstr(error.message, "Entry 3 of 3"));
        assert_int_equal(store_order_get(f->store, "I4", &o, NULL), -ENOENT);
        assert_int_equal(audit_count(f->path), 3);
        for (size_t i = 0; i < 3; i++)
                order_free(batch[i]);

        assert_int_equal(store_orders_import(f->store, &alice, NULL, 0, &error), 0);
        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

/* ---- the audit record is part of each operation's transaction ------------------------ */

static void test_audit_failure_undoes_the_operation(void **state) {
        Fixture *f = *state;
        _cleanup_(order_freep) Order *o = store_test_order("U2");
        Order *missing = NULL;
        StoreKeyRecord key = store_test_key("aa", "U1", "0123456789abcdef");
        StoreJob job = { .kind = (char *) "generate", .state = (char *) "queued" };
        StoreError error = {};
        sqlite3 *db;

        add_order(f, "U1");
        db = raw_open(f->path);
        raw_exec_ok(db, "CREATE TRIGGER test_refuse BEFORE INSERT ON audit "
                        "BEGIN SELECT RAISE(ABORT, 'test: audit refused'); END");

        assert_true(store_order_add(f->store, &alice, o, &error) < 0);
        assert_non_null(strstr(error.message, "test: audit refused"));
        assert_int_equal(store_order_get(f->store, "U2", &missing, NULL), -ENOENT);

        assert_true(store_order_set_state(f->store, &alice, "U1", ORDER_CANCELLED, NULL, NULL, &error) < 0);
        assert_true(store_order_record_key(f->store, &alice, "U1", &key, TEST_CSR_PEM, &error) < 0);
        assert_int_equal(order_state(f, "U1"), ORDER_PENDING);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM keys"), 0);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM requests"), 0);

        assert_true(store_job_add(f->store, &alice, &job, NULL, &error) < 0);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM jobs"), 0);

        raw_exec_ok(db, "DROP TRIGGER test_refuse");
        sqlite3_close(db);
        assert_int_equal(store_order_set_state(f->store, &alice, "U1", ORDER_CANCELLED, NULL, NULL, &error), 0);
        assert_int_equal(audit_count(f->path), 2);
        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

/* ---- jobs ------------------------------------------------------------------------------ */

static void test_jobs(void **state) {
        Fixture *f = *state;
        StoreJob job = {
                .kind = (char *) "generate",
                .order_reference = (char *) "J1",
                .state = (char *) "queued",
        };
        _cleanup_(store_job_freep) StoreJob *got = NULL;
        _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
        StoreJob **l = NULL;
        StoreError error = {};
        uint64_t id, id2, id3;
        int64_t n;
        size_t count;

        /* unknown order */
        assert_int_equal(store_job_add(f->store, &alice, &job, &id, &error), -ENOENT);
        assert_non_null(strstr(error.message, "J1"));
        add_order(f, "J1");
        assert_int_equal(store_job_add(f->store, &alice, &job, &id, &error), 0);
        assert_true(id > 0);

        assert_int_equal(store_job_get(f->store, id, &got, &error), 0);
        assert_int_equal(got->id, id);
        assert_string_equal(got->kind, "generate");
        assert_string_equal(got->order_reference, "J1");
        assert_string_equal(got->state, "queued");
        assert_null(got->token_serial);
        assert_null(got->stage);
        assert_int_equal(got->percent, 0);
        assert_true(got->created_usec > 0);
        got = store_job_free(got);

        rec = last_audit(f);
        assert_string_equal(rec->action, "job-add");
        assert_string_equal(rec->order_reference, "J1");
        rec = store_audit_record_free(rec);

        /* a state or stage change is audited */
        job.id = id;
        job.token_serial = (char *) "0123456789abcdef";
        job.state = (char *) "running";
        job.stage = (char *) "generating the key";
        job.percent = 10;
        assert_int_equal(store_job_update(f->store, &alice, &job, &error), 0);
        rec = last_audit(f);
        assert_string_equal(rec->action, "job-update");
        assert_string_equal(rec->result, "running");
        assert_string_equal(rec->token_serial, "0123456789abcdef");
        assert_string_equal(rec->order_reference, "J1");
        assert_non_null(strstr(rec->detail, "queued -> running"));
        rec = store_audit_record_free(rec);

        /* progress within a stage is not */
        n = audit_count(f->path);
        job.percent = 60;
        assert_int_equal(store_job_update(f->store, &alice, &job, &error), 0);
        assert_int_equal(audit_count(f->path), n);
        assert_int_equal(store_job_get(f->store, id, &got, &error), 0);
        assert_int_equal(got->percent, 60);
        assert_string_equal(got->stage, "generating the key");
        got = store_job_free(got);

        job.percent = 101;
        assert_int_equal(store_job_update(f->store, &alice, &job, &error), -EINVAL);
        job.percent = 100;
        job.state = (char *) "done";
        job.stage = NULL;
        job.result = (char *) "ok";
        assert_int_equal(store_job_update(f->store, &alice, &job, &error), 0);
        assert_int_equal(audit_count(f->path), n + 1);

        job = (StoreJob) { .kind = (char *) "initialise", .state = (char *) "queued" };
        assert_int_equal(store_job_add(f->store, &alice, &job, &id2, &error), 0);
        assert_true(id2 > id);

        assert_int_equal(store_job_list(f->store, NULL, &l, &count, &error), 0);
        assert_int_equal(count, 2);
        assert_int_equal(l[0]->id, id);
        assert_int_equal(l[1]->id, id2);
        l = store_job_list_free(l);
        assert_int_equal(store_job_list(f->store, "done", &l, &count, &error), 0);
        assert_int_equal(count, 1);
        assert_string_equal(l[0]->result, "ok");
        l = store_job_list_free(l);

        /* removed, and its id is never given again */
        assert_int_equal(store_job_remove(f->store, &alice, id2, &error), 0);
        assert_int_equal(store_job_get(f->store, id2, &got, &error), -ENOENT);
        assert_int_equal(store_job_remove(f->store, &alice, id2, &error), -ENOENT);
        assert_int_equal(store_job_add(f->store, &alice, &job, &id3, &error), 0);
        assert_true(id3 > id2);
        rec = last_audit(f);
        assert_string_equal(rec->action, "job-add");

        job.id = 9999;
        assert_int_equal(store_job_update(f->store, &alice, &job, &error), -ENOENT);
        job.kind = NULL;
        assert_int_equal(store_job_add(f->store, &alice, &job, NULL, &error), -EINVAL);
        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_creates_private_wal_database, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_add_get_roundtrip, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_add_duplicate_refused, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_add_invalid, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_get_unknown, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_list_filter, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_set_state_follows_the_model, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_record_key, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_full_lifecycle, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_retry_makes_a_new_key, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_import_all_or_nothing, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_audit_failure_undoes_the_operation, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_jobs, setup, store_fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
