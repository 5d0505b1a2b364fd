/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A flood of subscriptions and group joins from one client:
 * every request answered, in order, with a clear error past
 * max-groups-per-client (ENOSPC), the daemon's memory held to what that
 * limit allows, and other clients served meanwhile. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_PROBE 36    /* RTMIN+2 */
#define SIG_GROUP 35    /* RTMIN+1 */
#define FIRST_SERIAL 2  /* after HELLO */

/* sigbrokerd(8): per connection about 2 KiB of state, 64 B per subscribed
 * signal (at most 64), 100 B per joined group, and a reply backlog of at
 * most about 250 KiB; the one asking also has a query answer in flight
 * now and then (about 400 B per client connected). */
#define BYTES_PER_GROUP 256

static long connection_bound_kib(unsigned max_groups) {
        return 2 + 4 + ((long) max_groups * BYTES_PER_GROUP + 1023) / 1024 + 250 + 1;
}
/* Packet buffers first touched under load, libevent, glibc's top pad:
 * see test-flood.c. */
#define SLACK_KIB 1024

/* Request number k (0-based): even ones SUBSCRIBE, odd ones JOIN. */
static void make_request(uint64_t k, char name[static 24], SbFrame *ret) {
        uint64_t serial = FIRST_SERIAL + k;

        if (k % 2 == 0) {
                *ret = (SbFrame) { .type = SB_MSG_SUBSCRIBE, .serial = serial,
                                   .subscribe = { .mask = SB_SIGMASK(1 + (k / 2) % 64),
                                                  .flags = (k / 2) % 3 == 0 ? SB_SUBSCRIBE_DROP_OLDEST : 0 } };
                return;
        }
        snprintf(name, 24, "g-%llu", (unsigned long long) (k / 2));
        *ret = (SbFrame) { .type = SB_MSG_JOIN, .serial = serial, .name = { .name = name, .len = strlen(name) } };
}

typedef struct Tally {
        unsigned max_groups;
        uint64_t replies;
        uint64_t subscribed, joined, enospc, wrong;
} Tally;

/* Check one packet of replies: in order, and what each request should get. */
static void take_replies(const uint8_t *buf, size_t n, Tally *t) {
        size_t at = 0;

        while (at < n) {
                SbFrame f;
                size_t used;
                uint64_t k;
                ck_assert_int_eq(sb_frame_parse_untrusted(buf + at, n - at, &f, &used), 0);
                at += used;
                ck_assert_uint_eq(f.type, SB_MSG_REPLY);
                ck_assert_uint_eq(f.reply.reply_serial, FIRST_SERIAL + t->replies);
                k = t->replies++;
                if (k % 2 == 0 && f.reply.error == 0)
                        t->subscribed++;
                else if (k % 2 == 1 && k / 2 < t->max_groups && f.reply.error == 0)
                        t->joined++;
                else if (k % 2 == 1 && k / 2 >= t->max_groups && f.reply.error == ENOSPC)
                        t->enospc++;
                else
                        t->wrong++;
        }
}

static int count_groups(const char *socket) {
        char *text = query_text(socket, SIGBROKER_QUERY_GROUPS);
        int n = 0;

        ck_assert(text);
        for (const char *p = text; (p = strstr(p, "\"g-")); p++)
                n++;
        stress_print("groups: the GROUPS answer for %d groups is %zu bytes", n, strlen(text));
        free(text);
        return n;
}

static int raw_request(int fd, const SbFrame *f) {
        raw_send_frame(fd, f);
        return raw_wait_frame(fd, SB_MSG_REPLY, f->serial, 5000, 0, NULL);
}

/* n_joins JOINs of distinct groups, as many SUBSCRIBEs between them. */
static void join_flood(const char *label, const char *config, unsigned max_groups, unsigned n_joins) {
        const uint64_t n_requests = 2 * (uint64_t) n_joins;
        const unsigned n_granted = n_joins < max_groups ? n_joins : max_groups;
        uint8_t *out = malloc(SB_PACKET_MAX), *in = malloc(SB_PACKET_MAX);
        sigbroker_target to_group = { .kind = SIGBROKER_TARGET_GROUP, .group = "g-7" };
        sigbroker_send_result res;
        LatencyStats during;
        LatencyProbe probe;
        Tally t = { .max_groups = max_groups };
        TestDaemon d;
        sigbroker *tx = NULL;
        size_t out_len = 0;
        uint64_t next = 0, t0, t_flood;
        long rss_before, rss_peak, rss_after, rss, bound_kib;
        int fd, fds_before, fds_after, groups, packets = 0;
        bool mem_ok;
        char *text;

        ck_assert(out && in);
        daemon_start(&d, config, NULL);
        free(query_text(d.socket, SIGBROKER_QUERY_GROUPS));     /* warm up, and touch the query path */
        sleep_ms(100);
        rss_before = rss_peak = proc_rss_kib(d.pid);
        fds_before = proc_settled_fd_count(d.pid);
        probe_start(&probe, d.socket, SIG_PROBE, 5, stress_latency_limit_ms());

        fd = raw_connect(d.socket);
        ck_assert_int_ge(fd, 0);
        raw_hello(fd, 0, NULL);
        ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);

        /* Pipelined: packets of up to 64 KiB of requests go out as fast as
         * the daemon takes them, replies are read as they come. */
        t0 = mono_ns();
        while (t.replies < n_requests) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                while (next < n_requests) {
                        char name[24];
                        SbFrame f;
                        make_request(next, name, &f);
                        if (!pack_frame(out, 64 * 1024, &out_len, &f))
                                break;
                        next++;
                }
                if (out_len > 0)
                        pfd.events |= POLLOUT;
                ck_assert_msg(poll(&pfd, 1, 10000) == 1, "no progress after %llu replies",
                              (unsigned long long) t.replies);
                ck_assert(!(pfd.revents & (POLLERR | POLLHUP)));
                if (pfd.revents & POLLOUT) {
                        n = send(fd, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n > 0) {
                                ck_assert_int_eq(n, (ssize_t) out_len);
                                out_len = 0;
                                if (++packets % 16 == 0 && (rss = proc_rss_kib(d.pid)) > rss_peak)
                                        rss_peak = rss;
                        } else
                                ck_assert_msg(errno == EAGAIN, "send: %m");
                }
                if (pfd.revents & POLLIN) {
                        n = recv(fd, in, SB_PACKET_MAX, MSG_DONTWAIT);
                        ck_assert_msg(n > 0 || (n < 0 && errno == EAGAIN), "recv: %zd %m", n);
                        if (n > 0)
                                take_replies(in, (size_t) n, &t);
                }
        }
        t_flood = mono_ns() - t0;
        if ((rss = proc_rss_kib(d.pid)) > rss_peak)
                rss_peak = rss;
        probe_stop(&probe, &during);
        ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);

        stress_print("%s: %llu SUBSCRIBE and %llu JOIN of distinct groups in %.2f s (%.0f requests/s)", label,
                     (unsigned long long) (n_requests / 2), (unsigned long long) (n_requests / 2), t_flood / 1e9,
                     n_requests / (t_flood / 1e9));
        stress_print("%s: answers: %llu subscribed, %llu joined, %llu ENOSPC, %llu unexpected", label,
                     (unsigned long long) t.subscribed, (unsigned long long) t.joined,
                     (unsigned long long) t.enospc, (unsigned long long) t.wrong);
        stress_print("%s: probe during the flood: %u round trips, p50 %.2f ms, p99 %.2f ms, max %.2f ms, "
                     "%u over %u ms, %u failed", label,
                     during.n, during.p50_ms, during.p99_ms, during.max_ms, during.over, stress_latency_limit_ms(),
                     during.failed);
        ck_assert_uint_eq(t.wrong, 0);
        ck_assert_uint_eq(t.subscribed, n_requests / 2);
        ck_assert_uint_eq(t.joined, n_granted);
        ck_assert_uint_eq(t.enospc, n_joins - n_granted);
        ck_assert_uint_eq(during.failed, 0);
        ck_assert_uint_ge(during.n, 5);

        /* The daemon holds exactly the groups allowed, and they work. */
        groups = count_groups(d.socket);
        ck_assert_int_eq(groups, (int) n_granted);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        ck_assert_int_eq(sigbroker_send(tx, &to_group, SIG_GROUP, 0, "g", 1, &res), 0);
        ck_assert_uint_eq(res.queued, 1);
        ck_assert_int_eq(raw_wait_frame(fd, SB_MSG_DELIVER, 0, 5000, 0, NULL), 0);
        sigbroker_close(tx);

        /* Leaving makes room again, and only that much. */
        {
                SbFrame leave = { .type = SB_MSG_LEAVE, .serial = FIRST_SERIAL + n_requests,
                                  .name = { .name = "g-0", .len = 3 } };
                SbFrame join_a = { .type = SB_MSG_JOIN, .serial = leave.serial + 1, .name = { .name = "late-a", .len = 6 } };
                SbFrame join_b = { .type = SB_MSG_JOIN, .serial = leave.serial + 2, .name = { .name = "late-b", .len = 6 } };
                ck_assert_int_eq(raw_request(fd, &leave), 0);
                ck_assert_int_eq(raw_request(fd, &join_a), 0);
                ck_assert_int_eq(raw_request(fd, &join_b), n_granted < max_groups ? 0 : ENOSPC);
        }

        close(fd);
        text = wait_clients(d.socket, 1);
        free(text);
        text = query_text(d.socket, SIGBROKER_QUERY_STATS);
        ck_assert_msg(json_number(text, NULL, "groups") == 0, "stats: %.300s", text);
        free(text);
        fds_after = proc_wait_fd_count(d.pid, fds_before, 5000);
        sleep_ms(100);
        rss_after = proc_rss_kib(d.pid);
        /* The flooding client may hold max_groups groups; the probe none. */
        bound_kib = connection_bound_kib(max_groups) + connection_bound_kib(0) + SLACK_KIB;
        stress_print("%s: broker RSS before %ld KiB, peak %ld KiB (+%ld KiB), after %ld KiB (+%ld KiB); "
                     "bound +%ld KiB = %ld KiB for the client with %u groups + %ld KiB for the probe + %d KiB slack", label,
                     rss_before, rss_peak, rss_peak - rss_before, rss_after, rss_after - rss_before, bound_kib,
                     connection_bound_kib(max_groups), n_granted, connection_bound_kib(0), SLACK_KIB);
        if (n_granted >= 4096)
                stress_print("%s: %.0f B of RSS per joined group (sigbrokerd(8) says about %d)", label,
                             (double) (rss_peak - rss_before) * 1024 / n_granted, BYTES_PER_GROUP);
        stress_print("%s: broker fds before %d, after %d; groups held at the end of the flood %d, after it %d", label,
                     fds_before, fds_after, groups, 0);
        ck_assert_int_eq(fds_after, fds_before);
        if (!stress_memory_checks())
                stress_print("%s: memory not asserted (sanitizer or SB_DAEMON_WRAPPER)", label);
        free(out);
        free(in);
        ck_assert_int_eq(daemon_stop(&d), 0);
        /* Last, so that every figure is printed: memory within the bound,
         * other clients served promptly all along. */
        mem_ok = !stress_memory_checks() || rss_peak - rss_before <= bound_kib;
        ck_assert_msg(mem_ok && during.over == 0,
                      "%s: RSS grew by %ld KiB (bound %ld KiB%s); %u of %u pings took over %u ms during the flood "
                      "(p50 %.1f ms, max %.1f ms)",
                      label, rss_peak - rss_before, bound_kib, mem_ok ? ", met" : ", NOT met", during.over, during.n,
                      stress_latency_limit_ms(), during.p50_ms, during.max_ms);
}

START_TEST(test_join_flood_default_limit) {
        join_flood("groups", NULL, 64, stress_count(100000, 2000));
}
END_TEST

/* The largest max-groups-per-client the file allows: joining is still
 * answered promptly and the memory is still what the man page says. */
START_TEST(test_join_flood_largest_limit) {
        join_flood("groups-65536", "[limits]\nmax-groups-per-client = 65536\n", 65536,
                   stress_count(65536 + 4096, 2000));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-groups");
        TCase *tc = tcase_create("groups");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_join_flood_default_limit);
        tcase_add_test(tc, test_join_flood_largest_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
