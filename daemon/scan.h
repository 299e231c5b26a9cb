/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The PKCS#11 side of detection. A Scanner owns the loaded modules and is
 * used only from the scan worker's thread: scanner_run() loads the modules
 * not loaded yet (a module that fails is recorded, not fatal, and tried
 * again at the next scan), makes each module rescan its slots, and reads
 * every present token's info, keys and certificates on a public (not
 * logged-in) session. The result is plain data that the event loop takes
 * over. */

#include <stdbool.h>
#include <stddef.h>

#include "jeton-p11.h"

typedef struct ScanModule {
        char *path;
        bool loaded;
        char *message;          /* the error when !loaded, else the library's description */
} ScanModule;

typedef struct ScanToken {
        char *module;           /* the module's path */
        CK_SLOT_ID slot;
        char *slot_description;
        JP11TokenInfo info;
        JP11Key *keys;
        size_t n_keys;
        JP11Certificate *certs;
        size_t n_certs;
} ScanToken;

typedef struct ScanResult {
        ScanModule *modules;    /* in configuration order */
        size_t n_modules;
        ScanToken *tokens;      /* in module order, then slot order */
        size_t n_tokens;
} ScanResult;

ScanResult *scan_result_free(ScanResult *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ScanResult *, scan_result_free);

typedef struct Scanner Scanner;

/* Only copies the list: nothing is loaded before the first scanner_run(). */
int scanner_new(char *const *module_paths, Scanner **ret);
/* Unloads the modules. Call it when no scan runs. Accepts NULL. */
Scanner *scanner_free(Scanner *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Scanner *, scanner_free);

/* Worker thread only. */
int scanner_run(Scanner *s, ScanResult **ret);
/* The loaded module with this path, or NULL: callable from any thread (a
 * loaded module stays loaded until scanner_free()). Modules are shared:
 * jp11_module_rescan() waits for the sessions other threads hold. */
JP11Module *scanner_module(Scanner *s, const char *path);
