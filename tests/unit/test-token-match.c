/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl's TOKEN argument (tools/token-match.c): serials, labels, object
 * paths and RFC 7512 PKCS#11 URIs. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "../../tools/token-match.h"

static void assert_decodes(const char *in, const char *expect) {
        _cleanup_free_ char *out = NULL;

        assert_int_equal(percent_decode(in, strlen(in), &out), 0);
        assert_string_equal(out, expect);
}

static void assert_bad_escape(const char *in) {
        char *out = NULL;

        assert_int_equal(percent_decode(in, strlen(in), &out), -EINVAL);
        assert_null(out);
}

static void test_percent_decode(void **state) {
        assert_decodes("", "");
        assert_decodes("plain", "plain");
        assert_decodes("SoftHSM%20v2", "SoftHSM v2");
        assert_decodes("%41%62%2f%2F", "Ab//");
        assert_decodes("%25", "%");
        assert_decodes("a+b", "a+b");                   /* not form encoding */
        assert_decodes("Fran%C3%A7ois", "Fran\xc3\xa7ois");
        /* Only n bytes are read. */
        _cleanup_free_ char *out = NULL;
        assert_int_equal(percent_decode("ab%20cd", 2, &out), 0);
        assert_string_equal(out, "ab");

        assert_bad_escape("%");
        assert_bad_escape("%4");
        assert_bad_escape("100%");
        assert_bad_escape("%zz");
        assert_bad_escape("%g0");
        assert_bad_escape("a%00b");                     /* would cut the string */
}

static void test_uri_parse(void **state) {
        Pkcs11Uri u = {};

        /* As jetond writes it (the Token's Uri property). */
        assert_int_equal(pkcs11_uri_parse("pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
                                          "serial=bc57221129e96cc9;token=holder-1", &u), 0);
        assert_string_equal(u.model, "SoftHSM v2");
        assert_string_equal(u.manufacturer, "SoftHSM project");
        assert_string_equal(u.serial, "bc57221129e96cc9");
        assert_string_equal(u.token, "holder-1");
        pkcs11_uri_done(&u);
        assert_null(u.token);

        /* Other path attributes and the query are ignored, a PIN in the
         * query included; the scheme is case-insensitive. */
        assert_int_equal(pkcs11_uri_parse("PKCS11:object=my%20key;type=private;id=%01%02;slot-id=3;"
                                          "library-manufacturer=OpenSC;x-vendor=1;token=a%3Bb"
                                          "?pin-value=1234&module-path=/x%zz", &u), 0);
        assert_string_equal(u.token, "a;b");
        assert_null(u.manufacturer);
        assert_null(u.serial);
        assert_null(u.model);
        pkcs11_uri_done(&u);

        /* No attribute at all names every token; an empty value is a value. */
        assert_int_equal(pkcs11_uri_parse("pkcs11:", &u), 0);
        assert_null(u.token);
        pkcs11_uri_done(&u);
        assert_int_equal(pkcs11_uri_parse("pkcs11:token=;serial=1;", &u), 0);
        assert_string_equal(u.token, "");
        assert_string_equal(u.serial, "1");
        pkcs11_uri_done(&u);

        assert_true(pkcs11_uri_is("pkcs11:token=x"));
        assert_true(pkcs11_uri_is("Pkcs11:"));
        assert_false(pkcs11_uri_is("pkcs11"));
        assert_false(pkcs11_uri_is("/org/jeton/Jeton1"));
        assert_false(pkcs11_uri_is(NULL));

        /* Malformed. */
        assert_int_equal(pkcs11_uri_parse("holder-1", &u), -EINVAL);
        assert_int_equal(pkcs11_uri_parse("pkcs11:token", &u), -EINVAL);
        assert_int_equal(pkcs11_uri_parse("pkcs11:token=a;token=b", &u), -EINVAL);
        assert_int_equal(pkcs11_uri_parse("pkcs11:serial=%zz", &u), -EINVAL);
        assert_null(u.token);
        assert_null(u.serial);
}

/* A: a Feitian token; B: a SoftHSM token with the same label; C: a token
 * whose serial is another's label; D: a card no module recognises. */
static const TokenIdentity tokens[] = {
        { "/org/jeton/Jeton1/token/Feitian_5f2A3B", "2A3B", "holder-1", "Feitian", "ePass2003" },
        { "/org/jeton/Jeton1/token/SoftHSM_20project_5f0022", "0022", "holder-1", "SoftHSM project", "SoftHSM v2" },
        { "/org/jeton/Jeton1/token/x_5fholder_2d1", "holder-1", "spare token", "x", "y" },
        { "/org/jeton/Jeton1/token/card_5fVirtual", "", "", "", "" },
};

/* The indices spec matches, as a string: "0,1" (or "-EINVAL"). */
static char *matches_of(const char *spec) {
        size_t m[ELEMENTSOF(tokens)];
        int k = token_match(spec, tokens, ELEMENTSOF(tokens), m);
        char *s = calloc(1, 64);

        assert_non_null(s);
        if (k < 0) {
                snprintf(s, 64, "%s", k == -EINVAL ? "-EINVAL" : "error");
                return s;
        }
        for (int i = 0; i < k; i++)
                snprintf(s + strlen(s), 64 - strlen(s), "%s%zu", i > 0 ? "," : "", m[i]);
        return s;
}

static void assert_matches(const char *spec, const char *expect) {
        _cleanup_free_ char *got = matches_of(spec);
        assert_string_equal(got, expect);
}

static void test_match(void **state) {
        /* Serial, label, object path. */
        assert_matches("2A3B", "0");
        assert_matches("spare token", "2");
        assert_matches("/org/jeton/Jeton1/token/SoftHSM_20project_5f0022", "1");
        /* Exact only: no prefix, no case folding, no path guessing. */
        assert_matches("2a3b", "");
        assert_matches("2A3", "");
        assert_matches("/org/jeton/Jeton1/token", "");
        assert_matches("Feitian_5f2A3B", "");

        /* Ambiguous: two labels, and a serial equal to their label. */
        assert_matches("holder-1", "0,1,2");

        /* URIs: every given attribute must match. */
        assert_matches("pkcs11:token=holder-1;manufacturer=Feitian", "0");
        assert_matches("pkcs11:token=holder-1", "0,1");   /* token= is the label only */
        assert_matches("pkcs11:serial=holder-1", "2");
        assert_matches("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2", "1");
        assert_matches("pkcs11:token=holder-1;manufacturer=SoftHSM", "");
        assert_matches("pkcs11:token=spare%20token?pin-value=0000", "2");
        assert_matches("pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0022;token=holder-1", "1");
        assert_matches("pkcs11:serial=2A3B;object=key;id=%01", "0");
        assert_matches("pkcs11:", "0,1,2,3");

        /* Not a name at all. */
        assert_matches("", "-EINVAL");
        assert_matches("pkcs11:token=%4", "-EINVAL");
        assert_matches("pkcs11:token", "-EINVAL");
}

static void test_match_null_fields(void **state) {
        /* Properties the daemon did not send read as empty strings. */
        const TokenIdentity t[] = { { "/p", NULL, NULL, NULL, NULL } };
        size_t m[1];

        assert_int_equal(token_match("/p", t, 1, m), 1);
        assert_int_equal(token_match("x", t, 1, m), 0);
        assert_int_equal(token_match("pkcs11:token=", t, 1, m), 1);
        assert_int_equal(token_match("pkcs11:token=a", t, 1, m), 0);
        assert_int_equal(token_match("x", NULL, 0, m), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_percent_decode),
                cmocka_unit_test(test_uri_parse),
                cmocka_unit_test(test_match),
                cmocka_unit_test(test_match_null_fields),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
