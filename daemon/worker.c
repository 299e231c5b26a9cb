/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "log.h"
#include "util.h"
#include "worker.h"

typedef struct Item Item;
struct Item {
        Item *next;
        WorkerFunc work;
        WorkerDoneFunc done;
        void *userdata;
};

typedef struct Queue {
        Item *head, *tail;
} Queue;

struct Worker {
        char *name;
        sd_event_source *source;
        int event_fd;

        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;   /* guards everything below */
        pthread_cond_t cond;
        pthread_cond_t exited_cond;     /* on CLOCK_MONOTONIC */
        bool stopping, exited;
        bool busy;              /* the thread is in an item's work function */
        Queue todo, finished;
};

static void queue_push(Queue *q, Item *i) {
        i->next = NULL;
        if (q->tail)
                q->tail->next = i;
        else
                q->head = i;
        q->tail = i;
}

static Item *queue_pop(Queue *q) {
        Item *i = q->head;

        if (i) {
                q->head = i->next;
                if (!q->head)
                        q->tail = NULL;
                i->next = NULL;
        }
        return i;
}

static void *worker_thread(void *userdata) {
        Worker *w = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                Item *i;

                while (!w->stopping && !w->todo.head)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stopping)
                        break;

                i = queue_pop(&w->todo);
                w->busy = true;
                pthread_mutex_unlock(&w->lock);

                i->work(i->userdata);

                pthread_mutex_lock(&w->lock);
                w->busy = false;
                queue_push(&w->finished, i);
                if (write(w->event_fd, &one, sizeof(one)) < 0)
                        log_debug_errno(-errno, "%s: failed to wake the event loop: %m", w->name);
        }
        w->exited = true;
        pthread_cond_broadcast(&w->exited_cond);
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        Queue finished;
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return log_error_errno(-errno, "%s: failed to read eventfd: %m", w->name);

        pthread_mutex_lock(&w->lock);
        finished = w->finished;
        w->finished = (Queue) {};
        pthread_mutex_unlock(&w->lock);

        for (Item *i; (i = queue_pop(&finished));) {
                i->done(i->userdata, false);
                free(i);
        }
        return 0;
}

int worker_new(sd_event *event, const char *name, Worker **ret) {
        _cleanup_(worker_freep) Worker *w = NULL;
        int r;

        w = calloc(1, sizeof(Worker));
        if (!w)
                return -ENOMEM;
        w->event_fd = -EBADF;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        {
                pthread_condattr_t attr;

                pthread_condattr_init(&attr);
                (void) pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_init(&w->exited_cond, &attr);
                pthread_condattr_destroy(&attr);
        }
        w->name = strdup(name);
        if (!w->name)
                return -ENOMEM;

        w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->event_fd < 0)
                return -errno;
        r = sd_event_add_io(event, &w->source, w->event_fd, EPOLLIN, on_event, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, w->name);

        r = pthread_create(&w->thread, NULL, worker_thread, w);
        if (r != 0)
                return -r;
        w->thread_started = true;
        {
                /* Thread names are limited to 15 characters. */
                char tname[16];
                (void) snprintf(tname, sizeof(tname), "%s", name);
                (void) pthread_setname_np(w->thread, tname);
        }

        *ret = TAKE_PTR(w);
        return 0;
}

static void queue_cancel(Queue *q) {
        for (Item *i; (i = queue_pop(q));) {
                i->done(i->userdata, true);
                free(i);
        }
}

static void worker_destroy(Worker *w) {
        queue_cancel(&w->finished);
        queue_cancel(&w->todo);

        sd_event_source_disable_unref(w->source);
        safe_close(w->event_fd);
        pthread_cond_destroy(&w->exited_cond);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w->name);
        free(w);
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;

        if (w->thread_started) {
                pthread_mutex_lock(&w->lock);
                w->stopping = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
                (void) pthread_join(w->thread, NULL);
        }
        worker_destroy(w);
        return NULL;
}

bool worker_free_until(Worker *w, uint64_t deadline) {
        struct timespec ts = {
                .tv_sec = deadline / UINT64_C(1000000),
                .tv_nsec = (deadline % UINT64_C(1000000)) * 1000,
        };
        Queue todo, finished;

        if (!w)
                return true;
        if (!w->thread_started) {
                worker_destroy(w);
                return true;
        }

        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->cond);
        /* Not in an item: it starts none now that it is stopping, and
         * exits as soon as it runs. */
        while (!w->exited && w->busy)
                if (pthread_cond_timedwait(&w->exited_cond, &w->lock, &ts) == ETIMEDOUT)
                        break;
        if (w->exited || !w->busy) {
                pthread_mutex_unlock(&w->lock);
                (void) pthread_join(w->thread, NULL);
                worker_destroy(w);
                return true;
        }

        /* Stuck in its item. The thread takes the lock, pushes the item to
         * 'finished' and writes the eventfd if the call ever returns: the
         * struct, the lock and the descriptor stay (the descriptor's number
         * must not be reused under it). The event source goes, so that the
         * loop can be freed; the item is never delivered. */
        todo = w->todo;
        finished = w->finished;
        w->todo = w->finished = (Queue) {};
        pthread_mutex_unlock(&w->lock);
        (void) pthread_detach(w->thread);
        queue_cancel(&finished);
        queue_cancel(&todo);
        w->source = sd_event_source_disable_unref(w->source);
        log_debug("%s: left behind in a call that has not returned.", w->name);
        return false;
}

int worker_submit(Worker *w, WorkerFunc work, WorkerDoneFunc done, void *userdata) {
        Item *i = calloc(1, sizeof(Item));

        if (!i)
                return -ENOMEM;
        i->work = work;
        i->done = done;
        i->userdata = userdata;

        pthread_mutex_lock(&w->lock);
        queue_push(&w->todo, i);
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}
