/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* jetond.conf: one [jetond] section,
 *
 *   [jetond]
 *   Modules=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so /usr/lib/libeTPkcs11.so
 *   StateDirectory=/var/lib/jeton
 *   AdminGroup=jeton
 *   ProfileDirectories=/etc/jeton/profiles /usr/share/jeton/profiles
 *   Database=/var/lib/jeton/jeton.db
 *   Outbox=/var/lib/jeton/outbox
 *   Inbox=/var/lib/jeton/inbox
 *   JobLingerSec=300
 *   ModuleTimeoutSec=15
 *
 * Modules= takes absolute paths separated by blanks; it may be given more
 * than once (the lists add up) and an empty assignment empties the list.
 * Unknown sections and keys, and bad values, are errors that name the file
 * and the line. ProfileDirectories= (absolute paths, highest priority first)
 * adds up like Modules=. Database=, Outbox= and Inbox= default to files
 * under StateDirectory= (config_resolve()). JobLingerSec= is how long a
 * finished Job object stays on the bus (seconds; tests shorten it).
 * ModuleTimeoutSec= is how long a module's scan may run before the module
 * is reported as not answering (seconds). */

#include <stdbool.h>
#include <stdint.h>

#define JETOND_CONFIG_FILE "/etc/jeton/jetond.conf"
#define JOB_LINGER_SEC_DEFAULT 300
#define JOB_LINGER_SEC_MAX 86400
#define MODULE_TIMEOUT_SEC_DEFAULT 15
#define MODULE_TIMEOUT_SEC_MAX 3600

typedef struct Config {
        char **modules;            /* absolute paths, in the order given */
        char *state_directory;
        char *admin_group;
        char **profile_directories;     /* highest priority first */
        char *database;                 /* NULL: $StateDirectory/jeton.db */
        char *outbox;                   /* NULL: $StateDirectory/outbox */
        char *inbox;                    /* NULL: $StateDirectory/inbox */
        uint64_t job_linger_usec;
        uint64_t module_timeout_usec;
} Config;

/* Fills c with the built-in defaults. */
int config_init(Config *c);
void config_done(Config *c);

/* Loads path over the defaults already in c. A missing file is fine when
 * !must_exist (the default path); errors are logged with file:line and
 * returned as negative errno (-EINVAL for a bad file). */
int config_load(Config *c, const char *path, bool must_exist);

/* After loading: fills Database=, Outbox= and Inbox= not given from
 * StateDirectory=. Returns 0 or -ENOMEM. */
int config_resolve(Config *c);

/* The built-in module list's one entry (OpenSC for this architecture). */
const char *config_default_module(void);
