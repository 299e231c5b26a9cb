/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-util.h"

int set_errorf(char **ret, int code, const char *fmt, ...) {
        va_list ap;
        char *m;

        if (!ret)
                return code;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);

        free(*ret);
        *ret = m;
        return m ? code : -ENOMEM;
}

bool utf8_valid(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *) s, *end = p + n;

        while (p < end) {
                uint32_t c;
                size_t len;

                if (p[0] < 0x80) {
                        p++;
                        continue;
                }
                if ((p[0] & 0xe0) == 0xc0) {
                        len = 2;
                        c = p[0] & 0x1f;
                } else if ((p[0] & 0xf0) == 0xe0) {
                        len = 3;
                        c = p[0] & 0x0f;
                } else if ((p[0] & 0xf8) == 0xf0) {
                        len = 4;
                        c = p[0] & 0x07;
                } else
                        return false;
                if ((size_t) (end - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        c = (c << 6) | (p[i] & 0x3f);
                }
                if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000))
                        return false;   /* overlong */
                if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                        return false;
                p += len;
        }
        return true;
}

bool printable_for_message(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (s[n] < 0x20 || s[n] > 0x7e || s[n] == '"')
                        return false;
        return n <= 64;
}

char *memdup_nul(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *strdup_trimmed(const char *s, size_t n) {
        while (n > 0 && is_blank(s[0])) {
                s++;
                n--;
        }
        while (n > 0 && is_blank(s[n - 1]))
                n--;
        return memdup_nul(s, n);
}

int strbuf_append(StrBuf *b, const char *s, size_t n) {
        if (b->n + n + 1 > b->size) {
                size_t size = (b->n + n + 1) * 2;
                char *t = realloc(b->s, size);

                if (!t)
                        return -ENOMEM;
                b->s = t;
                b->size = size;
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = 0;
        return 0;
}
