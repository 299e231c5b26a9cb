/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One event of jetonctl monitor, printed as a line of text or as one
 * JSON object on a line, and flushed. */

#include <stdbool.h>

#include "bus-value.h"
#include "jetonctl.h"

typedef enum EventKind {
        EVENT_ADDED,
        EVENT_REMOVED,
        EVENT_CHANGED,
} EventKind;

typedef struct Event {
        EventKind kind;
        const char *path;
        const char *interface;
        const BusValue *props;          /* now; for "removed" the last known */
        const BusValue *changed;        /* EVENT_CHANGED: its keys name the changed properties */
        const BusValue *old;            /* EVENT_CHANGED: their values before, where known */
        const BusValue *invalidated;    /* EVENT_CHANGED: names without a value (may be NULL) */
} Event;

/* Returns 0 or the output error (a closed pipe, a full disk). */
int event_print(const Event *e, JsonMode json);

/* jetond took (started) or released its bus name; owner is its unique name. */
int event_print_daemon(bool started, const char *owner, JsonMode json);
