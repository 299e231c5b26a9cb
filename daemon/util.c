/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util.h"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_extend(char ***l, const char *value) {
        size_t n = strv_length(*l);
        _cleanup_free_ char *v = strdup(value);
        char **c;

        if (!v)
                return -ENOMEM;
        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c)
                return -ENOMEM;
        c[n] = TAKE_PTR(v);
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

bool strv_contains(char *const *l, const char *value) {
        if (l)
                for (char *const *i = l; *i; i++)
                        if (streq(*i, value))
                                return true;
        return false;
}

bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

char *hexmem(const void *p, size_t len) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;
        char *r = malloc(len * 2 + 1), *q = r;

        if (!r)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                *q++ = digits[b[i] >> 4];
                *q++ = digits[b[i] & 15];
        }
        *q = 0;
        return r;
}

int free_and_strdup(char **dst, const char *src) {
        char *c = NULL;

        if (streq_ptr(*dst, src))
                return 0;
        if (src) {
                c = strdup(src);
                if (!c)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = c;
        return 1;
}

int fd_reopen_nonblock(int fd) {
        char path[sizeof("/proc/self/fd/") + 12];
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
                return -EBADFD;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        return r < 0 ? -errno : r;
}
