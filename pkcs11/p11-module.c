/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-module.h"
#include "p11-private.h"

/* One JP11Module per function list in the process. dlopen() of a module
 * that is already loaded returns the same instance, and Cryptoki state
 * (initialisation, login) belongs to that instance, not to the caller: two
 * independent JP11Module for it would finalize each other. Loading the
 * same module twice therefore returns the same object with a reference
 * count, and the last unload finalizes.
 *
 * Rescan and sessions. jp11_module_rescan() finalizes and re-initialises
 * a module we initialised, which destroys every session of the process on
 * it. It is guarded by a mutex + condition variable + counters rather than
 * a pthread rwlock because a session may be opened on one thread and
 * closed on another (the daemon's per-token worker hands results back),
 * and a rwlock must be unlocked by the thread that locked it:
 *   - 'sessions' counts open JP11Session, 'calls' counts module-level calls
 *     in flight (slot listing), which are short and never nest;
 *   - a rescan first sets 'rescan_pending': new sessions wait from then on,
 *     so a steady stream of sessions cannot starve it; slot listings still
 *     run, so a thread that holds a session and lists slots does not
 *     deadlock;
 *   - once sessions == 0 and calls == 0 it sets 'rescan_running' (now
 *     listings wait too), finalizes and re-initialises, and wakes everyone.
 * A thread that holds a session of the module (one it opened and has not
 * closed) would wait for itself: its rescan fails with -EDEADLK instead,
 * and a second session it opens does not wait for a pending rescan (which
 * cannot start before the first one is closed anyway). A session handed
 * to another thread still counts for the thread that opened it. */
/* A slot one thread has to itself (jp11_slot_claim()). */
typedef struct SlotClaim {
        CK_SLOT_ID slot;
        pthread_t owner;
        struct SlotClaim *next;
} SlotClaim;

struct JP11Module {
        JP11Module *next;               /* registry */
        unsigned n_ref;
        char *path;
        void *dl;
        CK_FUNCTION_LIST_PTR f;
        bool initialized_by_us;         /* false: CKR_CRYPTOKI_ALREADY_INITIALIZED */
        bool settling;                  /* in C_Initialize or C_Finalize, under registry_lock */
        JP11ModuleInfo info;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned sessions, calls;
        bool rescan_pending, rescan_running;
        JP11Session *open_sessions;     /* under lock */
        SlotClaim *claims;              /* under lock */
};

struct JP11Session {
        JP11Module *m;
        JP11Session *next_open;         /* m->open_sessions, under m->lock */
        pthread_t opener;
        CK_SESSION_HANDLE h;
        CK_SLOT_ID slot;
        bool rw;
        bool logged_in;
};

/* The loaded modules, shared by function list. registry_lock is never held
 * across a call into a module: a module that hangs in C_Initialize must not
 * stop another from loading. Meanwhile its entry is 'settling', and only a
 * loader of that same module waits (on registry_cond) for it. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_cond = PTHREAD_COND_INITIALIZER;
static JP11Module *registry;

/* Under registry_lock. */
static void registry_remove(JP11Module *m) {
        for (JP11Module **i = &registry; *i; i = &(*i)->next)
                if (*i == m) {
                        *i = m->next;
                        break;
                }
        pthread_cond_broadcast(&registry_cond);
}

void jp11_copy_padded(char *out, size_t out_size, const unsigned char *field, size_t len) {
        if (out_size == 0)
                return;
        if (len > out_size - 1)
                len = out_size - 1;
        /* Blank padding per the standard; some modules pad with NULs. */
        while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\0'))
                len--;
        memcpy(out, field, len);
        out[len] = '\0';
}

void jp11_pin_state_from_flags(CK_FLAGS flags, CK_ULONG min_len, CK_ULONG max_len, JP11PinState *ret) {
        *ret = (JP11PinState) {
                .initialized = flags & CKF_USER_PIN_INITIALIZED,
                .count_low = flags & CKF_USER_PIN_COUNT_LOW,
                .final_try = flags & CKF_USER_PIN_FINAL_TRY,
                .locked = flags & CKF_USER_PIN_LOCKED,
                .to_be_changed = flags & CKF_USER_PIN_TO_BE_CHANGED,
                .pinpad = flags & CKF_PROTECTED_AUTHENTICATION_PATH,
                .so_locked = flags & CKF_SO_PIN_LOCKED,
                .so_final_try = flags & CKF_SO_PIN_FINAL_TRY,
                .min_len = min_len,
                .max_len = max_len,
        };
}

static void token_info_from_ck(const CK_TOKEN_INFO *ti, JP11TokenInfo *ret) {
        *ret = (JP11TokenInfo) {
                .flags = ti->flags,
                .initialized = ti->flags & CKF_TOKEN_INITIALIZED,
                .write_protected = ti->flags & CKF_WRITE_PROTECTED,
                .rng = ti->flags & CKF_RNG,
                .login_required = ti->flags & CKF_LOGIN_REQUIRED,
        };
        jp11_copy_padded(ret->label, sizeof ret->label, ti->label, sizeof ti->label);
        jp11_copy_padded(ret->manufacturer, sizeof ret->manufacturer, ti->manufacturerID,
                         sizeof ti->manufacturerID);
        jp11_copy_padded(ret->model, sizeof ret->model, ti->model, sizeof ti->model);
        jp11_copy_padded(ret->serial, sizeof ret->serial, ti->serialNumber, sizeof ti->serialNumber);
        jp11_pin_state_from_flags(ti->flags, ti->ulMinPinLen, ti->ulMaxPinLen, &ret->pin);
}

/* ---- rescan guard ---------------------------------------------------- */

static void call_begin(JP11Module *m) {
        pthread_mutex_lock(&m->lock);
        while (m->rescan_running)
                pthread_cond_wait(&m->cond, &m->lock);
        m->calls++;
        pthread_mutex_unlock(&m->lock);
}

static void call_end(JP11Module *m) {
        pthread_mutex_lock(&m->lock);
        if (--m->calls == 0)
                pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

void jp11_module_call_begin(JP11Module *m) {
        call_begin(m);
}

void jp11_module_call_end(JP11Module *m) {
        call_end(m);
}

static bool thread_holds_session_locked(JP11Module *m) {
        pthread_t self = pthread_self();

        for (JP11Session *i = m->open_sessions; i; i = i->next_open)
                if (pthread_equal(i->opener, self))
                        return true;
        return false;
}

/* Another thread has claimed slot. Under m->lock. */
static bool slot_claimed_by_other_locked(JP11Module *m, CK_SLOT_ID slot) {
        for (SlotClaim *c = m->claims; c; c = c->next)
                if (c->slot == slot && !pthread_equal(c->owner, pthread_self()))
                        return true;
        return false;
}

static void session_begin(JP11Module *m, JP11Session *s, CK_SLOT_ID slot) {
        pthread_mutex_lock(&m->lock);
        if (!thread_holds_session_locked(m))
                while (m->rescan_pending || m->rescan_running)
                        pthread_cond_wait(&m->cond, &m->lock);
        while (slot_claimed_by_other_locked(m, slot))
                pthread_cond_wait(&m->cond, &m->lock);
        s->slot = slot;
        m->sessions++;
        s->m = m;
        s->opener = pthread_self();
        s->next_open = m->open_sessions;
        m->open_sessions = s;
        pthread_mutex_unlock(&m->lock);
}

static void session_end(JP11Module *m, JP11Session *s) {
        pthread_mutex_lock(&m->lock);
        for (JP11Session **i = &m->open_sessions; *i; i = &(*i)->next_open)
                if (*i == s) {
                        *i = s->next_open;
                        break;
                }
        m->sessions--;
        /* Rescans wait for no session at all, slot claims for none on
         * their slot: wake both. */
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

/* ---- slot claims ----------------------------------------------------- */

static bool slot_has_other_sessions_locked(JP11Module *m, CK_SLOT_ID slot) {
        for (JP11Session *i = m->open_sessions; i; i = i->next_open)
                if (i->slot == slot && !pthread_equal(i->opener, pthread_self()))
                        return true;
        return false;
}

int jp11_slot_claim(JP11Module *m, CK_SLOT_ID slot, JP11Error *error) {
        SlotClaim *c;

        if (!m)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        c = calloc(1, sizeof *c);
        if (!c)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        c->slot = slot;
        c->owner = pthread_self();

        pthread_mutex_lock(&m->lock);
        /* Others' sessions on it are short (a scan's look at the token);
         * new ones wait in session_begin() from the moment we are listed. */
        while (slot_claimed_by_other_locked(m, slot))
                pthread_cond_wait(&m->cond, &m->lock);
        c->next = m->claims;
        m->claims = c;
        while (slot_has_other_sessions_locked(m, slot))
                pthread_cond_wait(&m->cond, &m->lock);
        pthread_mutex_unlock(&m->lock);
        return 0;
}

void jp11_slot_unclaim(JP11Module *m, CK_SLOT_ID slot) {
        SlotClaim *found = NULL;

        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        for (SlotClaim **i = &m->claims; *i; i = &(*i)->next)
                if ((*i)->slot == slot && pthread_equal((*i)->owner, pthread_self())) {
                        found = *i;
                        *i = found->next;
                        break;
                }
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        free(found);
}

/* ---- load / unload --------------------------------------------------- */

static CK_RV module_initialize(JP11Module *m) {
        /* OS locking, no callbacks: the module uses its own pthread mutexes,
         * so sessions can be used from several threads. */
        CK_C_INITIALIZE_ARGS args = {
                .flags = CKF_OS_LOCKING_OK,
        };
        return m->f->C_Initialize(&args);
}

/* The module itself failed: the kind is MODULE whatever the CK_RV, and
 * the message names the module's path. */
static int module_error(JP11Error *error, CK_RV rv, const char *path, const char *what) {
        int r = jp11_error_from_rv(error, rv, what);
        if (!error)
                return r;
        r = jp11_error_set(error, r, JP11_ERR_MODULE, "the PKCS#11 module %s: %s", path, error->message);
        error->rv = rv;
        return r;
}

static JP11Module *module_free(JP11Module *m) {
        if (!m)
                return NULL;
        if (m->dl)
                dlclose(m->dl);
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        free(m->path);
        free(m);
        return NULL;
}

static int module_open(const char *path, JP11Module **ret, JP11Error *error) {
        CK_C_GetFunctionList get_function_list;
        JP11Module *m;
        CK_INFO info;
        CK_RV rv;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        m->n_ref = 1;
        m->path = strdup(path);
        if (!m->path) {
                module_free(m);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }

        m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!m->dl) {
                const char *why = dlerror();
                r = access(path, F_OK) < 0 ? -errno : -ELIBBAD;
                module_free(m);
                return jp11_error_set(error, r, JP11_ERR_MODULE, "cannot load the PKCS#11 module %s: %s", path,
                                      why ?: "unknown error");
        }

        /* POSIX lets a data pointer become a function pointer via dlsym. */
        *(void **) &get_function_list = dlsym(m->dl, "C_GetFunctionList");
        if (!get_function_list) {
                module_free(m);
                return jp11_error_set(error, -ELIBBAD, JP11_ERR_MODULE,
                                      "%s is not a PKCS#11 module (it has no C_GetFunctionList)", path);
        }
        rv = get_function_list(&m->f);
        if (rv != CKR_OK || !m->f) {
                module_free(m);
                if (rv == CKR_OK)
                        return jp11_error_set(error, -ELIBBAD, JP11_ERR_MODULE,
                                              "the PKCS#11 module %s returned no function list", path);
                return module_error(error, rv, path, "getting the function list");
        }

        /* Already loaded through another JP11Module: share it, once its
         * C_Initialize (or a C_Finalize under way) is over. */
        pthread_mutex_lock(&registry_lock);
        for (JP11Module *i = registry; i;)
                if (i->f != m->f)
                        i = i->next;
                else if (i->settling) {
                        pthread_cond_wait(&registry_cond, &registry_lock);
                        i = registry;   /* the list may have changed */
                } else {
                        i->n_ref++;
                        pthread_mutex_unlock(&registry_lock);
                        module_free(m); /* drops our extra dlopen reference */
                        *ret = i;
                        return 0;
                }
        m->settling = true;
        m->next = registry;
        registry = m;
        pthread_mutex_unlock(&registry_lock);

        rv = module_initialize(m);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
                /* Someone else in this process (libp11, an engine) owns the
                 * initialisation: finalizing would pull the module from
                 * under them, so we never do. */
                m->initialized_by_us = false;
        else if (rv == CKR_OK)
                m->initialized_by_us = true;
        else {
                r = module_error(error, rv, path, "initialising the module");
                goto fail;
        }

        rv = m->f->C_GetInfo(&info);
        if (rv != CKR_OK) {
                r = module_error(error, rv, path, "reading the module information");
                if (m->initialized_by_us)
                        (void) m->f->C_Finalize(NULL);
                goto fail;
        }
        jp11_copy_padded(m->info.manufacturer, sizeof m->info.manufacturer, info.manufacturerID,
                         sizeof info.manufacturerID);
        jp11_copy_padded(m->info.description, sizeof m->info.description, info.libraryDescription,
                         sizeof info.libraryDescription);
        m->info.major = info.libraryVersion.major;
        m->info.minor = info.libraryVersion.minor;
        m->info.cryptoki_major = info.cryptokiVersion.major;
        m->info.cryptoki_minor = info.cryptokiVersion.minor;

        pthread_mutex_lock(&registry_lock);
        m->settling = false;
        pthread_cond_broadcast(&registry_cond);
        pthread_mutex_unlock(&registry_lock);

        *ret = m;
        return 0;

fail:
        pthread_mutex_lock(&registry_lock);
        registry_remove(m);
        pthread_mutex_unlock(&registry_lock);
        module_free(m);
        return r;
}

int jp11_module_load(const char *path, JP11Module **ret, JP11Error *error) {
        if (!path || !*path || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no PKCS#11 module path given");
        return module_open(path, ret, error);
}

JP11Module *jp11_module_unload(JP11Module *m) {
        if (!m)
                return NULL;

        pthread_mutex_lock(&registry_lock);
        if (--m->n_ref > 0) {
                pthread_mutex_unlock(&registry_lock);
                return NULL;
        }
        /* Stays listed while it finalizes, so that a new loader of the same
         * module waits instead of initialising it under our C_Finalize. */
        m->settling = true;
        pthread_mutex_unlock(&registry_lock);

        if (m->initialized_by_us)
                (void) m->f->C_Finalize(NULL);

        pthread_mutex_lock(&registry_lock);
        registry_remove(m);
        pthread_mutex_unlock(&registry_lock);

        return module_free(m);
}

const char *jp11_module_path(const JP11Module *m) {
        return m->path;
}

const JP11ModuleInfo *jp11_module_info(const JP11Module *m) {
        return &m->info;
}

CK_FUNCTION_LIST_PTR jp11_module_functions(const JP11Module *m) {
        return m->f;
}

/* ---- slots ----------------------------------------------------------- */

/* Reads one slot. Returns 1 when filled, 0 when the slot vanished between
 * listing and reading (a reader unplugged): the caller skips it. */
static int slot_read(JP11Module *m, CK_SLOT_ID id, JP11Slot *ret, JP11Error *error) {
        CK_SLOT_INFO si;
        CK_TOKEN_INFO ti;
        CK_RV rv;

        rv = m->f->C_GetSlotInfo(id, &si);
        if (rv == CKR_SLOT_ID_INVALID || rv == CKR_DEVICE_REMOVED)
                return 0;
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "reading the slot information");

        *ret = (JP11Slot) {
                .id = id,
                .token_present = si.flags & CKF_TOKEN_PRESENT,
                .removable = si.flags & CKF_REMOVABLE_DEVICE,
                .hardware = si.flags & CKF_HW_SLOT,
        };
        jp11_copy_padded(ret->description, sizeof ret->description, si.slotDescription,
                         sizeof si.slotDescription);
        jp11_copy_padded(ret->manufacturer, sizeof ret->manufacturer, si.manufacturerID,
                         sizeof si.manufacturerID);
        if (!ret->token_present)
                return 1;

        rv = m->f->C_GetTokenInfo(id, &ti);
        switch (rv) {
        case CKR_OK:
                token_info_from_ck(&ti, &ret->token);
                return 1;
        /* The token left (or is not one the module understands) between
         * the two calls: report the slot as empty rather than failing the
         * whole listing. */
        case CKR_TOKEN_NOT_PRESENT:
        case CKR_TOKEN_NOT_RECOGNIZED:
        case CKR_DEVICE_REMOVED:
        case CKR_DEVICE_ERROR:
                ret->token_present = false;
                return 1;
        case CKR_SLOT_ID_INVALID:
                return 0;
        default:
                return jp11_error_from_rv(error, rv, "reading the token information");
        }
}

static int list_slot_ids(JP11Module *m, CK_SLOT_ID **ret, CK_ULONG *ret_n, JP11Error *error) {
        _cleanup_free_ CK_SLOT_ID *ids = NULL;
        CK_ULONG n = 0;
        CK_RV rv;

        /* The count may grow between the two calls (a reader appears). */
        for (;;) {
                rv = m->f->C_GetSlotList(CK_FALSE, NULL, &n);
                if (rv != CKR_OK)
                        return jp11_error_from_rv(error, rv, "listing the slots");
                free(ids);
                ids = calloc(n + 1, sizeof *ids);
                if (!ids)
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                rv = m->f->C_GetSlotList(CK_FALSE, ids, &n);
                if (rv == CKR_BUFFER_TOO_SMALL)
                        continue;
                if (rv != CKR_OK)
                        return jp11_error_from_rv(error, rv, "listing the slots");
                break;
        }
        *ret = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

static int list_slots_locked(JP11Module *m, JP11Slot **ret, size_t *ret_n, JP11Error *error) {
        _cleanup_free_ CK_SLOT_ID *ids = NULL;
        _cleanup_free_ JP11Slot *slots = NULL;
        CK_ULONG n = 0;
        size_t k = 0;
        int r;

        r = list_slot_ids(m, &ids, &n, error);
        if (r < 0)
                return r;
        slots = calloc(n + 1, sizeof *slots);
        if (!slots)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        for (CK_ULONG i = 0; i < n; i++) {
                r = slot_read(m, ids[i], &slots[k], error);
                if (r < 0)
                        return r;
                if (r > 0)
                        k++;
        }
        *ret = TAKE_PTR(slots);
        *ret_n = k;
        return 0;
}

int jp11_module_list_slots(JP11Module *m, JP11Slot **ret, size_t *ret_n, JP11Error *error) {
        int r;

        if (!m || !ret || !ret_n)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        call_begin(m);
        r = list_slots_locked(m, ret, ret_n, error);
        call_end(m);
        return r;
}

int jp11_module_get_slot(JP11Module *m, CK_SLOT_ID id, JP11Slot *ret, JP11Error *error) {
        int r;

        if (!m || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        call_begin(m);
        r = slot_read(m, id, ret, error);
        call_end(m);
        if (r == 0)
                return jp11_error_set(error, -ENXIO, JP11_ERR_NOT_FOUND,
                                      "slot %lu does not exist (any more)", (unsigned long) id);
        return r < 0 ? r : 0;
}

int jp11_module_find_token(JP11Module *m, const char *serial, const char *manufacturer, JP11Slot *ret,
                           JP11Error *error) {
        _cleanup_free_ JP11Slot *slots = NULL;
        size_t n;
        int r;

        if (!serial || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no token serial given");
        r = jp11_module_list_slots(m, &slots, &n, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (!slots[i].token_present || !streq(slots[i].token.serial, serial))
                        continue;
                if (manufacturer && !streq(slots[i].token.manufacturer, manufacturer))
                        continue;
                *ret = slots[i];
                return 0;
        }
        if (manufacturer)
                return jp11_error_set(error, -ENXIO, JP11_ERR_NOT_FOUND,
                                      "no token with serial %s from %s is present", serial, manufacturer);
        return jp11_error_set(error, -ENXIO, JP11_ERR_NOT_FOUND, "no token with serial %s is present", serial);
}

int jp11_module_rescan(JP11Module *m, JP11Error *error) {
        CK_RV rv = CKR_OK;

        if (!m)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        /* Not ours to finalize: the slot list is all we can re-read, and
         * callers do that with jp11_module_list_slots() anyway. */
        if (!m->initialized_by_us)
                return 0;

        pthread_mutex_lock(&m->lock);
        if (thread_holds_session_locked(m)) {
                pthread_mutex_unlock(&m->lock);
                return jp11_error_set(error, -EDEADLK, JP11_ERR_BUSY,
                                      "cannot rescan the PKCS#11 module %s: this thread still has a session open on "
                                      "it, and the rescan waits for every session to close (close it first)",
                                      m->path);
        }
        while (m->rescan_pending) /* one rescan at a time; the next one still runs */
                pthread_cond_wait(&m->cond, &m->lock);
        m->rescan_pending = true;
        while (m->sessions > 0 || m->calls > 0)
                pthread_cond_wait(&m->cond, &m->lock);
        m->rescan_running = true;
        pthread_mutex_unlock(&m->lock);

        /* Finalize + initialize is the only way SoftHSM re-reads its token
         * directory; for modules that track slots themselves (OpenSC) it is
         * merely a fresh start, which is harmless with no session open. */
        rv = m->f->C_Finalize(NULL);
        if (rv == CKR_OK || rv == CKR_CRYPTOKI_NOT_INITIALIZED)
                rv = module_initialize(m);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
                rv = CKR_OK;

        pthread_mutex_lock(&m->lock);
        m->rescan_running = false;
        m->rescan_pending = false;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);

        if (rv != CKR_OK)
                return module_error(error, rv, m->path, "re-initialising the module to rescan");
        return 0;
}

int jp11_module_rescan_if_idle(JP11Module *m, JP11Error *error) {
        CK_RV rv;

        if (!m)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        if (!m->initialized_by_us)
                return 1;

        /* Waiting here would stall every new session behind the slowest
         * operation in progress (a keygen on a card takes seconds). */
        pthread_mutex_lock(&m->lock);
        if (m->rescan_pending || m->sessions > 0 || m->calls > 0) {
                pthread_mutex_unlock(&m->lock);
                return 0;
        }
        m->rescan_pending = m->rescan_running = true;
        pthread_mutex_unlock(&m->lock);

        rv = m->f->C_Finalize(NULL);
        if (rv == CKR_OK || rv == CKR_CRYPTOKI_NOT_INITIALIZED)
                rv = module_initialize(m);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
                rv = CKR_OK;

        pthread_mutex_lock(&m->lock);
        m->rescan_running = false;
        m->rescan_pending = false;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);

        if (rv != CKR_OK)
                return module_error(error, rv, m->path, "re-initialising the module to rescan");
        return 1;
}

/* ---- sessions -------------------------------------------------------- */

int jp11_session_open(JP11Module *m, CK_SLOT_ID slot, bool rw, JP11Session **ret, JP11Error *error) {
        JP11Session *s;
        CK_RV rv;

        if (!m || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        s = calloc(1, sizeof *s);
        if (!s)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        session_begin(m, s, slot);
        rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &s->h);
        if (rv != CKR_OK) {
                session_end(m, s);
                free(s);
                return jp11_error_from_rv(error, rv, rw ? "opening a read-write session" : "opening a session");
        }
        s->rw = rw;
        *ret = s;
        return 0;
}

JP11Session *jp11_session_close(JP11Session *s) {
        if (!s)
                return NULL;
        /* Login state is per token and process, not per session: leave the
         * token as we found it. Errors are moot, the token may be gone. */
        if (s->logged_in)
                (void) s->m->f->C_Logout(s->h);
        (void) s->m->f->C_CloseSession(s->h);
        session_end(s->m, s);
        free(s);
        return NULL;
}

void jp11_session_set_logged_in(JP11Session *s, bool logged_in) {
        s->logged_in = logged_in;
}

CK_SESSION_HANDLE jp11_session_handle(const JP11Session *s) {
        return s->h;
}

CK_SLOT_ID jp11_session_slot(const JP11Session *s) {
        return s->slot;
}

JP11Module *jp11_session_module(const JP11Session *s) {
        return s->m;
}

CK_FUNCTION_LIST_PTR jp11_session_functions(const JP11Session *s) {
        return s->m->f;
}

bool jp11_session_logged_in(const JP11Session *s) {
        return s->logged_in;
}

int jp11_session_token_info(JP11Session *s, JP11TokenInfo *ret, JP11Error *error) {
        CK_TOKEN_INFO ti;
        CK_RV rv;

        if (!s || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        rv = s->m->f->C_GetTokenInfo(s->slot, &ti);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "reading the token information");
        token_info_from_ck(&ti, ret);
        return 0;
}
