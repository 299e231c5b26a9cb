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

#include "order-import.h"
#include "order-validate.h"
#include "util.h"

static ProfileSet *profiles;

static int setup(void **state) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *dir = NULL;

        if (asprintf(&dir, "%s/daemon/profiles", getenv("JETON_TOP") ?: ".") < 0)
                return -1;
        const char *const dirs[] = { dir, NULL };
        if (profile_set_load(dirs, &profiles, &errors) < 0 || errors || profiles->n_profiles != 3)
                return -1;
        return 0;
}

static int teardown(void **state) {
        profiles = profile_set_free(profiles);
        return 0;
}

#define HEADER                                                                                                   \
        "reference,profile,validity_years,holder.given_name,holder.surname,holder.email,organisation.name,"     \
        "organisation.siret\r\n"

static void import_ok(OrderImportFormat format, const char *text, size_t len, Order ***ret, size_t *n) {
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = order_import(format, text, len, profiles, ret, n, &errors);
        if (r < 0)
                fail_msg("import failed (%d): %s", r, errors ? errors[0] : "?");
        assert_null(errors);
}

/* The problems of an import that must fail, joined with '\n'. */
static char *import_bad(OrderImportFormat format, const char *text) {
        _cleanup_strv_free_ char **errors = NULL;
        Order **orders = NULL;
        size_t n = 0, len = 1;
        char *joined;

        assert_int_equal(order_import(format, text, strlen(text), profiles, &orders, &n, &errors), -EINVAL);
        /* All or nothing. */
        assert_null(orders);
        assert_int_equal(n, 0);
        assert_non_null(errors);
        for (char **e = errors; *e; e++)
                len += strlen(*e) + 1;
        joined = calloc(len, 1);
        assert_non_null(joined);
        for (char **e = errors; *e; e++) {
                if (e != errors)
                        strcat(joined, "\n");
                strcat(joined, *e);
        }
        return joined;
}

static void expect(OrderImportFormat format, const char *text, const char *problems) {
        _cleanup_free_ char *got = import_bad(format, text);

        if (!streq(got, problems)) {
                /* cmocka truncates long messages */
                fprintf(stderr, "for:\n%s\nexpected:\n%s\ngot:\n%s\n", text, problems, got);
                fail();
        }
}

/* ---- CSV ------------------------------------------------------------------------ */

static void test_csv_good(void **state) {
        static const char text[] =
                "\xef\xbb\xbf" HEADER
                "BD1734971738,certigna-rgs2,3,Marie,Dupont,marie@example.fr,\"ACME, \"\"Sécurité\"\"\",732 829 320 00074\r\n"
                "\r\n"
                "BD1734971739,certinomis-decideur,1, Jean ,\"Martin de la Tour\",,\"Docaposte\",48146308100036\n";
        Order **orders = NULL;
        size_t n = 0;

        import_ok(ORDER_IMPORT_CSV, text, sizeof text - 1, &orders, &n);
        assert_int_equal(n, 2);

        assert_string_equal(orders[0]->reference, "BD1734971738");
        assert_string_equal(orders[0]->organisation.name, "ACME, \"Sécurité\"");
        assert_string_equal(orders[0]->organisation.siret, "73282932000074");  /* normalised */
        assert_string_equal(orders[0]->organisation.siren, "732829320");       /* derived */
        assert_string_equal(orders[0]->ca, "Certigna");                        /* from the profile */
        assert_string_equal(orders[0]->product, "Pack ID RGS**");
        assert_int_equal(orders[0]->validity_years, 3);
        assert_int_equal(orders[0]->state, ORDER_PENDING);

        assert_string_equal(orders[1]->holder.given_name, "Jean");     /* trimmed */
        assert_string_equal(orders[1]->holder.surname, "Martin de la Tour");
        assert_null(orders[1]->holder.email);                          /* empty = absent */
        order_array_free(orders, n);
}

/* A batch's --profile: for orders without one; an order's own is kept, and
 * the default is validated like any profile. */
static void test_default_profile(void **state) {
        static const char text[] =
                "reference,profile,validity_years,holder.given_name,holder.surname\n"
                "A1,,1,Marie,Dupont\n"
                "A2,certigna-rgs2,1,Jean,Martin\n";
        static const char no_column[] =
                "reference,validity_years,holder.given_name,holder.surname\n"
                "A3,2,Ana,Lopes\n";
        Order **orders = NULL;
        char **errors = NULL;
        size_t n = 0;

        assert_int_equal(order_import_with_profile(ORDER_IMPORT_CSV, no_column, sizeof no_column - 1, profiles,
                                                   "eidas-natural-person", &orders, &n, &errors), 0);
        assert_int_equal(n, 1);
        assert_string_equal(orders[0]->profile, "eidas-natural-person");
        orders = order_array_free(orders, n);

        /* A2 keeps certigna-rgs2, which needs an organisation: its line is
         * reported; A1 took the default and is fine. */
        assert_int_equal(order_import_with_profile(ORDER_IMPORT_CSV, text, sizeof text - 1, profiles,
                                                   "eidas-natural-person", &orders, &n, &errors), -EINVAL);
        assert_non_null(errors);
        assert_null(strstr(errors[0], "line 2"));
        assert_non_null(strstr(errors[0], "line 3"));
        errors = strv_free(errors);

        assert_int_equal(order_import_with_profile(ORDER_IMPORT_CSV, no_column, sizeof no_column - 1, profiles,
                                                   "no-such-profile", &orders, &n, &errors), -EINVAL);
        assert_non_null(strstr(errors[0], "unknown profile \"no-such-profile\""));
        errors = strv_free(errors);
}

static void test_csv_bad_siret(void **state) {
        expect(ORDER_IMPORT_CSV,
               HEADER "A1,certigna-rgs2,1,Marie,Dupont,,ACME,73282932000074\n"
                      "A2,certigna-rgs2,1,Jean,Martin,,ACME,12345678900001\n",
               "line 3, field organisation.siret: SIRET 12345678900001 fails its check digit (Luhn); its SIREN "
               "123456789 is not valid either");
}

static void test_csv_missing(void **state) {
        /* A required value, and a field the profile's subject needs. */
        expect(ORDER_IMPORT_CSV, HEADER "A1,certigna-rgs2,1,Marie,,,ACME,\n",
               "line 2, field holder.surname: missing\n"
               "line 2, field organisation.siret: missing; profile certigna-rgs2 needs it in the subject");
        /* A required column. */
        expect(ORDER_IMPORT_CSV, "reference,profile,validity_years,holder.given_name\nA1,eidas-natural-person,1,Marie\n",
               "line 1: the header lacks the column \"holder.surname\"");
        expect(ORDER_IMPORT_CSV, "", "line 1: no header row (the file is empty)");
        expect(ORDER_IMPORT_CSV, HEADER, "line 1: the file holds no order");
}

static void test_csv_header(void **state) {
        expect(ORDER_IMPORT_CSV,
               "reference,profile,validity_years,given_name,holder.surname,holder.given_name,reference\n",
               "line 1: unknown column \"given_name\" (known: reference, ca, product, profile, validity_years, "
               "holder.given_name, holder.surname, holder.email, holder.identifier, organisation.name, "
               "organisation.siren, organisation.siret, organisation.vat)\n"
               "line 1: column \"reference\" appears twice");
}

static void test_csv_validity(void **state) {
        expect(ORDER_IMPORT_CSV,
               HEADER "A1,eidas-natural-person,5,Marie,Dupont,,,\n"
                      "A2,eidas-natural-person,two,Marie,Dupont,,,\n"
                      "A3,eidas-natural-person,,Marie,Dupont,,,\n",
               "line 2, field validity_years: 5 years: a holder certificate lives 1 to 3 years (RGS)\n"
               "line 3, field validity_years: \"two\" is not a number of years\n"
               "line 4, field validity_years: missing");
}

static void test_csv_duplicate_reference(void **state) {
        expect(ORDER_IMPORT_CSV,
               HEADER "BD1,eidas-natural-person,1,Marie,Dupont,,,\n"
                      "BD2,eidas-natural-person,1,Jean,Martin,,,\n"
                      "BD1,eidas-natural-person,1,Paul,Durand,,,\n"
                      "BD1,eidas-natural-person,1,Anne,Petit,,,\n",
               "line 4, field reference: \"BD1\" repeats line 2\n"
               "line 5, field reference: \"BD1\" repeats line 2");
}

static void test_csv_syntax(void **state) {
        /* The record starting on line 2 spans two lines: line numbers stay physical. */
        expect(ORDER_IMPORT_CSV,
               HEADER "A1,eidas-natural-person,1,Marie,\"Du\npont\",,,\n"
                      "A2,eidas-natural-person,1,Jean\n"
                      "A3,eidas-natural-person,1,Jean,Ma\"rtin,,,\n"
                      "A4,eidas-natural-person,1,Jean,\"Martin\"x,,,\n"
                      "A5,eidas-natural-person,1,Jean,\"Martin,,,\n",
               "line 2, field holder.surname: contains a control character\n"
               "line 4: 4 fields, the header has 8 columns\n"
               "line 5: '\"' inside an unquoted field (quote the whole field and write the quote as '\"\"')\n"
               "line 6: text after a closing quote (write a '\"' inside a quoted field as '\"\"')\n"
               "line 7: quoted field not closed (a '\"' is missing before the end of the file)");
}

static void test_csv_utf8(void **state) {
        expect(ORDER_IMPORT_CSV, HEADER "A1,eidas-natural-person,1,H\xe9l\xe8ne,Dupont,,,\n",
               "line 2, field holder.given_name: not valid UTF-8 (save the file as UTF-8)");
}

static void test_csv_nul(void **state) {
        static const char text[] = HEADER "A1,eidas-natural-person,1,Ma\0rie,Dupont,,,\n";
        _cleanup_strv_free_ char **errors = NULL;
        Order **orders = NULL;
        size_t n = 0;

        assert_int_equal(order_import(ORDER_IMPORT_CSV, text, sizeof text - 1, profiles, &orders, &n, &errors),
                         -EINVAL);
        assert_string_equal(errors[0], "line 2: contains a NUL byte");
        assert_null(errors[1]);
}

static void test_csv_field_checks(void **state) {
        expect(ORDER_IMPORT_CSV,
               "reference,profile,validity_years,holder.given_name,holder.surname,holder.email,holder.identifier,"
               "organisation.siren,organisation.siret,organisation.vat\n"
               "BD 1,nope,1,Marie,Dupont,marie@,ID-1,123456782,73282932000074,FR40303265045\n",
               "line 2, field profile: unknown profile \"nope\" (known: certigna-rgs2, certinomis-decideur, "
               "eidas-natural-person)\n"
               "line 2, field reference: \"BD 1\" is not a valid reference: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'\n"
               "line 2, field holder.email: \"marie@\" is not an email address (name@example.fr)\n"
               "line 2, field holder.identifier: \"ID-1\" is not a semantics identifier: 3-letter type, 2-letter "
               "country, '-', value, e.g. IDCFR-123456 (EN 319 412-1)\n"
               "line 2, field organisation.siret: SIRET 73282932000074 does not belong to SIREN 123456782 (its "
               "first 9 digits are the SIREN)\n"
               "line 2, field organisation.vat: VAT number FR40303265045 is that of SIREN 303265045, not of the "
               "order's SIREN 123456782");
}

static void test_csv_problem_cap(void **state) {
        _cleanup_free_ char *text = NULL, *got = NULL;
        size_t size = 200 * 64, len;
        char *p;

        text = malloc(size);
        assert_non_null(text);
        p = stpcpy(text, HEADER);
        for (unsigned i = 0; i < 150; i++)
                p += sprintf(p, "R%u,eidas-natural-person,9,Marie,Dupont,,,\n", i);
        len = strlen(text);
        assert_true(len < size);

        got = import_bad(ORDER_IMPORT_CSV, text);
        /* 100 listed, then the count of the others. */
        assert_non_null(strstr(got, "line 101, field validity_years: 9 years"));
        assert_null(strstr(got, "line 102,"));
        assert_non_null(strstr(got, "\n... and 50 more problems"));
}

/* ---- JSON ------------------------------------------------------------------------ */

static void test_json_good(void **state) {
        static const char text[] =
                "[\n"
                "  { \"reference\": \"BD1734971738\", \"profile\": \"certinomis-decideur\", \"validity_years\": 2,\n"
                "    \"holder\": { \"given_name\": \"Marie\", \"surname\": \"Dupont\", \"email\": null,\n"
                "                \"identifier\": \"IDCFR-12345\" },\n"
                "    \"organisation\": { \"name\": \"ACME \\\"Sécurité\\\"\", \"siren\": \"433 998 903\",\n"
                "                      \"vat\": \"FR59433998903\" } },\n"
                "  { \"reference\": \"BD1734971739\", \"profile\": \"eidas-natural-person\", \"validity_years\": 1,\n"
                "    \"ca\": \"Other CA\", \"holder\": { \"given_name\": \"Jean\", \"surname\": \"Martin\" } }\n"
                "]\n";
        Order **orders = NULL;
        size_t n = 0;

        import_ok(ORDER_IMPORT_JSON, text, sizeof text - 1, &orders, &n);
        assert_int_equal(n, 2);
        assert_string_equal(orders[0]->organisation.name, "ACME \"Sécurité\"");
        assert_string_equal(orders[0]->organisation.siren, "433998903");
        assert_null(orders[0]->organisation.siret);
        assert_null(orders[0]->holder.email);
        assert_string_equal(orders[0]->holder.identifier, "IDCFR-12345");
        assert_int_equal(orders[0]->validity_years, 2);
        assert_string_equal(orders[1]->ca, "Other CA");         /* given, kept */
        assert_string_equal(orders[1]->product, "QCP-n-qscd natural person");
        order_array_free(orders, n);

        assert_int_equal(order_import_guess_format(text, sizeof text - 1), ORDER_IMPORT_JSON);
        assert_int_equal(order_import_guess_format(HEADER, strlen(HEADER)), ORDER_IMPORT_CSV);
}

#define J_OK(ref) "{ \"reference\": \"" ref "\", \"profile\": \"eidas-natural-person\", \"validity_years\": 1, " \
                  "\"holder\": { \"given_name\": \"Marie\", \"surname\": \"Dupont\" } }"

static void test_json_syntax(void **state) {
        expect(ORDER_IMPORT_JSON, "[\n" J_OK("A1") ",\n" J_OK("A2") ",\n]\n",
               "line 4, column 1: JSON syntax error: unexpected character");
        expect(ORDER_IMPORT_JSON, "[\n" J_OK("A1") ",\n  { \"reference\": \"A2\"\n",
               "line 4, column 1: JSON ends too early (an array or object is not closed)");
        expect(ORDER_IMPORT_JSON, "[\n" J_OK("A1") "\n] x\n",
               "line 3, column 3: JSON syntax error: unexpected character");
        expect(ORDER_IMPORT_JSON, "[ { \"holder\": { \"surname\": \"\xe9\" } } ]",
               "line 1, column 29: JSON syntax error: invalid utf-8 string");
        /* Columns count characters, after the BOM. */
        expect(ORDER_IMPORT_JSON, "\xef\xbb\xbf[ { \"holder\": { \"given_name\": \"é\", \"surname\": \"\xe9\" } } ]",
               "line 1, column 48: JSON syntax error: invalid utf-8 string");
        expect(ORDER_IMPORT_JSON, "{ \"reference\": \"A1\" }", "line 1: expected an array of orders, found an object");
        expect(ORDER_IMPORT_JSON, "[]", "line 1: the file holds no order");
}

static void test_json_types(void **state) {
        expect(ORDER_IMPORT_JSON,
               "[\n"
               "  " J_OK("A1") ",\n"
               "  { \"reference\": \"A2\", \"profile\": \"eidas-natural-person\", \"validity_years\": \"1\",\n"
               "    \"holder\": { \"given_name\": \"Marie\", \"surname\": 7 } },\n"
               "  \"A3\",\n"
               "  { \"reference\": \"A4\", \"profile\": \"certigna-rgs2\", \"validity_years\": 1.5,\n"
               "    \"holder\": [], \"organisation\": { \"siret\": 73282932000074, \"city\": \"Paris\" },\n"
               "    \"holder.surname\": \"x\" }\n"
               "]\n",
               "line 3, item [1], field validity_years: must be a whole number of years, not a string\n"
               "line 3, item [1], field holder.surname: must be a string, not a number (a number would lose "
               "leading zeros)\n"
               "line 5, item [2]: expected an order (an object), found a string\n"
               "line 6, item [3], field validity_years: must be a whole number of years, not a decimal number\n"
               "line 6, item [3], field holder: must be an object, not an array\n"
               "line 6, item [3], field organisation.siret: must be a string, not a number (a number would lose "
               "leading zeros)\n"
               "line 6, item [3], field organisation.city: unknown field (known: reference, ca, product, profile, "
               "validity_years, holder.{given_name,surname,email,identifier}, organisation.{name,siren,siret,vat})\n"
               "line 6, item [3], field holder.surname: JSON nests the fields: write \"holder\": { \"surname\": ... }\n"
               /* Fields with a problem above are not reported again as missing. */
               "line 6, item [3], field holder.given_name: missing\n"
               "line 6, item [3], field holder.surname: missing\n"
               "line 6, item [3], field organisation.name: missing; profile certigna-rgs2 needs it in the subject");
}

static void test_json_duplicates_and_bad_values(void **state) {
        expect(ORDER_IMPORT_JSON,
               "[\n  " J_OK("A1") ",\n  " J_OK("A2") ",\n  " J_OK("A1") "\n]",
               "line 4, item [2], field reference: \"A1\" repeats item [0] (line 2)");
        expect(ORDER_IMPORT_JSON,
               "[ { \"reference\": \"A1\", \"profile\": \"certigna-rgs2\", \"validity_years\": 4,\n"
               "    \"holder\": { \"given_name\": \"Marie\", \"surname\": \"Dupont\" },\n"
               "    \"organisation\": { \"name\": \"ACME\", \"siret\": \"12345678900001\" } } ]",
               "line 1, item [0], field validity_years: 4 years: a holder certificate lives 1 to 3 years (RGS)\n"
               "line 1, item [0], field organisation.siret: SIRET 12345678900001 fails its check digit (Luhn); its "
               "SIREN 123456789 is not valid either");
        expect(ORDER_IMPORT_JSON, "[ { \"reference\": \"A\\u0000B\" } ]",
               "line 1, item [0], field reference: contains a NUL character\n"
               "line 1, item [0], field profile: missing\n"
               "line 1, item [0], field validity_years: missing\n"
               "line 1, item [0], field holder.given_name: missing\n"
               "line 1, item [0], field holder.surname: missing");
}

/* ---- validation on its own ---------------------------------------------------------- */

static void collect(OrderField f, const char *message, void *userdata) {
        char ***l = userdata;
        _cleanup_free_ char *s = NULL;

        assert_true(asprintf(&s, "%s: %s", order_field_to_string(f), message) > 0);
        assert_int_equal(strv_extend(l, s), 0);
}

static void test_validate_direct(void **state) {
        _cleanup_(order_freep) Order *o = order_new();
        _cleanup_strv_free_ char **problems = NULL;
        const Profile *p = profile_set_find(profiles, "certigna-rgs2");

        o->reference = strdup("BD1734971738");
        o->profile = strdup("certigna-rgs2");
        o->validity_years = 2;
        o->holder.given_name = strdup("Marie");
        o->holder.surname = strdup("Dupont");
        o->organisation.name = strdup("ACME");
        o->organisation.siret = strdup("48146308100036");
        assert_int_equal(order_normalize(o), 0);
        assert_string_equal(o->organisation.siren, "481463081");
        assert_int_equal(order_validate(o, p, collect, &problems), 0);
        assert_null(problems);

        /* CN = given name + surname: over 64 characters it cannot be encoded. */
        free(o->holder.surname);
        o->holder.surname = strdup("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_int_equal(order_validate(o, p, collect, &problems), -EINVAL);
        assert_int_equal(strv_length(problems), 1);
        assert_true(strncmp(problems[0], "holder.given_name: subject CN: ", 31) == 0);

        /* One problem per field: a control character is not also a bad reference. */
        problems = strv_free(problems);
        free(o->holder.surname);
        o->holder.surname = strdup("Dupont");
        free(o->reference);
        o->reference = strdup("BD\x01");
        free(o->organisation.siret);
        o->organisation.siret = strdup("4814630810003\t6");
        assert_int_equal(order_validate(o, p, collect, &problems), -EINVAL);
        assert_int_equal(strv_length(problems), 2);
        assert_string_equal(problems[0], "reference: contains a control character");
        assert_string_equal(problems[1], "organisation.siret: contains a control character");

        assert_true(order_email_valid("a.b+c@sub.example.fr"));
        assert_false(order_email_valid("a..b@example.fr"));
        assert_false(order_email_valid("a@example"));
        assert_false(order_email_valid("a@-example.fr"));
        assert_false(order_email_valid("a b@example.fr"));
        assert_true(order_identifier_valid("PNOFR-1234567890"));
        assert_true(order_identifier_valid("PASFR-12AB34"));
        assert_false(order_identifier_valid("IDCFR-"));
        assert_false(order_identifier_valid("idcfr-123"));
        assert_false(order_identifier_valid("IDCFR-12*3"));
        assert_true(order_reference_valid("BD1734971738"));
        assert_false(order_reference_valid("BD/1"));
        assert_false(order_reference_valid(".hidden"));
        assert_false(order_reference_valid(".."));
        assert_true(order_reference_valid("BD.1"));
}

static void test_states(void **state) {
        for (OrderState s = 0; s < _ORDER_STATE_MAX; s++)
                assert_int_equal(order_state_from_string(order_state_to_string(s)), s);
        assert_string_equal(order_state_to_string(ORDER_CERTIFICATE_RECEIVED), "certificate-received");
        assert_int_equal(order_state_from_string("done"), _ORDER_STATE_INVALID);
        assert_null(order_state_to_string(_ORDER_STATE_MAX));

        assert_true(order_state_transition_allowed(ORDER_PENDING, ORDER_KEY_GENERATED));
        assert_true(order_state_transition_allowed(ORDER_KEY_GENERATED, ORDER_SUBMITTED));
        assert_true(order_state_transition_allowed(ORDER_SUBMITTED, ORDER_CERTIFICATE_RECEIVED));
        assert_true(order_state_transition_allowed(ORDER_CERTIFICATE_RECEIVED, ORDER_INSTALLED));
        assert_true(order_state_transition_allowed(ORDER_SUBMITTED, ORDER_FAILED));
        assert_true(order_state_transition_allowed(ORDER_FAILED, ORDER_PENDING));
        assert_false(order_state_transition_allowed(ORDER_PENDING, ORDER_INSTALLED));
        assert_false(order_state_transition_allowed(ORDER_INSTALLED, ORDER_FAILED));
        assert_false(order_state_transition_allowed(ORDER_CANCELLED, ORDER_PENDING));
        assert_false(order_state_transition_allowed(ORDER_PENDING, ORDER_PENDING));
        assert_false(order_state_transition_allowed(_ORDER_STATE_INVALID, ORDER_PENDING));
}

static void test_dup(void **state) {
        _cleanup_(order_freep) Order *o = order_new(), *c = NULL;

        o->reference = strdup("BD1");
        o->holder.surname = strdup("Dupont");
        o->evidence.token_serial = strdup("0123");
        o->evidence.local = true;
        o->validity_years = 2;
        o->state = ORDER_SUBMITTED;
        c = order_dup(o);
        assert_non_null(c);
        assert_string_equal(c->reference, "BD1");
        assert_ptr_not_equal(c->reference, o->reference);
        assert_string_equal(c->evidence.token_serial, "0123");
        assert_true(c->evidence.local);
        assert_int_equal(c->validity_years, 2);
        assert_int_equal(c->state, ORDER_SUBMITTED);
        assert_null(c->csr_pem);
        assert_null(order_free(NULL));
        assert_null(order_dup(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_csv_good),
                cmocka_unit_test(test_default_profile),
                cmocka_unit_test(test_csv_bad_siret),
                cmocka_unit_test(test_csv_missing),
                cmocka_unit_test(test_csv_header),
                cmocka_unit_test(test_csv_validity),
                cmocka_unit_test(test_csv_duplicate_reference),
                cmocka_unit_test(test_csv_syntax),
                cmocka_unit_test(test_csv_utf8),
                cmocka_unit_test(test_csv_nul),
                cmocka_unit_test(test_csv_field_checks),
                cmocka_unit_test(test_csv_problem_cap),
                cmocka_unit_test(test_json_good),
                cmocka_unit_test(test_json_syntax),
                cmocka_unit_test(test_json_types),
                cmocka_unit_test(test_json_duplicates_and_bad_values),
                cmocka_unit_test(test_validate_direct),
                cmocka_unit_test(test_states),
                cmocka_unit_test(test_dup),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
