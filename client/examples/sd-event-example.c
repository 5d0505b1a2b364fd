/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsigbroker in an sd-event loop, the way sd-bus attaches to one: an io
 * source whose prepare callback sets the events sigbroker_get_events()
 * asks for before every wait, and sigbroker_dispatch() when it fires.
 * Receives RTMIN+3 until SIGINT or SIGTERM; a one-shot handler greets the
 * first USR2. Try: sigbrokerctl send --pid <pid> --payload hi RTMIN+3
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "sigbroker.h"

#define SIG_USR2 12
#define SIG_RTMIN_3 37

static int on_prepare(sd_event_source *s, void *userdata) {
        int events = sigbroker_get_events(userdata);

        if (events < 0)
                return events;
        return sd_event_source_set_io_events(s, (uint32_t) events);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        int r = sigbroker_dispatch(userdata);

        if (r < 0)
                return sd_event_exit(sd_event_source_get_event(s), r);
        return 0;
}

static int on_rtmin3(sigbroker *sb, const sigbroker_info *info, void *userdata) {
        if (info->gap)
                printf("RTMIN+3: %u lost\n", info->lost);
        else
                printf("RTMIN+3 from pid %d: \"%.*s\"\n", (int) info->sender_pid, (int) info->payload_len,
                       (const char *) info->payload);
        return 0;
}

static int on_usr2(sigbroker *sb, const sigbroker_info *info, void *userdata) {
        printf("first USR2, from pid %d; the next ones stay queued\n", (int) info->sender_pid);
        return 0;
}

int main(void) {
        __attribute__((cleanup(sigbroker_closep))) sigbroker *sb = NULL;
        sd_event *e = NULL;
        sd_event_source *io = NULL;
        sigset_t ss;
        int r;

        r = sigbroker_connect(NULL, &sb);
        if (r < 0) {
                fprintf(stderr, "connect: %s\n", strerror(-r));
                return 1;
        }
        r = sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_RTMIN_3) | SIGBROKER_SIGMASK(SIG_USR2), 0);
        if (r >= 0)
                r = sigbroker_set_handler(sb, SIG_RTMIN_3, on_rtmin3, NULL, 0);
        if (r >= 0)
                r = sigbroker_set_handler(sb, SIG_USR2, on_usr2, NULL, SIGBROKER_HANDLER_ONESHOT);
        if (r < 0) {
                fprintf(stderr, "subscribe: %s\n", strerror(-r));
                return 1;
        }

        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        r = sd_event_default(&e);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_io(e, &io, sigbroker_get_fd(sb), EPOLLIN, on_io, sb);
        if (r >= 0)
                r = sd_event_source_set_prepare(io, on_prepare);
        if (r >= 0) {
                printf("pid %d listening\n", (int) getpid());
                r = sd_event_loop(e);
        }
        if (r < 0)
                fprintf(stderr, "event loop: %s\n", strerror(-r));

        sd_event_source_unref(io);
        sd_event_unref(e);
        return r < 0 ? 1 : 0;
}
