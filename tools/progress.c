/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "progress.h"
#include "text.h"

#define BAR_MAX 40
#define BAR_MIN 10

static unsigned clamp_percent(unsigned p) {
        return p > 100 ? 100 : p;
}

/* What names the step: the stage, or the state before there is one. */
static const char *progress_what(const ProgressState *s) {
        if (s->stage && *s->stage)
                return s->stage;
        return s->state && *s->state ? s->state : "starting";
}

static bool streq_ptr(const char *a, const char *b) {
        return streq(a ?: "", b ?: "");
}

int progress_changed(const ProgressState *a, const ProgressState *b) {
        return !streq_ptr(a->state, b->state) || !streq_ptr(a->stage, b->stage) ||
                clamp_percent(a->percent) != clamp_percent(b->percent);
}

char *progress_format_bar(const ProgressState *s, size_t columns, char *buf, size_t size) {
        _cleanup_free_ char *what = text_sanitize(progress_what(s));
        unsigned percent = clamp_percent(s->percent);
        size_t bar, filled, room, w, pos = 0;

        if (!what)
                return NULL;
        if (columns < 20)
                columns = 20;
        /* "[" bar "] " "100% " what: the bar takes what the text leaves. */
        w = text_width(what);
        room = columns - 1;     /* never write into the last column: no wrap */
        bar = room > w + 8 ? room - w - 8 : 0;
        if (bar > BAR_MAX)
                bar = BAR_MAX;
        if (bar < BAR_MIN)
                bar = BAR_MIN;
        filled = bar * percent / 100;

        if (size < bar + 8 + 1)
                return NULL;
        buf[pos++] = '[';
        for (size_t i = 0; i < bar; i++)
                buf[pos++] = i < filled ? '#' : ' ';
        pos += (size_t) snprintf(buf + pos, size - pos, "] %3u%% ", percent);
        /* Cut the name to what is left of the line, on a character boundary. */
        for (const char *p = what; *p && pos + 1 < size && text_width(buf) < room;) {
                size_t len = 1;

                while ((p[len] & 0xC0) == 0x80)
                        len++;
                if (pos + len + 1 > size)
                        break;
                memcpy(buf + pos, p, len);
                pos += len;
                buf[pos] = '\0';
                p += len;
        }
        buf[pos] = '\0';
        return buf;
}

char *progress_format_line(const ProgressState *s, char *buf, size_t size) {
        _cleanup_free_ char *state = text_sanitize(s->state && *s->state ? s->state : "starting");
        _cleanup_free_ char *stage = text_cell(s->stage);

        if (!state || !stage)
                return NULL;
        if (snprintf(buf, size, "%s %s %u%%", state, stage, clamp_percent(s->percent)) >= (int) size)
                return NULL;
        return buf;
}
