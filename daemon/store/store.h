/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's persistent state: orders and what provisioning recorded for
 * them (keys, certificate requests, certificates), jobs, and an append-only
 * audit log whose records are chained by hash.
 *
 * Operations, not SQL: callers never see a statement or a database handle, so
 * that a PostgreSQL implementation (stations sharing one order queue,
 * design.md) can later sit behind the same functions. The embedded default is
 * SQLite in WAL mode (store.c says why each setting).
 *
 * Every operation that changes something writes its audit record in the same
 * transaction: both are on disk or neither is. Operations that fail change
 * nothing and write no record; a caller that wants a refusal on record (a
 * denied request, a token event) uses store_audit_append().
 *
 * Conventions: functions return 0 (or what they say) or a negative errno, and
 * fill *error (which may be NULL) with a message a person can act on. The
 * store never logs. One Store is used by one thread, the daemon's main loop.
 *
 * Never pass a PIN, or anything derived from one, to any of these functions:
 * no table has a place for one, and the audit detail is free text. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "order.h"

typedef struct Store Store;

typedef struct StoreError {
        int code;               /* negative errno, 0 when no error */
        char message[512];
} StoreError;

/* Who did it, for the audit log: a D-Bus caller's uid and user name. A NULL
 * actor stands for the daemon itself (its effective uid, "jetond"). */
typedef struct StoreActor {
        uid_t uid;
        const char *name;
} StoreActor;

/* ---- opening ------------------------------------------------------------ */

/* Opens (creating it, mode 0600, if needed) the database at path and brings
 * its schema up to date. Fails with -EPROTONOSUPPORT for a database written
 * by a newer jetond, -EMEDIUMTYPE for an SQLite file that is not ours,
 * -EBUSY when another process holds it locked for too long. */
int store_open(const char *path, Store **ret, StoreError *error);
Store *store_close(Store *s);   /* accepts NULL, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_close);

/* ---- orders ------------------------------------------------------------- */

/* Adds a new order, which must be pending; its timestamps are set here.
 * -EEXIST if an order with that reference exists. */
int store_order_add(Store *s, const StoreActor *actor, const Order *o, StoreError *error);

/* Adds many orders in one transaction: all of them or none (-EEXIST names
 * the first reference already known, or given twice). One audit record per
 * order. */
int store_orders_import(Store *s, const StoreActor *actor, Order *const *orders, size_t n,
                        StoreError *error);

/* The order with everything recorded for it: its current key, evidence and
 * request, and the certificate issued for that key. -ENOENT if unknown. */
int store_order_get(Store *s, const char *reference, Order **ret, StoreError *error);

/* All orders (filter = _ORDER_STATE_INVALID) or those in one state, oldest
 * first, as a NULL-terminated array; *ret_n (may be NULL) gets the count. */
int store_order_list(Store *s, OrderState filter, Order ***ret, size_t *ret_n, StoreError *error);
Order **store_order_list_free(Order **l);       /* accepts NULL, returns NULL */

/* Moves an order to submitted, failed, cancelled or back to pending (a retry
 * after a failure: the order forgets its key). The other states are reached
 * only through the operations below, which record what they mean. Refused
 * with -EINVAL when the state machine does not allow the move.
 * failed_step and failed_reason are required for ORDER_FAILED ("keygen",
 * "install", ...; a sentence) and must be NULL otherwise. */
int store_order_set_state(Store *s, const StoreActor *actor, const char *reference, OrderState state,
                          const char *failed_step, const char *failed_reason, StoreError *error);

/* What the token said about a key generated for an order. Strings are
 * borrowed. */
typedef struct StoreKeyRecord {
        const char *key_id_hex;         /* CKA_ID, lower-case hex */
        const char *label;              /* CKA_LABEL, normally the reference */
        const char *algorithm;          /* as the profile names it, e.g. "rsa:3072" */
        OrderKeyEvidence evidence;      /* CKA_LOCAL & co. and the token's identity; serial required */
} StoreKeyRecord;

/* Records the key and its certificate request (PEM) and moves the order to
 * key-generated, in one transaction. */
int store_order_record_key(Store *s, const StoreActor *actor, const char *reference,
                           const StoreKeyRecord *key, const char *csr_pem, StoreError *error);

/* An issued certificate, already checked by the caller against the order's
 * key (its public key equals the key's). */
typedef struct StoreCertificateRecord {
        const char *pem;                /* leaf, then chain */
        const void *der;                /* the leaf */
        size_t der_size;
        const char *serial_hex;         /* lower-case hex */
        uint64_t not_after_usec;        /* CLOCK_REALTIME */
} StoreCertificateRecord;

/* Records the certificate for the order's current key and moves the order to
 * certificate-received. */
int store_order_record_certificate(Store *s, const StoreActor *actor, const char *reference,
                                   const StoreCertificateRecord *cert, StoreError *error);

/* The certificate is on the token: marks it installed (with the time) and
 * moves the order to installed. */
int store_order_mark_installed(Store *s, const StoreActor *actor, const char *reference,
                               StoreError *error);

/* ---- jobs --------------------------------------------------------------- */

/* One operation on one token. kind and state are the job engine's words
 * ("generate", "install", ...; "queued", "running", "done", ...): the store
 * keeps them, it does not interpret them. */
typedef struct StoreJob {
        uint64_t id;            /* assigned by store_job_add(), never reused */
        char *kind;
        char *token_serial;     /* NULL until a token is chosen */
        char *order_reference;  /* NULL for jobs without an order (initialise) */
        char *state;
        char *stage;            /* what it is doing now, NULL when idle */
        unsigned percent;       /* 0..100 */
        char *result;           /* set when it ends */
        char *error_message;    /* set when it failed */
        uint64_t created_usec;
        uint64_t updated_usec;
} StoreJob;

StoreJob *store_job_free(StoreJob *j);          /* accepts NULL, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreJob *, store_job_free);
StoreJob **store_job_list_free(StoreJob **l);   /* accepts NULL, returns NULL */

/* Adds job (kind and state required; id and timestamps ignored); *ret_id
 * (may be NULL) gets its id. -ENOENT if it names an unknown order. */
int store_job_add(Store *s, const StoreActor *actor, const StoreJob *job, uint64_t *ret_id,
                  StoreError *error);
int store_job_get(Store *s, uint64_t id, StoreJob **ret, StoreError *error);
/* All jobs (state NULL) or those in one state, by id, NULL-terminated. */
int store_job_list(Store *s, const char *state, StoreJob ***ret, size_t *ret_n, StoreError *error);
/* Writes token_serial, state, stage, percent, result and error_message of
 * job->id. Audited when the state, stage or token changes: a percentage that
 * moves within a stage is progress, not an operation, and would drown the
 * log. */
int store_job_update(Store *s, const StoreActor *actor, const StoreJob *job, StoreError *error);
int store_job_remove(Store *s, const StoreActor *actor, uint64_t id, StoreError *error);

/* ---- audit -------------------------------------------------------------- */

/* What happened; strings are borrowed. action and result are required. */
typedef struct StoreAuditEntry {
        const char *action;             /* "order-add", "token-initialise", ... */
        const char *token_serial;
        const char *order_reference;
        const char *result;             /* "ok", "failed", "cancelled", "denied", ... */
        const char *detail;             /* free text; never a PIN */
} StoreAuditEntry;

typedef struct StoreAuditRecord {
        uint64_t id;                    /* 1, 2, 3, ... without gaps */
        uint64_t time_usec;
        uid_t actor_uid;
        char *actor_name;
        char *action;
        char *token_serial;
        char *order_reference;
        char *result;
        char *detail;
        char *hash_hex;                 /* SHA-256(previous hash || this record), store-audit.c */
} StoreAuditRecord;

StoreAuditRecord *store_audit_record_free(StoreAuditRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreAuditRecord *, store_audit_record_free);
StoreAuditRecord **store_audit_list_free(StoreAuditRecord **l);

/* Appends a record of something that is not itself a store operation. */
int store_audit_append(Store *s, const StoreActor *actor, const StoreAuditEntry *entry,
                       StoreError *error);

/* Records with id > after_id, at most max (0: no limit), by id. */
int store_audit_list(Store *s, uint64_t after_id, size_t max, StoreAuditRecord ***ret, size_t *ret_n,
                     StoreError *error);

/* The last record's id and hash (0 and the genesis value when the log is
 * empty): worth copying somewhere else (the journal) from time to time, so
 * that rewriting the whole log would show too. *ret_hash_hex is malloc'd. */
int store_audit_head(Store *s, uint64_t *ret_id, char **ret_hash_hex, StoreError *error);

/* Recomputes the chain from the genesis value. Returns 0 when it is intact;
 * -EBADMSG when it is not, with *ret_first_bad_id (may be NULL) the first
 * record that is missing, changed or out of place and *error saying what;
 * another negative errno when the log could not be read. */
int store_audit_verify(Store *s, uint64_t *ret_first_bad_id, StoreError *error);

/* ---- batches (store-batches.c) -------------------------------------------- */

/* A batch of orders worked on as tokens come (daemon/batch.h). The store
 * keeps the engine's words for states; never a PIN. */
typedef struct StoreBatch {
        uint64_t id;                    /* assigned by store_batch_add() */
        char *name;
        char *profile;
        bool initialize;
        char *label_template;
        char *user_pin_mode;            /* "random", "fd" */
        char *state;                    /* "running", "paused", "cancelled", "done" */
        char *detail;
        char *operator_name;
        uint64_t created_usec;
        uint64_t finished_usec;         /* 0 while not finished */
} StoreBatch;

/* One order of a batch and the token it went to; note rows tell the
 * operator something (a token skipped, a key left behind) and count for
 * nothing. */
typedef struct StoreBatchAssignment {
        uint64_t id;                    /* assigned by store_batch_assignment_add() */
        uint64_t batch_id;
        char *order_reference;
        char *token_serial;
        char *token_label;
        char *reader;
        char *state;
        char *detail;
        bool note;
        uint64_t updated_usec;
} StoreBatchAssignment;

StoreBatch *store_batch_free(StoreBatch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreBatch *, store_batch_free);
StoreBatch **store_batch_list_free(StoreBatch **l);
StoreBatchAssignment *store_batch_assignment_free(StoreBatchAssignment *a);
StoreBatchAssignment **store_batch_assignment_list_free(StoreBatchAssignment **l);

/* Adds the batch and its assignments (n, all "queued" or as given) in one
 * transaction; sets b->id, b->created_usec and each a[i]->id. */
int store_batch_add(Store *s, const StoreActor *actor, StoreBatch *b, StoreBatchAssignment **a, size_t n,
                    StoreError *error);
/* Writes state, detail and finished_usec of b->id. */
int store_batch_update(Store *s, const StoreActor *actor, const StoreBatch *b, StoreError *error);
/* All batches, by id, NULL-terminated. */
int store_batch_list(Store *s, StoreBatch ***ret, size_t *ret_n, StoreError *error);

/* Adds a row (a note, usually) to a->batch_id; sets a->id. */
int store_batch_assignment_add(Store *s, const StoreActor *actor, StoreBatchAssignment *a, StoreError *error);
/* Writes token_serial, token_label, reader, state and detail of a->id. */
int store_batch_assignment_update(Store *s, const StoreActor *actor, const StoreBatchAssignment *a,
                                  StoreError *error);
/* The rows of a batch, by id, NULL-terminated. */
int store_batch_assignment_list(Store *s, uint64_t batch_id, StoreBatchAssignment ***ret, size_t *ret_n,
                                StoreError *error);
