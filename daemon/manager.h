/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The context of jetond: one struct that owns every resource. Everything
 * in here belongs to the event loop's thread, except the Scanner, whose
 * slot of each module only that module's scan worker touches once created
 * (and scanner_module() reads). */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "module-scan.h"
#include "pcsc-watch.h"
#include "registry.h"
#include "scan.h"
#include "udev-watch.h"
#include "worker.h"

#define JETON_BUS_NAME "org.jeton.Jeton1"
#define JETON_OBJECT_ROOT "/org/jeton/Jeton1"
#define JETON_TOKEN_PREFIX "/org/jeton/Jeton1/token"
#define JETON_MANAGER_INTERFACE "org.jeton.Jeton1.Manager"
#define JETON_TOKEN_INTERFACE "org.jeton.Jeton1.Token"

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        Config config;
        const char *version;

        PcscWatch *pcsc;
        UdevWatch *udev;
        Scanner *scanner;               /* the scan workers' threads; scanner_module() */
        ModuleScan *module_scans;       /* one per module, in Modules= order (module-scan.h) */
        size_t n_module_scans;

        /* What the loop knows, as published on the bus. */
        bool pcsc_seen;                 /* a first snapshot arrived */
        bool pcsc_available;
        Reader *readers;
        size_t n_readers;
        Token *tokens;                  /* linked list */

        bool ready;                     /* the bus name is requested */

        sd_bus_slot *slot_object_manager, *slot_manager, *slot_tokens, *slot_token_enumerator;

        /* Orders and profiles (orders.h, profiles.h). */
        struct Store *store;            /* daemon/store/store.h */
        struct ProfileSet *profiles;    /* never NULL once loaded */
        char **profile_errors;          /* "file:line: message", Manager.ProfileErrors */
        struct DaemonOrder *orders;     /* linked list, oldest first */
        struct DaemonOrder *orders_tail;
        sd_bus_slot *slot_orders, *slot_order_enumerator;

        /* Jobs, their token workers, PIN agents, the inbox (job.h,
         * token-worker.h, pin-agent.h, inbox.h). */
        struct Job *jobs;               /* linked list, by id */
        struct TokenWorker *token_workers;
        struct PinAgent *pin_agents;    /* the most recently registered first */
        struct Inbox *inbox;
        Worker *audit_worker;           /* audit-verify.h, started on first use */
        sd_bus_slot *slot_jobs, *slot_job_enumerator;

        /* Batches (batch.h), oldest first; at most one running or paused. */
        struct Batch *batches;
        sd_bus_slot *slot_batches, *slot_batch_enumerator;
} Manager;

/* Requests the bus name and tells systemd we are ready, once: called when
 * every module's first scan that saw pcscd's state has been published, or
 * the module does not answer (registry.h). */
void manager_set_ready(Manager *m);
