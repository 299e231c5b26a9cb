/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test fixture: one fresh SoftHSM token (private store, see softhsm.h)
 * with a read-write session of ours logged in as the user, and the
 * independent tools pointed at the same token:
 *
 *   _cleanup_(testtoken_freep) TestToken *t = NULL;
 *   assert_int_equal(testtoken_new("keygen", &t), 0);
 *   jp11_generate_key_pair(t->session, ...);
 *   testtoken_pkcs11_tool(t, (const char *[]) { "-O", NULL }, &out);
 *
 * The tools get the test PIN through the environment (pkcs11-tool
 * "--pin env:VAR", p11tool GNUTLS_PIN), never on their command line.
 * One TestToken per process at a time (SoftHSM's store is per process). */

#include "macro.h"
#include "p11-module.h"
#include "p11-pin.h"
#include "softhsm.h"

typedef struct TestToken {
        SoftHSM *hsm;
        JP11Module *module;
        JP11Session *session;   /* read-write, logged in as CKU_USER */
        JP11Pin *pin;           /* SOFTHSM_TEST_PIN */
        char label[33];
        char serial[17];
} TestToken;

int testtoken_new(const char *label, TestToken **ret);
TestToken *testtoken_free(TestToken *t); /* accepts NULL; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(TestToken *, testtoken_free);

/* `pkcs11-tool --module SOFTHSM --token-label L --login --pin env:... ARGS`;
 * 0 when it exited 0, else -EIO (stderr printed). ret_out may be NULL. */
int testtoken_pkcs11_tool(TestToken *t, const char *const *args, char **ret_out);
/* `p11tool --provider SOFTHSM ARGS "pkcs11:token=L[;OBJECT]"` with
 * GNUTLS_PIN set. object (may be NULL) selects objects by further URL
 * attributes, e.g. "id=%01%02;type=public". */
int testtoken_p11tool(TestToken *t, const char *object, const char *const *args, char **ret_out);
/* Objects on the token, counted by pkcs11-tool (logged in: private ones too). */
int testtoken_count_objects(TestToken *t, unsigned *ret);
