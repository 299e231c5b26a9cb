/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/objects.h>

#include "model-util.h"
#include "openssl-util.h"
#include "profile-internal.h"
#include "profile.h"
#include "util.h"

/* A profile is a few dozen lines; anything this big is not one. */
#define PROFILE_SIZE_MAX (256u * 1024u)
/* Past this many, the rest of the messages are noise. */
#define PROFILE_ERRORS_MAX 32

typedef enum Section {
        SECTION_NONE,           /* before the first [section] */
        SECTION_PROFILE,
        SECTION_KEY,
        SECTION_SUBJECT,
        SECTION_EXTENSIONS,
        SECTION_EVIDENCE,
        SECTION_VALIDITY,
        SECTION_UNKNOWN,
        _SECTION_MAX,
} Section;

static const char *const section_names[_SECTION_MAX] = {
        [SECTION_PROFILE]    = "profile",
        [SECTION_KEY]        = "key",
        [SECTION_SUBJECT]    = "subject",
        [SECTION_EXTENSIONS] = "extensions",
        [SECTION_EVIDENCE]   = "evidence",
        [SECTION_VALIDITY]   = "validity",
};

typedef enum Key {
        KEY_NAME,
        KEY_DESCRIPTION,
        KEY_CA,
        KEY_PRODUCT,
        KEY_ALGORITHM,
        KEY_HASH,
        KEY_KEY_USAGE,
        KEY_EXTENDED_KEY_USAGE,
        KEY_CERTIFICATE_POLICIES,
        KEY_SUBJECT_ALT_EMAIL,
        KEY_REQUIRE_LOCAL,
        KEY_REQUIRE_NEVER_EXTRACTABLE,
        KEY_REQUIRE_ALWAYS_SENSITIVE,
        KEY_ALLOWED_YEARS,
        _KEY_MAX,
} Key;

static const struct {
        Section section;
        const char *name;
        bool required;
} keys[_KEY_MAX] = {
        [KEY_NAME]                      = { SECTION_PROFILE, "name", false },
        [KEY_DESCRIPTION]               = { SECTION_PROFILE, "description", false },
        [KEY_CA]                        = { SECTION_PROFILE, "ca", true },
        [KEY_PRODUCT]                   = { SECTION_PROFILE, "product", true },
        [KEY_ALGORITHM]                 = { SECTION_KEY, "algorithm", true },
        [KEY_HASH]                      = { SECTION_KEY, "hash", true },
        [KEY_KEY_USAGE]                 = { SECTION_EXTENSIONS, "key_usage", false },
        [KEY_EXTENDED_KEY_USAGE]        = { SECTION_EXTENSIONS, "extended_key_usage", false },
        [KEY_CERTIFICATE_POLICIES]      = { SECTION_EXTENSIONS, "certificate_policies", false },
        [KEY_SUBJECT_ALT_EMAIL]         = { SECTION_EXTENSIONS, "subject_alt_email", false },
        [KEY_REQUIRE_LOCAL]             = { SECTION_EVIDENCE, "require_local", false },
        [KEY_REQUIRE_NEVER_EXTRACTABLE] = { SECTION_EVIDENCE, "require_never_extractable", false },
        [KEY_REQUIRE_ALWAYS_SENSITIVE]  = { SECTION_EVIDENCE, "require_always_sensitive", false },
        [KEY_ALLOWED_YEARS]             = { SECTION_VALIDITY, "allowed_years", false },
};

typedef struct Parser {
        const char *path;
        const char *data;
        size_t len, pos;
        unsigned line;                  /* the line inih is working on */
        Section section;
        unsigned section_line[_SECTION_MAX];    /* first header of each, 0: absent */
        unsigned key_line[_KEY_MAX];            /* where each key was set, 0: not yet */
        unsigned n_c, n_cn;             /* subject attributes named, valid or not */
        Profile *profile;
        struct {
                unsigned line;
                char *text;
        } errors[PROFILE_ERRORS_MAX];
        size_t n_errors;        /* found, listed or not */
        bool oom;
} Parser;

_printf_(3, 4) static void parser_error(Parser *p, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        size_t i = p->n_errors++;
        va_list ap;
        int r;

        if (i >= PROFILE_ERRORS_MAX)
                return;

        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0 || asprintf(&p->errors[i].text, "%s:%u: %s", p->path, line, m) < 0) {
                m = p->errors[i].text = NULL;
                p->oom = true;
                return;
        }
        p->errors[i].line = line;
}

static void parser_done(Parser *p) {
        for (size_t i = 0; i < p->n_errors && i < PROFILE_ERRORS_MAX; i++)
                free(p->errors[i].text);
}

/* All the problems, one per line, in line order (the checks made at the
 * end of the file come last otherwise). */
static char *parser_error_text(Parser *p) {
        size_t n = p->n_errors < PROFILE_ERRORS_MAX ? p->n_errors : PROFILE_ERRORS_MAX;
        StrBuf b = {};

        /* Insertion sort: stable, and n is small. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && p->errors[j - 1].line > p->errors[j].line; j--) {
                        __typeof__(p->errors[0]) t = p->errors[j];

                        p->errors[j] = p->errors[j - 1];
                        p->errors[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++)
                if ((i > 0 && strbuf_append(&b, "\n", 1) < 0) ||
                    (p->errors[i].text && strbuf_append(&b, p->errors[i].text, strlen(p->errors[i].text)) < 0))
                        goto oom;
        if (p->n_errors > PROFILE_ERRORS_MAX) {
                _cleanup_free_ char *more = NULL;

                if (asprintf(&more, "\n%s: %zu more problems left out", p->path, p->n_errors - PROFILE_ERRORS_MAX) < 0 ||
                    strbuf_append(&b, more, strlen(more)) < 0)
                        goto oom;
        }
        return b.s ?: strdup("");

oom:
        free(b.s);
        return NULL;
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;

        free(p->name);
        free(p->path);
        free(p->description);
        free(p->ca);
        free(p->product);
        free(p->key_algorithm);
        for (size_t i = 0; i < p->n_subject; i++)
                free(p->subject[i].template);
        free(p->subject);
        strv_free(p->extended_key_usage);
        strv_free(p->certificate_policies);
        free(p);
        return NULL;
}

/* ---- values --------------------------------------------------------------- */

static int parse_bool(const char *v) {
        static const char *const yes[] = { "1", "yes", "true", "on" }, *const no[] = { "0", "no", "false", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return 1;
                if (strcasecmp(v, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

/* Splits a comma-separated list into trimmed, non-empty items. */
static int split_list(const char *v, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p = v;

        for (;;) {
                size_t n = strcspn(p, ",");
                _cleanup_free_ char *item = strdup_trimmed(p, n);

                if (!item)
                        return -ENOMEM;
                if (!item[0])
                        return -EINVAL;
                if (strv_extend(&l, item) < 0)
                        return -ENOMEM;
                if (!p[n])
                        break;
                p += n + 1;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void set_string(Parser *p, char **dst, const char *v, bool may_be_empty, const char *key) {
        if (!may_be_empty && !v[0]) {
                parser_error(p, p->line, "%s has an empty value", key);
                return;
        }
        free(*dst);
        *dst = strdup(v);
        if (!*dst)
                p->oom = true;
}

static void parse_algorithm(Parser *p, const char *v) {
        Profile *pr = p->profile;
        JP11Error e = {};

        if (jp11_key_spec_parse(v, &pr->key, &e) < 0) {
                parser_error(p, p->line, "algorithm = %s: %s (expected rsa2048, rsa3072, rsa4096, p256 or p384)", v,
                             e.message);
                return;
        }
        set_string(p, &pr->key_algorithm, v, false, "algorithm");
}

static void parse_hash(Parser *p, const char *v) {
        JP11Hash h = jp11_hash_from_string(v);

        if (h == JP11_HASH_SHA1) {
                parser_error(p, p->line, "hash = %s is refused: SHA-1 is not acceptable anywhere, the request "
                             "signature included (ANSSI RGS B1); use sha256, sha384 or sha512", v);
                return;
        }
        if (h < 0) {
                parser_error(p, p->line, "unknown hash '%s' (expected sha256, sha384 or sha512)", v);
                return;
        }
        p->profile->hash = h;
}

static void parse_key_usage(Parser *p, const char *v) {
        _cleanup_strv_free_ char **items = NULL;
        _cleanup_free_ char *joined = NULL;
        bool critical = false;
        unsigned bits = 0;
        JP11Error e = {};
        int r;

        r = split_list(v, &items);
        if (r == -ENOMEM) {
                p->oom = true;
                return;
        }
        if (r < 0) {
                parser_error(p, p->line, "key_usage = %s: empty item in the list", v);
                return;
        }
        for (char **i = items; *i; i++) {
                unsigned b;

                if (strcasecmp(*i, "critical") == 0) {
                        if (i != items) {
                                parser_error(p, p->line, "key_usage: 'critical' must come first");
                                return;
                        }
                        critical = true;
                        continue;
                }
                if (jp11_key_usage_parse(*i, &b, &e) < 0) {
                        parser_error(p, p->line, "key_usage: %s", e.message);
                        return;
                }
                bits |= b;
        }
        if (bits == 0) {
                parser_error(p, p->line, "key_usage names no usage (e.g. key_usage = critical, nonRepudiation)");
                return;
        }
        p->profile->key_usage = bits;
        p->profile->key_usage_critical = critical;
}

static void parse_oid_list(Parser *p, const char *key, const char *v, bool numeric_only, char ***dst) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        r = split_list(v, &items);
        if (r == -ENOMEM) {
                p->oom = true;
                return;
        }
        if (r < 0) {
                parser_error(p, p->line, "%s = %s: empty item in the list", key, v);
                return;
        }
        for (char **i = items; *i; i++) {
                _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *o = OBJ_txt2obj(*i, numeric_only);

                if (!o) {
                        parser_error(p, p->line, "%s: '%s' is not %s", key, *i,
                                     numeric_only ? "a dotted OID (e.g. 0.4.0.194112.1.2)"
                                                  : "an OID or a known name (e.g. emailProtection)");
                        return;
                }
        }
        strv_free(*dst);
        *dst = TAKE_PTR(items);
}

static void parse_allowed_years(Parser *p, const char *v) {
        _cleanup_strv_free_ char **items = NULL;
        unsigned mask = 0;
        int r;

        r = split_list(v, &items);
        if (r == -ENOMEM) {
                p->oom = true;
                return;
        }
        if (r < 0) {
                parser_error(p, p->line, "allowed_years = %s: empty item in the list", v);
                return;
        }
        for (char **i = items; *i; i++) {
                if (strlen(*i) != 1 || **i < '1' || **i > '0' + PROFILE_YEARS_MAX) {
                        parser_error(p, p->line, "allowed_years: '%s' is not a number of years from 1 to %d "
                                     "(RGS: at most %d years)", *i, PROFILE_YEARS_MAX, PROFILE_YEARS_MAX);
                        return;
                }
                mask |= 1u << (**i - '0');
        }
        p->profile->allowed_years = mask;
}

static void parse_evidence(Parser *p, const char *key, const char *v, bool *dst) {
        int b = parse_bool(v);

        if (b < 0) {
                parser_error(p, p->line, "%s = %s is not a boolean (yes/no, true/false, 1/0)", key, v);
                return;
        }
        *dst = b;
}

static void parse_subject_line(Parser *p, const char *name, const char *value) {
        _cleanup_free_ char *attr_name = strdup(name), *error = NULL;
        Profile *pr = p->profile;
        ProfileSubjectLine *l;
        bool optional = false;
        unsigned fields;
        size_t n;
        JP11Attr a;

        if (!attr_name) {
                p->oom = true;
                return;
        }
        n = strlen(attr_name);
        if (n > 0 && attr_name[n - 1] == '?') {
                optional = true;
                attr_name[--n] = 0;
                while (n > 0 && (attr_name[n - 1] == ' ' || attr_name[n - 1] == '\t'))
                        attr_name[--n] = 0;
        }
        a = jp11_attr_from_string(attr_name);
        if (a < 0) {
                parser_error(p, p->line, "unknown subject attribute '%s' (expected C, O, OU, CN, GN, SN, "
                             "serialNumber, organizationIdentifier, emailAddress, pseudonym, L, ST or title)",
                             attr_name);
                return;
        }
        /* Counted here, so that a broken C line does not also give a
         * "no C" complaint at the end. */
        p->n_c += a == JP11_ATTR_C;
        p->n_cn += a == JP11_ATTR_CN;
        if (optional && (a == JP11_ATTR_C || a == JP11_ATTR_CN)) {
                parser_error(p, p->line, "%s cannot be optional (EN 319 412-2: exactly one C and one CN)",
                             attr_name);
                return;
        }
        if (!value[0]) {
                parser_error(p, p->line, "%s has an empty value", attr_name);
                return;
        }
        if (profile_template_expand(value, NULL, NULL, &fields, NULL, &error) < 0) {
                if (!error) {
                        p->oom = true;
                        return;
                }
                parser_error(p, p->line, "%s = %s: %s", attr_name, value, error);
                return;
        }
        if (optional && fields == 0) {
                parser_error(p, p->line, "%s? is optional but has no ${field} that could be empty", attr_name);
                return;
        }
        if (fields == 0) {
                /* Pure text: check now what jp11_subject_append() would refuse later. */
                _cleanup_(X509_NAME_freep) X509_NAME *scratch = NULL;
                _cleanup_free_ char *text = NULL;
                JP11Error e = {};

                if (profile_template_expand(value, NULL, &text, NULL, NULL, NULL) < 0) {
                        p->oom = true;
                        return;
                }
                if (jp11_subject_append(&scratch, a, text, &e) < 0) {
                        parser_error(p, p->line, "%s = %s: %s", attr_name, value, e.message);
                        return;
                }
        }

        l = reallocarray(pr->subject, pr->n_subject + 1, sizeof(ProfileSubjectLine));
        if (!l) {
                p->oom = true;
                return;
        }
        pr->subject = l;
        l = &pr->subject[pr->n_subject];
        *l = (ProfileSubjectLine) {
                .attr = a,
                .template = strdup(value),
                .optional = optional,
                .line = p->line,
                .fields = fields,
        };
        if (!l->template) {
                p->oom = true;
                return;
        }
        pr->n_subject++;
}

static void parse_key(Parser *p, Key k, const char *v) {
        Profile *pr = p->profile;

        switch (k) {
        case KEY_NAME:
                if (!streq(v, pr->name))
                        parser_error(p, p->line, "name = %s differs from the file name, which gives '%s'", v,
                                     pr->name);
                break;
        case KEY_DESCRIPTION:
                set_string(p, &pr->description, v, true, "description");
                break;
        case KEY_CA:
                set_string(p, &pr->ca, v, false, "ca");
                break;
        case KEY_PRODUCT:
                set_string(p, &pr->product, v, false, "product");
                break;
        case KEY_ALGORITHM:
                parse_algorithm(p, v);
                break;
        case KEY_HASH:
                parse_hash(p, v);
                break;
        case KEY_KEY_USAGE:
                parse_key_usage(p, v);
                break;
        case KEY_EXTENDED_KEY_USAGE:
                parse_oid_list(p, "extended_key_usage", v, false, &pr->extended_key_usage);
                break;
        case KEY_CERTIFICATE_POLICIES:
                parse_oid_list(p, "certificate_policies", v, true, &pr->certificate_policies);
                break;
        case KEY_SUBJECT_ALT_EMAIL:
                parse_evidence(p, "subject_alt_email", v, &pr->subject_alt_email);
                break;
        case KEY_REQUIRE_LOCAL:
                parse_evidence(p, "require_local", v, &pr->require_local);
                break;
        case KEY_REQUIRE_NEVER_EXTRACTABLE:
                parse_evidence(p, "require_never_extractable", v, &pr->require_never_extractable);
                break;
        case KEY_REQUIRE_ALWAYS_SENSITIVE:
                parse_evidence(p, "require_always_sensitive", v, &pr->require_always_sensitive);
                break;
        case KEY_ALLOWED_YEARS:
                parse_allowed_years(p, v);
                break;
        default:
                break;
        }
}

static char *keys_of_section(Section s) {
        StrBuf b = {};

        for (Key k = 0; k < _KEY_MAX; k++) {
                if (keys[k].section != s)
                        continue;
                if ((b.n > 0 && strbuf_append(&b, ", ", 2) < 0) || strbuf_append(&b, keys[k].name, strlen(keys[k].name)) < 0) {
                        free(b.s);
                        return NULL;
                }
        }
        return b.s;
}

/* inih's callback, once per "name = value". Problems are collected, never
 * returned to inih: one file's every mistake is reported in one go. */
static int parser_handle(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        _cleanup_free_ char *known = NULL;

        switch (p->section) {
        case SECTION_NONE:
                parser_error(p, p->line, "'%s' comes before any [section]", name);
                return 1;
        case SECTION_UNKNOWN:
                return 1;       /* reported once, at the header */
        case SECTION_SUBJECT:
                parse_subject_line(p, name, value);
                return 1;
        default:
                break;
        }

        for (Key k = 0; k < _KEY_MAX; k++) {
                if (keys[k].section != p->section || !streq(keys[k].name, name))
                        continue;
                if (p->key_line[k] > 0) {
                        parser_error(p, p->line, "duplicate key '%s' in [%s] (first set on line %u)", name,
                                     section_names[p->section], p->key_line[k]);
                        return 1;
                }
                p->key_line[k] = p->line;
                parse_key(p, k, value);
                return 1;
        }

        known = keys_of_section(p->section);
        if (!known) {
                p->oom = true;
                return 1;
        }
        parser_error(p, p->line, "unknown key '%s' in [%s] (expected %s)", name, section_names[p->section], known);
        return 1;
}

/* A section header line (leading blanks gone): which section it opens. */
static void parser_section(Parser *p, const char *s, size_t n) {
        const char *close = memchr(s, ']', n);
        size_t name_len;

        if (!close) {
                parser_error(p, p->line, "section header lacks its closing ']'");
                p->section = SECTION_UNKNOWN;
                return;
        }
        name_len = (size_t) (close - s - 1);
        for (size_t i = (size_t) (close - s) + 1; i < n; i++) {
                if (s[i] == ' ' || s[i] == '\t')
                        continue;
                if (s[i] != ';' && s[i] != '#')
                        parser_error(p, p->line, "text after the section header's ']'");
                break;
        }
        for (Section i = 0; i < _SECTION_MAX; i++)
                if (section_names[i] && strlen(section_names[i]) == name_len &&
                    memcmp(section_names[i], s + 1, name_len) == 0) {
                        p->section = i;
                        if (p->section_line[i] == 0)
                                p->section_line[i] = p->line;
                        return;
                }

        p->section = SECTION_UNKNOWN;
        parser_error(p, p->line, "unknown section [%.*s] (expected [profile], [key], [subject], [extensions], "
                     "[evidence] or [validity])", (int) (name_len > 64 ? 64 : name_len), s + 1);
}

/* inih's reader. Debian's inih has no INI_HANDLER_LINENO, so we hand it
 * one physical line at a time and count. Lines inih would misread are
 * reported here and replaced by an empty line: leading blanks are dropped
 * (an indented line would otherwise continue the previous value), NUL
 * bytes, invalid UTF-8 and over-long lines are refused. */
static char *parser_read(char *str, int num, void *stream) {
        Parser *p = stream;
        const char *s, *nl;
        size_t n;

        if (p->pos >= p->len || num < 3)
                return NULL;

        s = p->data + p->pos;
        nl = memchr(s, '\n', p->len - p->pos);
        n = nl ? (size_t) (nl - s) : p->len - p->pos;
        p->pos += n + (nl ? 1 : 0);
        p->line++;

        if (p->line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
                s += 3;
                n -= 3;
        }
        if (n > 0 && s[n - 1] == '\r')
                n--;
        while (n > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
        }

        /* A header we refuse below still ends the previous section. */
        if (n > 0 && s[0] == '[')
                p->section = SECTION_UNKNOWN;

        if (memchr(s, 0, n))
                parser_error(p, p->line, "contains a NUL byte");
        else if (!utf8_valid(s, n))
                parser_error(p, p->line, "is not valid UTF-8");
        else if (n == 0 || s[0] == ';' || s[0] == '#')
                ;       /* blank or comment: inih need not see it */
        else if (n + 2 > (size_t) num)
                parser_error(p, p->line, "line too long (at most %d characters)", num - 2);
        else if (s[0] == '[') {
                parser_section(p, s, n);
                if (p->section != SECTION_UNKNOWN || memchr(s, ']', n))
                        goto deliver;
        } else if (!memchr(s, '=', n) && !memchr(s, ':', n))
                parser_error(p, p->line, "expected 'key = value' or a [section] header");
        else
                goto deliver;

        str[0] = '\n';
        str[1] = 0;
        return str;

deliver:
        memcpy(str, s, n);
        str[n] = '\n';
        str[n + 1] = 0;
        return str;
}

static char *name_from_path(const char *path) {
        const char *base = strrchr(path, '/');
        size_t n, suffix = strlen(PROFILE_SUFFIX);

        base = base ? base + 1 : path;
        n = strlen(base);
        if (n > suffix && streq(base + n - suffix, PROFILE_SUFFIX))
                n -= suffix;
        return strndup(base, n);
}

static bool profile_name_valid(const char *s) {
        if (!s[0] || s[0] == '.' || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '-' || *s == '_' || *s == '.'))
                        return false;
        return true;
}

/* What a complete profile must have, checked once the file is read. */
static void parser_finish(Parser *p) {
        Profile *pr = p->profile;
        unsigned n_ou_code = 0;

        for (Section s = SECTION_PROFILE; s <= SECTION_SUBJECT; s++)
                if (p->section_line[s] == 0)
                        parser_error(p, 0, "missing [%s] section", section_names[s]);

        for (Key k = 0; k < _KEY_MAX; k++)
                if (keys[k].required && p->key_line[k] == 0 && p->section_line[keys[k].section] > 0)
                        parser_error(p, p->section_line[keys[k].section], "[%s] lacks '%s ='",
                                     section_names[keys[k].section], keys[k].name);

        if (p->section_line[SECTION_SUBJECT] == 0)
                return;

        for (size_t i = 0; i < pr->n_subject; i++) {
                const ProfileSubjectLine *l = &pr->subject[i];
                const char *t = l->template;

                /* French practice: only the ISO 6523 "0002 <SIREN/SIRET>" OU
                 * may start with 4 digits (domain.md section 3). */
                if (l->attr == JP11_ATTR_OU && strspn(t, "0123456789") >= 4) {
                        if (strncmp(t, "0002 ", 5) != 0)
                                parser_error(p, l->line, "an OU starting with 4 digits must be the ISO 6523 "
                                             "'0002 <SIREN or SIRET>' one");
                        else if (++n_ou_code > 1)
                                parser_error(p, l->line, "a second '0002 ...' OU");
                }
        }
        if (p->n_c != 1 || p->n_cn != 1)
                parser_error(p, p->section_line[SECTION_SUBJECT],
                             "[subject] must have exactly one C and one CN (EN 319 412-2), it has %u C and %u CN",
                             p->n_c, p->n_cn);
}

int profile_parse(const char *data, size_t len, const char *path, Profile **ret, char **ret_error) {
        _cleanup_(profile_freep) Profile *pr = NULL;
        _cleanup_(parser_done) Parser p = { .path = path, .data = data, .len = len };
        int r;

        pr = calloc(1, sizeof(Profile));
        if (!pr)
                return -ENOMEM;
        *pr = (Profile) {
                .hash = _JP11_HASH_INVALID,
                .require_local = true,
                .require_never_extractable = true,
                .require_always_sensitive = true,
                .allowed_years = (1u << 1) | (1u << 2) | (1u << 3),
        };
        pr->path = strdup(path);
        pr->name = name_from_path(path);
        if (!pr->path || !pr->name)
                return -ENOMEM;
        p.profile = pr;

        if (!profile_name_valid(pr->name))
                parser_error(&p, 0, "the file name does not give a profile name (letters, digits, '-', '_', '.')");

        r = ini_parse_stream(parser_read, &p, parser_handle, &p);
        if (r == -2)
                p.oom = true;
        else if (r > 0)
                /* Something only inih saw (the lines we found fault with
                 * reached it empty), e.g. "key ; comment = value". */
                parser_error(&p, (unsigned) r, "syntax error: expected 'key = value'");

        if (!p.oom)
                parser_finish(&p);

        if (p.oom)
                return -ENOMEM;
        if (p.n_errors > 0) {
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = parser_error_text(&p);
                        if (!*ret_error)
                                return -ENOMEM;
                }
                return -EINVAL;
        }

        *ret = TAKE_PTR(pr);
        return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_len, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return set_errorf(ret_error, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return set_errorf(ret_error, -errno, "%s: cannot stat: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return set_errorf(ret_error, -EINVAL, "%s: not a regular file", path);
        if (st.st_size > PROFILE_SIZE_MAX)
                return set_errorf(ret_error, -EFBIG, "%s: %lld bytes, too large for a profile (at most %u)", path,
                                  (long long) st.st_size, PROFILE_SIZE_MAX);

        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return set_errorf(ret_error, -errno, "%s: cannot read: %s", path, strerror(errno));
                }
                if (k == 0)
                        break;  /* shrank meanwhile: take what is there */
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int profile_load(const char *path, Profile **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        r = read_file(path, &data, &len, ret_error);
        if (r < 0)
                return r;
        return profile_parse(data, len, path, ret, ret_error);
}
