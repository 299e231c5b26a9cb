/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The audit log: append-only, chained by hash, and store_audit_verify()
 * finding each kind of tampering done through a raw sqlite3 connection (with
 * the append-only triggers dropped, as somebody with write access to the
 * file would). */

#include "store-test.h"

#define N_RECORDS 8

typedef StoreFixture Fixture;

static const StoreActor bob = { .uid = 1001, .name = "bob" };

static int setup(void **state) {
        *state = store_fixture_new(true, true);
        return 0;
}

/* With N_RECORDS records of every shape: NULL and empty fields, the
 * daemon's own actor, a multi-byte detail. */
static int setup_filled(void **state) {
        Fixture *f;
        StoreError error = {};

        setup(state);
        f = *state;
        for (unsigned i = 1; i <= N_RECORDS; i++) {
                char token[32], detail[64];

                snprintf(token, sizeof(token), "serial-%u", i);
                snprintf(detail, sizeof(detail), "étape %u", i);
                if (store_audit_append(f->store, i % 3 == 0 ? NULL : &bob,
                                       &(StoreAuditEntry) {
                                               .action = "token-initialise",
                                               .token_serial = i % 2 ? token : NULL,
                                               .order_reference = i % 4 == 0 ? "" : "BD1",
                                               .result = "ok",
                                               .detail = i == 5 ? NULL : detail,
                                       },
                                       &error) < 0)
                        fail_msg("store_audit_append: %s", error.message);
        }
        return 0;
}

static void drop_triggers(Fixture *f) {
        raw_exec_ok(f->raw, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; "
                            "DROP TRIGGER audit_head_no_delete; DROP TRIGGER audit_head_forward");
}

static void assert_broken_at(Fixture *f, uint64_t want_id, const char *words) {
        StoreError error = {};
        uint64_t bad = 12345;

        assert_int_equal(store_audit_verify(f->store, &bad, &error), -EBADMSG);
        assert_int_equal(error.code, -EBADMSG);
        if (bad != want_id)
                fail_msg("broken at %llu, expected %llu: %s", (unsigned long long) bad,
                         (unsigned long long) want_id, error.message);
        if (!strstr(error.message, words))
                fail_msg("'%s' does not say '%s'", error.message, words);
}

/* ---- the chain -------------------------------------------------------------- */

static void test_empty_log_verifies(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *hex = NULL;
        StoreError error = {};
        uint8_t genesis[32];
        char want[65];
        uint64_t id = 99, bad = 99;

        assert_int_equal(store_audit_verify(f->store, &bad, &error), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(store_audit_head(f->store, &id, &hex, &error), 0);
        assert_int_equal(id, 0);
        chain_genesis(genesis);
        chain_hex(genesis, want);
        assert_string_equal(hex, want);
}

static void test_chain_matches_its_description(void **state) {
        Fixture *f = *state;
        StoreAuditRecord **l = NULL;
        _cleanup_free_ char *head = NULL;
        StoreError error = {};
        uint8_t prev[32], h[32];
        char hex[65];
        uint64_t head_id;
        size_t n;

        assert_int_equal(store_audit_list(f->store, 0, 0, &l, &n, &error), 0);
        assert_int_equal(n, N_RECORDS);

        chain_genesis(prev);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(l[i]->id, i + 1);
                chain_hash(prev, l[i]->id, l[i]->time_usec, l[i]->actor_uid, l[i]->actor_name, l[i]->action,
                           l[i]->token_serial, l[i]->order_reference, l[i]->result, l[i]->detail, h);
                chain_hex(h, hex);
                assert_string_equal(l[i]->hash_hex, hex);
                memcpy(prev, h, 32);
        }
        /* the actor: a caller, or the daemon itself */
        assert_string_equal(l[0]->actor_name, "bob");
        assert_int_equal(l[0]->actor_uid, 1001);
        assert_string_equal(l[2]->actor_name, "jetond");
        assert_int_equal(l[2]->actor_uid, geteuid());
        assert_null(l[1]->token_serial);
        assert_string_equal(l[3]->order_reference, "");
        assert_null(l[4]->detail);
        assert_string_equal(l[0]->detail, "étape 1");
        store_audit_list_free(l);

        assert_int_equal(store_audit_head(f->store, &head_id, &head, &error), 0);
        assert_int_equal(head_id, N_RECORDS);
        assert_string_equal(head, hex);

        /* paging */
        assert_int_equal(store_audit_list(f->store, 3, 2, &l, &n, &error), 0);
        assert_int_equal(n, 2);
        assert_int_equal(l[0]->id, 4);
        assert_int_equal(l[1]->id, 5);
        store_audit_list_free(l);

        assert_int_equal(store_audit_verify(f->store, NULL, &error), 0);
}

static void test_append_validates(void **state) {
        Fixture *f = *state;
        StoreError error = {};

        assert_int_equal(store_audit_append(f->store, &bob, &(StoreAuditEntry) { .result = "ok" }, &error), -EINVAL);
        assert_int_equal(store_audit_append(f->store, &bob, &(StoreAuditEntry) { .action = "x" }, &error), -EINVAL);
        assert_int_equal(store_audit_append(f->store, &(StoreActor) { .uid = 5 },
                                            &(StoreAuditEntry) { .action = "x", .result = "ok" }, &error),
                         -EINVAL);
        assert_int_equal(audit_count(f->path), N_RECORDS);
}

/* No field can carry a PIN: the table has exactly these columns. */
static void test_no_place_for_a_pin(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *columns =
                raw_text(f->raw, "SELECT group_concat(name, ',') FROM pragma_table_info('audit')");

        assert_string_equal(columns, "id,time_usec,actor_uid,actor_name,action,token_serial,order_reference,"
                                     "result,detail,hash");
}

/* ---- append-only --------------------------------------------------------------- */

static void test_triggers_refuse_changes(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;

        assert_int_equal(raw_exec(f->raw, "UPDATE audit SET result = 'failed' WHERE id = 2", &m1), SQLITE_CONSTRAINT);
        assert_non_null(strstr(m1, "append-only"));
        assert_int_equal(raw_exec(f->raw, "DELETE FROM audit WHERE id = 8", &m2), SQLITE_CONSTRAINT);
        assert_non_null(strstr(m2, "append-only"));
        assert_int_equal(raw_exec(f->raw, "DELETE FROM audit_head", &m3), SQLITE_CONSTRAINT);
        assert_int_equal(raw_exec(f->raw, "UPDATE audit_head SET last_id = 7", &m4), SQLITE_CONSTRAINT);
        assert_non_null(strstr(m4, "forward"));

        assert_int_equal(raw_int(f->raw, "SELECT count(*) FROM audit"), N_RECORDS);
        assert_int_equal(store_audit_verify(f->store, NULL, NULL), 0);
}

/* ---- tampering ------------------------------------------------------------------ */

static void test_changed_field(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "UPDATE audit SET result = 'failed' WHERE id = 5");
        assert_broken_at(f, 5, "record 5 does not match its hash");
}

static void test_changed_time(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "UPDATE audit SET time_usec = time_usec + 1 WHERE id = 2");
        assert_broken_at(f, 2, "record 2 does not match");
}

static void test_changed_null_to_empty(void **state) {
        Fixture *f = *state;

        /* NULL and "" encode differently */
        drop_triggers(f);
        raw_exec_ok(f->raw, "UPDATE audit SET token_serial = '' WHERE id = 2");
        assert_broken_at(f, 2, "record 2 does not match");
}

static void test_changed_field_and_hash(void **state) {
        Fixture *f = *state;
        StoreAuditRecord **l = NULL;
        uint8_t prev[32], h[32];
        char hex[65], sql[256];
        size_t n;

        /* Whoever rewrites record 3 and its hash (chained on record 2)
         * breaks record 4. */
        assert_int_equal(store_audit_list(f->store, 1, 2, &l, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_int_equal(l[0]->id, 2);
        for (size_t i = 0; i < 32; i++)
                assert_int_equal(sscanf(l[0]->hash_hex + 2 * i, "%2hhx", &prev[i]), 1);
        chain_hash(prev, 3, l[1]->time_usec, l[1]->actor_uid, "mallory", l[1]->action, l[1]->token_serial,
                   l[1]->order_reference, l[1]->result, l[1]->detail, h);
        store_audit_list_free(l);
        chain_hex(h, hex);

        drop_triggers(f);
        snprintf(sql, sizeof(sql), "UPDATE audit SET actor_name = 'mallory', hash = '%s' WHERE id = 3", hex);
        raw_exec_ok(f->raw, sql);
        assert_broken_at(f, 4, "record 4 does not match");
}

static void test_changed_hash(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "UPDATE audit SET hash = upper(hash) WHERE id = 6");
        assert_broken_at(f, 6, "record 6 does not match");
}

static void test_deleted_row(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit WHERE id = 4");
        assert_broken_at(f, 4, "record 4 is missing");
}

static void test_deleted_first_row(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit WHERE id = 1");
        assert_broken_at(f, 1, "record 1 is missing");
}

static void test_deleted_and_renumbered(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit WHERE id = 4; UPDATE audit SET id = id - 1 WHERE id > 4; "
                            "UPDATE audit_head SET last_id = last_id - 1");
        assert_broken_at(f, 4, "record 4 does not match");
}

static void test_deleted_last_row(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit WHERE id = 8");
        assert_broken_at(f, 8, "cut from its end");
}

static void test_reordered_rows(void **state) {
        Fixture *f = *state;

        /* records 3 and 4 swap places, each with its own hash */
        drop_triggers(f);
        raw_exec_ok(f->raw, "UPDATE audit SET id = -3 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = 4; "
                            "UPDATE audit SET id = 4 WHERE id = -3");
        assert_broken_at(f, 3, "record 3 does not match");
}

static void test_added_row(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "INSERT INTO audit SELECT id + 1, time_usec, actor_uid, actor_name, action, "
                            "token_serial, order_reference, result, detail, hash FROM audit WHERE id = 8");
        assert_broken_at(f, 9, "record 9 does not match");
}

static void test_lost_head(void **state) {
        Fixture *f = *state;

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit_head");
        assert_broken_at(f, 9, "lost its head");
}

/* Appending after the log was cut shows the gap too: the store numbers from
 * its head, not from what is left. */
static void test_append_after_cut(void **state) {
        Fixture *f = *state;
        StoreError error = {};

        drop_triggers(f);
        raw_exec_ok(f->raw, "DELETE FROM audit WHERE id >= 7");
        assert_int_equal(store_audit_append(f->store, &bob, &(StoreAuditEntry) { .action = "x", .result = "ok" },
                                            &error), 0);
        assert_broken_at(f, 7, "record 7 is missing");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_empty_log_verifies, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_chain_matches_its_description, setup_filled,
                                                store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_append_validates, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_no_place_for_a_pin, setup, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_triggers_refuse_changes, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_field, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_time, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_null_to_empty, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_field_and_hash, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_hash, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_deleted_row, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_deleted_first_row, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_deleted_and_renumbered, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_deleted_last_row, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reordered_rows, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_added_row, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_lost_head, setup_filled, store_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_append_after_cut, setup_filled, store_fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
