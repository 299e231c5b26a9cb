/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model-util.h"
#include "profile-internal.h"

static char *known_placeholders(void) {
        StrBuf b = {};

        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++) {
                const char *name = order_field_to_string(f);

                if (!order_field_slot(&(Order) {}, f))
                        continue;
                if ((b.n > 0 && strbuf_append(&b, ", ", 2) < 0) || strbuf_append(&b, "${", 2) < 0 ||
                    strbuf_append(&b, name, strlen(name)) < 0 || strbuf_append(&b, "}", 1) < 0) {
                        free(b.s);
                        return NULL;
                }
        }
        return b.s;
}

int profile_template_expand(const char *tpl, const Order *o, char **ret, unsigned *ret_fields,
                           OrderField *ret_missing, char **ret_error) {
        _cleanup_free_ char *out = NULL;
        OrderField missing = _ORDER_FIELD_INVALID;
        unsigned fields = 0;
        StrBuf b = {};
        int r = 0;

        for (const char *p = tpl; *p && r >= 0;) {
                const char *dollar = strchr(p, '$'), *close;
                _cleanup_free_ char *name = NULL;
                OrderField f;

                if (!dollar) {
                        r = strbuf_append(&b, p, strlen(p));
                        break;
                }
                r = strbuf_append(&b, p, (size_t) (dollar - p));
                if (r < 0)
                        break;
                if (dollar[1] == '$') {
                        r = strbuf_append(&b, "$", 1);
                        p = dollar + 2;
                        continue;
                }
                if (dollar[1] != '{') {
                        r = set_errorf(ret_error, -EINVAL, "a lone '$' must be written '$$' (placeholders read ${field})");
                        break;
                }
                close = strchr(dollar + 2, '}');
                if (!close) {
                        r = set_errorf(ret_error, -EINVAL, "placeholder '${' is not closed by '}'");
                        break;
                }
                name = strndup(dollar + 2, (size_t) (close - dollar - 2));
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                f = order_field_from_string(name);
                if (f < 0 || !order_field_slot(&(Order) {}, f)) {
                        _cleanup_free_ char *known = known_placeholders();

                        if (!known) {
                                r = -ENOMEM;
                                break;
                        }
                        r = set_errorf(ret_error, -EINVAL, "unknown placeholder ${%s} (known: %s)", name, known);
                        break;
                }
                fields |= 1u << f;
                if (o) {
                        const char *v = order_field_get(o, f);

                        if (!v || !v[0]) {
                                if (missing < 0)
                                        missing = f;
                        } else
                                r = strbuf_append(&b, v, strlen(v));
                }
                p = close + 1;
        }
        out = b.s;
        if (r < 0)
                return r;

        if (ret)
                *ret = out ? TAKE_PTR(out) : strdup("");
        if (ret && !*ret)
                return -ENOMEM;
        if (ret_fields)
                *ret_fields = fields;
        if (ret_missing)
                *ret_missing = missing;
        return 0;
}
