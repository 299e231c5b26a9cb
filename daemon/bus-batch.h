/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.jeton.Jeton1.Batch: one object per batch under
 * /org/jeton/Jeton1/batch/<id> (fallback vtable, object-find callback,
 * node enumerator), and the Manager's batch members: StartBatch,
 * InstallCertificates and the Batches property (in manager_vtable). */

#include <systemd/sd-bus.h>

#include "batch.h"

extern const sd_bus_vtable batch_vtable[];

int bus_batch_setup(Manager *m);

void bus_batch_emit_added(Batch *b);
/* PropertiesChanged for every property that can change (no-op before the
 * bus is set up). */
void bus_batch_emit_changed(Batch *b);
void bus_batch_emit_readers_changed(Batch *b);

/* Manager members (bus-manager.c's vtable). */
int bus_batch_method_start(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_batch_method_install_certificates(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_batch_property_get_batches(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error);
