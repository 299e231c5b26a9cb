/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* How jetonctl shows a job's progress (tools/progress.c) and which exit
 * status jetond's errors give (tools/error-name.c). */

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
#include "../../tools/call-error.h"
#include "../../tools/jetonctl.h"
#include "../../tools/progress.h"
#include "../../tools/text.h"

static const char *bar(const char *state, const char *stage, unsigned percent, size_t columns, char *buf,
                       size_t size) {
        ProgressState s = { .state = state, .stage = stage, .percent = percent };

        return progress_format_bar(&s, columns, buf, size);
}

static size_t count(const char *s, char c) {
        size_t n = 0;

        for (; *s; s++)
                n += *s == c;
        return n;
}

static void test_bar(void **state) {
        char buf[256];

        /* 80 columns: the bar is at its widest, 40. */
        assert_string_equal(bar("running", "generate-key", 50, 80, buf, sizeof(buf)),
                            "[####################                    ]  50% generate-key");
        assert_string_equal(bar("running", "login", 0, 80, buf, sizeof(buf)),
                            "[                                        ]   0% login");
        assert_string_equal(bar("done", "store", 100, 80, buf, sizeof(buf)),
                            "[########################################] 100% store");
        /* Over 100 is clamped. */
        assert_string_equal(bar("running", "store", 250, 80, buf, sizeof(buf)),
                            "[########################################] 100% store");
        /* No stage yet: the state. */
        assert_string_equal(bar("waiting-for-pin", "", 0, 80, buf, sizeof(buf)),
                            "[                                        ]   0% waiting-for-pin");
        assert_string_equal(bar(NULL, NULL, 0, 80, buf, sizeof(buf)),
                            "[                                        ]   0% starting");
}

static void test_bar_fits(void **state) {
        char buf[256];

        /* Never into the last column (no wrap), whatever the width. */
        for (size_t columns = 20; columns <= 120; columns++) {
                const char *s = bar("running", "write-certificate", 33, columns, buf, sizeof(buf));

                assert_non_null(s);
                assert_true(text_width(s) <= columns - 1);
                assert_int_equal(s[0], '[');
                /* The bar keeps at least 10 cells; a third of them filled. */
                assert_true(strchr(s, ']') - s - 1 >= 10);
                assert_int_equal(count(s, '#'), (size_t) (strchr(s, ']') - s - 1) * 33 / 100);
        }
        /* Below 20 columns, 20 is assumed. */
        assert_string_equal(bar("running", "write-certificate", 33, 5, buf, sizeof(buf)),
                            bar("running", "write-certificate", 33, 20, buf + 128, 128));
        /* Too small a buffer is refused, not overrun. */
        assert_null(bar("running", "login", 10, 80, buf, 20));
}

static void test_bar_sanitises(void **state) {
        char buf[256];
        const char *s;

        /* A stage name is the daemon's: no escape sequence reaches the terminal. */
        s = bar("running", "evil\033]0;title\007", 10, 80, buf, sizeof(buf));
        assert_non_null(s);
        assert_null(strchr(s, '\033'));
        assert_null(strchr(s, '\007'));
        /* UTF-8 is cut on a character boundary. */
        s = bar("running", "étape-très-longue-é-é-é-é-é-é-é-é-é", 10, 30, buf, sizeof(buf));
        assert_non_null(s);
        assert_true(text_width(s) <= 29);
        assert_true((s[strlen(s) - 1] & 0xC0) != 0xC0);
        {
                _cleanup_free_ char *again = text_sanitize(s);

                assert_string_equal(again, s);  /* still valid UTF-8 */
        }
}

static void test_line(void **state) {
        ProgressState s = { .state = "running", .stage = "sign-request", .percent = 70 };
        char buf[64];

        assert_string_equal(progress_format_line(&s, buf, sizeof(buf)), "running sign-request 70%");
        s = (ProgressState) { .state = "queued" };
        assert_string_equal(progress_format_line(&s, buf, sizeof(buf)), "queued - 0%");
        s = (ProgressState) { .state = "running", .stage = "a\nb", .percent = 1000 };
        assert_string_equal(progress_format_line(&s, buf, sizeof(buf)), "running a?b 100%");
        assert_null(progress_format_line(&s, buf, 8));
}

static void test_changed(void **state) {
        ProgressState a = { .state = "running", .stage = "login", .percent = 10 };
        ProgressState b = a;

        assert_false(progress_changed(&a, &b));
        b.percent = 11;
        assert_true(progress_changed(&a, &b));
        b = a;
        b.stage = "generate-key";
        assert_true(progress_changed(&a, &b));
        b = a;
        b.state = "failed";
        assert_true(progress_changed(&a, &b));
        /* NULL and "" show the same; 150 and 100 too. */
        a = (ProgressState) { .state = NULL, .stage = "", .percent = 150 };
        b = (ProgressState) { .state = "", .stage = NULL, .percent = 100 };
        assert_false(progress_changed(&a, &b));
}

static void test_exit_status(void **state) {
        assert_int_equal(error_name_exit_status("org.jeton.Jeton1.Error.NotFound"), EXIT_NO_TOKEN);
        assert_int_equal(error_name_exit_status("org.jeton.Jeton1.Error.PermissionDenied"), EXIT_PERMISSION);
        assert_int_equal(error_name_exit_status("org.freedesktop.DBus.Error.AccessDenied"), EXIT_PERMISSION);
        assert_int_equal(error_name_exit_status("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"),
                         EXIT_PERMISSION);
        for (const char *const *n = (const char *const[]) { "PinIncorrect", "PinLocked", "PinFinalTry", "PinLength",
                                                             "NoAgent", NULL }; *n; n++) {
                _cleanup_free_ char *full = NULL;

                assert_true(asprintf(&full, "org.jeton.Jeton1.Error.%s", *n) > 0);
                assert_int_equal(error_name_exit_status(full), EXIT_PIN);
                assert_int_equal(error_name_exit_status(*n), EXIT_PIN);    /* a Job's Result */
        }
        assert_int_equal(error_name_exit_status("org.jeton.Jeton1.Error.Busy"), EXIT_FAILURE);
        assert_int_equal(error_name_exit_status("org.jeton.Jeton1.Error.Failed"), EXIT_FAILURE);
        /* Another service's "Pin..." is not ours. */
        assert_int_equal(error_name_exit_status("org.example.PinIncorrect"), EXIT_FAILURE);
        assert_int_equal(error_name_exit_status(NULL), EXIT_FAILURE);
        assert_string_equal(error_name_short("org.jeton.Jeton1.Error.Busy"), "Busy");
        assert_string_equal(error_name_short("Busy"), "Busy");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bar),
                cmocka_unit_test(test_bar_fits),
                cmocka_unit_test(test_bar_sanitises),
                cmocka_unit_test(test_line),
                cmocka_unit_test(test_changed),
                cmocka_unit_test(test_exit_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
