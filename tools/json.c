/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

void json_writer_init(JsonWriter *w, FILE *f, bool pretty) {
        *w = (JsonWriter) {
                .f = f,
                .pretty = pretty,
        };
}

void json_write_quoted(FILE *f, const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                unsigned char c = p[i];
                size_t len;

                switch (c) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (c < 0x20) {
                                fprintf(f, "\\u%04x", c);
                                break;
                        }
                        len = utf8_sequence_length(p + i, n - i);
                        if (len == 0) {
                                fputs("\xEF\xBF\xBD", f);       /* U+FFFD */
                                len = 1;
                        } else
                                fwrite(p + i, 1, len, f);
                        i += len;
                        continue;
                }
                i++;
        }
        fputc('"', f);
}

static void newline_indent(JsonWriter *w) {
        if (!w->pretty)
                return;
        fputc('\n', w->f);
        for (unsigned i = 0; i < w->depth; i++)
                fputs("  ", w->f);
}

/* Places the separator before a value; false (and misuse recorded) when a
 * value is not allowed here. */
static bool begin_value(JsonWriter *w) {
        if (w->misuse)
                return false;
        if (w->depth == 0)
                return true;
        if (w->is_object[w->depth - 1]) {
                if (w->want_key) {
                        w->misuse = true;
                        return false;
                }
                w->want_key = true;
                return true;
        }
        if (!w->first[w->depth - 1])
                fputc(',', w->f);
        w->first[w->depth - 1] = false;
        newline_indent(w);
        return true;
}

void json_key(JsonWriter *w, const char *key) {
        if (w->misuse)
                return;
        if (w->depth == 0 || !w->is_object[w->depth - 1] || !w->want_key || !key) {
                w->misuse = true;
                return;
        }
        if (!w->first[w->depth - 1])
                fputc(',', w->f);
        w->first[w->depth - 1] = false;
        newline_indent(w);
        json_write_quoted(w->f, key, strlen(key));
        fputs(w->pretty ? ": " : ":", w->f);
        w->want_key = false;
}

static void begin_container(JsonWriter *w, bool object) {
        if (!begin_value(w))
                return;
        if (w->depth >= JSON_DEPTH_MAX) {
                w->misuse = true;
                return;
        }
        fputc(object ? '{' : '[', w->f);
        w->first[w->depth] = true;
        w->is_object[w->depth] = object;
        w->depth++;
        w->want_key = object;
}

static void end_container(JsonWriter *w, bool object) {
        if (w->misuse)
                return;
        if (w->depth == 0 || w->is_object[w->depth - 1] != object || (object && !w->want_key)) {
                w->misuse = true;
                return;
        }
        w->depth--;
        if (!w->first[w->depth])
                newline_indent(w);
        fputc(object ? '}' : ']', w->f);
        /* The container was a value: in an enclosing object a key is due. */
        w->want_key = w->depth > 0 && w->is_object[w->depth - 1];
}

void json_begin_object(JsonWriter *w) {
        begin_container(w, true);
}

void json_end_object(JsonWriter *w) {
        end_container(w, true);
}

void json_begin_array(JsonWriter *w) {
        begin_container(w, false);
}

void json_end_array(JsonWriter *w) {
        end_container(w, false);
}

void json_string_len(JsonWriter *w, const char *s, size_t n) {
        if (begin_value(w))
                json_write_quoted(w->f, s, n);
}

void json_string(JsonWriter *w, const char *s) {
        if (!s)
                json_null(w);
        else
                json_string_len(w, s, strlen(s));
}

void json_int(JsonWriter *w, int64_t v) {
        if (begin_value(w))
                fprintf(w->f, "%" PRIi64, v);
}

void json_uint(JsonWriter *w, uint64_t v) {
        if (begin_value(w))
                fprintf(w->f, "%" PRIu64, v);
}

void json_double(JsonWriter *w, double v) {
        if (!isfinite(v))
                json_null(w);
        else if (begin_value(w))
                fprintf(w->f, "%.17g", v);
}

void json_bool(JsonWriter *w, bool v) {
        if (begin_value(w))
                fputs(v ? "true" : "false", w->f);
}

void json_null(JsonWriter *w) {
        if (begin_value(w))
                fputs("null", w->f);
}

int json_writer_end(JsonWriter *w) {
        if (w->depth != 0)
                w->misuse = true;
        if (w->misuse)
                return -EINVAL;
        fputc('\n', w->f);
        if (fflush(w->f) != 0 || ferror(w->f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}
