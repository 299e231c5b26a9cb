/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p11-pin.h"

#define PIN_READ_MAX 256

struct JP11Pin {
        uint8_t *data;          /* page-aligned, mlock'd, excluded from core dumps */
        size_t len;
        size_t size;            /* allocated bytes, a whole number of pages */
        bool locked;
};

/* Page-aligned so that mlock() and madvise() cover exactly our pages. A
 * failing mlock (RLIMIT_MEMLOCK, unprivileged tests) is not fatal: the
 * PIN is still wiped, it only might reach swap. */
static JP11Pin *pin_alloc(size_t len) {
        long page = sysconf(_SC_PAGESIZE);
        size_t psize = page > 0 ? (size_t) page : 4096;
        JP11Pin *pin;

        pin = calloc(1, sizeof *pin);
        if (!pin)
                return NULL;
        pin->size = (len / psize + 1) * psize;
        if (posix_memalign((void **) &pin->data, psize, pin->size) != 0) {
                free(pin);
                return NULL;
        }
        memset(pin->data, 0, pin->size);
        pin->locked = mlock(pin->data, pin->size) == 0;
#ifdef MADV_DONTDUMP
        (void) madvise(pin->data, pin->size, MADV_DONTDUMP);
#endif
        return pin;
}

JP11Pin *jp11_pin_free(JP11Pin *pin) {
        if (!pin)
                return NULL;
        explicit_bzero(pin->data, pin->size);
#ifdef MADV_DODUMP
        /* The allocator may hand these pages out again for other data. */
        (void) madvise(pin->data, pin->size, MADV_DODUMP);
#endif
        if (pin->locked)
                (void) munlock(pin->data, pin->size);
        free(pin->data);
        free(pin);
        return NULL;
}

int jp11_pin_new(const void *bytes, size_t len, JP11Pin **ret, JP11Error *error) {
        JP11Pin *pin;

        if (!ret || (!bytes && len > 0))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no PIN buffer given");
        if (len == 0)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "the PIN is empty");
        if (len > 4096)
                return jp11_error_set(error, -E2BIG, JP11_ERR_PIN_LENGTH,
                                      "the PIN is longer than 4096 bytes");

        pin = pin_alloc(len);
        if (!pin)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory for the PIN");
        memcpy(pin->data, bytes, len);
        pin->len = len;
        *ret = pin;
        return 0;
}

static uint64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* deadline: CLOCK_MONOTONIC msec, or 0 for none. On a non-blocking fd the
 * whole line shares the deadline, so a writer that sends part of a PIN and
 * then stalls cannot hold the reader forever. */
static int read_byte(int fd, uint8_t *c, uint64_t deadline) {
        for (;;) {
                ssize_t n = read(fd, c, 1);
                if (n >= 0)
                        return (int) n;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        int timeout = -1;

                        if (deadline > 0) {
                                uint64_t now = now_msec();
                                if (now >= deadline)
                                        return -ETIMEDOUT;
                                timeout = (int) (deadline - now);
                        }
                        if (poll(&p, 1, timeout) < 0 && errno != EINTR)
                                return -errno;
                        continue;
                }
                return -errno;
        }
}

/* Reads byte by byte straight into the locked buffer: no stdio buffer
 * keeps a copy, and nothing after the line is consumed, so the fd may be
 * shared (a terminal, an agent's socket). */
int jp11_pin_read_fd(int fd, JP11Pin **ret, JP11Error *error) {
        return jp11_pin_read_fd_timeout(fd, -1, ret, error);
}

int jp11_pin_read_fd_timeout(int fd, int timeout_ms, JP11Pin **ret, JP11Error *error) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        uint64_t deadline = timeout_ms >= 0 ? now_msec() + (uint64_t) timeout_ms : 0;
        bool newline = false;
        uint8_t c = 0;
        int r;

        if (!ret || fd < 0)
                return jp11_error_set(error, -EBADF, JP11_ERR_INVALID, "no file descriptor to read the PIN from");

        /* One byte more than allowed, plus room for "\r\n". */
        pin = pin_alloc(PIN_READ_MAX + 2);
        if (!pin)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory for the PIN");

        for (;;) {
                r = read_byte(fd, &c, deadline);
                if (r == -ETIMEDOUT)
                        return jp11_error_set(error, r, JP11_ERR_INVALID,
                                              "no complete PIN line arrived in time");
                if (r < 0) {
                        /* %m, not strerror(): the library runs in several threads. */
                        errno = -r;
                        return jp11_error_set(error, r, JP11_ERR_INVALID, "reading the PIN failed: %m");
                }
                if (r == 0)
                        break;
                if (c == '\n') {
                        newline = true;
                        break;
                }
                if (pin->len > PIN_READ_MAX) {
                        explicit_bzero(&c, sizeof c);
                        return jp11_error_set(error, -E2BIG, JP11_ERR_PIN_LENGTH,
                                              "the PIN is longer than %d bytes", PIN_READ_MAX);
                }
                pin->data[pin->len++] = c;
        }
        explicit_bzero(&c, sizeof c);

        if (pin->len > 0 && pin->data[pin->len - 1] == '\r' && newline) {
                pin->data[--pin->len] = 0;
        }
        if (pin->len > PIN_READ_MAX)
                return jp11_error_set(error, -E2BIG, JP11_ERR_PIN_LENGTH, "the PIN is longer than %d bytes",
                                      PIN_READ_MAX);
        if (pin->len == 0)
                return jp11_error_set(error, newline ? -EINVAL : -ENODATA, JP11_ERR_INVALID,
                                      newline ? "the PIN is empty" : "no PIN was given (end of input)");

        *ret = TAKE_PTR(pin);
        return 0;
}

size_t jp11_pin_length(const JP11Pin *pin) {
        return pin ? pin->len : 0;
}

const uint8_t *jp11_pin_bytes(const JP11Pin *pin) {
        return pin ? pin->data : NULL;
}
