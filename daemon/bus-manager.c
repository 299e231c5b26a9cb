/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit-verify.h"
#include "bus-batch.h"
#include "bus-job.h"
#include "bus-manager.h"
#include "bus-order.h"
#include "bus-token.h"
#include "log.h"
#include "pin-agent.h"
#include "profiles.h"
#include "util.h"

static int property_get_pcsc_state(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", m->pcsc_available ? "running" : "unavailable");
}

static int property_get_readers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_readers; i++) {
                const Reader *rd = m->readers + i;
                _cleanup_free_ char *atr = hexmem(rd->atr, rd->atr_len);

                if (!atr)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(sss)", rd->name, pcsc_reader_state_to_string(rd->state),
                                          atr);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Config order; a module shows once its first scan has answered, or it is
 * not answering. */
static int property_get_modules(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_module_scans; i++) {
                const ModuleScan *ms = m->module_scans + i;

                if (ms->stuck) {
                        _cleanup_free_ char *message = NULL;
                        char since[64] = "?";

                        (void) module_scan_since(ms, since, sizeof(since));
                        if (asprintf(&message, "has not answered since %s (a call into the module has not "
                                     "returned)", since) < 0)
                                return -ENOMEM;
                        r = sd_bus_message_append(reply, "(sss)", ms->path, "not-responding", message);
                } else if (ms->known)
                        r = sd_bus_message_append(reply, "(sss)", ms->path,
                                                  ms->status.loaded ? "loaded" : "failed",
                                                  strempty(ms->status.message));
                else
                        continue;
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        UsbDevice *devices;
        size_t n;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ssss)");
        if (r < 0)
                return r;
        devices = udev_watch_devices(m->udev, &n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *buffer = NULL;
                const UsbDevice *d = devices + i;

                r = sd_bus_message_append(reply, "(ssss)", d->syspath, d->model, d->vendor_product,
                                          registry_device_status(m, d->module, &buffer));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_profiles(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (size_t i = 0; m->profiles && i < m->profiles->n_profiles; i++) {
                r = sd_bus_message_append(reply, "s", m->profiles->profiles[i]->name);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_profile_errors(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ss)");
        if (r < 0)
                return r;
        for (char **e = m->profile_errors; e && *e; e++) {
                _cleanup_free_ char *location = NULL;
                const char *message;

                r = profile_error_split(*e, &location, &message);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "(ss)", location, message);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", NULL, offsetof(Manager, version), EMITS),
        SD_BUS_PROPERTY("PcscState", "s", property_get_pcsc_state, 0, EMITS),
        SD_BUS_PROPERTY("Readers", "a(sss)", property_get_readers, 0, EMITS),
        SD_BUS_PROPERTY("Modules", "a(sss)", property_get_modules, 0, EMITS),
        SD_BUS_PROPERTY("Devices", "a(ssss)", property_get_devices, 0, EMITS),
        SD_BUS_PROPERTY("Profiles", "as", property_get_profiles, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ProfileErrors", "a(ss)", property_get_profile_errors, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Outbox", "s", NULL, offsetof(Manager, config.outbox), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Inbox", "s", NULL, offsetof(Manager, config.inbox), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("AddOrder",
                                SD_BUS_ARGS("a{sv}", order, "a{sv}", options),
                                SD_BUS_RESULT("o", order),
                                bus_order_method_add, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportOrders",
                                SD_BUS_ARGS("h", fd, "s", format, "a{sv}", options),
                                SD_BUS_RESULT("ao", orders),
                                bus_order_method_import, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RegisterPinAgent",
                                SD_BUS_ARGS("o", agent_path),
                                SD_BUS_NO_RESULT,
                                bus_pin_agent_method_register, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnregisterPinAgent",
                                SD_BUS_ARGS("o", agent_path),
                                SD_BUS_NO_RESULT,
                                bus_pin_agent_method_unregister, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Batches", "ao", bus_batch_property_get_batches, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("StartBatch",
                                SD_BUS_ARGS("h", orders_fd, "s", format, "a{sv}", options),
                                SD_BUS_RESULT("o", batch),
                                bus_batch_method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InstallCertificates",
                                SD_BUS_ARGS("ah", fds, "a{sv}", options),
                                SD_BUS_RESULT("a(sos)", results),
                                bus_batch_method_install_certificates, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("VerifyAudit",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("b", intact, "t", first_bad_id, "s", message),
                                audit_verify_method, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int bus_manager_setup(Manager *m) {
        int r;

        r = sd_bus_add_object_manager(m->bus, &m->slot_object_manager, JETON_OBJECT_ROOT);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object manager: %m");
        r = sd_bus_add_object_vtable(m->bus, &m->slot_manager, JETON_OBJECT_ROOT, JETON_MANAGER_INTERFACE,
                                     manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager vtable: %m");
        r = bus_token_setup(m);
        if (r < 0)
                return r;
        r = bus_order_setup(m);
        if (r < 0)
                return r;
        r = bus_batch_setup(m);
        if (r < 0)
                return r;
        return bus_job_setup(m);
}

void bus_manager_emit_changed(Manager *m, const char *property) {
        int r;

        if (!m->bus)
                return;
        r = sd_bus_emit_properties_changed(m->bus, JETON_OBJECT_ROOT, JETON_MANAGER_INTERFACE, property, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce the change of %s: %m", property);
}
