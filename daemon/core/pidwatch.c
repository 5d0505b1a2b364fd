/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <event2/event.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pidwatch.h"
#include "util.h"

#define PIDWATCH_BATCH 64

static void on_ready(evutil_socket_t fd, short what, void *userdata) {
        PidWatch *w = userdata;
        struct epoll_event evs[PIDWATCH_BATCH];
        int n;

        /* Level-triggered: if more than a batch is ready, the loop comes back. */
        n = epoll_wait(w->epfd, evs, ELEMENTSOF(evs), 0);
        for (int i = 0; i < n; i++)
                w->fn(evs[i].data.ptr, w->userdata);
}

int pidwatch_init(PidWatch *w, struct event_base *base, int priority, PidWatchFn fn, void *userdata) {
        *w = (PidWatch) { .fn = fn, .userdata = userdata };
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epfd < 0)
                return -errno;
        w->event = event_new(base, w->epfd, EV_READ | EV_PERSIST, on_ready, w);
        if (!w->event || event_priority_set(w->event, priority) < 0 || event_add(w->event, NULL) < 0) {
                pidwatch_done(w);
                return -ENOMEM;
        }
        return 0;
}

void pidwatch_done(PidWatch *w) {
        if (w->event)
                event_free(w->event);
        if (w->epfd >= 0)
                close(w->epfd);
        *w = (PidWatch) PIDWATCH_INIT;
}

int pidwatch_add(PidWatch *w, int pidfd, void *item) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = item };

        return epoll_ctl(w->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0 ? -errno : 0;
}

void pidwatch_remove(PidWatch *w, int pidfd) {
        /* Before the pidfd is closed, so that a report for it that is
         * already queued cannot reach an item that is gone. */
        (void) epoll_ctl(w->epfd, EPOLL_CTL_DEL, pidfd, NULL);
}
