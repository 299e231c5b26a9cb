/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The PKCS#11 side of detection. A Scanner holds one slot per configured
 * module; each module is scanned on a thread of its own (module-scan.h),
 * so a module whose call hangs stalls only itself. scanner_run_module()
 * loads its module if it is not loaded yet (a module that fails is
 * recorded, not fatal, and tried again at the next scan), makes it rescan
 * its slots, and reads every present token's info, keys and certificates
 * on a public (not logged-in) session. The result is plain data that the
 * event loop takes over. */

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

/* One module's scan. */
typedef struct ScanResult {
        ScanModule module;
        ScanToken *tokens;      /* in slot order */
        size_t n_tokens;
} ScanResult;

ScanResult *scan_result_free(ScanResult *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ScanResult *, scan_result_free);

typedef struct Scanner Scanner;

/* Only copies the list: nothing is loaded before the first scan. */
int scanner_new(char *const *module_paths, Scanner **ret);
/* Unloads the modules. Call it when no scan runs. Accepts NULL. */
Scanner *scanner_free(Scanner *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Scanner *, scanner_free);

size_t scanner_n_modules(const Scanner *s);
const char *scanner_module_path(const Scanner *s, size_t index);

/* Scans the module at index (configuration order). Each module's scans
 * must come from one thread at a time (its scan worker); different
 * modules may be scanned at the same time. */
int scanner_run_module(Scanner *s, size_t index, ScanResult **ret);

/* The loaded module with this path, or NULL: callable from any thread (a
 * loaded module stays loaded until scanner_free()). Modules are shared:
 * jp11_module_rescan() waits for the sessions other threads hold. */
JP11Module *scanner_module(Scanner *s, const char *path);
