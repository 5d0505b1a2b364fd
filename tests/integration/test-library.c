/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libsigbroker's calls one by one against the real daemon: argument
 * checks, sigtimedwait-like waiting (timeout, zero-timeout poll, lowest RT
 * first, info filled in, nothing left pending once the queue is empty),
 * handlers with one-shot, dispatch in a poll loop, the blocked set,
 * groups, windows and pipelined sends. */

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"

#define RTMIN 34

static TestDaemon d;
static sigbroker *rx, *tx;

static void setup(void) {
        daemon_start(&d, NULL, NULL);
        ck_assert_int_eq(sigbroker_connect(d.socket, &rx), 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
}

static void teardown(void) {
        rx = sigbroker_close(rx);
        tx = sigbroker_close(tx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}

static int send_self(int signo, int prio, const char *payload) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        return sigbroker_send(tx, &t, signo, prio, payload, payload ? strlen(payload) : 0, NULL);
}

START_TEST(test_arguments_are_checked) {
        sigbroker_info info;
        sigbroker_target bad = { .kind = 77 };
        uint64_t id;

        ck_assert_int_eq(sigbroker_connect(d.socket, NULL), -EINVAL);
        ck_assert_ptr_null(sigbroker_close(NULL));
        ck_assert_int_eq(sigbroker_get_client_id(NULL, &id), -EINVAL);
        ck_assert_int_eq(sigbroker_subscribe(NULL, 1, 0), -EINVAL);
        ck_assert_int_eq(sigbroker_subscribe(rx, 1, 0x80), -EINVAL);
        ck_assert_int_eq(sigbroker_wait(rx, 0, NULL), -EINVAL);
        ck_assert_int_eq(sigbroker_wait(NULL, 0, &info), -EINVAL);
        ck_assert_int_eq(sigbroker_send(tx, NULL, 10, 0, NULL, 0, NULL), -EINVAL);
        ck_assert_int_eq(sigbroker_send(tx, &bad, 10, 0, NULL, 0, NULL), -EINVAL);
        ck_assert_int_eq(sigbroker_send(tx, &(sigbroker_target) { .kind = SIGBROKER_TARGET_PID, .id = 1 }, 10, 0,
                                        NULL, 5, NULL), -EINVAL);       /* length without a payload */
        ck_assert_int_eq(sigbroker_join(rx, NULL), -EINVAL);
        ck_assert_int_eq(sigbroker_join(rx, "not a valid name"), -EINVAL);
        ck_assert_int_eq(sigbroker_set_handler(rx, 65, NULL, NULL, 0), -EINVAL);
        ck_assert_int_eq(sigbroker_block(rx, 99, 0, NULL), -EINVAL);
        ck_assert_int_eq(sigbroker_get_fd(NULL), -EINVAL);
}
END_TEST

/* A program linked before LIBSIGBROKER_3 calls the sigbroker_wait of
 * LIBSIGBROKER_1 with a sigbroker_info that ends where `record` begins: the
 * library must not write past it. */
int sigbroker_wait_linked_v1(sigbroker *sb, int64_t timeout_usec, sigbroker_info *ret_info);
__asm__(".symver sigbroker_wait_linked_v1, sigbroker_wait@LIBSIGBROKER_1");

START_TEST(test_wait_of_older_programs) {
        const size_t old_size = offsetof(sigbroker_info, record);
        union {
                sigbroker_info info;
                uint8_t bytes[sizeof(sigbroker_info) + 16];
        } u;

        ck_assert_int_eq(sigbroker_subscribe(rx, SB_SIGMASK(RTMIN), 0), 0);
        ck_assert_int_eq(send_self(RTMIN, 3, "old"), 0);
        memset(&u, 0xa5, sizeof(u));
        ck_assert_int_eq(sigbroker_wait_linked_v1(rx, -1, &u.info), RTMIN);
        ck_assert_int_eq(u.info.priority, 3);
        ck_assert_uint_eq(u.info.payload_len, 3);
        for (size_t i = old_size; i < sizeof(u.bytes); i++)
                ck_assert_msg(u.bytes[i] == 0xa5, "byte %zu past the old structure written", i);

        ck_assert_int_eq(send_self(RTMIN, 4, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(rx, -1, &u.info), RTMIN);
        ck_assert_int_eq(u.info.record, SIGBROKER_RECORD_SIGNAL);
}
END_TEST

START_TEST(test_wait_like_sigtimedwait) {
        sigbroker_info info;
        pid_t pid;
        uid_t uid;
        gid_t gid;

        ck_assert_int_eq(sigbroker_subscribe(rx, UINT64_MAX, 0), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 0, &info), -EAGAIN);               /* zero timeout polls */
        ck_assert_int_eq(sigbroker_wait(rx, 100000, &info), -EAGAIN);          /* timeout */

        /* Lowest-numbered pending real-time signal first among equals. */
        ck_assert_int_eq(sigbroker_set_window(rx, 1), 0);
        ck_assert_int_eq(send_self(RTMIN + 9, 0, "first"), 0);                 /* in flight */
        ck_assert_int_eq(send_self(RTMIN + 3, 0, "c"), 0);
        ck_assert_int_eq(send_self(RTMIN + 1, 0, "a"), 0);
        ck_assert_int_eq(send_self(RTMIN + 2, 0, "b"), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 9);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 1);
        ck_assert_int_eq(sigbroker_get_identity(tx, &pid, &uid, &gid), 0);
        ck_assert_int_eq(info.sender_pid, pid);                                 /* info filled in */
        ck_assert_int_eq(info.sender_uid, uid);
        ck_assert_int_eq(info.sender_gid, gid);
        ck_assert_mem_eq(info.payload, "a", 1);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 2);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 3);
        /* Queue empty: nothing pending any more, a poll says so at once. */
        ck_assert_int_eq(sigbroker_wait(rx, 0, &info), -EAGAIN);
        ck_assert_int_eq(sigbroker_wait(rx, 200000, &info), -EAGAIN);
}
END_TEST

static int counted;

static int count_handler(sigbroker *sb, const sigbroker_info *info, void *userdata) {
        counted += *(int *) userdata;
        return 0;
}

/* Run the poll loop a caller would, until n handlers ran or 5 s passed. */
static int dispatch_until(sigbroker *sb, int n) {
        int total = 0;

        for (int i = 0; i < 500 && total < n; i++) {
                struct pollfd pfd = { .fd = sigbroker_get_fd(sb), .events = (short) sigbroker_get_events(sb) };
                int r;
                ck_assert_int_ge(pfd.fd, 0);
                if (poll(&pfd, 1, 10) < 0)
                        break;
                r = sigbroker_dispatch(sb);
                ck_assert_int_ge(r, 0);
                total += r;
        }
        return total;
}

START_TEST(test_handlers_dispatch_and_oneshot) {
        int one = 1, hundred = 100;
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(RTMIN), 0), 0);
        ck_assert_int_eq(sigbroker_set_handler(rx, SIGUSR1, count_handler, &one, 0), 0);
        ck_assert_int_eq(sigbroker_set_handler(rx, RTMIN, count_handler, &hundred, SIGBROKER_HANDLER_ONESHOT), 0);
        counted = 0;
        ck_assert_int_eq(send_self(RTMIN, 0, NULL), 0);
        ck_assert_int_eq(dispatch_until(rx, 1), 1);
        ck_assert_int_eq(counted, 100);
        ck_assert_int_eq(send_self(SIGUSR1, 0, NULL), 0);
        ck_assert_int_eq(dispatch_until(rx, 1), 1);
        ck_assert_int_eq(send_self(SIGUSR1, 0, NULL), 0);
        ck_assert_int_eq(dispatch_until(rx, 1), 1);
        ck_assert_int_eq(counted, 102);
        /* The one-shot handler is gone: the next RTMIN waits for sigbroker_wait(). */
        ck_assert_int_eq(send_self(RTMIN, 0, "left"), 0);
        ck_assert_int_eq(dispatch_until(rx, 1), 0);
        ck_assert_int_eq(counted, 102);
        ck_assert_int_eq(sigbroker_wait(rx, 1000000, &info), RTMIN);
        ck_assert_mem_eq(info.payload, "left", 4);
        /* A removed handler leaves its signals to sigbroker_wait() too. */
        ck_assert_int_eq(sigbroker_set_handler(rx, SIGUSR1, NULL, NULL, 0), 0);
        ck_assert_int_eq(send_self(SIGUSR1, 0, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIGUSR1);
}
END_TEST

START_TEST(test_block_set_like_sigprocmask) {
        uint64_t old = 123;
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_subscribe(rx, UINT64_MAX, 0), 0);
        ck_assert_int_eq(sigbroker_block(rx, SIG_SETMASK, SIGBROKER_SIGMASK(SIGUSR2), &old), 0);
        ck_assert_uint_eq(old, 0);
        ck_assert_int_eq(sigbroker_block(rx, SIG_BLOCK, SIGBROKER_SIGMASK(RTMIN), &old), 0);
        ck_assert_uint_eq(old, SIGBROKER_SIGMASK(SIGUSR2));
        ck_assert_int_eq(send_self(RTMIN, 0, "r1"), 0);
        ck_assert_int_eq(send_self(SIGUSR2, 0, "u2"), 0);
        ck_assert_int_eq(send_self(RTMIN, 0, "r2"), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 200000, &info), -EAGAIN);          /* all blocked */
        ck_assert_int_eq(sigbroker_block(rx, SIG_UNBLOCK, SIGBROKER_SIGMASK(RTMIN), &old), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN);
        ck_assert_mem_eq(info.payload, "r1", 2);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN);
        ck_assert_mem_eq(info.payload, "r2", 2);
        ck_assert_int_eq(sigbroker_wait(rx, 200000, &info), -EAGAIN);
        ck_assert_int_eq(sigbroker_block(rx, SIG_SETMASK, 0, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIGUSR2);
}
END_TEST

START_TEST(test_unsubscribe_groups_and_client_ids) {
        sigbroker_target group = { .kind = SIGBROKER_TARGET_GROUP, .group = "lib.test" };
        sigbroker_target client = { .kind = SIGBROKER_TARGET_CLIENT };
        sigbroker_send_result res;
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1), 0), 0);
        ck_assert_int_eq(sigbroker_get_client_id(rx, &client.id), 0);
        ck_assert_int_eq(sigbroker_send(tx, &client, SIGUSR1, 0, NULL, 0, &res), 0);
        ck_assert_uint_eq(res.queued, 1);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIGUSR1);

        ck_assert_int_eq(sigbroker_send(tx, &group, SIGUSR1, 0, NULL, 0, NULL), -ESRCH);
        ck_assert_int_eq(sigbroker_join(rx, "lib.test"), 0);
        ck_assert_int_eq(sigbroker_send(tx, &group, SIGUSR1, 0, NULL, 0, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIGUSR1);
        ck_assert_int_eq(sigbroker_leave(rx, "lib.test"), 0);
        ck_assert_int_eq(sigbroker_leave(rx, "lib.test"), -ENOENT);
        ck_assert_int_eq(sigbroker_send(tx, &group, SIGUSR1, 0, NULL, 0, NULL), -ESRCH);

        ck_assert_int_eq(sigbroker_unsubscribe(rx, SIGBROKER_SIGMASK(SIGUSR1)), 0);
        ck_assert_int_eq(sigbroker_send(tx, &client, SIGUSR1, 0, NULL, 0, NULL), -ESRCH);
}
END_TEST

START_TEST(test_pipelined_sends_and_results) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        sigbroker_batch_result totals;
        sigbroker_info info;
        unsigned window = 0;

        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(RTMIN + 5), 0), 0);
        ck_assert_int_eq(sigbroker_set_window(rx, 1000), 0);
        ck_assert_int_eq(sigbroker_get_window(rx, &window), 0);
        ck_assert_uint_eq(window, 1000);
        for (int i = 0; i < 500; i++) {
                uint64_t serial;
                ck_assert_int_eq(sigbroker_send_async(tx, &t, RTMIN + 5, 0, &i, sizeof(i), &serial), 0);
        }
        ck_assert_int_eq(sigbroker_send_async(tx, &t, 99, 0, NULL, 0, NULL), -EINVAL);  /* refused here */
        ck_assert_int_eq(sigbroker_send_async(tx, &(sigbroker_target) { .kind = SIGBROKER_TARGET_PID, .id = 4194305 },
                                              RTMIN + 5, 0, NULL, 0, NULL), 0);      /* refused by the daemon */
        ck_assert_int_eq(sigbroker_flush(tx), 0);
        ck_assert_int_eq(sigbroker_collect_results(tx, 0, 5000000, &totals), 0);
        ck_assert_uint_eq(totals.sends, 501);
        ck_assert_uint_eq(totals.delivered, 500);
        ck_assert_uint_eq(totals.queued, 500);
        ck_assert_uint_eq(totals.failed, 1);
        ck_assert_int_eq(totals.first_error, -ESRCH);
        for (int i = 0; i < 500; i++) {
                int v;
                ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN + 5);
                memcpy(&v, info.payload, sizeof(v));
                ck_assert_int_eq(v, i);                 /* in send order */
                ck_assert_uint_eq(info.seq, (uint64_t) i + 1);
        }
}
END_TEST

START_TEST(test_daemon_gone_is_reported) {
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_subscribe(rx, 1, 0), 0);
        kill(d.pid, SIGKILL);
        ck_assert_int_lt(sigbroker_wait(rx, 5000000, &info), 0);
        ck_assert_int_ne(sigbroker_wait(rx, 0, &info), -EAGAIN);       /* not a timeout: the connection is gone */
        ck_assert_int_lt(send_self(SIGUSR1, 0, NULL), 0);
        waitpid(d.pid, NULL, 0);
        d.pid = 0;
        rx = sigbroker_close(rx);
        tx = sigbroker_close(tx);
        daemon_start(&d, NULL, NULL);   /* for teardown */
        ck_assert_int_eq(sigbroker_connect(d.socket, &rx), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("library");
        TCase *tc = tcase_create("calls");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_arguments_are_checked);
        tcase_add_test(tc, test_wait_like_sigtimedwait);
        tcase_add_test(tc, test_wait_of_older_programs);
        tcase_add_test(tc, test_handlers_dispatch_and_oneshot);
        tcase_add_test(tc, test_block_set_like_sigprocmask);
        tcase_add_test(tc, test_unsubscribe_groups_and_client_ids);
        tcase_add_test(tc, test_pipelined_sends_and_results);
        tcase_add_test(tc, test_daemon_gone_is_reported);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
