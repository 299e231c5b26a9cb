/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authorize.h"
#include "bus-error.h"
#include "log.h"
#include "manager.h"
#include "util.h"

typedef struct AuthQuery {
        Manager *manager;
        sd_bus_message *message;        /* the method call we answer */
        char *action;
        AuthorizeCallback callback;
        void *userdata;
        void (*free_userdata)(void *userdata);
} AuthQuery;

static void auth_query_free(void *p) {
        AuthQuery *q = p;

        if (!q)
                return;
        if (q->free_userdata)
                q->free_userdata(q->userdata);
        sd_bus_message_unref(q->message);
        free(q->action);
        free(q);
}

int bus_actor_from_message(sd_bus_message *message, StoreActor *ret, char **ret_name) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        struct passwd pw, *result = NULL;
        char buf[4096];
        char *name;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;

        /* NSS on the loop's thread: /etc/passwd for system users, which is
         * who may change anything here. */
        (void) getpwuid_r(uid, &pw, buf, sizeof buf, &result);
        if (result)
                r = asprintf(&name, "%s (%s)", result->pw_name, strna(sd_bus_message_get_sender(message)));
        else
                r = asprintf(&name, "%u (%s)", (unsigned) uid, strna(sd_bus_message_get_sender(message)));
        if (r < 0)
                return -ENOMEM;

        *ret = (StoreActor) { .uid = uid, .name = name };
        *ret_name = name;
        return 0;
}

static void audit_denial(AuthQuery *q, const char *why) {
        _cleanup_free_ char *name = NULL, *detail = NULL;
        StoreActor actor;
        StoreError error = {};
        int r;

        if (!q->manager->store)
                return;
        r = bus_actor_from_message(q->message, &actor, &name);
        if (r < 0) {
                actor = (StoreActor) { .uid = (uid_t) -1, .name = sd_bus_message_get_sender(q->message) };
        }
        if (asprintf(&detail, "%s %s.%s: %s", q->action, strna(sd_bus_message_get_interface(q->message)),
                     strna(sd_bus_message_get_member(q->message)), why) < 0) {
                log_oom();
                return;
        }
        r = store_audit_append(q->manager->store, &actor,
                               &(StoreAuditEntry) { .action = "authorize", .result = "denied", .detail = detail },
                               &error);
        if (r < 0)
                log_warning_errno(r, "Failed to record a refusal in the audit log: %s", error.message);
}

static int auth_query_deny(AuthQuery *q, const char *why) {
        log_info("Refused %s to %s: %s", q->action, strna(sd_bus_message_get_sender(q->message)), why);
        audit_denial(q, why);
        return sd_bus_reply_method_errorf(q->message, JETON_ERROR_PERMISSION_DENIED,
                                          "Not authorised to %s (%s).", q->action, why);
}

static int auth_query_allow(AuthQuery *q) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_rewind(q->message, true);
        if (r >= 0)
                r = q->callback(q->manager, q->message, q->userdata, &error);
        if (sd_bus_error_is_set(&error))
                return sd_bus_reply_method_error(q->message, &error);
        if (r < 0)
                return sd_bus_reply_method_errnof(q->message, r, "%s failed: %m",
                                                  strna(sd_bus_message_get_member(q->message)));
        return 0;
}

static bool uid_in_group(uid_t uid, gid_t gid) {
        struct passwd pw, *result = NULL;
        char buf[4096];
        gid_t groups[256];
        int n = ELEMENTSOF(groups);

        if (getpwuid_r(uid, &pw, buf, sizeof buf, &result) != 0 || !result)
                return false;
        if (getgrouplist(result->pw_name, result->pw_gid, groups, &n) < 0)
                return false;
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

/* Without polkit: root, or a member of AdminGroup=. The credentials are
 * the bus daemon's view of the sender (its groups at connect time); when
 * the bus cannot tell the supplementary groups, the group database does. */
static int auth_query_fallback(AuthQuery *q) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *group = q->manager->config.admin_group;
        struct group gr, *result = NULL;
        char buf[4096];
        const gid_t *gids;
        gid_t egid;
        uid_t uid;
        int r, n;

        r = sd_bus_query_sender_creds(q->message, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID |
                                                  SD_BUS_CREDS_SUPPLEMENTARY_GIDS, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0) {
                log_warning_errno(r, "Cannot read the credentials of %s: %m",
                                  strna(sd_bus_message_get_sender(q->message)));
                return auth_query_deny(q, "the caller's credentials are unknown");
        }
        if (uid == 0)
                return auth_query_allow(q);

        if (isempty(group) || getgrnam_r(group, &gr, buf, sizeof buf, &result) != 0 || !result)
                return auth_query_deny(q, "polkit is not running and the caller is not root");

        if (sd_bus_creds_get_egid(creds, &egid) >= 0 && egid == result->gr_gid)
                return auth_query_allow(q);
        n = sd_bus_creds_get_supplementary_gids(creds, &gids);
        if (n >= 0) {
                for (int i = 0; i < n; i++)
                        if (gids[i] == result->gr_gid)
                                return auth_query_allow(q);
        } else if (uid_in_group(uid, result->gr_gid))
                return auth_query_allow(q);

        return auth_query_deny(q, "polkit is not running and the caller is neither root nor in the admin group");
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const sd_bus_error *e;
        int authorized, challenge, r;

        e = sd_bus_message_get_error(reply);
        if (e) {
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                        log_debug("polkit is not on the bus, deciding %s by uid and group.", q->action);
                        r = auth_query_fallback(q);
                } else {
                        log_warning("polkit failed to check %s: %s", q->action, e->message);
                        r = sd_bus_reply_method_errorf(q->message, JETON_ERROR_FAILED,
                                                       "Cannot check authorisation for %s: %s", q->action,
                                                       e->message);
                }
                goto finish;
        }

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_warning_errno(r, "Bad reply from polkit: %m");
                r = sd_bus_reply_method_errorf(q->message, JETON_ERROR_FAILED,
                                               "Cannot check authorisation for %s: bad reply from polkit.",
                                               q->action);
                goto finish;
        }

        if (authorized)
                r = auth_query_allow(q);
        else if (challenge)
                r = auth_query_deny(q, "polkit requires interactive authentication");
        else
                r = auth_query_deny(q, "polkit said no");

finish:
        if (r < 0)
                log_warning_errno(r, "Failed to answer %s: %m", strna(sd_bus_message_get_member(q->message)));
        return 0;
}

int authorize(Manager *m, sd_bus_message *message, const char *action, AuthorizeCallback callback,
              void *userdata, void (*free_userdata)(void *userdata)) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        const char *sender = sd_bus_message_get_sender(message);
        AuthQuery *q;
        uint32_t flags = 0;
        int r;

        q = calloc(1, sizeof(AuthQuery));
        if (!q) {
                if (free_userdata)
                        free_userdata(userdata);
                return -ENOMEM;
        }
        *q = (AuthQuery) {
                .manager = m,
                .message = sd_bus_message_ref(message),
                .action = strdup(action),
                .callback = callback,
                .userdata = userdata,
                .free_userdata = free_userdata,
        };
        if (!q->action || !sender) {
                auth_query_free(q);
                return !sender ? -EBADMSG : -ENOMEM;
        }

        /* 1: AllowUserInteraction, when the caller said it can wait. */
        if (sd_bus_message_get_allow_interactive_authorization(message))
                flags |= 1;

        r = sd_bus_message_new_method_call(m->bus, &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", sender,
                                          action, 0, flags, "");
        if (r >= 0)
                r = sd_bus_call_async(m->bus, &slot, call, on_check_authorization, q,
                                      flags ? UINT64_C(300) * 1000000 : 0);
        if (r < 0) {
                auth_query_free(q);
                return r;
        }
        /* The slot owns q from now on, and the bus owns the slot. */
        r = sd_bus_slot_set_destroy_callback(slot, auth_query_free);
        if (r >= 0)
                r = sd_bus_slot_set_floating(slot, true);
        if (r < 0) {
                /* The destroy callback may or may not be set: do not free q twice. */
                (void) sd_bus_slot_set_destroy_callback(slot, NULL);
                auth_query_free(q);
                return r;
        }
        return 1;
}
