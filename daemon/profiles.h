/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The profile set of the daemon: loaded once at start from the configured
 * ProfileDirectories= (highest priority first). A broken file is left out,
 * its "file:line: message" problems are kept for Manager.ProfileErrors and
 * logged, and the daemon runs with the others. */

#include "profile.h"

typedef struct Manager Manager;

/* Fills m->profiles and m->profile_errors. Returns 0 or -ENOMEM. */
int profiles_load(Manager *m);
void profiles_done(Manager *m);

/* Splits one problem "path:line: message" into its location (malloc'd)
 * and its message (borrowed from problem). */
int profile_error_split(const char *problem, char **ret_location, const char **ret_message);

/* The profile of that name, or NULL. */
const Profile *profiles_find(Manager *m, const char *name);
