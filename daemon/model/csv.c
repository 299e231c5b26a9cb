/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "model-util.h"

void csv_init(Csv *c, const char *data, size_t len) {
        *c = (Csv) { .data = data, .len = len, .line = 1 };
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
                c->pos = 3;
}

void csv_record_clear(CsvRecord *r) {
        for (size_t i = 0; i < r->n_fields; i++)
                free(r->fields[i]);
        free(r->fields);
        *r = (CsvRecord) {};
}

typedef struct Field {
        char *s;
        size_t n, size;
} Field;

static int field_put(Field *f, char ch) {
        if (f->n + 2 > f->size) {
                size_t size = f->size ? f->size * 2 : 32;
                char *t = realloc(f->s, size);

                if (!t)
                        return -ENOMEM;
                f->s = t;
                f->size = size;
        }
        f->s[f->n++] = ch;
        f->s[f->n] = 0;
        return 0;
}

static int record_add(CsvRecord *r, size_t *size, Field *f) {
        if (r->n_fields >= CSV_FIELDS_MAX)
                return -E2BIG;
        if (r->n_fields + 1 > *size) {
                size_t s = *size ? *size * 2 : 16;
                char **t = reallocarray(r->fields, s, sizeof(char *));

                if (!t)
                        return -ENOMEM;
                r->fields = t;
                *size = s;
        }
        r->fields[r->n_fields] = f->s ?: strdup("");
        if (!r->fields[r->n_fields])
                return -ENOMEM;
        r->n_fields++;
        *f = (Field) {};
        return 0;
}

/* After a malformed record: on to the next physical line. */
static void skip_line(Csv *c) {
        const char *nl = memchr(c->data + c->pos, '\n', c->len - c->pos);

        if (!nl) {
                c->pos = c->len;
                return;
        }
        c->pos = (size_t) (nl - c->data) + 1;
        c->line++;
}

static bool at_line_end(const Csv *c) {
        return c->data[c->pos] == '\n' || (c->data[c->pos] == '\r' && c->pos + 1 < c->len && c->data[c->pos + 1] == '\n');
}

static void eat_line_end(Csv *c) {
        if (c->data[c->pos] == '\r')
                c->pos++;
        c->pos++;
        c->line++;
}

int csv_read(Csv *c, CsvRecord *ret, char **ret_error) {
        CsvRecord rec = {};
        size_t size = 0;
        Field f = {};
        int r;

        csv_record_clear(ret);

        /* Blank lines between records carry nothing. */
        while (c->pos < c->len && at_line_end(c))
                eat_line_end(c);
        if (c->pos >= c->len)
                return 0;

        rec.line = c->line;
        for (;;) {
                bool end_of_record = false;

                if (c->pos < c->len && c->data[c->pos] == '"') {
                        unsigned opened = c->line;

                        c->pos++;
                        for (;;) {
                                char ch;

                                if (c->pos >= c->len) {
                                        free(f.s);
                                        csv_record_clear(&rec);
                                        ret->line = opened;
                                        return set_errorf(ret_error, -EINVAL,
                                                          "line %u: quoted field not closed (a '\"' is missing "
                                                          "before the end of the file)", opened);
                                }
                                ch = c->data[c->pos++];
                                if (ch == '"') {
                                        if (c->pos < c->len && c->data[c->pos] == '"')
                                                c->pos++;
                                        else
                                                break;
                                }
                                if (ch == '\n')
                                        c->line++;
                                if (ch == 0)
                                        goto nul;
                                r = field_put(&f, ch);
                                if (r < 0)
                                        goto fail;
                        }
                        if (c->pos < c->len && c->data[c->pos] != ',' && !at_line_end(c)) {
                                free(f.s);
                                csv_record_clear(&rec);
                                ret->line = c->line;
                                r = set_errorf(ret_error, -EINVAL,
                                               "line %u: text after a closing quote (write a '\"' inside a quoted "
                                               "field as '\"\"')", c->line);
                                skip_line(c);
                                return r;
                        }
                } else {
                        while (c->pos < c->len && c->data[c->pos] != ',' && !at_line_end(c)) {
                                char ch = c->data[c->pos];

                                if (ch == '"') {
                                        free(f.s);
                                        csv_record_clear(&rec);
                                        ret->line = c->line;
                                        r = set_errorf(ret_error, -EINVAL,
                                                       "line %u: '\"' inside an unquoted field (quote the whole "
                                                       "field and write the quote as '\"\"')", c->line);
                                        skip_line(c);
                                        return r;
                                }
                                if (ch == 0)
                                        goto nul;
                                r = field_put(&f, ch);
                                if (r < 0)
                                        goto fail;
                                c->pos++;
                        }
                }

                r = record_add(&rec, &size, &f);
                if (r == -E2BIG) {
                        free(f.s);
                        csv_record_clear(&rec);
                        ret->line = c->line;
                        r = set_errorf(ret_error, -EINVAL, "line %u: more than %u fields", c->line, CSV_FIELDS_MAX);
                        skip_line(c);
                        return r;
                }
                if (r < 0)
                        goto fail;

                if (c->pos >= c->len)
                        end_of_record = true;
                else if (c->data[c->pos] == ',')
                        c->pos++;
                else {
                        eat_line_end(c);
                        end_of_record = true;
                }
                if (end_of_record)
                        break;
        }

        *ret = rec;
        return 1;

nul:
        free(f.s);
        csv_record_clear(&rec);
        ret->line = c->line;
        r = set_errorf(ret_error, -EINVAL, "line %u: contains a NUL byte", c->line);
        skip_line(c);
        return r;

fail:
        free(f.s);
        csv_record_clear(&rec);
        return r;
}
