/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Where jetonctl gets a PIN from, other than a terminal: one line read
 * from a file descriptor (--pin-fd) or a file (--pin-file), and the
 * memory it is held in. Pure: unit tested on its own. */

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "macro.h"

/* Bytes of PIN we accept: PKCS#11 tokens take 4 to 16, some 64. */
#define PIN_MAX 256

/* A PIN and room for its '\n' and a NUL, kept out of swap (mlock) and
 * core dumps (MADV_DONTDUMP) where the system allows it, and wiped before
 * it is freed. */
typedef struct PinBuffer {
        char data[PIN_MAX + 2];
        size_t len;
} PinBuffer;

/* -ENOMEM only: failing to lock the page is not fatal (RLIMIT_MEMLOCK). */
int pin_buffer_new(PinBuffer **ret);
PinBuffer *pin_buffer_free(PinBuffer *p);       /* wipes; accepts NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(PinBuffer *, pin_buffer_free);
void pin_buffer_wipe(PinBuffer *p);

/* Reads one line from fd into p, without its "\n" or "\r\n"; a last line
 * without a newline counts. Reads byte by byte so nothing past the line
 * is consumed. Returns the length (0 for an empty line), -ENODATA at end
 * of file before any byte, -EMSGSIZE when the line is longer than
 * PIN_MAX, -EBADMSG when it holds a NUL byte, or the read error; on
 * error p is wiped. */
int pin_read_line(int fd, PinBuffer *p);

/* Whether a PIN file may be used: a regular file owned by uid (or by
 * root) that neither its group nor other users can read or write.
 * Returns 0, -EISDIR/-EINVAL (not a regular file), -EPERM (owner) or
 * -EACCES (mode). */
int pin_file_check(const struct stat *st, uid_t uid);
