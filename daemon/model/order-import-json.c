/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model-util.h"
#include "order-import-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

/* An order is two levels deep; anything deeper is not one. */
#define JSON_DEPTH_MAX 8
/* json-c takes an int length. */
#define JSON_SIZE_MAX (64u * 1024u * 1024u)

static const char *json_type_text(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:    return "null";
        case json_type_boolean: return "a boolean";
        case json_type_double:  return "a decimal number";
        case json_type_int:     return "a number";
        case json_type_object:  return "an object";
        case json_type_array:   return "an array";
        case json_type_string:  return "a string";
        default:                return "something else";
        }
}

/* "line N, column C: message" for a problem at a byte offset. */
_printf_(4, 5) static void problem_at(Importer *im, const char *data, size_t offset, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL, *text = NULL;
        unsigned line = 1, column = 1;
        va_list ap;
        int r;

        for (size_t i = 0; i < offset; i++) {
                if (data[i] == '\n') {
                        line++;
                        column = 1;
                } else if (((unsigned char) data[i] & 0xc0) != 0x80)
                        column++;       /* characters, not UTF-8 continuation bytes */
        }
        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0 || asprintf(&text, "line %u, column %u: %s", line, column, m) < 0) {
                m = text = NULL;
                im->oom = true;
                return;
        }
        import_problem_text(im, text);
}

/* The start lines of the top-level array's items, in order: json-c keeps no
 * positions, but the text is valid JSON by now, so a small scan that only
 * tracks strings and nesting finds them. */
static int item_lines(const char *data, size_t len, size_t n_items, unsigned **ret) {
        _cleanup_free_ unsigned *lines = calloc(n_items ?: 1, sizeof(unsigned));
        bool in_string = false, escaped = false, want_value = false;
        unsigned line = 1, depth = 0;
        size_t k = 0;

        if (!lines)
                return -ENOMEM;
        for (size_t i = 0; i < len && k < n_items; i++) {
                char ch = data[i];

                if (ch == '\n')
                        line++;
                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (ch == '\\')
                                escaped = true;
                        else if (ch == '"')
                                in_string = false;
                        continue;
                }
                if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
                        continue;
                if (depth == 1 && want_value) {
                        lines[k++] = line;
                        want_value = false;
                }
                switch (ch) {
                case '"':
                        in_string = true;
                        break;
                case '[':
                case '{':
                        if (++depth == 1)
                                want_value = true;
                        break;
                case ']':
                case '}':
                        depth--;
                        break;
                case ',':
                        if (depth == 1)
                                want_value = true;
                        break;
                default:
                        break;
                }
        }
        for (; k < n_items; k++)
                lines[k] = line;        /* not reached on valid JSON */
        *ret = TAKE_PTR(lines);
        return 0;
}

static void json_text(ImportItem *item, OrderField f, json_object *v) {
        const char *s;
        size_t n;

        if (json_object_is_type(v, json_type_null))
                return;
        if (!json_object_is_type(v, json_type_string)) {
                import_field_problem(item, f, "must be a string, not %s%s", json_type_text(v),
                                     json_object_is_type(v, json_type_int) ? " (a number would lose leading zeros)"
                                                                            : "");
                return;
        }
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        import_item_set_text(item, f, s, n);
}

static void json_years(ImportItem *item, json_object *v) {
        int64_t y;

        if (json_object_is_type(v, json_type_null))
                return;
        if (!json_object_is_type(v, json_type_int)) {
                import_field_problem(item, ORDER_FIELD_VALIDITY_YEARS, "must be a whole number of years, not %s",
                                     json_type_text(v));
                return;
        }
        y = json_object_get_int64(v);
        if (y < 1 || y > 99) {
                import_field_problem(item, ORDER_FIELD_VALIDITY_YEARS,
                                     "%lld years: a holder certificate lives 1 to 3 years (RGS)", (long long) y);
                return;
        }
        import_item_set_years(item, (unsigned) y);
}

/* The members of an object at path prefix ("" or "holder." ...). */
static void json_members(ImportItem *item, json_object *obj, const char *prefix) {
        json_object_object_foreach(obj, key, v) {
                _cleanup_free_ char *path = NULL;
                OrderField f;

                if (asprintf(&path, "%s%s", prefix, key) < 0) {
                        path = NULL;
                        item->importer->oom = true;
                        return;
                }
                if (!prefix[0] && (streq(key, "holder") || streq(key, "organisation"))) {
                        if (json_object_is_type(v, json_type_null))
                                continue;
                        if (!json_object_is_type(v, json_type_object)) {
                                import_problem(item->importer, item->line, item, key, "must be an object, not %s",
                                               json_type_text(v));
                                continue;
                        }
                        _cleanup_free_ char *sub = NULL;
                        if (asprintf(&sub, "%s.", key) < 0) {
                                sub = NULL;
                                item->importer->oom = true;
                                return;
                        }
                        json_members(item, v, sub);
                        continue;
                }

                f = order_field_from_string(path);
                if (f >= 0 && !prefix[0] && strchr(key, '.')) {
                        import_problem(item->importer, item->line, item, path,
                                       "JSON nests the fields: write \"%.*s\": { \"%s\": ... }",
                                       (int) (strchr(key, '.') - key), key, strchr(key, '.') + 1);
                        continue;
                }
                if (f < 0) {
                        /* Keys may carry anything: quote them only when that is safe. */
                        bool show = strlen(path) <= 64 && strspn(path, "abcdefghijklmnopqrstuvwxyz"
                                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                                                                      strlen(path);
                        import_problem(item->importer, item->line, item, show ? path : NULL,
                                       "unknown field%s (known: reference, ca, product, profile, "
                                       "validity_years, holder.{given_name,surname,email,identifier}, "
                                       "organisation.{name,siren,siret,vat})",
                                       show ? "" : " with an unusual name");
                        continue;
                }
                if (f == ORDER_FIELD_VALIDITY_YEARS)
                        json_years(item, v);
                else
                        json_text(item, f, v);
        }
}

int import_json(Importer *im, const char *data, size_t len) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ unsigned *lines = NULL;
        enum json_tokener_error e;
        size_t n;
        const char *nul;
        int r;

        /* Positions are counted after the BOM: a person does not see it. */
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
                data += 3;
                len -= 3;
        }
        if (len > JSON_SIZE_MAX) {
                import_problem(im, 1, NULL, NULL, "the file is too large (%zu bytes, at most %u)", len, JSON_SIZE_MAX);
                return 0;
        }
        /* json-c reads up to a NUL: refuse one rather than stop there. */
        nul = memchr(data, 0, len);
        if (nul) {
                problem_at(im, data, (size_t) (nul - data), "contains a NUL byte");
                return 0;
        }
        text = memdup_nul(data, len);
        if (!text)
                return -ENOMEM;

        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        /* The length includes the final NUL: the input ends there. */
        root = json_tokener_parse_ex(tok, text, (int) (len + 1));
        e = json_tokener_get_error(tok);
        if (!root || e != json_tokener_success) {
                size_t end = json_tokener_get_parse_end(tok);

                if (end > len)
                        end = len;
                /* json-c stops after a bad UTF-8 byte, at other errors on the culprit. */
                if (e == json_tokener_error_parse_utf8_string && end > 0)
                        end--;
                if (e == json_tokener_continue || e == json_tokener_success || e == json_tokener_error_parse_eof)
                        problem_at(im, text, end, "JSON ends too early (an array or object is not closed)");
                else
                        problem_at(im, text, end, "JSON syntax error: %s", json_tokener_error_desc(e));
                return 0;
        }

        if (!json_object_is_type(root, json_type_array)) {
                import_problem(im, 1, NULL, NULL, "expected an array of orders, found %s", json_type_text(root));
                return 0;
        }

        n = json_object_array_length(root);
        r = item_lines(text, len, n, &lines);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(root, i);
                ImportItem item;

                r = import_item_begin(im, &item, lines[i], i);
                if (r < 0)
                        return r;
                if (!json_object_is_type(v, json_type_object)) {
                        import_problem(im, lines[i], &item, NULL, "expected an order (an object), found %s",
                                       json_type_text(v));
                        order_free(item.order);
                        continue;
                }
                json_members(&item, v, "");
                import_item_end(&item);
        }
        return 0;
}
