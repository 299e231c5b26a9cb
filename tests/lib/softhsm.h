/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test fixture: a private SoftHSM2 token store for one test program.
 *
 *   _cleanup_(softhsm_freep) SoftHSM *h = NULL;
 *   assert_int_equal(softhsm_new(&h), 0);          // temp dir + softhsm2.conf, sets SOFTHSM2_CONF
 *   char serial[17];
 *   assert_int_equal(softhsm_add_token(h, "alpha", SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, serial), 0);
 *   JP11Module *m; jp11_module_load(SOFTHSM_MODULE, &m, &err);   // sees "alpha"
 *   ...
 *   softhsm_free(h);                               // removes the dir, unsets SOFTHSM2_CONF
 *
 * From a test in tests/p11/ or tests/unit/: #include "../lib/softhsm.h".
 *
 * - softhsm_new() creates a mode-0700 directory under $TMPDIR (or /tmp) with
 *   softhsm2.conf (tokendir = <dir>/tokens, file backend, log.level = ERROR)
 *   and exports SOFTHSM2_CONF=<dir>/softhsm2.conf in this process, so the
 *   SoftHSM module loaded afterwards, and every child (softhsm2-util,
 *   pkcs11-tool, p11tool run through run.h) uses that store. Only one
 *   SoftHSM fixture may exist at a time in a process.
 * - softhsm_add_token() runs `softhsm2-util --init-token --free ...`. The
 *   test PINs go on softhsm2-util's command line: acceptable in this test
 *   fixture only (never for a PIN of the product).
 *   A SoftHSM module that is already loaded does not see the new token
 *   until jp11_module_rescan() (finalize + initialize).
 * - All functions return 0 or a negative errno; they print a diagnostic
 *   on stderr when a tool fails, so a failed setup is easy to read. */

#include <stddef.h>

#include "macro.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* PINs used by the token tests (SoftHSM requires 4..255 bytes). */
#define SOFTHSM_TEST_PIN "1234"
#define SOFTHSM_TEST_SO_PIN "12345678"

typedef struct SoftHSM SoftHSM;

int softhsm_new(SoftHSM **ret);
SoftHSM *softhsm_free(SoftHSM *h);      /* removes the directory; accepts NULL; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(SoftHSM *, softhsm_free);

const char *softhsm_dir(const SoftHSM *h);       /* the private temp directory */
const char *softhsm_conf_path(const SoftHSM *h); /* <dir>/softhsm2.conf */

/* Initialises a token in the first free slot. ret_serial (may be NULL,
 * else at least 17 bytes) receives the new token's serial as
 * CK_TOKEN_INFO shows it (trimmed), found with `softhsm2-util --show-slots`
 * by label, so labels must be unique within a fixture. */
int softhsm_add_token(SoftHSM *h, const char *label, const char *so_pin, const char *pin,
                      char *ret_serial);

/* Serial of the token with this label (at least 17 bytes), read with
 * `softhsm2-util --show-slots`. -ENOENT when there is none. */
int softhsm_token_serial(SoftHSM *h, const char *label, char *ret_serial);

/* Changes the CK_TOKEN_INFO flags SoftHSM stores for the token with this
 * serial (ORs in 'set', then clears 'clear'), by editing its token.object
 * file. SoftHSM 2.6 never locks a PIN and only ever sets
 * CKF_USER_PIN_COUNT_LOW itself; this is how a test gets a real SoftHSM
 * to report CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED or
 * CKF_PROTECTED_AUTHENTICATION_PATH. SoftHSM keeps checking PINs as usual
 * (a "locked" token still accepts the right PIN), so a test can tell
 * whether the code under test called C_Login. An already loaded module
 * sees the change after jp11_module_rescan() (a fresh C_Initialize).
 * Only for the file backend of SoftHSM 2.6 (the format is checked; -EBADMSG
 * if it is not what we expect). */
int softhsm_set_token_flags(SoftHSM *h, const char *serial, unsigned long set, unsigned long clear);
