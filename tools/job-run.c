/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-signal.h"
#include "call-error.h"
#include "job-follow.h"
#include "job-run.h"
#include "pin-agent.h"
#include "progress.h"
#include "text.h"

typedef struct JobRun {
        JobFollow follow;       /* the loop; its result is the verb's */
        PinAgent agent;
        const char *what;
        char *path;             /* the job, once the call has returned it */
        BusValue *props;        /* its properties as last known */
        char *shown_state, *shown_stage;
        unsigned shown_percent;
        bool shown;
        bool tty;               /* standard error is a terminal: draw a bar */
        bool bar;               /* a bar is on the line: end it before other output */
} JobRun;

static void bar_end(void *userdata) {
        JobRun *j = userdata;

        if (j->bar) {
                fputc('\n', stderr);
                j->bar = false;
        }
}

static void finish(JobRun *j, int result) {
        job_follow_finish(&j->follow, result);
}

static void show_progress(JobRun *j) {
        ProgressState now = {
                .state = bus_value_get_string(j->props, "State"),
                .stage = bus_value_get_string(j->props, "Stage"),
        };
        ProgressState before = { .state = j->shown_state, .stage = j->shown_stage, .percent = j->shown_percent };
        char buf[512];
        uint64_t percent = 0;

        (void) bus_value_get_uint(j->props, "Percent", &percent);
        now.percent = percent > 100 ? 100 : (unsigned) percent;
        if (!j->follow.context->progress || (j->shown && !progress_changed(&before, &now)))
                return;

        if (j->tty) {
                struct winsize ws = {};
                size_t columns = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0 ? ws.ws_col : 80;

                if (progress_format_bar(&now, columns, buf, sizeof(buf))) {
                        fprintf(stderr, "\r%s\033[K", buf);
                        j->bar = true;
                }
        } else if (progress_format_line(&now, buf, sizeof(buf)))
                fprintf(stderr, "progress: %s\n", buf);
        fflush(stderr);

        free(j->shown_state);
        free(j->shown_stage);
        j->shown_state = now.state ? strdup(now.state) : NULL;
        j->shown_stage = now.stage ? strdup(now.stage) : NULL;
        j->shown_percent = now.percent;
        j->shown = true;
}

static void report_failure(JobRun *j, const char *state) {
        const char *result = bus_value_get_string(j->props, "Result");
        const char *message = bus_value_get_string(j->props, "Error");
        const char *stage = bus_value_get_string(j->props, "Stage");
        _cleanup_free_ char *safe_message = text_sanitize(message && *message ? message : "no reason given");
        _cleanup_free_ char *safe_stage = text_cell(stage);
        _cleanup_free_ char *safe_result = text_sanitize(error_name_short(result) ?: "");
        int status;

        if (streq(state, "cancelled")) {
                log_errorf(-ECANCELED, "The %s job was cancelled at stage %s.", j->what, safe_stage ?: "?");
                finish(j, EXIT_JOB_FAILED);
                return;
        }
        log_errorf(-EIO, "The %s job failed at stage %s: %s%s%s%s", j->what, safe_stage ?: "?",
                   safe_message ?: "?", safe_result && *safe_result ? " (" : "", safe_result ?: "",
                   safe_result && *safe_result ? ")" : "");
        if (streq(error_name_short(result) ?: "", "PinFinalTry"))
                log_errorf(0, "The token allows one more try and a wrong PIN locks it. Run the command again "
                           "with --confirm-final-try only if you are sure of the PIN.");
        else if (streq(error_name_short(result) ?: "", "PinIncorrect"))
                log_errorf(0, "jetonctl does not try a PIN twice: check the PIN and the tries left "
                           "('jetonctl show TOKEN') before running the command again.");

        status = error_name_exit_status(result);
        finish(j, status == EXIT_PIN || status == EXIT_PERMISSION ? status : EXIT_JOB_FAILED);
}

static void job_update(JobRun *j) {
        const char *state = bus_value_get_string(j->props, "State");

        show_progress(j);
        if (!state)
                return;
        if (streq(state, "done"))
                finish(j, 0);
        else if (streq(state, "failed") || streq(state, "cancelled"))
                report_failure(j, state);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        int r;

        /* Before the call returned the path: GetAll will catch up. */
        if (!j->path || j->follow.finished || !streq(sd_bus_message_get_path(m) ?: "", j->path))
                return 0;
        r = bus_read_properties_changed(m, JETON_JOB_IFACE, j->props);
        if (r < 0)
                log_errorf(r, "Ignoring a malformed PropertiesChanged signal: %m");
        if (r > 0)
                job_update(j);
        return 0;
}

static int on_get_all(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (j->follow.finished)
                return 0;
        if (e) {
                finish(j, log_call_error(e, -sd_bus_error_get_errno(e), "Failed to read the job"));
                return 0;
        }
        r = bus_value_read_merge(reply, j->props);
        if (r < 0) {
                finish(j, log_errorf(r, "Failed to read the job: %m"));
                return 0;
        }
        job_update(j);
        return 0;
}

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        if (e) {
                _cleanup_free_ char *what = NULL;

                if (asprintf(&what, "Failed to start the %s", j->what) < 0)
                        what = NULL;
                finish(j, log_call_error(e, -sd_bus_error_get_errno(e), what ?: "Failed"));
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0) {
                finish(j, log_errorf(r, "Unexpected reply from jetond: %m"));
                return 0;
        }
        if (streq(path, "/")) {
                finish(j, 0);
                return 0;
        }
        j->path = strdup(path);
        if (!j->path) {
                finish(j, log_errorf(-ENOMEM, "Out of memory."));
                return 0;
        }
        r = sd_bus_call_method_async(j->follow.context->bus, NULL, JETON_BUS_NAME, path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_get_all, j, "s", JETON_JOB_IFACE);
        if (r < 0)
                finish(j, log_errorf(r, "Failed to read the job: %m"));
        return 0;
}

static void jetond_gone(void *userdata) {
        JobRun *j = userdata;

        log_errorf(-ECONNRESET, "jetond stopped while the %s was running; its state is in jetond's store "
                   "('jetonctl order show').", j->what);
}

static void interrupted(void *userdata) {
        JobRun *j = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (j->path) {
                r = sd_bus_call_method(j->follow.context->bus, JETON_BUS_NAME, j->path, JETON_JOB_IFACE, "Cancel",
                                       &error, NULL, NULL);
                if (r < 0)
                        log_errorf(r, "Interrupted; failed to cancel the job: %s", error.message ?: strerror(-r));
                else
                        log_errorf(-ECANCELED, "Interrupted; asked jetond to cancel the job (it stops between "
                                   "steps).");
        } else
                log_errorf(-ECANCELED, "Interrupted.");
        /* pin_agent_done() (the caller's cleanup) restores the terminal. */
}

static const JobFollowOps job_run_ops = {
        .signals = { SIGINT, SIGTERM, SIGHUP, SIGQUIT },
        .end_line = bar_end,
        .interrupted = interrupted,
        .jetond_gone = jetond_gone,
};

static void job_run_done(JobRun *j) {
        pin_agent_done(&j->agent);
        job_follow_done(&j->follow);
        bus_value_free(j->props);
        free(j->path);
        free(j->shown_state);
        free(j->shown_stage);
}

int job_run(Context *c, sd_bus_message *call, int pin_fd, const char *what, char **ret_job_path,
            BusValue **ret_job) {
        _cleanup_(job_run_done) JobRun j = {
                .follow = { .context = c, .ops = &job_run_ops },
                .what = what,
                .tty = isatty(STDERR_FILENO),
        };
        int r;

        j.follow.userdata = &j;
        pin_agent_init(&j.agent, pin_fd, c->confirm_final_try);
        j.agent.before_prompt = bar_end;
        j.agent.userdata = &j;

        r = bus_value_new_object(&j.props);
        if (r < 0)
                return log_errorf(r, "Out of memory.");

        r = job_follow_start(&j.follow);
        if (r != 0)
                return r;
        /* Before the call, so nothing the job says is missed. */
        r = bus_match_properties_changed(c->bus, "path_namespace", JETON_JOB_PREFIX, on_properties_changed, &j);
        if (r < 0)
                return log_bus_error(NULL, r, "Failed to subscribe to jetond's signals");
        r = pin_agent_register(&j.agent, c->bus, j.follow.event);
        if (r != 0)
                return r;

        /* The call may take a while (polkit may ask the person for a
         * password): no timeout of ours. */
        r = sd_bus_call_async(c->bus, NULL, call, on_call_reply, &j, UINT64_MAX);
        if (r < 0)
                return log_errorf(r, "Failed to call jetond: %m");

        r = job_follow_run(&j.follow);
        if (r < 0)
                return r;

        /* The agent refused to hand a PIN over (and said why): the job's
         * failure is a PIN problem. */
        if (j.agent.status != 0 && j.follow.result == EXIT_JOB_FAILED)
                j.follow.result = j.agent.status;
        if (ret_job)
                *ret_job = j.path ? TAKE_PTR(j.props) : NULL;
        if (ret_job_path)
                *ret_job_path = TAKE_PTR(j.path);
        return j.follow.result;
}

int pin_file_open(const char *path, const char *what, int *ret_fd) {
        _cleanup_free_ char *shown = text_sanitize(path);
        struct stat st;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0) {
                log_errorf(-errno, "Failed to open the %s %s: %m", what, shown ?: "?");
                return EXIT_PIN;
        }
        /* The file we read, not the name: checked on the open file. */
        r = fstat(fd, &st) < 0 ? -errno : pin_file_check(&st, geteuid());
        if (r < 0) {
                close(fd);
                if (r == -EACCES)
                        log_errorf(r, "Refusing the %s %s: its group or other users may read or write it "
                                   "(mode %04o); 'chmod 600' it.", what, shown ?: "?",
                                   (unsigned) (st.st_mode & 07777));
                else if (r == -EPERM)
                        log_errorf(r, "Refusing the %s %s: it belongs to another user.", what, shown ?: "?");
                else
                        log_errorf(r, "Refusing the %s %s: not a regular file (%m).", what, shown ?: "?");
                return EXIT_PIN;
        }
        *ret_fd = fd;
        return 0;
}

int pin_source_open(const Context *c, int *ret_fd) {
        if (c->pin_fd >= 0) {
                if (fcntl(c->pin_fd, F_SETFD, FD_CLOEXEC) < 0) {
                        log_errorf(-errno, "--pin-fd=%d: %m", c->pin_fd);
                        return EXIT_PIN;
                }
                *ret_fd = c->pin_fd;
                return 0;
        }
        if (!c->pin_file) {
                *ret_fd = -1;
                return 0;
        }
        return pin_file_open(c->pin_file, "PIN file", ret_fd);
}

int order_get_properties(Context *c, const char *order_path, BusValue **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(c->bus, JETON_BUS_NAME, order_path, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", JETON_ORDER_IFACE);
        if (r < 0)
                return log_call_error(&error, r, "Failed to read the order");
        r = bus_value_read(reply, ret);
        if (r < 0)
                return log_errorf(r, "Failed to read the order: %m");
        return 0;
}

static void write_object(JsonWriter *w, const char *path, const BusValue *props) {
        if (!path || !props)
                json_null(w);
        else
                bus_value_write_json_object(path, props, w);
}

int job_write_json(Context *c, const char *order_path, const BusValue *order, const char *job_path,
                   const BusValue *job) {
        JsonWriter w;

        json_output_begin(c, &w);
        json_begin_object(&w);
        json_key(&w, "order");
        write_object(&w, order_path, order);
        json_key(&w, "job");
        write_object(&w, job_path, job);
        json_end_object(&w);
        return json_output_end(&w);
}
