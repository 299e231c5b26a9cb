/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.jeton.Jeton1.Manager and the ObjectManager at /org/jeton/Jeton1. */

#include <systemd/sd-bus.h>

#include "manager.h"

extern const sd_bus_vtable manager_vtable[];

/* Registers the ObjectManager, the Manager object and the token objects. */
int bus_manager_setup(Manager *m);

/* PropertiesChanged for one Manager property; failures are logged. */
void bus_manager_emit_changed(Manager *m, const char *property);
