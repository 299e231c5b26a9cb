/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <p11-kit/uri.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-manager.h"
#include "bus-token.h"
#include "batch.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "module-scan.h"
#include "registry.h"
#include "util.h"

/* ---- readers ----------------------------------------------------------- */

void readers_free(Reader *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(r[i].name);
        free(r);
}

int readers_copy(const Reader *src, size_t n, Reader **ret) {
        Reader *r = calloc(n ?: 1, sizeof(Reader));

        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r[i] = src[i];
                r[i].name = strdup(src[i].name);
                if (!r[i].name) {
                        readers_free(r, i);
                        return -ENOMEM;
                }
        }
        *ret = r;
        return 0;
}

static bool readers_equal(const Reader *a, size_t na, const Reader *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i].name, b[i].name) || a[i].state != b[i].state || a[i].atr_len != b[i].atr_len ||
                    memcmp(a[i].atr, b[i].atr, a[i].atr_len) != 0)
                        return false;
        return true;
}

static const Reader *reader_find(const Reader *r, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(r[i].name, name))
                        return r + i;
        return NULL;
}

static bool reader_has_card(const Reader *r) {
        return r && r->state == PCSC_READER_CARD;
}

/* OpenSC's slot description is the reader name, blank-padded and cut at
 * 64 bytes (CK_SLOT_INFO.slotDescription): compare trimmed, on at most
 * that much of the reader name. */
bool reader_matches_slot(const char *reader, const char *slot_description) {
        size_t rn, dn;

        while (*reader == ' ')
                reader++;
        while (*slot_description == ' ')
                slot_description++;
        rn = strnlen(reader, 64);
        dn = strlen(slot_description);
        while (rn > 0 && reader[rn - 1] == ' ')
                rn--;
        while (dn > 0 && slot_description[dn - 1] == ' ')
                dn--;
        return rn > 0 && rn == dn && memcmp(reader, slot_description, rn) == 0;
}

/* ---- tokens ------------------------------------------------------------ */

Token *token_free(Token *t) {
        if (!t)
                return NULL;
        free(t->id);
        free(t->path);
        free(t->reader);
        free(t->module);
        free(t->manufacturer);
        free(t->model);
        free(t->serial);
        free(t->label);
        free(t->atr);
        strv_free(t->pin_flags);
        free(t->uri);
        jp11_keys_free(t->keys, t->n_keys);
        jp11_certificates_free(t->certs, t->n_certs);
        free(t);
        return NULL;
}

static bool id_equal(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
        return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

const char *token_state_from_scan(const JP11TokenInfo *info, const JP11Key *keys, size_t n_keys,
                                  const JP11Certificate *certs, size_t n_certs) {
        if (info->pin.locked)
                return "locked";
        if (!info->initialized || !info->pin.initialized)
                return "blank";

        /* Provisioned: a holder's certificate (category "token user", or
         * unset) that shares its CKA_ID with a key on the token. */
        for (size_t c = 0; c < n_certs; c++) {
                if (certs[c].category != 0 && certs[c].category != 1)
                        continue;
                if (certs[c].id_len == 0)
                        continue;
                for (size_t k = 0; k < n_keys; k++)
                        if (id_equal(certs[c].id, certs[c].id_len, keys[k].id, keys[k].id_len))
                                return "provisioned";
        }
        return n_keys > 0 ? "has-key" : "initialised";
}

int token_pin_flags(const JP11PinState *pin, char ***ret) {
        const struct {
                bool set;
                const char *name;
        } table[] = {
                { pin->count_low, "count-low" },
                { pin->final_try, "final-try" },
                { pin->locked, "locked" },
                { pin->to_be_changed, "to-be-changed" },
                { pin->pinpad, "pinpad" },
                { pin->so_locked, "so-locked" },
        };
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].set && strv_extend(&l, table[i].name) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static void pad(unsigned char *field, size_t size, const char *value) {
        size_t n = strnlen(value, size);

        memset(field, ' ', size);
        memcpy(field, value, n);
}

/* RFC 7512 as p11-kit writes it (what p11tool and friends print). */
int token_uri(const JP11TokenInfo *info, char **ret) {
        P11KitUri *uri = p11_kit_uri_new();
        CK_TOKEN_INFO *ti;
        char *s = NULL;
        int r;

        if (!uri)
                return -ENOMEM;
        ti = p11_kit_uri_get_token_info(uri);
        pad(ti->label, sizeof(ti->label), info->label);
        pad(ti->manufacturerID, sizeof(ti->manufacturerID), info->manufacturer);
        pad(ti->model, sizeof(ti->model), info->model);
        pad(ti->serialNumber, sizeof(ti->serialNumber), info->serial);
        r = p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &s);
        p11_kit_uri_free(uri);
        if (r != P11_KIT_URI_OK)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static uint32_t pin_length(unsigned long l) {
        /* CK_UNAVAILABLE_INFORMATION and other nonsense read as "unknown". */
        return l > UINT32_MAX ? 0 : (uint32_t) l;
}

static int token_new(Manager *m, const char *id, const Reader *reader, Token **ret) {
        _cleanup_(token_freep) Token *t = calloc(1, sizeof(Token));
        int r;

        if (!t)
                return -ENOMEM;
        t->manager = m;
        t->id = strdup(id);
        t->reader = strdup(reader ? reader->name : "");
        t->atr = reader && reader->atr_len > 0 ? hexmem(reader->atr, reader->atr_len) : strdup("");
        if (!t->id || !t->reader || !t->atr)
                return -ENOMEM;
        r = bus_token_path(id, &t->path);
        if (r < 0)
                return r;
        t->inserted_at = reader && reader->card_since > 0 ? reader->card_since : now_usec(CLOCK_REALTIME);
        *ret = TAKE_PTR(t);
        return 0;
}

static int token_new_from_scan(Manager *m, ScanToken *st, const char *id, const Reader *reader,
                               Token **ret) {
        _cleanup_(token_freep) Token *t = NULL;
        const JP11TokenInfo *info = &st->info;
        int r;

        r = token_new(m, id, reader, &t);
        if (r < 0)
                return r;
        t->module = strdup(st->module);
        t->manufacturer = strdup(info->manufacturer);
        t->model = strdup(info->model);
        t->serial = strdup(info->serial);
        t->label = strdup(info->label);
        if (!t->module || !t->manufacturer || !t->model || !t->serial || !t->label)
                return -ENOMEM;
        t->slot = st->slot;
        /* "busy" is decided when it is published (token_copy()). */
        t->state = token_state_from_scan(info, st->keys, st->n_keys, st->certs, st->n_certs);
        r = token_pin_flags(&info->pin, &t->pin_flags);
        if (r < 0)
                return r;
        t->pin_min_length = pin_length(info->pin.min_len);
        t->pin_max_length = pin_length(info->pin.max_len);
        r = token_uri(info, &t->uri);
        if (r < 0)
                return r;

        /* The scan result is ours: take its object lists over. */
        t->keys = TAKE_PTR(st->keys);
        t->n_keys = st->n_keys;
        st->n_keys = 0;
        t->certs = TAKE_PTR(st->certs);
        t->n_certs = st->n_certs;
        st->n_certs = 0;

        *ret = TAKE_PTR(t);
        return 0;
}

static int token_new_unsupported(Manager *m, const char *id, const Reader *reader, Token **ret) {
        _cleanup_(token_freep) Token *t = NULL;
        int r;

        r = token_new(m, id, reader, &t);
        if (r < 0)
                return r;
        t->module = strdup("");
        t->manufacturer = strdup("");
        t->model = strdup("");
        t->serial = strdup("");
        t->label = strdup("");
        t->uri = strdup("");
        t->pin_flags = calloc(1, sizeof(char *));
        if (!t->module || !t->manufacturer || !t->model || !t->serial || !t->label || !t->uri ||
            !t->pin_flags)
                return -ENOMEM;
        t->state = "unsupported";
        *ret = TAKE_PTR(t);
        return 0;
}

static bool keys_equal(const JP11Key *a, size_t na, const JP11Key *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (a[i].is_private != b[i].is_private || a[i].type != b[i].type || a[i].bits != b[i].bits ||
                    a[i].curve != b[i].curve || !id_equal(a[i].id, a[i].id_len, b[i].id, b[i].id_len) ||
                    !streq(a[i].label, b[i].label) || a[i].local != b[i].local ||
                    a[i].sensitive != b[i].sensitive || a[i].extractable != b[i].extractable ||
                    a[i].always_authenticate != b[i].always_authenticate)
                        return false;
        return true;
}

static bool certs_equal(const JP11Certificate *a, size_t na, const JP11Certificate *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!id_equal(a[i].id, a[i].id_len, b[i].id, b[i].id_len) || !streq(a[i].label, b[i].label) ||
                    a[i].category != b[i].category || !streq(a[i].subject, b[i].subject) ||
                    !streq(a[i].issuer, b[i].issuer) || !streq(a[i].serial, b[i].serial) ||
                    a[i].not_before != b[i].not_before || a[i].not_after != b[i].not_after)
                        return false;
        return true;
}

#define SWAP(a, b)                              \
        do {                                    \
                __typeof__(a) _t = (a);         \
                (a) = (b);                      \
                (b) = _t;                       \
        } while (0)

/* Moves what differs from n into t and lists the properties that changed. */
static int token_update(Token *t, Token *n, char ***changed) {
#define UPDATE(cond, field, name)                                       \
        do {                                                            \
                if (!(cond)) {                                          \
                        SWAP(t->field, n->field);                       \
                        if (strv_extend(changed, name) < 0)             \
                                return -ENOMEM;                         \
                }                                                       \
        } while (0)

        UPDATE(streq(t->reader, n->reader), reader, "Reader");
        UPDATE(streq(t->module, n->module), module, "Module");
        UPDATE(t->slot == n->slot, slot, "Slot");
        UPDATE(streq(t->manufacturer, n->manufacturer), manufacturer, "Manufacturer");
        UPDATE(streq(t->model, n->model), model, "Model");
        UPDATE(streq(t->serial, n->serial), serial, "Serial");
        UPDATE(streq(t->label, n->label), label, "Label");
        UPDATE(streq(t->atr, n->atr), atr, "Atr");
        UPDATE(streq(t->state, n->state), state, "State");
        UPDATE(strv_equal(t->pin_flags, n->pin_flags), pin_flags, "PinFlags");
        UPDATE(t->pin_min_length == n->pin_min_length, pin_min_length, "PinMinLength");
        UPDATE(t->pin_max_length == n->pin_max_length, pin_max_length, "PinMaxLength");
        if (!keys_equal(t->keys, t->n_keys, n->keys, n->n_keys)) {
                SWAP(t->keys, n->keys);
                SWAP(t->n_keys, n->n_keys);
                if (strv_extend(changed, "Keys") < 0)
                        return -ENOMEM;
        }
        if (!certs_equal(t->certs, t->n_certs, n->certs, n->n_certs)) {
                SWAP(t->certs, n->certs);
                SWAP(t->n_certs, n->n_certs);
                if (strv_extend(changed, "Certificates") < 0)
                        return -ENOMEM;
        }
        UPDATE(streq(t->uri, n->uri), uri, "Uri");
        return 0;
#undef UPDATE
}

static void token_link(Manager *m, Token *t) {
        t->prev = NULL;
        t->next = m->tokens;
        if (m->tokens)
                m->tokens->prev = t;
        m->tokens = t;
}

static void token_unlink(Manager *m, Token *t) {
        if (t->prev)
                t->prev->next = t->next;
        else
                m->tokens = t->next;
        if (t->next)
                t->next->prev = t->prev;
        t->next = t->prev = NULL;
}

Token *registry_find_token(Manager *m, const char *id) {
        for (Token *t = m->tokens; t; t = t->next)
                if (streq(t->id, id))
                        return t;
        return NULL;
}

static void token_publish(Manager *m, Token *t) {
        token_link(m, t);
        if (streq(t->state, "unsupported"))
                log_info("Unsupported card in reader '%s' (ATR %s).", t->reader, t->atr);
        else
                log_info("Token '%s' (%s %s, serial %s) is present%s%s%s.", t->label, t->manufacturer,
                         t->model, t->serial, isempty(t->reader) ? "" : " in reader '",
                         t->reader, isempty(t->reader) ? "" : "'");
        bus_token_emit_added(t);
        /* Certificates waiting for this token go on it now. */
        job_on_token_added(m, t);
        batch_on_token_added(m, t);
}

static void token_unpublish(Manager *m, Token *t) {
        if (streq(t->state, "unsupported"))
                log_info("Card removed from reader '%s'.", t->reader);
        else
                log_info("Token '%s' (serial %s) is gone.", t->label, t->serial);
        bus_token_emit_removed(t);
        job_on_token_removed(m, t);
        batch_on_token_removed(m, t);
        token_unlink(m, t);
        token_free(t);
}

/* ---- PC/SC ------------------------------------------------------------- */

static void forget_cards_gone(Manager *m);

void registry_on_pcsc(PcscSnapshot *snapshot, void *userdata) {
        _cleanup_(pcsc_snapshot_freep) PcscSnapshot *s = snapshot;
        Manager *m = userdata;
        bool first = !m->pcsc_seen, was_available = m->pcsc_available;
        Reader *readers;
        size_t n;

        if (s->available) {
                n = s->n_readers;
                readers = calloc(n ?: 1, sizeof(Reader));
                if (!readers)
                        return (void) log_oom();
                for (size_t i = 0; i < n; i++) {
                        const Reader *old = reader_find(m->readers, m->n_readers, s->readers[i].name);

                        readers[i] = (Reader) {
                                .name = TAKE_PTR(s->readers[i].name),
                                .state = s->readers[i].state,
                                .atr_len = s->readers[i].atr_len,
                        };
                        memcpy(readers[i].atr, s->readers[i].atr, s->readers[i].atr_len);
                        if (readers[i].state == PCSC_READER_CARD)
                                readers[i].card_since =
                                        reader_has_card(old) && old->atr_len == readers[i].atr_len &&
                                                        memcmp(old->atr, readers[i].atr, old->atr_len) == 0
                                                ? old->card_since
                                                : now_usec(CLOCK_REALTIME);
                }
        } else {
                /* pcscd is gone: keep the names we knew, unavailable, so
                 * that the tokens bound to them read as absent. */
                if (readers_copy(m->readers, m->n_readers, &readers) < 0)
                        return (void) log_oom();
                n = m->n_readers;
                for (size_t i = 0; i < n; i++) {
                        readers[i].state = PCSC_READER_UNAVAILABLE;
                        readers[i].atr_len = 0;
                        readers[i].card_since = 0;
                }
        }

        bool changed = !readers_equal(m->readers, m->n_readers, readers, n);
        readers_free(m->readers, m->n_readers);
        m->readers = readers;
        m->n_readers = n;
        m->pcsc_available = s->available;
        m->pcsc_seen = true;

        if (first || was_available != m->pcsc_available) {
                if (m->pcsc_available)
                        log_info("pcscd is running, %zu reader(s).", m->n_readers);
                else
                        log_warning("pcscd is unavailable: reader tokens are absent until it is back.");
                if (!first)
                        bus_manager_emit_changed(m, "PcscState");
        }
        if (changed)
                bus_manager_emit_changed(m, "Readers");

        /* A card that left takes its token with it now, without waiting
         * for the PKCS#11 scan. */
        for (Token *t = m->tokens, *next; t; t = next) {
                next = t->next;
                if (isempty(t->reader))
                        continue;
                if (!reader_has_card(reader_find(m->readers, m->n_readers, t->reader)))
                        token_unpublish(m, t);
        }
        forget_cards_gone(m);

        registry_request_scan(m, "PC/SC change");
}

/* ---- modules and devices ----------------------------------------------- */

static const char *path_basename(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

const char *registry_device_status(Manager *m, const char *module_path, char **buffer) {
        *buffer = NULL;
        if (!module_path)
                return "ok";
        for (size_t i = 0; i < m->n_module_scans; i++) {
                const ModuleScan *ms = m->module_scans + i;

                if (ms->known && ms->status.loaded &&
                    streq(path_basename(ms->path), path_basename(module_path)))
                        return "ok";
        }
        if (asprintf(buffer, "needs-module:%s", module_path) < 0) {
                *buffer = NULL;
                return "needs-module";
        }
        return *buffer;
}

/* Every module has loaded, failed, or is not answering. */
static bool modules_known(Manager *m) {
        for (size_t i = 0; i < m->n_module_scans; i++)
                if (!m->module_scans[i].known && !m->module_scans[i].stuck)
                        return false;
        return true;
}

/* Re-evaluates every device's status; logs the ones that now lack their
 * module, and says whether any status changed. */
static bool check_devices(Manager *m) {
        bool changed = false;
        UsbDevice *devices;
        size_t n;

        /* Until the modules are loaded every status would read "needs-module". */
        if (!modules_known(m))
                return false;

        devices = udev_watch_devices(m->udev, &n);
        for (size_t i = 0; i < n; i++) {
                UsbDevice *d = devices + i;
                _cleanup_free_ char *buffer = NULL;
                const char *status = registry_device_status(m, d->module, &buffer);

                if (streq_ptr(d->status, status))
                        continue;
                if (free_and_strdup(&d->status, status) < 0) {
                        log_oom();
                        return true;
                }
                changed = true;
                if (d->module && !streq(status, "ok"))
                        log_warning("%s (%s) at %s needs the PKCS#11 module %s, which is not loaded: "
                                    "install it and add it to Modules= in jetond.conf.",
                                    d->model, d->vendor_product, d->syspath, d->module);
        }
        return changed;
}

void registry_on_usb(UdevWatch *w, UsbDevice *d, bool added, void *userdata) {
        Manager *m = userdata;

        if (added) {
                log_info("USB device %s (%s) plugged in at %s.", d->model, d->vendor_product, d->syspath);
                (void) check_devices(m);
        } else
                log_info("USB device %s (%s) unplugged from %s.", d->model, d->vendor_product, d->syspath);

        bus_manager_emit_changed(m, "Devices");
        registry_request_scan(m, "USB change");
}

/* Manager.Modules; announced also when only the not-answering state
 * changed (force). */
static void module_set_status(Manager *m, ModuleScan *ms, ScanModule *now, bool force) {
        bool changed = !ms->known || ms->status.loaded != now->loaded || !streq_ptr(ms->status.message, now->message);

        if (!ms->known || ms->status.loaded != now->loaded) {
                if (now->loaded)
                        log_info("Loaded PKCS#11 module %s: %s", now->path, now->message);
                else
                        log_warning("Failed to load PKCS#11 module %s: %s", now->path, now->message);
        }
        if (changed) {
                SWAP(ms->status, *now);
                ms->known = true;
        }
        if (changed || force)
                bus_manager_emit_changed(m, "Modules");
        if (changed && check_devices(m))
                bus_manager_emit_changed(m, "Devices");
}

/* ---- what each module shows --------------------------------------------- */

static Token *list_find(Token *list, const char *id) {
        for (Token *t = list; t; t = t->next)
                if (streq(t->id, id))
                        return t;
        return NULL;
}

void token_list_free(Token *list) {
        while (list) {
                Token *next = list->next;
                token_free(list);
                list = next;
        }
}

/* The tokens of one module's result, as they should be shown, and which of
 * the readers of the request its slots name. */
static int build_candidates(Manager *m, ScanJob *j, Token **ret, bool **ret_covered) {
        _cleanup_free_ bool *covered = calloc(j->n_readers ?: 1, sizeof(bool));
        Token *list = NULL;
        int r;

        if (!covered)
                return -ENOMEM;

        for (size_t i = 0; i < j->result->n_tokens; i++) {
                ScanToken *st = j->result->tokens + i;
                const Reader *then = NULL, *now = NULL;
                _cleanup_free_ char *id = NULL;
                Token *t;

                for (size_t k = 0; k < j->n_readers; k++)
                        if (reader_matches_slot(j->readers[k].name, st->slot_description)) {
                                then = j->readers + k;
                                covered[k] = true;
                                break;
                        }
                if (then) {
                        now = reader_find(m->readers, m->n_readers, then->name);
                        if (!reader_has_card(then) || !reader_has_card(now)) {
                                /* Changed since: the next scan decides. */
                                log_debug("Token %s_%s in '%s' not shown: card %s when asked, %s now.",
                                          st->info.manufacturer, st->info.serial, then->name,
                                          pcsc_reader_state_to_string(then->state),
                                          now ? pcsc_reader_state_to_string(now->state) : "gone");
                                continue;
                        }
                }

                if (asprintf(&id, "%s_%s", st->info.manufacturer, st->info.serial) < 0) {
                        id = NULL;
                        r = -ENOMEM;
                        goto fail;
                }
                if (list_find(list, id))
                        continue;       /* the same token in a second slot */

                r = token_new_from_scan(m, st, id, now, &t);
                if (r < 0)
                        goto fail;
                t->next = list;
                list = t;
        }

        *ret = list;
        *ret_covered = TAKE_PTR(covered);
        return 0;

fail:
        token_list_free(list);
        return r;
}

static int memdup_array(const void *p, size_t n, size_t size, void **ret) {
        *ret = NULL;
        if (n == 0)
                return 0;
        *ret = malloc(n * size);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, p, n * size);
        return 0;
}

/* A copy of a module's candidate to publish, "busy" while a job runs on it. */
static int token_copy(Manager *m, const Token *c, Token **ret) {
        _cleanup_(token_freep) Token *t = calloc(1, sizeof(Token));

        if (!t)
                return -ENOMEM;
        t->manager = m;
        t->id = strdup(c->id);
        t->path = strdup(c->path);
        t->reader = strdup(c->reader);
        t->module = strdup(c->module);
        t->manufacturer = strdup(c->manufacturer);
        t->model = strdup(c->model);
        t->serial = strdup(c->serial);
        t->label = strdup(c->label);
        t->atr = strdup(c->atr);
        t->uri = strdup(c->uri);
        t->pin_flags = calloc(1, sizeof(char *));
        if (!t->id || !t->path || !t->reader || !t->module || !t->manufacturer || !t->model || !t->serial ||
            !t->label || !t->atr || !t->uri || !t->pin_flags)
                return -ENOMEM;
        for (char **f = c->pin_flags; f && *f; f++)
                if (strv_extend(&t->pin_flags, *f) < 0)
                        return -ENOMEM;
        t->slot = c->slot;
        t->state = job_token_busy(m, c->serial) ? "busy" : c->state;
        t->pin_min_length = c->pin_min_length;
        t->pin_max_length = c->pin_max_length;
        t->inserted_at = c->inserted_at;

        if (memdup_array(c->keys, c->n_keys, sizeof(JP11Key), (void **) &t->keys) < 0)
                return -ENOMEM;
        t->n_keys = c->n_keys;
        if (memdup_array(c->certs, c->n_certs, sizeof(JP11Certificate), (void **) &t->certs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_certs; i++)
                t->certs[i].der = NULL;
        t->n_certs = c->n_certs;
        for (size_t i = 0; i < c->n_certs; i++)
                if (memdup_array(c->certs[i].der, c->certs[i].der_len, 1, (void **) &t->certs[i].der) < 0)
                        return -ENOMEM;

        *ret = TAKE_PTR(t);
        return 0;
}

/* Publishes, updates or removes the token id after what the modules' last
 * scans show: through the first module in Modules= order that shows it.
 * from: the module whose result is being applied, if any. */
static void token_settle(Manager *m, const char *id, const ModuleScan *from) {
        const ModuleScan *owner = NULL;
        const Token *c = NULL;
        Token *t, *d;
        int r;

        for (size_t i = 0; i < m->n_module_scans && !c; i++) {
                owner = m->module_scans + i;
                c = list_find(owner->candidates, id);
        }
        t = registry_find_token(m, id);
        if (!c) {
                if (t)
                        token_unpublish(m, t);
                return;
        }
        /* Another module's token, as its own last scan left it: that
         * module's next scan updates it, not ours. */
        if (t && owner != from && streq_ptr(t->module, owner->path))
                return;

        r = token_copy(m, c, &d);
        if (r < 0)
                return (void) log_oom();
        if (!t) {
                token_publish(m, d);
                return;
        }

        _cleanup_strv_free_ char **changed = NULL;
        r = token_update(t, d, &changed);
        token_free(d);
        if (r < 0)
                return (void) log_oom();
        if (changed) {
                log_debug("Token '%s' changed.", t->id);
                bus_token_emit_changed(t, changed);
        }
}

/* A card left: what any module showed in its reader is gone with it (the
 * same token may still show through another module). */
static void forget_cards_gone(Manager *m) {
        Token *dropped = NULL;

        for (size_t i = 0; i < m->n_module_scans; i++)
                for (Token **p = &m->module_scans[i].candidates; *p;) {
                        Token *t = *p;

                        if (isempty(t->reader) || reader_has_card(reader_find(m->readers, m->n_readers, t->reader))) {
                                p = &t->next;
                                continue;
                        }
                        *p = t->next;
                        t->next = dropped;
                        dropped = t;
                }

        for (Token *t = dropped; t; t = t->next)
                token_settle(m, t->id, NULL);
        token_list_free(dropped);
}

/* ---- unsupported cards -------------------------------------------------- */

static bool token_is_card(const Token *t) {
        return isempty(t->module);      /* only the tokens of unsupported cards have no module */
}

/* A card in reader now that no module knows: every module has answered a
 * scan asked for while this very card was in, and none has a slot naming
 * the reader. */
static bool card_unsupported(Manager *m, const Reader *now) {
        if (!reader_has_card(now))
                return false;
        for (size_t i = 0; i < m->n_module_scans; i++) {
                const ModuleScan *ms = m->module_scans + i;
                const Reader *then = reader_find(ms->seen, ms->n_seen, now->name);

                if (!then || !reader_has_card(then) || then->card_since != now->card_since)
                        return false;   /* it has not answered for this card yet */
                if (ms->covered[then - ms->seen])
                        return false;
        }
        return true;
}

/* Removes the card tokens no longer wanted and, with add, publishes or
 * updates those wanted. */
static void sync_cards(Manager *m, bool add) {
        int r;

        for (Token *t = m->tokens, *next; t; t = next) {
                next = t->next;
                if (token_is_card(t) &&
                    !card_unsupported(m, reader_find(m->readers, m->n_readers, t->reader)))
                        token_unpublish(m, t);
        }
        if (!add)
                return;

        for (size_t k = 0; k < m->n_readers; k++) {
                const Reader *now = m->readers + k;
                _cleanup_strv_free_ char **changed = NULL;
                _cleanup_free_ char *id = NULL;
                Token *t, *d;

                if (!card_unsupported(m, now))
                        continue;
                if (asprintf(&id, "card_%s", now->name) < 0)
                        return (void) log_oom();
                r = token_new_unsupported(m, id, now, &d);
                if (r < 0)
                        return (void) log_oom();
                t = registry_find_token(m, id);
                if (!t) {
                        token_publish(m, d);
                        continue;
                }
                r = token_update(t, d, &changed);
                token_free(d);
                if (r < 0)
                        return (void) log_oom();
                if (changed)
                        bus_token_emit_changed(t, changed);
        }
}

/* ---- scans -------------------------------------------------------------- */

static void check_ready(Manager *m) {
        if (m->ready || !m->pcsc_seen)
                return;
        for (size_t i = 0; i < m->n_module_scans; i++)
                if (!m->module_scans[i].answered && !m->module_scans[i].stuck)
                        return;
        manager_set_ready(m);
}

static void apply_tokens(Manager *m, ModuleScan *ms, ScanJob *j) {
        Token *candidates = NULL, *old;
        bool *covered = NULL;
        int r;

        r = build_candidates(m, j, &candidates, &covered);
        if (r < 0)
                return (void) log_error_errno(r, "Failed to apply the scan of %s: %m", ms->path);

        old = TAKE_PTR(ms->candidates);
        ms->candidates = candidates;
        readers_free(ms->seen, ms->n_seen);
        ms->seen = TAKE_PTR(j->readers);
        ms->n_seen = j->n_readers;
        j->n_readers = 0;
        free(ms->covered);
        ms->covered = covered;

        /* Removals first, as a client would see a card swapped. */
        for (Token *t = old; t; t = t->next)
                if (!list_find(candidates, t->id))
                        token_settle(m, t->id, ms);
        sync_cards(m, false);
        for (Token *t = candidates; t; t = t->next)
                token_settle(m, t->id, ms);
        sync_cards(m, true);
        token_list_free(old);
}

void registry_on_module_scan(ModuleScan *ms, ScanJob *j, bool was_stuck) {
        Manager *m = ms->manager;

        if (j->r >= 0) {
                module_set_status(m, ms, &j->result->module, was_stuck);
                /* Before pcscd has told us its readers, a token cannot be
                 * tied to one: the scan that follows the first snapshot
                 * publishes. */
                if (j->pcsc_seen)
                        apply_tokens(m, ms, j);
        } else if (was_stuck)
                bus_manager_emit_changed(m, "Modules");

        if (j->pcsc_seen)
                ms->answered = true;
        check_ready(m);
}

void registry_on_module_stuck(ModuleScan *ms) {
        Manager *m = ms->manager;

        bus_manager_emit_changed(m, "Modules");
        /* A module that hangs in its first load leaves the others known. */
        if (check_devices(m))
                bus_manager_emit_changed(m, "Devices");
        check_ready(m);
}

void registry_request_scan(Manager *m, const char *reason) {
        for (size_t i = 0; i < m->n_module_scans; i++)
                module_scan_request(m->module_scans + i, reason);

        /* No module configured (Modules= empty): every card is
         * unsupported. Not once the workers are gone (shutdown). */
        if (m->module_scans && m->n_module_scans == 0 && m->pcsc_seen) {
                sync_cards(m, true);
                check_ready(m);
        }
}

void registry_done(Manager *m) {
        while (m->tokens) {
                Token *t = m->tokens;
                token_unlink(m, t);
                token_free(t);
        }
        readers_free(m->readers, m->n_readers);
        m->readers = NULL;
        m->n_readers = 0;
}
