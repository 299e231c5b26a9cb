/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11-login.h"
#include "p11-module.h"
#include "p11-pin.h"

/* A pipe holding 'data' with its write end closed: read_fd sees exactly
 * these bytes, then end of file. */
static int pipe_with(const void *data, size_t len) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], data, len), (ssize_t) len);
        close(p[1]);
        return p[0];
}

static void assert_pin(const JP11Pin *pin, const char *expect) {
        assert_non_null(pin);
        assert_int_equal(jp11_pin_length(pin), strlen(expect));
        assert_memory_equal(jp11_pin_bytes(pin), expect, strlen(expect));
}

static void test_pin_new(void **state) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        JP11Error e = {};
        const uint8_t bytes[] = { '1', 0, '3', 0xc3, 0xa9 }; /* any bytes, NUL included */

        assert_int_equal(jp11_pin_new(bytes, sizeof bytes, &pin, &e), 0);
        assert_int_equal(jp11_pin_length(pin), sizeof bytes);
        assert_memory_equal(jp11_pin_bytes(pin), bytes, sizeof bytes);
        /* A copy, not the caller's buffer. */
        assert_ptr_not_equal(jp11_pin_bytes(pin), bytes);

        JP11Pin *p2 = NULL;
        assert_int_equal(jp11_pin_new("", 0, &p2, &e), -EINVAL);
        assert_int_equal(e.kind, JP11_ERR_INVALID);
        assert_null(p2);
        assert_int_equal(jp11_pin_new(NULL, 4, &p2, &e), -EINVAL);
        assert_null(p2);

        assert_null(jp11_pin_free(NULL));
        assert_int_equal(jp11_pin_length(NULL), 0);
        assert_null(jp11_pin_bytes(NULL));
}

static void read_ok(const char *input, const char *expect) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        JP11Error e = {};
        int fd = pipe_with(input, strlen(input));

        assert_int_equal(jp11_pin_read_fd(fd, &pin, &e), 0);
        assert_pin(pin, expect);
        close(fd);
}

static void read_fails(const void *input, size_t len, int code, JP11ErrorKind kind) {
        JP11Pin *pin = NULL;
        JP11Error e = {};
        int fd = pipe_with(input, len);

        assert_int_equal(jp11_pin_read_fd(fd, &pin, &e), code);
        assert_int_equal(e.kind, kind);
        assert_null(pin);
        close(fd);
}

static void test_read_fd(void **state) {
        read_ok("1234\n", "1234");
        read_ok("1234\r\n", "1234");
        read_ok("1234", "1234");          /* a file without a final newline */
        read_ok("12\r34\n", "12\r34");    /* only a trailing CR goes */
        read_ok("1234\r", "1234\r");      /* CR without LF is part of the PIN */
        read_ok(" 12 34 \n", " 12 34 ");  /* spaces are PIN bytes */

        read_fails("\n", 1, -EINVAL, JP11_ERR_INVALID);
        read_fails("\r\n", 2, -EINVAL, JP11_ERR_INVALID);
        read_fails("", 0, -ENODATA, JP11_ERR_INVALID);

        JP11Error e = {};
        JP11Pin *pin = NULL;
        assert_int_equal(jp11_pin_read_fd(-1, &pin, &e), -EBADF);

        /* A failing read() is named in words. */
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(jp11_pin_read_fd(fd, &pin, &e), -EBADF);
        assert_string_equal(e.message, "reading the PIN failed: Bad file descriptor");
        assert_null(pin);
        close(fd);
}

/* A writer that sends part of a PIN and stalls with the pipe open cannot
 * hold the reader: one deadline covers the whole line. */
static void test_read_fd_timeout(void **state) {
        JP11Error e = {};
        JP11Pin *pin = NULL;
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(write(p[1], "12", 2), 2);
        assert_int_equal(jp11_pin_read_fd_timeout(p[0], 50, &pin, &e), -ETIMEDOUT);
        assert_null(pin);
        assert_int_equal(e.kind, JP11_ERR_INVALID);
        assert_string_equal(e.message, "no complete PIN line arrived in time");

        /* The rest arrives: a new read with a deadline gets the whole line. */
        assert_int_equal(write(p[1], "1234\n", 5), 5);
        assert_int_equal(jp11_pin_read_fd_timeout(p[0], 1000, &pin, &e), 0);
        assert_int_equal(jp11_pin_length(pin), 4);
        assert_memory_equal(jp11_pin_bytes(pin), "1234", 4);
        pin = jp11_pin_free(pin);
        close(p[0]);
        close(p[1]);
}

static void test_read_fd_length(void **state) {
        char buf[300];

        /* 256 bytes is the limit, with or without CRLF. */
        memset(buf, '7', 256);
        buf[256] = '\n';
        buf[257] = '\0';
        {
                _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
                int fd = pipe_with(buf, 257);
                assert_int_equal(jp11_pin_read_fd(fd, &pin, NULL), 0);
                assert_int_equal(jp11_pin_length(pin), 256);
                close(fd);
        }
        buf[256] = '\r';
        buf[257] = '\n';
        {
                _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
                int fd = pipe_with(buf, 258);
                assert_int_equal(jp11_pin_read_fd(fd, &pin, NULL), 0);
                assert_int_equal(jp11_pin_length(pin), 256);
                close(fd);
        }
        /* 257 bytes: refused, with or without newline, however long. */
        memset(buf, '7', sizeof buf);
        buf[257] = '\n';
        read_fails(buf, 258, -E2BIG, JP11_ERR_PIN_LENGTH);
        read_fails(buf, 257, -E2BIG, JP11_ERR_PIN_LENGTH);
        read_fails(buf, sizeof buf, -E2BIG, JP11_ERR_PIN_LENGTH);
}

/* Only the line is consumed: the rest stays for whoever reads next. */
static void test_read_fd_one_line(void **state) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        const char input[] = "1234\r\nnext line\n";
        char rest[64] = "";
        int fd = pipe_with(input, strlen(input));

        assert_int_equal(jp11_pin_read_fd(fd, &pin, NULL), 0);
        assert_pin(pin, "1234");
        assert_int_equal(read(fd, rest, sizeof rest - 1), (ssize_t) strlen("next line\n"));
        assert_string_equal(rest, "next line\n");
        close(fd);
}

/* ---- the decision before C_Login ------------------------------------- */

static JP11PinState state_plain(void) {
        JP11PinState st;
        jp11_pin_state_from_flags(CKF_USER_PIN_INITIALIZED, 4, 8, &st);
        return st;
}

static void test_precheck_plain(void **state) {
        JP11PinState st = state_plain();
        JP11Error e = {};

        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 8, true, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 6, true, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_CONTEXT, 6, true, 0, &e), 0);

        /* No PIN and no PIN pad. */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 0, false, 0, &e), -EINVAL);
        assert_int_equal(e.kind, JP11_ERR_INVALID);

        /* count_low alone is no reason to refuse. */
        jp11_pin_state_from_flags(CKF_USER_PIN_COUNT_LOW, 4, 8, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, 0, &e), 0);

        assert_int_equal(jp11_login_precheck(&st, (JP11UserType) 77, 4, true, 0, &e), -EINVAL);
        assert_int_equal(jp11_login_precheck(NULL, JP11_USER_NORMAL, 4, true, 0, &e), -EINVAL);
}

static void test_precheck_length(void **state) {
        JP11PinState st = state_plain();
        JP11Error e = {};

        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 3, true, 0, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        assert_non_null(strstr(e.message, "at least 4"));
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 9, true, 0, &e), -ERANGE);
        assert_int_equal(e.kind, JP11_ERR_PIN_LENGTH);
        assert_non_null(strstr(e.message, "at most 8"));
        /* The SO PIN has the same bounds. */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 9, true, 0, &e), -ERANGE);
        assert_non_null(strstr(e.message, "security officer"));

        /* A token that gives no maximum (0, or below the minimum). */
        jp11_pin_state_from_flags(0, 4, 0, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 1000, true, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 3, true, 0, &e), -ERANGE);
        jp11_pin_state_from_flags(0, 6, 2, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 1000, true, 0, &e), 0);
}

static void test_precheck_locked(void **state) {
        JP11PinState st;
        JP11Error e = {};

        jp11_pin_state_from_flags(CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY, 4, 8, &st);
        assert_true(st.locked);
        /* Refused even when the person confirmed the final try. */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, JP11_LOGIN_CONFIRM_FINAL_TRY, &e),
                         -EPERM);
        assert_int_equal(e.kind, JP11_ERR_PIN_LOCKED);
        assert_non_null(strstr(e.message, "not tried"));
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_CONTEXT, 4, true, 0, &e), -EPERM);
        /* The SO is not blocked by the user's PIN state... */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 4, true, 0, &e), 0);

        /* ...only by its own. */
        jp11_pin_state_from_flags(CKF_SO_PIN_LOCKED, 4, 8, &st);
        assert_true(st.so_locked);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 4, true, 0, &e), -EPERM);
        assert_int_equal(e.kind, JP11_ERR_PIN_LOCKED);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, 0, &e), 0);
}

static void test_precheck_final_try(void **state) {
        JP11PinState st;
        JP11Error e = {};

        jp11_pin_state_from_flags(CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW, 4, 8, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, 0, &e), -EAGAIN);
        assert_int_equal(e.kind, JP11_ERR_PIN_FINAL_TRY);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_CONTEXT, 4, true, 0, &e), -EAGAIN);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, JP11_LOGIN_CONFIRM_FINAL_TRY, &e),
                         0);
        /* Confirmed, but still too short: refused for length. */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 2, true, JP11_LOGIN_CONFIRM_FINAL_TRY, &e),
                         -ERANGE);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 4, true, 0, &e), 0);

        /* The SO's own final try: refused unless confirmed, PIN pad too. */
        jp11_pin_state_from_flags(CKF_SO_PIN_FINAL_TRY, 4, 8, &st);
        assert_true(st.so_final_try);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 4, true, 0, &e), -EAGAIN);
        assert_int_equal(e.kind, JP11_ERR_PIN_FINAL_TRY);
        assert_non_null(strstr(e.message, "security officer"));
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 4, true, JP11_LOGIN_CONFIRM_FINAL_TRY, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 4, true, 0, &e), 0);
        jp11_pin_state_from_flags(CKF_SO_PIN_FINAL_TRY | CKF_PROTECTED_AUTHENTICATION_PATH, 4, 8, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 0, false, 0, &e), -EAGAIN);
}

static void test_precheck_pinpad(void **state) {
        JP11PinState st;
        JP11Error e = {};

        jp11_pin_state_from_flags(CKF_PROTECTED_AUTHENTICATION_PATH, 4, 8, &st);
        assert_true(st.pinpad);
        /* No PIN needed; a PIN given anyway is not measured. */
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 0, false, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 100, true, 0, &e), 0);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_SO, 0, false, 0, &e), 0);

        /* A PIN pad entry costs a try too. */
        jp11_pin_state_from_flags(CKF_PROTECTED_AUTHENTICATION_PATH | CKF_USER_PIN_FINAL_TRY, 4, 8, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 0, false, 0, &e), -EAGAIN);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 0, false, JP11_LOGIN_CONFIRM_FINAL_TRY, &e), 0);
        jp11_pin_state_from_flags(CKF_PROTECTED_AUTHENTICATION_PATH | CKF_USER_PIN_LOCKED, 4, 8, &st);
        assert_int_equal(jp11_login_precheck(&st, JP11_USER_NORMAL, 0, false, 0, &e), -EPERM);
}

static void test_pin_state_from_flags(void **state) {
        JP11PinState st;

        jp11_pin_state_from_flags(CKF_USER_PIN_INITIALIZED | CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
                                          CKF_USER_PIN_LOCKED | CKF_USER_PIN_TO_BE_CHANGED |
                                          CKF_PROTECTED_AUTHENTICATION_PATH | CKF_SO_PIN_LOCKED,
                                  6, 12, &st);
        assert_true(st.initialized && st.count_low && st.final_try && st.locked && st.to_be_changed &&
                    st.pinpad && st.so_locked);
        assert_int_equal(st.min_len, 6);
        assert_int_equal(st.max_len, 12);

        /* Other flags do not leak into the PIN state. */
        jp11_pin_state_from_flags(CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_SO_PIN_COUNT_LOW, 4,
                                  255, &st);
        assert_false(st.initialized || st.count_low || st.final_try || st.locked || st.to_be_changed ||
                     st.pinpad || st.so_locked || st.so_final_try);
}

static void test_copy_padded(void **state) {
        char out[33];
        const unsigned char label[32] = "alpha                           ";

        jp11_copy_padded(out, sizeof out, label, sizeof label);
        assert_string_equal(out, "alpha");

        /* Full width, no padding. */
        const unsigned char full[16] = { '0', '1', '2', '3', '4', '5', '6', '7',
                                         '8', '9', 'a', 'b', 'c', 'd', 'e', 'f' };
        char out16[17];
        jp11_copy_padded(out16, sizeof out16, full, sizeof full);
        assert_string_equal(out16, "0123456789abcdef");

        /* NUL padding (some modules) and inner spaces kept. */
        const unsigned char nul[8] = { 'a', ' ', 'b', 0, 0, 0, 0, 0 };
        jp11_copy_padded(out, sizeof out, nul, sizeof nul);
        assert_string_equal(out, "a b");

        /* All blank. */
        memset(out, 'x', sizeof out);
        const unsigned char blank[4] = { ' ', ' ', ' ', ' ' };
        jp11_copy_padded(out, sizeof out, blank, sizeof blank);
        assert_string_equal(out, "");

        /* Too small an output is cut, not overrun. */
        char small[4];
        jp11_copy_padded(small, sizeof small, full, sizeof full);
        assert_string_equal(small, "012");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pin_new),
                cmocka_unit_test(test_read_fd),
                cmocka_unit_test(test_read_fd_timeout),
                cmocka_unit_test(test_read_fd_length),
                cmocka_unit_test(test_read_fd_one_line),
                cmocka_unit_test(test_precheck_plain),
                cmocka_unit_test(test_precheck_length),
                cmocka_unit_test(test_precheck_locked),
                cmocka_unit_test(test_precheck_final_try),
                cmocka_unit_test(test_precheck_pinpad),
                cmocka_unit_test(test_pin_state_from_flags),
                cmocka_unit_test(test_copy_padded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
