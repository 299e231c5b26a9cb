/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* jetonctl as a PIN agent (org.jeton.Jeton1.PinAgent): while a job runs,
 * jetond asks it for the PIN and gets the read end of a pipe holding it,
 * so the PIN never travels as a string in a message that a bus monitor
 * could print.
 *
 * The PIN comes from --pin-fd or --pin-file, read only when jetond asks,
 * or from the controlling terminal with echo off. The prompt does not
 * block the event loop: the answer to RequestPin waits until the person
 * has typed the line, while signals (Ctrl+C restores the terminal) and
 * the job's progress keep flowing. One PIN is handed over at most: a
 * second request is refused, so a wrong PIN is never tried twice. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <termios.h>

#include "pin-read.h"

#define PIN_AGENT_PATH "/org/jeton/jetonctl/agent"
#define PIN_AGENT_ERROR_CANCELED "org.jeton.Jeton1.PinAgent.Error.Canceled"

typedef struct PinAgent {
        sd_bus *bus;
        sd_event *event;
        sd_bus_slot *slot;
        char *daemon;                   /* jetond's unique name: the one caller answered */
        bool registered;

        int pin_fd;                     /* --pin-fd or the opened --pin-file, else -1 */
        bool confirmed_final_try;
        bool answered;                  /* a PIN was handed over: never a second */
        int status;                     /* why a request was refused (EXIT_PIN), else 0 */

        /* A prompt on the terminal, while one is open. */
        sd_bus_message *pending;
        int tty;
        struct termios saved;
        bool restore;
        sd_event_source *tty_source;
        unsigned min_len, max_len;
        PinBuffer *pin;

        /* Called before anything is written to the terminal, so a
         * progress bar can end its line. */
        void (*before_prompt)(void *userdata);
        void *userdata;
} PinAgent;

/* pin_fd: -1 for the terminal; the agent owns it from here on. */
void pin_agent_init(PinAgent *a, int pin_fd, bool confirmed_final_try);

/* Publishes the agent object and registers it with jetond. Returns 0 or
 * an exit status (jetonctl.h), already reported. */
int pin_agent_register(PinAgent *a, sd_bus *bus, sd_event *event);

/* Answers a pending request with Canceled, restores the terminal,
 * unregisters, wipes and frees. Safe to call more than once. */
void pin_agent_done(PinAgent *a);
