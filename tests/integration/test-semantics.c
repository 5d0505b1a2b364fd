/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Queueing semantics through the real daemon: delivery order, coalescing,
 * flow control, limits, drop-oldest and the blocked set. A receiver with
 * window 1 that does not read yet is "paused": the first signal is in
 * flight, everything after it waits in the broker's queue. */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"

#define RTMIN 34

typedef struct Send {
        int signo;
        int prio;
        const char *payload;
} Send;

static sigbroker *receiver(const TestDaemon *d, unsigned window, uint64_t mask, unsigned flags) {
        sigbroker *sb = NULL;
        ck_assert_int_eq(sigbroker_connect_with(d->socket, window, &sb), 0);
        ck_assert_int_eq(sigbroker_subscribe(sb, mask, flags), 0);
        return sb;
}

static int send_to(sigbroker *tx, pid_t pid, const Send *s, sigbroker_send_result *res) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) pid };
        return sigbroker_send(tx, &t, s->signo, s->prio, s->payload, s->payload ? strlen(s->payload) : 0, res);
}

static void expect_signal(sigbroker *rx, int signo, const char *payload, uint32_t merged) {
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), signo);
        ck_assert(!info.gap);
        ck_assert_uint_eq(info.merged, merged);
        if (payload) {
                ck_assert_uint_eq(info.payload_len, strlen(payload));
                ck_assert_mem_eq(info.payload, payload, info.payload_len);
        }
}

static void expect_nothing(sigbroker *rx) {
        sigbroker_info info;
        ck_assert_int_eq(sigbroker_wait(rx, 200000, &info), -EAGAIN);
}

START_TEST(test_order_priority_then_signo_then_fifo) {
        static const Send sends[] = {
                { 10, 0, "first" },             /* goes out at once: in flight */
                { RTMIN + 2, 5, "c" },
                { RTMIN + 1, 5, "a1" },
                { RTMIN, 0, "low" },
                { 12, 10, "urgent" },
                { RTMIN + 1, 5, "a2" },
                { RTMIN + 3, 5, "d" },
        };
        static const Send expect[] = {
                { 10, 0, "first" },
                { 12, 10, "urgent" },
                { RTMIN + 1, 5, "a1" },
                { RTMIN + 1, 5, "a2" },
                { RTMIN + 2, 5, "c" },
                { RTMIN + 3, 5, "d" },
                { RTMIN, 0, "low" },
        };
        TestDaemon d;
        sigbroker *rx, *tx = NULL;

        daemon_start(&d, NULL, NULL);
        rx = receiver(&d, 1, UINT64_MAX, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        for (size_t i = 0; i < sizeof(sends) / sizeof(sends[0]); i++)
                ck_assert_int_eq(send_to(tx, getpid(), &sends[i], NULL), 0);
        for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
                sigbroker_info info;
                ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), expect[i].signo);
                ck_assert_int_eq(info.priority, expect[i].prio);
                ck_assert_mem_eq(info.payload, expect[i].payload, strlen(expect[i].payload));
                ck_assert_uint_eq(info.seq, i + 1);
        }
        expect_nothing(rx);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_standard_signals_coalesce) {
        TestDaemon d;
        sigbroker *rx, *tx = NULL;
        sigbroker_send_result res;

        daemon_start(&d, NULL, NULL);
        rx = receiver(&d, 1, UINT64_MAX, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN, 0, "busy" }, NULL), 0);

        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { SIGUSR1, 0, "u1" }, &res), 0);
        ck_assert_uint_eq(res.queued, 1);
        ck_assert_uint_eq(res.merged, 0);
        for (int i = 0; i < 4; i++) {
                ck_assert_int_eq(send_to(tx, getpid(), &(Send) { SIGUSR1, 0, "later" }, &res), 0);
                ck_assert_uint_eq(res.queued, 0);
                ck_assert_uint_eq(res.merged, 1);
        }
        /* Real-time signals never merge. */
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 1, 0, "r1" }, &res), 0);
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 1, 0, "r2" }, &res), 0);
        ck_assert_uint_eq(res.queued, 1);

        expect_signal(rx, RTMIN, "busy", 0);
        expect_signal(rx, SIGUSR1, "u1", 4);    /* the first payload stays, as the kernel keeps the first siginfo */
        expect_signal(rx, RTMIN + 1, "r1", 0);
        expect_signal(rx, RTMIN + 1, "r2", 0);
        /* Once delivered, the next USR1 queues anew. */
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { SIGUSR1, 0, "again" }, &res), 0);
        ck_assert_uint_eq(res.queued, 1);
        expect_signal(rx, SIGUSR1, "again", 0);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_full_queue_refuses_with_eagain_and_keeps_accepted) {
        const char *args[] = { "--max-queue", "4", NULL };
        char payload[8][8];
        TestDaemon d;
        sigbroker *rx, *tx = NULL;
        sigbroker_send_result res;
        int accepted = 0;

        daemon_start(&d, NULL, args);
        rx = receiver(&d, 1, UINT64_MAX, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        for (int i = 0; i < 8; i++) {
                int r;
                snprintf(payload[i], sizeof(payload[i]), "n%d", i);
                r = send_to(tx, getpid(), &(Send) { RTMIN + 5, 3, payload[i] }, &res);
                if (i < 5) {
                        ck_assert_int_eq(r, 0);        /* one in flight, four queued */
                        accepted++;
                } else {
                        ck_assert_int_eq(r, -EAGAIN);
                        ck_assert_uint_eq(res.refused, 1);
                        ck_assert_uint_eq(res.queued, 0);
                }
        }
        for (int i = 0; i < accepted; i++)
                expect_signal(rx, RTMIN + 5, payload[i], 0);
        expect_nothing(rx);
        /* Room again. */
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 5, 3, "after" }, NULL), 0);
        expect_signal(rx, RTMIN + 5, "after", 0);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_drop_oldest_reports_a_gap) {
        const char *args[] = { "--max-queue", "2", NULL };
        static const char *const payloads[] = { "1", "2", "3", "4", "5" };
        TestDaemon d;
        sigbroker *rx, *tx = NULL;
        sigbroker_info info;

        daemon_start(&d, NULL, args);
        rx = receiver(&d, 1, SIGBROKER_SIGMASK(RTMIN + 2), SIGBROKER_SUBSCRIBE_DROP_OLDEST);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 2, 0, payloads[i] }, NULL), 0);

        expect_signal(rx, RTMIN + 2, "1", 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 2);
        ck_assert(info.gap);
        ck_assert_uint_eq(info.lost, 2);
        expect_signal(rx, RTMIN + 2, "4", 0);
        expect_signal(rx, RTMIN + 2, "5", 0);
        expect_nothing(rx);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_blocked_signals_wait_in_the_broker) {
        TestDaemon d;
        sigbroker *rx, *tx = NULL;
        uint64_t old = 1;

        daemon_start(&d, NULL, NULL);
        rx = receiver(&d, 0, SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(RTMIN + 1), 0);
        ck_assert_int_eq(sigbroker_block(rx, SIG_BLOCK, SIGBROKER_SIGMASK(RTMIN + 1), &old), 0);
        ck_assert_uint_eq(old, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 1, 50, "b1" }, NULL), 0);
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN + 1, 50, "b2" }, NULL), 0);
        ck_assert_int_eq(send_to(tx, getpid(), &(Send) { SIGUSR1, 0, "free" }, NULL), 0);

        expect_signal(rx, SIGUSR1, "free", 0);
        expect_nothing(rx);
        ck_assert_int_eq(sigbroker_block(rx, SIG_UNBLOCK, SIGBROKER_SIGMASK(RTMIN + 1), NULL), 0);
        expect_signal(rx, RTMIN + 1, "b1", 0);
        expect_signal(rx, RTMIN + 1, "b2", 0);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_per_uid_pending_limit) {
        TestDaemon d;
        sigbroker *rx1, *rx2, *tx = NULL;

        /* uid 0 is exempt unless limit-root is set. */
        daemon_start(&d, "[limits]\nmax-pending-per-uid = 3\nlimit-root = yes\n", NULL);
        rx1 = receiver(&d, 1, UINT64_MAX, 0);
        rx2 = receiver(&d, 1, UINT64_MAX, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        {
                sigbroker_target t = { .kind = SIGBROKER_TARGET_BROADCAST };
                sigbroker_send_result res;
                /* Two receivers: first send puts one in flight at each. */
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN, 0, "a", 1, &res), 0);
                ck_assert_uint_eq(res.queued, 2);
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN, 0, "b", 1, &res), 0);
                ck_assert_uint_eq(res.queued, 2);
                /* Two pending, charged to our uid; room for one more. */
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN, 0, "c", 1, &res), 0);
                ck_assert_uint_eq(res.queued, 1);
                ck_assert_uint_eq(res.refused, 1);
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN, 0, "d", 1, &res), -EAGAIN);
                ck_assert_uint_eq(res.refused, 2);
        }
        sigbroker_close(rx1);
        sigbroker_close(rx2);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_window_limits_in_flight) {
        TestDaemon d;
        sigbroker *rx, *tx = NULL;
        char *text = NULL;

        daemon_start(&d, NULL, NULL);
        rx = receiver(&d, 3, UINT64_MAX, 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        for (int i = 0; i < 10; i++)
                ck_assert_int_eq(send_to(tx, getpid(), &(Send) { RTMIN, 0, "w" }, NULL), 0);
        /* Three written to the receiver's socket, seven still in the broker. */
        ck_assert_int_eq(sigbroker_query(tx, 1 /* stats */, 0, 0, &text), 0);
        ck_assert_msg(strstr(text, "\"pending\":7,"), "%s", text);
        ck_assert_msg(strstr(text, "\"in_flight\":3"), "%s", text);
        free(text);
        for (int i = 0; i < 10; i++)
                expect_signal(rx, RTMIN, "w", 0);
        sigbroker_close(rx);
        sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST


/* ---- deferred RESULTs (SB_SEND_DEFER_RESULT) and SYNC, in raw protocol ---- */

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* A raw client, subscribed to everything if it is to receive. */
static int raw_client(const TestDaemon *d, bool subscribe, SbWelcome *ret_welcome) {
        int fd = raw_connect(d->socket);
        uint8_t buf[256];
        SbFrame f;

        raw_hello(fd, 0, ret_welcome);
        if (subscribe) {
                raw_send_frame(fd, &(SbFrame) { .type = SB_MSG_SUBSCRIBE, .serial = 2,
                                                .subscribe = { .mask = UINT64_MAX } });
                ck_assert_int_eq(raw_expect(fd, SB_MSG_REPLY, buf, sizeof(buf), &f, 5000), 0);
                ck_assert_int_eq(f.reply.error, 0);
        }
        return fd;
}

static void send_deferred(int fd, uint64_t serial, SbTargetKind kind, uint64_t target) {
        raw_send_frame(fd, &(SbFrame) {
                .type = SB_MSG_SEND, .serial = serial,
                .send = { .signo = RTMIN, .target_kind = kind, .target = target, .flags = SB_SEND_DEFER_RESULT },
        });
}

/* The frames of one packet, decoded; returns how many. */
static size_t packet_frames(const uint8_t *buf, ssize_t len, SbFrame *frames, size_t max) {
        size_t n = 0;

        ck_assert_int_gt(len, 0);
        while (len > 0 && n < max) {
                size_t used;
                ck_assert_int_eq(sb_frame_parse_untrusted(buf, (size_t) len, &frames[n++], &used), SB_PARSE_OK);
                buf += used;
                len -= (ssize_t) used;
        }
        ck_assert_int_eq(len, 0);
        return n;
}

/* A success is held back for the hold time when nothing else is written
 * to the sender; it still comes. */
START_TEST(test_deferred_result_is_held_then_written) {
        TestDaemon d;
        uint8_t buf[256];
        SbFrame f;
        uint64_t t0;
        int rx, tx;

        daemon_start(&d, NULL, NULL);
        rx = raw_client(&d, true, NULL);
        tx = raw_client(&d, false, NULL);
        t0 = now_usec();
        send_deferred(tx, 10, SB_TARGET_PID, (uint64_t) getpid());
        ck_assert_int_eq(raw_expect(tx, SB_MSG_RESULT, buf, sizeof(buf), &f, 5000), 0);
        ck_assert_uint_ge(now_usec() - t0, SB_RESULT_HOLD_USEC);
        ck_assert_uint_eq(f.result.reply_serial, 10);
        ck_assert_int_eq(f.result.error, 0);
        ck_assert_uint_eq(f.result.queued, 1);
        ck_assert_int_eq(raw_expect(rx, SB_MSG_DELIVER, buf, sizeof(buf), &f, 5000), 0);
        close(rx);
        close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* SYNC is answered after every earlier answer, held ones included: both
 * go out at once, in order. A failed deferred send is not held. */
START_TEST(test_sync_brings_deferred_results) {
        TestDaemon d;
        uint8_t buf[512];
        SbFrame frames[4];
        int rx, tx;

        daemon_start(&d, NULL, NULL);
        rx = raw_client(&d, true, NULL);
        tx = raw_client(&d, false, NULL);
        send_deferred(tx, 10, SB_TARGET_PID, (uint64_t) getpid());
        raw_send_frame(tx, &(SbFrame) { .type = SB_MSG_SYNC, .serial = 11 });
        ck_assert_uint_eq(packet_frames(buf, raw_recv(tx, buf, sizeof(buf), 5000), frames, 4), 2);
        ck_assert_int_eq(frames[0].type, SB_MSG_RESULT);
        ck_assert_uint_eq(frames[0].result.reply_serial, 10);
        ck_assert_uint_eq(frames[0].result.queued, 1);
        ck_assert_int_eq(frames[1].type, SB_MSG_REPLY);
        ck_assert_uint_eq(frames[1].reply.reply_serial, 11);
        ck_assert_int_eq(frames[1].reply.error, 0);

        /* No such pid: the failure comes alone, without a SYNC. */
        send_deferred(tx, 12, SB_TARGET_PID, 0x7ffffffe);
        ck_assert_uint_eq(packet_frames(buf, raw_recv(tx, buf, sizeof(buf), 5000), frames, 4), 1);
        ck_assert_uint_eq(frames[0].result.reply_serial, 12);
        ck_assert_int_eq(frames[0].result.error, ESRCH);

        /* A SYNC with a body is malformed. */
        raw_send(tx, (const uint8_t[]) { SB_PROTOCOL_VERSION, SB_MSG_SYNC, 0, 0, 1, 0, 0, 0,
                                         13, 0, 0, 0, 0, 0, 0, 0, 0 }, SB_HEADER_SIZE + 1);
        ck_assert_int_eq(raw_expect(tx, SB_MSG_ERROR, buf, sizeof(buf), frames, 5000), 0);
        ck_assert_int_eq(frames[0].error.error, EBADMSG);
        close(rx);
        close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* A held RESULT rides along with the next thing written to its sender:
 * here a signal the receiver sends back. (Unless this process lost the CPU
 * for longer than the hold time in between: then it came alone, late.) */
START_TEST(test_deferred_result_rides_with_a_delivery) {
        TestDaemon d;
        uint8_t buf[512];
        SbFrame frames[4];
        SbWelcome wa, wb;
        uint64_t t0;
        size_t n;
        int a, b;

        daemon_start(&d, NULL, NULL);
        a = raw_client(&d, true, &wa);
        b = raw_client(&d, true, &wb);
        t0 = now_usec();
        send_deferred(a, 10, SB_TARGET_CLIENT, wb.client_id);
        ck_assert_int_eq(raw_expect(b, SB_MSG_DELIVER, buf, sizeof(buf), frames, 5000), 0);
        ck_assert_uint_eq(frames[0].deliver.sender_client_id, wa.client_id);
        raw_send_frame(b, &(SbFrame) { .type = SB_MSG_SEND, .serial = 10,
                                       .send = { .signo = RTMIN + 1, .target_kind = SB_TARGET_CLIENT,
                                                 .target = wa.client_id } });
        n = packet_frames(buf, raw_recv(a, buf, sizeof(buf), 5000), frames, 4);
        ck_assert_int_eq(frames[0].type, SB_MSG_RESULT);
        ck_assert_uint_eq(frames[0].result.reply_serial, 10);
        ck_assert_uint_eq(frames[0].result.queued, 1);
        if (n == 1)
                ck_assert_uint_ge(now_usec() - t0, SB_RESULT_HOLD_USEC);
        else {
                ck_assert_uint_eq(n, 2);
                ck_assert_int_eq(frames[1].type, SB_MSG_DELIVER);
                ck_assert_uint_eq(frames[1].deliver.signo, RTMIN + 1);
        }
        close(a);
        close(b);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("semantics");
        TCase *tc = tcase_create("queues");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_order_priority_then_signo_then_fifo);
        tcase_add_test(tc, test_standard_signals_coalesce);
        tcase_add_test(tc, test_full_queue_refuses_with_eagain_and_keeps_accepted);
        tcase_add_test(tc, test_drop_oldest_reports_a_gap);
        tcase_add_test(tc, test_blocked_signals_wait_in_the_broker);
        tcase_add_test(tc, test_per_uid_pending_limit);
        tcase_add_test(tc, test_window_limits_in_flight);
        suite_add_tcase(s, tc);

        tc = tcase_create("deferred results");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_deferred_result_is_held_then_written);
        tcase_add_test(tc, test_sync_brings_deferred_results);
        tcase_add_test(tc, test_deferred_result_rides_with_a_delivery);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
