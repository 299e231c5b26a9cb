/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl: a thin client of jetond on the system bus. main() parses the
 * options, connects when the verb needs the bus and dispatches through the
 * verb table; the verbs live in verb-*.c. */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jetonctl.h"
#include "orders.h"
#include "text.h"
#include "tokens.h"

typedef struct Verb {
        const char *name;
        int min_args, max_args;         /* counting the verb itself */
        bool needs_bus;
        /* Optional: checks the arguments before the bus is touched, so a
         * usage error is one whatever the state of the bus. */
        int (*check)(const Context *c, int argc, char **argv);
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

int jetond_call_new(sd_bus *bus, const char *path, const char *interface, const char *member,
                    sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, JETON_BUS_NAME, path, interface, member);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, true);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

void json_output_begin(const Context *c, JsonWriter *w) {
        json_writer_init(w, stdout, c->json == JSON_PRETTY);
}

int json_output_end(JsonWriter *w) {
        int r = json_writer_end(w);

        return r < 0 ? log_errorf(r, "Failed to write JSON: %m") : 0;
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

int subcommand_check(const Subcommand *subcommands, size_t n, int argc, char **argv) {
        size_t i;

        for (i = 0; i < n; i++)
                if (streq(argv[1], subcommands[i].name))
                        break;
        if (i == n) {
                _cleanup_free_ char *shown = text_sanitize(argv[1]);

                log_errorf(-EINVAL, "Unknown command '%s %s'; see 'jetonctl --help'.", argv[0], shown ?: "?");
                return EXIT_USAGE;
        }
        if (argc < subcommands[i].min_args || argc > subcommands[i].max_args) {
                log_errorf(-EINVAL, "Too %s arguments for '%s %s'; see 'jetonctl --help'.",
                           argc < subcommands[i].min_args ? "few" : "many", argv[0], subcommands[i].name);
                return EXIT_USAGE;
        }
        return 0;
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
               "Query and drive jetond, the smart-card token provisioning daemon.\n"
               "\n"
               "Commands:\n"
               "  list                 List the tokens present (the default)\n"
               "  show TOKEN           Show everything about one token\n"
               "  monitor              Print token events as they happen\n"
               "  order add --reference=R --profile=P --given-name=G --surname=S [...]\n"
               "                       Add a certificate order\n"
               "  order import FILE    Add the orders of a CSV or JSON file (all or none)\n"
               "  order list           List the orders\n"
               "  order show ORDER     Show everything about one order\n"
               "  order cancel ORDER   Cancel an order not installed yet\n"
               "  provision ORDER      Generate the order's key on a token and its request\n"
               "  install ORDER FILE   Install the order's certificate on its token\n"
               "  audit verify         Check the audit log's hash chain\n"
               "  batch start FILE --profile=P --user-pin=random|file:F [--init --so-pin-file=F]\n"
               "                       Provision the orders of FILE on every token inserted\n"
               "  batch status [BATCH] Counts, readers and assignments of a batch\n"
               "  batch watch [BATCH]  Follow a batch until it ends\n"
               "  batch pause|resume|cancel [BATCH]\n"
               "                       Stop or restart a batch between tokens\n"
               "  batch install DIR    Hand jetond the certificates of DIR\n"
               "  help                 Show this help\n"
               "\n"
               "TOKEN is a serial, a label, an object path or a pkcs11: URI; ORDER a\n"
               "reference or an object path; BATCH an ID, an object path or a name\n"
               "(default: the latest batch).\n"
               "\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --address=ADDRESS Use the D-Bus bus at ADDRESS, not the system bus\n"
               "     --json[=MODE]     Print JSON; MODE is short or pretty (default:\n"
               "                       pretty on a terminal, short otherwise)\n"
               "     --no-legend       Print no column headers and no footer\n"
               "\n"
               "order add:   --reference --profile --given-name --surname (required)\n"
               "             --ca --product --validity=YEARS --email --identifier\n"
               "             --organisation --siret|--siren --vat\n"
               "order import: --format=csv|json (default: guessed from the content)\n"
               "order list:  --state=STATE\n"
               "provision, install:\n"
               "     --token=TOKEN     (provision) The token to use\n"
               "     --pin-fd=FD       Read the PIN from the first line of FD\n"
               "     --pin-file=FILE   Read the PIN from FILE (mode 0600 or stricter)\n"
               "     --confirm-final-try  Try even if one wrong PIN locks the token\n"
               "     --no-progress     Print no progress\n"
               "batch start: --profile=P --user-pin=random|file:FILE [--init --so-pin-file=FILE]\n"
               "             [--pin-mailer=FILE] [--label-template=T] [--name=N] [--format=F]\n"
               "batch resume: --so-pin-file=FILE --user-pin-file=FILE\n"
               "There is no option to give the PIN itself: see jetonctl(1).\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 TOKEN or ORDER not\n"
               "found or ambiguous, 4 jetond not reachable, 5 permission denied, 6 PIN\n"
               "problem, 7 job failed. See jetonctl(1).\n",
               program_invocation_short_name);
        return 0;
}

static int verb_help(Context *c, int argc, char **argv) {
        return help();
}

static int check_token_arg(const Context *c, int argc, char **argv) {
        return token_spec_check(argv[1]);
}

static int check_job_args(const Context *c, int argc, char **argv) {
        if (c->pin_fd >= 0 && c->pin_file) {
                log_errorf(-EINVAL, "Give --pin-fd or --pin-file, not both.");
                return EXIT_USAGE;
        }
        if (c->token && !streq(argv[0], "provision")) {
                log_errorf(-EINVAL, "--token is an option of 'provision' only: 'install' writes to the "
                           "order's token.");
                return EXIT_USAGE;
        }
        return c->token ? token_spec_check(c->token) : 0;
}

/* Options that belong to some verbs only are refused elsewhere, so a
 * misplaced one is not silently ignored. */
static int check_no_job_options(const Context *c) {
        if (c->pin_fd >= 0 || c->pin_file || c->token || c->confirm_final_try || !c->progress) {
                log_errorf(-EINVAL, "--token, --pin-fd, --pin-file, --confirm-final-try and --no-progress are "
                           "options of 'provision' and 'install' only.");
                return EXIT_USAGE;
        }
        return 0;
}

static int check_order(const Context *c, int argc, char **argv) {
        return check_no_job_options(c) ?: verb_order_check(c, argc, argv);
}

static int check_audit(const Context *c, int argc, char **argv) {
        return check_no_job_options(c) ?: verb_audit_check(c, argc, argv);
}

static int check_batch(const Context *c, int argc, char **argv) {
        return verb_batch_check(c, argc, argv);
}

static const Verb verbs[] = {
        { "list", 1, 1, true, NULL, verb_list },
        { "show", 2, 2, true, check_token_arg, verb_show },
        { "monitor", 1, 1, true, NULL, verb_monitor },
        { "order", 2, 3, true, check_order, verb_order },
        { "provision", 2, 2, true, check_job_args, verb_provision },
        { "install", 3, 3, true, check_job_args, verb_install },
        { "audit", 2, 2, true, check_audit, verb_audit },
        { "batch", 2, 3, true, check_batch, verb_batch },
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
                ARG_VALIDITY,
                ARG_FORMAT,
                ARG_STATE,
                ARG_TOKEN,
                ARG_PIN_FD,
                ARG_PIN_FILE,
                ARG_CONFIRM_FINAL_TRY,
                ARG_NO_PROGRESS,
                ARG_INIT,
                ARG_SO_PIN_FILE,
                ARG_USER_PIN,
                ARG_USER_PIN_FILE,
                ARG_PIN_MAILER,
                ARG_LABEL_TEMPLATE,
                ARG_NAME,
                ARG_ORDER_FIELD,        /* + OrderArg */
        };
        /* Deliberately no --pin: a PIN on a command line is visible to
         * every user (ps, /proc/PID/cmdline) and kept in shell history. */
        static const struct option base_options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "validity", required_argument, NULL, ARG_VALIDITY },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "state", required_argument, NULL, ARG_STATE },
                { "token", required_argument, NULL, ARG_TOKEN },
                { "pin-fd", required_argument, NULL, ARG_PIN_FD },
                { "pin-file", required_argument, NULL, ARG_PIN_FILE },
                { "confirm-final-try", no_argument, NULL, ARG_CONFIRM_FINAL_TRY },
                { "no-progress", no_argument, NULL, ARG_NO_PROGRESS },
                { "init", no_argument, NULL, ARG_INIT },
                { "so-pin-file", required_argument, NULL, ARG_SO_PIN_FILE },
                /* "random" or "file:FILE": never the PIN itself. */
                { "user-pin", required_argument, NULL, ARG_USER_PIN },
                { "user-pin-file", required_argument, NULL, ARG_USER_PIN_FILE },
                { "pin-mailer", required_argument, NULL, ARG_PIN_MAILER },
                { "label-template", required_argument, NULL, ARG_LABEL_TEMPLATE },
                { "name", required_argument, NULL, ARG_NAME },
        };
        struct option options[ELEMENTSOF(base_options) + _ORDER_ARG_MAX + 1] = {};
        size_t n_options = 0;
        int opt;

        for (size_t i = 0; i < ELEMENTSOF(base_options); i++)
                options[n_options++] = base_options[i];
        for (size_t i = 0; i < _ORDER_ARG_MAX; i++)
                options[n_options++] = (struct option) {
                        order_arg_names[i], required_argument, NULL, ARG_ORDER_FIELD + (int) i,
                };

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
                case ARG_VALIDITY: {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || v < 1 || v > 10)
                                return log_errorf(-EINVAL, "Invalid --validity '%s': a number of years.", optarg);
                        c->validity_years = (unsigned) v;
                        break;
                }
                case ARG_FORMAT:
                        if (!streq(optarg, "csv") && !streq(optarg, "json"))
                                return log_errorf(-EINVAL, "Unknown format '%s': use csv or json.", optarg);
                        c->format = optarg;
                        break;
                case ARG_STATE:
                        if (!order_state_known(optarg))
                                return log_errorf(-EINVAL, "Unknown order state '%s': use pending, key-generated, "
                                                  "submitted, certificate-received, installed, failed or "
                                                  "cancelled.", optarg);
                        c->state = optarg;
                        break;
                case ARG_TOKEN:
                        c->token = optarg;
                        break;
                case ARG_PIN_FD: {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || v < 0 || v > INT32_MAX)
                                return log_errorf(-EINVAL, "Invalid --pin-fd '%s': a file descriptor number.",
                                                  optarg);
                        if (v <= STDERR_FILENO && v != STDIN_FILENO)
                                return log_errorf(-EINVAL, "--pin-fd cannot be standard output or error.");
                        c->pin_fd = (int) v;
                        break;
                }
                case ARG_PIN_FILE:
                        c->pin_file = optarg;
                        break;
                case ARG_CONFIRM_FINAL_TRY:
                        c->confirm_final_try = true;
                        break;
                case ARG_NO_PROGRESS:
                        c->progress = false;
                        break;
                case ARG_INIT:
                        c->batch_init = true;
                        break;
                case ARG_SO_PIN_FILE:
                        c->so_pin_file = optarg;
                        break;
                case ARG_USER_PIN:
                        c->user_pin = optarg;
                        break;
                case ARG_USER_PIN_FILE:
                        c->user_pin_file = optarg;
                        break;
                case ARG_PIN_MAILER:
                        c->pin_mailer = optarg;
                        break;
                case ARG_LABEL_TEMPLATE:
                        c->label_template = optarg;
                        break;
                case ARG_NAME:
                        c->batch_name = optarg;
                        break;
                default:
                        if (opt >= ARG_ORDER_FIELD && opt < ARG_ORDER_FIELD + _ORDER_ARG_MAX) {
                                c->order_args[opt - ARG_ORDER_FIELD] = optarg;
                                break;
                        }
                        /* getopt_long() has said what is wrong */
                        return -EINVAL;
                }
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char *default_argv[] = { (char *) "list", NULL };
        Context c = { .legend = true, .pin_fd = -1, .progress = true };
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

        if (!streq(verb->name, "batch") && batch_options_given(&c)) {
                log_errorf(-EINVAL, "--init, --so-pin-file, --user-pin, --user-pin-file, --pin-mailer, "
                           "--label-template and --name are options of 'batch' only.");
                return EXIT_USAGE;
        }
        if (verb->check) {
                r = verb->check(&c, n, args);
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
