/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers of the daemon that systemd keeps in its basic/ and that
 * only libsystemd's public API would give us otherwise. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline bool isempty(const char *s) {
        return !s || !s[0];
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* Closes fd if valid, keeps errno, returns -EBADF for "fd = safe_close(fd);". */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

/* NULL-terminated string arrays. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
int strv_extend(char ***l, const char *value);
bool strv_contains(char *const *l, const char *value);
bool strv_equal(char *const *a, char *const *b);

/* Lower-case hex of len bytes, malloc'd; NULL on OOM. */
char *hexmem(const void *p, size_t len);

/* Replaces *dst with a copy of src (NULL allowed). Returns 1 if the value
 * changed, 0 if not, -ENOMEM. */
int free_and_strdup(char **dst, const char *src);

/* A private, non-blocking, read-only file description for a file or pipe a
 * client handed us. Setting O_NONBLOCK on the client's own description
 * would change its side too, and it could clear it again to block us.
 * Anything but a regular file or a FIFO/pipe is refused (-EBADFD): a
 * socket can report readable and still block. */
int fd_reopen_nonblock(int fd);
