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
        bool stopping;
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
                pthread_mutex_unlock(&w->lock);

                i->work(i->userdata);

                pthread_mutex_lock(&w->lock);
                queue_push(&w->finished, i);
                if (write(w->event_fd, &one, sizeof(one)) < 0)
                        log_debug_errno(-errno, "%s: failed to wake the event loop: %m", w->name);
        }
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

        queue_cancel(&w->finished);
        queue_cancel(&w->todo);

        sd_event_source_disable_unref(w->source);
        safe_close(w->event_fd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w->name);
        free(w);
        return NULL;
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
