/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "store-private.h"

/* 'JETN': tells our database from any other SQLite file. */
#define STORE_APPLICATION_ID 0x4A45544E

/* The schema's history. Step i brings version i to version i + 1, in one
 * transaction with the new user_version. Steps are never edited once
 * released, only appended: a database anywhere may be at any version.
 *
 * Names of states are the model's strings (order_state_to_string), so the
 * database reads the same in sqlite3 as on the bus. Times are microseconds
 * since the epoch (CLOCK_REALTIME). */
static const char *const migrations[] = {
        /* 1: orders, what provisioning records for them, the audit log */
        "PRAGMA application_id = 1246057550;\n"    /* STORE_APPLICATION_ID */
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
        "        key_id INTEGER REFERENCES keys(id),\n"    /* the current key, NULL when pending */
        "        created_usec INTEGER NOT NULL,\n"
        "        updated_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX orders_state ON orders(state);\n"
        /* Every key ever generated for an order: a retry after a failure
         * makes a new one, and the old one may still sit on a token. */
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
        /* No column for a PIN, on purpose. hash: store-audit.c. */
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
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be deleted'); END;\n",

        /* 2: jobs. AUTOINCREMENT: a job id names a bus object and audit
         * records; it must never be given to another job. */
        "CREATE TABLE jobs (\n"
        "        id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "        kind TEXT NOT NULL CHECK (kind <> ''),\n"
        "        token_serial TEXT,\n"
        "        order_reference TEXT REFERENCES orders(reference),\n"
        "        state TEXT NOT NULL CHECK (state <> ''),\n"
        "        stage TEXT,\n"
        "        percent INTEGER NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),\n"
        "        result TEXT,\n"
        "        error TEXT,\n"
        "        created_usec INTEGER NOT NULL,\n"
        "        updated_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX jobs_state ON jobs(state);\n"
        "CREATE INDEX jobs_order ON jobs(order_reference);\n",

        /* 3: the audit log's head, kept beside it: the chain alone cannot
         * show that records were cut from its end. last_hash NULL stands for
         * the genesis value (empty log). */
        "CREATE TABLE audit_head (\n"
        "        one INTEGER PRIMARY KEY CHECK (one = 1),\n"
        "        last_id INTEGER NOT NULL,\n"
        "        last_hash TEXT\n"
        ");\n"
        "INSERT INTO audit_head (one, last_id, last_hash)\n"
        "        SELECT 1, COALESCE(MAX(id), 0),\n"
        "               (SELECT hash FROM audit ORDER BY id DESC LIMIT 1) FROM audit;\n"
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END;\n"
        "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head\n"
        "        WHEN NEW.last_id <> OLD.last_id + 1 OR NEW.one <> OLD.one\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit head moves forward one record at a time'); END;\n",

        /* 4: batches (issue 5) and what each of their orders became: one
         * assignment row per order, plus note rows (order_reference may
         * repeat) for what the operator must be told. No PIN column: the
         * PINs a batch needs are given again after a restart. */
        "CREATE TABLE batches (\n"
        "        id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "        name TEXT,\n"
        "        profile TEXT NOT NULL,\n"
        "        initialize INTEGER NOT NULL CHECK (initialize IN (0, 1)),\n"
        "        label_template TEXT,\n"
        "        user_pin_mode TEXT,\n"
        "        state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done')),\n"
        "        detail TEXT,\n"
        "        operator TEXT,\n"
        "        created_usec INTEGER NOT NULL,\n"
        "        finished_usec INTEGER NOT NULL DEFAULT 0\n"
        ");\n"
        "CREATE TABLE batch_assignments (\n"
        "        id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "        batch_id INTEGER NOT NULL REFERENCES batches(id),\n"
        "        order_reference TEXT,\n"
        "        token_serial TEXT,\n"
        "        token_label TEXT,\n"
        "        reader TEXT,\n"
        "        state TEXT NOT NULL CHECK (state <> ''),\n"
        "        detail TEXT,\n"
        "        note INTEGER NOT NULL DEFAULT 0 CHECK (note IN (0, 1)),\n"
        "        updated_usec INTEGER NOT NULL\n"
        ");\n"
        "CREATE INDEX batch_assignments_batch ON batch_assignments(batch_id);\n",
};

unsigned store_schema_version(void) {
        return ELEMENTSOF(migrations);
}

static int pragma_int(Store *s, const char *sql, int64_t *ret, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = store_query_row(s, sql, &st, error);
        if (r < 0)
                return r;
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

/* The version of the database, after checking that it is ours. */
static int schema_version(Store *s, unsigned *ret, StoreError *error) {
        int64_t app_id, version, objects;
        int r;

        r = pragma_int(s, "PRAGMA application_id", &app_id, error);
        if (r == -EMEDIUMTYPE)
                return store_error_set(error, r, "%s is not an SQLite database (or is damaged).", s->path);
        if (r < 0)
                return r;
        r = pragma_int(s, "PRAGMA user_version", &version, error);
        if (r < 0)
                return r;

        if (app_id != STORE_APPLICATION_ID) {
                /* An empty file (new database) has neither. */
                r = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &objects, error);
                if (r < 0)
                        return r;
                if (app_id != 0 || version != 0 || objects != 0)
                        return store_error_set(error, -EMEDIUMTYPE,
                                               "%s is an SQLite database of another program (application id "
                                               "0x%08" PRIx64 "), not jetond's; refusing to touch it.",
                                               s->path, (uint64_t) app_id & 0xffffffffu);
        }

        if (version < 0 || (uint64_t) version > store_schema_version())
                return store_error_set(error, -EPROTONOSUPPORT,
                                       "%s has schema version %" PRIi64 ", newer than the %u this jetond "
                                       "knows: it was written by a newer jetond. Refusing to open it; run "
                                       "that version, or restore a backup made for this one.",
                                       s->path, version, store_schema_version());
        *ret = (unsigned) version;
        return 0;
}

int store_schema_check(Store *s, StoreError *error) {
        unsigned version;

        return schema_version(s, &version, error);
}

int store_schema_migrate(Store *s, StoreError *error) {
        for (;;) {
                _cleanup_(store_rollbackp) Store *tx = NULL;
                StoreError step_error = {};
                char sql[64];
                unsigned version = 0;
                int r;

                /* Read the version inside the transaction: another process
                 * may have migrated since we looked. */
                r = store_begin(s, &tx, error);
                if (r < 0)
                        return r;
                r = schema_version(s, &version, error);
                if (r < 0)
                        return r;
                if (version == store_schema_version())
                        return store_commit(&tx, error);

                r = store_exec(s, migrations[version], &step_error);
                if (r < 0)
                        return store_error_set(error, r, "%s: migrating the schema from version %u to %u "
                                               "failed, the database stays at %u: %s",
                                               s->path, version, version + 1, version, step_error.message);
                (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", version + 1);
                r = store_exec(s, sql, error);
                if (r < 0)
                        return r;
                r = store_commit(&tx, error);
                if (r < 0)
                        return r;
        }
}
