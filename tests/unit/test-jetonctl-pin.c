/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Where jetonctl reads a PIN from (tools/pin-read.c): one line of a file
 * descriptor, and the PIN file's permission check. Real pipes and files. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "../../tools/pin-read.h"

/* A pipe holding data (then closed for writing): its read end. */
static int pipe_with(const char *data, size_t len) {
        int fds[2];

        assert_int_equal(pipe(fds), 0);
        assert_int_equal(write(fds[1], data, len), (ssize_t) len);
        close(fds[1]);
        return fds[0];
}

static void assert_reads(const char *data, size_t len, int expect, const char *pin) {
        _cleanup_(pin_buffer_freep) PinBuffer *p = NULL;
        int fd = pipe_with(data, len);

        assert_int_equal(pin_buffer_new(&p), 0);
        assert_int_equal(pin_read_line(fd, p), expect);
        if (expect >= 0) {
                assert_string_equal(p->data, pin);
                assert_int_equal(p->len, strlen(pin));
        } else {
                /* Nothing of a refused line is left behind. */
                for (size_t i = 0; i < sizeof(p->data); i++)
                        assert_int_equal(p->data[i], 0);
                assert_int_equal(p->len, 0);
        }
        close(fd);
}

static void test_read_line(void **state) {
        assert_reads("123456\n", 7, 6, "123456");
        assert_reads("123456\r\n", 8, 6, "123456");            /* CRLF, from a Windows-made file */
        assert_reads("123456", 6, 6, "123456");                /* no final newline */
        assert_reads("\n", 1, 0, "");
        assert_reads("12 34\r\n", 7, 5, "12 34");              /* inner blanks are the PIN's */
        assert_reads("12\r34\n", 6, 5, "12\r34");              /* only a final CR goes */
        assert_reads("", 0, -ENODATA, NULL);
        assert_reads("12\0" "34\n", 6, -EBADMSG, NULL);
}

static void test_read_stops_at_line(void **state) {
        _cleanup_(pin_buffer_freep) PinBuffer *p = NULL;
        char rest[16] = {};
        int fd = pipe_with("first\nsecond\n", 13);

        assert_int_equal(pin_buffer_new(&p), 0);
        assert_int_equal(pin_read_line(fd, p), 5);
        assert_string_equal(p->data, "first");
        /* Nothing after the line was consumed. */
        assert_int_equal(read(fd, rest, sizeof(rest)), 7);
        assert_string_equal(rest, "second\n");
        close(fd);
}

static void test_read_too_long(void **state) {
        char line[PIN_MAX + 3];

        /* Exactly PIN_MAX bytes fit, also with a CRLF. */
        memset(line, '7', PIN_MAX);
        line[PIN_MAX] = '\n';
        memset(line + PIN_MAX + 1, 0, 2);
        {
                char expect[PIN_MAX + 1];

                memset(expect, '7', PIN_MAX);
                expect[PIN_MAX] = '\0';
                assert_reads(line, PIN_MAX + 1, PIN_MAX, expect);
                line[PIN_MAX] = '\r';
                line[PIN_MAX + 1] = '\n';
                assert_reads(line, PIN_MAX + 2, PIN_MAX, expect);
        }
        /* One more is refused, with or without a newline after it. */
        memset(line, '7', PIN_MAX + 1);
        line[PIN_MAX + 1] = '\n';
        assert_reads(line, PIN_MAX + 2, -EMSGSIZE, NULL);
        assert_reads(line, PIN_MAX + 1, -EMSGSIZE, NULL);
        memset(line, '7', PIN_MAX + 2);
        line[PIN_MAX + 2] = '\n';
        assert_reads(line, PIN_MAX + 3, -EMSGSIZE, NULL);
}

static void test_read_error(void **state) {
        _cleanup_(pin_buffer_freep) PinBuffer *p = NULL;

        assert_int_equal(pin_buffer_new(&p), 0);
        assert_int_equal(pin_read_line(-1, p), -EBADF);
}

static void test_file_check(void **state) {
        char dir[] = "/tmp/test-jetonctl-pin-XXXXXX";
        _cleanup_free_ char *file = NULL;
        struct stat st;
        int fd;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&file, "%s/pin", dir) > 0);
        fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);

        static const struct {
                mode_t mode;
                int expect;
        } modes[] = {
                { 0600, 0 }, { 0400, 0 }, { 0700, 0 }, { 0000, 0 },
                { 0640, -EACCES }, { 0604, -EACCES }, { 0644, -EACCES },
                { 0620, -EACCES }, { 0602, -EACCES }, { 0610, -EACCES }, { 0601, -EACCES },
        };
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                assert_int_equal(chmod(file, modes[i].mode), 0);
                assert_int_equal(stat(file, &st), 0);
                assert_int_equal(pin_file_check(&st, st.st_uid), modes[i].expect);
        }

        /* Someone else's file: refused, unless root's. */
        assert_int_equal(chmod(file, 0600), 0);
        assert_int_equal(stat(file, &st), 0);
        st.st_uid = 4242;
        assert_int_equal(pin_file_check(&st, 4243), -EPERM);
        st.st_uid = 0;
        assert_int_equal(pin_file_check(&st, 4243), 0);

        /* Not a regular file. */
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(pin_file_check(&st, st.st_uid), -EISDIR);
        assert_int_equal(stat("/dev/null", &st), 0);
        assert_int_equal(pin_file_check(&st, st.st_uid), -EINVAL);

        assert_int_equal(unlink(file), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read_line),
                cmocka_unit_test(test_read_stops_at_line),
                cmocka_unit_test(test_read_too_long),
                cmocka_unit_test(test_read_error),
                cmocka_unit_test(test_file_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
