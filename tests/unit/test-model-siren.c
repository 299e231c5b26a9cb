/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "siren.h"

/* Vectors from domain.md section 4. */
static void test_luhn_vectors(void **state) {
        assert_true(siren_valid("123456782"));
        assert_true(siren_valid("433998903"));          /* Certinomis */
        assert_true(siren_valid("481463081"));          /* Dhimyotis */
        assert_false(siren_valid("123456789"));         /* the seed document's, fails */

        assert_true(siret_valid("12345678200002"));
        assert_true(siret_valid("73282932000074"));
        assert_true(siret_valid("48146308100036"));     /* Dhimyotis */
        assert_true(siret_valid("80948012200013"));     /* AR24 */
        assert_false(siret_valid("12345678900001"));    /* the seed document's, fails */

        assert_false(siren_valid("12345678"));
        assert_false(siren_valid("1234567820"));
        assert_false(siret_valid("1234567820000"));
        assert_false(siret_valid("12345678A00002"));
        assert_false(luhn_valid("", 0));
}

static void test_la_poste(void **state) {
        /* The head office passes Luhn. */
        assert_true(siret_valid("35600000000048"));
        /* Other establishments: digit sum 15, Luhn fails. */
        assert_false(luhn_valid("35600000000001", 14));
        assert_true(siret_valid("35600000000001"));
        /* Neither rule: sum 14. */
        assert_false(siret_valid("35600000000000"));
        /* The exception is La Poste's only: the same digit sum elsewhere fails. */
        assert_false(siret_valid("12345678200001"));
}

static void test_vat_key(void **state) {
        /* FR40303265045 is the usual published example of a French VAT number. */
        assert_int_equal(vat_fr_key("303265045"), 40);
        assert_int_equal(vat_fr_key("123456782"), 11);

        char *vat = NULL;
        assert_int_equal(vat_fr_from_siren("303265045", &vat), 0);
        assert_string_equal(vat, "FR40303265045");
        free(vat);
        assert_int_equal(vat_fr_from_siren("123456789", &vat), -EINVAL);
}

static void test_parse_normalises(void **state) {
        char *s = NULL, *error = NULL;

        assert_int_equal(siren_parse("123 456 782", &s, &error), 0);
        assert_string_equal(s, "123456782");
        free(s);
        assert_int_equal(siret_parse(" 732 829 320 00074 ", &s, &error), 0);
        assert_string_equal(s, "73282932000074");
        free(s);
        assert_int_equal(vat_fr_parse("fr 40 303 265 045", &s, &error), 0);
        assert_string_equal(s, "FR40303265045");
        free(s);
        assert_null(error);
}

static void expect_error(int (*parse)(const char *, char **, char **), const char *input, const char *message) {
        char *s = NULL, *error = NULL;

        assert_int_equal(parse(input, &s, &error), -EINVAL);
        assert_null(s);
        assert_non_null(error);
        assert_string_equal(error, message);
        free(error);
}

static void test_parse_errors(void **state) {
        expect_error(siret_parse, "12345678900001",
                     "SIRET 12345678900001 fails its check digit (Luhn); its SIREN 123456789 is not valid either");
        expect_error(siret_parse, "12345678200001", "SIRET 12345678200001 fails its check digit (Luhn)");
        expect_error(siren_parse, "123 456 789", "SIREN 123456789 fails its check digit (Luhn)");
        expect_error(siren_parse, "12345678", "SIREN 12345678 has 8 digits, expected 9");
        expect_error(siren_parse, "", "SIREN is empty");
        expect_error(siren_parse, "  ", "SIREN is empty");
        expect_error(siret_parse, "123-456-782-00002", "SIRET \"123-456-782-00002\" may only contain digits and spaces");
        expect_error(siret_parse, "1234567820000A", "SIRET \"1234567820000A\" may only contain digits and spaces");
        expect_error(siret_parse, "35600000000000",
                     "SIRET 35600000000000 of La Poste fails its check (Luhn, or a digit sum that is a multiple of 5)");
        expect_error(vat_fr_parse, "FR41303265045", "VAT number FR41303265045 has key 41, expected 40 for SIREN 303265045");
        expect_error(vat_fr_parse, "DE123456789", "VAT number DE123456789 is not FR + 2-digit key + 9-digit SIREN");
        expect_error(vat_fr_parse, "FR4030326504", "VAT number FR4030326504 is not FR + 2-digit key + 9-digit SIREN");
        expect_error(vat_fr_parse, "FR00123456789", "VAT number FR00123456789: SIREN 123456789 fails its check digit (Luhn)");
        /* Not echoed when it could not be shown safely. */
        expect_error(siren_parse, "12\x01" "3", "SIREN may only contain digits and spaces");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_luhn_vectors),
                cmocka_unit_test(test_la_poste),
                cmocka_unit_test(test_vat_key),
                cmocka_unit_test(test_parse_normalises),
                cmocka_unit_test(test_parse_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
