/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Batches (issue 5): a list of orders worked on as tokens are inserted, on
 * every reader at once. While a batch runs, each token that appears in a
 * reader and is not assigned yet is, in turn:
 *   initialised (when asked; on its worker: C_InitToken with the SO PIN
 *     and a label from the template, C_InitPIN with the user PIN, random
 *     ones from getrandom() written to the operator's PIN-mailer file and
 *     nowhere else),
 *   given the next queued order and provisioned by a provision job
 *     (job.h) that logs in with the PIN the batch knows,
 *   written to the manifest and the batch's directory (batch-output.h).
 * One worker per token (token-worker.h): tokens in different readers are
 * worked on at the same time.
 *
 * The store holds each batch and one assignment row per order (plus note
 * rows for what the operator must be told), written before every
 * announcement. After a restart a running batch comes back paused: the
 * PINs it was given are never stored, Resume() takes them again.
 *
 * A token pulled mid-way: its order goes back to the queue, unless the key
 * was generated already, in which case the order stays with that token
 * (failed, "reinsert token SERIAL to finish") and is finished when that
 * token comes back; a key possibly left behind is told as a note. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "jeton-p11.h"
#include "store.h"

typedef struct Manager Manager;
typedef struct Token Token;

#define JETON_BATCH_PREFIX "/org/jeton/Jeton1/batch"
#define JETON_BATCH_INTERFACE "org.jeton.Jeton1.Batch"

typedef enum BatchState {
        BATCH_RUNNING,
        BATCH_PAUSED,
        BATCH_CANCELLED,
        BATCH_DONE,
        _BATCH_STATE_MAX,
        _BATCH_STATE_INVALID = -1,
} BatchState;

typedef enum AssignmentState {
        ASSIGNMENT_QUEUED,
        ASSIGNMENT_INITIALISING,
        ASSIGNMENT_PROVISIONING,
        ASSIGNMENT_DONE,
        ASSIGNMENT_FAILED,
        _ASSIGNMENT_STATE_MAX,
        _ASSIGNMENT_STATE_INVALID = -1,
} AssignmentState;

const char *batch_state_to_string(BatchState s);
BatchState batch_state_from_string(const char *s);
const char *assignment_state_to_string(AssignmentState s);
AssignmentState assignment_state_from_string(const char *s);

typedef struct Assignment {
        uint64_t id;                    /* store row */
        bool note;                      /* told, not counted */
        char *reference;
        char *token_serial;             /* NULL while queued */
        char *token_label;
        char *reader;
        AssignmentState state;
        char *detail;
        char *job_path;                 /* "/" when none */
        bool resumable;                 /* failed, finished when token_serial comes back */
        JP11Pin *user_pin;              /* the token's user PIN while the order is not done */
        uint64_t updated_usec;
} Assignment;

typedef struct Batch Batch;
struct Batch {
        Manager *manager;
        Batch *next;

        uint64_t id;
        char *path;
        char *name;
        char *profile;
        bool initialize;
        char *label_template;
        bool random_pin;                /* else one user PIN given by fd */
        BatchState state;
        const char *state_string;
        char *detail;
        char *operator_name;
        uid_t operator_uid;
        uint64_t created_usec;
        uint64_t finished_usec;

        uint32_t total, done, failed, remaining;

        Assignment *assignments;
        size_t n_assignments;

        /* <outbox>/batch-<id>/ and what is in it */
        char *dir;
        char *manifest_csv;
        char *manifest_json;
        char *archive;

        /* Given at start or Resume, never stored; wiped when the batch ends. */
        JP11Pin *so_pin;
        JP11Pin *user_pin;
        int pin_mailer_fd;

        unsigned n_inits;               /* initialisations on workers */
};

/* At start, after job_recover(): every batch of the store; running ones
 * come back paused. */
int batches_load(Manager *m);
/* Shutdown, after job_done(): frees everything without signals. */
void batches_done(Manager *m);

Batch *batch_find(Manager *m, uint64_t id);
Batch *batch_active(Manager *m);        /* running or paused, or NULL */

/* What StartBatch hands over. PINs and fds are taken over in every case. */
typedef struct BatchStart {
        const char *name;
        const char *profile;
        bool initialize;
        const char *label_template;     /* NULL: "${reference}" */
        bool random_pin;
        JP11Pin *so_pin;
        JP11Pin *user_pin;
        int pin_mailer_fd;
} BatchStart;

/* Creates and starts the batch over the given orders (in the store
 * already, pending). *ret borrowed. Errors on *error. */
int batch_start(Manager *m, BatchStart *start, char **references, size_t n, const StoreActor *actor,
                Batch **ret, sd_bus_error *error);
int batch_pause(Batch *b, const StoreActor *actor, sd_bus_error *error);
/* PINs and fd (taken over, may be NULL / -EBADF) replace those lost. */
int batch_resume(Batch *b, JP11Pin *so_pin, JP11Pin *user_pin, int pin_mailer_fd, const StoreActor *actor,
                 sd_bus_error *error);
int batch_cancel(Batch *b, const StoreActor *actor, sd_bus_error *error);

/* registry.c: a token was published / went away. */
void batch_on_token_added(Manager *m, Token *t);
void batch_on_token_removed(Manager *m, Token *t);

/* For Batch.Readers: the job path of the token's assignment in flight, or "/". */
const char *batch_job_of_token(Batch *b, const char *serial);

/* Label expansion: "${reference}" (the only variable) in template; NULL
 * when the result is empty or longer than 32 bytes. Exposed for tests. */
char *batch_label_expand(const char *template, const char *reference);
/* n decimal digits from a CSPRNG into buf (n + 1 bytes, NUL-terminated). */
int batch_random_digits(char *buf, size_t n);
