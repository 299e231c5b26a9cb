/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"
#include "util.h"

#ifndef JETON_SYSCONF_PROFILES_DIR
#  define JETON_SYSCONF_PROFILES_DIR "/etc/jeton/profiles"
#endif
#ifndef JETON_PROFILES_DIR
#  define JETON_PROFILES_DIR "/usr/share/jeton/profiles"
#endif

ProfileSet *profile_set_free(ProfileSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_profiles; i++)
                profile_free(s->profiles[i]);
        free(s->profiles);
        free(s);
        return NULL;
}

const char *const *profile_default_dirs(void) {
        static const char *const dirs[] = { JETON_SYSCONF_PROFILES_DIR, JETON_PROFILES_DIR, NULL };
        return dirs;
}

static int compare_profiles(const void *a, const void *b) {
        return strcmp((*(Profile *const *) a)->name, (*(Profile *const *) b)->name);
}

static bool is_masked(int dir_fd, const char *name) {
        char target[sizeof "/dev/null"];
        ssize_t n = readlinkat(dir_fd, name, target, sizeof target);

        return n == (ssize_t) strlen("/dev/null") && memcmp(target, "/dev/null", (size_t) n) == 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static int add_error(char ***errors, char *message) {
        _cleanup_free_ char *m = message;

        if (!errors)
                return 0;
        return m ? strv_extend(errors, m) : -ENOMEM;
}

static int load_dir(const char *dir, ProfileSet *set, char ***seen, char ***errors) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(dir);
        if (!d) {
                _cleanup_free_ char *m = NULL;

                if (errno == ENOENT)
                        return 0;
                if (asprintf(&m, "%s: cannot open the directory: %s", dir, strerror(errno)) < 0)
                        return -ENOMEM;
                return add_error(errors, TAKE_PTR(m));
        }

        while ((errno = 0, de = readdir(d))) {
                _cleanup_(profile_freep) Profile *pr = NULL;
                _cleanup_free_ char *path = NULL, *name = NULL, *error = NULL;
                size_t n = strlen(de->d_name), suffix = strlen(PROFILE_SUFFIX);
                Profile **l;

                if (de->d_name[0] == '.' || n <= suffix || !streq(de->d_name + n - suffix, PROFILE_SUFFIX))
                        continue;
                name = strndup(de->d_name, n - suffix);
                if (!name)
                        return -ENOMEM;
                if (strv_contains(*seen, name))
                        continue;       /* overridden by an earlier directory */
                r = strv_extend(seen, name);
                if (r < 0)
                        return r;
                if (is_masked(dirfd(d), de->d_name))
                        continue;

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                r = profile_load(path, &pr, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        r = add_error(errors, TAKE_PTR(error));
                        if (r < 0)
                                return r;
                        continue;
                }

                l = reallocarray(set->profiles, set->n_profiles + 1, sizeof(Profile *));
                if (!l)
                        return -ENOMEM;
                set->profiles = l;
                set->profiles[set->n_profiles++] = TAKE_PTR(pr);
        }
        if (errno != 0) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "%s: cannot read the directory: %s", dir, strerror(errno)) < 0)
                        return -ENOMEM;
                return add_error(errors, TAKE_PTR(m));
        }
        return 0;
}

int profile_set_load(const char *const *dirs, ProfileSet **ret, char ***ret_errors) {
        _cleanup_(profile_set_freep) ProfileSet *set = NULL;
        _cleanup_strv_free_ char **seen = NULL;
        int r;

        set = calloc(1, sizeof(ProfileSet));
        if (!set)
                return -ENOMEM;

        for (const char *const *d = dirs; d && *d; d++) {
                r = load_dir(*d, set, &seen, ret_errors);
                if (r < 0)
                        return r;
        }

        if (set->n_profiles > 1)
                qsort(set->profiles, set->n_profiles, sizeof(Profile *), compare_profiles);
        *ret = TAKE_PTR(set);
        return 0;
}

const Profile *profile_set_find(const ProfileSet *s, const char *name) {
        if (!s || !name)
                return NULL;
        for (size_t i = 0; i < s->n_profiles; i++)
                if (streq(s->profiles[i]->name, name))
                        return s->profiles[i];
        return NULL;
}
