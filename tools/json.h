/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small streaming JSON writer (RFC 8259) for jetonctl's --json output.
 *
 *   JsonWriter w;
 *   json_writer_init(&w, stdout, false);
 *   json_begin_object(&w);
 *   json_key(&w, "Label");
 *   json_string(&w, label);
 *   json_end_object(&w);
 *   if (json_writer_end(&w) < 0) ...
 *
 * Commas and (in pretty mode) indentation are placed by the writer.
 * Strings are escaped per RFC 8259: '"', '\\' and every control character
 * below U+0020; valid UTF-8 passes through unchanged and each byte of an
 * invalid UTF-8 sequence becomes U+FFFD, so the output is always valid
 * JSON whatever bytes a token reports. Misuse (a value where a key is due,
 * nesting deeper than JSON_DEPTH_MAX) is recorded and reported by
 * json_writer_end() as -EINVAL; write errors as the stream's errno. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 256

typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        bool misuse;
        bool want_key;                  /* in an object: a key is due, not a value */
        unsigned depth;
        bool first[JSON_DEPTH_MAX];     /* no member written yet at this depth */
        bool is_object[JSON_DEPTH_MAX];
} JsonWriter;

void json_writer_init(JsonWriter *w, FILE *f, bool pretty);

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);

void json_string(JsonWriter *w, const char *s);  /* NULL writes null */
void json_string_len(JsonWriter *w, const char *s, size_t n);
void json_int(JsonWriter *w, int64_t v);
void json_uint(JsonWriter *w, uint64_t v);
void json_double(JsonWriter *w, double v);       /* NaN and infinities write null */
void json_bool(JsonWriter *w, bool v);
void json_null(JsonWriter *w);

/* Checks that every container was closed, ends the output with a newline
 * (so short mode gives one value per line) and flushes. Returns 0, -EINVAL
 * on misuse, or the write error. */
int json_writer_end(JsonWriter *w);

/* Writes s as a quoted JSON string to f: the escaping used by the writer. */
void json_write_quoted(FILE *f, const char *s, size_t n);
