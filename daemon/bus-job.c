/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "authorize.h"
#include "bus-job.h"
#include "log.h"
#include "manager.h"
#include "util.h"

static int job_cancel_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Job *j = job_find(m, (uint64_t) (uintptr_t) userdata);
        int r;

        if (!j)
                return sd_bus_error_set(error, "org.jeton.Jeton1.Error.NotFound", "The job is gone.");
        r = job_cancel(j, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Job *j = userdata;

        /* Cancelling needs the right to do what the job does. */
        return authorize(j->manager, message, j->kind == JOB_INSTALL ? JETON_ACTION_INSTALL : JETON_ACTION_PROVISION,
                         job_cancel_authorized, (void *) (uintptr_t) j->id, NULL);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Kind", "s", NULL, offsetof(Job, kind_string), CONST),
        SD_BUS_PROPERTY("Order", "o", NULL, offsetof(Job, order_path), CONST),
        SD_BUS_PROPERTY("Token", "o", NULL, offsetof(Job, token_path), EMITS),
        SD_BUS_PROPERTY("TokenSerial", "s", NULL, offsetof(Job, token_serial), EMITS),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(Job, state_string), EMITS),
        SD_BUS_PROPERTY("Stage", "s", NULL, offsetof(Job, stage), EMITS),
        SD_BUS_PROPERTY("Percent", "u", NULL, offsetof(Job, percent), EMITS),
        SD_BUS_PROPERTY("Result", "s", NULL, offsetof(Job, result), EMITS),
        SD_BUS_PROPERTY("Error", "s", NULL, offsetof(Job, error_message), EMITS),
        SD_BUS_PROPERTY("Started", "t", NULL, offsetof(Job, started_usec), CONST),
        SD_BUS_PROPERTY("Finished", "t", NULL, offsetof(Job, finished_usec), EMITS),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                           void **found, sd_bus_error *error) {
        Manager *m = userdata;
        const char *p;
        char *end;
        uint64_t id;
        Job *j;

        if (strncmp(path, JETON_JOB_PREFIX "/", sizeof(JETON_JOB_PREFIX)) != 0)
                return 0;
        p = path + sizeof(JETON_JOB_PREFIX);
        if (*p < '0' || *p > '9')
                return 0;
        errno = 0;
        id = strtoull(p, &end, 10);
        if (errno != 0 || *end)
                return 0;
        j = job_find(m, id);
        if (!j || !j->published)
                return 0;
        *found = j;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                               sd_bus_error *error) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        Manager *m = userdata;

        if (!l)
                return -ENOMEM;
        for (Job *j = m->jobs; j; j = j->next)
                if (j->published && strv_extend(&l, j->path) < 0)
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

int bus_job_setup(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->slot_jobs, JETON_JOB_PREFIX, JETON_JOB_INTERFACE, job_vtable,
                                       job_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the job vtable: %m");
        r = sd_bus_add_node_enumerator(m->bus, &m->slot_job_enumerator, JETON_JOB_PREFIX, job_node_enumerator, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the job enumerator: %m");
        return 0;
}

void bus_job_emit_added(Job *j) {
        int r;

        j->published = true;
        if (!j->manager->bus)
                return;
        r = sd_bus_emit_interfaces_added(j->manager->bus, j->path, JETON_JOB_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce %s: %m", j->path);
}

void bus_job_emit_removed(Job *j) {
        int r;

        if (!j->published || !j->manager->bus)
                return;
        r = sd_bus_emit_interfaces_removed(j->manager->bus, j->path, JETON_JOB_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce the removal of %s: %m", j->path);
        j->published = false;
}

void bus_job_emit_changed(Job *j) {
        int r;

        if (!j->published || !j->manager->bus)
                return;
        r = sd_bus_emit_properties_changed(j->manager->bus, j->path, JETON_JOB_INTERFACE, "Token", "TokenSerial",
                                           "State", "Stage", "Percent", "Result", "Error", "Finished", NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce changes of %s: %m", j->path);
}
