/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Manager.VerifyAudit, answered off the event loop.
 *
 * Verifying walks and hashes the whole audit log, about 120,000 records a
 * second here (make bench): seconds once a shop has years of orders, and
 * any local user may ask. So it runs on a thread of its own, on an SQLite
 * connection of its own: WAL gives that connection one consistent snapshot
 * while the loop goes on writing. Requests that arrive while one runs wait
 * their turn on the same thread. */

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

int audit_verify_method(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* Waits for a running verification, drops the queued ones unanswered
 * (the daemon is going away). */
void audit_verify_done(Manager *m);
