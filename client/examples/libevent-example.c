/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsigbroker in a libevent loop: the handle's fd is watched for what
 * sigbroker_get_events() asks, sigbroker_dispatch() runs the handlers, and
 * a timer sends us a signal every second (pipelined: send_async + flush).
 * Stops after five signals.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "sigbroker.h"

#define SIG_RTMIN_2 36

typedef struct Context {
        sigbroker *sb;
        struct event_base *base;
        struct event *io;
        short io_events;
        int received;
} Context;

static void on_io(evutil_socket_t fd, short what, void *userdata);

/* The events wanted change with the handle's state: ask after every call. */
static void rearm(Context *c) {
        int events = sigbroker_get_events(c->sb);
        short want = EV_READ | EV_PERSIST;

        if (events < 0) {
                event_base_loopbreak(c->base);
                return;
        }
        if (events & POLLOUT)
                want |= EV_WRITE;
        if (want == c->io_events)
                return;
        event_del(c->io);
        event_assign(c->io, c->base, sigbroker_get_fd(c->sb), want, on_io, c);
        event_add(c->io, NULL);
        c->io_events = want;
}

static int on_signal(sigbroker *sb, const sigbroker_info *info, void *userdata) {
        Context *c = userdata;

        printf("signal %d seq %llu: \"%.*s\"\n", info->signo, (unsigned long long) info->seq,
               (int) info->payload_len, (const char *) info->payload);
        if (++c->received == 5)
                event_base_loopbreak(c->base);
        return 0;
}

static void on_io(evutil_socket_t fd, short what, void *userdata) {
        Context *c = userdata;
        int r = sigbroker_dispatch(c->sb);

        if (r < 0) {
                fprintf(stderr, "dispatch: %s\n", strerror(-r));
                event_base_loopbreak(c->base);
                return;
        }
        rearm(c);
}

static void on_timer(evutil_socket_t fd, short what, void *userdata) {
        Context *c = userdata;
        sigbroker_target self = { .kind = SIGBROKER_TARGET_CLIENT };
        int r;

        (void) sigbroker_get_client_id(c->sb, &self.id);
        r = sigbroker_send_async(c->sb, &self, SIG_RTMIN_2, 0, "tick", 4, NULL);
        if (r >= 0)
                r = sigbroker_flush(c->sb);
        if (r < 0) {
                fprintf(stderr, "send: %s\n", strerror(-r));
                event_base_loopbreak(c->base);
        }
        rearm(c);
}

int main(void) {
        __attribute__((cleanup(sigbroker_closep))) sigbroker *sb = NULL;
        Context c = {};
        struct event *timer;
        struct timeval second = { 1, 0 };
        int r;

        r = sigbroker_connect(NULL, &sb);
        if (r < 0) {
                fprintf(stderr, "connect: %s\n", strerror(-r));
                return 1;
        }
        r = sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_RTMIN_2), 0);
        if (r >= 0)
                r = sigbroker_set_handler(sb, SIG_RTMIN_2, on_signal, &c, 0);
        if (r < 0) {
                fprintf(stderr, "subscribe: %s\n", strerror(-r));
                return 1;
        }

        c.sb = sb;
        c.base = event_base_new();
        c.io = event_new(c.base, sigbroker_get_fd(sb), EV_READ | EV_PERSIST, on_io, &c);
        c.io_events = EV_READ | EV_PERSIST;
        event_add(c.io, NULL);
        timer = event_new(c.base, -1, EV_PERSIST, on_timer, &c);
        event_add(timer, &second);

        event_base_dispatch(c.base);

        event_free(timer);
        event_free(c.io);
        event_base_free(c.base);
        return c.received == 5 ? 0 : 1;
}
