/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-util.h"
#include "openssl-util.h"
#include "order-validate.h"
#include "siren.h"
#include "util.h"

#define REFERENCE_MAX 64
#define TEXT_MAX 256            /* any text field; the subject has tighter bounds */
#define EMAIL_MAX 254           /* RFC 5321 path limit less the brackets */
#define IDENTIFIER_MAX 64       /* serialNumber, X.520 ub-serial-number */

typedef struct Checker {
        OrderProblemFunc report;
        void *userdata;
        unsigned problems;
        unsigned fields;        /* the fields with a problem */
        bool oom;
} Checker;

_printf_(3, 4) static void problem(Checker *c, OrderField f, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int r;

        c->problems++;
        c->fields |= 1u << f;
        if (!c->report)
                return;
        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0) {
                m = NULL;
                c->oom = true;
                return;
        }
        c->report(f, m, c->userdata);
}

static bool has_problem(const Checker *c, OrderField f) {
        return c->fields & (1u << f);
}

static bool isempty_str(const char *s) {
        return !s || !s[0];
}

bool order_reference_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > REFERENCE_MAX)
                return false;
        /* The reference names files (<outbox>/<REF>.csr, the inbox): never
         * a hidden file, never "." or "..". */
        if (s[0] == '.')
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool domain_valid(const char *d) {
        size_t labels = 0;

        if (strlen(d) > 253)
                return false;
        for (const char *p = d;;) {
                size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");

                if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
                        return false;
                labels++;
                p += n;
                if (!*p)
                        break;
                if (*p != '.')
                        return false;
                p++;
        }
        return labels >= 2;
}

/* Sanity, not RFC 5322: what a CA will put in an IA5String or an
 * rfc822Name. No quoted local parts, no internationalised addresses. */
bool order_email_valid(const char *s) {
        const char *at;
        size_t local;

        if (!s || strlen(s) > EMAIL_MAX)
                return false;
        at = strchr(s, '@');
        if (!at || strchr(at + 1, '@'))
                return false;
        local = (size_t) (at - s);
        if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
                return false;
        if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.!#$%&'*+/=?^_`{|}~-") != local)
                return false;
        for (size_t i = 1; i < local; i++)
                if (s[i] == '.' && s[i - 1] == '.')
                        return false;
        return domain_valid(at + 1);
}

/* EN 319 412-1 5.1.3: 3-letter type (IDC, PAS, PNO, TAX, TIN, ...), ISO
 * 3166 country, '-', the value; all in PrintableString characters since it
 * lands in serialNumber. */
bool order_identifier_valid(const char *s) {
        static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        static const char printable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?";
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 7 || n > IDENTIFIER_MAX)
                return false;
        if (strspn(s, upper) < 5 || s[5] != '-')
                return false;
        return strspn(s + 6, printable) == n - 6 && s[n - 1] != ' ';
}

static void check_text(Checker *c, const Order *o, OrderField f) {
        const char *v = order_field_get(o, f);
        size_t n;

        if (!v)
                return;
        n = strlen(v);
        if (!utf8_valid(v, n)) {
                problem(c, f, "not valid UTF-8");
                return;
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f) {
                        problem(c, f, "contains a control character");
                        return;
                }
        if (n > TEXT_MAX)
                problem(c, f, "too long (%zu bytes, at most %d)", n, TEXT_MAX);
}

/* One of the organisation's identifiers, with its parser; returns the
 * normal form or NULL (problem reported, or absent). */
static char *check_identifier(Checker *c, const Order *o, OrderField f,
                              int (*parse)(const char *, char **, char **)) {
        _cleanup_free_ char *norm = NULL, *error = NULL;
        const char *v = order_field_get(o, f);
        int r;

        if (isempty_str(v) || has_problem(c, f))
                return NULL;
        r = parse(v, &norm, &error);
        if (r == -ENOMEM) {
                c->oom = true;
                return NULL;
        }
        if (r < 0) {
                problem(c, f, "%s", error ?: "not valid");
                return NULL;
        }
        return TAKE_PTR(norm);
}

static void check_organisation(Checker *c, const Order *o) {
        _cleanup_free_ char *siren = NULL, *siret = NULL, *vat = NULL;

        siren = check_identifier(c, o, ORDER_FIELD_ORGANISATION_SIREN, siren_parse);
        siret = check_identifier(c, o, ORDER_FIELD_ORGANISATION_SIRET, siret_parse);
        vat = check_identifier(c, o, ORDER_FIELD_ORGANISATION_VAT, vat_fr_parse);

        if (siren && siret && strncmp(siren, siret, 9) != 0)
                problem(c, ORDER_FIELD_ORGANISATION_SIRET, "SIRET %s does not belong to SIREN %s (its first 9 digits "
                        "are the SIREN)", siret, siren);
        if (vat) {
                const char *of = siren ?: siret;        /* a SIRET starts with its SIREN */

                if (of && strncmp(vat + 4, of, 9) != 0)
                        problem(c, ORDER_FIELD_ORGANISATION_VAT, "VAT number %s is that of SIREN %s, not of the "
                                "order's SIREN %.9s", vat, vat + 4, of);
        }
}

/* What the profile's subject needs: present, and encodable. Each subject
 * line is tried alone so that a failure names the field it comes from. */
static void check_profile(Checker *c, const Order *o, const Profile *p) {
        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                if (profile_field_use(p, f) == PROFILE_FIELD_REQUIRED && isempty_str(order_field_get(o, f)) &&
                    !has_problem(c, f))
                        problem(c, f, "missing; profile %s needs it%s", p->name,
                                f == ORDER_FIELD_HOLDER_EMAIL && p->subject_alt_email ? " (subject_alt_email)"
                                                                                       : " in the subject");

        for (size_t i = 0; i < p->n_subject; i++) {
                const ProfileSubjectLine *l = &p->subject[i];
                _cleanup_(X509_NAME_freep) X509_NAME *scratch = NULL;
                _cleanup_free_ char *value = NULL, *error = NULL;
                OrderField missing, first = _ORDER_FIELD_INVALID;
                JP11Error e = {};
                int r;

                r = profile_subject_line_expand(p, i, o, &value, &missing, &error);
                if (r < 0) {
                        c->oom = c->oom || r == -ENOMEM;
                        continue;
                }
                if (!value)
                        continue;       /* missing: reported above, or an optional line */
                if (jp11_subject_append(&scratch, l->attr, value, &e) >= 0)
                        continue;
                for (OrderField f = 0; f < _ORDER_FIELD_MAX && first < 0; f++)
                        if (l->fields & (1u << f))
                                first = f;
                /* A field with a problem of its own is not blamed again here. */
                if (first >= 0 && !(c->fields & l->fields))
                        problem(c, first, "subject %s: %s", jp11_attr_to_string(l->attr), e.message);
        }

        if (o->validity_years >= 1 && o->validity_years <= 3 && !profile_allows_years(p, o->validity_years)) {
                _cleanup_free_ char *allowed = profile_allowed_years_to_string(p);

                if (!allowed)
                        c->oom = true;
                else
                        problem(c, ORDER_FIELD_VALIDITY_YEARS, "%u years is not offered by profile %s (%s years)",
                                o->validity_years, p->name, allowed);
        }
}

int order_validate(const Order *o, const Profile *profile, OrderProblemFunc report, void *userdata) {
        Checker c = { .report = report, .userdata = userdata };

        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                check_text(&c, o, f);

        if (isempty_str(o->reference))
                problem(&c, ORDER_FIELD_REFERENCE, "missing");
        else if (!has_problem(&c, ORDER_FIELD_REFERENCE) && !order_reference_valid(o->reference)) {
                if (printable_for_message(o->reference))
                        problem(&c, ORDER_FIELD_REFERENCE, "\"%s\" is not a valid reference: 1 to %d letters, digits, "
                                "'.', '_' or '-', not starting with '.'", o->reference, REFERENCE_MAX);
                else
                        problem(&c, ORDER_FIELD_REFERENCE, "not a valid reference: 1 to %d letters, digits, '.', '_' "
                                "or '-', not starting with '.'", REFERENCE_MAX);
        }

        if (isempty_str(o->profile))
                problem(&c, ORDER_FIELD_PROFILE, "missing");

        if (o->validity_years == 0)
                problem(&c, ORDER_FIELD_VALIDITY_YEARS, "missing");
        else if (o->validity_years > 3)
                problem(&c, ORDER_FIELD_VALIDITY_YEARS, "%u years: a holder certificate lives 1 to 3 years (RGS)",
                        o->validity_years);

        if (isempty_str(o->holder.given_name))
                problem(&c, ORDER_FIELD_HOLDER_GIVEN_NAME, "missing");
        if (isempty_str(o->holder.surname))
                problem(&c, ORDER_FIELD_HOLDER_SURNAME, "missing");

        if (!isempty_str(o->holder.email) && !has_problem(&c, ORDER_FIELD_HOLDER_EMAIL) &&
            !order_email_valid(o->holder.email)) {
                if (printable_for_message(o->holder.email))
                        problem(&c, ORDER_FIELD_HOLDER_EMAIL, "\"%s\" is not an email address (name@example.fr)",
                                o->holder.email);
                else
                        problem(&c, ORDER_FIELD_HOLDER_EMAIL, "not an email address (name@example.fr)");
        }

        if (!isempty_str(o->holder.identifier) && !has_problem(&c, ORDER_FIELD_HOLDER_IDENTIFIER) &&
            !order_identifier_valid(o->holder.identifier)) {
                if (printable_for_message(o->holder.identifier))
                        problem(&c, ORDER_FIELD_HOLDER_IDENTIFIER, "\"%s\" is not a semantics identifier: 3-letter "
                                "type, 2-letter country, '-', value, e.g. IDCFR-123456 (EN 319 412-1)",
                                o->holder.identifier);
                else
                        problem(&c, ORDER_FIELD_HOLDER_IDENTIFIER, "not a semantics identifier: 3-letter type, "
                                "2-letter country, '-', value, e.g. IDCFR-123456 (EN 319 412-1)");
        }

        check_organisation(&c, o);

        if (profile)
                check_profile(&c, o, profile);

        if (c.oom)
                return -ENOMEM;
        return c.problems > 0 ? -EINVAL : 0;
}

/* Drops the spaces people type in identifiers ("123 456 782"). */
static void squeeze_into(char **slot, bool upper) {
        char *s = *slot, *w;

        if (!s)
                return;
        w = s;
        for (char *r = s; *r; r++) {
                if (*r == ' ' || *r == '\t')
                        continue;
                *w++ = upper && *r >= 'a' && *r <= 'z' ? (char) (*r - 'a' + 'A') : *r;
        }
        *w = 0;
        if (!s[0])
                *slot = mfree(s);
}

int order_normalize(Order *o) {
        squeeze_into(&o->organisation.siren, false);
        squeeze_into(&o->organisation.siret, false);
        squeeze_into(&o->organisation.vat, true);

        if (!o->organisation.siren && o->organisation.siret && siret_valid(o->organisation.siret)) {
                o->organisation.siren = strndup(o->organisation.siret, 9);
                if (!o->organisation.siren)
                        return -ENOMEM;
        }
        return 0;
}
