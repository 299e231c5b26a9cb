/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One worker thread per token serial, created on the token's first job and
 * kept until shutdown: jobs on one token run one after the other, jobs on
 * different tokens at the same time (PKCS#11 sessions are per thread). */

#include "worker.h"

typedef struct Manager Manager;

typedef struct TokenWorker TokenWorker;
struct TokenWorker {
        TokenWorker *next;
        char *serial;
        Worker *worker;
};

/* Queues work on the worker of the token with this serial, creating it if
 * needed. done runs on the loop thread (worker.h). */
int token_worker_submit(Manager *m, const char *serial, WorkerFunc work, WorkerDoneFunc done,
                        void *userdata);

/* Stops every token worker (pending items get done(cancelled = true)). */
void token_workers_free(Manager *m);
