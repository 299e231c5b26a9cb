/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "call-error.h"
#include "jetonctl.h"
#include "pin-agent.h"
#include "text.h"

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static void strv_freep(char ***l) {
        for (char **i = *l; i && *i; i++)
                free(*i);
        free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

void pin_agent_init(PinAgent *a, int pin_fd, bool confirmed_final_try) {
        *a = (PinAgent) {
                .pin_fd = pin_fd,
                .confirmed_final_try = confirmed_final_try,
                .tty = -1,
        };
}

static bool strv_contains(char **l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* Ends the prompt's line: echo is off, so the Enter that did not come
 * is not on the screen either. */
static void tty_newline(PinAgent *a) {
        if (a->tty >= 0 && write(a->tty, "\n", 1) < 0)
                return;         /* the terminal is gone: nothing to tidy */
}

static void tty_restore(PinAgent *a) {
        if (a->restore) {
                (void) tcsetattr(a->tty, TCSAFLUSH, &a->saved);
                a->restore = false;
        }
}

static void prompt_close(PinAgent *a) {
        a->tty_source = sd_event_source_disable_unref(a->tty_source);
        tty_restore(a);
        if (a->tty >= 0) {
                close(a->tty);
                a->tty = -1;
        }
        a->pin = pin_buffer_free(a->pin);
}

/* Refuses the request m: jetond fails the job; we say why here. */
static int refuse(PinAgent *a, sd_bus_message *m, const char *fmt, ...) _printf_(3, 4);
static int refuse(PinAgent *a, sd_bus_message *m, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                msg = NULL;
        log_errorf(0, "%s", msg ?: "Out of memory.");
        a->status = EXIT_PIN;
        return sd_bus_reply_method_errorf(m, PIN_AGENT_ERROR_CANCELED, "%s", msg ?: "PIN request refused");
}

/* Hands pin over in a fresh pipe: a short write to an empty pipe never
 * blocks, and the PIN is wiped right after it. */
static int answer(PinAgent *a, sd_bus_message *m, PinBuffer *pin) {
        int fds[2], r;

        if ((a->min_len > 0 && pin->len < a->min_len) || (a->max_len > 0 && pin->len > a->max_len)) {
                size_t len = pin->len;

                pin_buffer_wipe(pin);
                return refuse(a, m, "The PIN has %zu characters; this token takes %u to %u. Nothing was sent "
                              "to the token.", len, a->min_len, a->max_len);
        }

        if (pipe2(fds, O_CLOEXEC) < 0) {
                pin_buffer_wipe(pin);
                return refuse(a, m, "Failed to make a pipe for the PIN: %m");
        }
        pin->data[pin->len] = '\n';
        r = write(fds[1], pin->data, pin->len + 1) == (ssize_t) (pin->len + 1) ? 0 : -EIO;
        pin_buffer_wipe(pin);
        close(fds[1]);
        if (r < 0) {
                close(fds[0]);
                return refuse(a, m, "Failed to write the PIN to its pipe.");
        }

        a->answered = true;
        r = sd_bus_reply_method_return(m, "h", fds[0]);       /* sd-bus sends a duplicate */
        close(fds[0]);
        return r;
}

static void print_warnings(FILE *f, const char *label, const char *reason, char **flags) {
        _cleanup_free_ char *safe_label = text_sanitize(label), *safe_reason = text_sanitize(reason);

        fprintf(f, "jetond asks for the user PIN of token \"%s\" to %s.\n", safe_label ?: "?",
                safe_reason && *safe_reason ? safe_reason : "log in");
        if (strv_contains(flags, "final-try"))
                fputs("Warning: final try: a wrong PIN locks the token.\n", f);
        else if (strv_contains(flags, "count-low"))
                fputs("Warning: a wrong PIN was entered on this token before; few tries are left.\n", f);
}

static int on_tty(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PinAgent *a = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(a->pending);
        PinBuffer *pin = a->pin;
        ssize_t k;
        size_t n;

        /* Canonical mode: the whole line is there, or the line is longer
         * than the buffer. */
        k = read(a->tty, pin->data, sizeof(pin->data));
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                a->pending = TAKE_PTR(m);
                return 0;
        }
        if (k <= 0 || !memchr(pin->data, '\n', (size_t) k)) {
                bool too_long = k > 0;

                if (too_long)
                        (void) tcflush(a->tty, TCIFLUSH);
                tty_newline(a);
                prompt_close(a);
                if (too_long)
                        return refuse(a, m, "The PIN is longer than %d characters; nothing was sent.", PIN_MAX);
                return refuse(a, m, "No PIN entered.");
        }
        n = (size_t) k;
        while (n > 0 && (pin->data[n - 1] == '\n' || pin->data[n - 1] == '\r'))
                pin->data[--n] = '\0';
        pin->len = n;
        tty_restore(a);

        a->pin = NULL;
        (void) answer(a, m, pin);
        pin_buffer_free(pin);
        prompt_close(a);
        return 0;
}

static int prompt_open(PinAgent *a, sd_bus_message *m, const char *label, const char *reason, char **flags) {
        _cleanup_fclose_ FILE *f = NULL;
        struct termios t;
        int r;

        a->tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (a->tty < 0)
                return refuse(a, m, "jetond asks for a PIN and there is no terminal to ask it on: use "
                              "--pin-fd or --pin-file.");

        f = fdopen(dup(a->tty), "w");
        if (!f) {
                prompt_close(a);
                return refuse(a, m, "Failed to write to the terminal: %m");
        }
        if (tcgetattr(a->tty, &a->saved) < 0) {
                prompt_close(a);
                return refuse(a, m, "Failed to read the terminal's settings: %m");
        }
        t = a->saved;
        t.c_lflag &= ~(tcflag_t) ECHO;
        t.c_lflag |= ECHONL | ICANON;
        a->restore = true;
        if (tcsetattr(a->tty, TCSAFLUSH, &t) < 0) {
                a->restore = false;
                prompt_close(a);
                return refuse(a, m, "Failed to turn the terminal's echo off: %m");
        }

        if (a->before_prompt)
                a->before_prompt(a->userdata);
        print_warnings(f, label, reason, flags);
        if (a->max_len > 0)
                fprintf(f, "PIN (%u to %u characters): ", a->min_len, a->max_len);
        else
                fputs("PIN: ", f);
        fflush(f);

        r = pin_buffer_new(&a->pin);
        if (r >= 0)
                r = sd_event_add_io(a->event, &a->tty_source, a->tty, EPOLLIN, on_tty, a);
        if (r < 0) {
                prompt_close(a);
                return refuse(a, m, "Failed to wait for the PIN: %s", strerror(-r));
        }
        a->pending = sd_bus_message_ref(m);
        return 1;
}

static int method_request_pin(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PinAgent *a = userdata;
        _cleanup_strv_free_ char **flags = NULL;
        const char *token, *label, *reason;
        unsigned min_len, max_len;
        int r;

        /* Only jetond: any other local client could call us too. */
        if (!a->daemon || !streq(sd_bus_message_get_sender(m) ?: "", a->daemon))
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_ACCESS_DENIED, "Only jetond may ask for the PIN.");

        r = sd_bus_message_read(m, "oss", &token, &label, &reason);
        if (r >= 0)
                r = sd_bus_message_read_strv(m, &flags);
        if (r >= 0)
                r = sd_bus_message_read(m, "uu", &min_len, &max_len);
        if (r < 0)
                return r;

        if (a->answered)
                return refuse(a, m, "jetond asks for the PIN again; jetonctl gives it once. Run the command "
                              "again to try another.");
        if (a->pending)
                return sd_bus_reply_method_errorf(m, PIN_AGENT_ERROR_CANCELED, "Already asking for a PIN.");
        if (strv_contains(flags, "locked"))
                return refuse(a, m, "The PIN of token \"%s\" is locked.", label);
        if (strv_contains(flags, "final-try") && !a->confirmed_final_try)
                return refuse(a, m, "Final try: a wrong PIN locks the token. Nothing was sent; use "
                              "--confirm-final-try if you are sure of the PIN.");
        a->min_len = min_len;
        a->max_len = max_len > PIN_MAX ? PIN_MAX : max_len;

        if (a->pin_fd >= 0) {
                _cleanup_(pin_buffer_freep) PinBuffer *pin = NULL;

                r = pin_buffer_new(&pin);
                if (r < 0)
                        return r;
                r = pin_read_line(a->pin_fd, pin);
                close(a->pin_fd);
                a->pin_fd = -1;
                if (r == -ENODATA)
                        return refuse(a, m, "No PIN to read: the PIN source is empty.");
                if (r == -EMSGSIZE)
                        return refuse(a, m, "The PIN source's first line is longer than %d bytes.", PIN_MAX);
                if (r == -EBADMSG)
                        return refuse(a, m, "The PIN source holds a NUL byte.");
                if (r < 0)
                        return refuse(a, m, "Failed to read the PIN: %s", strerror(-r));
                return answer(a, m, pin);
        }

        return prompt_open(a, m, label, reason, flags);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PinAgent *a = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pending = NULL;

        if (!a->daemon || !streq(sd_bus_message_get_sender(m) ?: "", a->daemon))
                return sd_bus_error_set(ret_error, SD_BUS_ERROR_ACCESS_DENIED, "Only jetond may cancel.");

        if (a->pending) {
                pending = TAKE_PTR(a->pending);
                if (a->tty >= 0)
                        tty_newline(a);
                prompt_close(a);
                log_errorf(0, "jetond no longer needs the PIN.");
                (void) sd_bus_reply_method_errorf(pending, PIN_AGENT_ERROR_CANCELED, "Cancelled by jetond.");
        }
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* Unprivileged for sd-bus: we check the caller ourselves (jetond only). */
        SD_BUS_METHOD_WITH_ARGS("RequestPin",
                                SD_BUS_ARGS("o", token, "s", token_label, "s", reason, "as", pin_flags,
                                            "u", min_len, "u", max_len),
                                SD_BUS_RESULT("h", fd), method_request_pin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_ARGS("o", token), SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int pin_agent_register(PinAgent *a, sd_bus *bus, sd_event *event) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        a->bus = bus;
        a->event = event;
        r = sd_bus_add_object_vtable(bus, &a->slot, PIN_AGENT_PATH, JETON_AGENT_IFACE, agent_vtable, a);
        if (r < 0)
                return log_errorf(r, "Failed to publish the PIN agent: %m");

        r = sd_bus_call_method(bus, JETON_BUS_NAME, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "RegisterPinAgent",
                               &error, &reply, "o", PIN_AGENT_PATH);
        if (r < 0)
                return log_call_error(&error, r, "Failed to register as jetond's PIN agent");
        /* The reply comes from jetond's unique name: only it may ask. */
        a->daemon = strdup(sd_bus_message_get_sender(reply) ?: "");
        if (!a->daemon)
                return log_errorf(-ENOMEM, "Out of memory.");
        a->registered = true;
        return 0;
}

void pin_agent_done(PinAgent *a) {
        if (a->pending) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(a->pending);

                if (a->tty >= 0)
                        tty_newline(a);
                (void) sd_bus_reply_method_errorf(m, PIN_AGENT_ERROR_CANCELED, "jetonctl was interrupted.");
        }
        prompt_close(a);
        if (a->registered && a->bus)
                (void) sd_bus_call_method(a->bus, JETON_BUS_NAME, JETON_ROOT_PATH, JETON_MANAGER_IFACE,
                                          "UnregisterPinAgent", NULL, NULL, "o", PIN_AGENT_PATH);
        a->registered = false;
        a->slot = sd_bus_slot_unref(a->slot);
        free(a->daemon);
        a->daemon = NULL;
        if (a->pin_fd >= 0) {
                close(a->pin_fd);
                a->pin_fd = -1;
        }
}
