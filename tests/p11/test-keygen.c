/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Key generation on a real SoftHSM token, every result checked with tools
 * that are not ours: pkcs11-tool and p11tool for the attributes, openssl
 * for the key id. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/testca.h"
#include "../lib/testtoken.h"
#include "openssl-util.h"
#include "p11-keygen.h"

typedef struct Fixture {
        TestToken *token;
        TestCA *ca;     /* only for openssl's subjectKeyIdentifier */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_int_equal(testtoken_new("keygen", &f->token), 0);
        assert_int_equal(testca_new(&f->ca), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        testtoken_free(f->token);
        testca_free(f->ca);
        free(f);
        return 0;
}

static void hex(const uint8_t *id, size_t len, char *out) {
        for (size_t i = 0; i < len; i++)
                sprintf(out + 2 * i, "%02x", id[i]);
}

/* The block of `pkcs11-tool -O` output for one object: from its
 * "<kind> Object" line to the next object. NULL when absent. */
static char *object_block(const char *out, const char *kind, const char *id_hex) {
        for (const char *p = strstr(out, kind); p; p = strstr(p + 1, kind)) {
                const char *end = strstr(p + strlen(kind), " Object");
                char *block, *id_line;

                /* back to the start of the line that starts the next object */
                while (end && end > p && end[-1] != '\n')
                        end--;
                block = end ? strndup(p, (size_t) (end - p)) : strdup(p);
                assert_non_null(block);
                id_line = strstr(block, "ID:");
                if (id_line && strncmp(id_line + 3 + strspn(id_line + 3, " "), id_hex, strlen(id_hex)) == 0)
                        return block;
                free(block);
        }
        return NULL;
}

/* The value of "  name:   value" in a block, trimmed (malloc'd). */
static char *field(const char *block, const char *name) {
        _cleanup_free_ char *key = NULL;
        const char *p, *eol;

        assert_true(asprintf(&key, "\n  %s:", name) > 0);
        p = strstr(block, key);
        if (!p)
                return NULL;
        p += strlen(key);
        p += strspn(p, " ");
        eol = strchrnul(p, '\n');
        return strndup(p, (size_t) (eol - p));
}

static void assert_field(const char *block, const char *name, const char *expected) {
        _cleanup_free_ char *v = field(block, name);

        if (!v || !streq(v, expected))
                fail_msg("pkcs11-tool shows %s \"%s\", expected \"%s\" in:\n%s", name, v ?: "(none)", expected, block);
}

/* The comma-separated list of "Access:" or "Usage:" as a set. */
static bool list_has(const char *list, const char *item) {
        size_t n = strlen(item);

        for (const char *p = list; *p;) {
                size_t len = strcspn(p, ",");
                if (len == n && strncmp(p, item, n) == 0)
                        return true;
                p += len;
                p += strspn(p, ", ");
        }
        return false;
}

/* The "Flags:" line p11tool prints for the object of this type
 * ("private", "public") and id ("ab:cd:..."); "" when it prints none. */
static char *p11tool_flags(TestToken *t, const char *type, const char *id_colons) {
        _cleanup_free_ char *out = NULL, *url_type = NULL;
        const char *obj;

        assert_true(asprintf(&url_type, ";type=%s\n", type) > 0);
        assert_int_equal(testtoken_p11tool(t, NULL, (const char *[]) { "--list-all", "--login", NULL }, &out), 0);
        for (obj = strstr(out, "Object "); obj; obj = strstr(obj + 1, "Object ")) {
                const char *next = strstr(obj + 1, "Object ");
                const char *url_end = strchr(obj, '\n');
                const char *id, *flags;

                /* "Object N:\n\tURL: pkcs11:...;type=public\n" */
                url_end = url_end ? strchr(url_end + 1, '\n') : NULL;
                if (!url_end || strncmp(url_end - strlen(url_type) + 1, url_type, strlen(url_type)) != 0)
                        continue;
                id = strstr(obj, "\tID: ");
                if (!id || (next && id > next) || strncmp(id + 5, id_colons, strlen(id_colons)) != 0)
                        continue;
                flags = strstr(obj, "\tFlags:");
                if (!flags || (next && flags > next))
                        return strdup("");
                return strndup(flags, (size_t) (strchrnul(flags, '\n') - flags));
        }
        fail_msg("p11tool does not list the %s key %s:\n%s", type, id_colons, out);
        return NULL;
}

static void check_generated(Fixture *f, const JP11KeySpec *spec, const char *label) {
        _cleanup_free_ char *out = NULL, *priv = NULL, *pub = NULL, *usage = NULL, *access = NULL;
        _cleanup_free_ char *pub_file = NULL, *priv_flags = NULL, *pub_flags = NULL;
        JP11GeneratedKey k = {};
        JP11Error error = {};
        _cleanup_free_ char *url_id = NULL;
        char id_hex[41], id_colons[61], id_url[61];
        uint8_t ski[20];
        unsigned before, after;

        assert_int_equal(testtoken_count_objects(f->token, &before), 0);

        if (jp11_generate_key_pair(f->token->session, spec, label, &k, &error) < 0)
                fail_msg("generation failed: %s", error.message);
        assert_int_equal(k.id_len, 20);
        assert_non_null(k.public);
        assert_true(k.private_key != CK_INVALID_HANDLE);
        assert_true(k.public_key != CK_INVALID_HANDLE);
        assert_true(k.evidence.local);
        assert_true(k.evidence.always_sensitive);
        assert_true(k.evidence.never_extractable);
        if (spec->type == JP11_KEY_RSA)
                assert_int_equal(EVP_PKEY_get_bits(k.public), (int) spec->bits);

        hex(k.id, k.id_len, id_hex);
        for (size_t i = 0; i < k.id_len; i++)
                sprintf(id_colons + 3 * i, "%02x%s", k.id[i], i + 1 < k.id_len ? ":" : "");
        for (size_t i = 0; i < k.id_len; i++)
                sprintf(id_url + 3 * i, "%%%02x", k.id[i]);

        /* Exactly two new objects, and CKA_TOKEN: another process (pkcs11-tool)
         * sees them, which it would not for session objects. */
        assert_int_equal(testtoken_count_objects(f->token, &after), 0);
        assert_int_equal(after, before + 2);

        assert_int_equal(testtoken_pkcs11_tool(f->token, (const char *[]) { "-O", NULL }, &out), 0);
        priv = object_block(out, "Private Key Object", id_hex);
        pub = object_block(out, "Public Key Object", id_hex);
        if (!priv || !pub)
                fail_msg("pkcs11-tool does not show both keys with id %s:\n%s", id_hex, out);

        /* Private key: sign only; sensitive, never extractable, made here. */
        assert_field(priv, "label", label);
        assert_field(priv, "Usage", "sign");
        access = field(priv, "Access");
        assert_non_null(access);
        assert_true(list_has(access, "sensitive"));
        assert_true(list_has(access, "always sensitive"));
        assert_true(list_has(access, "never extractable"));
        assert_true(list_has(access, "local"));
        assert_false(list_has(access, "extractable"));

        /* Public key: verify only. */
        assert_field(pub, "label", label);
        assert_field(pub, "Usage", "verify");

        /* CKA_PRIVATE and wrap/unwrap as p11tool reads them. */
        priv_flags = p11tool_flags(f->token, "private", id_colons);
        assert_non_null(strstr(priv_flags, "CKA_PRIVATE"));
        assert_non_null(strstr(priv_flags, "CKA_SENSITIVE"));
        assert_non_null(strstr(priv_flags, "CKA_NEVER_EXTRACTABLE"));
        assert_null(strstr(priv_flags, "CKA_EXTRACTABLE;"));
        assert_null(strstr(priv_flags, "CKA_WRAP/UNWRAP"));
        pub_flags = p11tool_flags(f->token, "public", id_colons);
        assert_null(strstr(pub_flags, "CKA_WRAP/UNWRAP"));
        assert_null(strstr(pub_flags, "CKA_PRIVATE"));

        /* CKA_ID = the subjectKeyIdentifier openssl computes for the
         * public key pkcs11-tool reads off the token. */
        pub_file = testca_path(f->ca, "token-pubkey.pem");
        assert_true(asprintf(&url_id, "id=%s;type=public", id_url) > 0);
        /* p11tool, not pkcs11-tool: OpenSC 0.23 cannot export P-384 keys. */
        assert_int_equal(testtoken_p11tool(f->token, url_id,
                                           (const char *[]) { "--export-pubkey", "--outfile", pub_file, NULL }, NULL),
                         0);
        assert_int_equal(testca_ski_of_public_key(f->ca, pub_file, ski), 0);
        assert_memory_equal(k.id, ski, 20);

        /* The evidence reads the same on its own. */
        {
                JP11KeyEvidence ev = {};
                assert_int_equal(jp11_read_key_evidence(f->token->session, k.private_key, &ev, &error), 0);
                assert_true(ev.local && ev.always_sensitive && ev.never_extractable);
        }

        jp11_generated_key_clear(&k);
        assert_null(k.public);
}

static void test_rsa2048(void **state) {
        check_generated(*state, &(JP11KeySpec) { .type = JP11_KEY_RSA, .bits = 2048 }, "BD1734971738");
}

static void test_rsa3072(void **state) {
        check_generated(*state, &(JP11KeySpec) { .type = JP11_KEY_RSA, .bits = 3072 }, "BD1734971739");
}

static void test_p256(void **state) {
        check_generated(*state, &(JP11KeySpec) { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 }, "order p256");
}

static void test_p384(void **state) {
        check_generated(*state, &(JP11KeySpec) { .type = JP11_KEY_EC, .curve = JP11_CURVE_P384 }, "order p384");
}

static void test_rsa1024_refused(void **state) {
        Fixture *f = *state;
        JP11GeneratedKey k = {};
        JP11Error error = {};
        unsigned before, after;

        assert_int_equal(testtoken_count_objects(f->token, &before), 0);
        assert_int_equal(jp11_generate_key_pair(f->token->session,
                                                &(JP11KeySpec) { .type = JP11_KEY_RSA, .bits = 1024 }, "weak", &k,
                                                &error),
                         -EPERM);
        assert_int_equal(error.kind, JP11_ERR_POLICY);
        assert_null(k.public);
        assert_int_equal(testtoken_count_objects(f->token, &after), 0);
        assert_int_equal(after, before);
}

/* Two generations never share an id (libp11 pairs keys by id). */
static void test_ids_unique(void **state) {
        Fixture *f = *state;
        JP11GeneratedKey a = {}, b = {};
        JP11Error error = {};
        const JP11KeySpec spec = { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 };

        assert_int_equal(jp11_generate_key_pair(f->token->session, &spec, "a", &a, &error), 0);
        assert_int_equal(jp11_generate_key_pair(f->token->session, &spec, "a", &b, &error), 0);
        assert_memory_not_equal(a.id, b.id, 20);
        jp11_generated_key_clear(&a);
        jp11_generated_key_clear(&b);
}

/* The evidence must be able to say no: a key imported onto the token
 * (made elsewhere, extractable) reads all three as false. */
static void test_evidence_of_imported_key(void **state) {
        Fixture *f = *state;
        static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_KEY_TYPE kt = CKK_EC;
        uint8_t params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 }, value[32];
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_KEY_TYPE, &kt, sizeof kt },
                { CKA_TOKEN, (CK_VOID_PTR) &no, sizeof no },
                { CKA_PRIVATE, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_SENSITIVE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_EXTRACTABLE, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_SIGN, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_EC_PARAMS, params, sizeof params },
                { CKA_VALUE, value, sizeof value },
        };
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(f->token->session);
        CK_SESSION_HANDLE sh = jp11_session_handle(f->token->session);
        CK_OBJECT_HANDLE h;
        JP11KeyEvidence ev = { true, true, true };
        JP11Error error = {};

        for (size_t i = 0; i < sizeof value; i++)
                value[i] = (uint8_t) (i + 1);
        assert_int_equal(fl->C_CreateObject(sh, tmpl, ELEMENTSOF(tmpl), &h), CKR_OK);
        assert_int_equal(jp11_read_key_evidence(f->token->session, h, &ev, &error), 0);
        assert_false(ev.local);
        assert_false(ev.always_sensitive);
        assert_false(ev.never_extractable);
        assert_int_equal(fl->C_DestroyObject(sh, h), CKR_OK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rsa2048),
                cmocka_unit_test(test_rsa3072),
                cmocka_unit_test(test_p256),
                cmocka_unit_test(test_p384),
                cmocka_unit_test(test_rsa1024_refused),
                cmocka_unit_test(test_ids_unique),
                cmocka_unit_test(test_evidence_of_imported_key),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
