/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "openssl-util.h"
#include "subject.h"

typedef struct AttrInfo {
        const char *name;       /* canonical, what jp11_subject_to_string() prints */
        const char *alias;      /* also accepted by jp11_attr_from_string(), may be NULL */
        int nid;
        int type;               /* the ASN.1 string type we encode with */
        size_t max_chars;       /* upper bound in characters */
} AttrInfo;

/* Bounds from RFC 5280 appendix A (X.520's ub-*). givenName and surname are
 * X520name (ub-name 32768). organizationIdentifier is unbounded in X.520;
 * 128 leaves room for any registry or VAT number ("NTRFR-" + SIRET is 20). */
static const AttrInfo attr_table[_JP11_ATTR_MAX] = {
        [JP11_ATTR_C]                       = { "C", "countryName", NID_countryName, V_ASN1_PRINTABLESTRING, 2 },
        [JP11_ATTR_O]                       = { "O", "organizationName", NID_organizationName, V_ASN1_UTF8STRING, 64 },
        [JP11_ATTR_OU]                      = { "OU", "organizationalUnitName", NID_organizationalUnitName, V_ASN1_UTF8STRING, 64 },
        [JP11_ATTR_CN]                      = { "CN", "commonName", NID_commonName, V_ASN1_UTF8STRING, 64 },
        [JP11_ATTR_GIVEN_NAME]              = { "givenName", "GN", NID_givenName, V_ASN1_UTF8STRING, 32768 },
        [JP11_ATTR_SURNAME]                 = { "surname", "SN", NID_surname, V_ASN1_UTF8STRING, 32768 },
        [JP11_ATTR_SERIAL_NUMBER]           = { "serialNumber", NULL, NID_serialNumber, V_ASN1_PRINTABLESTRING, 64 },
        [JP11_ATTR_ORGANIZATION_IDENTIFIER] = { "organizationIdentifier", NULL, NID_organizationIdentifier, V_ASN1_UTF8STRING, 128 },
        [JP11_ATTR_EMAIL]                   = { "emailAddress", "E", NID_pkcs9_emailAddress, V_ASN1_IA5STRING, 255 },
        [JP11_ATTR_PSEUDONYM]               = { "pseudonym", NULL, NID_pseudonym, V_ASN1_UTF8STRING, 128 },
        [JP11_ATTR_L]                       = { "L", "localityName", NID_localityName, V_ASN1_UTF8STRING, 128 },
        [JP11_ATTR_ST]                      = { "ST", "stateOrProvinceName", NID_stateOrProvinceName, V_ASN1_UTF8STRING, 128 },
        [JP11_ATTR_TITLE]                   = { "title", NULL, NID_title, V_ASN1_UTF8STRING, 64 },
};

JP11Attr jp11_attr_from_string(const char *name) {
        if (!name)
                return _JP11_ATTR_INVALID;

        for (JP11Attr a = 0; a < _JP11_ATTR_MAX; a++)
                if (strcasecmp(name, attr_table[a].name) == 0 ||
                    (attr_table[a].alias && strcasecmp(name, attr_table[a].alias) == 0))
                        return a;

        return _JP11_ATTR_INVALID;
}

const char *jp11_attr_to_string(JP11Attr a) {
        if (a < 0 || a >= _JP11_ATTR_MAX)
                return NULL;
        return attr_table[a].name;
}

static JP11Attr attr_from_nid(int nid) {
        for (JP11Attr a = 0; a < _JP11_ATTR_MAX; a++)
                if (attr_table[a].nid == nid)
                        return a;
        return _JP11_ATTR_INVALID;
}

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length and
 * the code point, or 0 when the sequence is malformed: truncated, overlong,
 * a surrogate or above U+10FFFF. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                c = s[0] & 0x1f;
                len = 2;
        } else if ((s[0] & 0xf0) == 0xe0) {
                c = s[0] & 0x0f;
                len = 3;
        } else if ((s[0] & 0xf8) == 0xf0) {
                c = s[0] & 0x07;
                len = 4;
        } else
                return 0;

        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }

        static const uint32_t min_for_len[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (c < min_for_len[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;

        *ret = c;
        return len;
}

static bool printable_char(uint32_t c) {
        /* X.680 PrintableString: A-Z a-z 0-9 space ' ( ) + , - . / : = ? */
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (c != 0 && strchr(" '()+,-./:=?", (int) c));
}

static int check_value(JP11Attr attr, const char *value, JP11Error *error) {
        const AttrInfo *info = &attr_table[attr];
        const uint8_t *s = (const uint8_t *) value;
        size_t n = strlen(value), chars = 0;

        if (n == 0)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "subject attribute %s is empty",
                                      info->name);

        for (size_t i = 0; i < n; chars++) {
                uint32_t c;
                size_t len = utf8_decode(s + i, n - i, &c);

                if (len == 0)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "subject attribute %s is not valid UTF-8 (byte %zu)",
                                              info->name, i + 1);
                /* C0, DEL and C1 controls: never meaningful in a name, and a
                 * way to forge what a viewer displays. */
                if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "subject attribute %s contains a control character (U+%04X)",
                                              info->name, (unsigned) c);
                if (info->type == V_ASN1_PRINTABLESTRING && !printable_char(c))
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "subject attribute %s must be a PrintableString "
                                              "(letters, digits, space and '()+,-./:=?), U+%04X is not allowed",
                                              info->name, (unsigned) c);
                if (info->type == V_ASN1_IA5STRING && c > 0x7f)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "subject attribute %s must be ASCII (IA5String), U+%04X is not",
                                              info->name, (unsigned) c);
                i += len;
        }

        if (attr == JP11_ATTR_C) {
                if (n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "countryName must be exactly 2 upper-case letters (ISO 3166, e.g. FR)");
                return 0;
        }

        if (chars > info->max_chars)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "subject attribute %s is %zu characters long, at most %zu are allowed",
                                      info->name, chars, info->max_chars);
        return 0;
}

int jp11_subject_append(X509_NAME **name, JP11Attr attr, const char *value, JP11Error *error) {
        _cleanup_(X509_NAME_freep) X509_NAME *created = NULL;
        int r;

        if (!name || !value)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no subject attribute value");
        if (attr < 0 || attr >= _JP11_ATTR_MAX)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "unknown subject attribute");

        r = check_value(attr, value, error);
        if (r < 0)
                return r;

        if (!*name) {
                created = X509_NAME_new();
                if (!created)
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }

        /* A plain V_ASN1_* type (not MBSTRING_*) makes OpenSSL store the bytes
         * with exactly that tag, whatever its global string mask says. */
        if (!X509_NAME_add_entry_by_NID(created ?: *name, attr_table[attr].nid, attr_table[attr].type,
                                        (const unsigned char *) value, (int) strlen(value), -1, 0))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL,
                                      "cannot add %s to the subject", attr_table[attr].name);

        if (created)
                *name = TAKE_PTR(created);
        return 0;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static void strip_spaces(char **s, size_t *len) {
        while (*len > 0 && (**s == ' ' || **s == '\t')) {
                (*s)++;
                (*len)--;
        }
        while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
                (*len)--;
}

/* One "key=value" item, value still escaped. */
static int parse_item(char *item, size_t len, X509_NAME **name, JP11Error *error) {
        _cleanup_free_ char *value = NULL;
        char *eq, *key = item, *v;
        size_t key_len, v_len, o = 0;
        JP11Attr attr;

        eq = memchr(item, '=', len);
        if (!eq)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "subject item without '=' (expected e.g. \"CN=Jean Dupont\")");

        key_len = eq - item;
        strip_spaces(&key, &key_len);
        key[key_len] = 0;
        attr = jp11_attr_from_string(key);
        if (attr == _JP11_ATTR_INVALID) {
                /* Echoed only when harmless to print. */
                bool printable = true;
                for (const char *c = key; *c; c++)
                        printable = printable && *c >= 0x20 && *c < 0x7f;
                if (!printable)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "unknown subject attribute");
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "unknown subject attribute \"%.64s\"",
                                      key);
        }

        v = eq + 1;
        v_len = item + len - v;
        strip_spaces(&v, &v_len);

        value = malloc(v_len + 1);
        if (!value)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        for (size_t i = 0; i < v_len; i++) {
                if (v[i] != '\\') {
                        value[o++] = v[i];
                        continue;
                }
                if (i + 1 < v_len && (v[i + 1] == ',' || v[i + 1] == '\\')) {
                        value[o++] = v[++i];
                        continue;
                }
                if (i + 2 < v_len && hex_digit(v[i + 1]) >= 0 && hex_digit(v[i + 2]) >= 0) {
                        value[o++] = (char) (hex_digit(v[i + 1]) << 4 | hex_digit(v[i + 2]));
                        i += 2;
                        continue;
                }
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "bad escape in subject attribute %s (use \\, \\\\ or \\XX)",
                                      jp11_attr_to_string(attr));
        }
        value[o] = 0;
        if (memchr(value, 0, o))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "subject attribute %s contains a control character (U+0000)",
                                      jp11_attr_to_string(attr));

        return jp11_subject_append(name, attr, value, error);
}

int jp11_subject_parse(const char *text, X509_NAME **ret, JP11Error *error) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *copy = NULL;
        size_t start = 0, n;
        int r;

        if (!text || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no subject given");

        if (text[strspn(text, " \t")] == 0)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "empty subject");

        copy = strdup(text);
        if (!copy)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        n = strlen(copy);

        for (size_t i = 0; i <= n; i++) {
                if (i + 1 < n && copy[i] == '\\') {
                        i++; /* the escaped character never splits */
                        continue;
                }
                if (i < n && copy[i] != ',')
                        continue;

                r = parse_item(copy + start, i - start, &name, error);
                if (r < 0)
                        return r;
                start = i + 1;
        }

        *ret = TAKE_PTR(name);
        return 0;
}

/* Escapes so that jp11_subject_parse() reads the value back: ',' and '\'
 * by a backslash, control characters and invalid UTF-8 as \XX. */
static int append_escaped(BIO *out, const uint8_t *s, size_t n) {
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_decode(s + i, n - i, &c);

                /* Leading and trailing spaces too: the parser strips them. */
                if (len == 0 || c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
                    (c == ' ' && (i == 0 || i + 1 == n))) {
                        if (BIO_printf(out, "\\%02X", s[i]) <= 0)
                                return -ENOMEM;
                        i++;
                        continue;
                }
                if ((c == ',' || c == '\\') && BIO_write(out, "\\", 1) != 1)
                        return -ENOMEM;
                if (BIO_write(out, s + i, (int) len) != (int) len)
                        return -ENOMEM;
                i += len;
        }
        return 0;
}

char *jp11_subject_to_string(const X509_NAME *name) {
        _cleanup_(BIO_free_allp) BIO *out = NULL;
        char *data, *ret;
        long n;

        if (!name)
                return NULL;

        out = BIO_new(BIO_s_mem());
        if (!out)
                return NULL;

        for (int i = 0; i < X509_NAME_entry_count(name); i++) {
                const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
                const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
                const ASN1_STRING *value = X509_NAME_ENTRY_get_data(e);
                _cleanup_openssl_free_ unsigned char *utf8 = NULL;
                JP11Attr attr = attr_from_nid(OBJ_obj2nid(obj));
                char oid[80];
                int len;

                if (i > 0 && BIO_write(out, ", ", 2) != 2)
                        return NULL;

                if (attr != _JP11_ATTR_INVALID) {
                        if (BIO_puts(out, attr_table[attr].name) <= 0)
                                return NULL;
                } else {
                        /* Foreign attributes (certificates made elsewhere):
                         * OpenSSL's short name, else the dotted OID. */
                        const char *sn = OBJ_nid2sn(OBJ_obj2nid(obj));

                        if (!sn || OBJ_obj2nid(obj) == NID_undef) {
                                if (OBJ_obj2txt(oid, sizeof oid, obj, 1) <= 0)
                                        return NULL;
                                sn = oid;
                        }
                        if (BIO_puts(out, sn) <= 0)
                                return NULL;
                }
                if (BIO_write(out, "=", 1) != 1)
                        return NULL;

                len = ASN1_STRING_to_UTF8(&utf8, value);
                if (len < 0) {
                        /* Not convertible (e.g. a BIT STRING): show its raw bytes. */
                        if (append_escaped(out, ASN1_STRING_get0_data(value),
                                           (size_t) ASN1_STRING_length(value)) < 0)
                                return NULL;
                } else if (append_escaped(out, utf8, (size_t) len) < 0)
                        return NULL;
        }

        n = BIO_get_mem_data(out, &data);
        if (n < 0)
                return NULL;
        ret = malloc((size_t) n + 1);
        if (!ret)
                return NULL;
        memcpy(ret, data, (size_t) n);
        ret[n] = 0;
        return ret;
}
