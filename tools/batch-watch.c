/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl batch watch: follows a batch until it ends. The Batch object's
 * PropertiesChanged signals say which token is on which reader and what
 * became of each order; the Job objects' say how far each token's job is.
 * On a terminal a block of one line per reader is redrawn in place, the
 * lines of tokens done or failed scrolling above it; otherwise every
 * change is one plain line. Watching changes nothing: Ctrl+C leaves the
 * batch running. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "batch-format.h"
#include "bus-signal.h"
#include "job-follow.h"
#include "jetonctl.h"
#include "text.h"

typedef struct Watch {
        JobFollow follow;       /* the loop; its result is the verb's */
        const char *path;
        char *id;
        BusValue *props;        /* the batch's properties as last known */
        BusValue *jobs;         /* job path -> its properties, for the jobs of Readers */
        bool loaded;            /* the first GetAll is in */
        char *state;            /* the batch state last reported */
        char **seen;            /* "ref\x1fserial\x1fstate" of the assignments reported */
        size_t n_seen;
        char **shown;           /* not a terminal: the progress line last printed per reader */
        size_t n_shown;
        bool tty;
        size_t drawn;           /* lines of the block on the terminal */
} Watch;

static void finish(Watch *w, int result) {
        job_follow_finish(&w->follow, result);
}

static int fail(Watch *w, int r) {
        log_errorf(r, "Failed to follow the batch: %m");
        finish(w, r);
        return 0;
}

static bool seen_add(Watch *w, const BatchAssignment *a, int *r) {
        char *key;

        *r = 0;
        if (asprintf(&key, "%s\x1f%s\x1f%s", a->reference, a->serial, a->state) < 0) {
                *r = -ENOMEM;
                return false;
        }
        for (size_t i = 0; i < w->n_seen; i++)
                if (streq(w->seen[i], key)) {
                        free(key);
                        return false;
                }
        *r = batch_lines_append(&w->seen, &w->n_seen, key);
        return *r >= 0;
}

/* The order's key ID, for the line of a token done; NULL if unknown. */
static char *order_key_id(Watch *w, const char *reference) {
        _cleanup_free_ char *path = NULL;
        char *key = NULL;

        if (sd_bus_path_encode(JETON_ORDER_PREFIX, reference, &path) < 0)
                return NULL;
        if (sd_bus_get_property_string(w->follow.context->bus, JETON_BUS_NAME, path, JETON_ORDER_IFACE, "KeyId", NULL,
                                       &key) < 0)
                return NULL;
        return key;
}

/* The lines of assignments newly done or failed; on the first snapshot
 * they are only remembered, as what happened before. */
static int collect_events(Watch *w, char ***lines, size_t *n_lines) {
        _cleanup_free_ BatchAssignment *a = NULL;
        size_t n;
        int r;

        r = batch_assignments_from_value(bus_value_get(w->props, "Assignments"), &a, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = NULL;

                if (!batch_assignment_final(a[i].state) || !seen_add(w, a + i, &r)) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!lines)
                        continue;
                if (streq(a[i].state, "done"))
                        key = order_key_id(w, a[i].reference);
                r = batch_lines_append(lines, n_lines, batch_format_event(now_usec(), a + i, key));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int on_job_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);
static void render(Watch *w, char **events, size_t n_events, bool events_first);

/* Keeps the jobs cache to the jobs of Readers: new ones are read. */
static int jobs_refresh(Watch *w) {
        _cleanup_free_ BatchReader *readers = NULL;
        size_t n;
        int r;

        r = batch_readers_from_value(bus_value_get(w->props, "Readers"), &readers, &n);
        if (r < 0)
                return r;
        for (size_t i = w->jobs->n; i > 0; i--) {
                bool used = false;

                for (size_t k = 0; k < n; k++)
                        used = used || streq(readers[k].job, w->jobs->keys[i - 1]);
                if (!used)
                        bus_value_remove(w->jobs, w->jobs->keys[i - 1]);
        }
        for (size_t k = 0; k < n; k++) {
                BusValue *o;

                if (streq(readers[k].job, "/") || bus_value_lookup(w->jobs, readers[k].job))
                        continue;
                r = bus_value_new_object(&o);
                if (r >= 0)
                        r = bus_value_set(w->jobs, readers[k].job, o);
                if (r >= 0)
                        r = sd_bus_call_method_async(w->follow.context->bus, NULL, JETON_BUS_NAME, readers[k].job,
                                                     "org.freedesktop.DBus.Properties", "GetAll", on_job_get_all,
                                                     w, "s", JETON_JOB_IFACE);
                if (r < 0)
                        return r;
        }
        return 0;
}

static size_t columns(void) {
        struct winsize ws = {};

        return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* The progress line last printed for reader i (not a terminal); keeps
 * the new one and says whether it differs. */
static bool shown_changed(Watch *w, size_t i, const char *text) {
        if (i >= w->n_shown) {
                char **bigger = realloc(w->shown, (i + 1) * sizeof(char *));

                if (!bigger)
                        return true;
                for (size_t k = w->n_shown; k <= i; k++)
                        bigger[k] = NULL;
                w->shown = bigger;
                w->n_shown = i + 1;
        }
        if (w->shown[i] && streq(w->shown[i], text))
                return false;
        free(w->shown[i]);
        w->shown[i] = strdup(text);
        return true;
}

/* events_first: the first word on the batch comes before the readers. */
static void render(Watch *w, char **events, size_t n_events, bool events_first) {
        _cleanup_free_ BatchAssignment *a = NULL;
        _cleanup_free_ BatchReader *readers = NULL;
        _cleanup_free_ ReaderLine *lines = NULL;
        char **block = NULL;
        size_t n_a = 0, n = 0;

        if (batch_assignments_from_value(bus_value_get(w->props, "Assignments"), &a, &n_a) < 0 ||
            batch_readers_from_value(bus_value_get(w->props, "Readers"), &readers, &n) < 0)
                n_a = n = 0;
        lines = calloc(n ?: 1, sizeof(ReaderLine));
        for (size_t i = 0; lines && i < n; i++) {
                const BusValue *job = bus_value_get(w->jobs, readers[i].job);

                batch_reader_line(readers + i, a, n_a, streq(readers[i].job, "/") ? NULL : job, lines + i);
        }
        if (!lines)
                n = 0;

        if (w->tty && w->drawn > 0) {
                /* Back to the block's first line, and clear from there. */
                printf("\033[%zuA\r\033[J", w->drawn);
                w->drawn = 0;
        }
        for (size_t i = 0; events_first && i < n_events; i++)
                puts(events[i]);
        if (w->follow.context->progress && !w->tty)
                /* Plain lines: what changed on the readers, then what it
                 * led to, so the batch's last word is the last line. */
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *line = batch_format_progress_line(now_usec(), lines + i);
                        /* Compared without the time: "HH:MM:SS " */
                        const char *text = line ? strchr(line, ' ') : NULL;

                        if (text && shown_changed(w, i, text))
                                puts(line);
                }
        for (size_t i = 0; !events_first && i < n_events; i++)
                puts(events[i]);
        /* The block last, below everything. */
        if (w->follow.context->progress && w->tty && batch_format_readers(lines, n, columns(), &block) >= 0) {
                for (size_t i = 0; i < n; i++)
                        puts(block[i]);
                w->drawn = n;
                batch_lines_free(block, n);
        }
        fflush(stdout);
}

/* "15:02:11 batch 3 done: 18 done, 2 failed, 0 remaining of 20" */
static char *counts_line(Watch *w, const char *what) {
        _cleanup_free_ char *detail = text_sanitize(bus_value_get_string(w->props, "Detail"));
        uint64_t total = 0, done = 0, failed = 0, remaining = 0;
        char clock[TIME_BUF_MAX], *s;

        (void) bus_value_get_uint(w->props, "Total", &total);
        (void) bus_value_get_uint(w->props, "Done", &done);
        (void) bus_value_get_uint(w->props, "Failed", &failed);
        (void) bus_value_get_uint(w->props, "Remaining", &remaining);
        /* format_clock_local() gives milliseconds: the lines show seconds. */
        format_clock_local(clock, now_usec());
        clock[8] = '\0';
        if (!detail)
                return NULL;
        if (asprintf(&s, "%s batch %s %s: %llu done, %llu failed, %llu remaining of %llu%s%s", clock, w->id, what,
                     (unsigned long long) done, (unsigned long long) failed, (unsigned long long) remaining,
                     (unsigned long long) total, *detail ? "; " : "", detail) < 0)
                return NULL;
        return s;
}

static const char *state_verb(const char *state, bool first) {
        if (streq(state, "running"))
                return first ? "is running" : "resumed";
        if (streq(state, "paused"))
                return first ? "is paused" : "paused";
        if (streq(state, "done") || streq(state, "cancelled"))
                return state;
        return "changed";
}

/* After any change of the batch: new events, the block, the end. */
static void update(Watch *w, bool first) {
        _cleanup_free_ char *state = strdup(bus_value_get_string(w->props, "State") ?: "");
        char **events = NULL;
        size_t n_events = 0;
        bool end = false;
        uint64_t failed = 0;
        int r;

        if (!state) {
                fail(w, -ENOMEM);
                return;
        }
        r = collect_events(w, first ? NULL : &events, &n_events);
        if (r >= 0)
                r = jobs_refresh(w);
        if (r >= 0 && (!w->state || !streq(w->state, state))) {
                end = streq(state, "done") || streq(state, "cancelled");
                r = batch_lines_append(&events, &n_events, counts_line(w, state_verb(state, first)));
                free(w->state);
                w->state = TAKE_PTR(state);
        }
        if (r < 0) {
                batch_lines_free(events, n_events);
                fail(w, r);
                return;
        }
        render(w, events, n_events, first);
        batch_lines_free(events, n_events);
        if (end) {
                (void) bus_value_get_uint(w->props, "Failed", &failed);
                finish(w, streq(w->state, "done") && failed == 0 ? 0 : EXIT_JOB_FAILED);
        }
}

static int on_batch_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        int r;

        if (w->follow.finished)
                return 0;
        r = bus_read_properties_changed(m, JETON_BATCH_IFACE, w->props);
        if (r < 0)
                return fail(w, r);
        /* Before the first GetAll, its reply brings it all. */
        if (r > 0 && w->loaded)
                update(w, false);
        return 0;
}

static int on_job_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusValue *job = bus_value_lookup(w->jobs, sd_bus_message_get_path(m) ?: "");
        int r;

        if (w->follow.finished || !job)
                return 0;
        r = bus_read_properties_changed(m, JETON_JOB_IFACE, job);
        if (r < 0)
                return fail(w, r);
        if (r > 0)
                render(w, NULL, 0, false);
        return 0;
}

static int on_job_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusValue *job = bus_value_lookup(w->jobs, sd_bus_message_get_path(reply) ?: "");
        BusValue *props = NULL;
        int r;

        /* A job gone meanwhile (done and dropped) is simply not shown. */
        if (w->follow.finished || sd_bus_message_is_method_error(reply, NULL))
                return 0;
        r = bus_value_read(reply, &props);
        if (r < 0)
                return fail(w, r);
        if (!job) {
                bus_value_free(props);
                return 0;
        }
        /* Signals that came first are newer than nothing, older than this. */
        r = bus_value_merge(job, props);
        if (r < 0)
                return fail(w, r);
        render(w, NULL, 0, false);
        return 0;
}

static int on_batch_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (w->follow.finished)
                return 0;
        if (e) {
                log_bus_error(e, -sd_bus_error_get_errno(e), "Failed to read the batch");
                finish(w, bus_error_is_unreachable(e, -sd_bus_error_get_errno(e)) ? EXIT_UNREACHABLE : -EIO);
                return 0;
        }
        r = bus_value_read_merge(reply, w->props);
        if (r < 0)
                return fail(w, r);
        w->loaded = true;
        update(w, true);
        return 0;
}

static void jetond_gone(void *userdata) {
        log_errorf(-ECONNRESET, "jetond stopped. The batch is in its store: once jetond runs again, "
                   "'jetonctl batch status' shows it ('batch resume' if it needs the PINs again).");
}

static void interrupted(void *userdata) {
        /* Below the block, which stays as it was. */
        log_errorf(-ECANCELED, "Stopped watching; the batch goes on ('jetonctl batch pause' pauses it).");
}

static const JobFollowOps watch_ops = {
        .signals = { SIGINT, SIGTERM, SIGHUP },
        .interrupted = interrupted,
        .jetond_gone = jetond_gone,
};

static void watch_done(Watch *w) {
        job_follow_done(&w->follow);
        bus_value_free(w->props);
        bus_value_free(w->jobs);
        batch_lines_free(w->seen, w->n_seen);
        batch_lines_free(w->shown, w->n_shown);
        free(w->state);
        free(w->id);
}

int batch_watch(Context *c, const char *path) {
        _cleanup_(watch_done) Watch w = {
                .follow = { .context = c, .ops = &watch_ops },
                .path = path,
                .tty = isatty(STDOUT_FILENO),
        };
        char *id = NULL;
        int r;

        w.follow.userdata = &w;
        if (sd_bus_path_decode(path, JETON_BATCH_PREFIX, &id) > 0 && id)
                w.id = text_sanitize(id);
        else
                w.id = text_sanitize(path);
        free(id);
        if (!w.id || bus_value_new_object(&w.props) < 0 || bus_value_new_object(&w.jobs) < 0)
                return log_errorf(-ENOMEM, "Out of memory.");

        r = job_follow_start(&w.follow);
        if (r != 0)
                return r;
        /* Subscribed before reading, so no change falls in between. */
        r = bus_match_properties_changed(c->bus, "path", path, on_batch_changed, &w);
        if (r >= 0)
                r = bus_match_properties_changed(c->bus, "path_namespace", JETON_JOB_PREFIX, on_job_changed, &w);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to subscribe to jetond's signals");
        r = sd_bus_call_method_async(c->bus, NULL, JETON_BUS_NAME, path, "org.freedesktop.DBus.Properties",
                                     "GetAll", on_batch_get_all, &w, "s", JETON_BATCH_IFACE);
        if (r < 0)
                return log_errorf(r, "Failed to read the batch: %m");

        r = job_follow_run(&w.follow);
        return r < 0 ? r : w.follow.result;
}
