/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/x509.h>

#include "openssl-util.h"
#include "subject.h"
#include "../lib/testca.h"

#define CERTIGNA_SUBJECT                                                                          \
        "C=FR, O=AR24, OU=0002 80948012200013, organizationIdentifier=NTRFR-80948012200013, " \
        "CN=AR24 - AR24 CACHET LRE, serialNumber=ST6356002"

/* The Certigna subject of domain.md section 3, encoded by hand from X.501
 * and checked with `openssl asn1parse -inform DER`: SET { SEQUENCE { OID,
 * string } } per attribute, C and serialNumber PrintableString (13), the
 * others UTF8String (0c), organizationIdentifier = 2.5.4.97 (55 04 61). */
static const char certigna_der_hex[] =
        "30818e"
        "310b300906035504061302" "4652"                                          /* C  FR */
        "310d300b060355040a0c04" "41523234"                                      /* O  AR24 */
        "311c301a060355040b0c13" "30303032203830393438303132323030303133"        /* OU */
        "311d301b06035504610c14" "4e545246522d3830393438303132323030303133"      /* orgId */
        "311f301d06035504030c16" "41523234202d204152323420434143484554204c5245"  /* CN */
        "3112301006035504051309" "535436333536303032";                           /* serialNumber */

static size_t unhex(const char *hex, uint8_t *out, size_t size) {
        size_t n = strlen(hex) / 2;

        assert_true(n <= size);
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
                out[i] = (uint8_t) v;
        }
        return n;
}

static size_t name_der(const X509_NAME *name, uint8_t **ret) {
        int n = i2d_X509_NAME(name, ret);
        assert_true(n > 0);
        return (size_t) n;
}

static void test_certigna_der_by_hand(void **state) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_openssl_free_ uint8_t *der = NULL;
        uint8_t expected[256];
        JP11Error error = {};
        size_t n, expected_len;

        assert_int_equal(jp11_subject_parse(CERTIGNA_SUBJECT, &name, &error), 0);
        assert_int_equal(error.code, 0);
        n = name_der(name, &der);
        expected_len = unhex(certigna_der_hex, expected, sizeof expected);
        assert_int_equal(n, expected_len);
        assert_memory_equal(der, expected, n);
}

/* The same subject as `openssl req -subj ... -utf8` encodes it. */
static void test_certigna_der_like_openssl_req(void **state) {
        _cleanup_(testca_freep) TestCA *ca = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_openssl_free_ uint8_t *ours = NULL, *theirs = NULL;
        _cleanup_free_ char *key = NULL, *csr = NULL, *cnf = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        const uint8_t *p;
        size_t len, n_ours, n_theirs;
        JP11Error error = {};

        assert_int_equal(testca_new(&ca), 0);
        key = testca_path(ca, "subj.key");
        csr = testca_path(ca, "subj.der");
        cnf = testca_path(ca, "ca.cnf");
        assert_non_null(key);
        assert_non_null(csr);
        assert_non_null(cnf);
        /* The fixture's own configuration: the system's openssl.cnf (its
         * string_mask) must not decide the expected encoding. */
        assert_int_equal(testca_openssl((const char *[]) { "req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                                                           "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                                                           "-utf8", "-subj",
                                                           "/C=FR/O=AR24/OU=0002 80948012200013/"
                                                           "organizationIdentifier=NTRFR-80948012200013/"
                                                           "CN=AR24 - AR24 CACHET LRE/serialNumber=ST6356002",
                                                           "-outform", "DER", "-out", csr, NULL },
                                         NULL),
                         0);
        assert_int_equal(read_file(csr, &data, &len), 0);
        p = data;
        req = d2i_X509_REQ(NULL, &p, (long) len);
        assert_non_null(req);
        /* i2d of a decoded name returns the bytes openssl req wrote. */
        n_theirs = name_der(X509_REQ_get_subject_name(req), &theirs);

        assert_int_equal(jp11_subject_parse(CERTIGNA_SUBJECT, &name, &error), 0);
        n_ours = name_der(name, &ours);
        assert_int_equal(n_ours, n_theirs);
        assert_memory_equal(ours, theirs, n_ours);
}

typedef struct AttrCase {
        JP11Attr attr;
        const char *value;
        int nid;
        int type;
        const char *asn1parse_object;   /* how `openssl asn1parse` names it */
        const char *asn1parse_type;
} AttrCase;

static const AttrCase attr_cases[] = {
        { JP11_ATTR_C, "FR", NID_countryName, V_ASN1_PRINTABLESTRING, "countryName", "PRINTABLESTRING" },
        { JP11_ATTR_O, "Société Générale", NID_organizationName, V_ASN1_UTF8STRING, "organizationName", "UTF8STRING" },
        { JP11_ATTR_OU, "0002 48146308100036", NID_organizationalUnitName, V_ASN1_UTF8STRING, "organizationalUnitName", "UTF8STRING" },
        { JP11_ATTR_CN, "Jean Dupont", NID_commonName, V_ASN1_UTF8STRING, "commonName", "UTF8STRING" },
        { JP11_ATTR_GIVEN_NAME, "Jean", NID_givenName, V_ASN1_UTF8STRING, "givenName", "UTF8STRING" },
        { JP11_ATTR_SURNAME, "Dupont", NID_surname, V_ASN1_UTF8STRING, "surname", "UTF8STRING" },
        { JP11_ATTR_SERIAL_NUMBER, "IDCFR-12345678", NID_serialNumber, V_ASN1_PRINTABLESTRING, "serialNumber", "PRINTABLESTRING" },
        { JP11_ATTR_ORGANIZATION_IDENTIFIER, "NTRFR-48146308100036", NID_organizationIdentifier, V_ASN1_UTF8STRING, "organizationIdentifier", "UTF8STRING" },
        { JP11_ATTR_EMAIL, "jean.dupont@example.fr", NID_pkcs9_emailAddress, V_ASN1_IA5STRING, "emailAddress", "IA5STRING" },
        { JP11_ATTR_PSEUDONYM, "JD42", NID_pseudonym, V_ASN1_UTF8STRING, "pseudonym", "UTF8STRING" },
        { JP11_ATTR_L, "Paris", NID_localityName, V_ASN1_UTF8STRING, "localityName", "UTF8STRING" },
        { JP11_ATTR_ST, "Île-de-France", NID_stateOrProvinceName, V_ASN1_UTF8STRING, "stateOrProvinceName", "UTF8STRING" },
        { JP11_ATTR_TITLE, "Gérant", NID_title, V_ASN1_UTF8STRING, "title", "UTF8STRING" },
};

/* Every attribute with its string type, read back by decoding the DER. */
static void test_attribute_types_decoded(void **state) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL, *decoded = NULL;
        _cleanup_openssl_free_ uint8_t *der = NULL;
        JP11Error error = {};
        const uint8_t *p;
        size_t n;

        assert_int_equal(ELEMENTSOF(attr_cases), _JP11_ATTR_MAX);
        for (size_t i = 0; i < ELEMENTSOF(attr_cases); i++)
                assert_int_equal(jp11_subject_append(&name, attr_cases[i].attr, attr_cases[i].value, &error), 0);

        n = name_der(name, &der);
        p = der;
        decoded = d2i_X509_NAME(NULL, &p, (long) n);
        assert_non_null(decoded);
        assert_int_equal(X509_NAME_entry_count(decoded), ELEMENTSOF(attr_cases));

        for (size_t i = 0; i < ELEMENTSOF(attr_cases); i++) {
                const X509_NAME_ENTRY *e = X509_NAME_get_entry(decoded, (int) i);
                const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);

                assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), attr_cases[i].nid);
                assert_int_equal(ASN1_STRING_type(v), attr_cases[i].type);
                assert_int_equal(ASN1_STRING_length(v), strlen(attr_cases[i].value));
                assert_memory_equal(ASN1_STRING_get0_data(v), attr_cases[i].value, strlen(attr_cases[i].value));
                /* One attribute per RDN, in the order given. */
                assert_int_equal(X509_NAME_ENTRY_set(e), (int) i);
        }
}

/* The same, as the openssl command decodes it. */
static void test_attribute_types_asn1parse(void **state) {
        _cleanup_(testca_freep) TestCA *ca = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_openssl_free_ uint8_t *der = NULL;
        _cleanup_free_ char *path = NULL, *out = NULL;
        JP11Error error = {};
        const char *cursor;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(attr_cases); i++)
                assert_int_equal(jp11_subject_append(&name, attr_cases[i].attr, attr_cases[i].value, &error), 0);
        n = name_der(name, &der);

        assert_int_equal(testca_new(&ca), 0);
        path = testca_path(ca, "name.der");
        assert_int_equal(write_file(path, der, n), 0);
        assert_int_equal(testca_openssl((const char *[]) { "asn1parse", "-inform", "DER", "-in", path, NULL }, &out),
                         0);

        cursor = out;
        for (size_t i = 0; i < ELEMENTSOF(attr_cases); i++) {
                char object[128], value[128];
                const char *line, *eol;

                snprintf(object, sizeof object, ":%s\n", attr_cases[i].asn1parse_object);
                snprintf(value, sizeof value, ":%s\n", attr_cases[i].value);
                line = strstr(cursor, object);
                assert_non_null(line);
                line += strlen(object);
                eol = strchr(line, '\n');
                assert_non_null(eol);
                /* The next line is the value: "... prim: UTF8STRING :Jean" */
                assert_non_null(strstr(line, attr_cases[i].asn1parse_type));
                assert_true(strstr(line, attr_cases[i].asn1parse_type) < eol);
                assert_true(strncmp(eol - strlen(value) + 1, value, strlen(value)) == 0);
                cursor = eol;
        }
}

static void assert_refused(JP11Attr attr, const char *value) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_subject_append(&name, JP11_ATTR_C, "FR", &error), 0);
        assert_int_equal(jp11_subject_append(&name, attr, value, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_int_equal(error.kind, JP11_ERR_INVALID);
        assert_true(strlen(error.message) > 0);
        /* Nothing half-added. */
        assert_int_equal(X509_NAME_entry_count(name), 1);
}

static void assert_accepted(JP11Attr attr, const char *value) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_subject_append(&name, attr, value, &error), 0);
        assert_int_equal(X509_NAME_entry_count(name), 1);
}

static char *repeat(const char *s, size_t times) {
        size_t n = strlen(s);
        char *r = malloc(n * times + 1);

        assert_non_null(r);
        for (size_t i = 0; i < times; i++)
                memcpy(r + i * n, s, n);
        r[n * times] = 0;
        return r;
}

static void test_refusals(void **state) {
        _cleanup_free_ char *cn64 = repeat("a", 64), *cn65 = repeat("a", 65);
        _cleanup_free_ char *cn64_accents = repeat("é", 64), *cn65_accents = repeat("é", 65);
        _cleanup_free_ char *serial64 = repeat("1", 64), *serial65 = repeat("1", 65);

        /* countryName */
        assert_accepted(JP11_ATTR_C, "FR");
        assert_refused(JP11_ATTR_C, "fr");
        assert_refused(JP11_ATTR_C, "Fr");
        assert_refused(JP11_ATTR_C, "FRA");
        assert_refused(JP11_ATTR_C, "F");
        assert_refused(JP11_ATTR_C, "F1");

        /* empty values */
        for (JP11Attr a = 0; a < _JP11_ATTR_MAX; a++)
                assert_refused(a, "");

        /* control characters: C0, DEL, C1 (U+0085 as UTF-8) */
        assert_refused(JP11_ATTR_CN, "Jean\nDupont");
        assert_refused(JP11_ATTR_CN, "Jean\tDupont");
        assert_refused(JP11_ATTR_CN, "\x1b[31mred");
        assert_refused(JP11_ATTR_O, "AR\x7f" "24");
        assert_refused(JP11_ATTR_O, "AR\xc2\x85" "24");
        assert_refused(JP11_ATTR_EMAIL, "a\r@b.fr");

        /* invalid UTF-8 */
        assert_refused(JP11_ATTR_CN, "Fran\xe7ois");          /* Latin-1 */
        assert_refused(JP11_ATTR_CN, "\xc3\x28");              /* bad continuation */
        assert_refused(JP11_ATTR_CN, "\xc0\xaf");              /* overlong '/' */
        assert_refused(JP11_ATTR_CN, "\xe0\x80\xaf");          /* overlong, 3 bytes */
        assert_refused(JP11_ATTR_CN, "\xed\xa0\x80");          /* surrogate U+D800 */
        assert_refused(JP11_ATTR_CN, "\xf4\x90\x80\x80");      /* above U+10FFFF */
        assert_refused(JP11_ATTR_CN, "abc\xe2\x82");           /* truncated */
        assert_refused(JP11_ATTR_CN, "\xff");
        assert_accepted(JP11_ATTR_CN, "François Müller 😀");

        /* upper bounds count characters, not bytes */
        assert_accepted(JP11_ATTR_CN, cn64);
        assert_refused(JP11_ATTR_CN, cn65);
        assert_accepted(JP11_ATTR_CN, cn64_accents);
        assert_refused(JP11_ATTR_CN, cn65_accents);
        assert_refused(JP11_ATTR_O, cn65);
        assert_refused(JP11_ATTR_OU, cn65);
        assert_accepted(JP11_ATTR_SERIAL_NUMBER, serial64);
        assert_refused(JP11_ATTR_SERIAL_NUMBER, serial65);

        /* serialNumber is a PrintableString */
        assert_accepted(JP11_ATTR_SERIAL_NUMBER, "ST6356002");
        assert_accepted(JP11_ATTR_SERIAL_NUMBER, "PASFR-12AB34567");
        assert_accepted(JP11_ATTR_SERIAL_NUMBER, "A'()+,-./:=? z");
        assert_refused(JP11_ATTR_SERIAL_NUMBER, "ST_6356002");
        assert_refused(JP11_ATTR_SERIAL_NUMBER, "ST@6356002");
        assert_refused(JP11_ATTR_SERIAL_NUMBER, "ST*1");
        assert_refused(JP11_ATTR_SERIAL_NUMBER, "IDCFR-Müller");

        /* emailAddress is an IA5String */
        assert_accepted(JP11_ATTR_EMAIL, "jean@example.fr");
        assert_refused(JP11_ATTR_EMAIL, "jérôme@example.fr");

        /* unknown attributes */
        {
                _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
                JP11Error error = {};

                assert_int_equal(jp11_subject_append(&name, _JP11_ATTR_MAX, "x", &error), -EINVAL);
                assert_int_equal(jp11_subject_append(&name, _JP11_ATTR_INVALID, "x", &error), -EINVAL);
                assert_null(name);
        }
}

static void assert_parse_refused(const char *text) {
        X509_NAME *name = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_subject_parse(text, &name, &error), -EINVAL);
        assert_int_equal(error.kind, JP11_ERR_INVALID);
        assert_true(strlen(error.message) > 0);
        assert_null(name);
}

static void test_parse_refusals(void **state) {
        _cleanup_free_ char *long_cn = NULL;
        _cleanup_free_ char *a65 = repeat("a", 65);

        assert_true(asprintf(&long_cn, "C=FR, CN=%s", a65) > 0);

        assert_parse_refused("");
        assert_parse_refused("   ");
        assert_parse_refused("C=fr, CN=Jean Dupont");
        assert_parse_refused("C=FRA, CN=Jean Dupont");
        assert_parse_refused("C=FR, CN=");
        assert_parse_refused("C=FR, CN=   ");
        assert_parse_refused("C=FR,, CN=Jean");
        assert_parse_refused("C=FR, CN=Jean,");
        assert_parse_refused("C=FR, CN=Jean\x01");
        assert_parse_refused("C=FR, CN=Jean\\0ADupont");       /* escaped control character */
        assert_parse_refused("C=FR, CN=Jean\\00");
        assert_parse_refused("C=FR, CN=Fran\xe7ois");
        assert_parse_refused(long_cn);
        assert_parse_refused("C=FR, serialNumber=ST_1");
        assert_parse_refused("C=FR, XX=1");
        assert_parse_refused("C=FR, CN");
        assert_parse_refused("C=FR, CN=Jean\\qDupont");
        assert_parse_refused("C=FR, CN=Jean\\");
        assert_parse_refused("=FR");
}

static void assert_entry(const X509_NAME *name, int i, int nid, const char *value) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_STRING *v;

        assert_non_null(e);
        v = X509_NAME_ENTRY_get_data(e);
        assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), nid);
        assert_int_equal(ASN1_STRING_length(v), strlen(value));
        assert_memory_equal(ASN1_STRING_get0_data(v), value, strlen(value));
}

static void assert_round_trip(const X509_NAME *name) {
        _cleanup_(X509_NAME_freep) X509_NAME *again = NULL;
        _cleanup_free_ char *text = jp11_subject_to_string(name);
        JP11Error error = {};

        assert_non_null(text);
        assert_int_equal(jp11_subject_parse(text, &again, &error), 0);
        assert_int_equal(X509_NAME_cmp(name, again), 0);
}

static void test_parse_escapes_and_to_string(void **state) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL, *certigna = NULL;
        _cleanup_free_ char *text = NULL, *certigna_text = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_subject_parse("  c = FR ,CN=Dupont\\, Jean,O=A\\\\B, GN=Jean , SN = Dupont, "
                                            "emailAddress=j@d.fr, L=Saint\\2DDenis, title=Gérant",
                                            &name, &error),
                         0);
        assert_int_equal(X509_NAME_entry_count(name), 8);
        assert_entry(name, 0, NID_countryName, "FR");
        assert_entry(name, 1, NID_commonName, "Dupont, Jean");
        assert_entry(name, 2, NID_organizationName, "A\\B");
        assert_entry(name, 3, NID_givenName, "Jean");
        assert_entry(name, 4, NID_surname, "Dupont");
        assert_entry(name, 5, NID_pkcs9_emailAddress, "j@d.fr");
        assert_entry(name, 6, NID_localityName, "Saint-Denis");
        assert_entry(name, 7, NID_title, "Gérant");

        text = jp11_subject_to_string(name);
        assert_string_equal(text, "C=FR, CN=Dupont\\, Jean, O=A\\\\B, givenName=Jean, surname=Dupont, "
                                  "emailAddress=j@d.fr, L=Saint-Denis, title=Gérant");
        assert_round_trip(name);

        assert_int_equal(jp11_subject_parse(CERTIGNA_SUBJECT, &certigna, &error), 0);
        certigna_text = jp11_subject_to_string(certigna);
        assert_string_equal(certigna_text, CERTIGNA_SUBJECT);
        assert_round_trip(certigna);

        assert_null(jp11_subject_to_string(NULL));
}

/* Names from elsewhere (a CA's certificate) may hold attributes we never
 * write, and bytes we would refuse: shown, escaped, never raw. */
static void test_to_string_foreign(void **state) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
        _cleanup_free_ char *text = NULL;

        assert_non_null(name);
        assert_true(X509_NAME_add_entry_by_NID(name, NID_domainComponent, V_ASN1_IA5STRING,
                                               (const unsigned char *) "example", -1, -1, 0));
        assert_true(X509_NAME_add_entry_by_txt(name, "1.2.3.4", V_ASN1_UTF8STRING,
                                               (const unsigned char *) "x", -1, -1, 0));
        assert_true(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                                               (const unsigned char *) "evil\nCN=admin ", -1, -1, 0));
        text = jp11_subject_to_string(name);
        assert_string_equal(text, "DC=example, 1.2.3.4=x, CN=evil\\0ACN=admin\\20");
}

static void test_attr_names(void **state) {
        for (JP11Attr a = 0; a < _JP11_ATTR_MAX; a++) {
                const char *s = jp11_attr_to_string(a);

                assert_non_null(s);
                assert_int_equal(jp11_attr_from_string(s), a);
        }
        assert_int_equal(jp11_attr_from_string("cn"), JP11_ATTR_CN);
        assert_int_equal(jp11_attr_from_string("GN"), JP11_ATTR_GIVEN_NAME);
        assert_int_equal(jp11_attr_from_string("givenName"), JP11_ATTR_GIVEN_NAME);
        assert_int_equal(jp11_attr_from_string("SN"), JP11_ATTR_SURNAME);
        assert_int_equal(jp11_attr_from_string("surname"), JP11_ATTR_SURNAME);
        assert_int_equal(jp11_attr_from_string("serialNumber"), JP11_ATTR_SERIAL_NUMBER);
        assert_int_equal(jp11_attr_from_string("organizationIdentifier"), JP11_ATTR_ORGANIZATION_IDENTIFIER);
        assert_int_equal(jp11_attr_from_string("emailAddress"), JP11_ATTR_EMAIL);
        assert_int_equal(jp11_attr_from_string("pseudonym"), JP11_ATTR_PSEUDONYM);
        assert_int_equal(jp11_attr_from_string("L"), JP11_ATTR_L);
        assert_int_equal(jp11_attr_from_string("ST"), JP11_ATTR_ST);
        assert_int_equal(jp11_attr_from_string("title"), JP11_ATTR_TITLE);
        assert_int_equal(jp11_attr_from_string("DC"), _JP11_ATTR_INVALID);
        assert_int_equal(jp11_attr_from_string(""), _JP11_ATTR_INVALID);
        assert_int_equal(jp11_attr_from_string(NULL), _JP11_ATTR_INVALID);
        assert_null(jp11_attr_to_string(_JP11_ATTR_MAX));
        assert_null(jp11_attr_to_string(_JP11_ATTR_INVALID));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_certigna_der_by_hand),
                cmocka_unit_test(test_certigna_der_like_openssl_req),
                cmocka_unit_test(test_attribute_types_decoded),
                cmocka_unit_test(test_attribute_types_asn1parse),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_parse_refusals),
                cmocka_unit_test(test_parse_escapes_and_to_string),
                cmocka_unit_test(test_to_string_foreign),
                cmocka_unit_test(test_attr_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
