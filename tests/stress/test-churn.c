/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clients that come and go: a hundred thousand short
 * connections, and clients SIGKILLed in the middle of what they were
 * doing. Whatever they leave behind (replies not read, deliveries queued
 * for them, group memberships) must be released: the daemon's fds and
 * memory come back to where they were, and it serves the next client. */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_CHURN 37    /* RTMIN+3 */

/* A fresh client still gets a signal through the broker. */
static void check_served(const char *socket) {
        sigbroker_target to_me = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        sigbroker_info info;
        sigbroker *sb = NULL;

        ck_assert_int_eq(sigbroker_connect(socket, &sb), 0);
        ck_assert_int_eq(sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_CHURN), 0), 0);
        ck_assert_int_eq(sigbroker_send(sb, &to_me, SIG_CHURN, 0, "still here", 10, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(sb, 5000000, &info), SIG_CHURN);
        ck_assert_mem_eq(info.payload, "still here", 10);
        sigbroker_close(sb);
}

/* ---- 2. connect, hello, subscribe, close: many times ---- */

#define RING 16

START_TEST(test_connect_cycles) {
        const unsigned n_cycles = stress_count(100000, 2000);
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2,
                        .subscribe = { .mask = SB_SIGMASK(SIG_CHURN) | SB_SIGMASK(SIGUSR1) } };
        uint8_t extra[64];
        size_t extra_len = 0;
        int ring[RING];
        unsigned welcomes = 0, answered = 0, abandoned = 0;
        long rss_start, rss_after;
        int fds_start, fds_after;
        uint64_t t0, t;
        TestDaemon d;
        char *text;

        ck_assert(pack_frame(extra, sizeof(extra), &extra_len, &sub));
        daemon_start(&d, NULL, NULL);
        sleep_ms(100);
        rss_start = proc_rss_kib(d.pid);
        fds_start = proc_settled_fd_count(d.pid);

        /* A ring of RING connections in flight: each new one sends HELLO
         * and SUBSCRIBE in one packet, the oldest one is checked (WELCOME,
         * then the REPLY to SUBSCRIBE) and closed. Every tenth one is
         * closed without reading anything, answers still on their way. */
        t0 = mono_ns();
        for (unsigned i = 0; i < n_cycles + RING; i++) {
                if (i >= RING) {
                        int fd = ring[i % RING];
                        if ((i - RING) % 10 == 9)
                                abandoned++;
                        else {
                                ck_assert_int_eq(raw_wait_frame(fd, SB_MSG_REPLY, 2, 5000, SB_MSG_WELCOME, &welcomes), 0);
                                answered++;
                        }
                        close(fd);
                }
                if (i < n_cycles) {
                        int fd = raw_connect_hello(d.socket, 0, extra, extra_len);
                        ck_assert_msg(fd >= 0, "connection %u: %s", i, strerror(-fd));
                        ring[i % RING] = fd;
                }
        }
        t = mono_ns() - t0;
        ck_assert_uint_eq(welcomes, answered);

        text = wait_clients(d.socket, 1);
        free(text);
        text = query_text(d.socket, SIGBROKER_QUERY_STATS);
        ck_assert_msg(json_number(text, NULL, "connections_total") >= n_cycles, "stats: %.300s", text);
        ck_assert_msg(json_number(text, NULL, "violations") == 0, "stats: %.300s", text);
        free(text);
        fds_after = proc_wait_fd_count(d.pid, fds_start, 10000);
        sleep_ms(100);
        rss_after = proc_rss_kib(d.pid);
        stress_print("cycles: %u connect+hello+subscribe+close in %.2f s (%.0f/s), %u checked, %u closed unread",
                     n_cycles, t / 1e9, n_cycles / (t / 1e9), answered, abandoned);
        stress_print("cycles: broker fds at start %d, after %d; RSS at start %ld KiB, after %ld KiB (+%ld KiB, "
                     "bound +2048 KiB)",
                     fds_start, fds_after, rss_start, rss_after, rss_after - rss_start);
        ck_assert_int_eq(fds_after, fds_start);
        if (stress_memory_checks())
                ck_assert_int_le(rss_after - rss_start, 2048);
        else
                stress_print("cycles: memory not asserted (sanitizer or SB_DAEMON_WRAPPER)");
        check_served(d.socket);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- 3. clients killed mid-stream ---- */

#define GROUP "doomed"
#define PAYLOAD_LEN 256

/* Shared with the children, who count what they got done. */
typedef struct Progress {
        unsigned connected;
        unsigned long sends;
} Progress;

/* Library client: sends to its group in bursts, takes a delivery now and
 * then, collects results without waiting. */
static void child_library(const char *socket, Progress *pr, unsigned seed) {
        sigbroker_target group = { .kind = SIGBROKER_TARGET_GROUP, .group = GROUP };
        uint8_t payload[PAYLOAD_LEN] = {};
        sigbroker_info info;
        sigbroker *sb = NULL;

        if (sigbroker_connect_with(socket, 4, &sb) < 0 || sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_CHURN), 0) < 0 ||
            sigbroker_join(sb, GROUP) < 0)
                _exit(1);
        __atomic_add_fetch(&pr->connected, 1, __ATOMIC_RELAXED);
        for (unsigned i = 0;; i++) {
                for (int k = 0; k < 64; k++)
                        if (sigbroker_send_async(sb, &group, SIG_CHURN, (int) (rand_r(&seed) % 100), payload,
                                                 sizeof(payload), NULL) < 0)
                                _exit(1);
                __atomic_add_fetch(&pr->sends, 64, __ATOMIC_RELAXED);
                if (sigbroker_collect_results(sb, 2048, 1000000, NULL) < 0)
                        _exit(1);
                if (i % 4 == 0)
                        (void) sigbroker_wait(sb, 0, &info);
        }
}

/* Raw client: packs packets of SENDs (and, for odd seeds, QUERY frames)
 * and never reads a byte, so the daemon builds up a reply backlog and
 * deliveries for it until it stops reading it. */
static void child_raw(const char *socket, Progress *pr, unsigned seed) {
        static uint8_t buf[SB_PACKET_MAX];
        uint8_t payload[PAYLOAD_LEN] = {};
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2, .subscribe = { .mask = SB_SIGMASK(SIG_CHURN) } };
        SbFrame join = { .type = SB_MSG_JOIN, .serial = 3, .name = { .name = GROUP, .len = strlen(GROUP) } };
        size_t len = 0;
        uint64_t serial = 4;
        int fd;

        pack_frame(buf, sizeof(buf), &len, &sub);
        pack_frame(buf, sizeof(buf), &len, &join);
        fd = raw_connect_hello(socket, 1, buf, len);
        if (fd < 0)
                _exit(1);
        __atomic_add_fetch(&pr->connected, 1, __ATOMIC_RELAXED);
        for (;;) {
                unsigned n = 0;
                len = 0;
                for (;;) {
                        SbFrame f = { .type = SB_MSG_SEND, .serial = serial,
                                      .send = { .signo = SIG_CHURN, .target_kind = SB_TARGET_GROUP, .group = GROUP,
                                                .group_len = strlen(GROUP), .payload = payload,
                                                .payload_len = PAYLOAD_LEN } };
                        if (seed % 2 && serial % 16 == 0)
                                f = (SbFrame) { .type = SB_MSG_QUERY, .serial = serial,
                                                .query = { .kind = SB_QUERY_STATS } };
                        if (!pack_frame(buf, sizeof(buf), &len, &f))
                                break;
                        serial++;
                        n++;
                }
                if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t) len)
                        _exit(1);
                __atomic_add_fetch(&pr->sends, n, __ATOMIC_RELAXED);
        }
}

START_TEST(test_clients_killed_mid_stream) {
        const unsigned rounds = stress_count(30, 4), per_round = 16;
        const char *seed_env = getenv("SB_STRESS_SEED");
        unsigned seed = seed_env ? (unsigned) strtoul(seed_env, NULL, 0) : (unsigned) (mono_ns() % 1000000);
        Progress *pr = mmap(NULL, sizeof(*pr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        long rss_start, rss_after;
        int fds_start, fds_after;
        unsigned killed = 0, exited_early = 0;
        long long pending, max_pending = 0;
        TestDaemon d;
        char *text;

        ck_assert(pr != MAP_FAILED);
        stress_print("killed: seed %u (SB_STRESS_SEED to repeat)", seed);
        daemon_start(&d, "[limits]\nmax-queue = 256\n", NULL);
        sleep_ms(100);
        rss_start = proc_rss_kib(d.pid);
        fds_start = proc_settled_fd_count(d.pid);

        for (unsigned r = 0; r < rounds; r++) {
                pid_t kids[16];

                for (unsigned k = 0; k < per_round; k++) {
                        unsigned s = seed + r * per_round + k;
                        kids[k] = fork();
                        ck_assert_int_ge(kids[k], 0);
                        if (kids[k] == 0) {
                                prctl(PR_SET_PDEATHSIG, SIGKILL);
                                if (k % 2)
                                        child_raw(d.socket, pr, s);
                                else
                                        child_library(d.socket, pr, s);
                                _exit(0);
                        }
                }
                /* Let them get going, then kill them one by one at random
                 * moments: some before they connected, most in mid-burst
                 * with replies and deliveries queued for them. */
                sleep_ms(rand_r(&seed) % 40);
                if (r % 4 == 0) {
                        /* What the daemon holds for them at that moment. */
                        text = query_text(d.socket, SIGBROKER_QUERY_STATUS);
                        pending = json_number(text, NULL, "pending");
                        free(text);
                        if (pending > max_pending)
                                max_pending = pending;
                }
                for (unsigned k = 0; k < per_round; k++) {
                        int status;
                        sleep_ms(rand_r(&seed) % 6);
                        kill(kids[k], SIGKILL);
                        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
                        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                                killed++;
                        else
                                exited_early++;
                }
                ck_assert_msg(daemon_alive(&d), "the daemon died in round %u; log: %s", r, daemon_log(&d));
        }

        text = wait_clients(d.socket, 1);
        ck_assert_msg(json_number(text, NULL, "pending") == 0, "status: %s", text);
        free(text);
        text = query_text(d.socket, SIGBROKER_QUERY_STATS);
        ck_assert_msg(json_number(text, NULL, "groups") == 0, "stats: %.400s", text);
        stress_print("killed: %u clients SIGKILLed over %u rounds (%u had connected, %u exited by themselves); "
                     "they issued %lu sends; broker counted %lld sent, %lld delivered, %lld refused",
                     killed, rounds, pr->connected, exited_early, pr->sends, json_number(text, "\"global\"", "sent"),
                     json_number(text, "\"global\"", "delivered"), json_number(text, "\"global\"", "refused"));
        free(text);
        stress_print("killed: up to %lld signals were pending for them when the kills began", max_pending);
        ck_assert_uint_eq(exited_early, 0);
        ck_assert_int_gt(max_pending, 0);
        ck_assert_uint_gt(pr->connected, rounds * per_round / 2);
        ck_assert_uint_gt(pr->sends, 0);

        check_served(d.socket);
        fds_after = proc_wait_fd_count(d.pid, fds_start, 10000);
        rss_after = proc_rss_kib(d.pid);
        stress_print("killed: broker fds at start %d, after %d; RSS at start %ld KiB, after %ld KiB (+%ld KiB)",
                     fds_start, fds_after, rss_start, rss_after, rss_after - rss_start);
        ck_assert_int_eq(fds_after, fds_start);
        munmap(pr, sizeof(*pr));
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-churn");
        TCase *tc = tcase_create("churn");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_connect_cycles);
        tcase_add_test(tc, test_clients_killed_mid_stream);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
