/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* PIN agents (the iwd / BlueZ model): a client registers an object that
 * implements org.jeton.Jeton1.PinAgent; when a job needs a PIN the daemon
 * calls RequestPin, asynchronously, on the agent registered by the
 * connection that started the job or else on the newest agent of the same
 * user (a desktop agent), never on another user's,
 * and the agent answers with a pipe from which the worker reads the PIN
 * (provision.c). The PIN itself never passes through this file. An agent
 * is forgotten when it unregisters or its bus name leaves the bus. */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Job Job;

#define JETON_PIN_AGENT_INTERFACE "org.jeton.Jeton1.PinAgent"

typedef struct PinAgent PinAgent;
struct PinAgent {
        Manager *manager;
        PinAgent *next;
        char *owner;            /* unique bus name */
        uid_t uid;              /* the owner's effective uid */
        char *path;
        sd_bus_slot *match;     /* NameOwnerChanged of owner */
};

/* Manager.RegisterPinAgent / UnregisterPinAgent (bus-manager.c's vtable). */
int bus_pin_agent_method_register(sd_bus_message *message, void *userdata, sd_bus_error *error);
int bus_pin_agent_method_unregister(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* fd >= 0: the agent's pipe, owned by the callee. fd < 0: error says why
 * (the agent's own error, or a timeout). */
typedef void (*PinAgentReply)(Job *j, int fd, const sd_bus_error *error);

/* Asks the current agent; the call's slot is kept in j->pin_slot (unref it
 * to give up). -ENOENT when no agent is registered. */
int pin_agent_request(Manager *m, Job *j, const char *token_path, const char *token_label, const char *reason,
                      char **pin_flags, uint32_t min_len, uint32_t max_len, PinAgentReply reply);
/* Gives up a pending request and tells the agent (Cancel). */
void pin_agent_cancel(Manager *m, Job *j, const char *token_path);

void pin_agents_free(Manager *m);
