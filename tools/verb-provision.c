/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl provision ORDER: generate the order's key on a token and its
 * certificate request. jetond does the work in a job; jetonctl starts it,
 * answers jetond's PIN request as a PIN agent and follows the job. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "call-error.h"
#include "job-run.h"
#include "jetonctl.h"
#include "orders.h"
#include "text.h"
#include "tokens.h"

static bool token_has_pin_flag(const Token *t, const char *flag) {
        const BusValue *flags = bus_value_get(t->props, "PinFlags");

        for (size_t i = 0; i < bus_value_count(flags); i++)
                if (streq(bus_value_string(flags->items[i]) ?: "", flag))
                        return true;
        return false;
}

/* Asks on the terminal; true only for "YES". */
static bool confirm_final_try(const Token *t) {
        _cleanup_free_ char *label = text_sanitize(bus_value_get_string(t->props, "Label"));
        char answer[16] = {};
        FILE *tty = fopen("/dev/tty", "r+e");
        bool yes;

        if (!tty)
                return false;
        fprintf(tty, "Token \"%s\" is on its final try: a wrong PIN locks it, and a locked token may have "
                "to go back to the CA.\nType YES to try: ", label ?: "?");
        fflush(tty);
        yes = fgets(answer, sizeof(answer), tty) && streq(answer, "YES\n");
        fclose(tty);
        return yes;
}

/* The token jetond will pick, when jetonctl can tell: the one named, or
 * the only one present. NULL when it cannot tell (jetond decides). */
static int pick_token(Context *c, const BusValue *objects, Token **ret_tokens, const Token **ret) {
        size_t n;
        int r;

        r = tokens_from_objects(objects, ret_tokens, &n);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        *ret = NULL;
        if (c->token)
                return token_find(*ret_tokens, n, c->token, ret);
        if (n == 1)
                *ret = *ret_tokens;
        return 0;
}

static void print_done(const BusValue *order) {
        const BusValue *e = bus_value_get(order, "Evidence");
        static const char *const flags[] = { "local", "always-sensitive", "never-extractable" };
        _cleanup_free_ char *ref = text_sanitize(bus_value_get_string(order, "Reference"));
        _cleanup_free_ char *serial = text_sanitize(bus_value_get_string(order, "TokenSerial"));
        _cleanup_free_ char *key = text_sanitize(bus_value_get_string(order, "KeyId"));
        _cleanup_free_ char *csr = text_sanitize(bus_value_get_string(order, "CsrPath"));

        printf("Order %s provisioned on token %s: key generated on the token, request signed.\n", ref ?: "?",
               serial && *serial ? serial : "-");
        printf("  Key ID: %s\n", key && *key ? key : "-");
        printf("  CSR: %s\n", csr && *csr ? csr : "-");
        fputs("  Evidence:", stdout);
        for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
                bool b;

                if (bus_value_get_bool(e, flags[i], &b))
                        printf(" %s=%s", flags[i], b ? "yes" : "no");
        }
        putchar('\n');
}

int verb_provision(Context *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(bus_value_freep) BusValue *objects = NULL, *job = NULL, *order = NULL;
        _cleanup_free_ OrderView *orders = NULL;
        _cleanup_free_ Token *tokens = NULL;
        _cleanup_free_ char *job_path = NULL;
        const OrderView *o;
        const Token *t;
        int pin_fd = -1, r, status;

        /* No core dump and no ptrace of a process that will hold a PIN. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        r = order_get(c->bus, argv[1], &objects, &orders, &o);
        if (r != 0)
                return r;
        r = pick_token(c, objects, &tokens, &t);
        if (r != 0)
                return r;

        if (t && token_has_pin_flag(t, "locked")) {
                log_errorf(-EPERM, "The user PIN of this token is locked: nothing can be done on it.");
                return EXIT_PIN;
        }
        if (t && token_has_pin_flag(t, "final-try") && !c->confirm_final_try) {
                if (!confirm_final_try(t)) {
                        log_errorf(-ECANCELED, "The token is on its final PIN try: a wrong PIN locks it. Not "
                                   "confirmed; use --confirm-final-try (or type YES on a terminal) if you are "
                                   "sure of the PIN.");
                        return EXIT_PIN;
                }
                c->confirm_final_try = true;
        }

        r = pin_source_open(c, &pin_fd);
        if (r != 0)
                return r;

        r = jetond_call_new(c->bus, o->path, JETON_ORDER_IFACE, "Provision", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", t ? t->path : c->token ?: "");
        if (r >= 0)
                r = c->confirm_final_try ? sd_bus_message_append(m, "a{sv}", 1, "confirm-final-try", "b", true)
                                         : sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0) {
                if (pin_fd >= 0)
                        close(pin_fd);
                return log_errorf(r, "Failed to build the call: %m");
        }

        status = job_run(c, m, pin_fd, "provisioning", &job_path, &job);
        if (status == 0 || job_path) {
                r = order_get_properties(c, o->path, &order);
                if (r != 0 && status == 0)
                        return r;
        }
        if (c->json != JSON_OFF && job_path) {
                r = job_write_json(c, o->path, order, job_path, job);
                if (r != 0 && status == 0)
                        return r;
        } else if (status == 0)
                print_done(order);
        return status;
}
