/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Module loading, slot listing, rescan and sessions against a real
 * SoftHSM2, checked against pkcs11-tool's view of the same tokens. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/run.h"
#include "../lib/softhsm.h"
#include "p11-module.h"

typedef struct Fixture {
        SoftHSM *hsm;
        char serial_a[17], serial_b[17];
} Fixture;

/* Sessions live here, not in _cleanup_ locals: a failed assertion longjmps
 * past cleanups, and a leaked session would make a later rescan wait
 * forever instead of letting the next test run. */
static JP11Session *sessions[4];

static JP11Session *session_open(JP11Module *m, CK_SLOT_ID slot, bool rw) {
        JP11Error e = {};
        for (size_t i = 0; i < ELEMENTSOF(sessions); i++)
                if (!sessions[i]) {
                        assert_int_equal(jp11_session_open(m, slot, rw, &sessions[i], &e), 0);
                        return sessions[i];
                }
        fail_msg("too many sessions");
        return NULL;
}

static void session_close(JP11Session *s) {
        for (size_t i = 0; i < ELEMENTSOF(sessions); i++)
                if (sessions[i] == s)
                        sessions[i] = jp11_session_close(s);
}

static int close_sessions(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(sessions); i++)
                sessions[i] = jp11_session_close(sessions[i]);
        return 0;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        assert_int_equal(softhsm_new(&f->hsm), 0);
        assert_int_equal(softhsm_add_token(f->hsm, "alpha", SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, f->serial_a), 0);
        assert_int_equal(softhsm_add_token(f->hsm, "beta token", SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, f->serial_b),
                         0);
        assert_string_not_equal(f->serial_a, f->serial_b);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (!f)
                return 0;
        softhsm_free(f->hsm);
        free(f);
        return 0;
}

typedef struct ToolToken {
        char label[64], manufacturer[64], model[64], serial[64];
} ToolToken;

static void value_after_colon(const char *line, char *out, size_t size) {
        const char *p = strchr(line, ':');
        assert_non_null(p);
        p++;
        p += strspn(p, " ");
        snprintf(out, size, "%s", p);
}

/* The initialised tokens as `pkcs11-tool -L` shows them. */
static size_t tool_tokens(ToolToken *out, size_t max) {
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "-L", NULL };
        _cleanup_free_ char *text = NULL;
        size_t n = 0;

        assert_int_equal(run_simple(argv, &text), 0);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *p = line + strspn(line, " ");
                if (strncmp(p, "token label", 11) == 0) {
                        assert_true(n < max);
                        out[n++] = (ToolToken) {};
                        value_after_colon(p, out[n - 1].label, sizeof out[n - 1].label);
                } else if (n > 0 && strncmp(p, "token manufacturer", 18) == 0)
                        value_after_colon(p, out[n - 1].manufacturer, sizeof out[n - 1].manufacturer);
                else if (n > 0 && strncmp(p, "token model", 11) == 0)
                        value_after_colon(p, out[n - 1].model, sizeof out[n - 1].model);
                else if (n > 0 && strncmp(p, "serial num", 10) == 0)
                        value_after_colon(p, out[n - 1].serial, sizeof out[n - 1].serial);
        }
        return n;
}

static void test_load_info(void **state) {
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_string_equal(jp11_module_path(m), SOFTHSM_MODULE);
        assert_non_null(jp11_module_functions(m));

        const JP11ModuleInfo *info = jp11_module_info(m);
        assert_string_equal(info->manufacturer, "SoftHSM");
        assert_int_equal(info->major, 2);
        assert_int_equal(info->cryptoki_major, 2);

        /* pkcs11-tool reads the same C_GetInfo. */
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--show-info", NULL };
        _cleanup_free_ char *out = NULL;
        char expect[128];
        assert_int_equal(run_simple(argv, &out), 0);
        snprintf(expect, sizeof expect, "Cryptoki version %u.%u", info->cryptoki_major, info->cryptoki_minor);
        assert_non_null(strstr(out, expect));
        snprintf(expect, sizeof expect, "(ver %u.%u)", info->major, info->minor);
        assert_non_null(strstr(out, expect));
        snprintf(expect, sizeof expect, "Manufacturer     %s", info->manufacturer);
        assert_non_null(strstr(out, expect));
}

static void test_list_tokens(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        _cleanup_free_ JP11Slot *slots = NULL;
        ToolToken tool[8];
        size_t n = 0, n_tool, n_init = 0, n_blank = 0;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(jp11_module_list_slots(m, &slots, &n, &e), 0);
        n_tool = tool_tokens(tool, ELEMENTSOF(tool));
        assert_int_equal(n_tool, 2);

        for (size_t i = 0; i < n; i++) {
                const JP11Slot *s = &slots[i];
                assert_true(s->token_present); /* SoftHSM: every slot has a token */
                assert_non_null(strstr(s->description, "SoftHSM slot ID"));
                assert_string_equal(s->manufacturer, "SoftHSM project");
                if (!s->token.initialized) {
                        n_blank++;
                        assert_string_equal(s->token.label, "");
                        continue;
                }
                n_init++;
                size_t j;
                for (j = 0; j < n_tool; j++)
                        if (streq(tool[j].serial, s->token.serial))
                                break;
                assert_true(j < n_tool);
                assert_string_equal(s->token.label, tool[j].label);
                assert_string_equal(s->token.manufacturer, tool[j].manufacturer);
                assert_string_equal(s->token.model, tool[j].model);
                assert_true(streq(s->token.serial, f->serial_a) || streq(s->token.serial, f->serial_b));

                /* Flags and PIN state as SoftHSM sets them for a fresh token. */
                assert_true(s->token.rng);
                assert_true(s->token.login_required);
                assert_false(s->token.write_protected);
                assert_true(s->token.flags & CKF_TOKEN_INITIALIZED);
                assert_true(s->token.pin.initialized);
                assert_false(s->token.pin.locked || s->token.pin.final_try || s->token.pin.pinpad);
                assert_int_equal(s->token.pin.min_len, 4);
                assert_int_equal(s->token.pin.max_len, 255);

                /* get_slot reads the same thing again. */
                JP11Slot again;
                assert_int_equal(jp11_module_get_slot(m, s->id, &again, &e), 0);
                assert_string_equal(again.token.serial, s->token.serial);
                assert_string_equal(again.token.label, s->token.label);
        }
        assert_int_equal(n_init, 2);
        assert_int_equal(n_blank, 1); /* SoftHSM's spare slot */
}

static void test_bad_module(void **state) {
        JP11Module *m = NULL;
        JP11Error e = {};

        assert_int_equal(jp11_module_load("/nonexistent/libnothing.so", &m, &e), -ENOENT);
        assert_null(m);
        assert_int_equal(e.kind, JP11_ERR_MODULE);
        assert_non_null(strstr(e.message, "/nonexistent/libnothing.so"));

        /* A shared library that is not a PKCS#11 module. */
        const char *libc = NULL;
        const char *candidates[] = { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                                     "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1" };
        for (size_t i = 0; i < ELEMENTSOF(candidates) && !libc; i++)
                if (access(candidates[i], R_OK) == 0)
                        libc = candidates[i];
        assert_non_null(libc);
        assert_int_equal(jp11_module_load(libc, &m, &e), -ELIBBAD);
        assert_int_equal(e.kind, JP11_ERR_MODULE);
        assert_non_null(strstr(e.message, libc));
        assert_non_null(strstr(e.message, "not a PKCS#11 module"));

        /* A file that is not a shared library at all. */
        assert_int_equal(jp11_module_load("/etc/hostname", &m, &e), -ELIBBAD);
        assert_int_equal(e.kind, JP11_ERR_MODULE);
        assert_non_null(strstr(e.message, "/etc/hostname"));

        assert_int_equal(jp11_module_load("", &m, &e), -EINVAL);
        assert_int_equal(e.kind, JP11_ERR_INVALID);
        assert_null(jp11_module_unload(NULL));
}

/* The same module loaded twice is one instance, finalized by the last
 * unload only. */
static void test_load_twice(void **state) {
        Fixture *f = *state;
        JP11Module *m1 = NULL, *m2 = NULL;
        JP11Slot slot;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m1, &e), 0);
        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m2, &e), 0);
        assert_ptr_equal(m1, m2);
        assert_null(jp11_module_unload(m2));
        /* Still initialised: a finalized module would answer
         * CKR_CRYPTOKI_NOT_INITIALIZED. */
        assert_int_equal(jp11_module_find_token(m1, f->serial_a, NULL, &slot, &e), 0);
        assert_null(jp11_module_unload(m1));
}

static void test_find_token(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Slot slot;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(jp11_module_find_token(m, f->serial_b, NULL, &slot, &e), 0);
        assert_string_equal(slot.token.label, "beta token");
        assert_string_equal(slot.token.serial, f->serial_b);
        assert_int_equal(jp11_module_find_token(m, f->serial_a, "SoftHSM project", &slot, &e), 0);
        assert_string_equal(slot.token.label, "alpha");

        assert_int_equal(jp11_module_find_token(m, f->serial_a, "Other Vendor", &slot, &e), -ENXIO);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
        assert_int_equal(jp11_module_find_token(m, "0000000000000000", NULL, &slot, &e), -ENXIO);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
        assert_non_null(strstr(e.message, "0000000000000000"));

        assert_int_equal(jp11_module_get_slot(m, 0xdeadbeef, &slot, &e), -ENXIO);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
}

static void test_sessions(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Session *ro = NULL, *rw = NULL;
        JP11Slot slot;
        JP11TokenInfo ti;
        CK_SESSION_INFO si;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(jp11_module_find_token(m, f->serial_a, NULL, &slot, &e), 0);

        ro = session_open(m, slot.id, false);
        rw = session_open(m, slot.id, true);
        assert_ptr_equal(jp11_session_module(ro), m);
        assert_int_equal(jp11_session_slot(rw), slot.id);
        assert_ptr_equal(jp11_session_functions(rw), jp11_module_functions(m));
        assert_false(jp11_session_logged_in(rw));

        CK_FUNCTION_LIST_PTR fl = jp11_module_functions(m);
        assert_int_equal(fl->C_GetSessionInfo(jp11_session_handle(ro), &si), CKR_OK);
        assert_false(si.flags & CKF_RW_SESSION);
        assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
        assert_int_equal(fl->C_GetSessionInfo(jp11_session_handle(rw), &si), CKR_OK);
        assert_true(si.flags & CKF_RW_SESSION);
        assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);

        assert_int_equal(jp11_session_token_info(rw, &ti, &e), 0);
        assert_string_equal(ti.serial, f->serial_a);
        assert_string_equal(ti.label, "alpha");

        CK_SESSION_HANDLE h = jp11_session_handle(ro);
        session_close(ro);
        assert_int_equal(fl->C_GetSessionInfo(h, &si), CKR_SESSION_HANDLE_INVALID);
        session_close(rw);
        assert_null(jp11_session_close(NULL));

        assert_int_equal(jp11_session_open(m, 0xdeadbeef, false, &ro, &e), -ENXIO);
        assert_int_equal(e.rv, CKR_SLOT_ID_INVALID);
}

/* SoftHSM only sees a token created by another process after
 * C_Finalize + C_Initialize. */
static void test_rescan_new_token(void **state) {
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Slot slot;
        char serial[17];
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(softhsm_add_token(((Fixture *) *state)->hsm, "gamma", SOFTHSM_TEST_SO_PIN,
                                           SOFTHSM_TEST_PIN, serial),
                         0);

        assert_int_equal(jp11_module_find_token(m, serial, NULL, &slot, &e), -ENXIO);
        assert_int_equal(jp11_module_rescan(m, &e), 0);
        assert_int_equal(jp11_module_find_token(m, serial, NULL, &slot, &e), 0);
        assert_string_equal(slot.token.label, "gamma");

        /* The module works normally afterwards. */
        JP11Session *s = NULL;
        s = session_open(m, slot.id, true);
        session_close(s);
}

typedef struct RescanThread {
        JP11Module *m;
        int done_fd; /* written when the rescan returned */
        int r;
} RescanThread;

static void *rescan_thread(void *p) {
        RescanThread *t = p;
        JP11Error e = {};
        t->r = jp11_module_rescan(t->m, &e);
        assert_int_equal(write(t->done_fd, "x", 1), 1);
        return NULL;
}

/* A rescan waits for open sessions, and work on them goes on meanwhile. */
static void test_rescan_waits_for_sessions(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Session *s = NULL;
        JP11Slot slot;
        JP11TokenInfo ti;
        int p[2];
        pthread_t th;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(jp11_module_find_token(m, f->serial_a, NULL, &slot, &e), 0);
        s = session_open(m, slot.id, false);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        RescanThread t = { .m = m, .done_fd = p[1], .r = 1 };
        assert_int_equal(pthread_create(&th, NULL, rescan_thread, &t), 0);

        /* The rescan must not complete while our session is open: a
         * rescan that did not wait finalizes SoftHSM within a millisecond
         * and would be seen here. */
        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 300), 0);
        /* The session is intact, and slot listing is not blocked by a
         * pending rescan (a thread holding a session may list). */
        assert_int_equal(jp11_session_token_info(s, &ti, &e), 0);
        assert_string_equal(ti.serial, f->serial_a);
        _cleanup_free_ JP11Slot *slots = NULL;
        size_t n;
        assert_int_equal(jp11_module_list_slots(m, &slots, &n, &e), 0);
        assert_true(n >= 3);

        CK_SESSION_HANDLE h = jp11_session_handle(s);
        CK_SESSION_INFO si;
        assert_int_equal(jp11_module_functions(m)->C_GetSessionInfo(h, &si), CKR_OK);
        session_close(s);

        /* Now it completes (bounded wait for the event). */
        assert_int_equal(poll(&pfd, 1, 60 * 1000), 1);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(t.r, 0);
        close(p[0]);
        close(p[1]);

        /* And the module is usable again. */
        s = session_open(m, slot.id, false);
        session_close(s);
}

typedef struct SelfRescan {
        JP11Module *m;
        CK_SLOT_ID slot;
        int done_fd;
        int r;
        JP11Error e;
} SelfRescan;

static void *self_rescan_thread(void *p) {
        SelfRescan *t = p;
        JP11Session *s = NULL;

        if (jp11_session_open(t->m, t->slot, false, &s, &t->e) >= 0) {
                t->r = jp11_module_rescan(t->m, &t->e);
                jp11_session_close(s);
        }
        assert_int_equal(write(t->done_fd, "x", 1), 1);
        return NULL;
}

/* A worker that rescans while it still holds a session of its own would
 * wait for itself forever: it gets -EDEADLK at once, and the module is
 * left as it was (no rescan pending that would block everyone else). */
static void test_rescan_from_thread_holding_session(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_module_unloadp) JP11Module *m = NULL;
        JP11Slot slot;
        int p[2];
        pthread_t th;
        JP11Error e = {};

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &m, &e), 0);
        assert_int_equal(jp11_module_find_token(m, f->serial_a, NULL, &slot, &e), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        SelfRescan t = { .m = m, .slot = slot.id, .done_fd = p[1], .r = 1 };
        assert_int_equal(pthread_create(&th, NULL, self_rescan_thread, &t), 0);

        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
        if (poll(&pfd, 1, 60 * 1000) != 1)
                fail_msg("the rescan from a thread holding a session did not return (deadlock)");
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(t.r, -EDEADLK);
        assert_int_equal(t.e.kind, JP11_ERR_BUSY);
        assert_non_null(strstr(t.e.message, "close it first"));
        close(p[0]);
        close(p[1]);

        /* Nothing left pending: sessions open, and a rescan by a thread
         * without sessions works. */
        JP11Session *s = NULL;
        s = session_open(m, slot.id, false);
        session_close(s);
        assert_int_equal(jp11_module_rescan(m, &e), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_load_info, close_sessions),
                cmocka_unit_test_teardown(test_list_tokens, close_sessions),
                cmocka_unit_test_teardown(test_bad_module, close_sessions),
                cmocka_unit_test_teardown(test_load_twice, close_sessions),
                cmocka_unit_test_teardown(test_find_token, close_sessions),
                cmocka_unit_test_teardown(test_sessions, close_sessions),
                cmocka_unit_test_teardown(test_rescan_waits_for_sessions, close_sessions),
                cmocka_unit_test_teardown(test_rescan_from_thread_holding_session, close_sessions),
                /* Last: it adds a token the other tests do not expect. */
                cmocka_unit_test_teardown(test_rescan_new_token, close_sessions),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
