/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "log.h"
#include "manager.h"
#include "profiles.h"
#include "util.h"

/* Each error of the model may hold several problems, one per line. */
static int split_lines(char **errors, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        for (char **e = errors; e && *e; e++) {
                const char *p = *e;

                while (*p) {
                        size_t n = strcspn(p, "\n");

                        if (n > 0) {
                                _cleanup_free_ char *line = strndup(p, n);

                                if (!line || strv_extend(&l, line) < 0)
                                        return -ENOMEM;
                        }
                        p += n;
                        if (*p)
                                p++;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int profile_error_split(const char *problem, char **ret_location, const char **ret_message) {
        const char *p, *sep = NULL;

        /* "path:line: message": the first ":<digits>: " ends the location
         * (a path may hold colons, but not that); else the first ": ". */
        for (p = strchr(problem, ':'); p; p = strchr(p + 1, ':')) {
                size_t d = strspn(p + 1, "0123456789");

                if (d > 0 && p[1 + d] == ':' && p[2 + d] == ' ') {
                        sep = p + 1 + d;
                        break;
                }
        }
        if (!sep)
                sep = strstr(problem, ": ");
        if (!sep) {
                *ret_location = strdup("");
                *ret_message = problem;
        } else {
                *ret_location = strndup(problem, sep - problem);
                *ret_message = sep + 2;
        }
        return *ret_location ? 0 : -ENOMEM;
}

int profiles_load(Manager *m) {
        _cleanup_(profile_set_freep) ProfileSet *set = NULL;
        _cleanup_strv_free_ char **raw = NULL, **errors = NULL;
        char **dirs = m->config.profile_directories;
        static char *const none[] = { NULL };
        int r;

        r = profile_set_load((const char *const *) (dirs ?: (char **) none), &set, &raw);
        if (r < 0)
                return r;
        r = split_lines(raw, &errors);
        if (r < 0)
                return r;

        /* A broken profile is the administrator's to fix: say where, and run
         * with the others. */
        for (char **e = errors; e && *e; e++)
                log_error("%s", *e);
        log_info("Loaded %zu profile(s), %zu problem(s).", set->n_profiles, strv_length(errors));
        if (set->n_profiles == 0)
                log_warning("No profile loaded: orders cannot be added. Searched: %s%s",
                            dirs && dirs[0] ? dirs[0] : "(none)", dirs && dirs[0] && dirs[1] ? " ..." : "");

        profiles_done(m);
        m->profiles = TAKE_PTR(set);
        m->profile_errors = TAKE_PTR(errors);
        return 0;
}

void profiles_done(Manager *m) {
        m->profiles = profile_set_free(m->profiles);
        m->profile_errors = strv_free(m->profile_errors);
}

const Profile *profiles_find(Manager *m, const char *name) {
        if (!m->profiles || !name)
                return NULL;
        return profile_set_find(m->profiles, name);
}
