/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scan.h"
#include "util.h"

/* Written only by the module's own scan worker; path and (atomically)
 * module are read by any thread through scanner_module(). */
typedef struct LoadedModule {
        char *path;
        JP11Module *module;     /* NULL while it fails to load */
        char *error;
} LoadedModule;

struct Scanner {
        LoadedModule *modules;
        size_t n_modules;
};

static void scan_token_done(ScanToken *t) {
        free(t->module);
        free(t->slot_description);
        jp11_keys_free(t->keys, t->n_keys);
        jp11_certificates_free(t->certs, t->n_certs);
}

ScanResult *scan_result_free(ScanResult *r) {
        if (!r)
                return NULL;
        free(r->module.path);
        free(r->module.message);
        for (size_t i = 0; i < r->n_tokens; i++)
                scan_token_done(r->tokens + i);
        free(r->tokens);
        free(r);
        return NULL;
}

int scanner_new(char *const *module_paths, Scanner **ret) {
        _cleanup_(scanner_freep) Scanner *s = NULL;
        size_t n = strv_length(module_paths);

        s = calloc(1, sizeof(Scanner));
        if (!s)
                return -ENOMEM;
        s->modules = calloc(n ?: 1, sizeof(LoadedModule));
        if (!s->modules)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                s->modules[i].path = strdup(module_paths[i]);
                if (!s->modules[i].path)
                        return -ENOMEM;
                s->n_modules++;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

Scanner *scanner_free(Scanner *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_modules; i++) {
                jp11_module_unload(s->modules[i].module);
                free(s->modules[i].path);
                free(s->modules[i].error);
        }
        free(s->modules);
        free(s);
        return NULL;
}

static void module_try_load(LoadedModule *lm) {
        JP11Error error = {};
        JP11Module *module = NULL;
        int r;

        if (lm->module)
                return;
        r = jp11_module_load(lm->path, &module, &error);
        if (r < 0) {
                (void) free_and_strdup(&lm->error, error.message[0] ? error.message : strerror(-r));
                return;
        }
        lm->error = mfree(lm->error);
        /* Token workers read it from their own threads (scanner_module()). */
        __atomic_store_n(&lm->module, module, __ATOMIC_RELEASE);
}

size_t scanner_n_modules(const Scanner *s) {
        return s->n_modules;
}

const char *scanner_module_path(const Scanner *s, size_t index) {
        return index < s->n_modules ? s->modules[index].path : NULL;
}

JP11Module *scanner_module(Scanner *s, const char *path) {
        for (size_t i = 0; i < s->n_modules; i++)
                if (streq(s->modules[i].path, path))
                        return __atomic_load_n(&s->modules[i].module, __ATOMIC_ACQUIRE);
        return NULL;
}

static int module_describe(const LoadedModule *lm, char **ret) {
        const JP11ModuleInfo *info;

        if (!lm->module) {
                *ret = strdup(lm->error ?: "not loaded");
                return *ret ? 0 : -ENOMEM;
        }
        info = jp11_module_info(lm->module);
        if (asprintf(ret, "%s %u.%u (%s)", info->description, info->major, info->minor,
                     info->manufacturer) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Reads what a public session shows. The token may leave at any moment:
 * that is reported as -ENODEV and the token is skipped; any other failure
 * leaves the token listed, without objects. */
static int read_objects(JP11Module *m, ScanToken *t) {
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        JP11Error error = {};
        int r;

        r = jp11_session_open(m, t->slot, false, &s, &error);
        if (r >= 0)
                r = jp11_list_keys(s, &t->keys, &t->n_keys, &error);
        if (r >= 0)
                r = jp11_list_certificates(s, &t->certs, &t->n_certs, &error);
        if (r >= 0)
                return 0;

        if (error.kind == JP11_ERR_NO_TOKEN || error.kind == JP11_ERR_TOKEN_REMOVED)
                return -ENODEV;
        log_warning("Cannot list the objects of token '%s' (%s, slot %lu): %s", t->info.label,
                    jp11_module_path(m), (unsigned long) t->slot, error.message);
        return 0;
}

static int scan_module(LoadedModule *lm, ScanResult *res) {
        _cleanup_free_ JP11Slot *slots = NULL;
        JP11Error error = {};
        size_t n = 0;
        int r;

        /* Makes tokens that appeared since the last scan visible (SoftHSM
         * and modules like it only see them after re-initialising), but
         * never waits for the sessions of jobs in progress: that would hold
         * every new job on every reader until the slowest keygen ends. The
         * slot list still shows what the module tracks itself (OpenSC, the
         * test fixture); a job's end asks for another scan. */
        r = jp11_module_rescan_if_idle(lm->module, &error);
        if (r < 0)
                log_warning("Rescanning %s failed: %s", lm->path, error.message);
        else if (r == 0)
                log_debug("%s is in use: listing its slots without re-initialising it.", lm->path);

        r = jp11_module_list_slots(lm->module, &slots, &n, &error);
        if (r < 0) {
                log_warning("Listing the slots of %s failed: %s", lm->path, error.message);
                return 0;
        }

        for (size_t i = 0; i < n; i++) {
                ScanToken *tokens, *t;

                log_debug("%s: slot %lu '%s': %s%s", lm->path, (unsigned long) slots[i].id,
                          slots[i].description, slots[i].token_present ? "token " : "no token",
                          slots[i].token_present ? slots[i].token.label : "");
                if (!slots[i].token_present)
                        continue;

                tokens = reallocarray(res->tokens, res->n_tokens + 1, sizeof(ScanToken));
                if (!tokens)
                        return -ENOMEM;
                res->tokens = tokens;
                t = tokens + res->n_tokens;
                *t = (ScanToken) {
                        .slot = slots[i].id,
                        .info = slots[i].token,
                };
                t->module = strdup(lm->path);
                t->slot_description = strdup(slots[i].description);
                if (!t->module || !t->slot_description) {
                        scan_token_done(t);
                        return -ENOMEM;
                }

                r = read_objects(lm->module, t);
                if (r < 0) {
                        scan_token_done(t);
                        continue;
                }
                res->n_tokens++;
        }
        return 0;
}

int scanner_run_module(Scanner *s, size_t index, ScanResult **ret) {
        _cleanup_(scan_result_freep) ScanResult *res = NULL;
        LoadedModule *lm;
        int r;

        if (index >= s->n_modules)
                return -EINVAL;
        lm = s->modules + index;

        res = calloc(1, sizeof(ScanResult));
        if (!res)
                return -ENOMEM;

        module_try_load(lm);

        res->module.path = strdup(lm->path);
        if (!res->module.path)
                return -ENOMEM;
        res->module.loaded = lm->module;
        r = module_describe(lm, &res->module.message);
        if (r < 0)
                return r;

        if (lm->module) {
                r = scan_module(lm, res);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(res);
        return 0;
}
