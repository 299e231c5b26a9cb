/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "udev-watch.h"
#include "util.h"

#ifndef JETON_MULTIARCH
#  error "JETON_MULTIARCH must be defined (see daemon/build.mk)"
#endif

/* Tokens whose USB IDs tell which PKCS#11 module drives them. OpenSC can
 * read Thales/Gemalto IDPrime and SafeNet eToken 5110 since 0.24 but not
 * generate keys on them: provisioning needs the vendor's module. The
 * vendor paths are where the vendors' packages install them. */
static const KnownToken known_tokens[] = {
        { 0x096e, 0x0807, "Feitian ePass2003", "/usr/lib/" JETON_MULTIARCH "/opensc-pkcs11.so" },
        { 0x0529, 0x0620, "SafeNet eToken 5110", "/usr/lib/libeTPkcs11.so" },
        { 0x08e6, 0x3438, "Gemalto IDPrime", "/usr/lib/libIDPrimePKCS11.so" },
};

#define USB_CLASS_CCID 0x0b

struct UdevWatch {
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *source;
        UdevWatchHandler handler;
        void *userdata;

        UsbDevice *devices;
        size_t n_devices;
};

const KnownToken *udev_known_token(size_t i) {
        return i < ELEMENTSOF(known_tokens) ? known_tokens + i : NULL;
}

static const KnownToken *known_lookup(unsigned vendor, unsigned product) {
        for (size_t i = 0; i < ELEMENTSOF(known_tokens); i++)
                if (known_tokens[i].vendor == vendor && known_tokens[i].product == product)
                        return known_tokens + i;
        return NULL;
}

static void usb_device_done(UsbDevice *d) {
        free(d->syspath);
        free(d->model);
        free(d->status);
}

/* PRODUCT=<vendor>/<product>/<bcdDevice> in hex, on devices and interfaces alike. */
static bool parse_product(const char *s, unsigned *vendor, unsigned *product) {
        int n = 0;

        return s && sscanf(s, "%x/%x/%*x%n", vendor, product, &n) == 2 && n > 0 && s[n] == '\0';
}

/* INTERFACE=<class>/<subclass>/<protocol> in decimal, on an interface.
 * Matched on the property since sysfs attributes are gone in "remove"
 * events. */
static bool interface_is_ccid(const char *s) {
        unsigned class;
        int n = 0;

        return s && sscanf(s, "%u/%*u/%*u%n", &class, &n) == 1 && n > 0 && s[n] == '\0' &&
               class == USB_CLASS_CCID;
}

/* ID_USB_INTERFACES=:0b0000:030101: on a device (udev's usb_id builtin,
 * which 70-jeton.rules matches too): class, subclass, protocol in hex per
 * interface, each after a ':'. */
static bool interfaces_have_ccid(const char *s) {
        return s && strstr(s, ":0b");
}

static UsbDevice *find_device(UdevWatch *w, const char *syspath) {
        for (size_t i = 0; i < w->n_devices; i++)
                if (streq(w->devices[i].syspath, syspath))
                        return w->devices + i;
        return NULL;
}

static int add_device(UdevWatch *w, const char *syspath, const char *model, unsigned vendor,
                      unsigned product, const char *module) {
        UsbDevice *devices, *d;

        if (find_device(w, syspath))
                return 0;

        devices = reallocarray(w->devices, w->n_devices + 1, sizeof(UsbDevice));
        if (!devices)
                return -ENOMEM;
        w->devices = devices;
        d = devices + w->n_devices;
        *d = (UsbDevice) { .module = module };
        (void) snprintf(d->vendor_product, sizeof(d->vendor_product), "%04x:%04x", vendor & 0xffff,
                        product & 0xffff);
        d->syspath = strdup(syspath);
        d->model = strdup(model);
        if (!d->syspath || !d->model) {
                usb_device_done(d);
                return -ENOMEM;
        }
        w->n_devices++;

        log_debug("USB device %s: %s (%s)", syspath, model, d->vendor_product);
        w->handler(w, d, true, w->userdata);
        return 1;
}

/* A device going also takes its interfaces (whose paths lie below). */
static void remove_devices(UdevWatch *w, const char *syspath) {
        size_t len = strlen(syspath);

        for (size_t i = 0; i < w->n_devices;) {
                UsbDevice *d = w->devices + i;

                if (strncmp(d->syspath, syspath, len) != 0 || (d->syspath[len] != '\0' && d->syspath[len] != '/')) {
                        i++;
                        continue;
                }
                UsbDevice gone = *d;

                memmove(d, d + 1, (w->n_devices - i - 1) * sizeof(UsbDevice));
                w->n_devices--;
                log_debug("USB device %s removed", gone.syspath);
                w->handler(w, &gone, false, w->userdata);
                usb_device_done(&gone);
        }
}

static int process_device(UdevWatch *w, struct udev_device *dev, const char *action) {
        const char *syspath = udev_device_get_syspath(dev), *devtype;
        const KnownToken *known;
        unsigned vendor, product;

        if (!syspath)
                return 0;
        if (action && streq(action, "remove")) {
                remove_devices(w, syspath);
                return 0;
        }
        if (action && !streq(action, "add"))
                return 0;

        devtype = udev_device_get_devtype(dev);
        if (!devtype || !parse_product(udev_device_get_property_value(dev, "PRODUCT"), &vendor, &product))
                return 0;
        known = known_lookup(vendor, product);

        /* One entry per USB device, whether we learn it is CCID from the
         * device or from its interface. */
        if (streq(devtype, "usb_device")) {
                if (known)
                        return add_device(w, syspath, known->model, vendor, product, known->module);
                if (interfaces_have_ccid(udev_device_get_property_value(dev, "ID_USB_INTERFACES")))
                        return add_device(w, syspath, "CCID reader", vendor, product, NULL);
                return 0;
        }

        /* A known token's own CCID interface is the token, not another reader. */
        if (streq(devtype, "usb_interface") && !known &&
            interface_is_ccid(udev_device_get_property_value(dev, "INTERFACE"))) {
                _cleanup_free_ char *parent = strdup(syspath);
                char *slash;

                if (!parent)
                        return -ENOMEM;
                slash = strrchr(parent, '/');
                if (!slash || slash == parent)
                        return 0;
                *slash = '\0';
                return add_device(w, parent, "CCID reader", vendor, product, NULL);
        }

        return 0;
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UdevWatch *w = userdata;

        for (;;) {
                struct udev_device *dev = udev_monitor_receive_device(w->monitor);
                int r;

                if (!dev)
                        break;
                r = process_device(w, dev, udev_device_get_action(dev));
                udev_device_unref(dev);
                if (r < 0)
                        log_warning_errno(r, "Failed to process a udev event: %m");
        }
        return 0;
}

int udev_watch_new(sd_event *event, UdevWatchHandler handler, void *userdata, UdevWatch **ret) {
        _cleanup_(udev_watch_freep) UdevWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(UdevWatch));
        if (!w)
                return -ENOMEM;
        w->handler = handler;
        w->userdata = userdata;

        w->udev = udev_new();
        if (!w->udev)
                return -errno ?: -ENOMEM;
        w->monitor = udev_monitor_new_from_netlink(w->udev, "udev");
        if (!w->monitor)
                return -errno ?: -ENOMEM;
        r = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, "usb", NULL);
        if (r < 0)
                return r;
        r = udev_monitor_enable_receiving(w->monitor);
        if (r < 0)
                return r;

        r = sd_event_add_io(event, &w->source, udev_monitor_get_fd(w->monitor), EPOLLIN, on_monitor, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, "udev-monitor");

        *ret = TAKE_PTR(w);
        return 0;
}

int udev_watch_enumerate(UdevWatch *w) {
        struct udev_enumerate *e;
        struct udev_list_entry *i;
        int r;

        e = udev_enumerate_new(w->udev);
        if (!e)
                return -errno ?: -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "usb");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0) {
                udev_enumerate_unref(e);
                return r;
        }

        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                struct udev_device *dev = udev_device_new_from_syspath(w->udev, udev_list_entry_get_name(i));

                if (!dev)
                        continue;       /* gone meanwhile */
                r = process_device(w, dev, NULL);
                udev_device_unref(dev);
                if (r < 0) {
                        udev_enumerate_unref(e);
                        return r;
                }
        }
        udev_enumerate_unref(e);
        return 0;
}

UsbDevice *udev_watch_devices(UdevWatch *w, size_t *ret_n) {
        if (!w) {
                *ret_n = 0;
                return NULL;
        }
        *ret_n = w->n_devices;
        return w->devices;
}

UdevWatch *udev_watch_free(UdevWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->source);
        udev_monitor_unref(w->monitor);
        udev_unref(w->udev);
        for (size_t i = 0; i < w->n_devices; i++)
                usb_device_done(w->devices + i);
        free(w->devices);
        free(w);
        return NULL;
}
