/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "batch-output.h"
#include "batch.h"
#include "bus-batch.h"
#include "bus-error.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "orders.h"
#include "provision.h"
#include "registry.h"
#include "store.h"
#include "token-worker.h"
#include "util.h"

#define TAKE_FD(fd)                     \
        ({                              \
                int *_pfd_ = &(fd);     \
                int _fd_ = *_pfd_;      \
                *_pfd_ = -EBADF;        \
                _fd_;                   \
        })

static const char *const batch_state_table[_BATCH_STATE_MAX] = {
        [BATCH_RUNNING] = "running",
        [BATCH_PAUSED] = "paused",
        [BATCH_CANCELLED] = "cancelled",
        [BATCH_DONE] = "done",
};

static const char *const assignment_state_table[_ASSIGNMENT_STATE_MAX] = {
        [ASSIGNMENT_QUEUED] = "queued",
        [ASSIGNMENT_INITIALISING] = "initialising",
        [ASSIGNMENT_PROVISIONING] = "provisioning",
        [ASSIGNMENT_DONE] = "done",
        [ASSIGNMENT_FAILED] = "failed",
};

/* The store's word for a failure that the order's token finishes when it
 * comes back; the bus shows "failed". */
#define STORE_STATE_RESUMABLE "interrupted"
#define STORE_STATE_SKIPPED "skipped"

const char *batch_state_to_string(BatchState s) {
        return s >= 0 && s < _BATCH_STATE_MAX ? batch_state_table[s] : NULL;
}

BatchState batch_state_from_string(const char *s) {
        for (BatchState i = 0; s && i < _BATCH_STATE_MAX; i++)
                if (streq(batch_state_table[i], s))
                        return i;
        return _BATCH_STATE_INVALID;
}

const char *assignment_state_to_string(AssignmentState s) {
        return s >= 0 && s < _ASSIGNMENT_STATE_MAX ? assignment_state_table[s] : NULL;
}

AssignmentState assignment_state_from_string(const char *s) {
        for (AssignmentState i = 0; s && i < _ASSIGNMENT_STATE_MAX; i++)
                if (streq(assignment_state_table[i], s))
                        return i;
        if (streq_ptr(s, STORE_STATE_RESUMABLE) || streq_ptr(s, STORE_STATE_SKIPPED))
                return ASSIGNMENT_FAILED;
        return _ASSIGNMENT_STATE_INVALID;
}

char *batch_label_expand(const char *template, const char *reference) {
        static const char var[] = "${reference}";
        size_t n = 0;
        char *out, *p;

        for (const char *i = template; *i;)
                if (strncmp(i, var, strlen(var)) == 0) {
                        n += strlen(reference);
                        i += strlen(var);
                } else {
                        n++;
                        i++;
                }
        if (n == 0 || n > 32)
                return NULL;
        out = p = malloc(n + 1);
        if (!out)
                return NULL;
        for (const char *i = template; *i;)
                if (strncmp(i, var, strlen(var)) == 0) {
                        p = stpcpy(p, reference);
                        i += strlen(var);
                } else
                        *p++ = *i++;
        *p = 0;
        return out;
}

int batch_random_digits(char *buf, size_t n) {
        size_t have = 0;

        while (have < n) {
                uint8_t bytes[32];
                ssize_t k = getrandom(bytes, sizeof bytes, 0);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                /* 250 = 25 * 10: reject above it, so every digit is equally likely. */
                for (ssize_t i = 0; i < k && have < n; i++)
                        if (bytes[i] < 250)
                                buf[have++] = (char) ('0' + bytes[i] % 10);
                explicit_bzero(bytes, sizeof bytes);
        }
        buf[n] = 0;
        return 0;
}

static JP11Pin *pin_dup(const JP11Pin *pin) {
        JP11Pin *copy = NULL;

        if (!pin || jp11_pin_new(jp11_pin_bytes(pin), jp11_pin_length(pin), &copy, NULL) < 0)
                return NULL;
        return copy;
}

/* ---- objects ----------------------------------------------------------------- */

static void assignment_done_free(Assignment *a) {
        free(a->reference);
        free(a->token_serial);
        free(a->token_label);
        free(a->reader);
        free(a->detail);
        free(a->job_path);
        jp11_pin_free(a->user_pin);
}

static void batch_wipe_secrets(Batch *b) {
        b->so_pin = jp11_pin_free(b->so_pin);
        b->user_pin = jp11_pin_free(b->user_pin);
        b->pin_mailer_fd = safe_close(b->pin_mailer_fd);
        for (size_t i = 0; i < b->n_assignments; i++)
                b->assignments[i].user_pin = jp11_pin_free(b->assignments[i].user_pin);
}

static Batch *batch_free(Batch *b) {
        if (!b)
                return NULL;
        batch_wipe_secrets(b);
        for (size_t i = 0; i < b->n_assignments; i++)
                assignment_done_free(b->assignments + i);
        free(b->assignments);
        free(b->path);
        free(b->name);
        free(b->profile);
        free(b->label_template);
        free(b->detail);
        free(b->operator_name);
        free(b->dir);
        free(b->manifest_csv);
        free(b->manifest_json);
        free(b->archive);
        free(b);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Batch *, batch_free);

Batch *batch_find(Manager *m, uint64_t id) {
        for (Batch *b = m->batches; b; b = b->next)
                if (b->id == id)
                        return b;
        return NULL;
}

Batch *batch_active(Manager *m) {
        for (Batch *b = m->batches; b; b = b->next)
                if (b->state == BATCH_RUNNING || b->state == BATCH_PAUSED)
                        return b;
        return NULL;
}

static void batch_link(Manager *m, Batch *b) {
        Batch **p = &m->batches;

        while (*p)
                p = &(*p)->next;
        *p = b;
}

static StoreActor batch_actor(Batch *b) {
        return (StoreActor) { .uid = b->operator_uid, .name = b->operator_name };
}

static Assignment *assignment_by_id(Batch *b, uint64_t id) {
        for (size_t i = 0; i < b->n_assignments; i++)
                if (b->assignments[i].id == id)
                        return b->assignments + i;
        return NULL;
}

static void batch_recount(Batch *b) {
        b->total = b->done = b->failed = 0;
        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;

                if (a->note)
                        continue;
                b->total++;
                if (a->state == ASSIGNMENT_DONE)
                        b->done++;
                else if (a->state == ASSIGNMENT_FAILED)
                        b->failed++;
        }
        b->remaining = b->total - b->done - b->failed;
}

/* The store first, then the bus. */
static void assignment_commit(Batch *b, Assignment *a) {
        StoreActor actor = batch_actor(b);
        StoreError e = {};
        const char *state = assignment_state_to_string(a->state);
        int r;

        if (a->state == ASSIGNMENT_FAILED && a->resumable)
                state = STORE_STATE_RESUMABLE;
        StoreBatchAssignment sa = {
                .id = a->id,
                .batch_id = b->id,
                .order_reference = a->reference,
                .token_serial = a->token_serial,
                .token_label = a->token_label,
                .reader = a->reader,
                .state = (char *) state,
                .detail = a->detail,
        };
        r = store_batch_assignment_update(b->manager->store, &actor, &sa, &e);
        if (r < 0)
                log_warning_errno(r, "Failed to record batch %" PRIu64 " order %s: %s", b->id,
                                  strna(a->reference), e.message);
        a->updated_usec = now_usec(CLOCK_REALTIME);
        batch_recount(b);
        bus_batch_emit_changed(b);
}

static void assignment_set(Batch *b, Assignment *a, AssignmentState state, const char *detail) {
        a->state = state;
        a->resumable = false;
        (void) free_and_strdup(&a->detail, strempty(detail));
        assignment_commit(b, a);
}

/* Back in the queue: the order goes to the next free token. */
static void assignment_requeue(Batch *b, Assignment *a, const char *detail) {
        a->token_serial = mfree(a->token_serial);
        a->token_label = mfree(a->token_label);
        a->reader = mfree(a->reader);
        a->user_pin = jp11_pin_free(a->user_pin);
        (void) free_and_strdup(&a->job_path, "/");
        assignment_set(b, a, ASSIGNMENT_QUEUED, detail);
}

/* A note row: what the operator must be told (and the log says too). */
static void batch_note(Batch *b, const char *reference, const char *serial, const char *reader, const char *state,
                       const char *detail) {
        StoreActor actor = batch_actor(b);
        StoreError e = {};
        Assignment *p;
        int r;

        log_notice("Batch %" PRIu64 ": %s", b->id, detail);
        StoreBatchAssignment sa = {
                .batch_id = b->id,
                .order_reference = (char *) reference,
                .token_serial = (char *) serial,
                .reader = (char *) reader,
                .state = (char *) state,
                .detail = (char *) detail,
                .note = true,
        };
        r = store_batch_assignment_add(b->manager->store, &actor, &sa, &e);
        if (r < 0)
                log_warning_errno(r, "Failed to record a note of batch %" PRIu64 ": %s", b->id, e.message);

        p = reallocarray(b->assignments, b->n_assignments + 1, sizeof(Assignment));
        if (!p)
                return (void) log_oom();
        b->assignments = p;
        p = b->assignments + b->n_assignments;
        *p = (Assignment) {
                .id = sa.id,
                .note = true,
                .reference = strdup(strempty(reference)),
                .token_serial = serial ? strdup(serial) : NULL,
                .reader = reader ? strdup(reader) : NULL,
                .state = ASSIGNMENT_FAILED,
                .detail = strdup(detail),
                .job_path = strdup("/"),
                .updated_usec = now_usec(CLOCK_REALTIME),
        };
        b->n_assignments++;
        bus_batch_emit_changed(b);
}

static bool token_skipped(Batch *b, const char *serial) {
        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;

                if (a->note && a->state == ASSIGNMENT_FAILED && streq_ptr(a->token_serial, serial) &&
                    a->reference && a->reference[0] == 0)
                        return true;
        }
        return false;
}

static void batch_commit(Batch *b, const char *detail) {
        StoreActor actor = batch_actor(b);
        StoreError e = {};
        int r;

        b->state_string = batch_state_to_string(b->state);
        (void) free_and_strdup(&b->detail, strempty(detail));
        StoreBatch sb = {
                .id = b->id,
                .state = (char *) b->state_string,
                .detail = b->detail,
                .finished_usec = b->finished_usec,
        };
        r = store_batch_update(b->manager->store, &actor, &sb, &e);
        if (r < 0)
                log_warning_errno(r, "Failed to record batch %" PRIu64 ": %s", b->id, e.message);
        bus_batch_emit_changed(b);
}

/* ---- outputs ------------------------------------------------------------------- */

static void batch_write_outputs(Batch *b) {
        Manager *m = b->manager;
        _cleanup_free_ BatchManifestLine *lines = NULL;
        _cleanup_strv_free_ char **csr_paths = NULL;
        _cleanup_free_ char **refs = NULL;
        size_t n = 0;
        int r;

        r = batch_output_mkdir(b->dir);
        if (r < 0)
                return (void) log_warning_errno(r, "Failed to create %s: %m", b->dir);

        lines = calloc(b->n_assignments + 1, sizeof(BatchManifestLine));
        refs = calloc(b->n_assignments + 1, sizeof(char *));
        csr_paths = calloc(b->n_assignments + 1, sizeof(char *));
        if (!lines || !refs || !csr_paths)
                return (void) log_oom();

        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;
                DaemonOrder *o;

                if (a->note || a->state != ASSIGNMENT_DONE)
                        continue;
                o = orders_find(m, a->reference);
                if (!o || !o->order->csr_pem)
                        continue;
                r = batch_output_write_csr(b->dir, a->reference, o->order->csr_pem, &csr_paths[n]);
                if (r < 0) {
                        log_warning_errno(r, "Failed to write the request of %s to %s: %m", a->reference, b->dir);
                        continue;
                }
                refs[n] = a->reference;
                lines[n] = (BatchManifestLine) {
                        .reference = a->reference,
                        .token_serial = a->token_serial,
                        .token_label = a->token_label,
                        .key_id = o->order->key_id_hex,
                        .csr_file = csr_paths[n],
                        .local = o->order->evidence.local,
                        .always_sensitive = o->order->evidence.always_sensitive,
                        .never_extractable = o->order->evidence.never_extractable,
                        .operator_name = b->operator_name,
                        .time_usec = a->updated_usec,
                };
                n++;
        }

        r = batch_output_write_manifest(b->dir, lines, n);
        if (r < 0)
                log_warning_errno(r, "Failed to write the manifest of batch %" PRIu64 ": %m", b->id);
        r = batch_output_write_archive(b->dir, refs, n);
        if (r < 0)
                log_warning_errno(r, "Failed to write the archive of batch %" PRIu64 ": %m", b->id);
}

/* ---- the end ------------------------------------------------------------------ */

static bool batch_busy(Batch *b) {
        if (b->n_inits > 0)
                return true;
        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;

                if (a->note)
                        continue;
                if (a->state == ASSIGNMENT_QUEUED || a->state == ASSIGNMENT_INITIALISING ||
                    a->state == ASSIGNMENT_PROVISIONING || (a->state == ASSIGNMENT_FAILED && a->resumable))
                        return true;
        }
        return false;
}

static void batch_check_done(Batch *b) {
        if (b->state != BATCH_RUNNING && b->state != BATCH_PAUSED)
                return;
        if (batch_busy(b))
                return;
        b->state = BATCH_DONE;
        b->finished_usec = now_usec(CLOCK_REALTIME);
        batch_wipe_secrets(b);
        batch_write_outputs(b);
        batch_commit(b, "");
        log_info("Batch %" PRIu64 " done: %" PRIu32 " done, %" PRIu32 " failed, in %s.", b->id, b->done, b->failed,
                 b->dir);
}

static void batch_pause_for(Batch *b, const char *detail) {
        if (b->state != BATCH_RUNNING)
                return;
        b->state = BATCH_PAUSED;
        log_warning("Batch %" PRIu64 " paused: %s", b->id, detail);
        batch_commit(b, detail);
}

/* ---- provisioning ---------------------------------------------------------------- */

static void batch_dispatch(Batch *b);

static Assignment *assignment_in_flight(Batch *b, const char *reference, const char *serial) {
        for (size_t i = 0; i < b->n_assignments; i++) {
                Assignment *a = b->assignments + i;

                if (!a->note && streq_ptr(a->reference, reference) && streq_ptr(a->token_serial, serial) &&
                    (a->state == ASSIGNMENT_PROVISIONING || a->state == ASSIGNMENT_INITIALISING))
                        return a;
        }
        return NULL;
}

static bool is_pin_error(const char *name) {
        return streq_ptr(name, JETON_ERROR_PIN_INCORRECT) || streq_ptr(name, JETON_ERROR_PIN_LOCKED) ||
               streq_ptr(name, JETON_ERROR_PIN_FINAL_TRY) || streq_ptr(name, JETON_ERROR_PIN_LENGTH);
}

static void on_job_finished(Job *j, void *userdata) {
        Batch *b = userdata;
        Assignment *a = assignment_in_flight(b, j->order_reference, j->token_serial);
        _cleanup_free_ char *detail = NULL;

        if (!a)
                return;

        if (j->state == JOB_DONE) {
                a->user_pin = jp11_pin_free(a->user_pin);
                assignment_set(b, a, ASSIGNMENT_DONE, "");
                log_info("Batch %" PRIu64 ": order %s is on token %s (%s).", b->id, a->reference, a->token_serial,
                         strempty(a->token_label));
                batch_write_outputs(b);
        } else if (j->state == JOB_CANCELLED) {
                assignment_requeue(b, a, "cancelled");
        } else if (streq_ptr(j->result, JETON_ERROR_TOKEN_REMOVED)) {
                const ProvisionResult *p = j->provision;

                if (p && (p->id_len > 0 || p->step > PROVISION_GENERATE_KEY)) {
                        /* The key is on that token: the order stays with it. */
                        if (asprintf(&detail, "token pulled after keygen: reinsert token %s to finish",
                                     a->token_serial) < 0)
                                detail = NULL;
                        a->state = ASSIGNMENT_FAILED;
                        a->resumable = true;
                        (void) free_and_strdup(&a->detail, strna(detail));
                        assignment_commit(b, a);
                        log_warning("Batch %" PRIu64 ": order %s: %s", b->id, a->reference, strna(detail));
                } else if (p && p->step == PROVISION_GENERATE_KEY) {
                        _cleanup_free_ char *note = NULL;

                        /* Whether the token made the key before it went is
                         * unknown: the order goes on, and the operator is told. */
                        if (asprintf(&note, "token %s was pulled during the key generation of %s: a key of %s "
                                     "may remain on it; %s goes to another token",
                                     a->token_serial, a->reference, a->reference, a->reference) >= 0)
                                batch_note(b, a->reference, a->token_serial, a->reader, "failed", note);
                        /* batch_note() may move the array */
                        a = assignment_in_flight(b, j->order_reference, j->token_serial);
                        if (a)
                                assignment_requeue(b, a, "token pulled during key generation: back in the queue");
                } else
                        assignment_requeue(b, a, "token pulled before key generation: back in the queue");
        } else if (is_pin_error(j->result)) {
                if (asprintf(&detail, "token %s refused the user PIN: %s", a->token_serial,
                             strempty(j->error_message)) < 0)
                        detail = NULL;
                /* Never try that PIN on the next token: the operator decides. */
                b->user_pin = jp11_pin_free(b->user_pin);
                assignment_requeue(b, a, strna(detail));
                batch_pause_for(b, strna(detail));
        } else
                assignment_set(b, a, ASSIGNMENT_FAILED, strempty(j->error_message));

        batch_dispatch(b);
        batch_check_done(b);
}

static void assignment_provision(Batch *b, Assignment *a, Token *t) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Manager *m = b->manager;
        StoreActor actor = batch_actor(b);
        DaemonOrder *o = orders_find(m, a->reference);
        uint64_t id = a->id;
        JP11Pin *pin;
        Job *j = NULL;
        int r;

        if (!o)
                return assignment_set(b, a, ASSIGNMENT_FAILED, "the order is gone");
        if (o->order->state == ORDER_KEY_GENERATED && streq_ptr(o->order->evidence.token_serial, a->token_serial)) {
                /* Recorded before a restart cut the batch's own record short. */
                assignment_set(b, a, ASSIGNMENT_DONE, "");
                batch_write_outputs(b);
                return;
        }
        pin = pin_dup(a->user_pin ?: b->user_pin);
        if (!pin)
                return assignment_requeue(b, a, "no user PIN for the token: back in the queue");

        (void) free_and_strdup(&a->job_path, "/");
        assignment_set(b, a, ASSIGNMENT_PROVISIONING, "");
        r = job_start_provision_with_pin(m, o, t, pin, &actor, on_job_finished, b, &j, &error);
        a = assignment_by_id(b, id);
        if (!a)
                return;
        if (r < 0) {
                if (r == -EBUSY)
                        return assignment_requeue(b, a, error.message);
                return assignment_set(b, a, ASSIGNMENT_FAILED, error.message ?: strerror(-r));
        }
        /* The job may have ended already (it could not be queued). */
        if (a->state == ASSIGNMENT_PROVISIONING && j && !job_state_is_final(j->state)) {
                (void) free_and_strdup(&a->job_path, j->path);
                bus_batch_emit_changed(b);
        }
}

/* ---- initialising ------------------------------------------------------------------ */

typedef struct InitWork {
        Batch *batch;
        uint64_t assignment_id;
        JP11Module *module;
        char *serial;
        char *manufacturer;
        char *label;
        char *reference;
        JP11Pin *so_pin;
        JP11Pin *user_pin;
        int mailer_fd;                  /* a dup of the batch's, -EBADF: fixed user PIN */

        int r;
        JP11Error error;
        bool mailer_failed;
} InitWork;

static InitWork *init_work_free(InitWork *w) {
        if (!w)
                return NULL;
        free(w->serial);
        free(w->manufacturer);
        free(w->label);
        free(w->reference);
        jp11_pin_free(w->so_pin);
        jp11_pin_free(w->user_pin);
        safe_close(w->mailer_fd);
        free(w);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(InitWork *, init_work_free);

/* One line, one write(): lines of tokens initialised at the same time do
 * not mix. The buffer is wiped before it goes. */
static int write_mailer_line(InitWork *w) {
        size_t pin_len = jp11_pin_length(w->user_pin);
        size_t n = strlen(w->reference) + strlen(w->serial) + strlen(w->label) + pin_len + 4;
        char line[512];
        char *p = line;
        ssize_t k;
        int r = 0;

        if (n > sizeof line)
                return -ENAMETOOLONG;
        p = stpcpy(p, w->reference);
        *p++ = ';';
        p = stpcpy(p, w->serial);
        *p++ = ';';
        p = stpcpy(p, w->label);
        *p++ = ';';
        memcpy(p, jp11_pin_bytes(w->user_pin), pin_len);
        p += pin_len;
        *p++ = '\n';
        do
                k = write(w->mailer_fd, line, (size_t) (p - line));
        while (k < 0 && errno == EINTR);
        if (k < 0)
                r = -errno;
        else if ((size_t) k != (size_t) (p - line))
                r = -EIO;
        if (r >= 0 && fdatasync(w->mailer_fd) < 0 && errno != EINVAL)
                r = -errno;
        explicit_bzero(line, sizeof line);
        return r;
}

static void init_work(void *userdata) {
        InitWork *w = userdata;
        JP11Slot slot;

        w->r = jp11_module_find_token(w->module, w->serial, w->manufacturer, &slot, &w->error);
        if (w->r < 0) {
                if (w->error.kind == JP11_ERR_NOT_FOUND || w->error.kind == JP11_ERR_NO_TOKEN)
                        w->error.kind = JP11_ERR_TOKEN_REMOVED;
                return;
        }
        /* jp11_token_init() has the slot to itself: a scan's session on the
         * token waits instead of making C_InitToken or the SO login fail. */
        w->r = jp11_token_init(w->module, slot.id, w->so_pin, w->label, w->user_pin, 0, &w->error);
        w->so_pin = jp11_pin_free(w->so_pin);
        if (w->r < 0 || w->mailer_fd < 0)
                return;
        w->r = write_mailer_line(w);
        if (w->r < 0) {
                w->mailer_failed = true;
                jp11_error_set(&w->error, w->r, JP11_ERR_INTERNAL,
                               "the token was initialised but its PIN could not be written to the PIN mailer "
                               "(%s): initialise it again",
                               strerror(-w->r));
        }
}

static void init_done(void *userdata, bool cancelled) {
        _cleanup_(init_work_freep) InitWork *w = userdata;
        _cleanup_free_ char *detail = NULL;
        Batch *b;
        Assignment *a;
        Token *t;

        if (cancelled)
                return;
        b = w->batch;
        b->n_inits--;
        a = assignment_by_id(b, w->assignment_id);
        if (!a || a->state != ASSIGNMENT_INITIALISING)
                goto finish;

        if (w->r >= 0) {
                log_info("Batch %" PRIu64 ": token %s initialised as \"%s\" for order %s.", b->id, w->serial,
                         w->label, w->reference);
                (void) free_and_strdup(&a->token_label, w->label);
                if (b->state == BATCH_CANCELLED) {
                        assignment_requeue(b, a, "cancelled after the token was initialised");
                        goto finish;
                }
                t = NULL;
                for (Token *i = b->manager->tokens; i; i = i->next)
                        if (streq_ptr(i->serial, w->serial))
                                t = i;
                if (!t) {
                        assignment_requeue(b, a, "token pulled after its initialisation: back in the queue");
                        goto finish;
                }
                assignment_provision(b, a, t);
                goto finish;
        }

        switch (w->error.kind) {
        case JP11_ERR_TOKEN_REMOVED:
        case JP11_ERR_NO_TOKEN:
                assignment_requeue(b, a, "token pulled during its initialisation: back in the queue");
                break;
        case JP11_ERR_PIN_INCORRECT:
        case JP11_ERR_PIN_LOCKED:
        case JP11_ERR_PIN_FINAL_TRY:
        case JP11_ERR_PIN_LENGTH:
                /* The SO PIN (or the PIN length): never tried on the next token. */
                if (asprintf(&detail, "token %s refused the initialisation: %s", w->serial, w->error.message) < 0)
                        detail = NULL;
                b->so_pin = jp11_pin_free(b->so_pin);
                assignment_requeue(b, a, strna(detail));
                batch_pause_for(b, strna(detail));
                break;
        default: {
                _cleanup_free_ char *serial = strdup(w->serial), *reader = a->reader ? strdup(a->reader) : NULL;

                if (asprintf(&detail, "token %s skipped: %s", w->serial, w->error.message) < 0)
                        detail = NULL;
                assignment_requeue(b, a, "its token was skipped: back in the queue");
                batch_note(b, "", serial, reader, STORE_STATE_SKIPPED, strna(detail));
                break;
        }
        }

finish:
        batch_dispatch(b);
        batch_check_done(b);
}

static void assignment_initialise(Batch *b, Assignment *a, Token *t) {
        _cleanup_(init_work_freep) InitWork *w = NULL;
        Manager *m = b->manager;
        size_t len = 8;
        int r;

        w = calloc(1, sizeof(InitWork));
        if (!w)
                return (void) log_oom();
        w->mailer_fd = -EBADF;
        w->batch = b;
        w->assignment_id = a->id;
        w->module = scanner_module(m->scanner, t->module);
        w->serial = strdup(t->serial);
        w->manufacturer = strdup(strempty(t->manufacturer));
        w->reference = strdup(a->reference);
        w->label = batch_label_expand(b->label_template ?: "${reference}", a->reference);
        w->so_pin = pin_dup(b->so_pin);
        if (!w->module || !w->serial || !w->manufacturer || !w->reference || !w->label || !w->so_pin)
                return assignment_requeue(b, a, "cannot initialise the token (module, label or SO PIN missing)");

        if (b->random_pin) {
                char digits[65];

                /* 8 digits, within what the token accepts. */
                if (t->pin_min_length > len)
                        len = t->pin_min_length;
                if (t->pin_max_length > 0 && t->pin_max_length < len)
                        len = t->pin_max_length;
                if (len > 64)
                        len = 64;
                r = batch_random_digits(digits, len);
                if (r >= 0)
                        r = jp11_pin_new(digits, len, &a->user_pin, NULL);
                explicit_bzero(digits, sizeof digits);
                if (r < 0)
                        return assignment_requeue(b, a, "cannot make a random PIN");
                w->mailer_fd = fcntl(b->pin_mailer_fd, F_DUPFD_CLOEXEC, 3);
                if (w->mailer_fd < 0)
                        return assignment_requeue(b, a, "the PIN mailer file is not open");
        } else {
                a->user_pin = jp11_pin_free(a->user_pin);
                a->user_pin = pin_dup(b->user_pin);
        }
        w->user_pin = pin_dup(a->user_pin);
        if (!w->user_pin)
                return assignment_requeue(b, a, "no user PIN for the token");

        (void) free_and_strdup(&a->job_path, "/");
        assignment_set(b, a, ASSIGNMENT_INITIALISING, "");
        r = token_worker_submit(m, t->serial, init_work, init_done, w);
        if (r < 0)
                return assignment_requeue(b, a, "cannot queue the work on the token");
        b->n_inits++;
        TAKE_PTR(w);
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const char *token_batch_key(Batch *b, Token *t) {
        for (size_t k = 0; k < t->n_keys; k++)
                for (size_t i = 0; i < b->n_assignments; i++)
                        if (!b->assignments[i].note && streq(t->keys[k].label, b->assignments[i].reference))
                                return b->assignments[i].reference;
        return NULL;
}

static void batch_try_token(Batch *b, Token *t) {
        Manager *m = b->manager;
        Assignment *next = NULL;
        const char *held = NULL;

        if (b->state != BATCH_RUNNING)
                return;
        if (isempty(t->serial) || isempty(t->reader) || streq_ptr(t->state, "unsupported"))
                return;
        if (job_find_active_for_token(m, t->serial) || token_skipped(b, t->serial))
                return;

        for (size_t i = 0; i < b->n_assignments; i++) {
                Assignment *a = b->assignments + i;

                if (a->note || !streq_ptr(a->token_serial, t->serial))
                        continue;
                if (a->state == ASSIGNMENT_FAILED && a->resumable) {
                        /* Its order's key is on this token: finish it here. */
                        (void) free_and_strdup(&a->reader, t->reader);
                        log_info("Batch %" PRIu64 ": token %s is back, finishing order %s.", b->id, t->serial,
                                 a->reference);
                        if (a->user_pin || b->user_pin)
                                return assignment_provision(b, a, t);
                        if (b->initialize && b->so_pin)
                                return assignment_initialise(b, a, t);
                        return;
                }
                if (a->state != ASSIGNMENT_QUEUED)
                        return;         /* the token has had its order */
        }

        /* A batch fills empty tokens: one that shows a key or a
         * certificate (public objects; private keys hide until login) has
         * been used, and is told about rather than given an order. */
        if (t->n_keys > 0 || t->n_certs > 0) {
                _cleanup_free_ char *detail = NULL;

                held = token_batch_key(b, t);
                if ((held ? asprintf(&detail, "token %s holds a key of order %s already: not given another order",
                                     t->serial, held)
                          : asprintf(&detail, "token %s holds %zu key(s) and %zu certificate(s): not used", t->serial,
                                     t->n_keys, t->n_certs)) >= 0)
                        batch_note(b, "", t->serial, t->reader, STORE_STATE_SKIPPED, detail);
                return;
        }

        for (size_t i = 0; i < b->n_assignments && !next; i++)
                if (!b->assignments[i].note && b->assignments[i].state == ASSIGNMENT_QUEUED)
                        next = b->assignments + i;
        if (!next)
                return;

        (void) free_and_strdup(&next->token_serial, t->serial);
        (void) free_and_strdup(&next->reader, t->reader);
        (void) free_and_strdup(&next->token_label, t->label);
        log_info("Batch %" PRIu64 ": order %s goes to token %s in '%s'.", b->id, next->reference, t->serial,
                 t->reader);
        if (b->initialize)
                assignment_initialise(b, next, t);
        else
                assignment_provision(b, next, t);
}

static void batch_dispatch(Batch *b) {
        Token *t, *next;

        if (b->state != BATCH_RUNNING)
                return;
        /* A token's handling can publish or drop no token, but be careful anyway. */
        for (t = b->manager->tokens; t; t = next) {
                next = t->next;
                batch_try_token(b, t);
        }
}

void batch_on_token_added(Manager *m, Token *t) {
        Batch *b = batch_active(m);

        if (b) {
                batch_try_token(b, t);
                bus_batch_emit_readers_changed(b);
        }
}

void batch_on_token_removed(Manager *m, Token *t) {
        Batch *b = batch_active(m);

        if (b)
                bus_batch_emit_readers_changed(b);
}

const char *batch_job_of_token(Batch *b, const char *serial) {
        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;

                if (!a->note && streq_ptr(a->token_serial, serial) &&
                    (a->state == ASSIGNMENT_PROVISIONING || a->state == ASSIGNMENT_INITIALISING))
                        return a->job_path ?: "/";
        }
        return "/";
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static int batch_new(Manager *m, uint64_t id, Batch **ret) {
        _cleanup_(batch_freep) Batch *b = NULL;

        b = calloc(1, sizeof(Batch));
        if (!b)
                return -ENOMEM;
        b->manager = m;
        b->id = id;
        b->pin_mailer_fd = -EBADF;
        if (asprintf(&b->path, JETON_BATCH_PREFIX "/%" PRIu64, id) < 0 ||
            asprintf(&b->dir, "%s/batch-%" PRIu64, m->config.outbox, id) < 0 ||
            asprintf(&b->manifest_csv, "%s/manifest.csv", b->dir) < 0 ||
            asprintf(&b->manifest_json, "%s/manifest.json", b->dir) < 0 ||
            asprintf(&b->archive, "%s/csrs.tar", b->dir) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t size) {
        struct passwd pw, *res = NULL;
        char tmp[1024];

        if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
                snprintf(buf, size, "%s", res->pw_name);
        else
                snprintf(buf, size, "%u", (unsigned) uid);
        return buf;
}

int batch_start(Manager *m, BatchStart *start, char **references, size_t n, const StoreActor *actor,
                Batch **ret, sd_bus_error *error) {
        _cleanup_(jp11_pin_freep) JP11Pin *so_pin = TAKE_PTR(start->so_pin), *user_pin = TAKE_PTR(start->user_pin);
        _cleanup_close_ int mailer_fd = TAKE_FD(start->pin_mailer_fd);
        _cleanup_(batch_freep) Batch *b = NULL;
        StoreBatchAssignment **rows = NULL, *row_data = NULL;
        StoreBatch sb = {};
        StoreError e = {};
        char who[256];
        Batch *batch;
        int r;

        if (batch_active(m))
                return sd_bus_error_setf(error, JETON_ERROR_BUSY, "Batch %" PRIu64 " is %s: one batch at a time.",
                                         batch_active(m)->id, batch_active(m)->state_string),
                       -EBUSY;

        rows = calloc(n + 1, sizeof(StoreBatchAssignment *));
        row_data = calloc(n + 1, sizeof(StoreBatchAssignment));
        if (!rows || !row_data) {
                free(rows);
                free(row_data);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                row_data[i] = (StoreBatchAssignment) { .order_reference = references[i], .state = (char *) "queued" };
                rows[i] = row_data + i;
        }
        user_name(actor->uid, who, sizeof who);
        sb = (StoreBatch) {
                .name = (char *) start->name,
                .profile = (char *) start->profile,
                .initialize = start->initialize,
                .label_template = (char *) (start->label_template ?: "${reference}"),
                .user_pin_mode = (char *) (start->random_pin ? "random" : "fd"),
                .state = (char *) "running",
                .operator_name = who,
        };
        r = store_batch_add(m->store, actor, &sb, rows, n, &e);
        if (r < 0) {
                free(rows);
                free(row_data);
                return bus_error_set_errno(error, r, "Cannot record the batch: %s", e.message);
        }

        r = batch_new(m, sb.id, &b);
        if (r >= 0) {
                b->name = strdup(strempty(start->name));
                b->profile = strdup(start->profile);
                b->label_template = strdup(sb.label_template);
                b->operator_name = strdup(who);
                b->assignments = calloc(n + 1, sizeof(Assignment));
                if (!b->name || !b->profile || !b->label_template || !b->operator_name || !b->assignments)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                b->assignments[i] = (Assignment) {
                        .id = row_data[i].id,
                        .reference = strdup(references[i]),
                        .job_path = strdup("/"),
                        .state = ASSIGNMENT_QUEUED,
                        .detail = strdup(""),
                };
                b->n_assignments++;
                if (!b->assignments[i].reference || !b->assignments[i].job_path || !b->assignments[i].detail)
                        r = -ENOMEM;
        }
        free(rows);
        free(row_data);
        if (r < 0)
                return r;

        b->initialize = start->initialize;
        b->random_pin = start->random_pin;
        b->operator_uid = actor->uid;
        b->created_usec = sb.created_usec;
        b->state = BATCH_RUNNING;
        b->state_string = batch_state_to_string(b->state);
        b->detail = strdup("");
        b->so_pin = TAKE_PTR(so_pin);
        b->user_pin = TAKE_PTR(user_pin);
        b->pin_mailer_fd = TAKE_FD(mailer_fd);
        if (!b->detail)
                return -ENOMEM;
        batch_recount(b);
        (void) batch_output_mkdir(b->dir);

        batch = TAKE_PTR(b);
        batch_link(m, batch);
        bus_batch_emit_added(batch);
        log_info("Batch %" PRIu64 " started by %s: %zu order(s), profile %s%s.", batch->id, who, n, batch->profile,
                 batch->initialize ? ", initialising tokens" : "");
        batch_dispatch(batch);
        batch_check_done(batch);
        *ret = batch;
        return 0;
}

int batch_pause(Batch *b, const StoreActor *actor, sd_bus_error *error) {
        if (b->state != BATCH_RUNNING)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE, "Batch %" PRIu64 " is %s.", b->id,
                                         b->state_string),
                       -ESTALE;
        b->state = BATCH_PAUSED;
        batch_commit(b, "paused by the operator");
        return 0;
}

int batch_resume(Batch *b, JP11Pin *so_pin, JP11Pin *user_pin, int pin_mailer_fd, const StoreActor *actor,
                 sd_bus_error *error) {
        _cleanup_(jp11_pin_freep) JP11Pin *so = so_pin, *user = user_pin;
        _cleanup_close_ int mailer = pin_mailer_fd;

        if (b->state != BATCH_PAUSED && b->state != BATCH_RUNNING)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE, "Batch %" PRIu64 " is %s.", b->id,
                                         b->state_string),
                       -ESTALE;
        if (so) {
                jp11_pin_free(b->so_pin);
                b->so_pin = TAKE_PTR(so);
        }
        if (user) {
                jp11_pin_free(b->user_pin);
                b->user_pin = TAKE_PTR(user);
        }
        if (mailer >= 0) {
                safe_close(b->pin_mailer_fd);
                b->pin_mailer_fd = TAKE_FD(mailer);
        }
        if (b->initialize && !b->so_pin)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The batch initialises tokens: give the SO PIN (so-pin-fd)."),
                       -EINVAL;
        if (!b->random_pin && !b->user_pin)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The batch uses one user PIN: give it (user-pin-fd)."),
                       -EINVAL;
        if (b->random_pin && b->pin_mailer_fd < 0)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The batch makes random PINs: give the PIN mailer file (pin-mailer-fd)."),
                       -EINVAL;
        b->state = BATCH_RUNNING;
        batch_commit(b, "");
        batch_dispatch(b);
        batch_check_done(b);
        return 0;
}

int batch_cancel(Batch *b, const StoreActor *actor, sd_bus_error *error) {
        if (b->state != BATCH_PAUSED && b->state != BATCH_RUNNING)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE, "Batch %" PRIu64 " is %s.", b->id,
                                         b->state_string),
                       -ESTALE;
        b->state = BATCH_CANCELLED;
        b->finished_usec = now_usec(CLOCK_REALTIME);
        batch_wipe_secrets(b);
        batch_commit(b, "cancelled by the operator");
        /* Running jobs stop between steps; queued orders stay pending. */
        for (size_t i = 0; i < b->n_assignments; i++) {
                Assignment *a = b->assignments + i;
                Job *j;

                if (a->note || a->state != ASSIGNMENT_PROVISIONING)
                        continue;
                j = job_find_active_for_order(b->manager, a->reference);
                if (j)
                        (void) job_cancel(j, NULL);
        }
        batch_write_outputs(b);
        return 0;
}

/* ---- restart ------------------------------------------------------------------------ */

static int batch_from_store(Manager *m, StoreBatch *sb) {
        _cleanup_(batch_freep) Batch *b = NULL;
        StoreBatchAssignment **rows = NULL;
        StoreError e = {};
        size_t n = 0;
        bool was_running;
        int r;

        r = batch_new(m, sb->id, &b);
        if (r < 0)
                return r;
        b->name = strdup(strempty(sb->name));
        b->profile = strdup(strempty(sb->profile));
        b->label_template = strdup(sb->label_template ?: "${reference}");
        b->operator_name = strdup(strempty(sb->operator_name));
        b->detail = strdup(strempty(sb->detail));
        if (!b->name || !b->profile || !b->label_template || !b->operator_name || !b->detail)
                return -ENOMEM;
        b->initialize = sb->initialize;
        b->random_pin = streq_ptr(sb->user_pin_mode, "random");
        b->state = batch_state_from_string(sb->state);
        if (b->state < 0)
                b->state = BATCH_PAUSED;
        b->state_string = batch_state_to_string(b->state);
        b->created_usec = sb->created_usec;
        b->finished_usec = sb->finished_usec;
        {
                struct passwd pw, *res = NULL;
                char tmp[1024];

                if (getpwnam_r(b->operator_name, &pw, tmp, sizeof tmp, &res) == 0 && res)
                        b->operator_uid = res->pw_uid;
        }

        r = store_batch_assignment_list(m->store, sb->id, &rows, &n, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to read batch %" PRIu64 ": %s", sb->id, e.message);
        b->assignments = calloc(n + 1, sizeof(Assignment));
        if (!b->assignments) {
                store_batch_assignment_list_free(rows);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                StoreBatchAssignment *row = rows[i];
                Assignment *a = b->assignments + i;

                *a = (Assignment) {
                        .id = row->id,
                        .note = row->note,
                        .reference = TAKE_PTR(row->order_reference),
                        .token_serial = TAKE_PTR(row->token_serial),
                        .token_label = TAKE_PTR(row->token_label),
                        .reader = TAKE_PTR(row->reader),
                        .detail = TAKE_PTR(row->detail),
                        .job_path = strdup("/"),
                        .state = assignment_state_from_string(row->state),
                        .resumable = streq_ptr(row->state, STORE_STATE_RESUMABLE),
                        .updated_usec = row->updated_usec,
                };
                if (a->state < 0)
                        a->state = ASSIGNMENT_FAILED;
                b->n_assignments++;
        }
        store_batch_assignment_list_free(rows);

        was_running = b->state == BATCH_RUNNING || b->state == BATCH_PAUSED;
        for (size_t i = 0; was_running && i < b->n_assignments; i++) {
                Assignment *a = b->assignments + i;
                DaemonOrder *o;
                _cleanup_free_ char *detail = NULL;

                if (a->note)
                        continue;
                if (a->state == ASSIGNMENT_INITIALISING) {
                        assignment_requeue(b, a, "interrupted by a restart of jetond: back in the queue");
                        continue;
                }
                if (a->state != ASSIGNMENT_PROVISIONING)
                        continue;
                o = orders_find(m, a->reference);
                if (o && o->order->state == ORDER_KEY_GENERATED &&
                    streq_ptr(o->order->evidence.token_serial, a->token_serial)) {
                        assignment_set(b, a, ASSIGNMENT_DONE, "");
                        continue;
                }
                if (asprintf(&detail, "interrupted by a restart of jetond: reinsert token %s to finish",
                             a->token_serial) < 0)
                        return -ENOMEM;
                a->state = ASSIGNMENT_FAILED;
                a->resumable = true;
                (void) free_and_strdup(&a->detail, detail);
                assignment_commit(b, a);
        }
        batch_recount(b);

        if (b->state == BATCH_RUNNING) {
                /* The PINs it was given are gone with the old process. */
                b->state = BATCH_PAUSED;
                batch_commit(b, b->initialize ? "jetond restarted: resume with the SO PIN again"
                                              : "jetond restarted: resume with the user PIN again");
                log_notice("Batch %" PRIu64 " was running when jetond stopped: paused until its PINs are given "
                           "again (jetonctl batch resume).",
                           b->id);
        }
        if (was_running)
                batch_write_outputs(b);
        batch_link(m, TAKE_PTR(b));
        return 0;
}

int batches_load(Manager *m) {
        StoreBatch **l = NULL;
        StoreError e = {};
        size_t n = 0;
        int r;

        r = store_batch_list(m->store, &l, &n, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to read the batches: %s", e.message);
        for (size_t i = 0; i < n; i++) {
                r = batch_from_store(m, l[i]);
                if (r < 0)
                        break;
        }
        store_batch_list_free(l);
        if (r < 0)
                return log_error_errno(r, "Failed to load the batches: %m");
        return 0;
}

void batches_done(Manager *m) {
        while (m->batches) {
                Batch *b = m->batches;

                m->batches = b->next;
                batch_free(b);
        }
}
