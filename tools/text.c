/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "text.h"
#include "utf8.h"

char *text_sanitize(const char *s) {
        const unsigned char *p = (const unsigned char *) (s ?: "");
        size_t n = strlen((const char *) p), k = 0;
        char *out = malloc(n + 1);

        if (!out)
                return NULL;

        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence_length(p + i, n - i);

                if (len == 0 || p[i] < 0x20 || p[i] == 0x7f ||
                    (p[i] == 0xC2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)) {
                        out[k++] = '?';
                        i += len ?: 1;
                        continue;
                }
                memcpy(out + k, p + i, len);
                k += len;
                i += len;
        }
        out[k] = '\0';
        return out;
}

char *text_cell(const char *s) {
        return text_sanitize(s && *s ? s : "-");
}

size_t text_width(const char *s) {
        size_t w = 0;

        for (const unsigned char *p = (const unsigned char *) (s ?: ""); *p; p++)
                if ((*p & 0xC0) != 0x80)
                        w++;
        return w;
}

void text_print(FILE *f, const char *s, bool quote) {
        _cleanup_free_ char *t = text_sanitize(s);

        if (!t) {
                fputs("?", f);
                return;
        }
        if (!quote && *t && !strpbrk(t, " \"\\"))
                fputs(t, f);
        else {
                fputc('"', f);
                for (const char *p = t; *p; p++) {
                        if (*p == '"' || *p == '\\')
                                fputc('\\', f);
                        fputc(*p, f);
                }
                fputc('"', f);
        }
}

void text_print_table(FILE *f, const char *const *headers, size_t n_cols, char *const *cells, size_t n_rows,
                      bool legend) {
        size_t widths[TEXT_TABLE_COLUMNS_MAX] = {};

        if (n_cols > ELEMENTSOF(widths))
                n_cols = ELEMENTSOF(widths);
        for (size_t j = 0; j < n_cols; j++) {
                widths[j] = legend ? text_width(headers[j]) : 0;
                for (size_t i = 0; i < n_rows; i++)
                        if (text_width(cells[i * n_cols + j]) > widths[j])
                                widths[j] = text_width(cells[i * n_cols + j]);
        }
        for (size_t i = legend ? 0 : 1; i <= n_rows; i++) {
                for (size_t j = 0; j < n_cols; j++) {
                        const char *c = i == 0 ? headers[j] : cells[(i - 1) * n_cols + j];

                        fputs(c, f);
                        if (j + 1 < n_cols)
                                fprintf(f, "%*s", (int) (widths[j] - text_width(c) + 2), "");
                }
                fputc('\n', f);
        }
}

char *text_kebab_case(const char *name) {
        size_t n = strlen(name), k = 0;
        char *out = malloc(2 * n + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (isupper((unsigned char) name[i])) {
                        if (i > 0)
                                out[k++] = '-';
                        out[k++] = (char) tolower((unsigned char) name[i]);
                } else
                        out[k++] = name[i];
        }
        out[k] = '\0';
        return out;
}

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static bool split_time(uint64_t usec, bool utc, struct tm *tm) {
        time_t t = (time_t) (usec / USEC_PER_SEC);

        return utc ? gmtime_r(&t, tm) != NULL : localtime_r(&t, tm) != NULL;
}

const char *format_time_utc(char *buf, uint64_t usec) {
        struct tm tm;

        if (!split_time(usec, true, &tm) || strftime(buf, TIME_BUF_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                return "n/a";
        return buf;
}

const char *format_date_utc(char *buf, uint64_t usec) {
        struct tm tm;

        if (!split_time(usec, true, &tm) || strftime(buf, TIME_BUF_MAX, "%Y-%m-%d", &tm) == 0)
                return "n/a";
        return buf;
}

const char *format_clock_local(char *buf, uint64_t usec) {
        struct tm tm;

        if (!split_time(usec, false, &tm))
                return "??:??:??.???";
        snprintf(buf, TIME_BUF_MAX, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned) (usec % USEC_PER_SEC / 1000));
        return buf;
}

const char *format_iso8601(char *buf, uint64_t usec) {
        struct tm tm;
        char date[32];

        if (!split_time(usec, true, &tm) || strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return "n/a";
        snprintf(buf, TIME_BUF_MAX, "%s.%03uZ", date, (unsigned) (usec % USEC_PER_SEC / 1000));
        return buf;
}

int64_t days_until(uint64_t t, uint64_t now) {
        int64_t d = (int64_t) (t - now);        /* two's complement: negative once past */

        /* Round towards minus infinity: 1 s past expiry is day -1, not 0. */
        return d >= 0 ? d / (int64_t) USEC_PER_DAY : -((-d - 1) / (int64_t) USEC_PER_DAY) - 1;
}
