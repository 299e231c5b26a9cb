/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "model-util.h"
#include "order-import-internal.h"
#include "order-validate.h"
#include "util.h"

Order **order_array_free(Order **orders, size_t n) {
        for (size_t i = 0; orders && i < n; i++)
                order_free(orders[i]);
        free(orders);
        return NULL;
}

OrderImportFormat order_import_guess_format(const char *data, size_t len) {
        size_t i = 0;

        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
                i = 3;
        for (; i < len; i++)
                if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n')
                        return data[i] == '[' ? ORDER_IMPORT_JSON : ORDER_IMPORT_CSV;
        return ORDER_IMPORT_CSV;
}

/* ---- problems ----------------------------------------------------------------- */

static void add_text(Importer *im, char *text) {
        if (!text) {
                im->oom = true;
                return;
        }
        if (im->n_errors + 2 > im->errors_size) {
                size_t size = im->errors_size ? im->errors_size * 2 : 16;
                char **t = reallocarray(im->errors, size, sizeof(char *));

                if (!t) {
                        free(text);
                        im->oom = true;
                        return;
                }
                im->errors = t;
                im->errors_size = size;
        }
        im->errors[im->n_errors++] = text;
        im->errors[im->n_errors] = NULL;
}

void import_problem_text(Importer *im, const char *text) {
        if (im->n_problems++ >= ORDER_IMPORT_PROBLEMS_MAX)
                return;
        add_text(im, strdup(text));
}

static void vproblem(Importer *im, unsigned line, const ImportItem *item, const char *field, const char *fmt,
                     va_list ap) {
        _cleanup_free_ char *m = NULL, *where = NULL;
        char *text;
        int r;

        if (im->n_problems++ >= ORDER_IMPORT_PROBLEMS_MAX)
                return;

        if (vasprintf(&m, fmt, ap) < 0) {
                m = NULL;
                im->oom = true;
                return;
        }
        if (item && im->format == ORDER_IMPORT_JSON)
                r = asprintf(&where, "line %u, item [%zu]", line, item->index);
        else
                r = asprintf(&where, "line %u", line);
        if (r < 0) {
                where = NULL;
                im->oom = true;
                return;
        }
        if (field)
                r = asprintf(&text, "%s, field %s: %s", where, field, m);
        else
                r = asprintf(&text, "%s: %s", where, m);
        add_text(im, r < 0 ? NULL : text);
}

void import_problem(Importer *im, unsigned line, const ImportItem *item, const char *field, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vproblem(im, line, item, field, fmt, ap);
        va_end(ap);
}

void import_field_problem(ImportItem *item, OrderField f, const char *fmt, ...) {
        va_list ap;

        item->reported |= 1u << f;
        va_start(ap, fmt);
        vproblem(item->importer, item->line, item, order_field_to_string(f), fmt, ap);
        va_end(ap);
}

/* ---- items -------------------------------------------------------------------- */

int import_item_begin(Importer *im, ImportItem *item, unsigned line, size_t index) {
        *item = (ImportItem) { .importer = im, .line = line, .index = index };
        item->order = order_new();
        return item->order ? 0 : -ENOMEM;
}

void import_item_set_text(ImportItem *item, OrderField f, const char *raw, size_t n) {
        char **slot = order_field_slot(item->order, f);
        char *v;

        if (!slot)
                return;
        if (memchr(raw, 0, n)) {
                import_field_problem(item, f, "contains a NUL character");
                return;
        }
        if (!utf8_valid(raw, n)) {
                import_field_problem(item, f, "not valid UTF-8 (save the file as UTF-8)");
                return;
        }
        v = strdup_trimmed(raw, n);
        if (!v) {
                item->importer->oom = true;
                return;
        }
        free(*slot);
        *slot = v[0] ? v : mfree(v);
}

void import_item_set_years(ImportItem *item, unsigned years) {
        item->order->validity_years = years;
}

static void validation_problem(OrderField f, const char *message, void *userdata) {
        ImportItem *item = userdata;

        /* A field that failed to import is reported once, not again as missing. */
        if (item->reported & (1u << f))
                return;
        import_field_problem(item, f, "%s", message);
}

static char *known_profiles(const Importer *im) {
        size_t n = 1;
        char *s, *p;

        for (size_t i = 0; i < im->profiles->n_profiles; i++)
                n += strlen(im->profiles->profiles[i]->name) + 2;
        s = p = malloc(n);
        if (!s)
                return NULL;
        *p = 0;
        for (size_t i = 0; i < im->profiles->n_profiles; i++)
                p = stpcpy(stpcpy(p, i > 0 ? ", " : ""), im->profiles->profiles[i]->name);
        return s;
}

static int fill_from_profile(ImportItem *item, const Profile *p) {
        Order *o = item->order;

        if (!o->ca && p->ca && !(o->ca = strdup(p->ca)))
                return -ENOMEM;
        if (!o->product && p->product && !(o->product = strdup(p->product)))
                return -ENOMEM;
        return 0;
}

static int importer_grow(Importer *im) {
        size_t size;
        Order **t;
        unsigned *l;
        size_t *x;

        if (im->n_orders < im->size)
                return 0;
        size = im->size ? im->size * 2 : 16;
        t = reallocarray(im->orders, size, sizeof(Order *));
        if (!t)
                return -ENOMEM;
        im->orders = t;
        l = reallocarray(im->lines, size, sizeof(unsigned));
        if (!l)
                return -ENOMEM;
        im->lines = l;
        x = reallocarray(im->indices, size, sizeof(size_t));
        if (!x)
                return -ENOMEM;
        im->indices = x;
        im->size = size;
        return 0;
}

void import_item_end(ImportItem *item) {
        Importer *im = item->importer;
        Order *o = item->order;
        const Profile *profile = NULL;

        if (!o->profile && im->default_profile && !(item->reported & (1u << ORDER_FIELD_PROFILE))) {
                o->profile = strdup(im->default_profile);
                if (!o->profile)
                        im->oom = true;         /* the import fails; the item is still handed on */
        }
        if (im->profiles && o->profile && !(item->reported & (1u << ORDER_FIELD_PROFILE))) {
                profile = profile_set_find(im->profiles, o->profile);
                if (!profile) {
                        _cleanup_free_ char *known = known_profiles(im);

                        if (!known)
                                im->oom = true;
                        else if (printable_for_message(o->profile))
                                import_field_problem(item, ORDER_FIELD_PROFILE, "unknown profile \"%s\" (known: %s)",
                                                     o->profile, known[0] ? known : "none");
                        else
                                import_field_problem(item, ORDER_FIELD_PROFILE, "unknown profile (known: %s)",
                                                     known[0] ? known : "none");
                } else if (fill_from_profile(item, profile) < 0)
                        im->oom = true;
        }

        if (order_normalize(o) < 0 || order_validate(o, profile, validation_problem, item) == -ENOMEM)
                im->oom = true;

        /* Kept even when invalid: duplicates are looked for among all. */
        if (importer_grow(im) < 0) {
                item->order = order_free(item->order);
                im->oom = true;
                return;
        }
        im->lines[im->n_orders] = item->line;
        im->indices[im->n_orders] = item->index;
        im->orders[im->n_orders++] = TAKE_PTR(item->order);
}

/* ---- duplicates -------------------------------------------------------------------- */

static int compare_by_reference(const void *a, const void *b, void *userdata) {
        const Importer *im = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        int c = strcmp(im->orders[i]->reference, im->orders[j]->reference);

        if (c != 0)
                return c;
        return i < j ? -1 : i > j;
}

/* Reports each repeated reference, in file order, pointing at its first
 * occurrence. */
static void check_duplicates(Importer *im) {
        _cleanup_free_ size_t *idx = NULL, *first_of = NULL;
        size_t n = 0;

        idx = calloc(im->n_orders ?: 1, sizeof(size_t));
        first_of = calloc(im->n_orders ?: 1, sizeof(size_t));
        if (!idx || !first_of) {
                im->oom = true;
                return;
        }
        for (size_t i = 0; i < im->n_orders; i++) {
                first_of[i] = SIZE_MAX;
                if (im->orders[i]->reference)
                        idx[n++] = i;
        }
        /* Equal references end up side by side, the first occurrence first. */
        qsort_r(idx, n, sizeof(size_t), compare_by_reference, im);
        for (size_t k = 1, run = 0; k < n; k++) {
                if (!streq(im->orders[idx[run]]->reference, im->orders[idx[k]]->reference))
                        run = k;
                else
                        first_of[idx[k]] = idx[run];
        }

        for (size_t i = 0; i < im->n_orders; i++) {
                ImportItem item = { .importer = im, .line = im->lines[i], .index = im->indices[i] };
                size_t f = first_of[i];
                _cleanup_free_ char *ref = NULL;

                if (f == SIZE_MAX)
                        continue;
                /* Only a printable reference is quoted; others have a problem of their own. */
                if (printable_for_message(im->orders[i]->reference) ?
                            asprintf(&ref, "\"%s\"", im->orders[i]->reference) < 0 :
                            !(ref = strdup("this reference"))) {
                        ref = NULL;
                        im->oom = true;
                        return;
                }
                if (im->format == ORDER_IMPORT_JSON)
                        import_problem(im, item.line, &item, "reference", "%s repeats item [%zu] (line %u)", ref,
                                       im->indices[f], im->lines[f]);
                else
                        import_problem(im, item.line, &item, "reference", "%s repeats line %u", ref, im->lines[f]);
        }
}

/* ---- CSV ------------------------------------------------------------------------- */

static const OrderField csv_required[] = {
        ORDER_FIELD_REFERENCE,         ORDER_FIELD_PROFILE,        ORDER_FIELD_VALIDITY_YEARS,
        ORDER_FIELD_HOLDER_GIVEN_NAME, ORDER_FIELD_HOLDER_SURNAME,
};

static char *known_columns(void) {
        size_t n = 1;
        char *s, *p;

        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                n += strlen(order_field_to_string(f)) + 2;
        s = p = malloc(n);
        if (!s)
                return NULL;
        *p = 0;
        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                p = stpcpy(stpcpy(p, f > 0 ? ", " : ""), order_field_to_string(f));
        return s;
}

/* Maps the header's columns to fields; false when the header is unusable. */
static bool csv_header(Importer *im, const CsvRecord *h, OrderField *columns) {
        unsigned seen = 0;
        bool ok = true;

        for (size_t i = 0; i < h->n_fields; i++) {
                _cleanup_free_ char *name = strdup_trimmed(h->fields[i], strlen(h->fields[i]));
                OrderField f;

                if (!name) {
                        im->oom = true;
                        return false;
                }
                f = order_field_from_string(name);
                if (f < 0) {
                        _cleanup_free_ char *known = known_columns();

                        if (!known)
                                im->oom = true;
                        else if (printable_for_message(name))
                                import_problem(im, h->line, NULL, NULL, "unknown column \"%s\" (known: %s)", name,
                                               known);
                        else
                                import_problem(im, h->line, NULL, NULL, "column %zu has an unknown name (known: %s)",
                                               i + 1, known);
                        ok = false;
                        continue;
                }
                if (seen & (1u << f)) {
                        import_problem(im, h->line, NULL, NULL, "column \"%s\" appears twice", name);
                        ok = false;
                        continue;
                }
                seen |= 1u << f;
                columns[i] = f;
        }
        for (size_t i = 0; i < ELEMENTSOF(csv_required); i++)
                if (!(seen & (1u << csv_required[i])) &&
                    !(csv_required[i] == ORDER_FIELD_PROFILE && im->default_profile)) {
                        import_problem(im, h->line, NULL, NULL, "the header lacks the column \"%s\"",
                                       order_field_to_string(csv_required[i]));
                        ok = false;
                }
        return ok;
}

static void csv_years(ImportItem *item, const char *raw) {
        _cleanup_free_ char *v = strdup_trimmed(raw, strlen(raw));

        if (!v) {
                item->importer->oom = true;
                return;
        }
        if (!v[0])
                return; /* absent: validation says so */
        if (strlen(v) > 2 || strspn(v, "0123456789") != strlen(v)) {
                if (printable_for_message(v))
                        import_field_problem(item, ORDER_FIELD_VALIDITY_YEARS, "\"%s\" is not a number of years", v);
                else
                        import_field_problem(item, ORDER_FIELD_VALIDITY_YEARS, "not a number of years");
                return;
        }
        import_item_set_years(item, (unsigned) atoi(v));
}

int import_csv(Importer *im, const char *data, size_t len) {
        _cleanup_(csv_record_clear) CsvRecord rec = {};
        _cleanup_free_ OrderField *columns = NULL;
        size_t n_columns;
        Csv c;
        int r;

        csv_init(&c, data, len);
        for (;;) {
                _cleanup_free_ char *error = NULL;

                r = csv_read(&c, &rec, &error);
                if (r == -ENOMEM)
                        return r;
                if (r == 0) {
                        import_problem(im, 1, NULL, NULL, "no header row (the file is empty)");
                        return 0;
                }
                if (r > 0)
                        break;
                import_problem_text(im, error ?: "malformed header row");
                return 0;       /* without a header, the rest means nothing */
        }

        n_columns = rec.n_fields;
        columns = calloc(n_columns, sizeof(OrderField));
        if (!columns)
                return -ENOMEM;
        if (!csv_header(im, &rec, columns))
                return 0;

        for (;;) {
                _cleanup_free_ char *error = NULL;
                ImportItem item;

                r = csv_read(&c, &rec, &error);
                if (r == -ENOMEM)
                        return r;
                if (r == 0)
                        break;
                if (r < 0) {
                        import_problem_text(im, error ?: "malformed record");
                        continue;
                }
                if (rec.n_fields != n_columns) {
                        import_problem(im, rec.line, NULL, NULL, "%zu field%s, the header has %zu columns",
                                       rec.n_fields, rec.n_fields == 1 ? "" : "s", n_columns);
                        continue;
                }

                r = import_item_begin(im, &item, rec.line, 0);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_columns; i++) {
                        if (columns[i] == ORDER_FIELD_VALIDITY_YEARS)
                                csv_years(&item, rec.fields[i]);
                        else
                                import_item_set_text(&item, columns[i], rec.fields[i], strlen(rec.fields[i]));
                }
                import_item_end(&item);
        }
        return 0;
}

/* ---- entry point ---------------------------------------------------------------- */

static void importer_done(Importer *im) {
        order_array_free(im->orders, im->n_orders);
        free(im->lines);
        free(im->indices);
        strv_free(im->errors);
        *im = (Importer) {};
}

int order_import(OrderImportFormat format, const char *data, size_t len, const ProfileSet *profiles,
                 Order ***ret_orders, size_t *ret_n_orders, char ***ret_errors) {
        return order_import_with_profile(format, data, len, profiles, NULL, ret_orders, ret_n_orders, ret_errors);
}

int order_import_with_profile(OrderImportFormat format, const char *data, size_t len, const ProfileSet *profiles,
                              const char *default_profile, Order ***ret_orders, size_t *ret_n_orders,
                              char ***ret_errors) {
        _cleanup_(importer_done) Importer im = {
                .format = format,
                .profiles = profiles,
                .default_profile = default_profile,
        };
        int r;

        if (format == ORDER_IMPORT_JSON)
                r = import_json(&im, data, len);
        else
                r = import_csv(&im, data, len);
        if (r < 0)
                return r;
        if (!im.oom)
                check_duplicates(&im);
        if (im.oom)
                return -ENOMEM;

        if (im.n_problems == 0 && im.n_orders == 0)
                import_problem(&im, 1, NULL, NULL, "the file holds no order");

        if (im.n_problems > 0) {
                if (im.n_problems > ORDER_IMPORT_PROBLEMS_MAX) {
                        char *more;

                        if (asprintf(&more, "... and %zu more problems", im.n_problems - ORDER_IMPORT_PROBLEMS_MAX) < 0)
                                return -ENOMEM;
                        add_text(&im, more);
                        if (im.oom)
                                return -ENOMEM;
                }
                if (ret_errors) {
                        strv_free(*ret_errors);
                        *ret_errors = TAKE_PTR(im.errors);
                }
                return -EINVAL;
        }

        *ret_orders = TAKE_PTR(im.orders);
        *ret_n_orders = im.n_orders;
        im.n_orders = 0;
        return 0;
}
