/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigtimedwait(2), brokered: subscribe to USR1 and RTMIN+1, send ourselves
 * one of each while they are blocked, then print signals as they come until
 * none has come for five seconds. From another terminal:
 *
 *     sigbrokerctl send --pid <pid> --payload hello RTMIN+1
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sigbroker.h"

#define SIG_USR1 10
#define SIG_RTMIN_1 35

static int fail(const char *what, int r) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        return 1;
}

int main(void) {
        __attribute__((cleanup(sigbroker_closep))) sigbroker *sb = NULL;
        sigbroker_target self = { .kind = SIGBROKER_TARGET_CLIENT };
        int r;

        r = sigbroker_connect(NULL, &sb);
        if (r < 0)
                return fail("connect", r);
        r = sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_USR1) | SIGBROKER_SIGMASK(SIG_RTMIN_1), 0);
        if (r < 0)
                return fail("subscribe", r);

        /* Blocked, both wait in the broker; unblocked, they come out in
         * priority order, not in the order they were sent. */
        (void) sigbroker_get_client_id(sb, &self.id);
        r = sigbroker_block(sb, SIG_BLOCK, SIGBROKER_SIGMASK(SIG_USR1) | SIGBROKER_SIGMASK(SIG_RTMIN_1), NULL);
        if (r < 0)
                return fail("block", r);
        r = sigbroker_send(sb, &self, SIG_RTMIN_1, 0, "low", 3, NULL);
        if (r < 0)
                return fail("send", r);
        r = sigbroker_send(sb, &self, SIG_USR1, 50, "high", 4, NULL);
        if (r < 0)
                return fail("send", r);
        r = sigbroker_block(sb, SIG_SETMASK, 0, NULL);
        if (r < 0)
                return fail("unblock", r);
        printf("pid %d waiting\n", (int) getpid());

        for (;;) {
                sigbroker_info info;

                r = sigbroker_wait(sb, 5 * 1000 * 1000, &info);
                if (r == -EAGAIN) {
                        printf("nothing for five seconds, bye\n");
                        return 0;
                }
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        return fail("wait", r);
                if (info.gap)
                        printf("signal %d: %u lost\n", info.signo, info.lost);
                else
                        printf("signal %d priority %d from pid %d: \"%.*s\"\n", info.signo, info.priority,
                               (int) info.sender_pid, (int) info.payload_len, (const char *) info.payload);
        }
}
