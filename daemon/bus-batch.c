/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "authorize.h"
#include "bus-batch.h"
#include "bus-error.h"
#include "bus-order.h"
#include "bus-manager.h"
#include "install.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "order-import.h"
#include "orders.h"
#include "profiles.h"
#include "util.h"

static char *strv_join_lines(char **l) {
        size_t n = 0;
        char *s, *p;

        for (char **i = l; i && *i; i++)
                n += strlen(*i) + 1;
        s = p = malloc(n + 1);
        if (!s)
                return NULL;
        *p = 0;
        for (char **i = l; i && *i; i++)
                p = stpcpy(stpcpy(p, i == l ? "" : "\n"), *i);
        return s;
}

/* ---- properties ----------------------------------------------------------------- */

static int property_get_assignments(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ssssso)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_assignments; i++) {
                const Assignment *a = b->assignments + i;

                r = sd_bus_message_append(reply, "(ssssso)", strempty(a->reference), strempty(a->token_serial),
                                          strempty(a->reader), assignment_state_to_string(a->state),
                                          strempty(a->detail), a->job_path ?: "/");
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_readers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;
        Manager *m = b->manager;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sso)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_readers; i++) {
                const char *serial = "";

                for (Token *t = m->tokens; t; t = t->next)
                        if (streq_ptr(t->reader, m->readers[i].name) && !isempty(t->serial))
                                serial = t->serial;
                r = sd_bus_message_append(reply, "(sso)", m->readers[i].name, serial,
                                          isempty(serial) ? "/" : batch_job_of_token(b, serial));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;

        return sd_bus_message_append(reply, "s", batch_state_to_string(b->state));
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;

        return sd_bus_message_append(reply, "b", b->initialize);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static int method_pause(sd_bus_message *message, void *userdata, sd_bus_error *error);
static int method_resume(sd_bus_message *message, void *userdata, sd_bus_error *error);
static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error);

const sd_bus_vtable batch_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Batch, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Profile", "s", NULL, offsetof(Batch, profile), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Initialize", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, EMITS),
        SD_BUS_PROPERTY("Detail", "s", NULL, offsetof(Batch, detail), EMITS),
        SD_BUS_PROPERTY("Total", "u", NULL, offsetof(Batch, total), EMITS),
        SD_BUS_PROPERTY("Done", "u", NULL, offsetof(Batch, done), EMITS),
        SD_BUS_PROPERTY("Failed", "u", NULL, offsetof(Batch, failed), EMITS),
        SD_BUS_PROPERTY("Remaining", "u", NULL, offsetof(Batch, remaining), EMITS),
        SD_BUS_PROPERTY("Assignments", "a(ssssso)", property_get_assignments, 0, EMITS),
        SD_BUS_PROPERTY("Readers", "a(sso)", property_get_readers, 0, EMITS),
        SD_BUS_PROPERTY("ManifestCsv", "s", NULL, offsetof(Batch, manifest_csv), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ManifestJson", "s", NULL, offsetof(Batch, manifest_json), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Archive", "s", NULL, offsetof(Batch, archive), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Operator", "s", NULL, offsetof(Batch, operator_name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Created", "t", NULL, offsetof(Batch, created_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Finished", "t", NULL, offsetof(Batch, finished_usec), EMITS),
        SD_BUS_METHOD("Pause", NULL, NULL, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Resume",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- objects ---------------------------------------------------------------------- */

static Batch *batch_from_path(Manager *m, const char *path) {
        const char *prefix = JETON_BATCH_PREFIX "/";
        char *end = NULL;
        uint64_t id;

        if (strncmp(path, prefix, strlen(prefix)) != 0)
                return NULL;
        path += strlen(prefix);
        if (*path < '0' || *path > '9')
                return NULL;
        errno = 0;
        id = strtoull(path, &end, 10);
        if (errno != 0 || *end)
                return NULL;
        return batch_find(m, id);
}

static int batch_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                             sd_bus_error *error) {
        Batch *b = batch_from_path(userdata, path);

        if (!b)
                return 0;
        *found = b;
        return 1;
}

static int batch_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                 sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **l = NULL;

        for (Batch *b = m->batches; b; b = b->next)
                if (strv_extend(&l, b->path) < 0)
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 0;
}

int bus_batch_property_get_batches(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        for (Batch *b = m->batches; b; b = b->next) {
                r = sd_bus_message_append(reply, "o", b->path);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

int bus_batch_setup(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->slot_batches, JETON_BATCH_PREFIX, JETON_BATCH_INTERFACE,
                                       batch_vtable, batch_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the batch vtable: %m");
        r = sd_bus_add_node_enumerator(m->bus, &m->slot_batch_enumerator, JETON_BATCH_PREFIX, batch_node_enumerator,
                                       m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the batch enumerator: %m");
        return 0;
}

void bus_batch_emit_added(Batch *b) {
        int r;

        if (!b->manager->bus)
                return;
        r = sd_bus_emit_interfaces_added(b->manager->bus, b->path, JETON_BATCH_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce %s: %m", b->path);
        bus_manager_emit_changed(b->manager, "Batches");
}

void bus_batch_emit_changed(Batch *b) {
        int r;

        if (!b->manager->bus || !b->path)
                return;
        r = sd_bus_emit_properties_changed(b->manager->bus, b->path, JETON_BATCH_INTERFACE, "State", "Detail",
                                           "Total", "Done", "Failed", "Remaining", "Assignments", "Readers",
                                           "Finished", NULL);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to announce the change of %s: %m", b->path);
}

void bus_batch_emit_readers_changed(Batch *b) {
        int r;

        if (!b->manager->bus)
                return;
        r = sd_bus_emit_properties_changed(b->manager->bus, b->path, JETON_BATCH_INTERFACE, "Readers", NULL);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to announce the change of %s: %m", b->path);
}

/* ---- options --------------------------------------------------------------------- */

typedef struct BatchOptions {
        char *profile;
        char *name;
        char *label_template;
        char *user_pin;                 /* "random", "fd" */
        int initialize;
        int so_pin_fd, user_pin_fd, pin_mailer_fd;      /* dups, -EBADF when absent */
} BatchOptions;

static void batch_options_done(BatchOptions *o) {
        free(o->profile);
        free(o->name);
        free(o->label_template);
        free(o->user_pin);
        safe_close(o->so_pin_fd);
        safe_close(o->user_pin_fd);
        safe_close(o->pin_mailer_fd);
}

/* allowed: the keys this method takes. */
static int read_batch_options(sd_bus_message *message, const char *const *allowed, BatchOptions *o,
                              sd_bus_error *error) {
        int r;

        *o = (BatchOptions) { .so_pin_fd = -EBADF, .user_pin_fd = -EBADF, .pin_mailer_fd = -EBADF };
        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const char *key, *contents = NULL;
                char **text = NULL;
                int *fd = NULL;
                bool known = false;

                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;
                for (size_t i = 0; allowed[i]; i++)
                        known = known || streq(allowed[i], key);
                if (streq(key, "profile"))
                        text = &o->profile;
                else if (streq(key, "name"))
                        text = &o->name;
                else if (streq(key, "label-template"))
                        text = &o->label_template;
                else if (streq(key, "user-pin"))
                        text = &o->user_pin;
                else if (streq(key, "so-pin-fd"))
                        fd = &o->so_pin_fd;
                else if (streq(key, "user-pin-fd"))
                        fd = &o->user_pin_fd;
                else if (streq(key, "pin-mailer-fd"))
                        fd = &o->pin_mailer_fd;
                else if (!streq(key, "initialize"))
                        known = false;
                if (!known)
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Unknown option \"%s\".", key);

                r = sd_bus_message_peek_type(message, NULL, &contents);
                if (r < 0)
                        return r;
                if (text && !streq_ptr(contents, "s"))
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Option \"%s\" takes a string.",
                                                 key);
                if (fd && !streq_ptr(contents, "h"))
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                 "Option \"%s\" takes a file descriptor.", key);
                if (!text && !fd && !streq_ptr(contents, "b"))
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Option \"%s\" takes a boolean.",
                                                 key);
                r = sd_bus_message_enter_container(message, 'v', contents);
                if (r < 0)
                        return r;
                if (text) {
                        const char *s;

                        r = sd_bus_message_read(message, "s", &s);
                        if (r >= 0 && free_and_strdup(text, s) < 0)
                                r = -ENOMEM;
                } else if (fd) {
                        int f;

                        r = sd_bus_message_read(message, "h", &f);
                        if (r >= 0) {
                                safe_close(*fd);
                                *fd = fcntl(f, F_DUPFD_CLOEXEC, 3);
                                if (*fd < 0)
                                        r = -errno;
                        }
                } else {
                        int b;

                        r = sd_bus_message_read(message, "b", &b);
                        o->initialize = b;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(message);
                if (r >= 0)
                        r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(message);
}

/* One line from fd, which must hold it already (a file, or a pipe whose
 * writer is done): read through our own non-blocking description with no
 * time to wait, so the loop never waits for a client. */
static int read_pin(int fd, const char *what, JP11Pin **ret, sd_bus_error *error) {
        _cleanup_(closep) int nfd = fd_reopen_nonblock(fd);
        JP11Error e = {};
        int r;

        if (nfd < 0)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "The %s must come from a file or a pipe.", what),
                       nfd;
        r = jp11_pin_read_fd_timeout(nfd, 0, ret, &e);
        if (r == -ETIMEDOUT)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "The %s is not all there: pass a file, or a pipe written and closed.", what),
                       -EAGAIN;
        if (r < 0)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Cannot read the %s: %s", what,
                                         e.message),
                       r;
        if (jp11_pin_length(*ret) == 0) {
                *ret = jp11_pin_free(*ret);
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "The %s is empty.", what), -EINVAL;
        }
        return 0;
}

/* The operator's PIN-mailer file: a regular file only its owner reads. */
static int check_mailer(int fd, sd_bus_error *error) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The PIN mailer must be a regular file."),
                       -EINVAL;
        if (st.st_mode & 077)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "The PIN mailer file has mode %04o: it must be 0600 (only its owner reads "
                                         "the PINs).",
                                         (unsigned) st.st_mode & 07777),
                       -EPERM;
        if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT, "The PIN mailer is not open for writing."),
                       -EBADF;
        return 0;
}

/* ---- Manager.StartBatch -------------------------------------------------------------- */

static const char *const start_keys[] = {
        "profile", "initialize", "label-template", "so-pin-fd", "user-pin", "user-pin-fd", "pin-mailer-fd", "name",
        NULL,
};

static int start_final(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(batch_options_done) BatchOptions o = {};
        _cleanup_(jp11_pin_freep) JP11Pin *so_pin = NULL, *user_pin = NULL;
        _cleanup_strv_free_ char **problems = NULL, **references = NULL;
        _cleanup_free_ char *text = NULL, *actor_name = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        OrderImportFormat fmt;
        const char *format;
        Order **orders = NULL;
        StoreError e = {};
        StoreActor actor;
        Batch *b = NULL;
        size_t size = 0, n = 0;
        bool random_pin;
        int fd, r;

        r = sd_bus_message_read(message, "hs", &fd, &format);
        if (r < 0)
                return r;
        if (!streq(format, "") && !streq(format, "csv") && !streq(format, "json"))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "Unknown format \"%s\": \"csv\", \"json\" or \"\" (guess).", format);
        r = read_batch_options(message, start_keys, &o, error);
        if (r < 0)
                return r;

        if (isempty(o.profile))
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT, "A batch needs a profile (\"profile\")."),
                       -EINVAL;
        if (!profiles_find(m, o.profile))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Profile \"%s\" is not loaded.",
                                         o.profile),
                       -EINVAL;
        if (!isempty(o.user_pin) && !streq(o.user_pin, "random") && !streq(o.user_pin, "fd"))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "Option \"user-pin\" is \"random\" or \"fd\", not \"%s\".", o.user_pin),
                       -EINVAL;
        random_pin = streq_ptr(o.user_pin, "random") || (isempty(o.user_pin) && o.initialize && o.user_pin_fd < 0);
        if (random_pin && !o.initialize)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "Random user PINs are set by initialising the tokens: add \"initialize\"."),
                       -EINVAL;
        if (o.initialize && o.so_pin_fd < 0)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "Initialising tokens needs the SO PIN (\"so-pin-fd\")."),
                       -EINVAL;
        if (random_pin && o.pin_mailer_fd < 0)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "Random user PINs go to a PIN mailer file only: give it (\"pin-mailer-fd\")."),
                       -EINVAL;
        if (!random_pin && o.user_pin_fd < 0)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "Give the tokens' user PIN (\"user-pin-fd\") or \"user-pin\" \"random\"."),
                       -EINVAL;
        if (random_pin) {
                r = check_mailer(o.pin_mailer_fd, error);
                if (r < 0)
                        return r;
        }
        if (batch_active(m))
                return sd_bus_error_setf(error, JETON_ERROR_BUSY, "Batch %" PRIu64 " is %s: one batch at a time.",
                                         batch_active(m)->id, batch_active(m)->state_string),
                       -EBUSY;
        if (o.initialize) {
                r = read_pin(o.so_pin_fd, "SO PIN", &so_pin, error);
                if (r < 0)
                        return r;
        }
        if (!random_pin) {
                r = read_pin(o.user_pin_fd, "user PIN", &user_pin, error);
                if (r < 0)
                        return r;
        }

        /* Our own non-blocking description: the loop never waits for a client. */
        _cleanup_(closep) int nfd = fd_reopen_nonblock(fd);
        r = nfd < 0 ? nfd : install_read_fd(nfd, &data, &size);
        if (r < 0)
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         r == -EAGAIN ? "The orders are not all there: pass a file, or a pipe "
                                                        "written and closed."
                                                      : "Cannot read the orders: %s",
                                         strerror(-r)),
                       r;
        if (streq(format, "csv"))
                fmt = ORDER_IMPORT_CSV;
        else if (streq(format, "json"))
                fmt = ORDER_IMPORT_JSON;
        else
                fmt = order_import_guess_format((const char *) data ?: "", size);
        r = order_import_with_profile(fmt, (const char *) data ?: "", size, m->profiles, o.profile, &orders, &n,
                                      &problems);
        if (r == -EINVAL) {
                text = strv_join_lines(problems);
                return text ? sd_bus_error_setf(error, JETON_ERROR_INVALID_ORDERS, "%s", text) : -ENOMEM;
        }
        if (r < 0)
                return r;

        /* Every order of the batch is for its profile, and gets a label. */
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *line = NULL, *label = NULL;

                if (!streq_ptr(orders[i]->profile, o.profile)) {
                        if (asprintf(&line, "reference %s: profile %s is not the batch's (%s)", orders[i]->reference,
                                     strna(orders[i]->profile), o.profile) < 0 ||
                            strv_extend(&problems, line) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                } else if (o.initialize &&
                           !(label = batch_label_expand(o.label_template ?: "${reference}", orders[i]->reference))) {
                        if (asprintf(&line, "reference %s: the token label would be empty or longer than 32 bytes",
                                     orders[i]->reference) < 0 ||
                            strv_extend(&problems, line) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }
        }
        if (problems) {
                text = strv_join_lines(problems);
                r = text ? sd_bus_error_setf(error, JETON_ERROR_INVALID_ORDERS, "%s", text) : -ENOMEM;
                goto finish;
        }
        r = bus_orders_refuse_known(m, orders, n, error);
        if (r < 0)
                goto finish;

        r = bus_actor_from_message(message, &actor, &actor_name);
        if (r < 0)
                goto finish;
        r = orders_import(m, &actor, orders, n, NULL, &e);
        if (r < 0) {
                r = r == -EEXIST ? sd_bus_error_setf(error, JETON_ERROR_EXISTS, "%s", e.message)
                                 : bus_error_set_errno(error, r, "%s", e.message);
                goto finish;
        }
        for (size_t i = 0; i < n; i++)
                if (strv_extend(&references, orders[i]->reference) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }

        BatchStart start = {
                .name = o.name,
                .profile = o.profile,
                .initialize = o.initialize,
                .label_template = o.label_template,
                .random_pin = random_pin,
                .so_pin = TAKE_PTR(so_pin),
                .user_pin = TAKE_PTR(user_pin),
                .pin_mailer_fd = random_pin ? o.pin_mailer_fd : -EBADF,
        };
        if (random_pin)
                o.pin_mailer_fd = -EBADF;
        r = batch_start(m, &start, references, n, &actor, &b, error);
        if (r < 0)
                goto finish;
        r = sd_bus_reply_method_return(message, "o", b->path);

finish:
        order_array_free(orders, n);
        return r;
}

static bool start_wants_initialize(sd_bus_message *message) {
        _cleanup_(batch_options_done) BatchOptions o = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int fd;
        const char *format;

        if (sd_bus_message_read(message, "hs", &fd, &format) < 0 ||
            read_batch_options(message, start_keys, &o, &error) < 0)
                return true;    /* ask: the final step refuses the call anyway */
        (void) sd_bus_message_rewind(message, true);
        return o.initialize;
}

static int start_provision_allowed(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        if (start_wants_initialize(message))
                return authorize(m, message, JETON_ACTION_INITIALIZE, start_final, NULL, NULL);
        return start_final(m, message, userdata, error);
}

static int start_orders_allowed(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return authorize(m, message, JETON_ACTION_PROVISION, start_provision_allowed, NULL, NULL);
}

int bus_batch_method_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return authorize(userdata, message, JETON_ACTION_MANAGE_ORDERS, start_orders_allowed, NULL, NULL);
}

/* ---- Manager.InstallCertificates ---------------------------------------------------- */

/* The order whose key the certificate carries, with the outcome. */
static int install_one(Manager *m, sd_bus_message *message, int fd, sd_bus_message *reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *result = NULL, *first_message = NULL, *job_path = NULL;
        DaemonOrder *match = NULL;
        size_t size = 0;
        int r;

        /* Our own non-blocking description: the loop never waits for a client. */
        _cleanup_(closep) int nfd = fd_reopen_nonblock(fd);
        r = nfd < 0 ? nfd : install_read_fd(nfd, &data, &size);
        if (r < 0)
                return sd_bus_message_append(reply, "(sos)", "", "/",
                                             r == -EAGAIN ? JETON_ERROR_INVALID_ARGUMENT
                                                     ": the certificate is not all there"
                                                          : JETON_ERROR_CERTIFICATE_INVALID
                                                     ": cannot read the certificate");

        for (DaemonOrder *o = m->orders; o && !match; o = o->next) {
                _cleanup_free_ char *msg = NULL;
                JP11CertBundle bundle = {};
                InstallRefusal refusal = INSTALL_OK;

                if (o->order->state != ORDER_KEY_GENERATED && o->order->state != ORDER_SUBMITTED)
                        continue;
                r = install_validate(o->order, data, size, time(NULL), &bundle, &refusal, &msg);
                jp11_cert_bundle_clear(&bundle);
                if (r >= 0 || refusal == INSTALL_EXPIRED)
                        match = o;      /* its key: the order's own checks decide */
                else if (refusal == INSTALL_INVALID && !first_message) {
                        first_message = TAKE_PTR(msg);
                        break;          /* unreadable for every order */
                }
        }
        if (!match) {
                if (asprintf(&result, "%s: %s",
                             first_message ? JETON_ERROR_CERTIFICATE_INVALID : JETON_ERROR_CERTIFICATE_MISMATCH,
                             first_message ?: "the certificate's public key is the key of no order waiting for "
                                              "its certificate") < 0)
                        return -ENOMEM;
                return sd_bus_message_append(reply, "(sos)", "", "/", result);
        }

        r = job_install_data(m, match, data, size, message, &job_path, &error);
        if (r < 0) {
                if (asprintf(&result, "%s: %s", error.name ?: JETON_ERROR_FAILED, error.message ?: strerror(-r)) < 0)
                        return -ENOMEM;
        } else if (!(result = strdup(streq(job_path, "/") ? "waiting-for-token" : "installed")))
                return -ENOMEM;
        log_info("Certificate for order %s: %s.", match->order->reference, result);
        return sd_bus_message_append(reply, "(sos)", match->order->reference, match->path, result);
}

static int install_certificates_allowed(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ int *fds = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(message, 'a', "h");
        if (r < 0)
                return r;
        for (;;) {
                int fd, *p;

                r = sd_bus_message_read(message, "h", &fd);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                p = reallocarray(fds, n + 1, sizeof(int));
                if (!p)
                        return -ENOMEM;
                fds = p;
                fds[n++] = fd;
        }
        r = sd_bus_message_exit_container(message);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        if (sd_bus_message_at_end(message, false) == 0)
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT, "InstallCertificates takes no options yet.");

        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sos)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = install_one(m, message, fds[i], reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_batch_method_install_certificates(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return authorize(userdata, message, JETON_ACTION_INSTALL, install_certificates_allowed, NULL, NULL);
}

/* ---- Batch.Pause / Resume / Cancel -------------------------------------------------- */

static int batch_control(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(message);
        _cleanup_free_ char *actor_name = NULL;
        Batch *b = batch_from_path(m, sd_bus_message_get_path(message));
        StoreActor actor;
        int r;

        if (!b)
                return sd_bus_error_set(error, JETON_ERROR_NOT_FOUND, "The batch is gone."), -ENOENT;
        r = bus_actor_from_message(message, &actor, &actor_name);
        if (r < 0)
                return r;

        if (streq(member, "Pause"))
                r = batch_pause(b, &actor, error);
        else if (streq(member, "Cancel"))
                r = batch_cancel(b, &actor, error);
        else {
                static const char *const keys[] = { "so-pin-fd", "user-pin-fd", "pin-mailer-fd", NULL };
                _cleanup_(batch_options_done) BatchOptions o = {};
                _cleanup_(jp11_pin_freep) JP11Pin *so_pin = NULL, *user_pin = NULL;
                int mailer;

                r = read_batch_options(message, keys, &o, error);
                if (r < 0)
                        return r;
                if (o.so_pin_fd >= 0) {
                        r = read_pin(o.so_pin_fd, "SO PIN", &so_pin, error);
                        if (r < 0)
                                return r;
                }
                if (o.user_pin_fd >= 0) {
                        r = read_pin(o.user_pin_fd, "user PIN", &user_pin, error);
                        if (r < 0)
                                return r;
                }
                if (o.pin_mailer_fd >= 0) {
                        r = check_mailer(o.pin_mailer_fd, error);
                        if (r < 0)
                                return r;
                }
                mailer = o.pin_mailer_fd;
                o.pin_mailer_fd = -EBADF;
                r = batch_resume(b, TAKE_PTR(so_pin), TAKE_PTR(user_pin), mailer, &actor, error);
        }
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_pause(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;

        return authorize(b->manager, message, JETON_ACTION_MANAGE_ORDERS, batch_control, NULL, NULL);
}

static int method_resume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;

        return authorize(b->manager, message, JETON_ACTION_MANAGE_ORDERS, batch_control, NULL, NULL);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Batch *b = userdata;

        return authorize(b->manager, message, JETON_ACTION_MANAGE_ORDERS, batch_control, NULL, NULL);
}
