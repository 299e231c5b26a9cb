/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "manager.h"
#include "module-scan.h"
#include "registry.h"
#include "util.h"

#define USEC_PER_SEC UINT64_C(1000000)

static ScanJob *scan_job_free(ScanJob *j) {
        if (!j)
                return NULL;
        readers_free(j->readers, j->n_readers);
        scan_result_free(j->result);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ScanJob *, scan_job_free);

/* The module's worker thread: touches the job and its module's slot of the
 * Scanner only. */
static void scan_work(void *userdata) {
        ScanJob *j = userdata;

        j->r = scanner_run_module(j->scanner, j->index, &j->result);
}

int module_scan_since(const ModuleScan *ms, char *buf, size_t size) {
        time_t t = (time_t) (ms->started_realtime / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                return -EINVAL;
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ModuleScan *ms = userdata;
        Manager *m = ms->manager;
        char since[64] = "?";

        if (!ms->running || ms->stuck)
                return 0;
        ms->stuck = true;
        (void) module_scan_since(ms, since, sizeof(since));
        /* Once per hang: the flag is cleared only when the scan returns. */
        log_warning("PKCS#11 module %s has not answered for %" PRIu64 " s (a scan started at %s is still in a call "
                    "into it): its tokens are not updated until it returns; the other modules go on.",
                    ms->path, m->config.module_timeout_usec / USEC_PER_SEC, since);
        registry_on_module_stuck(ms);
        return 0;
}

/* Armed for this scan's deadline; off again when the scan returns, so an
 * idle daemon has no timer. */
static int arm_timeout(ModuleScan *ms) {
        Manager *m = ms->manager;
        uint64_t when = ms->started_usec + m->config.module_timeout_usec;
        int r;

        if (!ms->timeout) {
                r = sd_event_add_time(m->event, &ms->timeout, CLOCK_MONOTONIC, when, 0, on_timeout, ms);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(ms->timeout, "module-timeout");
                return 0;
        }
        r = sd_event_source_set_time(ms->timeout, when);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(ms->timeout, SD_EVENT_ONESHOT);
}

static void scan_done(void *userdata, bool cancelled) {
        _cleanup_(scan_job_freep) ScanJob *j = userdata;
        ModuleScan *ms = j->module;
        bool was_stuck;

        if (cancelled)
                return;         /* shutting down: ms may be gone already */

        ms->running = false;
        if (ms->timeout)
                (void) sd_event_source_set_enabled(ms->timeout, SD_EVENT_OFF);
        was_stuck = ms->stuck;
        ms->stuck = false;
        if (was_stuck)
                log_info("PKCS#11 module %s answers again, after %" PRIu64 " s.", ms->path,
                         (now_usec(CLOCK_MONOTONIC) - ms->started_usec) / USEC_PER_SEC);
        if (j->r < 0)
                log_error_errno(j->r, "Scanning the PKCS#11 module %s failed: %m", ms->path);

        registry_on_module_scan(ms, j, was_stuck);

        if (ms->pending) {
                ms->pending = false;
                module_scan_request(ms, "queued");
        }
}

void module_scan_request(ModuleScan *ms, const char *reason) {
        _cleanup_(scan_job_freep) ScanJob *j = NULL;
        Manager *m = ms->manager;
        int r;

        if (ms->running) {
                ms->pending = true;
                return;
        }

        j = calloc(1, sizeof(ScanJob));
        if (!j)
                return (void) log_oom();
        j->module = ms;
        j->scanner = m->scanner;
        j->index = ms->index;
        j->pcsc_seen = m->pcsc_seen;
        r = readers_copy(m->readers, m->n_readers, &j->readers);
        if (r < 0)
                return (void) log_oom();
        j->n_readers = m->n_readers;

        log_debug("Scanning the PKCS#11 module %s (%s).", ms->path, reason);
        r = worker_submit(ms->worker, scan_work, scan_done, j);
        if (r < 0)
                return (void) log_error_errno(r, "Failed to queue a scan of %s: %m", ms->path);
        TAKE_PTR(j);
        ms->running = true;
        ms->started_usec = now_usec(CLOCK_MONOTONIC);
        ms->started_realtime = now_usec(CLOCK_REALTIME);
        r = arm_timeout(ms);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the timeout of the scan of %s, a hang will not be reported: %m",
                                  ms->path);
}

int module_scans_start(Manager *m) {
        size_t n = scanner_n_modules(m->scanner);

        m->module_scans = calloc(n ?: 1, sizeof(ModuleScan));
        if (!m->module_scans)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ModuleScan *ms = m->module_scans + i;
                char name[48];
                int r;

                *ms = (ModuleScan) {
                        .manager = m,
                        .index = i,
                        .path = scanner_module_path(m->scanner, i),
                };
                (void) snprintf(name, sizeof(name), "jetond-scan-%zu", i);
                r = worker_new(m->event, name, &ms->worker);
                if (r < 0)
                        return r;
                m->n_module_scans++;
        }
        return 0;
}

bool module_scans_stop(Manager *m) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        bool all = true;

        for (size_t i = 0; i < m->n_module_scans; i++) {
                ModuleScan *ms = m->module_scans + i;
                uint64_t deadline = now;

                /* A scan under way normally ends within milliseconds; one
                 * that has not answered within ModuleTimeoutSec= may never
                 * end, and systemd would kill us while we wait. */
                if (ms->running && !ms->stuck && ms->started_usec + m->config.module_timeout_usec > now)
                        deadline = ms->started_usec + m->config.module_timeout_usec;
                if (!worker_free_until(ms->worker, deadline)) {
                        log_warning("PKCS#11 module %s is still in a call that has not returned: exiting without "
                                    "waiting for it, and without unloading any module.", ms->path);
                        all = false;
                }
                ms->worker = NULL;
                ms->timeout = sd_event_source_disable_unref(ms->timeout);
                free(ms->status.path);
                free(ms->status.message);
                token_list_free(ms->candidates);
                readers_free(ms->seen, ms->n_seen);
                free(ms->covered);
        }
        m->module_scans = mfree(m->module_scans);
        m->n_module_scans = 0;
        return all;
}
