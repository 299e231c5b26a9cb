/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The audit log: append-only (triggers refuse UPDATE and DELETE) and chained:
 *
 *   hash(1) = SHA-256(genesis   || encode(record 1))
 *   hash(n) = SHA-256(hash(n-1) || encode(record n))
 *   genesis = SHA-256("jeton audit log v1")
 *
 * encode() is the canonical encoding of a record, in this order:
 *   id, time_usec, actor_uid                    8 bytes each, big-endian
 *   actor_name, action, token_serial, order_reference, result, detail
 *                                               each 0x00 when NULL, else
 *                                               0x01, 4-byte big-endian
 *                                               length, the UTF-8 bytes
 * Hashes are stored as lower-case hex. The id is covered, so a record moved
 * to another place breaks the chain; audit_head keeps the last id and hash,
 * so records cut from the end show too. Somebody able to write the file can
 * still rewrite everything from some record on: store_audit_head() is there
 * to copy the head elsewhere. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store-private.h"

#define GENESIS_SEED "jeton audit log v1"
#define HASH_SIZE 32

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static void hex_encode(const uint8_t *p, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * n] = 0;
}

static int hex_decode_hash(const char *s, uint8_t ret[HASH_SIZE]) {
        if (!s || strlen(s) != 2 * HASH_SIZE)
                return -EINVAL;
        for (size_t i = 0; i < HASH_SIZE; i++) {
                int v = 0;

                for (size_t j = 0; j < 2; j++) {
                        char c = s[2 * i + j];

                        v <<= 4;
                        if (c >= '0' && c <= '9')
                                v |= c - '0';
                        else if (c >= 'a' && c <= 'f')
                                v |= c - 'a' + 10;
                        else
                                return -EINVAL;
                }
                ret[i] = (uint8_t) v;
        }
        return 0;
}

void store_audit_genesis(uint8_t ret[HASH_SIZE]) {
        unsigned len = HASH_SIZE;

        /* SHA-256 of a constant cannot fail short of a broken libcrypto,
         * which store_audit_hash() would report on the first record. */
        if (EVP_Digest(GENESIS_SEED, strlen(GENESIS_SEED), ret, &len, EVP_sha256(), NULL) != 1)
                memset(ret, 0, HASH_SIZE);
}

static int digest_u64(EVP_MD_CTX *ctx, uint64_t v) {
        uint8_t b[8];

        for (size_t i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (56 - 8 * i));
        return EVP_DigestUpdate(ctx, b, sizeof(b));
}

static int digest_str(EVP_MD_CTX *ctx, const char *s) {
        uint8_t b[5] = { 0x01 };
        size_t n;

        if (!s) {
                b[0] = 0x00;
                return EVP_DigestUpdate(ctx, b, 1);
        }
        n = strlen(s);
        if (n > UINT32_MAX)
                return 0;
        for (size_t i = 0; i < 4; i++)
                b[1 + i] = (uint8_t) (n >> (24 - 8 * i));
        return EVP_DigestUpdate(ctx, b, sizeof(b)) && EVP_DigestUpdate(ctx, s, n);
}

int store_audit_hash(const uint8_t prev[HASH_SIZE], const StoreAuditRecord *r, uint8_t ret[HASH_SIZE]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        unsigned len = HASH_SIZE;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, prev, HASH_SIZE) != 1 ||
            digest_u64(ctx, r->id) != 1 ||
            digest_u64(ctx, r->time_usec) != 1 ||
            digest_u64(ctx, (uint64_t) r->actor_uid) != 1 ||
            digest_str(ctx, r->actor_name) != 1 ||
            digest_str(ctx, r->action) != 1 ||
            digest_str(ctx, r->token_serial) != 1 ||
            digest_str(ctx, r->order_reference) != 1 ||
            digest_str(ctx, r->result) != 1 ||
            digest_str(ctx, r->detail) != 1 ||
            EVP_DigestFinal_ex(ctx, ret, &len) != 1)
                return -EIO;
        return 0;
}

StoreAuditRecord *store_audit_record_free(StoreAuditRecord *r) {
        if (!r)
                return NULL;
        free(r->actor_name);
        free(r->action);
        free(r->token_serial);
        free(r->order_reference);
        free(r->result);
        free(r->detail);
        free(r->hash_hex);
        free(r);
        return NULL;
}

DEFINE_STORE_LIST_FREE(store_audit_list_free, StoreAuditRecord, store_audit_record_free);

/* The head: last id and hash (the genesis value for an empty log). */
static int audit_head_read(Store *s, uint64_t *ret_id, uint8_t ret_hash[HASH_SIZE], StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const char *hex;
        int r;

        r = store_prepare(s, "SELECT last_id, last_hash FROM audit_head WHERE one = 1", &st, error);
        if (r < 0)
                return r;
        r = store_step_row(s, st, SQLITE_OK, "Reading the audit log's head", error);
        if (r < 0)
                return r;
        if (r == 0)
                return store_error_set(error, -EBADMSG, "%s: the audit log has lost its head record.", s->path);

        *ret_id = store_column_u64(st, 0);
        hex = (const char *) sqlite3_column_text(st, 1);
        if (!hex) {
                store_audit_genesis(ret_hash);
                return 0;
        }
        if (hex_decode_hash(hex, ret_hash) < 0)
                return store_error_set(error, -EBADMSG, "%s: the audit log's head holds no valid hash.", s->path);
        return 0;
}

int store_audit_append_tx(Store *s, const StoreActor *actor, const StoreAuditEntry *e, StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *insert = NULL, *head = NULL;
        uint8_t prev[HASH_SIZE], hash[HASH_SIZE];
        char hex[2 * HASH_SIZE + 1];
        StoreAuditRecord rec;
        uint64_t last_id;
        int r, rc;

        if (!e || !e->action || !e->action[0] || !e->result || !e->result[0])
                return store_error_set(error, -EINVAL, "An audit record needs an action and a result.");
        if (actor && (!actor->name || !actor->name[0]))
                return store_error_set(error, -EINVAL, "An audit record needs the actor's name.");

        r = audit_head_read(s, &last_id, prev, error);
        if (r < 0)
                return r;

        rec = (StoreAuditRecord) {
                .id = last_id + 1,
                .time_usec = store_now_usec(),
                .actor_uid = actor ? actor->uid : geteuid(),
                .actor_name = (char *) (actor ? actor->name : "jetond"),
                .action = (char *) e->action,
                .token_serial = (char *) e->token_serial,
                .order_reference = (char *) e->order_reference,
                .result = (char *) e->result,
                .detail = (char *) e->detail,
        };
        r = store_audit_hash(prev, &rec, hash);
        if (r < 0)
                return store_error_set(error, r, "Computing the audit record's hash failed.");
        hex_encode(hash, HASH_SIZE, hex);

        r = store_prepare(s,
                          "INSERT INTO audit (id, time_usec, actor_uid, actor_name, action, token_serial, "
                          "order_reference, result, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &insert, error);
        if (r < 0)
                return r;
        rc = store_bind_u64(insert, 1, rec.id) ?:
             store_bind_u64(insert, 2, rec.time_usec) ?:
             store_bind_u64(insert, 3, rec.actor_uid) ?:
             store_bind_text(insert, 4, rec.actor_name) ?:
             store_bind_text(insert, 5, rec.action) ?:
             store_bind_text(insert, 6, rec.token_serial) ?:
             store_bind_text(insert, 7, rec.order_reference) ?:
             store_bind_text(insert, 8, rec.result) ?:
             store_bind_text(insert, 9, rec.detail) ?:
             store_bind_text(insert, 10, hex);
        r = store_step_done(s, insert, rc, "Writing the audit record", error);
        if (r < 0)
                return r;

        r = store_prepare(s, "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE one = 1", &head, error);
        if (r < 0)
                return r;
        rc = store_bind_u64(head, 1, rec.id) ?: store_bind_text(head, 2, hex);
        return store_step_done(s, head, rc, "Moving the audit log's head", error);
}

int store_audit_append_txf(Store *s, const StoreActor *actor, const StoreAuditEntry *e, StoreError *error,
                           const char *fmt, ...) {
        _cleanup_free_ char *detail = NULL;
        StoreAuditEntry entry = *e;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&detail, fmt, ap);
        va_end(ap);
        if (r < 0)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        entry.detail = detail;
        return store_audit_append_tx(s, actor, &entry, error);
}

int store_audit_append(Store *s, const StoreActor *actor, const StoreAuditEntry *entry, StoreError *error) {
        _cleanup_(store_rollbackp) Store *tx = NULL;
        int r;

        r = store_begin(s, &tx, error);
        if (r < 0)
                return r;
        r = store_audit_append_tx(s, actor, entry, error);
        if (r < 0)
                return r;
        return store_commit(&tx, error);
}

#define AUDIT_COLUMNS \
        "id, time_usec, actor_uid, actor_name, action, token_serial, order_reference, result, detail, hash"

static int audit_record_read(sqlite3_stmt *st, StoreAuditRecord **ret) {
        _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
        int r;

        rec = calloc(1, sizeof(StoreAuditRecord));
        if (!rec)
                return -ENOMEM;
        rec->id = store_column_u64(st, 0);
        rec->time_usec = store_column_u64(st, 1);
        rec->actor_uid = (uid_t) sqlite3_column_int64(st, 2);
        r = store_column_strdup(st, 3, &rec->actor_name) ?:
            store_column_strdup(st, 4, &rec->action) ?:
            store_column_strdup(st, 5, &rec->token_serial) ?:
            store_column_strdup(st, 6, &rec->order_reference) ?:
            store_column_strdup(st, 7, &rec->result) ?:
            store_column_strdup(st, 8, &rec->detail) ?:
            store_column_strdup(st, 9, &rec->hash_hex);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(rec);
        return 0;
}

DEFINE_STORE_ROWS_READER(audit_records_read, StoreAuditRecord, audit_record_read, store_audit_list_free,
                         "Out of memory.");

int store_audit_list(Store *s, uint64_t after_id, size_t max, StoreAuditRecord ***ret, size_t *ret_n,
                     StoreError *error) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = store_prepare(s, "SELECT " AUDIT_COLUMNS " FROM audit WHERE id > ? ORDER BY id LIMIT ?", &st, error);
        if (r < 0)
                return r;
        rc = store_bind_u64(st, 1, after_id) ?:
             sqlite3_bind_int64(st, 2, max == 0 || max > INT64_MAX ? -1 : (sqlite3_int64) max);
        return audit_records_read(s, st, rc, "Reading the audit log", ret, ret_n, error);
}

int store_audit_head(Store *s, uint64_t *ret_id, char **ret_hash_hex, StoreError *error) {
        uint8_t hash[HASH_SIZE];
        uint64_t id;
        char *hex;
        int r;

        r = audit_head_read(s, &id, hash, error);
        if (r < 0)
                return r;
        hex = malloc(2 * HASH_SIZE + 1);
        if (!hex)
                return store_error_set(error, -ENOMEM, "Out of memory.");
        hex_encode(hash, HASH_SIZE, hex);
        *ret_id = id;
        *ret_hash_hex = hex;
        return 0;
}

static int audit_broken(uint64_t id, uint64_t *ret_first_bad_id) {
        if (ret_first_bad_id)
                *ret_first_bad_id = id;
        return -EBADMSG;
}

int store_audit_verify(Store *s, uint64_t *ret_first_bad_id, StoreError *error) {
        _cleanup_(store_rollbackp) Store *snapshot = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        uint8_t chain[HASH_SIZE], head_hash[HASH_SIZE];
        uint64_t expected = 1, head_id;
        int r, rc;

        if (ret_first_bad_id)
                *ret_first_bad_id = 0;

        /* One read transaction: the log and its head from the same moment,
         * even if another process appends meanwhile. */
        r = store_exec(s, "BEGIN", error);
        if (r < 0)
                return r;
        snapshot = s;

        r = store_prepare(s, "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY id", &st, error);
        if (r < 0)
                return r;

        store_audit_genesis(chain);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                _cleanup_(store_audit_record_freep) StoreAuditRecord *rec = NULL;
                uint8_t computed[HASH_SIZE], stored[HASH_SIZE];

                r = audit_record_read(st, &rec);
                if (r < 0)
                        return store_error_set(error, r, "Out of memory.");

                if (rec->id != expected) {
                        store_error_set(error, -EBADMSG,
                                        "%s: audit record %" PRIu64 " is missing (the log goes from %" PRIu64
                                        " to %" PRIu64 "): records were deleted.",
                                        s->path, expected, expected - 1, rec->id);
                        return audit_broken(expected, ret_first_bad_id);
                }

                r = store_audit_hash(chain, rec, computed);
                if (r < 0)
                        return store_error_set(error, r, "Computing an audit record's hash failed.");
                if (hex_decode_hash(rec->hash_hex, stored) < 0 || memcmp(computed, stored, HASH_SIZE) != 0) {
                        store_error_set(error, -EBADMSG,
                                        "%s: audit record %" PRIu64 " does not match its hash: it was "
                                        "changed, or it is not the record that followed %" PRIu64
                                        " (records removed or reordered).",
                                        s->path, rec->id, rec->id - 1);
                        return audit_broken(rec->id, ret_first_bad_id);
                }
                memcpy(chain, computed, HASH_SIZE);
                expected++;
        }
        if (rc != SQLITE_DONE)
                return store_error_sqlite(s, error, rc, "Reading the audit log");

        r = audit_head_read(s, &head_id, head_hash, error);
        if (r < 0)
                return r == -EBADMSG ? audit_broken(expected, ret_first_bad_id) : r;
        if (head_id > expected - 1) {
                store_error_set(error, -EBADMSG,
                                "%s: the audit log ends at record %" PRIu64 " but its head says %" PRIu64
                                ": records were cut from its end.",
                                s->path, expected - 1, head_id);
                return audit_broken(expected, ret_first_bad_id);
        }
        if (head_id < expected - 1) {
                store_error_set(error, -EBADMSG,
                                "%s: the audit log goes on after its head (record %" PRIu64
                                "): records were added behind jetond's back.",
                                s->path, head_id);
                return audit_broken(head_id + 1, ret_first_bad_id);
        }
        if (memcmp(head_hash, chain, HASH_SIZE) != 0) {
                store_error_set(error, -EBADMSG,
                                "%s: the audit log's head does not match record %" PRIu64 ".", s->path, head_id);
                return audit_broken(head_id, ret_first_bad_id);
        }
        return 0;
}
