/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

/* Every access goes through these descriptors and names without a '/':
 * a symbolic link put in place of the inbox or of done/ after the start,
 * or a link or a FIFO dropped as a certificate, leads nowhere else. */
struct Inbox {
        char *directory;        /* for messages only */
        int dir_fd, done_fd, rejected_fd;
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

/* Moves name into done/ or rejected/ without replacing a file of an
 * earlier round there (it is evidence too): the second one gets a suffix. */
static void move_away(Inbox *in, const char *name, bool accepted, const char *reason) {
        int to_fd = accepted ? in->done_fd : in->rejected_fd;
        const char *subdir = accepted ? "done" : "rejected";
        _cleanup_free_ char *target = NULL, *reason_name = NULL, *tmp_name = NULL;
        FILE *f;
        int fd;

        target = strdup(name);
        if (!target)
                return (void) log_oom();
        for (unsigned n = 1; renameat2(in->dir_fd, name, to_fd, target, RENAME_NOREPLACE) < 0; n++) {
                if (errno != EEXIST || n > 1000)
                        return (void) log_warning_errno(-errno, "Inbox: failed to move %s to %s/: %m", name,
                                                        subdir);
                free(target);
                if (asprintf(&target, "%s.%u", name, n) < 0)
                        return (void) log_oom();
        }

        /* Written aside and renamed in: whoever waits for the .reason file
         * reads it whole. */
        if (asprintf(&reason_name, "%s.reason", target) < 0 || asprintf(&tmp_name, ".%s.tmp", reason_name) < 0)
                return (void) log_oom();
        fd = openat(to_fd, tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
                log_warning_errno(-errno, "Inbox: failed to write %s/%s: %m", subdir, tmp_name);
                safe_close(fd);
                return;
        }
        fprintf(f, "%s\n", reason);
        if (fclose(f) != 0 || renameat(to_fd, tmp_name, to_fd, reason_name) < 0) {
                log_warning_errno(-errno, "Inbox: failed to write %s/%s: %m", subdir, reason_name);
                (void) unlinkat(to_fd, tmp_name, 0);
        }
}

/* The file's contents; a reason to reject it when it is no regular file
 * or cannot be read. */
static int read_certificate(Inbox *in, const char *name, uint8_t **ret, size_t *ret_size, const char **ret_reason) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        /* O_NONBLOCK: a FIFO must not stall the daemon, O_NOFOLLOW: a link
         * must not make it read what the dropper could not. */
        fd = openat(in->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                *ret_reason = r == -ELOOP ? "a symbolic link, not a certificate file" : "cannot open the file";
                return log_warning_errno(r, "Inbox: cannot open %s: %m", name);
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                *ret_reason = "not a regular file";
                log_warning("Inbox: %s is not a regular file.", name);
                return -EBADFD;
        }
        r = install_read_fd(fd, ret, ret_size);
        if (r < 0) {
                *ret_reason = r == -EFBIG ? "too large for a certificate file" : "cannot read the file";
                return log_warning_errno(r, "Inbox: cannot read %s: %m", name);
        }
        return 0;
}

static void process(Manager *m, Inbox *in, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *reference = NULL, *job = NULL, *reason = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        const char *why = NULL;
        size_t size = 0;
        DaemonOrder *o;
        int r;

        reference = reference_of(name);
        if (!reference)
                return;

        o = orders_find(m, reference);
        if (!o) {
                log_warning("Inbox: %s names no known order %s.", name, reference);
                return move_away(in, name, false, JETON_ERROR_NOT_FOUND ": no such order");
        }
        r = read_certificate(in, name, &data, &size, &why);
        if (r < 0) {
                if (r == -ENOENT)
                        return; /* gone meanwhile: nothing to move */
                if (asprintf(&reason, "%s: %s", JETON_ERROR_CERTIFICATE_INVALID, why) < 0)
                        reason = NULL;
                return move_away(in, name, false, reason ?: why);
        }

        r = job_install_data(m, o, data, size, NULL, &job, &error);
        if (r < 0) {
                log_warning("Inbox: %s refused: %s", name, strna(error.message));
                if (asprintf(&reason, "%s: %s", strna(error.name), strna(error.message)) < 0)
                        reason = NULL;
                return move_away(in, name, false, reason ?: "refused");
        }
        log_info("Inbox: certificate of %s accepted%s%s.", reference, streq(job, "/") ? "" : ", job ",
                 streq(job, "/") ? "" : job);
        move_away(in, name, true, streq(job, "/") ? "accepted; waiting for the token" : "accepted");
}

/* Every file in the inbox: at start, and when inotify lost events. */
static void process_all(Manager *m, Inbox *in) {
        DIR *d;
        int fd;

        /* readdir consumes the descriptor's offset: a description of its own. */
        fd = openat(in->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd))) {
                log_warning_errno(-errno, "Inbox: cannot read %s: %m", in->directory);
                safe_close(fd);
                return;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_type != DT_DIR)
                        process(m, in, de->d_name);
        closedir(d);
}

static int on_inotify(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        Manager *m = userdata;

        if (event->mask & IN_Q_OVERFLOW) {
                log_warning("Inbox: events were lost, rereading the directory.");
                process_all(m, m->inbox);
        } else if (event->len > 0 && !(event->mask & IN_ISDIR))
                process(m, m->inbox, event->name);
        return 0;
}

/* The directory name (relative to at_fd) opened as a directory, created
 * if missing, never through a symbolic link. */
static int open_directory(int at_fd, const char *name) {
        int fd;

        if (mkdirat(at_fd, name, 0750) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int inbox_start(Manager *m, const char *directory) {
        _cleanup_free_ Inbox *in = NULL;
        int r;

        in = calloc(1, sizeof(Inbox));
        if (!in)
                return log_oom();
        in->dir_fd = in->done_fd = in->rejected_fd = -EBADF;
        m->inbox = in;

        r = in->dir_fd = open_directory(AT_FDCWD, directory);
        if (r >= 0)
                r = in->done_fd = open_directory(in->dir_fd, "done");
        if (r >= 0)
                r = in->rejected_fd = open_directory(in->dir_fd, "rejected");
        if (r < 0) {
                TAKE_PTR(in);
                inbox_stop(m);
                return log_error_errno(r, "Failed to open the inbox %s (and its done/ and rejected/): %m",
                                       directory);
        }
        in->directory = strdup(directory);
        if (!in->directory) {
                TAKE_PTR(in);
                inbox_stop(m);
                return log_oom();
        }
        /* Watched by descriptor: what is watched is the directory opened above. */
        r = sd_event_add_inotify_fd(m->event, &in->source, in->dir_fd,
                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR, on_inotify, m);
        if (r < 0) {
                TAKE_PTR(in);
                inbox_stop(m);
                return log_error_errno(r, "Failed to watch the inbox %s: %m", directory);
        }
        (void) sd_event_source_set_description(in->source, "inbox");

        /* What arrived while we were not running. */
        process_all(m, TAKE_PTR(in));
        return 0;
}

void inbox_stop(Manager *m) {
        if (!m->inbox)
                return;
        sd_event_source_disable_unref(m->inbox->source);
        safe_close(m->inbox->dir_fd);
        safe_close(m->inbox->done_fd);
        safe_close(m->inbox->rejected_fd);
        free(m->inbox->directory);
        m->inbox = mfree(m->inbox);
}
