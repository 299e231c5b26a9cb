/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What "jetonctl batch" shows (tools/batch-format.c): the block of one
 * progress line per reader that "batch watch" redraws, its lines per
 * token done or failed, the assignment table, and the reading of the
 * Batch's Assignments and Readers out of a real D-Bus message. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "../../tools/batch-format.h"
#include "../../tools/text.h"

/* 2026-11-21 15:02:11 UTC */
#define T0 (UINT64_C(1795273331) * USEC_PER_SEC + 123456)

static int setup(void **state) {
        /* The lines show local time: make it UTC. */
        setenv("TZ", "UTC", 1);
        tzset();
        return 0;
}

static ReaderLine job_line(const char *reader, const char *serial, const char *ref, const char *stage,
                           unsigned percent) {
        return (ReaderLine) {
                .reader = reader, .serial = serial, .reference = ref, .has_job = true,
                .progress = { .state = "running", .stage = stage, .percent = percent },
        };
}

static void test_readers_block(void **state) {
        ReaderLine lines[] = {
                job_line("Virtual PCD 0 00 00", "8aa358a76c031ac5", "BD1734971738", "generate-key", 50),
                { .reader = "Virtual PCD 0 00 01", .note = "waiting for a token" },
                job_line("Feitian bR301", "2A3B", "X1", "init-token", 0),
        };
        char **out = NULL;

        assert_int_equal(batch_format_readers(lines, 3, 120, &out), 0);
        /* Columns aligned: reader, serial, order, then the bar or the note. */
        assert_string_equal(out[0], "Virtual PCD 0 00 00  8aa358a76c031ac5  BD1734971738  "
                                    "[####################                    ]  50% generate-key");
        assert_string_equal(out[1], "Virtual PCD 0 00 01  -                 -             waiting for a token");
        assert_string_equal(out[2], "Feitian bR301        2A3B              X1            "
                                    "[                                        ]   0% init-token");
        batch_lines_free(out, 3);
}

static void test_readers_fit(void **state) {
        ReaderLine lines[] = {
                job_line("A reader whose name is far longer than any column", "0123456789abcdef0123456789",
                         "REF-0123456789-0123456789", "write-certificate", 75),
                { .reader = "R2", .serial = "S", .note = "done: take the token out" },
        };

        /* Never into the last column, whatever the width: a redraw moves
         * up exactly one terminal line per reader. */
        for (size_t columns = 1; columns <= 160; columns++) {
                char **out = NULL;

                assert_int_equal(batch_format_readers(lines, 2, columns, &out), 0);
                for (size_t i = 0; i < 2; i++) {
                        assert_true(text_width(out[i]) <= (columns > 1 ? columns - 1 : 1));
                        assert_null(strchr(out[i], '\n'));
                }
                batch_lines_free(out, 2);
        }
        /* Long names are cut so the bar keeps its room. */
        char **out = NULL;

        assert_int_equal(batch_format_readers(lines, 2, 200, &out), 0);
        assert_true(strncmp(out[0], "A reader whose name is far l  ", 30) == 0);
        assert_non_null(strstr(out[0], "]  75% write-certificate"));
        batch_lines_free(out, 2);
}

static void test_readers_sanitised(void **state) {
        ReaderLine l = job_line("Evil\033[2J reader", "ser\nial", "R\tEF", "st\033age", 10);
        char **out = NULL;

        assert_int_equal(batch_format_readers(&l, 1, 100, &out), 0);
        assert_null(strchr(out[0], '\033'));
        assert_null(strchr(out[0], '\n'));
        assert_null(strchr(out[0], '\t'));
        assert_true(strncmp(out[0], "Evil?[2J reader  ser?ial  R?EF  [", 33) == 0);
        batch_lines_free(out, 1);

        /* No readers: an empty block. */
        assert_int_equal(batch_format_readers(NULL, 0, 80, &out), 0);
        batch_lines_free(out, 0);
}

static void test_progress_line(void **state) {
        ReaderLine l = job_line("Virtual PCD 0 00 01", "8aa358a76c031ac5", "BD1", "generate-key", 40);
        ReaderLine idle = { .reader = "Virtual PCD 0 00 00", .note = "waiting for a token" };
        _cleanup_free_ char *a = batch_format_progress_line(T0, &l);
        _cleanup_free_ char *b = batch_format_progress_line(T0, &idle);

        assert_string_equal(a, "15:02:11 reader \"Virtual PCD 0 00 01\" token 8aa358a76c031ac5 order BD1: "
                               "running generate-key 40%");
        assert_string_equal(b, "15:02:11 reader \"Virtual PCD 0 00 00\" token - order -: waiting for a token");
}

static void test_event(void **state) {
        BatchAssignment done = {
                .reference = "BD1734971738", .serial = "8aa358a76c031ac5", .reader = "Virtual PCD 0 00 01",
                .state = "done", .detail = "", .job = "/",
        };
        BatchAssignment failed = {
                .reference = "BD2", .serial = "77", .reader = "R\033]0;x\a", .state = "failed",
                .detail = "token pulled after keygen: reinsert token 77 to finish", .job = "/",
        };
        _cleanup_free_ char *a = batch_format_event(T0, &done, "4287e5a1c3d2b0ff");
        _cleanup_free_ char *b = batch_format_event(T0, &done, NULL);
        _cleanup_free_ char *c = batch_format_event(T0, &done, "4287");
        _cleanup_free_ char *d = batch_format_event(T0, &failed, NULL);

        assert_string_equal(a, "15:02:11 done    BD1734971738 -> token 8aa358a76c031ac5 (reader "
                               "\"Virtual PCD 0 00 01\") key 4287e5a1…");
        assert_string_equal(b, "15:02:11 done    BD1734971738 -> token 8aa358a76c031ac5 (reader "
                               "\"Virtual PCD 0 00 01\")");
        assert_string_equal(c, "15:02:11 done    BD1734971738 -> token 8aa358a76c031ac5 (reader "
                               "\"Virtual PCD 0 00 01\") key 4287");
        /* Escape sequences from a reader name never reach the terminal. */
        assert_string_equal(d, "15:02:11 failed  BD2 -> token 77 (reader \"R?]0;x?\"): token pulled after "
                               "keygen: reinsert token 77 to finish");
        assert_true(batch_assignment_final("done"));
        assert_true(batch_assignment_final("failed"));
        assert_false(batch_assignment_final("provisioning"));
        assert_false(batch_assignment_final(NULL));
}

static void test_table(void **state) {
        BatchAssignment a[] = {
                { "BD1734971738", "8aa358a76c031ac5", "Virtual PCD 0 00 01", "done", "", "/" },
                { "BD2", "", "", "queued", "", "/" },
                { "BD3", "77", "R", "failed", "PIN\nlocked", "/org/jeton/Jeton1/job/4" },
        };
        char **cells = NULL, *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert_int_equal(batch_assignment_cells(a, 3, &cells), 0);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        batch_print_table(f, batch_assignment_headers, BATCH_ASSIGNMENT_COLUMNS, cells, 3, true);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf,
                            "ORDER         TOKEN             READER               STATE   DETAIL\n"
                            "BD1734971738  8aa358a76c031ac5  Virtual PCD 0 00 01  done    -\n"
                            "BD2           -                 -                    queued  -\n"
                            "BD3           77                R                    failed  PIN?locked\n");
        free(buf);

        /* No legend: no header, widths from the cells only. */
        buf = NULL;
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        batch_print_table(f, batch_assignment_headers, BATCH_ASSIGNMENT_COLUMNS, cells + 5, 1, false);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, "BD2  -  -  queued  -\n");
        free(buf);
        batch_lines_free(cells, 3 * BATCH_ASSIGNMENT_COLUMNS);
}

/* Assignments and Readers as jetond sends them, through a real sd-bus
 * message read into a BusValue. */
static BusValue *read_props(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        BusValue *v = NULL;
        int fds[2];

        /* A message needs a bus that is open: one end of a socket pair
         * (only the authentication is sent, never answered). */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(sd_bus_new(&bus), 0);
        assert_int_equal(sd_bus_set_fd(bus, fds[0], fds[0]), 0);
        assert_true(sd_bus_start(bus) >= 0);
        assert_int_equal(sd_bus_message_new_signal(bus, &m, "/x", "x.y", "Z"), 0);
        assert_true(sd_bus_message_append(m, "a{sv}", 2,
                                          "Assignments", "a(ssssso)", 3,
                                          "BD1", "S1", "R1", "done", "", "/",
                                          "BD2", "S2", "R2", "provisioning", "", "/org/jeton/Jeton1/job/7",
                                          "BD3", "S1", "R1", "failed", "pulled", "/",
                                          "Readers", "a(sso)", 2,
                                          "R1", "", "/",
                                          "R2", "S2", "/org/jeton/Jeton1/job/7") >= 0);
        assert_true(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_true(bus_value_read(m, &v) >= 0);
        close(fds[1]);
        return v;
}

static void test_from_value(void **state) {
        _cleanup_(bus_value_freep) BusValue *props = read_props();
        _cleanup_free_ BatchAssignment *a = NULL;
        _cleanup_free_ BatchReader *r = NULL;
        size_t n_a, n_r;
        ReaderLine l;

        assert_int_equal(batch_assignments_from_value(bus_value_get(props, "Assignments"), &a, &n_a), 0);
        assert_int_equal(n_a, 3);
        assert_string_equal(a[1].reference, "BD2");
        assert_string_equal(a[1].state, "provisioning");
        assert_string_equal(a[1].job, "/org/jeton/Jeton1/job/7");
        assert_int_equal(batch_readers_from_value(bus_value_get(props, "Readers"), &r, &n_r), 0);
        assert_int_equal(n_r, 2);
        assert_string_equal(r[1].serial, "S2");

        /* The token working now wins over its earlier assignment. */
        assert_ptr_equal(batch_assignment_of_token(a, n_a, "S2"), a + 1);
        /* A token with two assignments, none working: the last one. */
        assert_ptr_equal(batch_assignment_of_token(a, n_a, "S1"), a + 2);
        assert_null(batch_assignment_of_token(a, n_a, ""));
        assert_null(batch_assignment_of_token(a, n_a, "S9"));

        batch_reader_line(r + 0, a, n_a, NULL, &l);
        assert_false(l.has_job);
        assert_string_equal(l.note, "waiting for a token");
        batch_reader_line(r + 1, a, n_a, bus_value_get(props, "Readers"), &l);
        assert_true(l.has_job);
        assert_string_equal(l.reference, "BD2");

        /* A missing property is empty; one of the wrong shape is refused. */
        {
                _cleanup_free_ BatchAssignment *none = NULL;
                _cleanup_free_ BatchReader *bad = NULL;
                size_t n;

                assert_int_equal(batch_assignments_from_value(NULL, &none, &n), 0);
                assert_int_equal(n, 0);
                assert_int_equal(batch_readers_from_value(bus_value_get(props, "Assignments"), &bad, &n),
                                 -EBADMSG);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_readers_block),
                cmocka_unit_test(test_readers_fit),
                cmocka_unit_test(test_readers_sanitised),
                cmocka_unit_test(test_progress_line),
                cmocka_unit_test(test_event),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_from_value),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
