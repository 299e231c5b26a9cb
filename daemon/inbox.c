/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "bus-error.h"
#include "inbox.h"
#include "install.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "orders.h"
#include "util.h"

struct Inbox {
        char *directory;
        sd_event_source *source;
};

static const char *const suffixes[] = { ".pem", ".crt", ".cer", ".der", ".p7b", ".p7c" };

/* "BD1734971738.pem" -> "BD1734971738"; NULL for other names. */
static char *reference_of(const char *name) {
        size_t n = strlen(name);

        if (name[0] == '.')
                return NULL;    /* hidden: a file being written by a careful writer */
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t l = strlen(suffixes[i]);

                if (n > l && strcasecmp(name + n - l, suffixes[i]) == 0)
                        return strndup(name, n - l);
        }
        return NULL;
}

static void move_away(Inbox *in, const char *name, const char *subdir, const char *reason) {
        _cleanup_free_ char *from = NULL, *to = NULL, *reason_path = NULL;

        if (asprintf(&from, "%s/%s", in->directory, name) < 0 ||
            asprintf(&to, "%s/%s/%s", in->directory, subdir, name) < 0 ||
            asprintf(&reason_path, "%s/%s/%s.reason", in->directory, subdir, name) < 0)
                return (void) log_oom();
        if (rename(from, to) < 0)
                log_warning_errno(-errno, "Failed to move %s to %s: %m", from, to);

        FILE *f = fopen(reason_path, "we");
        if (!f)
                return (void) log_warning_errno(-errno, "Failed to write %s: %m", reason_path);
        fprintf(f, "%s\n", reason);
        if (fclose(f) != 0)
                log_warning_errno(-errno, "Failed to write %s: %m", reason_path);
}

static void process(Manager *m, Inbox *in, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *reference = NULL, *path = NULL, *job = NULL, *reason = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        DaemonOrder *o;
        int r;

        reference = reference_of(name);
        if (!reference)
                return;
        if (asprintf(&path, "%s/%s", in->directory, name) < 0)
                return (void) log_oom();

        o = orders_find(m, reference);
        if (!o) {
                log_warning("Inbox: %s names no known order %s.", name, reference);
                return move_away(in, name, "rejected", JETON_ERROR_NOT_FOUND ": no such order");
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return (void) log_warning_errno(-errno, "Inbox: cannot open %s: %m", path);
        r = install_read_fd(fd, &data, &size);
        if (r < 0) {
                log_warning_errno(r, "Inbox: cannot read %s: %m", path);
                return move_away(in, name, "rejected", JETON_ERROR_CERTIFICATE_INVALID ": cannot read the file");
        }

        r = job_install_data(m, o, data, size, NULL, &job, &error);
        if (r < 0) {
                log_warning("Inbox: %s refused: %s", name, strna(error.message));
                if (asprintf(&reason, "%s: %s", strna(error.name), strna(error.message)) < 0)
                        reason = NULL;
                return move_away(in, name, "rejected", reason ?: "refused");
        }
        log_info("Inbox: certificate of %s accepted%s%s.", reference, streq(job, "/") ? "" : ", job ",
                 streq(job, "/") ? "" : job);
        move_away(in, name, "done", streq(job, "/") ? "accepted; waiting for the token" : "accepted");
}

static int on_inotify(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        Manager *m = userdata;

        if (event->mask & IN_Q_OVERFLOW) {
                log_warning("Inbox: events were lost, rereading the directory.");
                /* fall through to a full scan below */
        } else if (event->len > 0 && !(event->mask & IN_ISDIR)) {
                process(m, m->inbox, event->name);
                return 0;
        }

        DIR *d = opendir(m->inbox->directory);
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
                        process(m, m->inbox, de->d_name);
        closedir(d);
        return 0;
}

static int mkdir_p(const char *path) {
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int inbox_start(Manager *m, const char *directory) {
        _cleanup_free_ char *done = NULL, *rejected = NULL;
        Inbox *in;
        int r;

        if (asprintf(&done, "%s/done", directory) < 0 || asprintf(&rejected, "%s/rejected", directory) < 0)
                return -ENOMEM;
        r = mkdir_p(directory);
        if (r >= 0)
                r = mkdir_p(done);
        if (r >= 0)
                r = mkdir_p(rejected);
        if (r < 0)
                return log_error_errno(r, "Failed to create the inbox %s: %m", directory);

        in = calloc(1, sizeof(Inbox));
        if (!in || !(in->directory = strdup(directory))) {
                free(in);
                return log_oom();
        }
        m->inbox = in;
        r = sd_event_add_inotify(m->event, &in->source, directory, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR,
                                 on_inotify, m);
        if (r < 0) {
                inbox_stop(m);
                return log_error_errno(r, "Failed to watch the inbox %s: %m", directory);
        }
        (void) sd_event_source_set_description(in->source, "inbox");

        /* What arrived while we were not running. */
        DIR *d = opendir(directory);
        if (d) {
                for (struct dirent *de; (de = readdir(d));)
                        if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
                                process(m, in, de->d_name);
                closedir(d);
        }
        return 0;
}

void inbox_stop(Manager *m) {
        if (!m->inbox)
                return;
        sd_event_source_disable_unref(m->inbox->source);
        free(m->inbox->directory);
        m->inbox = mfree(m->inbox);
}
