/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-signal.h"
#include "jetonctl.h"

int bus_match_properties_changed(sd_bus *bus, const char *key, const char *path,
                                 sd_bus_message_handler_t callback, void *userdata) {
        _cleanup_free_ char *match = NULL;

        if (asprintf(&match, "type='signal',sender='" JETON_BUS_NAME "',interface='org.freedesktop.DBus.Properties',"
                     "member='PropertiesChanged',%s='%s'", key, path) < 0)
                return -ENOMEM;
        return sd_bus_add_match(bus, NULL, match, callback, userdata);
}

int bus_match_jetond_owner(sd_bus *bus, sd_bus_message_handler_t callback, void *userdata) {
        return sd_bus_add_match(bus, NULL,
                                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                "arg0='" JETON_BUS_NAME "'",
                                callback, userdata);
}

int bus_match_disconnected(sd_bus *bus, sd_bus_message_handler_t callback, void *userdata) {
        return sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                   "org.freedesktop.DBus.Local", "Disconnected", callback, userdata);
}

int bus_read_properties_changed(sd_bus_message *m, const char *interface, BusValue *props) {
        const char *name;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0 || !streq(name, interface))
                return 0;
        r = bus_value_read_merge(m, props);
        return r < 0 ? r : 1;
}
