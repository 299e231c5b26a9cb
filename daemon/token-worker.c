/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "manager.h"
#include "token-worker.h"
#include "util.h"

static TokenWorker *token_worker_get(Manager *m, const char *serial, int *ret_error) {
        _cleanup_free_ char *name = NULL;
        TokenWorker *tw;
        int r;

        for (tw = m->token_workers; tw; tw = tw->next)
                if (streq(tw->serial, serial))
                        return tw;

        tw = calloc(1, sizeof(TokenWorker));
        if (!tw || !(tw->serial = strdup(serial)) || asprintf(&name, "jetond-%s", serial) < 0) {
                if (tw)
                        free(tw->serial);
                free(tw);
                *ret_error = -ENOMEM;
                return NULL;
        }
        r = worker_new(m->event, name, &tw->worker);
        if (r < 0) {
                free(tw->serial);
                free(tw);
                *ret_error = r;
                return NULL;
        }
        tw->next = m->token_workers;
        m->token_workers = tw;
        return tw;
}

int token_worker_submit(Manager *m, const char *serial, WorkerFunc work, WorkerDoneFunc done,
                        void *userdata) {
        TokenWorker *tw;
        int r = 0;

        tw = token_worker_get(m, serial, &r);
        if (!tw)
                return r;
        return worker_submit(tw->worker, work, done, userdata);
}

void token_workers_free(Manager *m) {
        while (m->token_workers) {
                TokenWorker *tw = m->token_workers;

                m->token_workers = tw->next;
                worker_free(tw->worker);
                free(tw->serial);
                free(tw);
        }
}
