/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetond: watches card readers and USB tokens and publishes the tokens on
 * the system bus as org.jeton.Jeton1. See jetond(8). */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "audit-verify.h"
#include "bus-error.h"
#include "bus-introspect.h"
#include "bus-manager.h"
#include "config.h"
#include "inbox.h"
#include "batch.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "orders.h"
#include "profiles.h"
#include "registry.h"
#include "store.h"
#include "util.h"

static const char *arg_config = NULL;
static bool arg_bus_introspect = false;

static Manager *manager_free(Manager *m) {
        bool scans_stopped;

        if (!m)
                return NULL;

        /* Threads first, so nothing is posted to what we free next; the
         * scan workers before the modules they use. */
        pcsc_watch_free(m->pcsc);
        /* A scan worker stuck in a module call is left behind: joining
         * it could block forever. It may hold locks of that module or of
         * the token library (jp11_module_load() initialises under its
         * registry lock), so no module is unloaded then: finalizing one
         * could wait on them too, and freeing what the thread still
         * uses would crash. The process is exiting; the memory goes
         * with it. */
        scans_stopped = module_scans_stop(m);
        audit_verify_done(m);
        inbox_stop(m);
        job_done(m);            /* token workers, before the modules they use */
        batches_done(m);        /* after the workers: none runs for a batch now */
        if (scans_stopped)
                scanner_free(m->scanner);
        udev_watch_free(m->udev);
        registry_done(m);

        sd_bus_slot_unref(m->slot_batch_enumerator);
        sd_bus_slot_unref(m->slot_batches);
        sd_bus_slot_unref(m->slot_job_enumerator);
        sd_bus_slot_unref(m->slot_jobs);
        sd_bus_slot_unref(m->slot_order_enumerator);
        sd_bus_slot_unref(m->slot_orders);
        sd_bus_slot_unref(m->slot_token_enumerator);
        sd_bus_slot_unref(m->slot_tokens);
        sd_bus_slot_unref(m->slot_manager);
        sd_bus_slot_unref(m->slot_object_manager);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        orders_done(m);
        profiles_done(m);
        store_close(m->store);
        config_done(&m->config);
        free(m);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

static int on_name_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const sd_bus_error *e;
        size_t n_tokens = 0;
        uint32_t ret;
        int r;

        e = sd_bus_message_get_error(reply);
        if (e) {
                r = sd_bus_error_get_errno(e);
                log_error_errno(r, "Failed to acquire the bus name %s: %s", JETON_BUS_NAME, e->message);
                return sd_event_exit(m->event, r);
        }
        r = sd_bus_message_read(reply, "u", &ret);
        if (r < 0)
                return sd_event_exit(m->event, log_error_errno(r, "Bad reply to RequestName: %m"));
        /* 1: primary owner, 4: already the owner; anything else is taken. */
        if (ret != 1 && ret != 4) {
                log_error("The bus name %s is taken by another process.", JETON_BUS_NAME);
                return sd_event_exit(m->event, -EEXIST);
        }

        for (Token *t = m->tokens; t; t = t->next)
                n_tokens++;
        log_info("Ready on %s, %zu token(s) present.", JETON_BUS_NAME, n_tokens);
        (void) sd_notifyf(false, "READY=1\nSTATUS=Watching %zu reader(s), %zu token(s) present.",
                          m->n_readers, n_tokens);
        return 0;
}

/* The name is requested only once the first scan is published: a client
 * activated by the name, or waiting for it, finds the tokens already
 * there in GetManagedObjects. */
void manager_set_ready(Manager *m) {
        int r;

        if (m->ready)
                return;
        m->ready = true;
        r = sd_bus_request_name_async(m->bus, NULL, JETON_BUS_NAME, 0, on_name_reply, m);
        if (r < 0) {
                log_error_errno(r, "Failed to request the bus name %s: %m", JETON_BUS_NAME);
                (void) sd_event_exit(m->event, r);
        }
}

/* The state directory holds the database: private to the daemon. */
static int open_store(Manager *m) {
        StoreError error = {};
        int r;

        if (mkdir(m->config.state_directory, 0700) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Failed to create the state directory %s: %m",
                                       m->config.state_directory);
        r = store_open(m->config.database, &m->store, &error);
        if (r < 0)
                return log_error_errno(r, "Cannot open the database %s: %s", m->config.database, error.message);
        log_debug("Opened the database %s.", m->config.database);
        return 0;
}

static int help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Watches card readers and USB tokens and publishes them on the system bus\n"
               "as %s.\n\n"
               "  -h --help             Show this help\n"
               "     --version          Show the version\n"
               "  -c --config=PATH      Read PATH instead of %s\n"
               "     --bus-introspect   Print the D-Bus interfaces (introspection XML) and exit\n"
               "\nSee the jetond(8) man page for details.\n",
               program_invocation_short_name, JETON_BUS_NAME, JETOND_CONFIG_FILE);
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_BUS_INTROSPECT,
        };
        static const struct option options[] = {
                { "help",           no_argument,       NULL, 'h'               },
                { "version",        no_argument,       NULL, ARG_VERSION       },
                { "config",         required_argument, NULL, 'c'               },
                { "bus-introspect", no_argument,       NULL, ARG_BUS_INTROSPECT },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        printf("jetond %s\n", JETON_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_BUS_INTROSPECT:
                        arg_bus_introspect = true;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return log_error_errno(-EINVAL, "Unhandled option %c", c);
                }

        if (optind < argc)
                return log_error_errno(-EINVAL, "%s takes no arguments.", program_invocation_short_name);
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        log_setup();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        if (arg_bus_introspect)
                return bus_introspect_print(stdout);

        /* PKCS#11 modules keep copies of the PIN (APDU buffers) that we
         * cannot wipe or exclude: no core file may ever hold them. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return log_error_errno(-errno, "Cannot make jetond non-dumpable: %m");

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        m->version = JETON_VERSION;

        r = config_init(&m->config);
        if (r < 0)
                return log_oom();
        r = config_load(&m->config, arg_config ?: JETOND_CONFIG_FILE, arg_config);
        if (r < 0)
                return r;       /* already logged with file:line */
        r = config_resolve(&m->config);
        if (r < 0)
                return log_oom();

        r = bus_error_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus errors: %m");

        r = open_store(m);
        if (r < 0)
                return r;
        r = profiles_load(m);
        if (r < 0)
                return log_oom();
        /* The store is the truth: what it holds is published as it is. */
        r = orders_load(m);
        if (r < 0)
                return r;
        /* Jobs cut short by a crash are failed in the store; their orders
         * are consistent already (the store commits transitions whole). */
        r = job_recover(m);
        if (r < 0)
                return r;
        /* After the jobs: a batch looks at what its orders became. */
        r = batches_load(m);
        if (r < 0)
                return r;

        /* Blocked before any thread exists (ours, libpcsclite's, a PKCS#11
         * module's), so the signals reach the event loop only. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m");

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        /* No handler: the loop exits with 0. */
        r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        (void) sd_event_set_watchdog(m->event, true);

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        /* Without the bus we are of no use: exit, and let systemd restart us. */
        r = sd_bus_set_exit_on_disconnect(m->bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit-on-disconnect: %m");
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        r = bus_manager_setup(m);
        if (r < 0)
                return r;

        r = scanner_new(m->config.modules, &m->scanner);
        if (r < 0)
                return log_oom();
        r = module_scans_start(m);
        if (r < 0)
                return log_error_errno(r, "Failed to start the scan workers: %m");

        /* Without udev (a container, no netlink) readers still work
         * through pcscd: go on without USB device reports. */
        r = udev_watch_new(m->event, registry_on_usb, m, &m->udev);
        if (r < 0)
                log_warning_errno(r, "Cannot watch udev, USB tokens will not be reported: %m");
        else {
                r = udev_watch_enumerate(m->udev);
                if (r < 0)
                        log_warning_errno(r, "Failed to enumerate USB devices: %m");
        }

        /* Load the modules now, while pcscd is being asked for its readers. */
        registry_request_scan(m, "start");

        /* Certificates dropped in the inbox, now and from now on. */
        r = inbox_start(m, m->config.inbox);
        if (r < 0)
                log_warning_errno(r, "Certificates dropped in %s will not be installed: %m", m->config.inbox);

        r = pcsc_watch_new(m->event, registry_on_pcsc, m, &m->pcsc);
        if (r < 0)
                return log_error_errno(r, "Failed to start the PC/SC watcher: %m");

        /* Whoever asked the loop to exit with an error has logged it; sd-bus
         * exits it with a positive code when the bus connection is lost. */
        r = sd_event_loop(m->event);
        if (r < 0)
                return r;
        if (r > 0)
                return log_error_errno(-ENOTCONN, "Lost the connection to the system bus.");

        (void) sd_notify(false, "STOPPING=1");
        log_debug("Exiting.");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
