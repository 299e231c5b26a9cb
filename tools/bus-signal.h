/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The signals jetonctl follows: subscriptions the bus filters itself, so
 * only jetond (the current owner of its name) can send what matches and
 * nobody else can fake an event, and the reading of PropertiesChanged
 * into the properties known so far. Installed before the first read of
 * what they follow, so that nothing falls in between. */

#include <systemd/sd-bus.h>

#include "bus-value.h"

/* PropertiesChanged sent by jetond on the object at path (key "path") or
 * below it (key "path_namespace"). */
int bus_match_properties_changed(sd_bus *bus, const char *key, const char *path,
                                 sd_bus_message_handler_t callback, void *userdata);

/* NameOwnerChanged of jetond's bus name: jetond started or stopped. */
int bus_match_jetond_owner(sd_bus *bus, sd_bus_message_handler_t callback, void *userdata);

/* The connection to the bus was lost. */
int bus_match_disconnected(sd_bus *bus, sd_bus_message_handler_t callback, void *userdata);

/* Reads a PropertiesChanged signal of interface into props: 1 when merged,
 * 0 when it is about another interface (or unreadable as one), a negative
 * errno when malformed or out of memory. */
int bus_read_properties_changed(sd_bus_message *m, const char *interface, BusValue *props);
