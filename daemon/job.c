/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/uri.h>

#include "authorize.h"
#include "bus-error.h"
#include "bus-job.h"
#include "bus-token.h"
#include "install.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "orders.h"
#include "pin-agent.h"
#include "profiles.h"
#include "provision.h"
#include "store.h"
#include "token-worker.h"
#include "util.h"

static char *strprintf(const char *format, ...) _printf_(1, 2);
static char *strprintf(const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

static const char *const kind_table[_JOB_KIND_MAX] = {
        [JOB_PROVISION] = "provision",
        [JOB_INSTALL] = "install",
};

static const char *const state_table[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = "queued",
        [JOB_WAITING_FOR_PIN] = "waiting-for-pin",
        [JOB_RUNNING] = "running",
        [JOB_DONE] = "done",
        [JOB_FAILED] = "failed",
        [JOB_CANCELLED] = "cancelled",
};

const char *job_kind_to_string(JobKind k) {
        return k >= 0 && k < _JOB_KIND_MAX ? kind_table[k] : NULL;
}

const char *job_state_to_string(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX ? state_table[s] : NULL;
}

JobState job_state_from_string(const char *s) {
        for (JobState i = 0; s && i < _JOB_STATE_MAX; i++)
                if (streq(state_table[i], s))
                        return i;
        return _JOB_STATE_INVALID;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_event_source_disable_unref(j->linger);
        sd_bus_slot_unref(j->pin_slot);
        provision_result_free(j->provision);
        install_work_free(j->install);
        free(j->path);
        free(j->order_reference);
        free(j->order_path);
        free(j->token_serial);
        free(j->token_path);
        free(j->result);
        free(j->error_message);
        free(j->actor_name);
        free(j->requester);
        free(j);
        return NULL;
}

static void job_unlink(Manager *m, Job *j) {
        if (j->prev)
                j->prev->next = j->next;
        else
                m->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->next = j->prev = NULL;
}

static void job_link(Manager *m, Job *j) {
        Job **p = &m->jobs, *prev = NULL;

        while (*p) {
                prev = *p;
                p = &(*p)->next;
        }
        *p = j;
        j->prev = prev;
}

Job *job_find(Manager *m, uint64_t id) {
        for (Job *j = m->jobs; j; j = j->next)
                if (j->id == id)
                        return j;
        return NULL;
}

Job *job_find_active_for_token(Manager *m, const char *serial) {
        for (Job *j = m->jobs; j; j = j->next)
                if (!job_state_is_final(j->state) && streq_ptr(j->token_serial, serial))
                        return j;
        return NULL;
}

Job *job_find_active_for_order(Manager *m, const char *reference) {
        for (Job *j = m->jobs; j; j = j->next)
                if (!job_state_is_final(j->state) && streq_ptr(j->order_reference, reference))
                        return j;
        return NULL;
}

bool job_token_busy(Manager *m, const char *serial) {
        return !isempty(serial) && job_find_active_for_token(m, serial);
}

static StoreActor job_actor(Job *j) {
        return (StoreActor) { .uid = j->actor_uid, .name = j->actor_name };
}

static const StoreActor *job_actor_ptr(Job *j, StoreActor *buf) {
        if (!j->actor_name)
                return NULL;
        *buf = job_actor(j);
        return buf;
}

/* The store first, then the bus: a crash in between loses no state. */
static void job_commit(Job *j) {
        StoreActor a;
        StoreError e = {};
        StoreJob sj = {
                .id = j->id,
                .kind = (char *) j->kind_string,
                .token_serial = j->token_serial,
                .order_reference = j->order_reference,
                .state = (char *) j->state_string,
                .stage = isempty(j->stage) ? NULL : (char *) j->stage,
                .percent = j->percent,
                .result = isempty(j->result) ? NULL : j->result,
                .error_message = isempty(j->error_message) ? NULL : j->error_message,
        };
        int r;

        r = store_job_update(j->manager->store, job_actor_ptr(j, &a), &sj, &e);
        if (r < 0)
                log_warning_errno(r, "Failed to record job %" PRIu64 ": %s", j->id, e.message);
        bus_job_emit_changed(j);
}

static void job_set(Job *j, JobState state, const char *stage, unsigned percent) {
        j->state = state;
        j->state_string = job_state_to_string(state);
        if (stage)
                j->stage = stage;
        j->percent = percent;
        job_commit(j);
}

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        Manager *m = j->manager;

        bus_job_emit_removed(j);
        job_unlink(m, j);
        job_free(j);
        return 0;
}

static void token_mark(Manager *m, const char *serial, bool busy);
static void start_waiting_installs(Manager *m, Token *t, const char *skip_reference);

static Token *token_by_serial(Manager *m, const char *serial) {
        for (Token *t = m->tokens; t; t = t->next)
                if (!isempty(serial) && streq_ptr(t->serial, serial))
                        return t;
        return NULL;
}

/* result: NULL for success, else an error name; message for people. */
static void job_finish(Job *j, JobState state, const char *result, const char *message) {
        Manager *m = j->manager;
        int r;

        (void) free_and_strdup(&j->result, result ?: "ok");
        (void) free_and_strdup(&j->error_message, strempty(message));
        j->finished_usec = now_usec(CLOCK_REALTIME);
        j->stage = "";
        job_set(j, state, NULL, state == JOB_DONE ? 100 : j->percent);

        if (state == JOB_DONE)
                log_info("Job %" PRIu64 " (%s %s on token %s) done.", j->id, j->kind_string,
                         strna(j->order_reference), strna(j->token_serial));
        else
                log_warning("Job %" PRIu64 " (%s %s on token %s) %s: %s", j->id, j->kind_string,
                            strna(j->order_reference), strna(j->token_serial), j->state_string, strempty(message));

        r = sd_event_add_time_relative(m->event, &j->linger, CLOCK_MONOTONIC, m->config.job_linger_usec, 0,
                                       on_linger, j);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the removal of %s: %m", j->path);

        /* The token shows what the job did (new key, certificate) and is
         * no longer busy: a scan says so. */
        token_mark(m, j->token_serial, false);
        registry_request_scan(m, "job finished");

        /* Installs that waited for this job go now; an install that just
         * failed waits for the token's next insertion, or it would be
         * retried at once, forever. */
        Token *t = token_by_serial(m, j->token_serial);
        if (t)
                start_waiting_installs(m, t, j->kind == JOB_INSTALL && state != JOB_DONE ? j->order_reference : NULL);

        if (j->on_finished)
                j->on_finished(j, j->on_finished_userdata);
}

static int job_new(Manager *m, JobKind kind, DaemonOrder *o, Token *t, sd_bus_message *call, Job **ret,
                   sd_bus_error *error) {
        _cleanup_(job_freep) Job *j = NULL;
        StoreError e = {};
        StoreActor a;
        int r;

        j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        j->manager = m;
        j->kind = kind;
        j->kind_string = job_kind_to_string(kind);
        j->state = JOB_QUEUED;
        j->state_string = job_state_to_string(JOB_QUEUED);
        j->stage = "";
        j->order_reference = strdup(o->order->reference);
        j->order_path = strdup(o->path);
        j->token_serial = strdup(t->serial);
        j->token_path = strdup(t->path);
        j->result = strdup("");
        j->error_message = strdup("");
        if (!j->order_reference || !j->order_path || !j->token_serial || !j->token_path || !j->result ||
            !j->error_message)
                return -ENOMEM;
        j->started_usec = now_usec(CLOCK_REALTIME);

        if (call) {
                r = bus_actor_from_message(call, &a, &j->actor_name);
                if (r < 0)
                        return bus_error_set_errno(error, r, "Cannot identify the caller: %s", strerror(-r));
                j->actor_uid = a.uid;
                if (sd_bus_message_get_sender(call)) {
                        j->requester = strdup(sd_bus_message_get_sender(call));
                        if (!j->requester)
                                return -ENOMEM;
                }
        }

        StoreJob sj = {
                .kind = (char *) j->kind_string,
                .token_serial = j->token_serial,
                .order_reference = j->order_reference,
                .state = (char *) j->state_string,
        };
        r = store_job_add(m->store, job_actor_ptr(j, &a), &sj, &j->id, &e);
        if (r < 0)
                return bus_error_set_errno(error, r, "Cannot record the job: %s", e.message);
        if (asprintf(&j->path, JETON_JOB_PREFIX "/%" PRIu64, j->id) < 0) {
                j->path = NULL;
                return -ENOMEM;
        }

        job_link(m, j);
        bus_job_emit_added(j);
        token_mark(m, j->token_serial, true);
        *ret = TAKE_PTR(j);
        return 0;
}

static void token_mark(Manager *m, const char *serial, bool busy) {
        Token *t = token_by_serial(m, serial);
        char *props[] = { (char *) "State", NULL };

        if (!t || !busy)
                return;         /* leaving busy: the scan that follows recomputes the state */
        if (streq_ptr(t->state, "busy"))
                return;
        t->state = "busy";
        bus_token_emit_changed(t, props);
}

/* ---- token resolution ---------------------------------------------------- */

static bool token_usable(const Token *t) {
        return !isempty(t->serial) && !streq_ptr(t->state, "unsupported");
}

static void pad_field(unsigned char *field, size_t size, const char *value) {
        memset(field, ' ', size);
        if (value) {
                size_t n = strlen(value);

                memcpy(field, value, n < size ? n : size);
        }
}

static bool token_matches_uri(const Token *t, const char *spec) {
        P11KitUri *uri = p11_kit_uri_new();
        CK_TOKEN_INFO info = {};
        bool match = false;

        if (!uri)
                return false;
        if (p11_kit_uri_parse(spec, P11_KIT_URI_FOR_TOKEN, uri) == P11_KIT_URI_OK) {
                /* Fill the fields a URI names tokens by. */
                pad_field(info.label, sizeof(info.label), t->label);
                pad_field(info.manufacturerID, sizeof(info.manufacturerID), t->manufacturer);
                pad_field(info.model, sizeof(info.model), t->model);
                pad_field(info.serialNumber, sizeof(info.serialNumber), t->serial);
                match = p11_kit_uri_match_token_info(uri, &info);
        }
        p11_kit_uri_free(uri);
        return match;
}

int job_resolve_token(Manager *m, const char *spec, Token **ret, sd_bus_error *error) {
        Token *found = NULL;
        unsigned n = 0;

        for (Token *t = m->tokens; t; t = t->next) {
                bool match;

                if (!token_usable(t))
                        continue;
                if (isempty(spec))
                        match = true;
                else if (spec[0] == '/')
                        match = streq(t->path, spec);
                else if (strncmp(spec, "pkcs11:", 7) == 0)
                        match = token_matches_uri(t, spec);
                else
                        match = streq_ptr(t->serial, spec) || streq_ptr(t->label, spec);
                if (match) {
                        if (!found)
                                found = t;
                        n++;
                }
        }

        if (n == 0)
                return sd_bus_error_setf(error, JETON_ERROR_NOT_FOUND, isempty(spec) ? "No token is present.%s" :
                                         "No token '%s' is present.", strempty(spec)),
                       -ENOENT;
        if (n > 1)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "%u tokens match '%s': name one by serial, label or object path.", n,
                                         strempty(spec)),
                       -EINVAL;
        *ret = found;
        return 0;
}

/* ---- failures -------------------------------------------------------------- */

static const char *error_name_of(const JP11Error *e) {
        if (e->kind == JP11_ERR_TOKEN_REMOVED || e->kind == JP11_ERR_NO_TOKEN)
                return JETON_ERROR_TOKEN_REMOVED;
        return bus_error_name_from_jp11(e->kind);
}

static void job_fail_jp11(Job *j, const char *what, const JP11Error *e, const JP11PinState *pin) {
        _cleanup_free_ char *message = NULL;
        const char *name = error_name_of(e);

        if (e->kind == JP11_ERR_TOKEN_REMOVED || e->kind == JP11_ERR_NO_TOKEN)
                message = strprintf("Token %s was removed while %s: %s", strna(j->token_serial), what,
                                e->message);
        else if (pin && (e->kind == JP11_ERR_PIN_INCORRECT || e->kind == JP11_ERR_PIN_LOCKED ||
                         e->kind == JP11_ERR_PIN_FINAL_TRY)) {
                _cleanup_strv_free_ char **flags = NULL;
                _cleanup_free_ char *joined = NULL;
                size_t len = 0;

                if (token_pin_flags(pin, &flags) >= 0)
                        for (char **f = flags; *f; f++)
                                len += strlen(*f) + 2;
                joined = calloc(1, len + 1);
                if (joined && flags)
                        for (char **f = flags; *f; f++) {
                                if (f != flags)
                                        strcat(joined, ", ");
                                strcat(joined, *f);
                        }
                message = strprintf("%s (PIN flags now: %s)", e->message,
                                isempty(joined) ? "none" : joined);
        } else
                message = strprintf("%s failed: %s", what, e->message);

        job_finish(j, JOB_FAILED, name, message ?: e->message);
}

/* ---- provisioning ---------------------------------------------------------- */

static void provision_work(void *userdata) {
        Job *j = userdata;

        provision_run_step(j->provision);
}

static void provision_done(void *userdata, bool cancelled);

static void provision_submit(Job *j, ProvisionStep step, unsigned percent) {
        int r;

        /* Cancel takes effect between steps; a session that may be open
         * is closed on the worker. */
        if (j->cancel_requested && step != PROVISION_CLOSE) {
                if (step == PROVISION_PROBE || step == PROVISION_LOGIN) {
                        job_finish(j, JOB_CANCELLED, "cancelled", "Cancelled.");
                        return;
                }
                step = PROVISION_CLOSE;
        }

        j->provision->step = step;
        if (step != PROVISION_CLOSE)
                job_set(j, step == PROVISION_PROBE ? JOB_QUEUED : JOB_RUNNING, provision_step_to_string(step),
                        percent);
        r = token_worker_submit(j->manager, j->token_serial, provision_work, provision_done, j);
        if (r < 0) {
                _cleanup_free_ char *message = NULL;

                message = strprintf("Cannot queue the work on token %s: %s", j->token_serial, strerror(-r));
                job_finish(j, JOB_FAILED, JETON_ERROR_FAILED, message);
        }
}

static void on_pin(Job *j, int fd, const sd_bus_error *error) {
        if (fd < 0) {
                if (sd_bus_error_has_name(error, JETON_PIN_AGENT_ERROR_CANCELED))
                        job_finish(j, JOB_CANCELLED, JETON_PIN_AGENT_ERROR_CANCELED,
                                   "The PIN entry was cancelled.");
                else {
                        _cleanup_free_ char *message = NULL;

                        message = strprintf("The PIN agent did not give a PIN: %s",
                                        error && error->message ? error->message : "no answer");
                        job_finish(j, JOB_FAILED, JETON_ERROR_NO_AGENT, message);
                }
                return;
        }
        j->provision->pin_fd = fd;
        provision_submit(j, PROVISION_LOGIN, 10);
}

static void provision_after_probe(Job *j) {
        ProvisionResult *p = j->provision;
        _cleanup_strv_free_ char **flags = NULL;
        _cleanup_free_ char *reason = NULL;
        Token *t;
        int r;

        if (p->pin_state.locked)
                return job_finish(j, JOB_FAILED, JETON_ERROR_PIN_LOCKED,
                                  "The user PIN of the token is locked: it must be unblocked first.");
        if (p->pin_state.final_try && !j->confirm_final_try)
                return job_finish(j, JOB_FAILED, JETON_ERROR_PIN_FINAL_TRY,
                                  "The token allows one more PIN try only: a wrong PIN locks it. "
                                  "Run again with confirm-final-try set if you are sure of the PIN.");
        if (p->pin_state.pinpad) {
                p->pin_fd = -EBADF;
                return provision_submit(j, PROVISION_LOGIN, 10);
        }
        if (p->pin)     /* a batch's: no agent to ask */
                return provision_submit(j, PROVISION_LOGIN, 10);

        t = token_by_serial(j->manager, j->token_serial);
        if (token_pin_flags(&p->pin_state, &flags) < 0 ||
            asprintf(&reason, "provision %s", j->order_reference) < 0)
                return job_finish(j, JOB_FAILED, JETON_ERROR_FAILED, "Out of memory.");
        r = pin_agent_request(j->manager, j, j->token_path, t ? strempty(t->label) : p->info.label, reason, flags,
                              (uint32_t) (p->pin_state.min_len > UINT32_MAX ? 0 : p->pin_state.min_len),
                              (uint32_t) (p->pin_state.max_len > UINT32_MAX ? 0 : p->pin_state.max_len), on_pin);
        if (r == -ENOENT)
                return job_finish(j, JOB_FAILED, JETON_ERROR_NO_AGENT,
                                  "The caller registered no PIN agent to ask for the token's PIN "
                                  "(jetonctl provision is one).");
        if (r < 0)
                return job_finish(j, JOB_FAILED, JETON_ERROR_NO_AGENT, "Cannot ask the PIN agent for the PIN.");
        job_set(j, JOB_WAITING_FOR_PIN, "login", 5);
}

static void provision_commit(Job *j) {
        Manager *m = j->manager;
        ProvisionResult *p = j->provision;
        DaemonOrder *o = orders_find(m, j->order_reference);
        _cleanup_free_ char *hex = hexmem(p->id, p->id_len);
        StoreError e = {};
        StoreActor a;
        const char *csr_path = NULL;
        int r;

        if (!o)
                return job_finish(j, JOB_FAILED, JETON_ERROR_NOT_FOUND, "The order is gone.");
        if (!hex)
                return job_finish(j, JOB_FAILED, JETON_ERROR_FAILED, "Out of memory.");

        job_set(j, JOB_RUNNING, "store", 95);

        StoreKeyRecord key = {
                .key_id_hex = hex,
                .label = o->order->reference,
                .algorithm = p->profile->key_algorithm,
                .evidence = {
                        .local = p->evidence.local,
                        .always_sensitive = p->evidence.always_sensitive,
                        .never_extractable = p->evidence.never_extractable,
                        .token_manufacturer = p->info.manufacturer,
                        .token_model = p->info.model,
                        .token_serial = p->info.serial,
                },
        };
        r = orders_record_key(m, o, job_actor_ptr(j, &a), &key, p->csr_pem, &e);
        if (r < 0) {
                _cleanup_free_ char *message = NULL;

                message = strprintf("Cannot record the key of %s: %s", j->order_reference, e.message);
                return job_finish(j, JOB_FAILED, bus_error_name_from_errno(r), message);
        }
        r = orders_outbox_write(m, o, &csr_path);
        if (r < 0)
                log_warning_errno(r, "Failed to write the request of %s to the outbox: %m", j->order_reference);

        log_info("Order %s: key %s on token %s (%s), request %s.", j->order_reference, hex, j->token_serial,
                 p->reused ? "reused" : "generated", strna(csr_path));
        job_finish(j, JOB_DONE, NULL, NULL);
}

static void provision_done(void *userdata, bool cancelled) {
        Job *j = userdata;
        ProvisionResult *p = j->provision;

        if (cancelled)
                return;         /* shutting down: job_done() frees it */

        if (p->step == PROVISION_CLOSE)
                return job_finish(j, JOB_CANCELLED, "cancelled", "Cancelled.");

        if (p->r < 0) {
                static const char *const what[_PROVISION_STEP_MAX] = {
                        [PROVISION_PROBE] = "reading the token",
                        [PROVISION_LOGIN] = "logging in",
                        [PROVISION_GENERATE_KEY] = "generating the key",
                        [PROVISION_SIGN_REQUEST] = "signing the request",
                        [PROVISION_VERIFY_REQUEST] = "verifying the request",
                };
                DaemonOrder *o = orders_find(j->manager, j->order_reference);

                /* The key exists but the token's evidence does not satisfy
                 * the profile: that order cannot go on with this token. */
                if (o && p->error.kind == JP11_ERR_POLICY && p->step == PROVISION_GENERATE_KEY) {
                        StoreActor a;
                        StoreError e = {};

                        if (orders_fail(j->manager, o, job_actor_ptr(j, &a), "keygen", p->error.message, &e) < 0)
                                log_warning("Failed to mark order %s failed: %s", j->order_reference, e.message);
                }
                return job_fail_jp11(j, what[p->step], &p->error, &p->pin_state);
        }

        switch (p->step) {
        case PROVISION_PROBE:
                return provision_after_probe(j);
        case PROVISION_LOGIN:
                return provision_submit(j, PROVISION_GENERATE_KEY, 20);
        case PROVISION_GENERATE_KEY:
                return provision_submit(j, PROVISION_SIGN_REQUEST, 60);
        case PROVISION_SIGN_REQUEST:
                return provision_submit(j, PROVISION_VERIFY_REQUEST, 85);
        case PROVISION_VERIFY_REQUEST:
                if (j->cancel_requested)
                        return job_finish(j, JOB_CANCELLED, "cancelled", "Cancelled.");
                return provision_commit(j);
        default:
                return;
        }
}

/* pin (may be NULL: ask the agent) is taken over; actor (NULL: from call). */
static int provision_start(Manager *m, DaemonOrder *o, Token *t, bool confirm_final_try, sd_bus_message *call,
                           JP11Pin *pin, const StoreActor *actor, void (*on_finished)(Job *j, void *userdata),
                           void *userdata, Job **ret_job, char **ret_path, sd_bus_error *error) {
        _cleanup_(jp11_pin_freep) JP11Pin *batch_pin = pin;
        _cleanup_(provision_result_freep) ProvisionResult *p = NULL;
        _cleanup_free_ char *path = NULL, *render_error = NULL;
        const Order *order = o->order;
        const Profile *profile;
        JP11Module *module;
        Job *j;
        int r;

        if (!(order->state == ORDER_PENDING ||
              (order->state == ORDER_FAILED && streq_ptr(order->failed_step, "keygen"))))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE,
                                         "Order %s is %s: only a pending order (or one that failed at key "
                                         "generation) can be provisioned.",
                                         order->reference, order_state_to_string(order->state)),
                       -ESTALE;
        if (!t || !token_usable(t))
                return sd_bus_error_set(error, JETON_ERROR_NOT_FOUND, "The token is not present."), -ENOENT;
        if (job_find_active_for_token(m, t->serial))
                return sd_bus_error_setf(error, JETON_ERROR_BUSY, "A job is running on token %s.", t->serial),
                       -EBUSY;
        if (job_find_active_for_order(m, order->reference))
                return sd_bus_error_setf(error, JETON_ERROR_BUSY, "A job is running for order %s.",
                                         order->reference),
                       -EBUSY;
        profile = profiles_find(m, order->profile);
        if (!profile)
                return sd_bus_error_setf(error, JETON_ERROR_FAILED, "Profile %s of order %s is not loaded.",
                                         order->profile, order->reference),
                       -ENOENT;
        module = scanner_module(m->scanner, t->module);
        if (!module)
                return sd_bus_error_setf(error, JETON_ERROR_NOT_FOUND, "The module of token %s is not loaded.",
                                         t->serial),
                       -ENOENT;

        p = calloc(1, sizeof(ProvisionResult));
        if (!p)
                return -ENOMEM;
        p->pin_fd = -EBADF;
        p->module = module;
        p->profile = profile;
        p->confirm_final_try = confirm_final_try;
        p->serial = strdup(t->serial);
        p->manufacturer = strdup(strempty(t->manufacturer));
        p->order = order_dup(order);
        if (!p->serial || !p->manufacturer || !p->order)
                return -ENOMEM;
        r = profile_csr_spec(profile, p->order, &p->subject, &p->csr_spec, &render_error);
        if (r < 0)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "The request of order %s cannot be built: %s", order->reference,
                                         strna(render_error)),
                       r;

        if (order->state == ORDER_FAILED) {
                StoreError e = {};
                StoreActor a;
                _cleanup_free_ char *name = NULL;

                r = call ? bus_actor_from_message(call, &a, &name) : 0;
                if (r >= 0)
                        r = orders_set_state(m, o, call ? &a : actor, ORDER_PENDING, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, JETON_ERROR_FAILED, "Cannot retry order %s: %s",
                                                 order->reference, e.message),
                               r;
        }

        r = job_new(m, JOB_PROVISION, o, t, call, &j, error);
        if (r < 0)
                return r;
        j->confirm_final_try = confirm_final_try;
        p->pin = TAKE_PTR(batch_pin);
        j->provision = TAKE_PTR(p);
        if (!call && actor) {
                j->actor_uid = actor->uid;
                j->actor_name = strdup(strempty(actor->name));
                if (!j->actor_name)
                        return -ENOMEM;
        }
        j->on_finished = on_finished;
        j->on_finished_userdata = userdata;

        if (ret_path) {
                path = strdup(j->path);
                if (!path)
                        return -ENOMEM;
        }
        log_info("Job %" PRIu64 ": provisioning order %s on token %s.", j->id, j->order_reference, j->token_serial);
        if (ret_job)
                *ret_job = j;
        provision_submit(j, PROVISION_PROBE, 0);
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int job_start_provision(Manager *m, DaemonOrder *o, Token *t, bool confirm_final_try, sd_bus_message *call,
                        char **ret_path, sd_bus_error *error) {
        return provision_start(m, o, t, confirm_final_try, call, NULL, NULL, NULL, NULL, NULL, ret_path, error);
}

int job_start_provision_with_pin(Manager *m, DaemonOrder *o, Token *t, JP11Pin *pin, const StoreActor *actor,
                                 void (*on_finished)(Job *j, void *userdata), void *userdata, Job **ret,
                                 sd_bus_error *error) {
        return provision_start(m, o, t, false, NULL, pin, actor, on_finished, userdata, ret, NULL, error);
}

/* ---- installing ------------------------------------------------------------ */

static void install_work(void *userdata) {
        Job *j = userdata;

        install_run(j->install);
}

static void install_done(void *userdata, bool cancelled) {
        Job *j = userdata;
        InstallWork *w = j->install;
        DaemonOrder *o;
        StoreError e = {};
        StoreActor a;
        int r;

        if (cancelled)
                return;
        if (w->r < 0)
                /* The order stays in certificate-received: the next
                 * insertion of the token tries again. */
                return job_fail_jp11(j, "writing the certificate", &w->error, NULL);

        o = orders_find(j->manager, j->order_reference);
        if (!o)
                return job_finish(j, JOB_FAILED, JETON_ERROR_NOT_FOUND, "The order is gone.");
        job_set(j, JOB_RUNNING, "store", 90);
        r = orders_mark_installed(j->manager, o, job_actor_ptr(j, &a), &e);
        if (r < 0) {
                _cleanup_free_ char *message = NULL;

                message = strprintf("Cannot record the installation of %s: %s", j->order_reference,
                                e.message);
                return job_finish(j, JOB_FAILED, bus_error_name_from_errno(r), message);
        }
        log_info("Order %s: certificate installed on token %s (%s, %u authority certificate(s) added).",
                 j->order_reference, j->token_serial, w->result.leaf_written ? "written" : "already there",
                 w->result.ca_written);
        job_finish(j, JOB_DONE, NULL, NULL);
}

static int install_job_start(Manager *m, DaemonOrder *o, Token *t, sd_bus_message *call, Job **ret,
                             sd_bus_error *error) {
        _cleanup_(install_work_freep) InstallWork *w = NULL;
        JP11Module *module;
        JP11Error e = {};
        Job *j;
        int r;

        if (job_find_active_for_token(m, t->serial))
                return sd_bus_error_setf(error, JETON_ERROR_BUSY, "A job is running on token %s.", t->serial),
                       -EBUSY;
        module = scanner_module(m->scanner, t->module);
        if (!module)
                return sd_bus_error_setf(error, JETON_ERROR_NOT_FOUND, "The module of token %s is not loaded.",
                                         t->serial),
                       -ENOENT;

        w = calloc(1, sizeof(InstallWork));
        if (!w)
                return -ENOMEM;
        w->module = module;
        w->serial = strdup(t->serial);
        w->manufacturer = strdup(strempty(t->manufacturer));
        w->label = strdup(o->order->reference);
        if (!w->serial || !w->manufacturer || !w->label)
                return -ENOMEM;
        r = jp11_cert_bundle_parse((const uint8_t *) o->order->certificate_pem, strlen(o->order->certificate_pem),
                                   &w->bundle, &e);
        if (r < 0)
                return sd_bus_error_setf(error, JETON_ERROR_CERTIFICATE_INVALID,
                                         "The stored certificate of %s cannot be read: %s", o->order->reference,
                                         e.message),
                       r;

        r = job_new(m, JOB_INSTALL, o, t, call, &j, error);
        if (r < 0)
                return r;
        j->install = TAKE_PTR(w);
        job_set(j, JOB_RUNNING, "write-certificate", 10);
        r = token_worker_submit(m, j->token_serial, install_work, install_done, j);
        if (r < 0) {
                job_finish(j, JOB_FAILED, JETON_ERROR_FAILED, "Cannot queue the work on the token.");
                return sd_bus_error_set(error, JETON_ERROR_FAILED, "Cannot queue the work on the token."), r;
        }
        log_info("Job %" PRIu64 ": installing the certificate of %s on token %s.", j->id, j->order_reference,
                 j->token_serial);
        *ret = j;
        return 0;
}

static const char *refusal_name(InstallRefusal r) {
        switch (r) {
        case INSTALL_MISMATCH:
                return JETON_ERROR_CERTIFICATE_MISMATCH;
        case INSTALL_EXPIRED:
                return JETON_ERROR_CERTIFICATE_EXPIRED;
        case INSTALL_STATE:
                return JETON_ERROR_INVALID_STATE;
        default:
                return JETON_ERROR_CERTIFICATE_INVALID;
        }
}

int job_install_data(Manager *m, DaemonOrder *o, const uint8_t *data, size_t size, sd_bus_message *call,
                     char **ret_path, sd_bus_error *error) {
        _cleanup_free_ char *message = NULL, *actor_name = NULL;
        JP11CertBundle bundle = {};
        InstallRecord rec = {};
        InstallRefusal refusal;
        StoreError e = {};
        StoreActor a, *ap = NULL;
        Token *t;
        Job *j;
        int r;

        if (o->order->state != ORDER_KEY_GENERATED && o->order->state != ORDER_SUBMITTED)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE,
                                         "Order %s is %s: a certificate is accepted only once its request "
                                         "exists and before it is installed.",
                                         o->order->reference, order_state_to_string(o->order->state)),
                       -ESTALE;

        r = install_validate(o->order, data, size, time(NULL), &bundle, &refusal, &message);
        if (r < 0)
                return sd_bus_error_set(error, refusal_name(refusal), message ?: "The certificate is refused."), r;

        r = install_record_from_bundle(&bundle, &rec);
        jp11_cert_bundle_clear(&bundle);
        if (r < 0)
                return sd_bus_error_set(error, JETON_ERROR_CERTIFICATE_INVALID, "The certificate cannot be encoded."),
                       r;

        if (call) {
                r = bus_actor_from_message(call, &a, &actor_name);
                if (r >= 0)
                        ap = &a;
        }
        StoreCertificateRecord cert = {
                .pem = rec.pem,
                .der = rec.der,
                .der_size = rec.der_size,
                .serial_hex = rec.serial_hex,
                .not_after_usec = rec.not_after_usec,
        };
        r = orders_record_certificate(m, o, ap, &cert, &e);
        install_record_done(&rec);
        if (r < 0)
                return sd_bus_error_setf(error, bus_error_name_from_errno(r), "Cannot record the certificate of %s: %s",
                                         o->order->reference, e.message),
                       r;
        log_info("Order %s: certificate received.", o->order->reference);

        t = token_by_serial(m, o->order->evidence.token_serial);
        if (!t || job_find_active_for_token(m, t->serial)) {
                /* Installed when the token is next inserted (or free). */
                *ret_path = strdup("/");
                return *ret_path ? 0 : -ENOMEM;
        }
        r = install_job_start(m, o, t, call, &j, error);
        if (r < 0)
                return r;
        *ret_path = strdup(j->path);
        return *ret_path ? 0 : -ENOMEM;
}

int job_start_install(Manager *m, DaemonOrder *o, int fd, sd_bus_message *call, char **ret_path,
                      sd_bus_error *error) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        /* On the event loop: our own non-blocking description, so a client
         * can never make this read wait. */
        _cleanup_(closep) int nfd = fd_reopen_nonblock(fd);
        if (nfd == -EBADFD)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The certificate must come from a file or a pipe."),
                       nfd;
        if (nfd < 0)
                return sd_bus_error_setf(error, JETON_ERROR_CERTIFICATE_INVALID, "Cannot read the certificate: %s",
                                         strerror(-nfd)),
                       nfd;
        r = install_read_fd(nfd, &data, &size);
        if (r == -EAGAIN)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The certificate is not all there: pass a file, or a pipe whose writer "
                                        "has written everything and closed it."),
                       r;
        if (r < 0)
                return sd_bus_error_setf(error, JETON_ERROR_CERTIFICATE_INVALID, "Cannot read the certificate: %s",
                                         strerror(-r)),
                       r;
        return job_install_data(m, o, data, size, call, ret_path, error);
}

static void start_waiting_installs(Manager *m, Token *t, const char *skip_reference) {
        if (!token_usable(t))
                return;
        for (DaemonOrder *o = m->orders; o; o = o->next) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                Job *j;

                if (o->order->state != ORDER_CERTIFICATE_RECEIVED ||
                    !streq_ptr(o->order->evidence.token_serial, t->serial) ||
                    streq_ptr(o->order->reference, skip_reference))
                        continue;
                if (job_find_active_for_token(m, t->serial))
                        return;
                if (install_job_start(m, o, t, NULL, &j, &error) < 0)
                        log_warning("Cannot install the certificate of %s on token %s: %s", o->order->reference,
                                    t->serial, strna(error.message));
        }
}

void job_on_token_added(Manager *m, Token *t) {
        start_waiting_installs(m, t, NULL);
}

void job_on_token_removed(Manager *m, Token *t) {
        for (Job *j = m->jobs; j; j = j->next)
                if (streq_ptr(j->token_path, t->path) && !job_state_is_final(j->state)) {
                        (void) free_and_strdup(&j->token_path, "/");
                        if (j->state == JOB_WAITING_FOR_PIN) {
                                _cleanup_free_ char *message = NULL;

                                pin_agent_cancel(m, j, t->path);
                                message = strprintf("Token %s was removed while waiting for the PIN.",
                                                j->token_serial);
                                job_finish(j, JOB_FAILED, JETON_ERROR_TOKEN_REMOVED, message);
                        } else
                                bus_job_emit_changed(j);
                }
}

int job_cancel(Job *j, sd_bus_error *error) {
        if (job_state_is_final(j->state))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE, "Job %" PRIu64 " is %s already.", j->id,
                                         j->state_string),
                       -ESTALE;
        j->cancel_requested = true;
        if (j->state == JOB_WAITING_FOR_PIN) {
                pin_agent_cancel(j->manager, j, j->token_path);
                job_finish(j, JOB_CANCELLED, "cancelled", "Cancelled.");
        }
        return 0;
}

int job_recover(Manager *m) {
        StoreJob **jobs = NULL;
        StoreError e = {};
        size_t n = 0;
        int r;

        r = store_job_list(m->store, NULL, &jobs, &n, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to read the jobs: %s", e.message);
        for (size_t i = 0; i < n; i++) {
                StoreJob *sj = jobs[i];
                JobState s = job_state_from_string(sj->state);

                if (s < 0 || job_state_is_final(s))
                        continue;
                log_notice("Job %" PRIu64 " (%s of %s on token %s) was %s when jetond stopped: marked failed.",
                           sj->id, sj->kind, strna(sj->order_reference), strna(sj->token_serial), sj->state);
                free(sj->state);
                free(sj->result);
                free(sj->error_message);
                sj->state = strdup("failed");
                sj->result = strdup(JETON_ERROR_FAILED);
                sj->error_message = strdup("interrupted: jetond restarted");
                if (!sj->state || !sj->result || !sj->error_message) {
                        r = log_oom();
                        break;
                }
                r = store_job_update(m->store, NULL, sj, &e);
                if (r < 0)
                        log_warning_errno(r, "Failed to record job %" PRIu64 " as failed: %s", sj->id, e.message);
        }
        store_job_list_free(jobs);
        return r == -ENOMEM ? r : 0;
}

void job_done(Manager *m) {
        /* The workers first: nothing runs on a job freed below. */
        token_workers_free(m);
        while (m->jobs) {
                Job *j = m->jobs;

                job_unlink(m, j);
                job_free(j);
        }
        pin_agents_free(m);
}
