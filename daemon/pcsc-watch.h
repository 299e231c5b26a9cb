/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Watches pcscd from a thread of its own, which blocks in
 * SCardGetStatusChange (no timeout) over every reader plus the PnP
 * notification pseudo-reader, and re-lists the readers at each wake. Each
 * change of what it sees (reader list, card presence, ATR) is handed to
 * the event loop as a complete snapshot through an eventfd; snapshots not
 * yet consumed are replaced by newer ones, so the loop always gets the
 * latest state and never a backlog.
 *
 * When pcscd goes away the thread posts an "unavailable" snapshot and
 * waits, without polling, for pcscd's socket to reappear (inotify on its
 * directory, or the nearest existing parent; PCSCLITE_CSOCK_NAME is
 * honoured), then reconnects by itself. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define PCSC_ATR_MAX 33

typedef enum PcscReaderState {
        PCSC_READER_EMPTY,
        PCSC_READER_CARD,
        PCSC_READER_UNAVAILABLE,
        _PCSC_READER_STATE_MAX,
} PcscReaderState;

typedef struct PcscReader {
        char *name;
        PcscReaderState state;
        uint8_t atr[PCSC_ATR_MAX];
        size_t atr_len;
} PcscReader;

typedef struct PcscSnapshot {
        bool available;         /* false: pcscd is not running (readers is then empty) */
        PcscReader *readers;
        size_t n_readers;
} PcscSnapshot;

PcscSnapshot *pcsc_snapshot_free(PcscSnapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(PcscSnapshot *, pcsc_snapshot_free);
const char *pcsc_reader_state_to_string(PcscReaderState s);

/* Called on the event loop's thread; takes ownership of the snapshot. */
typedef void (*PcscWatchHandler)(PcscSnapshot *snapshot, void *userdata);

typedef struct PcscWatch PcscWatch;

int pcsc_watch_new(sd_event *event, PcscWatchHandler handler, void *userdata, PcscWatch **ret);
/* Stops and joins the thread (SCardCancel), drops a pending snapshot. */
PcscWatch *pcsc_watch_free(PcscWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(PcscWatch *, pcsc_watch_free);

/* The path of pcscd's socket as libpcsclite will use it. */
const char *pcsc_socket_path(void);
