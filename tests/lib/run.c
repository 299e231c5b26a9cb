/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "run.h"

typedef struct Buffer {
        char *data;
        size_t len, size;
} Buffer;

static int buffer_read(Buffer *b, int fd) {
        if (b->size - b->len < 4096) {
                size_t size = b->size ? b->size * 2 : 8192;
                char *p = realloc(b->data, size);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->size = size;
        }
        ssize_t n = read(fd, b->data + b->len, b->size - b->len - 1);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 1 : -errno;
        b->len += n;
        b->data[b->len] = '\0';
        return n > 0; /* 0 = end of file */
}

static char *buffer_take(Buffer *b) {
        if (!b->data)
                return strdup("");
        return TAKE_PTR(b->data);
}

static void close_pair(int p[2]) {
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0) {
                        close(p[i]);
                        p[i] = -1;
                }
}

/* Exit 127 after a failed exec, as shells do; the parent cannot tell it
 * from a program exiting 127, which is why it checks PATH itself first. */
_Noreturn static void child(const char *const *argv, const char *const *env, int in[2], int out[2],
                            int err[2]) {
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
                _exit(127);
        if (err[1] >= 0 && dup2(err[1], STDERR_FILENO) < 0)
                _exit(127);
        for (const char *const *e = env; e && *e; e++)
                if (putenv((char *) *e) < 0)
                        _exit(127);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], (char *const *) argv);
        _exit(127);
}

static bool program_exists(const char *name) {
        if (strchr(name, '/'))
                return access(name, X_OK) == 0;
        const char *path = getenv("PATH");
        if (!path)
                path = "/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return true; /* let exec decide */
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char full[4096];
                snprintf(full, sizeof full, "%s/%s", dir, name);
                if (access(full, X_OK) == 0)
                        return true;
        }
        return false;
}

int run(const char *const *argv, const char *const *env, const void *input, size_t input_len,
        char **ret_out, char **ret_err, int *ret_status) {
        int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
        Buffer bout = {}, berr = {};
        int r;

        if (!argv || !argv[0])
                return -EINVAL;
        if (!program_exists(argv[0]))
                return -ENOENT;

        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
            (ret_err && pipe2(err, O_CLOEXEC) < 0)) {
                r = -errno;
                goto finish;
        }

        /* Flush so buffered test output is not written twice by the child. */
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                goto finish;
        }
        if (pid == 0)
                child(argv, env, in, out, err);

        close(in[0]);
        in[0] = -1;
        close(out[1]);
        out[1] = -1;
        if (err[1] >= 0) {
                close(err[1]);
                err[1] = -1;
        }
        /* A child that exits without reading its stdin must not kill us. */
        void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);

        size_t written = 0;
        if (!input || input_len == 0) {
                close(in[1]);
                in[1] = -1;
        }
        r = 0;
        while (in[1] >= 0 || out[0] >= 0 || err[0] >= 0) {
                struct pollfd p[3] = {
                        { .fd = in[1], .events = POLLOUT },
                        { .fd = out[0], .events = POLLIN },
                        { .fd = err[0], .events = POLLIN },
                };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (p[0].revents) {
                        ssize_t n = write(in[1], (const char *) input + written, input_len - written);
                        if (n < 0 && errno != EINTR && errno != EAGAIN)
                                written = input_len; /* EPIPE: the child closed stdin */
                        else if (n > 0)
                                written += n;
                        if (written >= input_len) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
                for (int i = 1; i <= 2; i++) {
                        if (!p[i].revents)
                                continue;
                        int *fd = i == 1 ? &out[0] : &err[0];
                        int k = buffer_read(i == 1 ? &bout : &berr, *fd);
                        if (k <= 0) {
                                if (k < 0 && r == 0)
                                        r = k;
                                close(*fd);
                                *fd = -1;
                        }
                }
        }
        signal(SIGPIPE, old_pipe);

        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        if (r == 0)
                                r = -errno;
                        goto finish;
                }
        if (r < 0)
                goto finish;

        if (ret_status)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (ret_out) {
                *ret_out = buffer_take(&bout);
                if (!*ret_out) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        if (ret_err) {
                *ret_err = buffer_take(&berr);
                if (!*ret_err) {
                        if (ret_out) {
                                free(*ret_out);
                                *ret_out = NULL;
                        }
                        r = -ENOMEM;
                        goto finish;
                }
        }
finish:
        close_pair(in);
        close_pair(out);
        close_pair(err);
        free(bout.data);
        free(berr.data);
        return r;
}

int run_simple(const char *const *argv, char **ret_out) {
        int status, r;

        r = run(argv, NULL, NULL, 0, ret_out, NULL, &status);
        if (r < 0)
                return r;
        return status;
}
