/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Jobs: one operation on one token (provision = login + key + request;
 * install = write the certificate), run on that token's worker thread
 * (token-worker.h), announced as org.jeton.Jeton1.Job objects (bus-job.h)
 * and persisted in the store (store_job_*) before every announcement.
 *
 * The loop thread owns every Job. A job's steps run on the worker; between
 * steps the worker looks at the cancel flag (Job.Cancel), never in the
 * middle of a PKCS#11 call. Results come back to the loop, which commits
 * them to the store (orders.h) and only then emits the signals.
 *
 * Entry points for bus-order.c (Order.Provision / Order.Install): the
 * caller has already checked authorisation; these check the order's state
 * and the token, start the job and return its object path. Errors are set
 * on *error as the named org.jeton.Jeton1.Error.* errors of the D-Bus
 * contract, and the negative errno is returned. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Manager Manager;
typedef struct Token Token;
typedef struct DaemonOrder DaemonOrder;         /* orders.h */
typedef struct ProvisionResult ProvisionResult; /* provision.h */
typedef struct InstallWork InstallWork;         /* install.h */
typedef struct JP11Pin JP11Pin;                 /* p11-pin.h */
typedef struct StoreActor StoreActor;           /* store.h */

#define JETON_JOB_PREFIX "/org/jeton/Jeton1/job"
#define JETON_JOB_INTERFACE "org.jeton.Jeton1.Job"

/* A finished job stays on the bus for JobLingerSec= (config.h), then its
 * object goes. */

typedef enum JobKind {
        JOB_PROVISION,
        JOB_INSTALL,
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -1,
} JobKind;

typedef enum JobState {
        JOB_QUEUED,
        JOB_WAITING_FOR_PIN,
        JOB_RUNNING,
        JOB_DONE,
        JOB_FAILED,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -1,
} JobState;

/* "provision", "install" */
const char *job_kind_to_string(JobKind k);
/* "queued", "waiting-for-pin", "running", "done", "failed", "cancelled" */
const char *job_state_to_string(JobState s);
JobState job_state_from_string(const char *s);
static inline bool job_state_is_final(JobState s) {
        return s == JOB_DONE || s == JOB_FAILED || s == JOB_CANCELLED;
}

typedef struct Job Job;
struct Job {
        Manager *manager;
        Job *next, *prev;

        uint64_t id;                    /* from the store */
        char *path;                     /* JETON_JOB_PREFIX "/<id>" */
        JobKind kind;
        JobState state;

        /* Read by sd-bus through offsetof(): keep the types in line with
         * the signatures in bus-job.c. */
        const char *kind_string;
        char *order_reference;
        char *order_path;               /* "/" when none */
        char *token_serial;
        char *token_path;               /* "/" once the token is gone */
        const char *state_string;
        const char *stage;              /* "" when idle */
        uint32_t percent;
        char *result;                   /* "" | "ok" | error name */
        char *error_message;
        uint64_t started_usec;
        uint64_t finished_usec;

        bool confirm_final_try;
        bool cancel_requested;          /* read by the worker between steps (atomic) */
        bool published;                 /* the object is on the bus */
        bool ref_worker;                /* counted in the token worker's busy count */

        sd_event_source *linger;        /* removes the object after JobLingerSec= */
        sd_bus_slot *pin_slot;          /* RequestPin in flight (pin-agent.c), or NULL */

        /* Who started it, for the audit log (NULL name: the daemon). */
        uid_t actor_uid;
        char *actor_name;
        /* The caller's unique bus name: only an agent registered from that
         * same connection is asked for this job's PIN. */
        char *requester;

        /* What the job carries between the loop and the worker. */
        ProvisionResult *provision;
        InstallWork *install;

        /* The batch engine's (batch.c): called last in the job's end. */
        void (*on_finished)(Job *j, void *userdata);
        void *on_finished_userdata;
};

Job *job_free(Job *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Job *, job_free);

Job *job_find(Manager *m, uint64_t id);
/* A job that is not final on the token with this serial, or NULL. */
Job *job_find_active_for_token(Manager *m, const char *serial);
Job *job_find_active_for_order(Manager *m, const char *reference);

/* Resolves a token as Order.Provision names it: serial, label, object path
 * or PKCS#11 URI; "" = the only present token. NotFound / InvalidArgument
 * (several tokens, none named) on *error. */
int job_resolve_token(Manager *m, const char *spec, Token **ret, sd_bus_error *error);

/* Order.Provision: the order must be pending or failed at key generation
 * (InvalidState), the token present (NotFound) and idle (Busy). call is the
 * method call (for the audit actor); *ret_path (malloc'd) gets the job's
 * object path. */
int job_start_provision(Manager *m, DaemonOrder *o, Token *t, bool confirm_final_try,
                        sd_bus_message *call, char **ret_path, sd_bus_error *error);

/* A batch's provisioning (batch.c): as job_start_provision(), with the
 * user PIN the batch knows instead of a PIN agent's (pin is taken over in
 * every case and wiped after the login), actor (may be NULL) as who, and
 * on_finished(job, userdata) called when the job ends. *ret (may be NULL)
 * gets the job, owned by the engine. */
int job_start_provision_with_pin(Manager *m, DaemonOrder *o, Token *t, JP11Pin *pin,
                                 const StoreActor *actor, void (*on_finished)(Job *j, void *userdata),
                                 void *userdata, Job **ret, sd_bus_error *error);

/* Order.Install: reads the certificate (PEM, DER or PKCS#7) from fd (not
 * taken over), validates it against the order (CertificateInvalid /
 * CertificateMismatch / CertificateExpired / InvalidState), records it,
 * and starts an install job when the order's token is present: *ret_path
 * (malloc'd) is the job's path, or "/" when the order now waits for its
 * token. */
int job_start_install(Manager *m, DaemonOrder *o, int fd, sd_bus_message *call, char **ret_path,
                      sd_bus_error *error);

/* The same with the certificate's bytes (inbox.c); call NULL: the daemon. */
int job_install_data(Manager *m, DaemonOrder *o, const uint8_t *data, size_t size, sd_bus_message *call,
                     char **ret_path, sd_bus_error *error);

/* Job.Cancel (also used by Order.Cancel): takes effect between steps. */
int job_cancel(Job *j, sd_bus_error *error);

/* At start, after the store is open and before the bus name is taken:
 * jobs the store says were queued or running when jetond died are marked
 * failed ("interrupted: jetond restarted"). */
int job_recover(Manager *m);

/* A token appeared (registry.c): starts install jobs for orders in
 * certificate-received whose key is on that token. */
void job_on_token_added(Manager *m, Token *t);
/* A token went away (registry.c): forgets the token's object path in the
 * jobs that name it (their PKCS#11 calls fail with TokenRemoved). */
void job_on_token_removed(Manager *m, Token *t);
/* Whether a job runs on the token (registry.c shows State "busy"). */
bool job_token_busy(Manager *m, const char *serial);

/* Shutdown: cancels what runs, frees everything without signals. */
void job_done(Manager *m);
