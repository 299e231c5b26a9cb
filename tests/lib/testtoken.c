/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p11-login.h"
#include "run.h"
#include "testtoken.h"

#define PIN_ENV "JETON_TEST_PIN"

TestToken *testtoken_free(TestToken *t) {
        if (!t)
                return NULL;
        jp11_session_close(t->session);
        jp11_module_unload(t->module);
        jp11_pin_free(t->pin);
        softhsm_free(t->hsm);
        free(t);
        return NULL;
}

int testtoken_new(const char *label, TestToken **ret) {
        _cleanup_(testtoken_freep) TestToken *t = NULL;
        JP11Error error = {};
        JP11Slot slot;
        int r;

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        snprintf(t->label, sizeof t->label, "%s", label);

        r = softhsm_new(&t->hsm);
        if (r < 0)
                return r;
        r = softhsm_add_token(t->hsm, label, SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, t->serial);
        if (r < 0)
                return r;

        r = jp11_module_load(SOFTHSM_MODULE, &t->module, &error);
        if (r >= 0)
                r = jp11_module_find_token(t->module, t->serial, NULL, &slot, &error);
        if (r >= 0)
                r = jp11_session_open(t->module, slot.id, true, &t->session, &error);
        if (r >= 0)
                r = jp11_pin_new(SOFTHSM_TEST_PIN, strlen(SOFTHSM_TEST_PIN), &t->pin, &error);
        if (r >= 0)
                r = jp11_login(t->session, JP11_USER_NORMAL, t->pin, 0, NULL, &error);
        if (r < 0) {
                fprintf(stderr, "testtoken: %s\n", error.message);
                return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

static int run_tool(const char *const *argv, const char *const *env, char **ret_out) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int status, r;

        r = run(argv, env, NULL, 0, &out, &err, &status);
        if (r < 0) {
                fprintf(stderr, "testtoken: cannot run %s: %s\n", argv[0], strerror(-r));
                return r;
        }
        if (status != 0) {
                fprintf(stderr, "testtoken: %s %s failed (exit %d):\n%s%s", argv[0], argv[1], status, out, err);
                return -EIO;
        }
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

int testtoken_pkcs11_tool(TestToken *t, const char *const *args, char **ret_out) {
        const char *argv[48] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", t->label,
                                 "--login", "--pin", "env:" PIN_ENV };
        const char *env[] = { PIN_ENV "=" SOFTHSM_TEST_PIN, NULL };
        size_t n = 8;

        for (; *args; args++) {
                if (n + 1 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[n++] = *args;
        }
        argv[n] = NULL;
        return run_tool(argv, env, ret_out);
}

int testtoken_p11tool(TestToken *t, const char *object, const char *const *args, char **ret_out) {
        const char *argv[48] = { "p11tool", "--provider", SOFTHSM_MODULE };
        const char *env[] = { "GNUTLS_PIN=" SOFTHSM_TEST_PIN, NULL };
        _cleanup_free_ char *url = NULL;
        size_t n = 3;

        /* A label with URL-special characters would need escaping; the
         * tests use plain labels. */
        if (asprintf(&url, "pkcs11:token=%s%s%s", t->label, object ? ";" : "", object ?: "") < 0)
                return -ENOMEM;
        for (; *args; args++) {
                if (n + 2 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[n++] = *args;
        }
        argv[n++] = url;
        argv[n] = NULL;
        return run_tool(argv, env, ret_out);
}

int testtoken_count_objects(TestToken *t, unsigned *ret) {
        _cleanup_free_ char *out = NULL;
        unsigned n = 0;
        int r;

        r = testtoken_pkcs11_tool(t, (const char *[]) { "--list-objects", NULL }, &out);
        if (r < 0)
                return r;
        /* Each object starts a line "<Kind> Object; ..." */
        for (const char *p = out; p; p = strchr(p, '\n')) {
                p += *p == '\n';
                const char *eol = strchrnul(p, '\n');
                const char *obj = memmem(p, (size_t) (eol - p), " Object", 7);
                if (obj && obj > p && p[0] != ' ')
                        n++;
                if (!*eol)
                        break;
        }
        *ret = n;
        return 0;
}
