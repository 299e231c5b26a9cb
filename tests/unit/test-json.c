/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl's JSON writer (tools/json.c): exact output for the cases that
 * matter, and Python's json module, an independent and strict parser,
 * reading back every byte value. */

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/json.h"
#include "macro.h"
#include "../lib/run.h"

typedef struct Buf {
        char *data;
        size_t size;
        FILE *f;
        JsonWriter w;
} Buf;

static void buf_open(Buf *b, bool pretty) {
        *b = (Buf) {};
        b->f = open_memstream(&b->data, &b->size);
        assert_non_null(b->f);
        json_writer_init(&b->w, b->f, pretty);
}

/* Ends the writer and returns its result; the text is in b->data. */
static int buf_close(Buf *b) {
        int r = json_writer_end(&b->w);

        assert_int_equal(fclose(b->f), 0);
        return r;
}

static void buf_done(Buf *b) {
        free(b->data);
}

/* One string, written as a whole document. */
static char *quoted(const char *s, size_t n) {
        Buf b;

        buf_open(&b, false);
        json_string_len(&b.w, s, n);
        assert_int_equal(buf_close(&b), 0);
        return b.data;
}

static void assert_quoted(const char *s, size_t n, const char *expect) {
        _cleanup_free_ char *out = quoted(s, n);
        assert_string_equal(out, expect);
}

static void test_escapes(void **state) {
        assert_quoted("plain", 5, "\"plain\"\n");
        assert_quoted("", 0, "\"\"\n");
        assert_quoted("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"\n");
        assert_quoted("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"\n");
        assert_quoted("\x01\x1f\x1b[31m", 7, "\"\\u0001\\u001f\\u001b[31m\"\n");
        /* DEL is no control character for JSON. */
        assert_quoted("\x7f", 1, "\"\x7f\"\n");
        /* An embedded NUL is data too. */
        assert_quoted("a\0b", 3, "\"a\\u0000b\"\n");

        /* Every control character, one by one. */
        for (unsigned c = 0; c < 0x20; c++) {
                char in = (char) c;
                _cleanup_free_ char *out = quoted(&in, 1);
                const char *shorts = "\b\f\n\r\t";
                char expect[16];

                if (c != 0 && strchr(shorts, (int) c))
                        continue;
                snprintf(expect, sizeof expect, "\"\\u%04x\"\n", c);
                assert_string_equal(out, expect);
        }
}

static void test_utf8(void **state) {
        /* Valid UTF-8 passes through untouched: 2, 3 and 4 byte forms, the
         * largest code point, and U+2028 (legal in JSON strings). */
        const char *valid = "Ren\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xe2\x80\xa8";
        _cleanup_free_ char *expect = NULL;
        assert_true(asprintf(&expect, "\"%s\"\n", valid) > 0);
        assert_quoted(valid, strlen(valid), expect);

        /* Each byte of an invalid sequence becomes U+FFFD (EF BF BD). */
        assert_quoted("\xff", 1, "\"\xef\xbf\xbd\"\n");
        assert_quoted("a\xc3", 2, "\"a\xef\xbf\xbd\"\n");                         /* truncated */
        assert_quoted("\xc3z", 2, "\"\xef\xbf\xbdz\"\n");                         /* bad continuation */
        assert_quoted("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"\n");            /* overlong '/' */
        assert_quoted("\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"\n");
        assert_quoted("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"\n"); /* surrogate */
        assert_quoted("\xf4\x90\x80\x80", 4,                                      /* > U+10FFFF */
                      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"\n");
        assert_quoted("\x80", 1, "\"\xef\xbf\xbd\"\n");                           /* lone continuation */
}

static void test_structure(void **state) {
        Buf b;

        buf_open(&b, false);
        json_begin_object(&b.w);
        json_key(&b.w, "a");
        json_int(&b.w, -1);
        json_key(&b.w, "list");
        json_begin_array(&b.w);
        json_uint(&b.w, 1);
        json_bool(&b.w, true);
        json_null(&b.w);
        json_begin_object(&b.w);
        json_end_object(&b.w);
        json_begin_array(&b.w);
        json_end_array(&b.w);
        json_string(&b.w, NULL);
        json_end_array(&b.w);
        json_key(&b.w, "k\"ey");
        json_bool(&b.w, false);
        json_end_object(&b.w);
        assert_int_equal(buf_close(&b), 0);
        assert_string_equal(b.data, "{\"a\":-1,\"list\":[1,true,null,{},[],null],\"k\\\"ey\":false}\n");
        buf_done(&b);
}

static void test_pretty(void **state) {
        Buf b;

        buf_open(&b, true);
        json_begin_array(&b.w);
        json_begin_object(&b.w);
        json_key(&b.w, "Serial");
        json_string(&b.w, "2A3B");
        json_key(&b.w, "Keys");
        json_begin_array(&b.w);
        json_end_array(&b.w);
        json_key(&b.w, "PinFlags");
        json_begin_array(&b.w);
        json_string(&b.w, "count-low");
        json_string(&b.w, "final-try");
        json_end_array(&b.w);
        json_end_object(&b.w);
        json_end_array(&b.w);
        assert_int_equal(buf_close(&b), 0);
        assert_string_equal(b.data,
                            "[\n"
                            "  {\n"
                            "    \"Serial\": \"2A3B\",\n"
                            "    \"Keys\": [],\n"
                            "    \"PinFlags\": [\n"
                            "      \"count-low\",\n"
                            "      \"final-try\"\n"
                            "    ]\n"
                            "  }\n"
                            "]\n");
        buf_done(&b);
}

static void test_numbers(void **state) {
        Buf b;

        buf_open(&b, false);
        json_begin_array(&b.w);
        json_int(&b.w, INT64_MIN);
        json_int(&b.w, INT64_MAX);
        json_uint(&b.w, UINT64_MAX);
        json_uint(&b.w, 1795271747347071);     /* a timestamp in microseconds */
        json_double(&b.w, 0.5);
        json_double(&b.w, NAN);
        json_double(&b.w, INFINITY);
        json_end_array(&b.w);
        assert_int_equal(buf_close(&b), 0);
        assert_string_equal(b.data, "[-9223372036854775808,9223372036854775807,18446744073709551615,"
                                    "1795271747347071,0.5,null,null]\n");
        buf_done(&b);
}

/* Misuse never yields broken JSON silently: the writer says so. */
static void test_misuse(void **state) {
        Buf b;

        /* A value where a key is due. */
        buf_open(&b, false);
        json_begin_object(&b.w);
        json_string(&b.w, "no key");
        json_end_object(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);

        /* A key with no value. */
        buf_open(&b, false);
        json_begin_object(&b.w);
        json_key(&b.w, "dangling");
        json_end_object(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);

        /* A key in an array. */
        buf_open(&b, false);
        json_begin_array(&b.w);
        json_key(&b.w, "k");
        json_end_array(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);

        /* Mismatched and unclosed containers. */
        buf_open(&b, false);
        json_begin_array(&b.w);
        json_end_object(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);

        buf_open(&b, false);
        json_begin_object(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);

        /* Too deep. */
        buf_open(&b, false);
        for (unsigned i = 0; i <= JSON_DEPTH_MAX; i++)
                json_begin_array(&b.w);
        assert_int_equal(buf_close(&b), -EINVAL);
        buf_done(&b);
}

/* Every byte value and a few sequences, written as an array of strings,
 * read back by Python's strict parser: it must accept the document and
 * find exactly the input, with U+FFFD for each byte that is not UTF-8. */
static void test_python_reads_back(void **state) {
        static const char *const samples[] = {
                "holder-1", "Virtual PCD 00 00", "C=FR, O=Dhimyotis, CN=Certigna Root CA",
                "Fran\xc3\xa7ois \xe2\x82\xac \xf0\x9f\x94\x91", "tab\there", "quote\" back\\slash",
        };
        const char *script =
                "import json, sys\n"
                "for s in json.load(sys.stdin):\n"
                "    print(s.encode('utf-8').hex())\n";
        const char *argv[] = { "/usr/bin/python3", "-c", script, NULL };
        _cleanup_free_ char *out = NULL, *expect = NULL;
        size_t expect_size = 0;
        FILE *ef;
        Buf b;
        int status;

        buf_open(&b, false);
        ef = open_memstream(&expect, &expect_size);
        assert_non_null(ef);

        json_begin_array(&b.w);
        for (unsigned c = 1; c < 256; c++) {
                char s[2] = { (char) c, 0 };

                json_string(&b.w, s);
                if (c < 0x80)
                        fprintf(ef, "%02x\n", c);
                else
                        fputs("efbfbd\n", ef);
        }
        for (size_t i = 0; i < ELEMENTSOF(samples); i++) {
                json_string(&b.w, samples[i]);
                for (const unsigned char *p = (const unsigned char *) samples[i]; *p; p++)
                        fprintf(ef, "%02x", *p);
                fputc('\n', ef);
        }
        json_end_array(&b.w);
        assert_int_equal(buf_close(&b), 0);
        assert_int_equal(fclose(ef), 0);

        assert_int_equal(run(argv, NULL, b.data, b.size, &out, NULL, &status), 0);
        assert_int_equal(status, 0);
        assert_string_equal(out, expect);
        buf_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_structure),
                cmocka_unit_test(test_pretty),
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_misuse),
                cmocka_unit_test(test_python_reads_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
