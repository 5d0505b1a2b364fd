/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Many connections: ten thousand idle clients, what each costs
 * the broker and whether a broadcast reaches them all. */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_MANY 38     /* RTMIN+4 */

/* ---- 4. ten thousand connected clients ---- */

/* The daemon holds two fds per client, the socket and the peer's pidfd
 * (SO_PEERPIDFD), and some of its own. */
#define DAEMON_FDS_PER_CLIENT 2
#define DAEMON_FDS_BASE 128

static unsigned clients_that_fit(pid_t daemon, unsigned want) {
        struct rlimit cur;
        rlim_t need = (rlim_t) want * DAEMON_FDS_PER_CLIENT + DAEMON_FDS_BASE;
        int r;

        ck_assert_int_eq(prlimit(daemon, RLIMIT_NOFILE, NULL, &cur), 0);
        r = nofile_set(daemon, need, cur.rlim_max > need ? cur.rlim_max : need);
        if (r == 0)
                return want;
        /* Not allowed to raise the hard limit (not root): what fits under it. */
        ck_assert_int_eq(nofile_set(daemon, cur.rlim_max, cur.rlim_max), 0);
        stress_print("many: cannot raise the daemon's RLIMIT_NOFILE to %llu (%s); %llu allows %llu clients",
                     (unsigned long long) need, strerror(-r), (unsigned long long) cur.rlim_max,
                     (unsigned long long) (cur.rlim_max - DAEMON_FDS_BASE) / DAEMON_FDS_PER_CLIENT);
        return (unsigned) ((cur.rlim_max - DAEMON_FDS_BASE) / DAEMON_FDS_PER_CLIENT);
}

START_TEST(test_ten_thousand_clients) {
        unsigned n = stress_count(10000, 200), welcomes = 0, delivered = 0;
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2, .subscribe = { .mask = SB_SIGMASK(SIG_MANY) } };
        sigbroker_target all = { .kind = SIGBROKER_TARGET_BROADCAST };
        sigbroker_send_result res;
        sigbroker *tx = NULL;
        uint8_t extra[64];
        size_t extra_len = 0;
        long rss_before, rss_idle;
        int fds_before, fds_idle, fds_after, *fds;
        uint64_t t0, t_connect, t_ready, t_bcast;
        double per_client;
        TestDaemon d;
        int r;

        ck_assert(pack_frame(extra, sizeof(extra), &extra_len, &sub));
        daemon_start(&d, "[limits]\nmax-connections-per-uid = 1048576\n", NULL);
        n = clients_that_fit(d.pid, n);
        r = nofile_raise_self(n + 64);
        if (r < 0) {
                struct rlimit rl;
                getrlimit(RLIMIT_NOFILE, &rl);
                stress_print("many: cannot raise our own RLIMIT_NOFILE to %u; %llu allows %llu clients", n + 64,
                             (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_cur - 64);
                n = (unsigned) rl.rlim_cur - 64;
        }
        ck_assert_uint_ge(n, 100);
        fds = calloc(n, sizeof(*fds));
        ck_assert(fds);

        /* One client first, so that "before" is the broker at rest, not
         * one that never accepted anything. */
        r = raw_connect_hello(d.socket, 0, extra, extra_len);
        ck_assert_int_ge(r, 0);
        ck_assert_int_eq(raw_wait_frame(r, SB_MSG_REPLY, 2, 5000, 0, NULL), 0);
        close(r);
        free(wait_clients(d.socket, 1));
        sleep_ms(100);
        rss_before = proc_rss_kib(d.pid);
        fds_before = proc_settled_fd_count(d.pid);

        /* Connect them all, each sending HELLO and SUBSCRIBE at once, then
         * collect their answers. */
        t0 = mono_ns();
        for (unsigned i = 0; i < n; i++) {
                fds[i] = raw_connect_hello(d.socket, 0, extra, extra_len);
                ck_assert_msg(fds[i] >= 0, "connection %u: %s", i, strerror(-fds[i]));
        }
        t_connect = mono_ns() - t0;
        for (unsigned i = 0; i < n; i++)
                ck_assert_int_eq(raw_wait_frame(fds[i], SB_MSG_REPLY, 2, 10000, SB_MSG_WELCOME, &welcomes), 0);
        t_ready = mono_ns() - t0;
        ck_assert_uint_eq(welcomes, n);

        sleep_ms(300);
        rss_idle = proc_rss_kib(d.pid);
        fds_idle = proc_settled_fd_count(d.pid);
        per_client = (double) (rss_idle - rss_before) * 1024.0 / n;

        /* One broadcast reaches every one of them. */
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        t0 = mono_ns();
        ck_assert_int_eq(sigbroker_send(tx, &all, SIG_MANY, 0, "to all", 6, &res), 0);
        ck_assert_uint_eq(res.queued, n);
        for (unsigned i = 0; i < n; i++)
                if (raw_wait_frame(fds[i], SB_MSG_DELIVER, 0, 10000, 0, NULL) == 0)
                        delivered++;
        t_bcast = mono_ns() - t0;
        sigbroker_close(tx);

        stress_print("many: %u clients connected in %.2f s, all welcomed and subscribed after %.2f s", n,
                     t_connect / 1e9, t_ready / 1e9);
        stress_print("many: broker RSS before %ld KiB, with %u idle clients %ld KiB: %.0f B per idle client "
                     "(target 4096, bound 8192)",
                     rss_before, n, rss_idle, per_client);
        stress_print("many: broker fds before %d, with the clients %d (%.2f per client)", fds_before, fds_idle,
                     (double) (fds_idle - fds_before) / n);
        stress_print("many: one broadcast queued for %u, read by %u in %.0f ms", res.queued, delivered, t_bcast / 1e6);
        ck_assert_uint_eq(delivered, n);
        if (stress_memory_checks())
                ck_assert_msg(per_client <= 8192, "%.0f B per idle client", per_client);
        else
                stress_print("many: memory not asserted (sanitizer or SB_DAEMON_WRAPPER)");

        for (unsigned i = 0; i < n; i++)
                close(fds[i]);
        fds_after = proc_wait_fd_count(d.pid, fds_before, 20000);
        stress_print("many: broker fds after all closed %d", fds_after);
        ck_assert_int_eq(fds_after, fds_before);
        free(fds);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-connections");
        TCase *tc = tcase_create("connections");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_ten_thousand_clients);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
