/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus-error.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "pin-agent.h"
#include "util.h"

/* A person types the PIN meanwhile. */
#define REQUEST_PIN_TIMEOUT_USEC (5ULL * 60ULL * 1000000ULL)

/* Registering is open to every local user, so it is bounded: one
 * NameOwnerChanged match per connection however many agents it registers
 * (the bus refuses a connection's 513th match, and that would cut jetond
 * off the bus), and a few agents per connection and per user. */
#define AGENTS_PER_CONNECTION 4
#define AGENTS_PER_USER 16

static PinAgent *pin_agent_free(PinAgent *a) {
        if (!a)
                return NULL;
        sd_bus_slot_unref(a->match);
        free(a->owner);
        free(a->path);
        free(a);
        return NULL;
}

static void pin_agent_unlink(Manager *m, PinAgent *a) {
        for (PinAgent **p = &m->pin_agents; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        return;
                }
}

static PinAgent *pin_agent_find(Manager *m, const char *owner, const char *path) {
        for (PinAgent *a = m->pin_agents; a; a = a->next)
                if (streq(a->owner, owner) && (!path || streq(a->path, path)))
                        return a;
        return NULL;
}

/* Unlinks and frees a; the connection's match moves to another agent of the
 * same connection, if one is left. */
static void pin_agent_remove(Manager *m, PinAgent *a) {
        pin_agent_unlink(m, a);
        if (a->match) {
                PinAgent *b = pin_agent_find(m, a->owner, NULL);

                if (b) {
                        b->match = TAKE_PTR(a->match);
                        (void) sd_bus_slot_set_userdata(b->match, b);
                }
        }
        pin_agent_free(a);
}

static void pin_agents_remove_owner(Manager *m, const char *owner) {
        _cleanup_free_ char *name = strdup(owner);     /* owner belongs to an agent we free */

        if (!name)
                return;
        for (PinAgent *b; (b = pin_agent_find(m, name, NULL));)
                pin_agent_remove(m, b);
}

static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        PinAgent *a = userdata;
        Manager *m = a->manager;
        const char *name, *old, *new;

        if (sd_bus_message_read(message, "sss", &name, &old, &new) < 0 || !streq(name, a->owner) || !isempty(new))
                return 0;

        /* Every agent of that name goes; a is among them. */
        log_debug("PIN agents of %s left the bus.", name);
        pin_agents_remove_owner(m, name);
        return 0;
}

static int on_match_installed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PinAgent *a = userdata;

        /* Without the match we would not see the agent leave: drop it, and
         * return 0 so sd-bus keeps our connection. */
        if (sd_bus_message_is_method_error(reply, NULL)) {
                log_warning("Cannot watch PIN agent %s, dropping its agents: %s", a->owner,
                            sd_bus_message_get_error(reply)->message);
                pin_agents_remove_owner(a->manager, a->owner);
        }
        return 0;
}

/* The agent for a job: the one its requester registered, else the newest of
 * the same user's. A PIN prompt never goes to another user's agent. */
static PinAgent *pin_agent_for_job(Manager *m, const Job *j) {
        PinAgent *a;

        if (!j->requester)
                return NULL;
        a = pin_agent_find(m, j->requester, NULL);
        if (a)
                return a;
        for (a = m->pin_agents; a; a = a->next)
                if (a->uid == j->actor_uid)
                        return a;
        return NULL;
}

int bus_pin_agent_method_register(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_free_ char *match = NULL;
        Manager *m = userdata;
        const char *path, *sender = sd_bus_message_get_sender(message);
        PinAgent *a;
        uid_t uid;
        int r;

        r = sd_bus_message_read(message, "o", &path);
        if (r < 0)
                return r;
        if (!sender)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT, "A PIN agent needs a bus name.");
        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return sd_bus_error_set(error, JETON_ERROR_FAILED, "Cannot identify the PIN agent's user.");
        if (pin_agent_find(m, sender, path))
                return sd_bus_error_setf(error, JETON_ERROR_EXISTS, "PIN agent %s is registered already.", path);
        unsigned n_connection = 0, n_user = 0;
        for (PinAgent *b = m->pin_agents; b; b = b->next) {
                n_connection += streq(b->owner, sender);
                n_user += b->uid == uid;
        }
        if (n_connection >= AGENTS_PER_CONNECTION || n_user >= AGENTS_PER_USER)
                return sd_bus_error_setf(error, JETON_ERROR_BUSY,
                                         "Too many PIN agents registered by this %s; unregister one first.",
                                         n_connection >= AGENTS_PER_CONNECTION ? "connection" : "user");

        a = calloc(1, sizeof(PinAgent));
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->uid = uid;
        a->owner = strdup(sender);
        a->path = strdup(path);
        if (!a->owner || !a->path ||
            asprintf(&match,
                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                     sender) < 0) {
                match = NULL;
                pin_agent_free(a);
                return -ENOMEM;
        }
        /* One match per connection: its first agent holds it. */
        if (!pin_agent_find(m, sender, NULL)) {
                r = sd_bus_add_match_async(sd_bus_message_get_bus(message), &a->match, match,
                                           on_name_owner_changed, on_match_installed, a);
                if (r < 0) {
                        pin_agent_free(a);
                        return r;
                }
        }

        a->next = m->pin_agents;
        m->pin_agents = a;
        log_debug("PIN agent %s %s registered.", a->owner, a->path);
        return sd_bus_reply_method_return(message, NULL);
}

int bus_pin_agent_method_unregister(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *path, *sender = sd_bus_message_get_sender(message);
        PinAgent *a;
        int r;

        r = sd_bus_message_read(message, "o", &path);
        if (r < 0)
                return r;
        a = sender ? pin_agent_find(m, sender, path) : NULL;
        if (!a)
                return sd_bus_error_setf(error, JETON_ERROR_NOT_FOUND, "No PIN agent %s registered by %s.", path,
                                         strna(sender));
        pin_agent_remove(m, a);
        return sd_bus_reply_method_return(message, NULL);
}

typedef struct Request {
        Job *job;
        PinAgentReply reply;
} Request;

static int on_request_pin_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Request *req = userdata;
        Job *j = req->job;
        PinAgentReply done = req->reply;
        const sd_bus_error *e;
        int fd, copy = -EBADF, r;

        /* Frees req (its destroy callback). */
        j->pin_slot = sd_bus_slot_unref(j->pin_slot);

        e = sd_bus_message_get_error(reply);
        if (e) {
                done(j, -EIO, e);
                return 0;
        }
        r = sd_bus_message_read(reply, "h", &fd);
        if (r >= 0) {
                copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                r = copy < 0 ? -errno : 0;
        }
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;

                sd_bus_error_set(&err, JETON_ERROR_NO_AGENT, "The PIN agent's answer could not be read.");
                done(j, r, &err);
                return 0;
        }
        done(j, copy, NULL);
        return 0;
}

int pin_agent_request(Manager *m, Job *j, const char *token_path, const char *token_label, const char *reason,
                      char **pin_flags, uint32_t min_len, uint32_t max_len, PinAgentReply reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        PinAgent *a = pin_agent_for_job(m, j);
        Request *req;
        int r;

        if (!a)
                return -ENOENT;

        r = sd_bus_message_new_method_call(m->bus, &call, a->owner, a->path, JETON_PIN_AGENT_INTERFACE,
                                           "RequestPin");
        if (r < 0)
                return r;
        r = sd_bus_message_append(call, "oss", token_path, token_label, reason);
        if (r >= 0)
                r = sd_bus_message_append_strv(call, pin_flags);
        if (r >= 0)
                r = sd_bus_message_append(call, "uu", min_len, max_len);
        if (r < 0)
                return r;

        req = calloc(1, sizeof(Request));
        if (!req)
                return -ENOMEM;
        req->job = j;
        req->reply = reply;
        r = sd_bus_call_async(m->bus, &j->pin_slot, call, on_request_pin_reply, req, REQUEST_PIN_TIMEOUT_USEC);
        if (r < 0) {
                free(req);
                return r;
        }
        /* req lives as long as the slot, replied to or given up. */
        (void) sd_bus_slot_set_destroy_callback(j->pin_slot, free);
        return 0;
}

void pin_agent_cancel(Manager *m, Job *j, const char *token_path) {
        PinAgent *a = pin_agent_for_job(m, j);

        if (!j->pin_slot)
                return;
        j->pin_slot = sd_bus_slot_unref(j->pin_slot);
        if (a)
                (void) sd_bus_call_method_async(m->bus, NULL, a->owner, a->path, JETON_PIN_AGENT_INTERFACE, "Cancel",
                                                NULL, NULL, "o", token_path);
}

void pin_agents_free(Manager *m) {
        while (m->pin_agents) {
                PinAgent *a = m->pin_agents;

                m->pin_agents = a->next;
                pin_agent_free(a);
        }
}
