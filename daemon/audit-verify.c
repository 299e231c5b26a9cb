/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "audit-verify.h"
#include "bus-error.h"
#include "log.h"
#include "manager.h"
#include "store.h"
#include "util.h"
#include "worker.h"

typedef struct Verification {
        char *database;
        sd_bus_message *message;
        /* The worker's answer. */
        int r;
        bool intact;
        uint64_t first_bad;
        char *text;
} Verification;

static Verification *verification_free(Verification *v) {
        if (!v)
                return NULL;
        free(v->database);
        sd_bus_message_unref(v->message);
        free(v->text);
        free(v);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Verification *, verification_free);

/* The worker's thread: touches v and its own Store only. */
static void verify_work(void *userdata) {
        _cleanup_(store_closep) Store *s = NULL;
        _cleanup_free_ char *head_hash = NULL;
        Verification *v = userdata;
        StoreError error = {};
        uint64_t head_id = 0;
        int r;

        r = store_open(v->database, &s, &error);
        if (r >= 0)
                r = store_audit_verify(s, &v->first_bad, &error);
        if (r == -EBADMSG) {
                v->r = 0;
                v->intact = false;
                v->text = strdup(error.message);
                return;
        }
        if (r >= 0)
                r = store_audit_head(s, &head_id, &head_hash, &error);
        if (r < 0) {
                v->r = r;
                v->text = strdup(error.message);
                return;
        }
        v->r = 0;
        v->intact = true;
        if (asprintf(&v->text, "The audit log is intact: %" PRIu64 " record(s), last hash %s.", head_id,
                     head_hash) < 0)
                v->text = NULL;
}

static void verify_done(void *userdata, bool cancelled) {
        _cleanup_(verification_freep) Verification *v = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (cancelled)
                return;
        if (v->r >= 0 && !v->text)
                v->r = -ENOMEM;
        if (v->r < 0) {
                bus_error_set_errno(&error, v->r, "Cannot verify the audit log: %s", strna(v->text));
                r = sd_bus_reply_method_error(v->message, &error);
        } else {
                if (!v->intact)
                        log_warning("The audit log is broken at record %" PRIu64 ": %s", v->first_bad, v->text);
                r = sd_bus_reply_method_return(v->message, "bts", v->intact, v->first_bad, v->text);
        }
        if (r < 0)
                log_debug_errno(r, "Failed to answer VerifyAudit: %m");
}

int audit_verify_method(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(verification_freep) Verification *v = NULL;
        Manager *m = userdata;
        int r;

        if (!m->audit_worker) {
                r = worker_new(m->event, "jetond-audit", &m->audit_worker);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the audit verification thread: %m");
        }

        v = calloc(1, sizeof(Verification));
        if (!v || !(v->database = strdup(m->config.database)))
                return -ENOMEM;
        v->message = sd_bus_message_ref(message);

        r = worker_submit(m->audit_worker, verify_work, verify_done, v);
        if (r < 0)
                return r;
        TAKE_PTR(v);
        return 1;       /* answered by verify_done() */
}

void audit_verify_done(Manager *m) {
        m->audit_worker = worker_free(m->audit_worker);
}
