/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11-error.h"

static const struct {
        CK_RV rv;
        const char *name;
        JP11ErrorKind kind;
        int errnum;
} expected[] = {
        { CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", JP11_ERR_PIN_INCORRECT, EACCES },
        { CKR_PIN_LOCKED, "CKR_PIN_LOCKED", JP11_ERR_PIN_LOCKED, EPERM },
        { CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", JP11_ERR_PIN_LENGTH, ERANGE },
        { CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", JP11_ERR_PIN_EXPIRED, EKEYEXPIRED },
        { CKR_PIN_INVALID, "CKR_PIN_INVALID", JP11_ERR_INVALID, EINVAL },
        { CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", JP11_ERR_TOKEN_REMOVED, ENODEV },
        { CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", JP11_ERR_TOKEN_REMOVED, ENODEV },
        { CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", JP11_ERR_TOKEN_REMOVED, ENODEV },
        { CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", JP11_ERR_NO_TOKEN, ENOMEDIUM },
        { CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", JP11_ERR_NO_TOKEN, EMEDIUMTYPE },
        { CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", JP11_ERR_DEVICE, EIO },
        { CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", JP11_ERR_DEVICE, ENOSPC },
        { CKR_HOST_MEMORY, "CKR_HOST_MEMORY", JP11_ERR_DEVICE, ENOMEM },
        { CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", JP11_ERR_DEVICE, EIO },
        { CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", JP11_ERR_DEVICE, EIO },
        { CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED", JP11_ERR_DEVICE, ECANCELED },
        { CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", JP11_ERR_NOT_LOGGED_IN, EACCES },
        { CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", JP11_ERR_NOT_LOGGED_IN, ENOKEY },
        { CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", JP11_ERR_BUSY, EALREADY },
        { CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", JP11_ERR_BUSY, EBUSY },
        { CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", JP11_ERR_READ_ONLY, EROFS },
        { CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", JP11_ERR_READ_ONLY, EROFS },
        { CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS", JP11_ERR_BUSY, EBUSY },
        { CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS", JP11_ERR_BUSY, EBUSY },
        { CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", JP11_ERR_BUSY, EBUSY },
        { CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", JP11_ERR_UNSUPPORTED, EACCES },
        { CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED", JP11_ERR_UNSUPPORTED, EPERM },
        { CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", JP11_ERR_NOT_FOUND, ENOENT },
        { CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", JP11_ERR_NOT_FOUND, ENOENT },
        { CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", JP11_ERR_NOT_FOUND, ENXIO },
        { CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID", JP11_ERR_MISMATCH, EBADMSG },
        { CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", JP11_ERR_INTERNAL, EINVAL },
        { CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", JP11_ERR_INTERNAL, ENOBUFS },
        { CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", JP11_ERR_MODULE, EIO },
        { CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED", JP11_ERR_MODULE, EALREADY },
        { CKR_CANT_LOCK, "CKR_CANT_LOCK", JP11_ERR_MODULE, ENOTSUP },
        { CKR_LIBRARY_LOAD_FAILED, "CKR_LIBRARY_LOAD_FAILED", JP11_ERR_MODULE, ELIBACC },
        { CKR_PIN_TOO_WEAK, "CKR_PIN_TOO_WEAK", JP11_ERR_INVALID, EINVAL },
        { CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", JP11_ERR_INVALID, EINVAL },
        { CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG", JP11_ERR_UNSUPPORTED, EOPNOTSUPP },
        { CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED", JP11_ERR_UNSUPPORTED, EPERM },
};

static void test_mapping(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                CK_RV rv = expected[i].rv;
                assert_string_equal(jp11_rv_name(rv), expected[i].name);
                assert_int_equal(jp11_rv_to_kind(rv), expected[i].kind);
                assert_int_equal(jp11_rv_to_errno(rv), expected[i].errnum);

                JP11Error e = {};
                assert_int_equal(jp11_error_from_rv(&e, rv, "doing X"), -expected[i].errnum);
                assert_int_equal(e.code, -expected[i].errnum);
                assert_int_equal(e.kind, expected[i].kind);
                assert_int_equal(e.rv, rv);
                /* The message names the operation and the code. */
                assert_non_null(strstr(e.message, "doing X"));
                assert_non_null(strstr(e.message, expected[i].name));
        }
}

static void test_ok(void **state) {
        assert_int_equal(jp11_rv_to_kind(CKR_OK), JP11_ERR_NONE);
        assert_int_equal(jp11_rv_to_errno(CKR_OK), 0);
        assert_string_equal(jp11_rv_name(CKR_OK), "CKR_OK");

        /* Misuse still yields an error, never success. */
        JP11Error e = {};
        assert_true(jp11_error_from_rv(&e, CKR_OK, "x") < 0);
        assert_true(e.code < 0);
}

static void test_messages(void **state) {
        JP11Error e = {};

        jp11_error_from_rv(&e, CKR_PIN_INCORRECT, "logging in");
        assert_string_equal(e.message, "logging in: wrong PIN (CKR_PIN_INCORRECT)");

        jp11_error_from_rv(&e, CKR_DEVICE_REMOVED, "generating the key pair");
        assert_string_equal(e.message, "the token was removed during generating the key pair (CKR_DEVICE_REMOVED)");

        jp11_error_from_rv(&e, CKR_PIN_LOCKED, "logging in");
        assert_non_null(strstr(e.message, "blocked"));

        jp11_error_from_rv(&e, CKR_TOKEN_NOT_PRESENT, "listing keys");
        assert_non_null(strstr(e.message, "no token in the slot during listing keys"));

        /* No 'what': still a sentence. */
        jp11_error_from_rv(&e, CKR_PIN_INCORRECT, NULL);
        assert_non_null(strstr(e.message, "wrong PIN"));
}

static void test_unknown(void **state) {
        JP11Error e = {};

        assert_null(jp11_rv_name(0x9999));
        assert_int_equal(jp11_rv_to_kind(0x9999), JP11_ERR_DEVICE);
        assert_int_equal(jp11_rv_to_errno(0x9999), EIO);
        assert_int_equal(jp11_error_from_rv(&e, 0x9999, "signing"), -EIO);
        assert_non_null(strstr(e.message, "signing"));
        assert_non_null(strstr(e.message, "0x00009999"));
        assert_int_equal(e.rv, 0x9999);

        assert_null(jp11_rv_name(CKR_VENDOR_DEFINED | 0x42));
        assert_int_equal(jp11_error_from_rv(&e, CKR_VENDOR_DEFINED | 0x42, "signing"), -EIO);
        assert_int_equal(e.kind, JP11_ERR_DEVICE);
        assert_non_null(strstr(e.message, "vendor error 0x80000042"));
}

static void test_error_set(void **state) {
        JP11Error e = {};

        /* NULL error: the code still comes back. */
        assert_int_equal(jp11_error_set(NULL, -ENOENT, JP11_ERR_NOT_FOUND, "x %d", 1), -ENOENT);
        assert_int_equal(jp11_error_from_rv(NULL, CKR_PIN_INCORRECT, "x"), -EACCES);

        e.rv = CKR_PIN_INCORRECT;
        assert_int_equal(jp11_error_set(&e, -ENOENT, JP11_ERR_NOT_FOUND, "no key %s", "k1"), -ENOENT);
        assert_int_equal(e.code, -ENOENT);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
        assert_int_equal(e.rv, CKR_OK);
        assert_string_equal(e.message, "no key k1");

        /* A non-negative code is never passed through as success. */
        assert_true(jp11_error_set(&e, 0, JP11_ERR_INTERNAL, "oops") < 0);
        assert_true(e.code < 0);

        /* The old message may be an argument of the new one. */
        jp11_error_set(&e, -EIO, JP11_ERR_DEVICE, "inner");
        jp11_error_set(&e, -EIO, JP11_ERR_DEVICE, "outer: %s", e.message);
        assert_string_equal(e.message, "outer: inner");

        /* Long messages are cut, always terminated. */
        char big[2000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        jp11_error_set(&e, -EIO, JP11_ERR_DEVICE, "%s", big);
        assert_int_equal(strlen(e.message), sizeof e.message - 1);

        jp11_error_clear(&e);
        assert_int_equal(e.code, 0);
        assert_int_equal(e.kind, JP11_ERR_NONE);
        assert_string_equal(e.message, "");
        jp11_error_clear(NULL);
}

static void test_kind_names(void **state) {
        for (int i = 0; i < _JP11_ERR_MAX; i++) {
                const char *n = jp11_error_kind_name(i);
                assert_non_null(n);
                for (int j = 0; j < i; j++)
                        assert_string_not_equal(n, jp11_error_kind_name(j));
        }
        assert_string_equal(jp11_error_kind_name(JP11_ERR_PIN_INCORRECT), "pin-incorrect");
        assert_string_equal(jp11_error_kind_name(JP11_ERR_TOKEN_REMOVED), "token-removed");
        assert_null(jp11_error_kind_name(_JP11_ERR_MAX));
        assert_null(jp11_error_kind_name((JP11ErrorKind) -1));
}

/* Every code the header defines has a name, a kind and an errno. */
static void test_all_known(void **state) {
        for (CK_RV rv = 1; rv < 0x300; rv++) {
                const char *n = jp11_rv_name(rv);
                if (!n)
                        continue;
                assert_memory_equal(n, "CKR_", 4);
                assert_int_not_equal(jp11_rv_to_kind(rv), JP11_ERR_NONE);
                assert_true(jp11_rv_to_errno(rv) > 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mapping),   cmocka_unit_test(test_ok),
                cmocka_unit_test(test_messages),  cmocka_unit_test(test_unknown),
                cmocka_unit_test(test_error_set), cmocka_unit_test(test_kind_names),
                cmocka_unit_test(test_all_known),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
