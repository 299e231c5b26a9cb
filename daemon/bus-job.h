/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.jeton.Jeton1.Job: one object per job under /org/jeton/Jeton1/job/<id>,
 * through a fallback vtable, an object-find callback and a node enumerator
 * over the jobs of this run of the daemon (job.h). */

#include <systemd/sd-bus.h>

#include "job.h"

extern const sd_bus_vtable job_vtable[];

int bus_job_setup(Manager *m);

void bus_job_emit_added(Job *j);
void bus_job_emit_removed(Job *j);
/* PropertiesChanged for every property that can change. */
void bus_job_emit_changed(Job *j);
