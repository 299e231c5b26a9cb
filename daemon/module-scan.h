/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One scan worker per configured PKCS#11 module, so that a module whose
 * call hangs (a vendor module, OpenSC on a wedged card) stalls its own
 * detection only. A scan request goes to every module; per module at most
 * one scan runs and requests meanwhile coalesce into one more after it.
 *
 * While a scan runs, a timer is armed for ModuleTimeoutSec=: a scan still
 * running then marks the module "not answering" (Manager.Modules, a
 * warning in the log) until it returns. Nothing is armed while idle.
 *
 * Results and the not-answering state go to the registry (registry.h),
 * which owns the fields marked as its own below. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "registry.h"
#include "scan.h"
#include "worker.h"

typedef struct Manager Manager;

typedef struct ModuleScan {
        Manager *manager;
        size_t index;                   /* in Modules= and in the Scanner */
        const char *path;               /* the Scanner's copy */
        Worker *worker;
        sd_event_source *timeout;       /* enabled only while a scan runs */

        bool running, pending;
        uint64_t started_usec;          /* the running scan's start, CLOCK_MONOTONIC */
        uint64_t started_realtime;      /* the same, CLOCK_REALTIME, for the message */
        bool stuck;                     /* the running scan is past ModuleTimeoutSec= */

        /* The registry's. */
        bool answered;                  /* a scan that saw pcscd's state was applied */
        bool known;                     /* status comes from a scan */
        ScanModule status;              /* Manager.Modules, with stuck */
        Token *candidates;              /* what its last applied scan shows: copies are published */
        Reader *seen;                   /* the readers when that scan was asked for */
        size_t n_seen;
        bool *covered;                  /* [n_seen]: one of its slots names that reader */
} ModuleScan;

typedef struct ScanJob {
        ModuleScan *module;
        Scanner *scanner;
        size_t index;
        Reader *readers;                /* as they were when the scan was asked for */
        size_t n_readers;
        bool pcsc_seen;
        ScanResult *result;
        int r;
} ScanJob;

/* One ModuleScan and worker per module of m->scanner. */
int module_scans_start(Manager *m);
/* Asks module ms for a scan (reason is for the debug log). */
void module_scan_request(ModuleScan *ms, const char *reason);
/* When the running scan started, "YYYY-MM-DD HH:MM:SS UTC". */
int module_scan_since(const ModuleScan *ms, char *buf, size_t size);

/* Stops the workers and frees the ModuleScans. A worker stuck in a module
 * call is waited for until its scan reaches ModuleTimeoutSec=, not longer:
 * it is then left behind (worker_free_until()) and false is returned; the
 * caller must not unload any module then. */
bool module_scans_stop(Manager *m);
