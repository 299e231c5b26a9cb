/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small idioms copied in spirit from systemd's macro.h: only libsystemd's
 * public API is available to us, so the cleanup helpers live here. */

#include <stddef.h>
#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership on: returns the pointer and leaves NULL behind so the
 * cleanup attribute of the source does nothing. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _ptr_ = (p);       \
                (p) = NULL;                      \
                _ptr_;                           \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Defines a NAME##p() function usable with _cleanup_ for a destructor that
 * accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
        static inline void func##p(type *p) {            \
                if (*p)                                  \
                        func(*p);                        \
        }

#define streq(a, b) (strcmp((a), (b)) == 0)
