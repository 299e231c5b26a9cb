/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "profile.h"
#include "util.h"

/* Set by daemon/build.mk from the compiler's multiarch tuple, so the
 * default OpenSC path is right on every Debian architecture. */
#ifndef JETON_MULTIARCH
#  error "JETON_MULTIARCH must be defined (see daemon/build.mk)"
#endif

const char *config_default_module(void) {
        return "/usr/lib/" JETON_MULTIARCH "/opensc-pkcs11.so";
}

int config_init(Config *c) {
        *c = (Config) {};
        if (strv_extend(&c->modules, config_default_module()) < 0)
                return -ENOMEM;
        c->state_directory = strdup("/var/lib/jeton");
        c->admin_group = strdup("jeton");
        c->job_linger_usec = JOB_LINGER_SEC_DEFAULT * UINT64_C(1000000);
        c->module_timeout_usec = MODULE_TIMEOUT_SEC_DEFAULT * UINT64_C(1000000);
        if (!c->state_directory || !c->admin_group) {
                config_done(c);
                return -ENOMEM;
        }
        for (const char *const *d = profile_default_dirs(); *d; d++)
                if (strv_extend(&c->profile_directories, *d) < 0) {
                        config_done(c);
                        return -ENOMEM;
                }
        return 0;
}

void config_done(Config *c) {
        c->modules = strv_free(c->modules);
        free(c->state_directory);
        c->state_directory = NULL;
        free(c->admin_group);
        c->admin_group = NULL;
        c->profile_directories = strv_free(c->profile_directories);
        c->database = mfree(c->database);
        c->outbox = mfree(c->outbox);
        c->inbox = mfree(c->inbox);
}

static int resolve_one(char **value, const char *state_directory, const char *name) {
        char *p;

        if (*value)
                return 0;
        if (asprintf(&p, "%s/%s", state_directory, name) < 0)
                return -ENOMEM;
        *value = p;
        return 0;
}

int config_resolve(Config *c) {
        if (resolve_one(&c->database, c->state_directory, "jeton.db") < 0 ||
            resolve_one(&c->outbox, c->state_directory, "outbox") < 0 ||
            resolve_one(&c->inbox, c->state_directory, "inbox") < 0)
                return -ENOMEM;
        return 0;
}

typedef struct Parser {
        Config *config;
        const char *path;
        FILE *f;
        unsigned line;          /* the line being parsed */
        unsigned next_line;
        bool modules_seen;      /* the first Modules= replaces the default */
        bool profile_directories_seen;
        int error;
} Parser;

/* inih does not tell the handler the line number (Debian builds it
 * without INI_HANDLER_LINENO), so we feed it ourselves and count. */
static char *parser_read(char *str, int num, void *stream) {
        Parser *p = stream;
        char *r = fgets(str, num, p->f);

        if (!r)
                return NULL;
        p->line = p->next_line;
        if (strchr(r, '\n'))
                p->next_line++;
        return r;
}

_printf_(2, 3) static int parser_fail(Parser *p, const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        /* Only the first error: later ones are often consequences. */
        if (p->error == 0) {
                log_error("%s:%u: %s", p->path, p->line, buf);
                p->error = -EINVAL;
        }
        return 0;
}

static bool valid_group_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 31)
                return false;
        if (!isalpha((unsigned char) s[0]) && s[0] != '_')
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static int parse_modules(Parser *p, const char *value) {
        Config *c = p->config;
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (!p->modules_seen || isempty(value)) {
                c->modules = strv_free(c->modules);
                p->modules_seen = true;
        }
        if (isempty(value))
                return 1;

        copy = strdup(value);
        if (!copy)
                return parser_fail(p, "Out of memory");
        for (char *w = strtok_r(copy, " \t", &saveptr); w; w = strtok_r(NULL, " \t", &saveptr)) {
                if (w[0] != '/')
                        return parser_fail(p, "Modules=: '%s' is not an absolute path", w);
                if (strv_contains(c->modules, w)) {
                        log_warning("%s:%u: Modules=: '%s' listed twice, ignoring the repetition",
                                    p->path, p->line, w);
                        continue;
                }
                if (strv_extend(&c->modules, w) < 0)
                        return parser_fail(p, "Out of memory");
        }
        return 1;
}

static int parse_profile_directories(Parser *p, const char *value) {
        Config *c = p->config;
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;

        if (!p->profile_directories_seen || isempty(value)) {
                c->profile_directories = strv_free(c->profile_directories);
                p->profile_directories_seen = true;
        }
        if (isempty(value))
                return 1;

        copy = strdup(value);
        if (!copy)
                return parser_fail(p, "Out of memory");
        for (char *w = strtok_r(copy, " \t", &saveptr); w; w = strtok_r(NULL, " \t", &saveptr)) {
                if (w[0] != '/')
                        return parser_fail(p, "ProfileDirectories=: '%s' is not an absolute path", w);
                if (strv_contains(c->profile_directories, w))
                        continue;
                if (strv_extend(&c->profile_directories, w) < 0)
                        return parser_fail(p, "Out of memory");
        }
        return 1;
}

static int parse_path(Parser *p, const char *name, const char *value, char **slot) {
        if (value[0] != '/')
                return parser_fail(p, "%s=: '%s' is not an absolute path", name, value);
        if (free_and_strdup(slot, value) < 0)
                return parser_fail(p, "Out of memory");
        return 1;
}

/* A decimal number of seconds from min to max, digits only. */
/* NAME=SECONDS, from min to max, into *ret_usec; 1, or parser_fail(). */
static int parse_seconds(Parser *p, const char *name, const char *value, unsigned min, unsigned max,
                         uint64_t *ret_usec) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(value, &end, 10);
        if (!isdigit((unsigned char) value[0]) || *end || errno != 0 || v < min || v > max)
                return parser_fail(p, "%s=: '%s' is not a number of seconds from %u to %u", name, value, min, max);
        *ret_usec = (uint64_t) v * UINT64_C(1000000);
        return 1;
}

static int parser_handle(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        Config *c = p->config;

        if (!streq(section, "jetond"))
                return parser_fail(p, "Unknown section [%s]", section);

        if (streq(name, "Modules"))
                return parse_modules(p, value);
        if (streq(name, "ProfileDirectories"))
                return parse_profile_directories(p, value);
        if (streq(name, "Database"))
                return parse_path(p, name, value, &c->database);
        if (streq(name, "Outbox"))
                return parse_path(p, name, value, &c->outbox);
        if (streq(name, "Inbox"))
                return parse_path(p, name, value, &c->inbox);

        if (streq(name, "StateDirectory")) {
                if (value[0] != '/')
                        return parser_fail(p, "StateDirectory=: '%s' is not an absolute path", value);
                if (free_and_strdup(&c->state_directory, value) < 0)
                        return parser_fail(p, "Out of memory");
                return 1;
        }

        if (streq(name, "JobLingerSec"))
                return parse_seconds(p, name, value, 0, JOB_LINGER_SEC_MAX, &c->job_linger_usec);

        /* Not 0: a module that never answers must not keep jetond off the
         * bus (registry.c). */
        if (streq(name, "ModuleTimeoutSec"))
                return parse_seconds(p, name, value, 1, MODULE_TIMEOUT_SEC_MAX, &c->module_timeout_usec);

        if (streq(name, "AdminGroup")) {
                if (!valid_group_name(value))
                        return parser_fail(p, "AdminGroup=: '%s' is not a valid group name", value);
                if (free_and_strdup(&c->admin_group, value) < 0)
                        return parser_fail(p, "Out of memory");
                return 1;
        }

        return parser_fail(p, "Unknown key '%s' in section [%s]", name, section);
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

int config_load(Config *c, const char *path, bool must_exist) {
        _cleanup_(fclosep) FILE *f = NULL;
        Parser p = { .config = c, .path = path, .line = 1, .next_line = 1 };
        int r;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !must_exist) {
                        log_debug("No %s, using the defaults.", path);
                        return 0;
                }
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        }
        p.f = f;

        r = ini_parse_stream(parser_read, &p, parser_handle, &p);
        if (p.error < 0)
                return p.error;
        if (r == -2)
                return log_oom();
        if (r != 0) {
                /* A line inih itself could not parse (no '=', unclosed '['). */
                log_error("%s:%i: Syntax error: expected [section] or Key=value", path, r);
                return -EINVAL;
        }
        if (ferror(f))
                return log_error_errno(-EIO, "Failed to read %s: %m", path);
        return 0;
}
