/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model-util.h"
#include "openssl-util.h"
#include "profile-internal.h"
#include "profile.h"

ProfileFieldUse profile_field_use(const Profile *p, OrderField f) {
        ProfileFieldUse use = PROFILE_FIELD_UNUSED;

        if (f < 0 || f >= _ORDER_FIELD_MAX)
                return PROFILE_FIELD_UNUSED;
        if (f == ORDER_FIELD_HOLDER_EMAIL && p->subject_alt_email)
                return PROFILE_FIELD_REQUIRED;
        for (size_t i = 0; i < p->n_subject; i++) {
                if (!(p->subject[i].fields & (1u << f)))
                        continue;
                if (!p->subject[i].optional)
                        return PROFILE_FIELD_REQUIRED;
                use = PROFILE_FIELD_OPTIONAL;
        }
        return use;
}

bool profile_allows_years(const Profile *p, unsigned years) {
        return years >= 1 && years <= PROFILE_YEARS_MAX && (p->allowed_years & (1u << years));
}

char *profile_allowed_years_to_string(const Profile *p) {
        unsigned n = 0, seen = 0;
        StrBuf b = {};

        for (unsigned y = 1; y <= PROFILE_YEARS_MAX; y++)
                n += profile_allows_years(p, y);
        for (unsigned y = 1; y <= PROFILE_YEARS_MAX; y++) {
                char d = (char) ('0' + y);

                if (!profile_allows_years(p, y))
                        continue;
                seen++;
                if ((seen > 1 && strbuf_append(&b, seen == n ? " or " : ", ", seen == n ? 4 : 2) < 0) ||
                    strbuf_append(&b, &d, 1) < 0) {
                        free(b.s);
                        return NULL;
                }
        }
        return b.s ?: strdup("none");
}

int profile_subject_line_expand(const Profile *p, size_t i, const Order *o, char **ret_value,
                                OrderField *ret_missing, char **ret_error) {
        _cleanup_free_ char *value = NULL;
        OrderField missing;
        int r;

        if (i >= p->n_subject)
                return -EINVAL;
        r = profile_template_expand(p->subject[i].template, o, &value, NULL, &missing, ret_error);
        if (r < 0)
                return r;
        *ret_value = missing >= 0 ? NULL : TAKE_PTR(value);
        *ret_missing = missing;
        return 0;
}

int profile_render_subject(const Profile *p, const Order *o, X509_NAME **ret, char **ret_error) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;

        for (size_t i = 0; i < p->n_subject; i++) {
                const ProfileSubjectLine *l = &p->subject[i];
                const char *attr = jp11_attr_to_string(l->attr);
                _cleanup_free_ char *value = NULL;
                OrderField missing;
                JP11Error e = {};
                int r;

                r = profile_subject_line_expand(p, i, o, &value, &missing, ret_error);
                if (r < 0)
                        return r;
                if (missing >= 0) {
                        if (l->optional)
                                continue;
                        return set_errorf(ret_error, -EINVAL, "profile %s: subject %s needs %s, which the order lacks",
                                          p->name, attr, order_field_to_string(missing));
                }
                r = jp11_subject_append(&name, l->attr, value, &e);
                if (r < 0)
                        return set_errorf(ret_error, r, "profile %s, subject %s (%s:%u): %s", p->name, attr, p->path,
                                          l->line, e.message);
        }
        if (!name)
                return set_errorf(ret_error, -EINVAL, "profile %s: empty subject", p->name);

        *ret = TAKE_PTR(name);
        return 0;
}

int profile_csr_spec(const Profile *p, const Order *o, X509_NAME **ret_subject, JP11CsrSpec *ret_spec,
                     char **ret_error) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        int r;

        if (p->subject_alt_email && (!o->holder.email || !o->holder.email[0]))
                return set_errorf(ret_error, -EINVAL,
                                  "profile %s puts the holder's email in the request, the order has none", p->name);

        r = profile_render_subject(p, o, &name, ret_error);
        if (r < 0)
                return r;

        *ret_spec = (JP11CsrSpec) {
                .subject = name,
                .hash = p->hash,
                .key_usage = p->key_usage,
                .key_usage_critical = p->key_usage_critical,
                .extended_key_usage = (const char *const *) p->extended_key_usage,
                .certificate_policies = (const char *const *) p->certificate_policies,
                .email_san = p->subject_alt_email ? o->holder.email : NULL,
        };
        *ret_subject = TAKE_PTR(name);
        return 0;
}
