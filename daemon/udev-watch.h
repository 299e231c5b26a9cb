/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* USB tokens and CCID readers as udev sees them, on the event loop (a
 * libudev monitor is an fd). A small table names the tokens we know and
 * the PKCS#11 module each needs, so that a token whose module is not
 * installed can be reported instead of silently ignored; any other USB
 * interface of class 0x0b (CCID) is a generic reader. Devices present at
 * start are enumerated. */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct UsbDevice {
        char *syspath;
        char *model;
        char vendor_product[10];        /* "096e:0807" */
        const char *module;             /* the module it needs; NULL: any reader driver */
        char *status;                   /* last status the manager published, for its own use */
} UsbDevice;

typedef struct UdevWatch UdevWatch;

/* Called after a device was added to the list or removed from it (then
 * 'device' is valid only during the call). */
typedef void (*UdevWatchHandler)(UdevWatch *w, UsbDevice *device, bool added, void *userdata);

/* Known USB tokens, for the man page and tests: returns NULL past the end. */
typedef struct KnownToken {
        unsigned vendor, product;
        const char *model;
        const char *module;
} KnownToken;
const KnownToken *udev_known_token(size_t i);

int udev_watch_new(sd_event *event, UdevWatchHandler handler, void *userdata, UdevWatch **ret);
UdevWatch *udev_watch_free(UdevWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UdevWatch *, udev_watch_free);

/* Calls the handler for the devices already present. */
int udev_watch_enumerate(UdevWatch *w);

UsbDevice *udev_watch_devices(UdevWatch *w, size_t *ret_n);
