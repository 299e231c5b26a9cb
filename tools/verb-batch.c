/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl batch start|status|pause|resume|cancel|install (watch is in
 * batch-watch.c): fulfilment of many orders on many tokens. jetond does
 * the work; jetonctl hands it files as file descriptors (the orders, the
 * PIN files, the PIN mailer it creates, the certificates) and shows the
 * Batch object. jetonctl never reads a PIN file nor the PIN mailer. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch-format.h"
#include "call-error.h"
#include "fields.h"
#include "job-run.h"
#include "jetonctl.h"
#include "orders.h"
#include "text.h"

#define FIELD_WIDTH 10
/* Certificates per InstallCertificates call: well under the kernel's
 * 253 descriptors per message (SCM_MAX_FD) and the bus's own limit. */
#define INSTALL_CHUNK 64

static const Subcommand subcommands[] = {
        { "start", 3, 3 },
        { "status", 2, 3 },
        { "watch", 2, 3 },
        { "pause", 2, 3 },
        { "resume", 2, 3 },
        { "cancel", 2, 3 },
        { "install", 3, 3 },
};

bool batch_options_given(const Context *c) {
        return c->batch_init || c->so_pin_file || c->user_pin || c->user_pin_file || c->pin_mailer ||
                c->label_template || c->batch_name;
}

static int usage(const char *message) {
        log_errorf(-EINVAL, "%s", message);
        return EXIT_USAGE;
}

static int check_start(const Context *c) {
        if (!c->order_args[ORDER_ARG_PROFILE] || !*c->order_args[ORDER_ARG_PROFILE])
                return usage("'batch start' needs --profile: the profile of orders that name none.");
        /* Never echo what was given: it may be a PIN typed by mistake. */
        if (!c->user_pin)
                return usage("'batch start' needs --user-pin=random (with --init) or --user-pin=file:FILE.");
        if (streq(c->user_pin, "random")) {
                if (!c->batch_init)
                        return usage("--user-pin=random sets each token's PIN when it is initialised: it "
                                     "needs --init.");
        } else if (strncmp(c->user_pin, "file:", 5) != 0 || !c->user_pin[5])
                return usage("--user-pin takes 'random' or 'file:FILE' (a file holding the PIN), never "
                             "the PIN itself.");
        else if (c->pin_mailer)
                return usage("--pin-mailer is where random PINs go: it needs --user-pin=random.");
        if (c->batch_init && !c->so_pin_file)
                return usage("--init needs --so-pin-file: the SO PIN that initialises the tokens.");
        if (!c->batch_init && c->so_pin_file)
                return usage("--so-pin-file is used to initialise tokens: it needs --init.");
        if (!c->batch_init && c->label_template)
                return usage("--label-template names initialised tokens: it needs --init.");
        if (c->user_pin_file)
                return usage("'batch start' takes the user PIN file as --user-pin=file:FILE.");
        return 0;
}

int verb_batch_check(const Context *c, int argc, char **argv) {
        const char *sub = argv[1];
        int r;

        r = subcommand_check(subcommands, ELEMENTSOF(subcommands), argc, argv);
        if (r != 0)
                return r;

        if (c->pin_fd >= 0 || c->pin_file || c->token || c->confirm_final_try)
                return usage("--token, --pin-fd, --pin-file and --confirm-final-try are options of "
                             "'provision' and 'install'; a batch takes --so-pin-file and --user-pin.");
        if (!c->progress && !streq(sub, "watch"))
                return usage("--no-progress is an option of 'batch watch' only.");
        for (size_t k = 0; k < _ORDER_ARG_MAX; k++)
                if ((c->order_args[k] && (k != ORDER_ARG_PROFILE || !streq(sub, "start"))) ||
                    c->validity_years > 0)
                        return usage("Order fields are options of 'order add'; 'batch start' takes --profile.");
        if (c->state)
                return usage("--state is an option of 'order list' only.");
        if (c->format && !streq(sub, "start"))
                return usage("--format is an option of 'order import' and 'batch start' only.");

        if (streq(sub, "start"))
                return check_start(c);
        if (c->batch_init || c->user_pin || c->pin_mailer || c->label_template || c->batch_name)
                return usage("--init, --user-pin, --pin-mailer, --label-template and --name are options of "
                             "'batch start' only.");
        if ((c->so_pin_file || c->user_pin_file) && !streq(sub, "resume"))
                return usage("--so-pin-file and --user-pin-file are options of 'batch start' and "
                             "'batch resume' only.");
        return 0;
}

/* ---- finding the batch ------------------------------------------------- */

typedef struct BatchView {
        char *path;
        BusValue *props;
} BatchView;

static void batch_views_free(BatchView *b, size_t n) {
        for (size_t i = 0; b && i < n; i++) {
                free(b[i].path);
                bus_value_free(b[i].props);
        }
        free(b);
}

static int batch_get_properties(Context *c, const char *path, BusValue **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(c->bus, JETON_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error,
                               &reply, "s", JETON_BATCH_IFACE);
        if (r < 0) {
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
                        _cleanup_free_ char *shown = text_sanitize(path);

                        log_errorf(-ENXIO, "No batch %s; 'jetonctl batch status' shows the latest.", shown ?: "?");
                        return EXIT_NO_TOKEN;
                }
                return log_call_error(&error, r, "Failed to read the batch");
        }
        r = bus_value_read(reply, ret);
        if (r < 0)
                return log_errorf(r, "Failed to read the batch: %m");
        return 0;
}

/* Every batch jetond knows (Manager.Batches) with its properties. */
static int batches_get(Context *c, BatchView **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        BatchView *b = NULL;
        size_t n = 0;
        const char *path;
        int r;

        r = sd_bus_get_property(c->bus, JETON_BUS_NAME, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "Batches", &error,
                                &reply, "ao");
        if (r < 0)
                return log_call_error(&error, r, "Failed to list the batches");
        r = sd_bus_message_enter_container(reply, 'a', "o");
        while (r >= 0 && (r = sd_bus_message_read(reply, "o", &path)) > 0) {
                BatchView *bigger = realloc(b, (n + 1) * sizeof(BatchView));

                if (!bigger) {
                        r = -ENOMEM;
                        break;
                }
                b = bigger;
                b[n] = (BatchView) { .path = strdup(path) };
                if (!b[n++].path) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0) {
                batch_views_free(b, n);
                return log_errorf(r, "Failed to read the batches: %m");
        }
        for (size_t i = 0; i < n; i++) {
                r = batch_get_properties(c, b[i].path, &b[i].props);
                if (r != 0) {
                        batch_views_free(b, n);
                        return r;
                }
        }
        *ret = b;
        *ret_n = n;
        return 0;
}

/* The batch spec names: an object path, a batch ID (the last part of its
 * path) or a name; without spec, the latest (Created). */
static int batch_pick(Context *c, const char *spec, char **ret_path, BusValue **ret_props) {
        BatchView *b = NULL;
        size_t n = 0, found = SIZE_MAX, matches = 0;
        _cleanup_free_ char *shown = text_sanitize(spec);
        int r;

        if (spec && spec[0] == '/') {
                _cleanup_free_ char *path = strdup(spec);

                if (!path)
                        return log_errorf(-ENOMEM, "Out of memory.");
                if (!sd_bus_object_path_is_valid(spec) || strncmp(spec, JETON_BATCH_PREFIX "/",
                                                                  strlen(JETON_BATCH_PREFIX "/")) != 0) {
                        log_errorf(-ENXIO, "No batch %s: batch paths start with " JETON_BATCH_PREFIX "/.",
                                   shown ?: "?");
                        return EXIT_NO_TOKEN;
                }
                r = batch_get_properties(c, path, ret_props);
                if (r != 0)
                        return r;
                *ret_path = TAKE_PTR(path);
                return 0;
        }

        r = batches_get(c, &b, &n);
        if (r != 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *id = NULL;
                uint64_t t = 0, best = 0;

                if (!spec) {
                        (void) bus_value_get_uint(b[i].props, "Created", &t);
                        if (found != SIZE_MAX)
                                (void) bus_value_get_uint(b[found].props, "Created", &best);
                        if (found == SIZE_MAX || t >= best)
                                found = i;
                        continue;
                }
                if ((sd_bus_path_decode(b[i].path, JETON_BATCH_PREFIX, &id) > 0 && streq(id, spec)) ||
                    streq(bus_value_get_string(b[i].props, "Name") ?: "", spec)) {
                        /* An ID wins over a name that happens to equal it. */
                        if (id && streq(id, spec)) {
                                found = i;
                                matches = 1;
                                break;
                        }
                        found = i;
                        matches++;
                }
        }
        if (found == SIZE_MAX || matches > 1) {
                if (!spec)
                        log_errorf(-ENXIO, "No batch; 'jetonctl batch start' starts one.");
                else if (matches > 1)
                        log_errorf(-ENXIO, "Several batches are named %s: give the batch ID.", shown ?: "?");
                else
                        log_errorf(-ENXIO, "No batch %s.", shown ?: "?");
                batch_views_free(b, n);
                return EXIT_NO_TOKEN;
        }
        *ret_path = TAKE_PTR(b[found].path);
        *ret_props = TAKE_PTR(b[found].props);
        batch_views_free(b, n);
        return 0;
}

/* The batch's ID, for messages: the decoded last part of its path. */
static char *batch_id(const char *path) {
        char *id = NULL;

        if (sd_bus_path_decode(path, JETON_BATCH_PREFIX, &id) > 0 && id)
                return id;
        free(id);
        return strdup(path);
}

/* ---- start ------------------------------------------------------------- */

/* pin-mailer-NAME.txt with the name made a plain file name, or
 * pin-mailer-YYYY-MM-DD.txt (local date). */
static char *pin_mailer_default(const char *name) {
        char *s, date[16];

        if (name && *name) {
                if (asprintf(&s, "pin-mailer-%s.txt", name) < 0)
                        return NULL;
                for (char *p = s + strlen("pin-mailer-"); *p; p++)
                        if (*p == '/' || (unsigned char) *p < 0x20 || *p == 0x7f)
                                *p = '_';
                return s;
        }
        time_t t = time(NULL);
        struct tm tm;

        if (!localtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
                return NULL;
        return asprintf(&s, "pin-mailer-%s.txt", date) < 0 ? NULL : s;
}

/* Creates the PIN mailer, owner-only, never over an existing file. */
static int pin_mailer_create(const char *path, int *ret_fd, struct stat *ret_st) {
        _cleanup_free_ char *shown = text_sanitize(path);
        int fd;

        /* O_APPEND: lines written by several of jetond's workers never overlap. */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
        if (fd < 0) {
                if (errno == EEXIST)
                        return log_errorf(-EEXIST, "Refusing to overwrite the PIN mailer %s: it exists (the PINs "
                                          "of another batch?). Give --pin-mailer=FILE or --name=NAME.", shown ?: "?");
                return log_errorf(-errno, "Failed to create the PIN mailer %s: %m", shown ?: "?");
        }
        /* The umask may only have removed bits; make it exactly 0600. */
        if (fchmod(fd, 0600) < 0 || fstat(fd, ret_st) < 0) {
                int r = -errno;

                close(fd);
                (void) unlink(path);
                return log_errorf(r, "Failed to set up the PIN mailer %s: %m", shown ?: "?");
        }
        *ret_fd = fd;
        return 0;
}

/* Removes the mailer created by this run when nothing was written to it:
 * the batch did not start. */
static void pin_mailer_discard(const char *path, const struct stat *created) {
        struct stat st;

        if (lstat(path, &st) == 0 && st.st_dev == created->st_dev && st.st_ino == created->st_ino && st.st_size == 0)
                (void) unlink(path);
}

static void close_fdp(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static int batch_start(Context *c, const char *file) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(bus_value_freep) BusValue *props = NULL;
        _cleanup_free_ char *shown = text_sanitize(file), *mailer = NULL, *mailer_shown = NULL, *id = NULL;
        _cleanup_(close_fdp) int orders_fd = -1, so_fd = -1, user_fd = -1, mailer_fd = -1;
        bool random_pins = streq(c->user_pin, "random");
        struct stat mailer_st = {};
        const char *path;
        uint64_t total = 0;
        int r;

        orders_fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (orders_fd < 0)
                return log_errorf(-errno, "Failed to open %s: %m", shown ?: "?");
        if (c->so_pin_file) {
                r = pin_file_open(c->so_pin_file, "SO PIN file", &so_fd);
                if (r != 0)
                        return r;
        }
        if (!random_pins) {
                r = pin_file_open(c->user_pin + strlen("file:"), "user PIN file", &user_fd);
                if (r != 0)
                        return r;
        }

        r = jetond_call_new(c->bus, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "StartBatch", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "hs", orders_fd, c->format ?: "");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "profile", "s", c->order_args[ORDER_ARG_PROFILE]);
        if (r >= 0 && c->batch_init)
                r = sd_bus_message_append(m, "{sv}", "initialize", "b", true);
        if (r >= 0 && c->label_template)
                r = sd_bus_message_append(m, "{sv}", "label-template", "s", c->label_template);
        if (r >= 0 && so_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "so-pin-fd", "h", so_fd);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "user-pin", "s", random_pins ? "random" : "fd");
        if (r >= 0 && user_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "user-pin-fd", "h", user_fd);
        if (r >= 0 && c->batch_name)
                r = sd_bus_message_append(m, "{sv}", "name", "s", c->batch_name);
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");

        /* Last, once nothing else can refuse: an empty mailer left behind
         * would block the next run's default name. */
        if (random_pins) {
                mailer = c->pin_mailer ? strdup(c->pin_mailer) : pin_mailer_default(c->batch_name);
                if (!mailer)
                        return log_errorf(-ENOMEM, "Out of memory.");
                mailer_shown = text_sanitize(mailer);
                r = pin_mailer_create(mailer, &mailer_fd, &mailer_st);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "{sv}", "pin-mailer-fd", "h", mailer_fd);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                if (mailer_fd >= 0)
                        pin_mailer_discard(mailer, &mailer_st);
                return log_errorf(r, "Failed to build the call: %m");
        }
        /* The message holds its own copies of the descriptors. */
        close_fdp(&orders_fd);
        close_fdp(&so_fd);
        close_fdp(&user_fd);
        close_fdp(&mailer_fd);

        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0) {
                if (mailer)
                        pin_mailer_discard(mailer, &mailer_st);
                if (sd_bus_error_has_name(&error, JETON_ERROR_PREFIX "InvalidOrders"))
                        return orders_report_invalid(shown, &error);
                return log_call_error(&error, r, "Failed to start the batch");
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        id = batch_id(path);
        if (!id)
                return log_errorf(-ENOMEM, "Out of memory.");

        /* The batch runs: what follows only informs. */
        if (batch_get_properties(c, path, &props) == 0)
                (void) bus_value_get_uint(props, "Total", &total);
        _cleanup_free_ char *safe_id = text_sanitize(id), *profile = text_sanitize(c->order_args[ORDER_ARG_PROFILE]);
        printf("Started batch %s (%s): %llu order%s, profile %s%s.\n", safe_id ?: "?", path,
               (unsigned long long) total, total == 1 ? "" : "s", profile ?: "?",
               c->batch_init ? ", tokens initialised" : "");
        if (mailer)
                printf("PIN mailer: %s (mode 0600): jetond writes one line per token initialised; hand the PINs "
                       "over, then delete it.\n", mailer_shown ?: "?");
        printf("Insert the tokens; 'jetonctl batch watch %s' follows the batch.\n", safe_id ?: "");
        return 0;
}

/* ---- status ------------------------------------------------------------ */

/* The properties of each reader's current job, NULL where none (or it
 * is gone already); an array of n. */
static BusValue **reader_jobs(Context *c, const BatchReader *readers, size_t n) {
        BusValue **jobs = calloc(n ?: 1, sizeof(BusValue *));

        for (size_t i = 0; jobs && i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                if (streq(readers[i].job, "/"))
                        continue;
                if (sd_bus_call_method(c->bus, JETON_BUS_NAME, readers[i].job, "org.freedesktop.DBus.Properties",
                                       "GetAll", NULL, &reply, "s", JETON_JOB_IFACE) >= 0)
                        (void) bus_value_read(reply, &jobs[i]);
        }
        return jobs;
}

static void print_counts(const BusValue *props) {
        uint64_t total = 0, done = 0, failed = 0, remaining = 0;

        (void) bus_value_get_uint(props, "Total", &total);
        (void) bus_value_get_uint(props, "Done", &done);
        (void) bus_value_get_uint(props, "Failed", &failed);
        (void) bus_value_get_uint(props, "Remaining", &remaining);
        field_begin(0, FIELD_WIDTH, "Tokens");
        printf("%llu done, %llu failed, %llu remaining of %llu\n", (unsigned long long) done,
               (unsigned long long) failed, (unsigned long long) remaining, (unsigned long long) total);
}

static int print_readers(Context *c, const BusValue *props, const BatchAssignment *a, size_t n_a) {
        static const char *const headers[] = { "READER", "TOKEN", "ORDER", "NOW" };
        _cleanup_free_ BatchReader *readers = NULL;
        BusValue **jobs = NULL;
        char **cells = NULL;
        size_t n = 0;
        int r;

        r = batch_readers_from_value(bus_value_get(props, "Readers"), &readers, &n);
        if (r < 0)
                return log_errorf(r, "Unexpected Readers from jetond: %m");
        if (n == 0) {
                if (c->legend)
                        puts("\nNo reader in use.");
                return 0;
        }
        jobs = reader_jobs(c, readers, n);
        cells = calloc(n * ELEMENTSOF(headers), sizeof(char *));
        if (!jobs || !cells)
                r = -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                ReaderLine l;
                char what[256];
                char **row = cells + i * ELEMENTSOF(headers);

                batch_reader_line(readers + i, a, n_a, jobs[i], &l);
                row[0] = text_sanitize(l.reader);
                row[1] = text_cell(l.serial);
                row[2] = text_sanitize(l.reference ?: "-");
                row[3] = text_sanitize(l.has_job ? progress_format_line(&l.progress, what, sizeof(what)) ?: "?"
                                                 : l.note ?: "-");
                for (size_t j = 0; j < ELEMENTSOF(headers); j++)
                        if (!row[j])
                                r = -ENOMEM;
        }
        if (r >= 0) {
                putchar('\n');
                batch_print_table(stdout, headers, ELEMENTSOF(headers), cells, n, c->legend);
        }
        for (size_t i = 0; jobs && i < n; i++)
                bus_value_free(jobs[i]);
        free(jobs);
        batch_lines_free(cells, cells ? n * ELEMENTSOF(headers) : 0);
        return r < 0 ? log_errorf(r, "Out of memory.") : 0;
}

static int print_status(Context *c, const char *path, const BusValue *props) {
        static const char *const known[] = {
                "Name", "Profile", "Initialize", "State", "Detail", "Total", "Done", "Failed", "Remaining", "Assignments",
                "Readers", "ManifestCsv", "ManifestJson", "Archive", "Operator", "Created", "Finished", NULL,
        };
        _cleanup_free_ BatchAssignment *a = NULL;
        _cleanup_free_ char *id = batch_id(path), *safe_id = text_sanitize(id);
        char **cells = NULL;
        const char *name = bus_value_get_string(props, "Name");
        bool init = false;
        size_t n = 0;
        int r;

        r = batch_assignments_from_value(bus_value_get(props, "Assignments"), &a, &n);
        if (r < 0)
                return log_errorf(r, "Unexpected Assignments from jetond: %m");

        printf("Batch %s", safe_id ?: "?");
        if (name && *name) {
                putchar(' ');
                text_print(stdout, name, true);
        }
        printf(" (%s)\n", path);
        field_string(0, FIELD_WIDTH, "State", bus_value_get_string(props, "State"));
        /* Why it is paused, e.g. waiting for the PINs after a restart. */
        if (*(bus_value_get_string(props, "Detail") ?: ""))
                field_string(0, FIELD_WIDTH, "Detail", bus_value_get_string(props, "Detail"));
        field_string(0, FIELD_WIDTH, "Profile", bus_value_get_string(props, "Profile"));
        if (bus_value_get_bool(props, "Initialize", &init))
                field_string(0, FIELD_WIDTH, "Initialise", init ? "yes" : "no");
        print_counts(props);
        field_string(0, FIELD_WIDTH, "Operator", bus_value_get_string(props, "Operator"));
        field_time(0, FIELD_WIDTH, "Created", props, "Created");
        field_time(0, FIELD_WIDTH, "Finished", props, "Finished");
        field_string(0, FIELD_WIDTH, "Manifest", bus_value_get_string(props, "ManifestCsv"));
        if (*(bus_value_get_string(props, "ManifestJson") ?: "")) {
                _cleanup_free_ char *json = text_sanitize(bus_value_get_string(props, "ManifestJson"));

                /* The same manifest as JSON, under the CSV one. */
                printf("%*s  %s\n", FIELD_WIDTH, "", json ?: "?");
        }
        field_string(0, FIELD_WIDTH, "CSRs", bus_value_get_string(props, "Archive"));
        print_unknown_entries(props, known, 0, FIELD_WIDTH);

        r = print_readers(c, props, a, n);
        if (r != 0)
                return r;

        if (n == 0) {
                if (c->legend)
                        puts("\nNo orders assigned yet.");
                return 0;
        }
        r = batch_assignment_cells(a, n, &cells);
        if (r < 0)
                return log_errorf(r, "Out of memory.");
        putchar('\n');
        batch_print_table(stdout, batch_assignment_headers, BATCH_ASSIGNMENT_COLUMNS, cells, n, c->legend);
        batch_lines_free(cells, n * BATCH_ASSIGNMENT_COLUMNS);
        return 0;
}

static int batch_status(Context *c, const char *spec) {
        _cleanup_(bus_value_freep) BusValue *props = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = batch_pick(c, spec, &path, &props);
        if (r != 0)
                return r;
        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                bus_value_write_json_object(path, props, &w);
                return json_output_end(&w);
        }
        return print_status(c, path, props);
}

/* ---- pause, resume, cancel ----------------------------------------------- */

static int batch_control(Context *c, const char *verb, const char *spec) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(bus_value_freep) BusValue *props = NULL;
        _cleanup_free_ char *path = NULL, *id = NULL, *safe_id = NULL;
        _cleanup_(close_fdp) int so_fd = -1, user_fd = -1;
        bool resume = streq(verb, "resume");
        int r;

        r = batch_pick(c, spec, &path, &props);
        if (r != 0)
                return r;
        if (c->so_pin_file) {
                r = pin_file_open(c->so_pin_file, "SO PIN file", &so_fd);
                if (r != 0)
                        return r;
        }
        if (c->user_pin_file) {
                r = pin_file_open(c->user_pin_file, "user PIN file", &user_fd);
                if (r != 0)
                        return r;
        }

        r = jetond_call_new(c->bus, path, JETON_BATCH_IFACE,
                            resume ? "Resume" : streq(verb, "pause") ? "Pause" : "Cancel", &m);
        if (r >= 0 && resume) {
                r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && so_fd >= 0)
                        r = sd_bus_message_append(m, "{sv}", "so-pin-fd", "h", so_fd);
                if (r >= 0 && user_fd >= 0)
                        r = sd_bus_message_append(m, "{sv}", "user-pin-fd", "h", user_fd);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");
        close_fdp(&so_fd);
        close_fdp(&user_fd);

        r = sd_bus_call(c->bus, m, 0, &error, NULL);
        if (r < 0) {
                _cleanup_free_ char *what = NULL;

                return log_call_error(&error, r, asprintf(&what, "Failed to %s the batch", verb) < 0 ? "Failed"
                                                                                                 : what);
        }
        id = batch_id(path);
        safe_id = text_sanitize(id);
        if (resume)
                printf("Resumed batch %s.\n", safe_id ?: "?");
        else if (streq(verb, "pause"))
                printf("Paused batch %s: tokens being worked on finish their current step; no new token is "
                       "started.\n", safe_id ?: "?");
        else
                printf("Cancelled batch %s: its orders not started are pending again.\n", safe_id ?: "?");
        return 0;
}

/* ---- install ------------------------------------------------------------- */

static bool certificate_file_name(const char *name) {
        static const char *const suffixes[] = { ".pem", ".crt", ".cer", ".der", ".p7b", ".p7c" };
        size_t n = strlen(name);

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);

                if (n > k && strcasecmp(name + n - k, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The certificate files of dir, sorted; the others noted on stderr. */
static int certificate_files(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *shown = text_sanitize(dir);
        DIR *d = opendir(dir);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        int r = 0;

        if (!d)
                return log_errorf(-errno, "Failed to open the directory %s: %m", shown ?: "?");
        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *safe = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (!certificate_file_name(de->d_name)) {
                        safe = text_sanitize(de->d_name);
                        fprintf(stderr, "%s/%s: skipped: not a certificate file (*.pem, *.crt, *.cer, *.der, "
                                "*.p7b, *.p7c)\n", shown ?: "?", safe ?: "?");
                        continue;
                }
                r = batch_lines_append(&names, &n, strdup(de->d_name));
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        if (r < 0) {
                batch_lines_free(names, n);
                return log_errorf(r, "Failed to read the directory %s: %m", shown ?: "?");
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), name_compare);
        *ret = names;
        *ret_n = n;
        return 0;
}

typedef struct InstallResult {
        char *reference, *order, *result;
} InstallResult;

/* One InstallCertificates call for files [0, n) of dir; results appended. */
static int install_chunk(Context *c, int dir_fd, char **files, size_t n, InstallResult *results,
                         size_t *n_errors) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        size_t sent[INSTALL_CHUNK], n_sent = 0, k = 0;
        const char *ref, *order, *result;
        int r;

        r = jetond_call_new(c->bus, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "InstallCertificates", &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "h");
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;
                int fd = openat(dir_fd, files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), e = 0;

                if (fd < 0 || fstat(fd, &st) < 0)
                        e = errno;
                else if (!S_ISREG(st.st_mode))
                        e = EISDIR;
                if (e != 0) {
                        if (fd >= 0)
                                close(fd);
                        if (asprintf(&results[i].result, "error: cannot read the file: %s", strerror(e)) < 0)
                                results[i].result = NULL;
                        (*n_errors)++;
                        continue;
                }
                r = sd_bus_message_append(m, "h", fd);
                close(fd);
                sent[n_sent++] = i;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return log_errorf(r, "Failed to build the call: %m");
        if (n_sent == 0)
                return 0;

        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0)
                return log_call_error(&error, r, "Failed to install the certificates");
        r = sd_bus_message_enter_container(reply, 'a', "(sos)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sos)", &ref, &order, &result)) > 0) {
                InstallResult *res;

                if (k >= n_sent) {
                        r = -EBADMSG;
                        break;
                }
                res = results + sent[k++];
                res->reference = strdup(ref);
                res->order = strdup(order);
                res->result = strdup(result);
                if (!res->reference || !res->order || !res->result)
                        r = -ENOMEM;
                else if (!streq(result, "installed") && !streq(result, "waiting-for-token"))
                        (*n_errors)++;
        }
        if (r >= 0 && k != n_sent)
                r = -EBADMSG;
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        return 0;
}

static void install_print(Context *c, const char *dir, char **files, const InstallResult *results, size_t n) {
        _cleanup_free_ char *shown_dir = text_sanitize(dir);

        if (c->json != JSON_OFF) {
                JsonWriter w;

                json_output_begin(c, &w);
                json_begin_array(&w);
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *file = NULL;

                        json_begin_object(&w);
                        json_key(&w, "file");
                        json_string(&w, asprintf(&file, "%s/%s", dir, files[i]) < 0 ? NULL : file);
                        json_key(&w, "reference");
                        json_string(&w, results[i].reference);
                        json_key(&w, "order");
                        json_string(&w, results[i].order);
                        json_key(&w, "result");
                        json_string(&w, results[i].result);
                        json_end_object(&w);
                }
                json_end_array(&w);
                if (json_writer_end(&w) < 0)
                        log_errorf(-EIO, "Failed to write JSON.");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *file = text_sanitize(files[i]), *ref = text_sanitize(results[i].reference),
                        *result = text_sanitize(results[i].result ?: "error: out of memory");
                bool known = results[i].reference && *results[i].reference;

                printf("%s/%s: ", shown_dir ?: "?", file ?: "?");
                if (streq(result ?: "", "installed"))
                        printf("installed on the token of order %s\n", ref ?: "?");
                else if (streq(result ?: "", "waiting-for-token"))
                        printf("waiting for token: order %s, written when its token is inserted\n", ref ?: "?");
                else if (strncmp(result ?: "", "error: ", 7) == 0)
                        puts(result);
                else
                        printf("error%s%s%s: %s\n", known ? " (order " : "", known ? ref : "", known ? ")" : "",
                               result ?: "?");
        }
}

static int batch_install(Context *c, const char *dir) {
        char **files = NULL;
        InstallResult *results = NULL;
        size_t n = 0, n_errors = 0;
        int dir_fd, r;

        r = certificate_files(dir, &files, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                _cleanup_free_ char *shown = text_sanitize(dir);

                batch_lines_free(files, n);
                return log_errorf(-ENOENT, "No certificate file in %s.", shown ?: "?");
        }
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        results = calloc(n, sizeof(InstallResult));
        if (dir_fd < 0 || !results)
                r = log_errorf(dir_fd < 0 ? -errno : -ENOMEM, "Failed to open %s: %m", dir);
        for (size_t i = 0; r >= 0 && i < n; i += INSTALL_CHUNK)
                r = install_chunk(c, dir_fd, files + i, n - i < INSTALL_CHUNK ? n - i : INSTALL_CHUNK, results + i,
                                  &n_errors);
        if (r == 0)
                install_print(c, dir, files, results, n);
        if (dir_fd >= 0)
                close(dir_fd);
        for (size_t i = 0; results && i < n; i++) {
                free(results[i].reference);
                free(results[i].order);
                free(results[i].result);
        }
        free(results);
        batch_lines_free(files, n);
        if (r != 0)
                return r;
        if (n_errors > 0)
                return log_errorf(-EIO, "%zu of %zu certificate%s not accepted.", n_errors, n, n == 1 ? "" : "s");
        return 0;
}

int verb_batch(Context *c, int argc, char **argv) {
        const char *sub = argv[1], *arg = argc > 2 ? argv[2] : NULL;
        _cleanup_(bus_value_freep) BusValue *props = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (streq(sub, "start"))
                return batch_start(c, arg);
        if (streq(sub, "status"))
                return batch_status(c, arg);
        if (streq(sub, "install"))
                return batch_install(c, arg);
        if (streq(sub, "watch")) {
                r = batch_pick(c, arg, &path, &props);
                return r != 0 ? r : batch_watch(c, path);
        }
        return batch_control(c, sub, arg);
}
