/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pin-read.h"

int pin_buffer_new(PinBuffer **ret) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        size_t size = (sizeof(PinBuffer) + page - 1) / page * page;
        void *p;

        /* A page of its own: mlock and madvise work on pages. */
        if (posix_memalign(&p, page, size) != 0)
                return -ENOMEM;
        memset(p, 0, size);
        (void) mlock(p, size);
        (void) madvise(p, size, MADV_DONTDUMP);
        *ret = p;
        return 0;
}

void pin_buffer_wipe(PinBuffer *p) {
        explicit_bzero(p->data, sizeof(p->data));
        p->len = 0;
}

PinBuffer *pin_buffer_free(PinBuffer *p) {
        size_t page;

        if (!p)
                return NULL;
        page = (size_t) sysconf(_SC_PAGESIZE);
        pin_buffer_wipe(p);
        (void) munlock(p, (sizeof(PinBuffer) + page - 1) / page * page);
        free(p);
        return NULL;
}

int pin_read_line(int fd, PinBuffer *p) {
        size_t n = 0;
        bool any = false;

        pin_buffer_wipe(p);
        for (;;) {
                char c;
                ssize_t k = read(fd, &c, 1);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        pin_buffer_wipe(p);
                        return -errno;
                }
                if (k == 0) {
                        if (!any)
                                return -ENODATA;
                        break;
                }
                any = true;
                if (c == '\n')
                        break;
                if (c == '\0') {
                        explicit_bzero(&c, sizeof(c));
                        pin_buffer_wipe(p);
                        return -EBADMSG;
                }
                /* One more than PIN_MAX for a '\r' that a "\r\n" strips. */
                if (n >= PIN_MAX + 1) {
                        explicit_bzero(&c, sizeof(c));
                        pin_buffer_wipe(p);
                        return -EMSGSIZE;
                }
                p->data[n++] = c;
                explicit_bzero(&c, sizeof(c));
        }
        if (n > 0 && p->data[n - 1] == '\r')
                p->data[--n] = '\0';
        if (n > PIN_MAX) {
                pin_buffer_wipe(p);
                return -EMSGSIZE;
        }
        p->data[n] = '\0';
        p->len = n;
        return (int) n;
}

int pin_file_check(const struct stat *st, uid_t uid) {
        if (S_ISDIR(st->st_mode))
                return -EISDIR;
        if (!S_ISREG(st->st_mode))
                return -EINVAL;
        if (st->st_uid != uid && st->st_uid != 0)
                return -EPERM;
        if (st->st_mode & (S_IRWXG | S_IRWXO))
                return -EACCES;
        return 0;
}
