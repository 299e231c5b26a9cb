/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A thread that runs work items one after the other, off the event loop.
 * PKCS#11 calls can block for seconds on a real card; they run here, and
 * each item's completion is delivered back on the loop's thread through
 * an eventfd, in submission order.
 *
 * An item's work function owns its userdata while it runs and must not
 * touch loop-side state; the done function runs on the loop thread. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Worker Worker;

typedef void (*WorkerFunc)(void *userdata);
/* cancelled: the worker is being freed (the item may or may not have run):
 * release userdata and do nothing else. */
typedef void (*WorkerDoneFunc)(void *userdata, bool cancelled);

int worker_new(sd_event *event, const char *name, Worker **ret);
/* Waits for the running item to finish, then calls every pending item's
 * done function with cancelled = true. Accepts NULL. */
Worker *worker_free(Worker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Worker *, worker_free);

/* Like worker_free(), but waits for the running item only until deadline
 * (CLOCK_MONOTONIC, usec). An item still running then is stuck in a call
 * that may never return (a PKCS#11 module on a wedged card): the thread
 * is detached and left in it, and the Worker and that item's userdata are
 * leaked on purpose, since the thread may still use them; pending items
 * are cancelled as by worker_free(). Returns true if the thread stopped,
 * false if it was left behind. Accepts NULL. */
bool worker_free_until(Worker *w, uint64_t deadline);

int worker_submit(Worker *w, WorkerFunc work, WorkerDoneFunc done, void *userdata);
