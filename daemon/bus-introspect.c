/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-batch.h"
#include "bus-introspect.h"
#include "bus-job.h"
#include "bus-manager.h"
#include "bus-order.h"
#include "bus-token.h"
#include "manager.h"

#define INTROSPECT_DOCTYPE                                                      \
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n" \
        "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"

/* Length of the single complete type at the start of s, 0 if invalid. */
static size_t complete_type_length(const char *s) {
        size_t n;

        switch (*s) {
        case 'a':
                n = complete_type_length(s + 1);
                return n > 0 ? n + 1 : 0;
        case '(':
        case '{': {
                char close = *s == '(' ? ')' : '}';
                size_t i = 1;

                while (s[i] && s[i] != close) {
                        n = complete_type_length(s + i);
                        if (n == 0)
                                return 0;
                        i += n;
                }
                return s[i] == close ? i + 1 : 0;
        }
        case '\0':
        case ')':
        case '}':
                return 0;
        default:
                return 1;
        }
}

/* Prints one <arg> per complete type of signature; names is a list of
 * NUL-terminated names (advanced past the ones used). */
static void print_args(FILE *f, const char *signature, const char **names, const char *direction) {
        for (const char *p = signature; *p;) {
                size_t n = complete_type_length(p);

                if (n == 0)
                        break;
                fprintf(f, "   <arg type=\"%.*s\"", (int) n, p);
                if (*names && **names) {
                        fprintf(f, " name=\"%s\"", *names);
                        *names += strlen(*names) + 1;
                }
                if (direction)
                        fprintf(f, " direction=\"%s\"", direction);
                fputs("/>\n", f);
                p += n;
        }
}

/* The annotations sd-bus writes for these flags (a system bus peer is
 * not "trusted", so privileged members are marked). */
static void print_flags(FILE *f, int type, uint64_t flags) {
        if (flags & SD_BUS_VTABLE_DEPRECATED)
                fputs("   <annotation name=\"org.freedesktop.DBus.Deprecated\" value=\"true\"/>\n", f);
        if (type == _SD_BUS_VTABLE_METHOD && (flags & SD_BUS_VTABLE_METHOD_NO_REPLY))
                fputs("   <annotation name=\"org.freedesktop.DBus.Method.NoReply\" value=\"true\"/>\n", f);
        if (type == _SD_BUS_VTABLE_PROPERTY || type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) {
                if (flags & SD_BUS_VTABLE_PROPERTY_EXPLICIT)
                        fputs("   <annotation name=\"org.freedesktop.systemd1.Explicit\" value=\"true\"/>\n", f);
                if (flags & SD_BUS_VTABLE_PROPERTY_CONST)
                        fputs("   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"const\"/>\n", f);
                else if (flags & SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION)
                        fputs("   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"invalidates\"/>\n", f);
                else if (!(flags & SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE))
                        fputs("   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"false\"/>\n", f);
        }
        if ((type == _SD_BUS_VTABLE_METHOD || type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) &&
            !(flags & SD_BUS_VTABLE_UNPRIVILEGED))
                fputs("   <annotation name=\"org.freedesktop.systemd1.Privileged\" value=\"true\"/>\n", f);
}

static void print_interface(FILE *f, const char *name, const sd_bus_vtable *vtable) {
        fprintf(f, " <interface name=\"%s\">\n", name);
        for (const sd_bus_vtable *v = vtable; v->type != _SD_BUS_VTABLE_END; v++) {
                const char *names;

                switch (v->type) {
                case _SD_BUS_VTABLE_START:
                        if (v->flags & SD_BUS_VTABLE_DEPRECATED)
                                fputs("  <annotation name=\"org.freedesktop.DBus.Deprecated\" value=\"true\"/>\n", f);
                        break;
                case _SD_BUS_VTABLE_METHOD:
                        if (v->flags & SD_BUS_VTABLE_HIDDEN)
                                break;
                        names = v->x.method.names ?: "";
                        fprintf(f, "  <method name=\"%s\">\n", v->x.method.member);
                        print_args(f, v->x.method.signature ?: "", &names, "in");
                        print_args(f, v->x.method.result ?: "", &names, "out");
                        print_flags(f, v->type, v->flags);
                        fputs("  </method>\n", f);
                        break;
                case _SD_BUS_VTABLE_SIGNAL:
                        if (v->flags & SD_BUS_VTABLE_HIDDEN)
                                break;
                        names = v->x.signal.names ?: "";
                        fprintf(f, "  <signal name=\"%s\">\n", v->x.signal.member);
                        print_args(f, v->x.signal.signature ?: "", &names, NULL);
                        print_flags(f, v->type, v->flags);
                        fputs("  </signal>\n", f);
                        break;
                case _SD_BUS_VTABLE_PROPERTY:
                case _SD_BUS_VTABLE_WRITABLE_PROPERTY:
                        if (v->flags & SD_BUS_VTABLE_HIDDEN)
                                break;
                        fprintf(f, "  <property name=\"%s\" type=\"%s\" access=\"%s\">\n", v->x.property.member,
                                v->x.property.signature,
                                v->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY ? "readwrite" : "read");
                        print_flags(f, v->type, v->flags);
                        fputs("  </property>\n", f);
                        break;
                }
        }
        fputs(" </interface>\n", f);
}

int bus_introspect_print(FILE *f) {
        fputs(INTROSPECT_DOCTYPE, f);
        fputs("<node>\n", f);
        print_interface(f, JETON_MANAGER_INTERFACE, manager_vtable);
        print_interface(f, JETON_TOKEN_INTERFACE, token_vtable);
        print_interface(f, JETON_ORDER_INTERFACE, order_vtable);
        print_interface(f, JETON_JOB_INTERFACE, job_vtable);
        print_interface(f, JETON_BATCH_INTERFACE, batch_vtable);
        fputs("</node>\n", f);
        return fflush(f) == 0 ? 0 : -errno;
}
