/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <winscard.h>

#include "log.h"
#include "pcsc-watch.h"
#include "util.h"

#define PNP_READER "\\\\?PnP?\\Notification"

struct PcscWatch {
        sd_event_source *source;
        int event_fd;                   /* thread -> loop: a snapshot is pending */
        int stop_fd;                    /* loop -> thread: wakes the inotify wait */
        PcscWatchHandler handler;
        void *userdata;

        pthread_t thread;
        bool thread_started;
        atomic_bool stopping;

        pthread_mutex_t lock;           /* guards the two fields below */
        PcscSnapshot *pending;
        SCARDCONTEXT context;           /* the thread's, for SCardCancel */
        bool have_context;
};

/* The thread's own bookkeeping, never shared. */
typedef struct KnownReader {
        char *name;
        DWORD event_state;
} KnownReader;

typedef struct ThreadState {
        KnownReader *known;
        size_t n_known;
        PcscSnapshot *last_posted;      /* to post only real changes */

        int inotify_fd;
        int wd;
        char *watched;                  /* directory watched now */
        char *expect;                   /* entry of it we wait for */
} ThreadState;

const char *pcsc_reader_state_to_string(PcscReaderState s) {
        static const char *const table[_PCSC_READER_STATE_MAX] = {
                [PCSC_READER_EMPTY] = "empty",
                [PCSC_READER_CARD] = "card",
                [PCSC_READER_UNAVAILABLE] = "unavailable",
        };
        return s >= 0 && s < _PCSC_READER_STATE_MAX ? table[s] : NULL;
}

const char *pcsc_socket_path(void) {
        const char *e = secure_getenv("PCSCLITE_CSOCK_NAME");
        return e && e[0] == '/' ? e : "/run/pcscd/pcscd.comm";
}

PcscSnapshot *pcsc_snapshot_free(PcscSnapshot *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_readers; i++)
                free(s->readers[i].name);
        free(s->readers);
        free(s);
        return NULL;
}

static bool snapshot_equal(const PcscSnapshot *a, const PcscSnapshot *b) {
        if (!a || !b)
                return a == b;
        if (a->available != b->available || a->n_readers != b->n_readers)
                return false;
        for (size_t i = 0; i < a->n_readers; i++) {
                const PcscReader *x = a->readers + i, *y = b->readers + i;
                if (!streq(x->name, y->name) || x->state != y->state || x->atr_len != y->atr_len ||
                    memcmp(x->atr, y->atr, x->atr_len) != 0)
                        return false;
        }
        return true;
}

static void known_clear(ThreadState *t) {
        for (size_t i = 0; i < t->n_known; i++)
                free(t->known[i].name);
        t->known = mfree(t->known);
        t->n_known = 0;
}

/* Hands a snapshot to the loop, replacing one it has not taken yet. */
static void post(PcscWatch *w, ThreadState *t, PcscSnapshot *s) {
        _cleanup_(pcsc_snapshot_freep) PcscSnapshot *old = NULL;
        uint64_t one = 1;

        if (snapshot_equal(s, t->last_posted)) {
                pcsc_snapshot_free(s);
                return;
        }
        pcsc_snapshot_free(t->last_posted);
        t->last_posted = s;

        /* The loop gets its own copy: the thread keeps last_posted. */
        _cleanup_(pcsc_snapshot_freep) PcscSnapshot *copy = calloc(1, sizeof(PcscSnapshot));
        if (!copy)
                return (void) log_oom();
        copy->available = s->available;
        copy->readers = calloc(s->n_readers ?: 1, sizeof(PcscReader));
        if (!copy->readers)
                return (void) log_oom();
        for (size_t i = 0; i < s->n_readers; i++) {
                copy->readers[i] = s->readers[i];
                copy->readers[i].name = strdup(s->readers[i].name);
                if (!copy->readers[i].name)
                        return (void) log_oom();
                copy->n_readers++;
        }

        pthread_mutex_lock(&w->lock);
        old = w->pending;
        w->pending = TAKE_PTR(copy);
        pthread_mutex_unlock(&w->lock);

        if (write(w->event_fd, &one, sizeof(one)) < 0)
                log_debug_errno(-errno, "pcsc: failed to wake the event loop: %m");
}

static void post_unavailable(PcscWatch *w, ThreadState *t) {
        PcscSnapshot *s = calloc(1, sizeof(PcscSnapshot));

        if (!s)
                return (void) log_oom();
        known_clear(t);
        post(w, t, s);
}

/* ---- waiting for pcscd to come back ---------------------------------- */

static void socket_watch_disarm(ThreadState *t) {
        t->inotify_fd = safe_close(t->inotify_fd);
        t->wd = -1;
        t->watched = mfree(t->watched);
        t->expect = mfree(t->expect);
}

/* Watches the socket's directory, or, while that does not exist, its
 * nearest existing parent for the next missing component. Re-armed before
 * every connection attempt, so nothing created in between is missed. */
static int socket_watch_arm(ThreadState *t) {
        const char *path = pcsc_socket_path();
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        if (t->inotify_fd < 0) {
                t->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
                if (t->inotify_fd < 0)
                        return -errno;
        }

        for (;;) {
                _cleanup_free_ char *child = NULL;

                slash = strrchr(dir, '/');
                if (!slash)
                        return -EINVAL;
                child = strdup(slash + 1);
                if (!child)
                        return -ENOMEM;
                if (slash == dir)
                        slash[1] = 0;   /* keep "/" */
                else
                        *slash = 0;

                if (streq_ptr(t->watched, dir) && streq_ptr(t->expect, child))
                        return 0;

                int wd = inotify_add_watch(t->inotify_fd, dir,
                                           IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                           IN_MOVE_SELF | IN_ONLYDIR);
                if (wd < 0) {
                        if ((errno == ENOENT || errno == ENOTDIR) && !streq(dir, "/"))
                                continue;
                        return -errno;
                }
                if (t->wd >= 0 && t->wd != wd)
                        (void) inotify_rm_watch(t->inotify_fd, t->wd);
                t->wd = wd;
                if (free_and_strdup(&t->watched, dir) < 0)
                        return -ENOMEM;
                free(t->expect);
                t->expect = TAKE_PTR(child);
                return 0;
        }
}

/* Blocks until the watched directory says something about the entry we
 * expect (or about itself), or until we are asked to stop. */
static int socket_watch_wait(PcscWatch *w, ThreadState *t) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = w->stop_fd, .events = POLLIN },
                        { .fd = t->inotify_fd, .events = POLLIN },
                };
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                bool relevant = false;
                ssize_t n;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (atomic_load(&w->stopping))
                        return -ECANCELED;

                while ((n = read(t->inotify_fd, buf, sizeof(buf))) > 0)
                        for (char *q = buf; q < buf + n;) {
                                const struct inotify_event *e = (const struct inotify_event *) q;

                                if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                                        /* The directory itself went: re-arm from scratch. */
                                        t->wd = -1;
                                        t->watched = mfree(t->watched);
                                        relevant = true;
                                } else if (e->len > 0 && streq_ptr(e->name, t->expect))
                                        relevant = true;
                                q += sizeof(struct inotify_event) + e->len;
                        }
                if (relevant)
                        return 0;
        }
}

/* A bounded back-off, only while pcscd is down or broken: when inotify
 * itself fails, and when a connection breaks before its first round (a
 * pcscd that accepts and then fails at once must not make us spin). */
static int backoff_wait(PcscWatch *w, unsigned attempt) {
        struct pollfd p = { .fd = w->stop_fd, .events = POLLIN };
        int ms = 100 << (attempt < 8 ? attempt : 8);

        if (ms > 30000)
                ms = 30000;
        if (poll(&p, 1, ms) < 0 && errno != EINTR)
                return -errno;
        return atomic_load(&w->stopping) ? -ECANCELED : 0;
}

/* ---- watching the readers -------------------------------------------- */

static PcscReaderState map_state(DWORD s) {
        if (s & SCARD_STATE_PRESENT)
                return PCSC_READER_CARD;
        if (s & SCARD_STATE_EMPTY)
                return PCSC_READER_EMPTY;
        return PCSC_READER_UNAVAILABLE;
}

static DWORD known_state(const ThreadState *t, const char *name) {
        for (size_t i = 0; i < t->n_known; i++)
                if (streq(t->known[i].name, name))
                        return t->known[i].event_state & ~(DWORD) SCARD_STATE_CHANGED;
        return SCARD_STATE_UNAWARE;
}

static LONG list_readers(SCARDCONTEXT ctx, char **ret, DWORD *ret_len) {
        for (unsigned attempt = 0; attempt < 5; attempt++) {
                _cleanup_free_ char *buf = NULL;
                DWORD len = 0;
                LONG rv;

                rv = SCardListReaders(ctx, NULL, NULL, &len);
                if (rv == SCARD_E_NO_READERS_AVAILABLE) {
                        *ret = NULL;
                        *ret_len = 0;
                        return SCARD_S_SUCCESS;
                }
                if (rv != SCARD_S_SUCCESS)
                        return rv;
                buf = malloc(len ?: 1);
                if (!buf)
                        return SCARD_E_NO_MEMORY;
                rv = SCardListReaders(ctx, NULL, buf, &len);
                if (rv == SCARD_E_INSUFFICIENT_BUFFER)
                        continue;       /* a reader arrived in between */
                if (rv == SCARD_E_NO_READERS_AVAILABLE) {
                        *ret = NULL;
                        *ret_len = 0;
                        return SCARD_S_SUCCESS;
                }
                if (rv != SCARD_S_SUCCESS)
                        return rv;
                *ret = TAKE_PTR(buf);
                *ret_len = len;
                return SCARD_S_SUCCESS;
        }
        return SCARD_E_INSUFFICIENT_BUFFER;
}

/* One round: list, wait for a change, record and post what we saw.
 * Returns SCARD_S_SUCCESS to go on, SCARD_E_CANCELLED when stopping,
 * anything else when the connection to pcscd is lost or broken. */
static LONG watch_round(PcscWatch *w, ThreadState *t, SCARDCONTEXT ctx) {
        _cleanup_free_ char *names = NULL;
        _cleanup_free_ SCARD_READERSTATE *states = NULL;
        DWORD len = 0;
        size_t n = 0;
        LONG rv;

        rv = list_readers(ctx, &names, &len);
        if (rv != SCARD_S_SUCCESS)
                return rv;
        for (const char *p = names; p && p < names + len && *p; p += strlen(p) + 1)
                n++;

        states = calloc(n + 1, sizeof(SCARD_READERSTATE));
        if (!states)
                return SCARD_E_NO_MEMORY;
        size_t i = 0;
        for (const char *p = names; i < n; p += strlen(p) + 1, i++) {
                states[i].szReader = p;
                states[i].dwCurrentState = known_state(t, p);
        }
        /* pcsc-lite counts readers in the high word of the PnP state. */
        states[n].szReader = PNP_READER;
        states[n].dwCurrentState = (DWORD) n << 16;

        /* A reader we have not seen yet is UNAWARE, which returns at once. */
        rv = SCardGetStatusChange(ctx, INFINITE, states, (DWORD) n + 1);
        if (rv == SCARD_E_CANCELLED)
                return atomic_load(&w->stopping) ? SCARD_E_CANCELLED : SCARD_S_SUCCESS;
        if (rv == SCARD_E_TIMEOUT || rv == SCARD_E_UNKNOWN_READER || rv == SCARD_E_READER_UNAVAILABLE)
                return SCARD_S_SUCCESS;    /* the reader list changed under us: list again */
        if (rv != SCARD_S_SUCCESS)
                return rv;

        /* Remember every reader's state for the next wait, post the view. */
        _cleanup_free_ KnownReader *known = calloc(n ?: 1, sizeof(KnownReader));
        _cleanup_(pcsc_snapshot_freep) PcscSnapshot *s = calloc(1, sizeof(PcscSnapshot));
        if (!known || !s)
                return SCARD_E_NO_MEMORY;
        s->available = true;
        s->readers = calloc(n ?: 1, sizeof(PcscReader));
        if (!s->readers)
                return SCARD_E_NO_MEMORY;
        for (i = 0; i < n; i++) {
                PcscReader *r = s->readers + s->n_readers;

                known[i].name = strdup(states[i].szReader);
                r->name = strdup(states[i].szReader);
                if (!known[i].name || !r->name) {
                        free(r->name);
                        for (size_t j = 0; j <= i; j++)
                                free(known[j].name);
                        return SCARD_E_NO_MEMORY;
                }
                s->n_readers++;
                known[i].event_state = states[i].dwEventState;
                r->state = map_state(states[i].dwEventState);
                if (r->state == PCSC_READER_CARD && states[i].cbAtr <= PCSC_ATR_MAX) {
                        r->atr_len = states[i].cbAtr;
                        memcpy(r->atr, states[i].rgbAtr, r->atr_len);
                }
        }
        known_clear(t);
        t->known = TAKE_PTR(known);
        t->n_known = n;

        post(w, t, TAKE_PTR(s));
        return SCARD_S_SUCCESS;
}

static void set_context(PcscWatch *w, SCARDCONTEXT ctx, bool have) {
        pthread_mutex_lock(&w->lock);
        w->context = ctx;
        w->have_context = have;
        pthread_mutex_unlock(&w->lock);
}

static void *pcsc_thread(void *userdata) {
        PcscWatch *w = userdata;
        ThreadState t = { .inotify_fd = -EBADF, .wd = -1 };
        bool down = false, can_watch = true;
        unsigned attempt = 0;

        while (!atomic_load(&w->stopping)) {
                SCARDCONTEXT ctx;
                LONG rv;

                if (down && can_watch) {
                        int r = socket_watch_arm(&t);
                        if (r < 0) {
                                log_warning_errno(r, "pcsc: cannot watch for %s, retrying with back-off: %m",
                                                  pcsc_socket_path());
                                can_watch = false;
                        }
                }

                rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
                if (rv != SCARD_S_SUCCESS) {
                        if (!down) {
                                log_info("pcscd is not available (%s), waiting for %s.",
                                         pcsc_stringify_error(rv), pcsc_socket_path());
                                post_unavailable(w, &t);
                                down = true;
                                continue;       /* arm the watch, then try once more */
                        }
                        if ((can_watch ? socket_watch_wait(w, &t) : backoff_wait(w, attempt++)) < 0)
                                break;
                        continue;
                }

                if (down)
                        log_info("pcscd is available again.");
                down = false;
                can_watch = true;
                attempt = 0;
                socket_watch_disarm(&t);
                set_context(w, ctx, true);

                unsigned rounds = 0;
                while ((rv = watch_round(w, &t, ctx)) == SCARD_S_SUCCESS)
                        rounds++;

                set_context(w, 0, false);
                (void) SCardReleaseContext(ctx);
                if (rv == SCARD_E_CANCELLED)
                        break;

                log_debug("pcsc: connection lost: %s", pcsc_stringify_error(rv));
                /* A pcscd that keeps failing at once must not make us spin:
                 * pause (bounded) when a connection gave nothing. */
                if (rounds == 0) {
                        if (backoff_wait(w, attempt++) < 0)
                                break;
                } else
                        attempt = 0;
        }

        socket_watch_disarm(&t);
        known_clear(&t);
        pcsc_snapshot_free(t.last_posted);
        return NULL;
}

/* ---- the loop side ---------------------------------------------------- */

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PcscWatch *w = userdata;
        PcscSnapshot *snapshot;
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return log_error_errno(-errno, "pcsc: failed to read eventfd: %m");

        pthread_mutex_lock(&w->lock);
        snapshot = TAKE_PTR(w->pending);
        pthread_mutex_unlock(&w->lock);

        if (snapshot)
                w->handler(snapshot, w->userdata);
        return 0;
}

int pcsc_watch_new(sd_event *event, PcscWatchHandler handler, void *userdata, PcscWatch **ret) {
        _cleanup_(pcsc_watch_freep) PcscWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(PcscWatch));
        if (!w)
                return -ENOMEM;
        w->event_fd = w->stop_fd = -EBADF;
        w->handler = handler;
        w->userdata = userdata;
        pthread_mutex_init(&w->lock, NULL);

        w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->event_fd < 0 || w->stop_fd < 0)
                return -errno;

        r = sd_event_add_io(event, &w->source, w->event_fd, EPOLLIN, on_event, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, "pcsc-watch");

        r = pthread_create(&w->thread, NULL, pcsc_thread, w);
        if (r != 0)
                return -r;
        w->thread_started = true;
        (void) pthread_setname_np(w->thread, "jetond-pcsc");

        *ret = TAKE_PTR(w);
        return 0;
}

PcscWatch *pcsc_watch_free(PcscWatch *w) {
        uint64_t one = 1;

        if (!w)
                return NULL;

        if (w->thread_started) {
                atomic_store(&w->stopping, true);
                if (write(w->stop_fd, &one, sizeof(one)) < 0)
                        log_debug_errno(-errno, "pcsc: failed to wake the thread: %m");

                /* SCardCancel only interrupts a wait already in progress: if
                 * the thread is between two waits, try again shortly. */
                for (unsigned i = 0;; i++) {
                        struct timespec ts;

                        pthread_mutex_lock(&w->lock);
                        if (w->have_context)
                                (void) SCardCancel(w->context);
                        pthread_mutex_unlock(&w->lock);

                        if (i >= 50) {
                                (void) pthread_join(w->thread, NULL);
                                break;
                        }
                        (void) clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 100 * 1000 * 1000;
                        if (ts.tv_nsec >= 1000 * 1000 * 1000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000 * 1000 * 1000;
                        }
                        if (pthread_timedjoin_np(w->thread, NULL, &ts) == 0)
                                break;
                }
        }

        sd_event_source_disable_unref(w->source);
        safe_close(w->event_fd);
        safe_close(w->stop_fd);
        pcsc_snapshot_free(w->pending);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}
