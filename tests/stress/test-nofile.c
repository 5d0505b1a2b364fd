/* A daemon out of file descriptors (issue 9): clients over the limit must
 * wait in the backlog (or fail), the daemon must not spin on a listener
 * that stays readable, the clients it holds must be served, and once
 * connections close it must accept again. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_MANY 38     /* RTMIN+4 */

#define LOW_NOFILE 64
#define N_CONNS 100

/* Which of fds[] have their WELCOME by now (within timeout_ms overall). */
static unsigned collect_welcomes(const int *fds, bool *welcomed, unsigned n, unsigned timeout_ms) {
        uint64_t deadline = mono_ns() + (uint64_t) timeout_ms * 1000000;
        unsigned count = 0;

        do {
                for (unsigned i = 0; i < n; i++)
                        if (fds[i] >= 0 && !welcomed[i] && raw_wait_frame(fds[i], SB_MSG_WELCOME, 0, 0, 0, NULL) == 0) {
                                welcomed[i] = true;
                                count++;
                        }
                sleep_ms(20);
        } while (mono_ns() < deadline);
        return count;
}

static unsigned count_lines(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

START_TEST(test_nofile_exhaustion) {
        int fds[N_CONNS];
        bool welcomed[N_CONNS] = {}, late[N_CONNS] = {};
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2, .subscribe = { .mask = SB_SIGMASK(SIG_MANY) } };
        SbFrame snd = { .type = SB_MSG_SEND, .serial = 3,
                        .send = { .signo = SIG_MANY, .target_kind = SB_TARGET_PID, .target = (uint64_t) getpid(),
                                  .payload = "x", .payload_len = 1 } };
        unsigned first, second = 0, results = 0, pauses;
        double cpu0, cpu1;
        int base, fresh, fds_after, w = -1, sockets, pidfds;
        TestDaemon d;
        char *log;

        daemon_start(&d, NULL, NULL);
        ck_assert_int_eq(nofile_set(d.pid, LOW_NOFILE, LOW_NOFILE), 0);
        base = proc_settled_fd_count(d.pid);

        for (unsigned i = 0; i < N_CONNS; i++) {
                fds[i] = raw_connect_hello(d.socket, 0, NULL, 0);
                ck_assert_msg(fds[i] >= 0, "connection %u: %s", i, strerror(-fds[i]));
        }
        first = collect_welcomes(fds, welcomed, N_CONNS, 1500);

        /* Out of fds, with connections waiting in the backlog: the daemon
         * must wait, not spin on a listener that stays readable. */
        cpu0 = proc_cpu_seconds(d.pid);
        sleep_ms(1000);
        cpu1 = proc_cpu_seconds(d.pid);
        proc_fd_kinds(d.pid, &sockets, &pidfds);
        log = daemon_log(&d);
        pauses = count_lines(log, "pausing new connections");
        free(log);
        stress_print("nofile: RLIMIT_NOFILE %d, %d fds at rest: %u of %d connections welcomed, the rest wait; "
                     "daemon CPU over 1 s of exhaustion %.3f s (bound 0.3 s), %u accept pauses logged so far",
                     LOW_NOFILE, base, first, N_CONNS, cpu1 - cpu0, pauses);
        stress_print("nofile: daemon holds %d sockets (listener included) and %d pidfds at the limit", sockets, pidfds);
        ck_assert_uint_gt(first, 0);
        ck_assert_uint_lt(first, N_CONNS);
        ck_assert_int_eq(sockets, (int) first + 1);
        ck_assert_uint_le(first, LOW_NOFILE - base);
        ck_assert_msg(cpu1 - cpu0 < 0.3, "the daemon used %.3f s of CPU in 1 s while out of fds", cpu1 - cpu0);
        ck_assert_uint_gt(pauses, 0);

        /* The clients it took are served meanwhile. */
        for (unsigned i = 0; i < N_CONNS && w < 0; i++)
                if (welcomed[i])
                        w = fds[i];
        raw_send_frame(w, &sub);
        ck_assert_int_eq(raw_wait_frame(w, SB_MSG_REPLY, 2, 5000, 0, NULL), 0);
        raw_send_frame(w, &snd);
        ck_assert_int_eq(raw_wait_frame(w, SB_MSG_DELIVER, 0, 5000, SB_MSG_RESULT, &results), 0);
        ck_assert_uint_eq(results, 1);

        /* Room again: those waiting get in. */
        for (unsigned i = 0; i < N_CONNS; i++)
                if (welcomed[i]) {
                        close(fds[i]);
                        fds[i] = -1;
                }
        second = collect_welcomes(fds, late, N_CONNS, 2000);
        stress_print("nofile: after closing those %u, %u waiting ones were welcomed", first, second);
        ck_assert_uint_gt(second, 0);
        ck_assert_uint_ge(second, first < N_CONNS - first ? first - 1 : N_CONNS - first);

        for (unsigned i = 0; i < N_CONNS; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        fresh = raw_connect_hello(d.socket, 0, NULL, 0);
        ck_assert_int_ge(fresh, 0);
        ck_assert_int_eq(raw_wait_frame(fresh, SB_MSG_WELCOME, 0, 3000, 0, NULL), 0);
        close(fresh);
        fds_after = proc_wait_fd_count(d.pid, base, 5000);
        stress_print("nofile: a fresh client is welcomed; daemon fds after %d (at rest %d)", fds_after, base);
        ck_assert_int_eq(fds_after, base);
        ck_assert_int_eq(daemon_stop(&d), 0);

        /* Last, so that the checks above have all run: every client the
         * daemon took at the limit holds its pidfd. Routing by pid and the
         * "a process may signal itself" rule rely on it to tell a live
         * client from a recycled pid; running out of fds must make a
         * client wait, not let it in without one. */
        ck_assert_msg(pidfds == (int) first, "at the fd limit the daemon admitted %u clients but holds %d pidfds",
                      first, pidfds);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-nofile");
        TCase *tc = tcase_create("nofile");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_nofile_exhaustion);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
