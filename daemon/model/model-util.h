/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the order and profile model (pure, no logging). */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Sets *ret (when ret is not NULL) to a malloc'd message and returns code
 * (negative errno). On OOM *ret stays NULL and -ENOMEM is returned. */
int set_errorf(char **ret, int code, const char *fmt, ...) _printf_(3, 4);

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, surrogates, or
 * code points above U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* Whether s is short printable ASCII that can be quoted in a message as is. */
bool printable_for_message(const char *s);

/* A growing NUL-terminated string. */
typedef struct StrBuf {
        char *s;                /* NULL until something is appended */
        size_t n, size;
} StrBuf;

int strbuf_append(StrBuf *b, const char *s, size_t n);

/* n bytes of p and a NUL (p need not be NUL-terminated, unlike for
 * strndup(), which ASan's strict_string_checks reads as a string). NULL
 * on OOM. */
char *memdup_nul(const void *p, size_t n);

/* Copies s without leading and trailing ASCII blanks (space, tab, CR, LF).
 * s need not be NUL-terminated. NULL on OOM. */
char *strdup_trimmed(const char *s, size_t n);
