/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Safe login against a real SoftHSM2.
 *
 * What SoftHSM 2.6 does with PINs (read from its Token.cpp and checked
 * here): a wrong user PIN sets CKF_USER_PIN_COUNT_LOW, a right one clears
 * it; it never sets CKF_USER_PIN_FINAL_TRY or CKF_USER_PIN_LOCKED and
 * never locks, however many wrong PINs. To test the refusals on a token
 * that reports those flags, the tests set them in SoftHSM's stored token
 * flags (softhsm_set_token_flags): SoftHSM then reports them, and still
 * accepts the right PIN, so a C_Login that should not have happened shows.
 *
 * C_Login calls are counted by a pass-through wrapper put into SoftHSM's
 * own function list: every call still goes to SoftHSM. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/softhsm.h"
#include "p11-login.h"
#include "p11-module.h"

static CK_C_Login real_login;
static unsigned n_login;
static bool last_pin_null;

static CK_RV counting_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
        n_login++;
        last_pin_null = pin == NULL;
        return real_login(h, user, pin, len);
}

typedef struct Fixture {
        SoftHSM *hsm;
        JP11Module *m;
        char serial[17];
        CK_SLOT_ID slot;
        /* Sessions live here, not in _cleanup_ locals: a failed assertion
         * longjmps past cleanups, and a leaked session would make the next
         * rescan wait forever instead of letting the next test run. */
        JP11Session *sessions[4];
} Fixture;

static JP11Session *session_open(Fixture *f, bool rw) {
        JP11Error e = {};
        for (size_t i = 0; i < ELEMENTSOF(f->sessions); i++)
                if (!f->sessions[i]) {
                        assert_int_equal(jp11_session_open(f->m, f->slot, rw, &f->sessions[i], &e), 0);
                        return f->sessions[i];
                }
        fail_msg("too many sessions");
        return NULL;
}

static void session_close(Fixture *f, JP11Session *s) {
        for (size_t i = 0; i < ELEMENTSOF(f->sessions); i++)
                if (f->sessions[i] == s)
                        f->sessions[i] = jp11_session_close(s);
}

static int close_sessions(void **state) {
        Fixture *f = *state;
        for (size_t i = 0; i < ELEMENTSOF(f->sessions); i++)
                f->sessions[i] = jp11_session_close(f->sessions[i]);
        return 0;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        JP11Error e = {};
        JP11Slot slot;

        assert_non_null(f);
        assert_int_equal(softhsm_new(&f->hsm), 0);
        assert_int_equal(softhsm_add_token(f->hsm, "login", SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, f->serial), 0);
        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &f->m, &e), 0);
        assert_int_equal(jp11_module_find_token(f->m, f->serial, NULL, &slot, &e), 0);
        f->slot = slot.id;

        CK_FUNCTION_LIST_PTR fl = jp11_module_functions(f->m);
        real_login = fl->C_Login;
        fl->C_Login = counting_login;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (!f)
                return 0;
        jp11_module_functions(f->m)->C_Login = real_login;
        jp11_module_unload(f->m);
        softhsm_free(f->hsm);
        free(f);
        return 0;
}

/* Each test starts from a token with no flags of ours and no wrong PIN. */
static int reset(void **state) {
        Fixture *f = *state;
        JP11Error e = {};
        assert_int_equal(softhsm_set_token_flags(f->hsm, f->serial, 0,
                                                 CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY |
                                                         CKF_USER_PIN_COUNT_LOW | CKF_PROTECTED_AUTHENTICATION_PATH |
                                                         CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED),
                         0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        n_login = 0;
        return 0;
}

static JP11Pin *pin_of(const char *text) {
        JP11Pin *pin = NULL;
        assert_int_equal(jp11_pin_new(text, strlen(text), &pin, NULL), 0);
        return pin;
}

static CK_STATE session_state(JP11Session *s) {
        CK_SESSION_INFO si;
        assert_int_equal(jp11_session_functions(s)->C_GetSessionInfo(jp11_session_handle(s), &si), CKR_OK);
        return si.state;
}

static void test_right_pin(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *pin = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st;
        JP11Error e = {};

        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, &st, &e), 0);
        assert_int_equal(n_login, 1);
        assert_true(jp11_session_logged_in(s));
        assert_int_equal(session_state(s), CKS_RW_USER_FUNCTIONS);
        assert_false(st.count_low || st.locked || st.final_try);

        /* Logged in already: success, and no second C_Login is needed to
         * tell (SoftHSM answers CKR_USER_ALREADY_LOGGED_IN). */
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        assert_int_equal(n_login, 2);
        assert_true(jp11_session_logged_in(s));

        assert_int_equal(jp11_logout(s, &e), 0);
        assert_false(jp11_session_logged_in(s));
        assert_int_equal(session_state(s), CKS_RW_PUBLIC_SESSION);
        /* Logging out twice is harmless. */
        assert_int_equal(jp11_logout(s, &e), 0);
}

/* Closing the session that logged in logs the token out: login state is
 * per token and process, so another session sees the difference. */
static void test_close_logs_out(void **state) {
        Fixture *f = *state;
        JP11Session *other = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *pin = pin_of(SOFTHSM_TEST_PIN);
        JP11Session *s = NULL;
        JP11Error e = {};

        other = session_open(f, false);
        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        assert_int_equal(session_state(other), CKS_RO_USER_FUNCTIONS);
        session_close(f, s);
        assert_int_equal(session_state(other), CKS_RO_PUBLIC_SESSION);

        /* A session that found the token logged in by another one does not
         * log it out when it closes. */
        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        JP11Session *second = NULL;
        second = session_open(f, true);
        assert_int_equal(jp11_login(second, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        assert_false(jp11_session_logged_in(second));
        session_close(f, second);
        assert_int_equal(session_state(other), CKS_RO_USER_FUNCTIONS);
        session_close(f, s);
        assert_int_equal(session_state(other), CKS_RO_PUBLIC_SESSION);
}

static void test_wrong_pin(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *wrong = pin_of("9999");
        _cleanup_(jp11_pin_freep) JP11Pin *right = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st;
        JP11Error e = {};

        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, wrong, 0, &st, &e), -EACCES);
        assert_int_equal(e.kind, JP11_ERR_PIN_INCORRECT);
        assert_int_equal(e.rv, CKR_PIN_INCORRECT);
        assert_non_null(strstr(e.message, "wrong user PIN"));
        /* One attempt, never a retry. */
        assert_int_equal(n_login, 1);
        assert_false(jp11_session_logged_in(s));
        assert_int_equal(session_state(s), CKS_RW_PUBLIC_SESSION);
        /* The state read after the attempt: SoftHSM sets COUNT_LOW. */
        assert_true(st.count_low);
        assert_false(st.locked);
        assert_non_null(strstr(e.message, "running low"));

        /* The right PIN still works, and SoftHSM clears COUNT_LOW. */
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, 0, &st, &e), 0);
        assert_int_equal(n_login, 2);
        assert_false(st.count_low);
}

/* SoftHSM 2.6 never locks: after many wrong PINs the right one works and
 * no lock flag ever shows. (Documents the limit of the stand-in.) */
static void test_softhsm_never_locks(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *wrong = pin_of("0000");
        _cleanup_(jp11_pin_freep) JP11Pin *right = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st;
        JP11Error e = {};

        s = session_open(f, true);
        for (int i = 0; i < 12; i++) {
                assert_int_equal(jp11_login(s, JP11_USER_NORMAL, wrong, JP11_LOGIN_CONFIRM_FINAL_TRY, &st, &e),
                                 -EACCES);
                assert_false(st.final_try || st.locked);
        }
        assert_int_equal(n_login, 12);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, 0, &st, &e), 0);
}

static void test_locked_refused(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *right = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st = {};
        JP11Error e = {};

        assert_int_equal(softhsm_set_token_flags(f->hsm, f->serial, CKF_USER_PIN_LOCKED, 0), 0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);

        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, JP11_LOGIN_CONFIRM_FINAL_TRY, &st, &e), -EPERM);
        assert_int_equal(e.kind, JP11_ERR_PIN_LOCKED);
        assert_true(st.locked);
        /* Not sent: SoftHSM would have accepted it. */
        assert_int_equal(n_login, 0);
        assert_false(jp11_session_logged_in(s));
        assert_int_equal(session_state(s), CKS_RW_PUBLIC_SESSION);
}

static void test_final_try(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *right = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st = {};
        JP11Error e = {};

        assert_int_equal(softhsm_set_token_flags(f->hsm, f->serial, CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW,
                                                 0),
                         0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        s = session_open(f, true);

        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, 0, &st, &e), -EAGAIN);
        assert_int_equal(e.kind, JP11_ERR_PIN_FINAL_TRY);
        assert_true(st.final_try);
        assert_int_equal(n_login, 0);
        assert_int_equal(session_state(s), CKS_RW_PUBLIC_SESSION);

        /* The person confirmed: exactly one attempt. */
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, JP11_LOGIN_CONFIRM_FINAL_TRY, &st, &e), 0);
        assert_int_equal(n_login, 1);
        assert_int_equal(session_state(s), CKS_RW_USER_FUNCTIONS);
}

static void test_length_bounds(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *short_pin = pin_of("123");
        JP11Pin *long_pin = NULL;
        char big[256];
        JP11Error e = {};

        s = session_open(f, true);
        /* SoftHSM: 4..255. */
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, short_pin, 0, NULL, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        memset(big, '1', sizeof big);
        assert_int_equal(jp11_pin_new(big, sizeof big, &long_pin, NULL), 0);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, long_pin, 0, NULL, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        jp11_pin_free(long_pin);

        /* No PIN, no PIN pad. */
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, NULL, 0, NULL, &e), -EINVAL);
        assert_int_equal(n_login, 0);
}

/* A token with a PIN pad gets C_Login(NULL, 0), even if a PIN is at hand.
 * SoftHSM has no PIN pad and answers CKR_ARGUMENTS_BAD to a NULL PIN,
 * which shows that the NULL reached it. */
static void test_pinpad(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *right = pin_of(SOFTHSM_TEST_PIN);
        JP11PinState st = {};
        JP11Error e = {};

        assert_int_equal(softhsm_set_token_flags(f->hsm, f->serial, CKF_PROTECTED_AUTHENTICATION_PATH, 0), 0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        s = session_open(f, true);

        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, right, 0, &st, &e), -EINVAL);
        assert_true(st.pinpad);
        assert_int_equal(e.rv, CKR_ARGUMENTS_BAD);
        assert_int_equal(n_login, 1);
        assert_true(last_pin_null);

        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, NULL, 0, &st, &e), -EINVAL);
        assert_int_equal(n_login, 2);
        assert_true(last_pin_null);
}

static void test_so_login(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        _cleanup_(jp11_pin_freep) JP11Pin *wrong = pin_of("87654321");
        JP11Error e = {};

        s = session_open(f, true);
        assert_int_equal(jp11_login(s, JP11_USER_SO, wrong, 0, NULL, &e), -EACCES);
        assert_int_equal(e.kind, JP11_ERR_PIN_INCORRECT);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_login(s, JP11_USER_SO, so, 0, NULL, &e), 0);
        assert_int_equal(session_state(s), CKS_RW_SO_FUNCTIONS);
        assert_int_equal(n_login, 2);
        session_close(f, s);

        /* The SO cannot log in while a read-only session is open. */
        s = session_open(f, false);
        assert_int_equal(jp11_login(s, JP11_USER_SO, so, 0, NULL, &e), -EBUSY);
        assert_int_equal(e.rv, CKR_SESSION_READ_ONLY_EXISTS);
}

/* The SO PIN gets the same care: its final try is not spent unless the
 * person confirmed. */
static void test_so_final_try(void **state) {
        Fixture *f = *state;
        JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *so = pin_of(SOFTHSM_TEST_SO_PIN);
        JP11PinState st = {};
        JP11Error e = {};

        assert_int_equal(softhsm_set_token_flags(f->hsm, f->serial, CKF_SO_PIN_FINAL_TRY, 0), 0);
        assert_int_equal(jp11_module_rescan(f->m, &e), 0);
        s = session_open(f, true);

        assert_int_equal(jp11_login(s, JP11_USER_SO, so, 0, &st, &e), -EAGAIN);
        assert_int_equal(e.kind, JP11_ERR_PIN_FINAL_TRY);
        assert_non_null(strstr(e.message, "security officer"));
        assert_true(st.so_final_try);
        assert_int_equal(n_login, 0);
        assert_int_equal(session_state(s), CKS_RW_PUBLIC_SESSION);

        /* The user's PIN is not concerned. */
        _cleanup_(jp11_pin_freep) JP11Pin *user = pin_of(SOFTHSM_TEST_PIN);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, user, 0, NULL, &e), 0);
        assert_int_equal(jp11_logout(s, &e), 0);
        assert_int_equal(n_login, 1);

        assert_int_equal(jp11_login(s, JP11_USER_SO, so, JP11_LOGIN_CONFIRM_FINAL_TRY, &st, &e), 0);
        assert_int_equal(n_login, 2);
        assert_int_equal(session_state(s), CKS_RW_SO_FUNCTIONS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_right_pin, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_close_logs_out, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_wrong_pin, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_softhsm_never_locks, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_locked_refused, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_final_try, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_length_bounds, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_pinpad, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_so_login, reset, close_sessions),
                cmocka_unit_test_setup_teardown(test_so_final_try, reset, close_sessions),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
