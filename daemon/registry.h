/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The token registry, on the event loop's thread: it turns PC/SC snapshots
 * and PKCS#11 scan results into the Token objects on the bus.
 *
 * - A PC/SC snapshot updates Manager.Readers at once, drops the tokens of
 *   readers that no longer hold a card, and asks for a scan.
 * - A scan request goes to every module's scan worker (module-scan.h);
 *   each module's scans run on their own and remember the readers as
 *   they were when they were asked for.
 * - A module's result is applied to that module's tokens only: a token in
 *   a slot whose description names a PC/SC reader is shown only if that
 *   reader held a card both when the scan was asked for and now
 *   (otherwise a newer scan is already queued and will settle it); a slot
 *   with no matching reader (SoftHSM, vendor modules that bypass PC/SC) is
 *   shown as it is. Each module keeps what its last scan showed; a token
 *   seen through several modules is shown through the first of them in
 *   Modules= order. Objects are added, updated (PropertiesChanged) or
 *   removed by diffing against what is published.
 * - A reader with a card that no module reports a token for gets an
 *   "unsupported" token, once every module has answered a scan asked for
 *   while that card was in (a module not answering may still know it).
 * - jetond takes its bus name once pcscd's state is known and every
 *   module has either answered a scan that saw it or is not answering
 *   (ModuleTimeoutSec=): a hung module cannot keep it off the bus. */

#include <stdbool.h>
#include <stdint.h>

#include "jeton-p11.h"
#include "pcsc-watch.h"
#include "scan.h"
#include "udev-watch.h"

typedef struct Manager Manager;
typedef struct ModuleScan ModuleScan;
typedef struct ScanJob ScanJob;

typedef struct Reader {
        char *name;
        PcscReaderState state;
        uint8_t atr[PCSC_ATR_MAX];
        size_t atr_len;
        uint64_t card_since;            /* CLOCK_REALTIME usec when the card was first seen */
} Reader;

typedef struct Token Token;
struct Token {
        Manager *manager;
        Token *next, *prev;

        char *id;                       /* "<manufacturer>_<serial>" or "card_<reader>" */
        char *path;

        /* Read by sd-bus through offsetof(): keep the types in line with
         * the signatures in bus-token.c. */
        char *reader;
        char *module;
        uint64_t slot;
        char *manufacturer;
        char *model;
        char *serial;
        char *label;
        char *atr;
        const char *state;
        char **pin_flags;
        uint32_t pin_min_length;
        uint32_t pin_max_length;
        char *uri;
        uint64_t inserted_at;

        JP11Key *keys;
        size_t n_keys;
        JP11Certificate *certs;
        size_t n_certs;
};

Token *token_free(Token *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Token *, token_free);
/* Frees a list linked through next. */
void token_list_free(Token *list);

void readers_free(Reader *r, size_t n);
int readers_copy(const Reader *src, size_t n, Reader **ret);

/* Pure pieces, exposed for reuse and tests. */
const char *token_state_from_scan(const JP11TokenInfo *info, const JP11Key *keys, size_t n_keys,
                                  const JP11Certificate *certs, size_t n_certs);
int token_pin_flags(const JP11PinState *pin, char ***ret);
int token_uri(const JP11TokenInfo *info, char **ret);
bool reader_matches_slot(const char *reader, const char *slot_description);

Token *registry_find_token(Manager *m, const char *id);

/* PcscWatch handler: takes ownership of the snapshot. */
void registry_on_pcsc(PcscSnapshot *snapshot, void *userdata);
/* UdevWatch handler. */
void registry_on_usb(UdevWatch *w, UsbDevice *device, bool added, void *userdata);
/* Asks every module for a scan (reason is for the debug log). */
void registry_request_scan(Manager *m, const char *reason);

/* module-scan.c: a module's scan returned (was_stuck: after it had been
 * reported as not answering). Takes what it wants of j. */
void registry_on_module_scan(ModuleScan *ms, ScanJob *j, bool was_stuck);
/* module-scan.c: the module's running scan is past ModuleTimeoutSec=. */
void registry_on_module_stuck(ModuleScan *ms);

/* Frees everything without signals (shutdown). */
void registry_done(Manager *m);

/* "ok" or "needs-module:<path>" for a device that needs module_path (NULL:
 * any reader driver will do). Static or malloc'd into *buffer. */
const char *registry_device_status(Manager *m, const char *module_path, char **buffer);
