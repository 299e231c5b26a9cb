/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What "provision" and "install" (job-run.c) and "batch watch"
 * (batch-watch.c) share to follow jetond's objects to their end: an event
 * loop of their own with the bus attached, the signals that interrupt,
 * and the end of jetond or of the bus connection, each reported and
 * turned into the verb's result. The verb subscribes to what it follows
 * (bus-signal.h) and calls job_follow_finish() when that is over. */

#include <signal.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "jetonctl.h"

typedef struct JobFollowOps {
        /* The signals that interrupt, 0-terminated; blocked, then read
         * from the loop. */
        int signals[5];
        /* Before a message on standard error and once finished: ends
         * what the verb keeps on the terminal's line (NULL: nothing). */
        void (*end_line)(void *userdata);
        /* On a signal: says what is left running (the result is
         * -ECANCELED). */
        void (*interrupted)(void *userdata);
        /* jetond left the bus: says where the work stands (the result is
         * EXIT_UNREACHABLE). */
        void (*jetond_gone)(void *userdata);
} JobFollowOps;

typedef struct JobFollow {
        Context *context;
        const JobFollowOps *ops;
        void *userdata;         /* passed to ops */
        sd_event *event;
        bool finished;
        int result;
} JobFollow;

/* Sets the loop up: the event loop, the signals, the bus attached to it,
 * and the subscriptions to jetond's end and the bus's. Returns 0, or the
 * verb's return value, already reported. */
int job_follow_start(JobFollow *f);

/* Runs the loop until job_follow_finish(); then f->result is the verb's.
 * Returns 0, or a negative errno when the loop failed, reported. */
int job_follow_run(JobFollow *f);

/* The first result is kept; the later ones are ignored. */
void job_follow_finish(JobFollow *f, int result);

/* Detaches the bus (which the verb still uses) and frees the loop. */
void job_follow_done(JobFollow *f);
