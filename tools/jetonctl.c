/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl: a thin client of jetond on the system bus. main() parses the
 * options, connects when the verb needs the bus and dispatches through the
 * verb table; the verbs live in verb-*.c. */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jetonctl.h"
#include "tokens.h"

typedef struct Verb {
        const char *name;
        int min_args, max_args;         /* counting the verb itself */
        bool needs_bus;
        /* Optional: checks the arguments before the bus is touched, so a
         * usage error is one whatever the state of the bus. */
        int (*check)(int argc, char **argv);
        int (*run)(Context *c, int argc, char **argv);
} Verb;

int log_errorf(int r, const char *fmt, ...) {
        va_list ap;

        fputs("jetonctl: ", stderr);
        errno = r < 0 ? -r : r;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return r;
}

bool bus_error_is_unreachable(const sd_bus_error *error, int r) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                   SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_DISCONNECTED))
                return true;
        /* Activation was tried and failed: the daemon is not there either. */
        if (sd_bus_error_is_set(error) && strncmp(error->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0)
                return true;
        return !sd_bus_error_is_set(error) &&
                (r == -ENOTCONN || r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE || r == -ETIMEDOUT);
}

int log_bus_error(const sd_bus_error *error, int r, const char *what) {
        if (bus_error_is_unreachable(error, r)) {
                if (sd_bus_error_is_set(error))
                        log_errorf(r, "jetond is not reachable: %s", error->message ?: error->name);
                else
                        log_errorf(r, "jetond is not reachable: %m");
                return EXIT_UNREACHABLE;
        }
        if (sd_bus_error_is_set(error))
                return log_errorf(r, "%s: %s", what, error->message ?: error->name);
        return log_errorf(r, "%s: %m", what);
}

static int bus_connect(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (address) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return log_errorf(r, "Failed to allocate a bus connection: %m");
                r = sd_bus_set_address(bus, address);
                if (r < 0) {
                        log_errorf(r, "Invalid bus address '%s': %m", address);
                        return EXIT_USAGE;
                }
                r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_errorf(r, "Failed to connect to the %s bus: %m", address ? "given" : "system");
                return EXIT_UNREACHABLE;
        }

        *ret = TAKE_PTR(bus);
        return 0;
}

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Query jetond, the smart-card token provisioning daemon.\n"
               "\n"
               "Commands:\n"
               "  list                 List the tokens present (the default)\n"
               "  show TOKEN           Show everything about one token\n"
               "  monitor              Print token events as they happen\n"
               "  help                 Show this help\n"
               "\n"
               "TOKEN is a serial, a label, an object path or a pkcs11: URI.\n"
               "\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --address=ADDRESS Use the D-Bus bus at ADDRESS, not the system bus\n"
               "     --json[=MODE]     Print JSON; MODE is short or pretty (default:\n"
               "                       pretty on a terminal, short otherwise)\n"
               "     --no-legend       Print no column headers and no footer\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 TOKEN not found or\n"
               "ambiguous, 4 jetond not reachable. See jetonctl(1).\n",
               program_invocation_short_name);
        return 0;
}

static int verb_help(Context *c, int argc, char **argv) {
        return help();
}

static int check_token_arg(int argc, char **argv) {
        return token_spec_check(argv[1]);
}

static const Verb verbs[] = {
        { "list", 1, 1, true, NULL, verb_list },
        { "show", 2, 2, true, check_token_arg, verb_show },
        { "monitor", 1, 1, true, NULL, verb_monitor },
        { "help", 1, 1, false, NULL, verb_help },
};

/* Returns 1 to go on, 0 to exit successfully (--help, --version), or a
 * negative errno for a usage error (already reported). */
static int parse_argv(int argc, char *argv[], Context *c, const char **ret_address) {
        enum {
                ARG_VERSION = 0x100,
                ARG_ADDRESS,
                ARG_JSON,
                ARG_NO_LEGEND,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                {}
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        puts("jetonctl " JETON_VERSION);
                        return 0;
                case ARG_ADDRESS:
                        *ret_address = optarg;
                        break;
                case ARG_JSON:
                        if (!optarg)
                                c->json = isatty(STDOUT_FILENO) ? JSON_PRETTY : JSON_SHORT;
                        else if (streq(optarg, "short"))
                                c->json = JSON_SHORT;
                        else if (streq(optarg, "pretty"))
                                c->json = JSON_PRETTY;
                        else {
                                return log_errorf(-EINVAL, "Unknown JSON mode '%s': use short or pretty.",
                                                  optarg);
                        }
                        break;
                case ARG_NO_LEGEND:
                        c->legend = false;
                        break;
                default:        /* getopt_long() has said what is wrong */
                        return -EINVAL;
                }
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char *default_argv[] = { (char *) "list", NULL };
        Context c = { .legend = true };
        const char *address = NULL;
        const Verb *verb = NULL;
        char **args;
        int n, r;

        r = parse_argv(argc, argv, &c, &address);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : 0;

        args = argv + optind;
        n = argc - optind;
        if (n == 0) {
                args = default_argv;
                n = 1;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(args[0], verbs[i].name))
                        verb = verbs + i;
        if (!verb) {
                log_errorf(-EINVAL, "Unknown command '%s'; see 'jetonctl --help'.", args[0]);
                return EXIT_USAGE;
        }
        if (n < verb->min_args || n > verb->max_args) {
                log_errorf(-EINVAL, "Too %s arguments for '%s'; see 'jetonctl --help'.",
                           n < verb->min_args ? "few" : "many", verb->name);
                return EXIT_USAGE;
        }

        if (verb->check) {
                r = verb->check(n, args);
                if (r != 0)
                        return r;
        }

        if (verb->needs_bus) {
                r = bus_connect(address, &bus);
                if (r != 0)
                        return r;
                c.bus = bus;
        }

        r = verb->run(&c, n, args);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_errorf(-EIO, "Failed to write to standard output.");
                return r < 0 ? r : -EIO;
        }
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        return r < 0 ? EXIT_FAILURE : r;
}
