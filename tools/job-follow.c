/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>

#include "bus-signal.h"
#include "job-follow.h"

static void end_line(JobFollow *f) {
        if (f->ops->end_line)
                f->ops->end_line(f->userdata);
}

void job_follow_finish(JobFollow *f, int result) {
        if (f->finished)
                return;
        f->finished = true;
        f->result = result;
        end_line(f);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        JobFollow *f = userdata;

        end_line(f);
        f->ops->interrupted(f->userdata);
        job_follow_finish(f, -ECANCELED);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobFollow *f = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !*old_owner)
                return 0;
        end_line(f);
        f->ops->jetond_gone(f->userdata);
        job_follow_finish(f, EXIT_UNREACHABLE);
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobFollow *f = userdata;

        end_line(f);
        log_errorf(-ECONNRESET, "Lost the connection to the bus.");
        job_follow_finish(f, EXIT_UNREACHABLE);
        return 0;
}

int job_follow_start(JobFollow *f) {
        const int *signals = f->ops->signals;
        sd_bus *bus = f->context->bus;
        sigset_t mask;
        int r;

        r = sd_event_new(&f->event);
        if (r < 0)
                return log_errorf(r, "Failed to allocate the event loop: %m");
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(f->ops->signals) && signals[i] > 0; i++)
                sigaddset(&mask, signals[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_errorf(-errno, "Failed to block signals: %m");
        for (size_t i = 0; i < ELEMENTSOF(f->ops->signals) && signals[i] > 0 && r >= 0; i++)
                r = sd_event_add_signal(f->event, NULL, signals[i], on_signal, f);
        if (r < 0)
                return log_errorf(r, "Failed to watch signals: %m");
        r = sd_bus_attach_event(bus, f->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_errorf(r, "Failed to attach the bus to the event loop: %m");

        r = bus_match_jetond_owner(bus, on_name_owner_changed, f);
        if (r >= 0)
                r = bus_match_disconnected(bus, on_disconnected, f);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to subscribe to jetond's signals");
        return 0;
}

int job_follow_run(JobFollow *f) {
        int r;

        /* Not sd_event_loop(): on exit it would close the attached bus,
         * which the verb still needs to read the outcome. */
        while (!f->finished) {
                r = sd_event_run(f->event, UINT64_MAX);
                if (r < 0)
                        return log_errorf(r, "Event loop failed: %m");
        }
        return 0;
}

void job_follow_done(JobFollow *f) {
        if (f->event && f->context->bus)
                (void) sd_bus_detach_event(f->context->bus);
        f->event = sd_event_unref(f->event);
}
