/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-util.h"
#include "siren.h"

static bool all_digits(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

bool luhn_valid(const char *digits, size_t n) {
        unsigned sum = 0;

        if (n == 0 || !all_digits(digits, n))
                return false;

        /* From the right, every second digit is doubled (and 9 subtracted
         * when that makes two digits). */
        for (size_t i = 0; i < n; i++) {
                unsigned d = (unsigned) (digits[n - 1 - i] - '0');

                if (i % 2 == 1) {
                        d *= 2;
                        if (d > 9)
                                d -= 9;
                }
                sum += d;
        }
        return sum % 10 == 0;
}

static bool siret_la_poste_valid(const char *s) {
        unsigned sum = 0;

        for (size_t i = 0; i < 14; i++)
                sum += (unsigned) (s[i] - '0');
        return sum % 5 == 0;
}

bool siren_valid(const char *s) {
        return s && strlen(s) == 9 && luhn_valid(s, 9);
}

bool siret_valid(const char *s) {
        if (!s || strlen(s) != 14 || !all_digits(s, 14))
                return false;
        if (luhn_valid(s, 14))
                return true;
        /* La Poste's head office (35600000000048) passes Luhn; its other
         * establishments follow the digit-sum rule instead. */
        return strncmp(s, SIREN_LA_POSTE, 9) == 0 && siret_la_poste_valid(s);
}

unsigned vat_fr_key(const char *siren) {
        unsigned long v = strtoul(siren, NULL, 10);
        return (unsigned) ((12 + 3 * (v % 97)) % 97);
}

/* Copies text without spaces and tabs, upper-cased; -EINVAL (with a message)
 * when something else than [A-Za-z0-9] remains. */
static int squeeze(const char *what, const char *text, char **ret, char **ret_error) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;

        if (!text || !text[0])
                return set_errorf(ret_error, -EINVAL, "%s is empty", what);

        s = malloc(strlen(text) + 1);
        if (!s)
                return -ENOMEM;
        for (const char *p = text; *p; p++) {
                if (*p == ' ' || *p == '\t')
                        continue;
                if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
                        if (printable_for_message(text))
                                return set_errorf(ret_error, -EINVAL,
                                                  "%s \"%s\" may only contain digits and spaces", what, text);
                        return set_errorf(ret_error, -EINVAL, "%s may only contain digits and spaces", what);
                }
                s[n++] = (*p >= 'a' && *p <= 'z') ? (char) (*p - 'a' + 'A') : *p;
        }
        s[n] = 0;
        if (n == 0)
                return set_errorf(ret_error, -EINVAL, "%s is empty", what);

        *ret = TAKE_PTR(s);
        return 0;
}

static int digits_of_length(const char *what, const char *s, size_t want, char **ret_error) {
        size_t n = strlen(s);

        if (!all_digits(s, n)) {
                if (printable_for_message(s))
                        return set_errorf(ret_error, -EINVAL, "%s \"%s\" may only contain digits and spaces",
                                          what, s);
                return set_errorf(ret_error, -EINVAL, "%s may only contain digits and spaces", what);
        }
        if (n != want) {
                if (n <= 64)
                        return set_errorf(ret_error, -EINVAL, "%s %s has %zu digits, expected %zu", what, s, n,
                                          want);
                return set_errorf(ret_error, -EINVAL, "%s has %zu digits, expected %zu", what, n, want);
        }
        return 0;
}

int siren_parse(const char *text, char **ret, char **ret_error) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = squeeze("SIREN", text, &s, ret_error);
        if (r < 0)
                return r;
        r = digits_of_length("SIREN", s, 9, ret_error);
        if (r < 0)
                return r;
        if (!luhn_valid(s, 9))
                return set_errorf(ret_error, -EINVAL, "SIREN %s fails its check digit (Luhn)", s);

        *ret = TAKE_PTR(s);
        return 0;
}

int siret_parse(const char *text, char **ret, char **ret_error) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = squeeze("SIRET", text, &s, ret_error);
        if (r < 0)
                return r;
        r = digits_of_length("SIRET", s, 14, ret_error);
        if (r < 0)
                return r;
        if (!siret_valid(s)) {
                if (strncmp(s, SIREN_LA_POSTE, 9) == 0)
                        return set_errorf(ret_error, -EINVAL,
                                          "SIRET %s of La Poste fails its check (Luhn, or a digit sum that is "
                                          "a multiple of 5)", s);
                if (!luhn_valid(s, 9))
                        return set_errorf(ret_error, -EINVAL,
                                          "SIRET %s fails its check digit (Luhn); its SIREN %.9s is not valid "
                                          "either", s, s);
                return set_errorf(ret_error, -EINVAL, "SIRET %s fails its check digit (Luhn)", s);
        }

        *ret = TAKE_PTR(s);
        return 0;
}

int vat_fr_parse(const char *text, char **ret, char **ret_error) {
        _cleanup_free_ char *s = NULL;
        unsigned key, want;
        int r;

        r = squeeze("VAT number", text, &s, ret_error);
        if (r < 0)
                return r;
        if (strncmp(s, "FR", 2) != 0 || strlen(s) != 13 || !all_digits(s + 2, 11)) {
                if (strlen(s) <= 64)
                        return set_errorf(ret_error, -EINVAL,
                                          "VAT number %s is not FR + 2-digit key + 9-digit SIREN", s);
                return set_errorf(ret_error, -EINVAL, "VAT number is not FR + 2-digit key + 9-digit SIREN");
        }
        if (!luhn_valid(s + 4, 9))
                return set_errorf(ret_error, -EINVAL, "VAT number %s: SIREN %s fails its check digit (Luhn)", s,
                                  s + 4);

        key = (unsigned) (s[2] - '0') * 10 + (unsigned) (s[3] - '0');
        want = vat_fr_key(s + 4);
        if (key != want)
                return set_errorf(ret_error, -EINVAL, "VAT number %s has key %02u, expected %02u for SIREN %s", s,
                                  key, want, s + 4);

        *ret = TAKE_PTR(s);
        return 0;
}

int vat_fr_from_siren(const char *siren, char **ret) {
        if (!siren_valid(siren))
                return -EINVAL;
        if (asprintf(ret, "FR%02u%s", vat_fr_key(siren), siren) < 0)
                return -ENOMEM;
        return 0;
}
