/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Authorisation of the methods that change something: polkit decides
 * (org.freedesktop.PolicyKit1.Authority.CheckAuthorization with the
 * caller's bus name as subject), asked asynchronously so that the loop
 * never waits for it. When polkit is not on the bus, the caller is allowed
 * if it is root or a member of the configured AdminGroup. Reading needs no
 * authorisation.
 *
 * Usage in a method handler:
 *
 *     return authorize(m, message, JETON_ACTION_MANAGE_ORDERS, method_add_order_authorized, NULL, NULL);
 *
 * authorize() returns 1 (the reply comes later) or a negative errno. When
 * the answer is yes, callback is called on the loop with the method call
 * (rewound, so it reads its arguments again) and must send the reply
 * itself, or return a negative errno / set *error, which authorize() turns
 * into the error reply. When it is no, the caller gets
 * org.jeton.Jeton1.Error.PermissionDenied naming the action, and the
 * refusal is written to the audit log. free_userdata (may be NULL) is
 * called on userdata in every case, once. */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "store.h"

typedef struct Manager Manager;

#define JETON_ACTION_PROVISION     "org.jeton.Jeton1.provision"
#define JETON_ACTION_INSTALL       "org.jeton.Jeton1.install"
#define JETON_ACTION_INITIALIZE    "org.jeton.Jeton1.initialize"
#define JETON_ACTION_MANAGE_ORDERS "org.jeton.Jeton1.manage-orders"

typedef int (*AuthorizeCallback)(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error);

int authorize(Manager *m, sd_bus_message *message, const char *action, AuthorizeCallback callback,
              void *userdata, void (*free_userdata)(void *userdata));

/* Who sent message, for the audit log: ret->uid is the sender's effective
 * uid and ret->name points to *ret_name (malloc'd), "<user> (<unique bus
 * name>)", e.g. "root (:1.42)". Returns 0 or a negative errno. */
int bus_actor_from_message(sd_bus_message *message, StoreActor *ret, char **ret_name);
