/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A PIN held in memory that is locked (no swap), excluded from core dumps
 * where the kernel allows, and wiped with explicit_bzero() when freed.
 * It is never printed: there is deliberately no accessor that returns a
 * NUL-terminated string. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "p11-error.h"

typedef struct JP11Pin JP11Pin;

/* Copies len bytes. The caller wipes its own copy. */
int jp11_pin_new(const void *bytes, size_t len, JP11Pin **ret, JP11Error *error);
/* Reads one line (trailing '\n' or "\r\n" stripped) from fd, at most 256 bytes.
 * Used for --pin-fd, --pin-file and PIN-agent answers. */
int jp11_pin_read_fd(int fd, JP11Pin **ret, JP11Error *error);
/* The same with one deadline for the whole line (timeout_ms < 0: none);
 * on a non-blocking fd a writer that stalls mid-line gets -ETIMEDOUT. */
int jp11_pin_read_fd_timeout(int fd, int timeout_ms, JP11Pin **ret, JP11Error *error);
JP11Pin *jp11_pin_free(JP11Pin *pin); /* wipes; accepts NULL; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(JP11Pin *, jp11_pin_free);

size_t jp11_pin_length(const JP11Pin *pin);
const uint8_t *jp11_pin_bytes(const JP11Pin *pin); /* not NUL-terminated */
