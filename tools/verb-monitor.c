/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl monitor: one line per event, as it happens, flushed per line.
 *
 * The ObjectManager signals say which objects come and go and
 * PropertiesChanged what changes on them; a cache of every object's
 * properties lets a "removed" line still name the token and a "changed"
 * line show the old value. NameOwnerChanged tells when jetond starts and
 * stops; the monitor outlives both. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "bus-signal.h"
#include "jetonctl.h"
#include "monitor-event.h"
#include "tokens.h"

#define STANDARD_IFACE_PREFIX "org.freedesktop.DBus."

typedef struct Monitor {
        Context *context;
        sd_event *event;
        BusValue *objects;      /* path -> (interface -> properties) */
        /* The first GetManagedObjects reply: signals jetond sent before it
         * (smaller cookie, same sender) are already in the cache. */
        char *snapshot_sender;
        uint64_t snapshot_cookie;
} Monitor;

/* Out of memory, or output failed (a closed pipe, a full disk): stop. */
static int monitor_fail(Monitor *m, int r) {
        log_errorf(r, "Failed to process an event: %m");
        sd_event_exit(m->event, r);
        return 0;
}

static bool in_snapshot(Monitor *m, sd_bus_message *message) {
        uint64_t cookie;

        return m->snapshot_sender && streq(sd_bus_message_get_sender(message) ?: "", m->snapshot_sender) &&
                sd_bus_message_get_cookie(message, &cookie) >= 0 && cookie < m->snapshot_cookie;
}

static BusValue *cache_object(Monitor *m, const char *path) {
        BusValue *o = bus_value_lookup(m->objects, path);

        if (!o && bus_value_new_object(&o) >= 0 && bus_value_set(m->objects, path, o) < 0)
                return NULL;
        return o;
}

static bool interface_shown(const char *interface) {
        return strncmp(interface, STANDARD_IFACE_PREFIX, strlen(STANDARD_IFACE_PREFIX)) != 0;
}

/* Caches the interfaces of path (an OBJECT of interface -> properties,
 * consumed) and prints one "added" event per interface when print. */
static int objects_add(Monitor *m, const char *path, BusValue *interfaces, bool print) {
        _cleanup_(bus_value_freep) BusValue *ifaces = interfaces;
        BusValue *o = cache_object(m, path);
        int r;

        if (ifaces->type != BUS_VALUE_OBJECT)
                return -EBADMSG;
        if (!o)
                return -ENOMEM;

        for (size_t i = 0; i < ifaces->n; i++) {
                const char *interface = ifaces->keys[i];

                r = bus_value_set(o, interface, TAKE_PTR(ifaces->items[i]));
                if (r < 0)
                        return r;
                if (!print || !interface_shown(interface))
                        continue;
                r = event_print(&(Event) {
                        .kind = EVENT_ADDED,
                        .path = path,
                        .interface = interface,
                        .props = bus_value_get(o, interface),
                }, m->context->json);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads InterfacesAdded or InterfacesRemoved: the object's path and what
 * follows it. False when the signal is to be ignored: in the snapshot
 * already, or malformed (said). */
static bool read_interfaces_signal(Monitor *m, sd_bus_message *message, const char **ret_path,
                                   BusValue **ret) {
        int r;

        if (in_snapshot(m, message))
                return false;
        r = sd_bus_message_read(message, "o", ret_path);
        if (r >= 0)
                r = bus_value_read(message, ret);
        if (r < 0) {
                log_errorf(r, "Ignoring a malformed %s signal: %m", sd_bus_message_get_member(message) ?: "?");
                return false;
        }
        return true;
}

static int on_interfaces_added(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;
        BusValue *interfaces = NULL;
        const char *path;
        int r;

        if (!read_interfaces_signal(m, message, &path, &interfaces))
                return 0;
        r = objects_add(m, path, interfaces, true);
        return r < 0 ? monitor_fail(m, r) : 0;
}

static int on_interfaces_removed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;
        _cleanup_(bus_value_freep) BusValue *interfaces = NULL;
        BusValue *o;
        const char *path;
        bool any_left = false;
        int r;

        if (!read_interfaces_signal(m, message, &path, &interfaces))
                return 0;

        o = bus_value_lookup(m->objects, path);
        for (size_t i = 0; i < bus_value_count(interfaces); i++) {
                const char *interface = bus_value_string(interfaces->items[i]);

                if (!interface)
                        continue;
                if (interface_shown(interface)) {
                        r = event_print(&(Event) {
                                .kind = EVENT_REMOVED,
                                .path = path,
                                .interface = interface,
                                .props = bus_value_get(o, interface),
                        }, m->context->json);
                        if (r < 0)
                                return monitor_fail(m, r);
                }
                bus_value_remove(o, interface);
        }

        for (size_t i = 0; i < bus_value_count(o); i++)
                if (interface_shown(o->keys[i]))
                        any_left = true;
        if (!any_left)
                bus_value_remove(m->objects, path);
        return 0;
}

static int on_properties_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;
        _cleanup_(bus_value_freep) BusValue *changed = NULL, *invalidated = NULL, *old = NULL;
        const char *path = sd_bus_message_get_path(message), *interface;
        BusValue *o, *props;
        int r;

        if (in_snapshot(m, message))
                return 0;

        r = sd_bus_message_read(message, "s", &interface);
        if (r >= 0)
                r = bus_value_read(message, &changed);
        if (r >= 0)
                r = bus_value_read(message, &invalidated);
        if (r < 0 || !path || changed->type != BUS_VALUE_OBJECT) {
                log_errorf(r < 0 ? r : -EBADMSG, "Ignoring a malformed PropertiesChanged signal: %m");
                return 0;
        }
        if (!interface_shown(interface))
                return 0;

        o = cache_object(m, path);
        if (!o)
                return monitor_fail(m, -ENOMEM);
        props = bus_value_lookup(o, interface);
        if (!props) {
                r = bus_value_new_object(&props);
                if (r >= 0)
                        r = bus_value_set(o, interface, props);
                if (r < 0)
                        return monitor_fail(m, r);
        }

        /* Keep the old values for the "old -> new" of the text line. */
        r = bus_value_new_object(&old);
        if (r < 0)
                return monitor_fail(m, r);
        for (size_t i = 0; i < changed->n; i++) {
                BusValue *prev;

                r = bus_value_replace(props, changed->keys[i], TAKE_PTR(changed->items[i]), &prev);
                if (r >= 0 && prev)
                        r = bus_value_set(old, changed->keys[i], prev);
                if (r < 0)
                        return monitor_fail(m, r);
        }

        r = event_print(&(Event) {
                .kind = EVENT_CHANGED,
                .path = path,
                .interface = interface,
                .props = props,
                .changed = changed,
                .old = old,
                .invalidated = invalidated,
        }, m->context->json);
        if (r < 0)
                return monitor_fail(m, r);
        return 0;
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;

        log_errorf(-ECONNRESET, "Lost the connection to the bus.");
        return sd_event_exit(m->event, EXIT_UNREACHABLE);
}

/* Fills the cache from GetManagedObjects; with print, announces the
 * objects the cache did not have yet (those that jetond found before it
 * took its bus name, whose signals nobody could receive). */
static int objects_load(Monitor *m, sd_bus_message *reply, bool print) {
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        int r;

        r = bus_value_read(reply, &objects);
        if (r < 0)
                return r;
        if (objects->type != BUS_VALUE_OBJECT)
                return -EBADMSG;

        for (size_t i = 0; i < objects->n; i++) {
                if (bus_value_get(m->objects, objects->keys[i]))
                        continue;
                r = objects_add(m, objects->keys[i], TAKE_PTR(objects->items[i]), print);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int on_objects_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (e) {
                log_errorf(-sd_bus_error_get_errno(e), "Failed to list jetond's objects: %s",
                           e->message ?: e->name);
                return 0;
        }
        r = objects_load(m, reply, true);
        return r < 0 ? monitor_fail(m, r) : 0;
}

static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        Monitor *m = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        r = sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner);
        if (r < 0 || !streq(name, JETON_BUS_NAME))
                return 0;

        /* A new instance numbers its messages from 1 again. */
        free(m->snapshot_sender);
        m->snapshot_sender = NULL;

        if (*old_owner) {
                /* Its objects went with it, without InterfacesRemoved. */
                while (m->objects->n > 0)
                        bus_value_remove(m->objects, m->objects->keys[0]);
                r = event_print_daemon(false, old_owner, m->context->json);
                if (r < 0)
                        return monitor_fail(m, r);
        }
        if (*new_owner) {
                r = event_print_daemon(true, new_owner, m->context->json);
                if (r < 0)
                        return monitor_fail(m, r);
                r = sd_bus_call_method_async(m->context->bus, NULL, JETON_BUS_NAME, JETON_ROOT_PATH,
                                             "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                             on_objects_reply, m, NULL);
                if (r < 0)
                        log_errorf(r, "Failed to ask jetond for its objects: %m");
        }
        return 0;
}

static int add_matches(Monitor *m) {
        sd_bus *bus = m->context->bus;
        int r;

        /* Server-side filters: the bus delivers only what jetond (the
         * current owner of the name) sends, so nobody else can fake an
         * event. All are installed before the first GetManagedObjects so
         * that nothing falls between the snapshot and the stream. */
        r = sd_bus_match_signal(bus, NULL, JETON_BUS_NAME, JETON_ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                                "InterfacesAdded", on_interfaces_added, m);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, JETON_BUS_NAME, JETON_ROOT_PATH,
                                        "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                        on_interfaces_removed, m);
        if (r >= 0)
                r = bus_match_properties_changed(bus, "path_namespace", JETON_ROOT_PATH, on_properties_changed, m);
        if (r >= 0)
                r = bus_match_jetond_owner(bus, on_name_owner_changed, m);
        if (r >= 0)
                r = bus_match_disconnected(bus, on_disconnected, m);
        return r;
}

static void monitor_done(Monitor *m) {
        free(m->snapshot_sender);
}

int verb_monitor(Context *c, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(bus_value_freep) BusValue *objects = NULL;
        _cleanup_(monitor_done) Monitor m = { .context = c };
        sigset_t mask;
        size_t n_tokens = 0;
        int r;

        r = bus_value_new_object(&objects);
        if (r < 0)
                return log_errorf(r, "Out of memory.");
        m.objects = objects;

        r = add_matches(&m);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to subscribe to jetond's signals");

        /* Also starts jetond when it is bus-activatable. */
        r = sd_bus_call_method(c->bus, JETON_BUS_NAME, JETON_ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &error, &reply, NULL);
        if (r < 0 && !bus_error_is_unreachable(&error, r))
                return log_bus_error(&error, r, "Failed to list jetond's objects");
        if (r >= 0) {
                r = sd_bus_message_get_cookie(reply, &m.snapshot_cookie);
                if (r >= 0) {
                        m.snapshot_sender = strdup(sd_bus_message_get_sender(reply) ?: "");
                        if (!m.snapshot_sender)
                                return log_errorf(-ENOMEM, "Out of memory.");
                }
                r = objects_load(&m, reply, false);
                if (r < 0)
                        return log_errorf(r, "Failed to read jetond's objects: %m");
                for (size_t i = 0; i < objects->n; i++)
                        if (bus_value_get(objects->items[i], JETON_TOKEN_IFACE))
                                n_tokens++;
                fprintf(stderr, "Monitoring jetond (%zu token%s present); press Ctrl+C to stop.\n", n_tokens,
                        n_tokens == 1 ? "" : "s");
        } else
                fprintf(stderr, "jetond is not running; waiting for it. Press Ctrl+C to stop.\n");

        r = sd_event_default(&event);
        if (r < 0)
                return log_errorf(r, "Failed to allocate the event loop: %m");
        m.event = event;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_errorf(-errno, "Failed to block signals: %m");
        r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return log_errorf(r, "Failed to watch signals: %m");

        r = sd_bus_attach_event(c->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_errorf(r, "Failed to attach the bus to the event loop: %m");

        /* Returns what the handlers passed to sd_event_exit(): 0 on a
         * signal, EXIT_UNREACHABLE when the bus went away, or the negative
         * errno they reported. */
        r = sd_event_loop(event);
        sd_bus_detach_event(c->bus);
        return r;
}
