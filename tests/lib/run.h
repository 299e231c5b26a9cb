/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test helper: runs an independent tool (openssl, pkcs11-tool, p11tool,
 * softhsm2-util, ...) and captures what it prints, so tests can check the
 * library's results against programs that are not ours.
 *
 *   _cleanup_free_ char *out = NULL;
 *   int status;
 *   const char *argv[] = { "p11tool", "--list-tokens", NULL };
 *   const char *env[] = { "GNUTLS_PIN=1234", NULL };
 *   assert_int_equal(run(argv, env, NULL, 0, &out, NULL, &status), 0);
 *   assert_int_equal(status, 0);
 *
 * - argv[0] is looked up in PATH (execvp). The child inherits the test's
 *   environment (so SOFTHSM2_CONF set by softhsm.h reaches it) plus the
 *   extra "NAME=value" entries of env (NULL-terminated; may be NULL),
 *   which override inherited ones. Pass test PINs this way (p11tool reads
 *   GNUTLS_PIN / GNUTLS_SO_PIN) or through input rather than argv.
 * - input/input_len is written to the child's stdin, which is then
 *   closed; input NULL gives an empty stdin.
 * - *ret_out (may be NULL: discarded) receives stdout, NUL-terminated,
 *   malloc'd; *ret_err likewise for stderr (NULL: stderr is passed through
 *   to the test's stderr, handy in failure output).
 * - *ret_status: the exit code, or 128 + signal number if killed.
 * - Returns 0 when the program ran (whatever its exit code), a negative
 *   errno when it could not be started (-ENOENT: no such program). Waits
 *   for the child to exit; never times out. */

#include <stddef.h>

int run(const char *const *argv, const char *const *env, const void *input, size_t input_len,
        char **ret_out, char **ret_err, int *ret_status);

/* run() with no extra env, no input, stderr passed through: returns the
 * exit code (>= 0) or a negative errno. */
int run_simple(const char *const *argv, char **ret_out);
