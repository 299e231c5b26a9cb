/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The context of jetond: one struct that owns every resource. Everything
 * in here belongs to the event loop's thread, except the Scanner, which
 * only the scan worker's thread touches once created. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
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
        Worker *scan_worker;
        Scanner *scanner;               /* scan worker's thread only */

        /* What the loop knows, as published on the bus. */
        bool pcsc_seen;                 /* a first snapshot arrived */
        bool pcsc_available;
        Reader *readers;
        size_t n_readers;
        ScanModule *modules;            /* Manager.Modules */
        size_t n_modules;
        bool modules_known;             /* a first scan has loaded (or failed) them */
        Token *tokens;                  /* linked list */

        /* Scans: at most one runs; requests meanwhile coalesce into one more. */
        bool scan_running, scan_pending;

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
 * the first scan that saw pcscd's state has been published. */
void manager_set_ready(Manager *m);
