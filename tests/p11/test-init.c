/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Token initialisation against a real SoftHSM2; the results are checked
 * with p11tool and pkcs11-tool (separate processes, so they read what
 * SoftHSM wrote to its store). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/run.h"
#include "../lib/softhsm.h"
#include "p11-init.h"
#include "p11-login.h"
#include "p11-module.h"
#include "p11-objects.h"

#define NEW_SO_PIN "new-so-pin-42"
#define NEW_USER_PIN "new-user-pin"

typedef struct Fixture {
        SoftHSM *hsm;
        JP11Module *m;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        JP11Error e = {};

        assert_non_null(f);
        assert_int_equal(softhsm_new(&f->hsm), 0);
        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &f->m, &e), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (!f)
                return 0;
        jp11_module_unload(f->m);
        softhsm_free(f->hsm);
        free(f);
        return 0;
}

static JP11Pin *pin_of(const char *text) {
        JP11Pin *pin = NULL;
        assert_int_equal(jp11_pin_new(text, strlen(text), &pin, NULL), 0);
        return pin;
}

/* Runs a tool with user and SO PINs in its environment; returns its exit
 * code. */
static int tool(const char *const *argv, const char *user_pin, const char *so_pin, char **ret_out) {
        char pin_var[128], so_var[128], env_pin[128];
        _cleanup_free_ char *err = NULL;
        int status;

        snprintf(pin_var, sizeof pin_var, "GNUTLS_PIN=%s", user_pin);
        snprintf(so_var, sizeof so_var, "GNUTLS_SO_PIN=%s", so_pin);
        snprintf(env_pin, sizeof env_pin, "JETON_TEST_PIN=%s", user_pin);
        const char *env[] = { pin_var, so_var, env_pin, NULL };
        assert_int_equal(run(argv, env, NULL, 0, ret_out, &err, &status), 0);
        return status;
}

/* A token initialised by softhsm2-util, made visible to our module. */
static CK_SLOT_ID add_token(Fixture *f, const char *label, char *serial) {
        JP11Slot slot;
        JP11Error e = {};

        assert_int_equal(softhsm_add_token(f->hsm, label, SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, serial), 0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        assert_int_equal(jp11_module_find_token(f->m, serial, NULL, &slot, &e), 0);
        return slot.id;
}

static bool blank_slot(Fixture *f, CK_SLOT_ID *ret) {
        _cleanup_free_ JP11Slot *slots = NULL;
        size_t n;
        JP11Error e = {};

        assert_int_equal(jp11_module_list_slots(f->m, &slots, &n, &e), 0);
        for (size_t i = 0; i < n; i++)
                if (slots[i].token_present && !slots[i].token.initialized) {
                        *ret = slots[i].id;
                        return true;
                }
        return false;
}

/* Can p11tool log in to the token with this PIN? It exits 1 and says
 * "Wrong PIN" when it cannot; 0, or 2 with "No matching objects found" on
 * an empty token, when it can. */
static bool p11tool_login_ok(const char *url_label, bool so, const char *pin) {
        char url[128], var[128];
        _cleanup_free_ char *out = NULL, *err = NULL;
        int status;

        snprintf(url, sizeof url, "pkcs11:token=%s", url_label);
        snprintf(var, sizeof var, "%s=%s", so ? "GNUTLS_SO_PIN" : "GNUTLS_PIN", pin);
        const char *argv[] = { "p11tool", "--provider", SOFTHSM_MODULE, so ? "--so-login" : "--login", "--list-all",
                               url, NULL };
        const char *env[] = { var, NULL };
        assert_int_equal(run(argv, env, NULL, 0, &out, &err, &status), 0);
        if (strstr(out, "Wrong PIN") || strstr(err, "Wrong PIN"))
                return false;
        if (status != 0 && !(status == 2 && (strstr(out, "No matching objects") || strstr(err, "No matching objects"))))
                fail_msg("p11tool exited with %d: %s%s", status, out, err);
        return true;
}

static bool user_pin_works(const char *url_label, const char *pin) {
        return p11tool_login_ok(url_label, false, pin);
}

static bool so_pin_works(const char *url_label, const char *so_pin) {
        return p11tool_login_ok(url_label, true, so_pin);
}

/* Number of objects pkcs11-tool sees after logging in. */
static unsigned tool_object_count(const char *label, const char *pin) {
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", label, "--login", "--pin",
                               "env:JETON_TEST_PIN", "--list-objects", NULL };
        _cleanup_free_ char *out = NULL;
        unsigned n = 0;

        assert_int_equal(tool(argv, pin, "", &out), 0);
        for (const char *p = out; (p = strstr(p, " Object; ")); p++)
                n++;
        return n;
}

static void keygen_pkcs11_tool(const char *label) {
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", label, "--login",
                               "--pin", "env:JETON_TEST_PIN", "--keypairgen", "--key-type", "EC:prime256v1",
                               "--id", "01", "--label", "holder key", NULL };
        assert_int_equal(tool(argv, SOFTHSM_TEST_PIN, "", NULL), 0);
}

static void test_init_blank(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(NEW_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        CK_SLOT_ID slot = 0;
        JP11Slot info;
        JP11Error e = {};

        assert_true(blank_slot(f, &slot));
        assert_int_equal(jp11_token_init(f->m, slot, so, "fresh token", user, 0, &e), 0);

        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_true(info.token.initialized);
        assert_true(info.token.pin.initialized);
        assert_string_equal(info.token.label, "fresh token");

        /* Another process sees the label, and both PINs work there. */
        const char *argv[] = { "p11tool", "--provider", SOFTHSM_MODULE, "--list-tokens", NULL };
        _cleanup_free_ char *out = NULL;
        assert_int_equal(tool(argv, "", "", &out), 0);
        assert_non_null(strstr(out, "Label: fresh token\n"));
        assert_true(user_pin_works("fresh%20token", NEW_USER_PIN));
        assert_false(user_pin_works("fresh%20token", SOFTHSM_TEST_PIN));
        assert_true(so_pin_works("fresh%20token", NEW_SO_PIN));
        assert_false(so_pin_works("fresh%20token", SOFTHSM_TEST_SO_PIN));
        assert_int_equal(tool_object_count("fresh token", NEW_USER_PIN), 0);

        /* An empty, initialised token (objects: none) is no reason to
         * refuse: re-initialising it needs no force. */
        assert_int_equal(jp11_token_init(f->m, slot, so, "fresh again", user, 0, &e), 0);
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "fresh again");
}

/* pkcs11-tool's key: the private key is CKA_PRIVATE, invisible without
 * login; the public key shows it is there. */
static void test_refuse_hidden_key(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        char serial[17];
        JP11Slot info;
        JP11Error e = {};

        CK_SLOT_ID slot = add_token(f, "holder", serial);
        keygen_pkcs11_tool("holder");
        assert_int_equal(tool_object_count("holder", SOFTHSM_TEST_PIN), 2);

        assert_int_equal(jp11_token_init(f->m, slot, so, "erased", user, 0, &e), -EEXIST);
        assert_int_equal(e.kind, JP11_ERR_EXISTS);
        assert_non_null(strstr(e.message, "holder"));
        assert_non_null(strstr(e.message, "force"));

        /* Nothing changed. */
        assert_int_equal(tool_object_count("holder", SOFTHSM_TEST_PIN), 2);
        assert_true(user_pin_works("holder", SOFTHSM_TEST_PIN));
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "holder");

        /* Forced: erased, relabelled, new PINs. */
        assert_int_equal(jp11_token_init(f->m, slot, so, "erased", user, JP11_INIT_FORCE, &e), 0);
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "erased");
        assert_string_equal(info.token.serial, serial); /* same token */
        assert_int_equal(tool_object_count("erased", NEW_USER_PIN), 0);
        assert_false(user_pin_works("erased", SOFTHSM_TEST_PIN));
}

/* A private key anyone can see (p11tool --no-mark-private). */
static void test_refuse_visible_key(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        char serial[17];
        JP11Error e = {};

        CK_SLOT_ID slot = add_token(f, "visible", serial);
        const char *argv[] = { "p11tool", "--provider", SOFTHSM_MODULE, "--login", "--generate-privkey", "ECDSA",
                               "--curve", "secp256r1", "--label", "open key", "--no-mark-private",
                               "pkcs11:token=visible", NULL };
        assert_int_equal(tool(argv, SOFTHSM_TEST_PIN, "", NULL), 0);

        assert_int_equal(jp11_token_init(f->m, slot, so, "erased", user, 0, &e), -EEXIST);
        assert_int_equal(e.kind, JP11_ERR_EXISTS);
        assert_non_null(strstr(e.message, "1 private key"));
        assert_true(user_pin_works("visible", SOFTHSM_TEST_PIN));
}

/* The user PIN is set and some object is there: the token has been used
 * and may hide private keys, so it is refused. */
static void test_refuse_used_token(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        char serial[17], data[4096];
        JP11Error e = {};

        CK_SLOT_ID slot = add_token(f, "used", serial);
        snprintf(data, sizeof data, "%s/data.bin", softhsm_dir(f->hsm));
        FILE *fp = fopen(data, "we");
        assert_non_null(fp);
        fputs("some data", fp);
        fclose(fp);
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", "used", "--login", "--pin",
                               "env:JETON_TEST_PIN", "--write-object", data, "--type", "data", "--label", "notes",
                               NULL };
        assert_int_equal(tool(argv, SOFTHSM_TEST_PIN, "", NULL), 0);

        assert_int_equal(jp11_token_init(f->m, slot, so, "erased", user, 0, &e), -EEXIST);
        assert_int_equal(e.kind, JP11_ERR_EXISTS);
        assert_non_null(strstr(e.message, "user PIN"));
}

/* Everything checkable is checked before the token is touched. */
static void test_refuse_before_touching(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *short_pin = pin_of("123");
        _cleanup_(jp11_pin_freep) JP11Pin *wrong_so = pin_of("wrong-so-pin");
        char serial[17];
        JP11Slot info;
        JP11Error e = {};

        CK_SLOT_ID slot = add_token(f, "intact", serial);
        keygen_pkcs11_tool("intact");

        assert_int_equal(jp11_token_init(f->m, slot, short_pin, "x", user, JP11_INIT_FORCE, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_token_init(f->m, slot, so, "x", short_pin, JP11_INIT_FORCE, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        assert_non_null(strstr(e.message, "user PIN"));
        assert_int_equal(jp11_token_init(f->m, slot, so, "x", NULL, JP11_INIT_FORCE, &e), -EINVAL);
        assert_int_equal(jp11_token_init(f->m, slot, so, "a label of more than thirty-two bytes", user,
                                         JP11_INIT_FORCE, &e),
                         -EINVAL);
        assert_int_equal(e.kind, JP11_ERR_INVALID);

        /* SoftHSM checks the SO PIN of an initialised token. */
        assert_int_equal(jp11_token_init(f->m, slot, wrong_so, "x", user, JP11_INIT_FORCE, &e), -EACCES);
        assert_int_equal(e.kind, JP11_ERR_PIN_INCORRECT);

        /* A session of ours on the token: the module refuses. */
        JP11Session *s = NULL;
        assert_int_equal(jp11_session_open(f->m, slot, false, &s, &e), 0);
        assert_int_equal(jp11_token_init(f->m, slot, so, "x", user, JP11_INIT_FORCE, &e), -EBUSY);
        assert_int_equal(e.rv, CKR_SESSION_EXISTS);
        jp11_session_close(s);

        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "intact");
        assert_int_equal(tool_object_count("intact", SOFTHSM_TEST_PIN), 2);
        assert_true(user_pin_works("intact", SOFTHSM_TEST_PIN));

        assert_int_equal(jp11_token_init(f->m, 0xdeadbeef, so, "x", user, 0, &e), -ENXIO);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
}

/* C_InitToken checks the SO PIN of an initialised token and a wrong one
 * costs a try: a blocked SO PIN, or its final try without the person's
 * confirmation, is refused before the token is touched. SoftHSM reports
 * the flags set in its store and still accepts the right SO PIN, so a
 * C_InitToken that should not have happened shows as a new label. */
static void test_so_pin_state(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(NEW_USER_PIN);
        char serial[17];
        JP11Slot info;
        JP11Error e = {};

        CK_SLOT_ID slot = add_token(f, "so-state", serial);

        assert_int_equal(softhsm_set_token_flags(f->hsm, serial, CKF_SO_PIN_LOCKED, 0), 0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        assert_int_equal(jp11_token_init(f->m, slot, so, "x", user, JP11_INIT_FORCE | JP11_INIT_CONFIRM_FINAL_TRY, &e),
                         -EPERM);
        assert_int_equal(e.kind, JP11_ERR_PIN_LOCKED);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "so-state");

        assert_int_equal(softhsm_set_token_flags(f->hsm, serial, CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_COUNT_LOW,
                                                 CKF_SO_PIN_LOCKED),
                         0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        assert_int_equal(jp11_token_init(f->m, slot, so, "x", user, JP11_INIT_FORCE, &e), -EAGAIN);
        assert_int_equal(e.kind, JP11_ERR_PIN_FINAL_TRY);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "so-state");
        assert_true(user_pin_works("so-state", SOFTHSM_TEST_PIN));

        /* The person confirmed: one attempt, and it goes through. */
        assert_int_equal(jp11_token_init(f->m, slot, so, "confirmed", user,
                                         JP11_INIT_FORCE | JP11_INIT_CONFIRM_FINAL_TRY, &e),
                         0);
        assert_int_equal(jp11_module_get_slot(f->m, slot, &info, &e), 0);
        assert_string_equal(info.token.label, "confirmed");
        assert_true(user_pin_works("confirmed", NEW_USER_PIN));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init_blank),
                cmocka_unit_test(test_refuse_hidden_key),
                cmocka_unit_test(test_refuse_visible_key),
                cmocka_unit_test(test_refuse_used_token),
                cmocka_unit_test(test_refuse_before_touching),
                cmocka_unit_test(test_so_pin_state),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
