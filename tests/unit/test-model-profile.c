/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "openssl-util.h"
#include "order.h"
#include "profile.h"
#include "util.h"

static char *shipped_path(const char *name) {
        const char *top = getenv("JETON_TOP") ?: ".";
        char *p;

        assert_true(asprintf(&p, "%s/daemon/profiles/%s.profile", top, name) > 0);
        return p;
}

static Profile *load_shipped(const char *name) {
        _cleanup_free_ char *path = shipped_path(name), *error = NULL;
        Profile *p = NULL;
        int r;

        r = profile_load(path, &p, &error);
        if (r < 0)
                fail_msg("%s: %s", path, error ?: strerror(-r));
        assert_non_null(p);
        assert_string_equal(p->name, name);
        return p;
}

static void test_shipped_profiles_load(void **state) {
        _cleanup_(profile_freep) Profile *certigna = load_shipped("certigna-rgs2");
        _cleanup_(profile_freep) Profile *certinomis = load_shipped("certinomis-decideur");
        _cleanup_(profile_freep) Profile *eidas = load_shipped("eidas-natural-person");

        assert_string_equal(certigna->ca, "Certigna");
        assert_int_equal(certigna->key.type, JP11_KEY_RSA);
        assert_int_equal(certigna->key.bits, 3072);
        assert_int_equal(certigna->hash, JP11_HASH_SHA256);
        assert_int_equal(certigna->key_usage, JP11_KU_NON_REPUDIATION);
        assert_true(certigna->key_usage_critical);
        assert_null(certigna->certificate_policies);    /* unverified: left out */
        assert_int_equal(certigna->n_subject, 8);
        assert_true(certigna->subject[7].optional);
        assert_int_equal(certigna->subject[7].attr, JP11_ATTR_SERIAL_NUMBER);
        assert_true(certigna->require_local && certigna->require_never_extractable &&
                    certigna->require_always_sensitive);
        assert_int_equal(profile_field_use(certigna, ORDER_FIELD_ORGANISATION_SIRET), PROFILE_FIELD_REQUIRED);
        assert_int_equal(profile_field_use(certigna, ORDER_FIELD_HOLDER_IDENTIFIER), PROFILE_FIELD_OPTIONAL);
        assert_int_equal(profile_field_use(certigna, ORDER_FIELD_HOLDER_EMAIL), PROFILE_FIELD_UNUSED);

        assert_string_equal(certinomis->ca, "Certinomis");
        assert_non_null(certinomis->certificate_policies);
        assert_string_equal(certinomis->certificate_policies[0], "0.4.0.194112.1.2");
        assert_null(certinomis->certificate_policies[1]);
        assert_int_equal(profile_field_use(certinomis, ORDER_FIELD_ORGANISATION_SIREN), PROFILE_FIELD_REQUIRED);
        for (unsigned y = 1; y <= 3; y++)
                assert_true(profile_allows_years(certinomis, y));
        assert_false(profile_allows_years(certinomis, 4));

        assert_int_equal(profile_field_use(eidas, ORDER_FIELD_ORGANISATION_NAME), PROFILE_FIELD_UNUSED);
        assert_int_equal(profile_field_use(eidas, ORDER_FIELD_ORGANISATION_SIRET), PROFILE_FIELD_UNUSED);
        assert_int_equal(profile_field_use(eidas, ORDER_FIELD_HOLDER_SURNAME), PROFILE_FIELD_REQUIRED);
}

static void order_fill(Order *o, bool with_identifier) {
        o->reference = strdup("BD1734971738");
        o->profile = strdup("certigna-rgs2");
        o->validity_years = 3;
        o->holder.given_name = strdup("Marie");
        o->holder.surname = strdup("Dupont");
        o->holder.email = strdup("marie.dupont@example.fr");
        o->holder.identifier = with_identifier ? strdup("IDCFR-12345") : NULL;
        o->organisation.name = strdup("ACME Sécurité");
        o->organisation.siren = strdup("732829320");
        o->organisation.siret = strdup("73282932000074");
}

/* Written by an independent DER encoder (a few lines of Python) and checked
 * with `openssl asn1parse -inform DER`: C and serialNumber PrintableString
 * (13), the others UTF8String (0c), in the profile's order. */
static const char *const certigna_rdns[] = {
        "310b3009060355040613024652",                                           /* C=FR */
        "31183016060355040a0c0f41434d452053c3a96375726974c3a9",                 /* O=ACME Sécurité */
        "311c301a060355040b0c1330303032203733323832393332303030303734",         /* OU=0002 SIRET */
        "311d301b06035504610c144e545246522d3733323832393332303030303734",       /* organizationIdentifier */
        "3115301306035504030c0c4d61726965204475706f6e74",                       /* CN=Marie Dupont */
        "310e300c060355042a0c054d61726965",                                     /* givenName */
        "310f300d06035504040c064475706f6e74",                                   /* surname */
        "311430120603550405130b49444346522d3132333435",                         /* serialNumber */
};

static char *name_hex(const X509_NAME *name) {
        _cleanup_openssl_free_ uint8_t *der = NULL;
        int n = i2d_X509_NAME(name, &der);
        char *hex;

        assert_true(n > 0);
        hex = hexmem(der, (size_t) n);
        assert_non_null(hex);
        return hex;
}

static char *expected_hex(size_t n_rdns) {
        _cleanup_free_ char *body = NULL;
        size_t len = 0;
        char *r;

        for (size_t i = 0; i < n_rdns; i++)
                len += strlen(certigna_rdns[i]);
        body = calloc(len + 1, 1);
        assert_non_null(body);
        for (size_t i = 0; i < n_rdns; i++)
                strcat(body, certigna_rdns[i]);
        /* SEQUENCE, long-form length (both cases are 128..255 bytes) */
        assert_true(len / 2 >= 128 && len / 2 < 256);
        assert_true(asprintf(&r, "3081%02zx%s", len / 2, body) > 0);
        return r;
}

static void test_render_certigna(void **state) {
        _cleanup_(profile_freep) Profile *p = load_shipped("certigna-rgs2");
        _cleanup_(order_freep) Order *o = order_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *hex = NULL, *want = NULL, *error = NULL;

        order_fill(o, true);
        assert_int_equal(profile_render_subject(p, o, &name, &error), 0);
        hex = name_hex(name);
        want = expected_hex(ELEMENTSOF(certigna_rdns));
        assert_string_equal(hex, want);

        /* String types, entry by entry, as EN 319 412 and RFC 5280 want them. */
        assert_int_equal(X509_NAME_entry_count(name), 8);
        for (int i = 0; i < 8; i++) {
                const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
                int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
                int type = ASN1_STRING_type(X509_NAME_ENTRY_get_data(e));

                assert_int_equal(type, nid == NID_countryName || nid == NID_serialNumber ? V_ASN1_PRINTABLESTRING
                                                                                          : V_ASN1_UTF8STRING);
        }
}

static void test_render_optional_left_out(void **state) {
        _cleanup_(profile_freep) Profile *p = load_shipped("certigna-rgs2");
        _cleanup_(order_freep) Order *o = order_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *hex = NULL, *want = NULL, *error = NULL;

        order_fill(o, false);
        assert_int_equal(profile_render_subject(p, o, &name, &error), 0);
        hex = name_hex(name);
        want = expected_hex(ELEMENTSOF(certigna_rdns) - 1);
        assert_string_equal(hex, want);
}

static void test_render_missing_field(void **state) {
        _cleanup_(profile_freep) Profile *p = load_shipped("certigna-rgs2");
        _cleanup_(order_freep) Order *o = order_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *error = NULL, *where = NULL;

        order_fill(o, true);
        o->organisation.siret = mfree(o->organisation.siret);
        assert_int_equal(profile_render_subject(p, o, &name, &error), -EINVAL);
        assert_null(name);
        assert_string_equal(error, "profile certigna-rgs2: subject OU needs organisation.siret, which the order lacks");

        /* A value the subject encoding refuses: CN over 64 characters. */
        o->organisation.siret = strdup("73282932000074");
        free(o->holder.surname);
        o->holder.surname = strdup("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        error = mfree(error);
        assert_int_equal(profile_render_subject(p, o, &name, &error), -EINVAL);
        assert_non_null(strstr(error, "subject CN"));
        assert_int_equal(p->subject[4].attr, JP11_ATTR_CN);
        assert_true(asprintf(&where, "certigna-rgs2.profile:%u)", p->subject[4].line) > 0);
        assert_non_null(strstr(error, where));
}

static void test_csr_spec(void **state) {
        _cleanup_(profile_freep) Profile *p = load_shipped("certinomis-decideur");
        _cleanup_(order_freep) Order *o = order_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        JP11CsrSpec spec;

        order_fill(o, false);
        assert_int_equal(profile_csr_spec(p, o, &name, &spec, &error), 0);
        assert_ptr_equal(spec.subject, name);
        assert_int_equal(spec.hash, JP11_HASH_SHA256);
        assert_int_equal(spec.key_usage, JP11_KU_NON_REPUDIATION);
        assert_true(spec.key_usage_critical);
        assert_string_equal(spec.certificate_policies[0], "0.4.0.194112.1.2");
        assert_null(spec.extended_key_usage);
        assert_null(spec.email_san);
        assert_null(spec.context_pin);
        text = jp11_subject_to_string(name);
        assert_non_null(text);
        assert_non_null(strstr(text, "OU=0002 732829320"));
        assert_non_null(strstr(text, "organizationIdentifier=NTRFR-732829320"));
}

/* ---- broken profiles --------------------------------------------------------- */

#define GOOD_HEAD                                                                                          \
        "[profile]\n"                   /* 1 */                                                           \
        "ca = Test CA\n"                /* 2 */                                                           \
        "product = Test\n"              /* 3 */                                                           \
        "[key]\n"                       /* 4 */                                                           \
        "algorithm = p256\n"            /* 5 */                                                           \
        "hash = sha256\n"               /* 6 */                                                           \
        "[subject]\n"                   /* 7 */                                                           \
        "C = FR\n"                      /* 8 */                                                           \
        "CN = ${holder.given_name} ${holder.surname}\n" /* 9 */

static char *parse_error(const char *text) {
        _cleanup_(profile_freep) Profile *p = NULL;
        char *error = NULL;

        assert_int_equal(profile_parse(text, strlen(text), "/x/broken.profile", &p, &error), -EINVAL);
        assert_null(p);
        assert_non_null(error);
        return error;
}

static void expect(const char *text, const char *message) {
        _cleanup_free_ char *error = parse_error(text);

        if (!streq(error, message))
                fail_msg("for:\n%s\nexpected: %s\n     got: %s", text, message, error);
}

static void test_good_minimal(void **state) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *error = NULL;

        assert_int_equal(profile_parse(GOOD_HEAD, strlen(GOOD_HEAD), "/x/good.profile", &p, &error), 0);
        assert_null(error);
        assert_string_equal(p->name, "good");
        assert_int_equal(p->key.type, JP11_KEY_EC);
        assert_int_equal(p->key.curve, JP11_CURVE_P256);
        assert_int_equal(p->n_subject, 2);
        assert_int_equal(p->subject[1].line, 9);
        assert_int_equal(p->key_usage, 0);
        /* Safe defaults: evidence required, 1 to 3 years. */
        assert_true(p->require_local && p->require_never_extractable && p->require_always_sensitive);
        assert_true(profile_allows_years(p, 1) && profile_allows_years(p, 3));
}

static void test_broken_cases(void **state) {
        expect(GOOD_HEAD "[extension]\nkey_usage = nonRepudiation\n",
               "/x/broken.profile:10: unknown section [extension] (expected [profile], [key], [subject], "
               "[extensions], [evidence] or [validity])");
        expect(GOOD_HEAD "[evidence]\nrequire_lokal = yes\n",
               "/x/broken.profile:11: unknown key 'require_lokal' in [evidence] (expected require_local, "
               "require_never_extractable, require_always_sensitive)");
        expect(GOOD_HEAD "[evidence]\nrequire_local = maybe\n",
               "/x/broken.profile:11: require_local = maybe is not a boolean (yes/no, true/false, 1/0)");
        expect(GOOD_HEAD "[validity]\nallowed_years = 1, 5\n",
               "/x/broken.profile:11: allowed_years: '5' is not a number of years from 1 to 3 (RGS: at most 3 years)");
        expect(GOOD_HEAD "[extensions]\ncertificate_policies = 0.4.0.194112.1.2, qcp\n",
               "/x/broken.profile:11: certificate_policies: 'qcp' is not a dotted OID (e.g. 0.4.0.194112.1.2)");
        expect(GOOD_HEAD "[extensions]\nkey_usage = nonRepudiation, signing\n",
               "/x/broken.profile:11: key_usage: unknown key usage \"signing\" (expected digitalSignature, "
               "nonRepudiation, keyEncipherment, dataEncipherment or keyAgreement)");
        expect(GOOD_HEAD "serialNumber = ${holder.id}\n",
               "/x/broken.profile:10: serialNumber = ${holder.id}: unknown placeholder ${holder.id} (known: "
               "${reference}, ${ca}, ${product}, ${profile}, ${holder.given_name}, ${holder.surname}, "
               "${holder.email}, ${holder.identifier}, ${organisation.name}, ${organisation.siren}, "
               "${organisation.siret}, ${organisation.vat})");
        expect(GOOD_HEAD "O = ${organisation.name\n",
               "/x/broken.profile:10: O = ${organisation.name: placeholder '${' is not closed by '}'");
        expect(GOOD_HEAD "O = 100$ ${organisation.name}\n",
               "/x/broken.profile:10: O = 100$ ${organisation.name}: a lone '$' must be written '$$' "
               "(placeholders read ${field})");
        expect(GOOD_HEAD "nickname = x\n",
               "/x/broken.profile:10: unknown subject attribute 'nickname' (expected C, O, OU, CN, GN, SN, "
               "serialNumber, organizationIdentifier, emailAddress, pseudonym, L, ST or title)");
        expect(GOOD_HEAD "OU? = Sales\n",
               "/x/broken.profile:10: OU? is optional but has no ${field} that could be empty");
        expect(GOOD_HEAD "OU = 1234 ${organisation.siret}\n",
               "/x/broken.profile:10: an OU starting with 4 digits must be the ISO 6523 '0002 <SIREN or SIRET>' one");
        expect(GOOD_HEAD "junk line\n", "/x/broken.profile:10: expected 'key = value' or a [section] header");
        expect(GOOD_HEAD "[validity\n", "/x/broken.profile:10: section header lacks its closing ']'");
}

static void test_broken_key_rules(void **state) {
        /* RSA below 2048 bits and SHA-1: refused, with the line. */
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = rsa1024\nhash = sha256\n[subject]\nC = FR\n"
               "CN = ${holder.surname}\n",
               "/x/broken.profile:5: algorithm = rsa1024: RSA keys of 1024 bits are refused: at least 2048 bits "
               "are required (ANSSI RGS; 3072 recommended) (expected rsa2048, rsa3072, rsa4096, p256 or p384)");
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = rsa2048\nhash = sha1\n[subject]\nC = FR\n"
               "CN = ${holder.surname}\n",
               "/x/broken.profile:6: hash = sha1 is refused: SHA-1 is not acceptable anywhere, the request "
               "signature included (ANSSI RGS B1); use sha256, sha384 or sha512");
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = rsa2048\nhash = md5\n[subject]\nC = FR\n"
               "CN = ${holder.surname}\n",
               "/x/broken.profile:6: unknown hash 'md5' (expected sha256, sha384 or sha512)");
        /* Duplicate key: both lines named. */
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = rsa2048\nhash = sha256\nalgorithm = rsa4096\n"
               "[subject]\nC = FR\nCN = ${holder.surname}\n",
               "/x/broken.profile:7: duplicate key 'algorithm' in [key] (first set on line 5)");
        /* Missing required key: the section line. Missing section: line 0. */
        expect("[profile]\nca = X\nproduct = Y\n\n[key]\nalgorithm = rsa2048\n[subject]\nC = FR\n"
               "CN = ${holder.surname}\n",
               "/x/broken.profile:5: [key] lacks 'hash ='");
        expect("[profile]\nca = X\nproduct = Y\n[subject]\nC = FR\nCN = ${holder.surname}\n",
               "/x/broken.profile:0: missing [key] section");
        /* C spelled out is refused by the subject encoder at load time. */
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = p384\nhash = sha384\n[subject]\nC = France\n"
               "CN = ${holder.surname}\n",
               "/x/broken.profile:8: C = France: countryName must be exactly 2 upper-case letters (ISO 3166, e.g. FR)");
}

static void test_broken_subject_shape(void **state) {
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = p256\nhash = sha256\n[subject]\nC = FR\n"
               "CN = ${holder.surname}\nCN = ${holder.given_name}\n",
               "/x/broken.profile:7: [subject] must have exactly one C and one CN (EN 319 412-2), it has 1 C and 2 CN");
        expect("[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = p256\nhash = sha256\n[subject]\nC = FR\n"
               "CN? = ${holder.surname}\n",
               "/x/broken.profile:9: CN cannot be optional (EN 319 412-2: exactly one C and one CN)");
        expect(GOOD_HEAD "[profile]\nname = other\n",
               "/x/broken.profile:11: name = other differs from the file name, which gives 'broken'");
        expect("ca = X\n" GOOD_HEAD, "/x/broken.profile:1: 'ca' comes before any [section]");
}

static void test_every_problem_reported(void **state) {
        _cleanup_free_ char *error = parse_error(
                "[profile]\n"                   /* 1 */
                "ca = X\n"                      /* 2 */
                "[key]\n"                       /* 3 */
                "algorithm = rsa1024\n"         /* 4 */
                "hash = sha1\n"                 /* 5 */
                "[subject]\n"                   /* 6 */
                "  C = FR\n"                    /* 7: indented, no continuation of line 5 */
                "CN = ${holder.surname}\n"      /* 8 */
                "bad \x01 line = \xff\n");      /* 9 */
        _cleanup_strv_free_ char **lines = NULL;
        char *save = NULL;

        for (char *l = strtok_r(error, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                assert_int_equal(strv_extend(&lines, l), 0);
        /* In line order, the checks made at the end of the file too. */
        assert_int_equal(strv_length(lines), 4);
        assert_string_equal(lines[0], "/x/broken.profile:1: [profile] lacks 'product ='");
        assert_true(strncmp(lines[1], "/x/broken.profile:4: algorithm = rsa1024: ", 42) == 0);
        assert_true(strncmp(lines[2], "/x/broken.profile:5: hash = sha1 is refused", 43) == 0);
        assert_string_equal(lines[3], "/x/broken.profile:9: is not valid UTF-8");
}

static void test_line_counting(void **state) {
        /* CRLF, a BOM, comments, blank lines, a NUL and an over-long line. */
        static const char text[] = "\xef\xbb\xbf; comment\r\n"    /* 1 */
                                   "[profile]\r\n"               /* 2 */
                                   "\r\n"                        /* 3 */
                                   "# comment\r\n"               /* 4 */
                                   "ca = X\0Y\r\n"               /* 5 */
                                   "product = Y\n";              /* 6 */
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_free_ char *error = NULL, *long_line = NULL;

        assert_int_equal(profile_parse(text, sizeof text - 1, "t.profile", &p, &error), -EINVAL);
        assert_string_equal(error, "t.profile:0: missing [key] section\n"
                                   "t.profile:0: missing [subject] section\n"
                                   "t.profile:2: [profile] lacks 'ca ='\n"
                                   "t.profile:5: contains a NUL byte");

        long_line = malloc(300);
        memset(long_line, 'a', 299);
        long_line[0] = '[';
        memcpy(long_line + 1, "profile]\nca = ", 14);
        long_line[299] = 0;
        error = mfree(error);
        assert_int_equal(profile_parse(long_line, strlen(long_line), "t.profile", &p, &error), -EINVAL);
        assert_non_null(strstr(error, "\nt.profile:2: line too long (at most "));
}

/* ---- directories ------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void write_file(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void test_directories(void **state) {
        char base[] = "/tmp/jeton-profiles-XXXXXX";
        _cleanup_free_ char *etc = NULL, *usr = NULL, *missing = NULL, *link = NULL;
        _cleanup_(profile_set_freep) ProfileSet *set = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const Profile *p;

        assert_non_null(mkdtemp(base));
        assert_true(asprintf(&etc, "%s/etc", base) > 0);
        assert_true(asprintf(&usr, "%s/usr", base) > 0);
        assert_true(asprintf(&missing, "%s/none", base) > 0);
        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(mkdir(usr, 0755), 0);

        write_file(usr, "alpha.profile", GOOD_HEAD "[profile]\ndescription = shipped\n");
        write_file(usr, "beta.profile", GOOD_HEAD);
        write_file(usr, "gamma.profile", GOOD_HEAD);
        write_file(usr, "delta.profile", GOOD_HEAD);
        write_file(usr, "README", "not a profile");
        write_file(etc, "alpha.profile", GOOD_HEAD "[profile]\ndescription = local\n");
        /* A broken override hides the shipped file rather than fall back to it. */
        write_file(etc, "beta.profile", GOOD_HEAD "[evidence]\nrequire_local = maybe\n");
        /* A broken file of its own: reported, the others still load. */
        write_file(etc, "broken.profile", "[profile\n");
        assert_true(asprintf(&link, "%s/delta.profile", etc) > 0);
        assert_int_equal(symlink("/dev/null", link), 0);

        const char *const dirs[] = { missing, etc, usr, NULL };
        assert_int_equal(profile_set_load(dirs, &set, &errors), 0);

        assert_int_equal(set->n_profiles, 2);
        p = profile_set_find(set, "alpha");
        assert_non_null(p);
        assert_string_equal(p->description, "local");
        assert_non_null(strstr(p->path, "/etc/alpha.profile"));
        assert_non_null(profile_set_find(set, "gamma"));
        assert_null(profile_set_find(set, "beta"));
        assert_null(profile_set_find(set, "delta"));    /* masked */
        assert_string_equal(set->profiles[0]->name, "alpha");   /* sorted */
        assert_string_equal(set->profiles[1]->name, "gamma");

        assert_int_equal(strv_length(errors), 2);
        for (char **e = errors; *e; e++)
                assert_true(strstr(*e, "/etc/beta.profile:11: require_local = maybe is not a boolean") ||
                            strstr(*e, "/etc/broken.profile:1: section header lacks its closing ']'"));

        assert_int_equal(nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void test_default_dirs(void **state) {
        const char *const *d = profile_default_dirs();

        assert_string_equal(d[0], "/etc/jeton/profiles");
        assert_non_null(strstr(d[1], "/share/jeton/profiles"));
        assert_null(d[2]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_profiles_load),
                cmocka_unit_test(test_render_certigna),
                cmocka_unit_test(test_render_optional_left_out),
                cmocka_unit_test(test_render_missing_field),
                cmocka_unit_test(test_csr_spec),
                cmocka_unit_test(test_good_minimal),
                cmocka_unit_test(test_broken_cases),
                cmocka_unit_test(test_broken_key_rules),
                cmocka_unit_test(test_broken_subject_shape),
                cmocka_unit_test(test_every_problem_reported),
                cmocka_unit_test(test_line_counting),
                cmocka_unit_test(test_directories),
                cmocka_unit_test(test_default_dirs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
