/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What jetonctl's verbs share: options, exit codes, messages, bus names.
 *
 * A verb returns 0, a negative errno (exit status 1; the verb has already
 * said what failed), or one of the positive exit statuses below, as
 * systemd's *ctl tools do. */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "json.h"
#include "macro.h"

#define JETON_BUS_NAME "org.jeton.Jeton1"
#define JETON_ROOT_PATH "/org/jeton/Jeton1"
#define JETON_MANAGER_IFACE "org.jeton.Jeton1.Manager"
#define JETON_TOKEN_IFACE "org.jeton.Jeton1.Token"
#define JETON_ORDER_IFACE "org.jeton.Jeton1.Order"
#define JETON_JOB_IFACE "org.jeton.Jeton1.Job"
#define JETON_AGENT_IFACE "org.jeton.Jeton1.PinAgent"
#define JETON_BATCH_IFACE "org.jeton.Jeton1.Batch"
#define JETON_ORDER_PREFIX JETON_ROOT_PATH "/order"
#define JETON_JOB_PREFIX JETON_ROOT_PATH "/job"
#define JETON_BATCH_PREFIX JETON_ROOT_PATH "/batch"

/* Documented in jetonctl(1): keep them stable. */
enum {
        EXIT_USAGE = 2,
        EXIT_NO_TOKEN = 3,      /* TOKEN names no token, or more than one */
        EXIT_UNREACHABLE = 4,   /* no bus, or jetond is not on it */
        EXIT_PERMISSION = 5,    /* jetond (polkit) refused the change */
        EXIT_PIN = 6,           /* no PIN, a bad PIN source, or the token refused the PIN */
        EXIT_JOB_FAILED = 7,    /* the job started and failed or was cancelled */
};

/* The fields of "order add", as options and as AddOrder's keys. */
typedef enum OrderArg {
        ORDER_ARG_REFERENCE,
        ORDER_ARG_PROFILE,
        ORDER_ARG_CA,
        ORDER_ARG_PRODUCT,
        ORDER_ARG_GIVEN_NAME,
        ORDER_ARG_SURNAME,
        ORDER_ARG_EMAIL,
        ORDER_ARG_IDENTIFIER,
        ORDER_ARG_ORGANISATION,
        ORDER_ARG_SIRET,
        ORDER_ARG_SIREN,
        ORDER_ARG_VAT,
        _ORDER_ARG_MAX,
} OrderArg;

/* Option name = AddOrder key ("given-name"). */
extern const char *const order_arg_names[_ORDER_ARG_MAX];

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

typedef struct Context {
        sd_bus *bus;
        JsonMode json;
        bool legend;

        /* order add */
        const char *order_args[_ORDER_ARG_MAX];
        unsigned validity_years;        /* 0: not given */
        /* order import */
        const char *format;
        /* order list */
        const char *state;
        /* provision, install */
        const char *token;
        int pin_fd;                     /* -1: not given */
        const char *pin_file;
        bool confirm_final_try;
        bool progress;
        /* batch start, resume */
        bool batch_init;
        const char *so_pin_file;
        const char *user_pin;           /* "random" or "file:FILE" */
        const char *user_pin_file;      /* resume */
        const char *pin_mailer;
        const char *label_template;
        const char *batch_name;
} Context;

int verb_list(Context *c, int argc, char **argv);
int verb_show(Context *c, int argc, char **argv);
int verb_monitor(Context *c, int argc, char **argv);
int verb_order(Context *c, int argc, char **argv);
int verb_provision(Context *c, int argc, char **argv);
int verb_install(Context *c, int argc, char **argv);
int verb_audit(Context *c, int argc, char **argv);
int verb_batch(Context *c, int argc, char **argv);

/* A subcommand of a verb ("order add", "batch watch"). */
typedef struct Subcommand {
        const char *name;
        int min_args, max_args;         /* counting the verb and the subcommand */
} Subcommand;

/* Checks that argv[1] is one of the verb's (argv[0]) subcommands and
 * that argc fits it; else reports the usage error and returns EXIT_USAGE. */
int subcommand_check(const Subcommand *subcommands, size_t n, int argc, char **argv);

/* Usage checks of the verbs above, before the bus is touched. */
int verb_order_check(const Context *c, int argc, char **argv);
int verb_audit_check(const Context *c, int argc, char **argv);
int verb_batch_check(const Context *c, int argc, char **argv);

/* Whether an option of "batch" only was given. */
bool batch_options_given(const Context *c);

/* batch watch (batch-watch.c): follows the batch at path until it ends. */
int batch_watch(Context *c, const char *path);

/* A new call of a method of jetond's that changes something: jetond asks
 * polkit, which may ask the person for a password, so the call allows
 * interactive authorization. Returns 0 or a negative errno. */
int jetond_call_new(sd_bus *bus, const char *path, const char *interface, const char *member,
                    sd_bus_message **ret);

/* A verb's --json output on standard output: json_output_begin() sets w
 * up as the options ask; json_output_end() ends it and reports a write
 * error, returning 0 or the negative errno. */
void json_output_begin(const Context *c, JsonWriter *w);
int json_output_end(JsonWriter *w);

/* "jetonctl: <message>" on stderr; errno is set from r so the format may
 * use %m. Returns r. */
int log_errorf(int r, const char *fmt, ...) _printf_(2, 3);

/* Reports a failed call to jetond: returns EXIT_UNREACHABLE when the
 * daemon is not there (not running and not activatable, gone, not
 * answering), else r. */
int log_bus_error(const sd_bus_error *error, int r, const char *what);

/* True when error/r says jetond is not on the bus (see above). */
bool bus_error_is_unreachable(const sd_bus_error *error, int r);
