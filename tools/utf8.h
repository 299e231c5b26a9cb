/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Length of the valid UTF-8 sequence (RFC 3629) at s[0..n), n >= 1, or 0
 * when the bytes there are not one: overlong forms, surrogates and code
 * points above U+10FFFF are invalid too. */
static inline size_t utf8_sequence_length(const unsigned char *s, size_t n) {
        unsigned char lo = 0x80, hi = 0xBF;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                len = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                len = 3;
                if (s[0] == 0xE0)
                        lo = 0xA0;      /* overlong */
                else if (s[0] == 0xED)
                        hi = 0x9F;      /* UTF-16 surrogates */
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                len = 4;
                if (s[0] == 0xF0)
                        lo = 0x90;      /* overlong */
                else if (s[0] == 0xF4)
                        hi = 0x8F;      /* above U+10FFFF */
        } else
                return 0;

        if (n < len || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return len;
}
