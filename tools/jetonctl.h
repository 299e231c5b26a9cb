/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What jetonctl's verbs share: options, exit codes, messages, bus names.
 *
 * A verb returns 0, a negative errno (exit status 1; the verb has already
 * said what failed), or one of the positive exit statuses below, as
 * systemd's *ctl tools do. */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "macro.h"

#define JETON_BUS_NAME "org.jeton.Jeton1"
#define JETON_ROOT_PATH "/org/jeton/Jeton1"
#define JETON_MANAGER_IFACE "org.jeton.Jeton1.Manager"
#define JETON_TOKEN_IFACE "org.jeton.Jeton1.Token"

/* Documented in jetonctl(1): keep them stable. */
enum {
        EXIT_USAGE = 2,
        EXIT_NO_TOKEN = 3,      /* TOKEN names no token, or more than one */
        EXIT_UNREACHABLE = 4,   /* no bus, or jetond is not on it */
};

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

typedef struct Context {
        sd_bus *bus;
        JsonMode json;
        bool legend;
} Context;

int verb_list(Context *c, int argc, char **argv);
int verb_show(Context *c, int argc, char **argv);
int verb_monitor(Context *c, int argc, char **argv);

/* "jetonctl: <message>" on stderr; errno is set from r so the format may
 * use %m. Returns r. */
int log_errorf(int r, const char *fmt, ...) _printf_(2, 3);

/* Reports a failed call to jetond: returns EXIT_UNREACHABLE when the
 * daemon is not there (not running and not activatable, gone, not
 * answering), else r. */
int log_bus_error(const sd_bus_error *error, int r, const char *what);

/* True when error/r says jetond is not on the bus (see above). */
bool bus_error_is_unreachable(const sd_bus_error *error, int r);
