/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Overload by sending: receivers that do not take their signals
 * and a sender that floods them. The broker must refuse what does not fit
 * (EAGAIN), keep what it accepted in order, hold its memory to what the
 * limits say, disconnect nobody and keep serving everyone else. */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_FLOOD 35    /* RTMIN+1: real-time, so every send queues */
#define SIG_PROBE 36    /* RTMIN+2: the other receiver, the latency probe */

/* What sigbrokerd(8) says one connection may cost at most: about 2 KiB of
 * state, 64 bytes per subscribed signal (at most 64), and a backlog of
 * replies of 64 KiB plus the replies to one 128 KiB packet of requests
 * (about 250 KiB); no queries and no groups here. */
#define CONNECTION_BOUND_KIB (2 + 4 + 250)

/* The daemon's RSS also moves for reasons no limit covers: its two packet
 * buffers (128 KiB each) and the in-packet array are first touched under
 * load, libevent grows its epoll array, and glibc keeps a top pad of
 * 128 KiB per heap and rounds mappings to pages. 1 MiB covers these with
 * room to spare and is still small next to the bounds checked. */
#define SLACK_KIB 1024

static void fill_payload(uint8_t *buf, size_t len, uint32_t index) {
        memset(buf, (int) (index & 0xff), len);
        memcpy(buf, &index, sizeof(index));
}

static bool payload_ok(const void *payload, size_t len, uint32_t index) {
        const uint8_t *p = payload;
        uint32_t got;

        if (len < sizeof(got))
                return false;
        memcpy(&got, p, sizeof(got));
        return got == index && p[len - 1] == (uint8_t) (index & 0xff);
}

static void add_totals(sigbroker_batch_result *sum, const sigbroker_batch_result *t) {
        sum->sends += t->sends;
        sum->delivered += t->delivered;
        sum->failed += t->failed;
        sum->queued += t->queued;
        sum->merged += t->merged;
        sum->refused += t->refused;
        sum->denied += t->denied;
        if (sum->first_error == 0)
                sum->first_error = t->first_error;
}

static void print_latency(const char *test, const char *when, const LatencyStats *s) {
        stress_print("%s: probe %s: %u round trips, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %u over %u ms, %u failed",
                     test, when, s->n, s->p50_ms, s->p99_ms, s->max_ms, s->over, stress_latency_limit_ms(),
                     s->failed);
}

static void check_latency(const LatencyStats *s) {
        ck_assert_uint_eq(s->failed, 0);
        ck_assert_uint_ge(s->n, 5);
        ck_assert_msg(s->over == 0, "%u pings took over %u ms (max %.1f ms)", s->over, stress_latency_limit_ms(),
                      s->max_ms);
}

/* One signal through the broker, so that "before" is the broker at rest
 * rather than the broker never used: its packet buffers and the
 * allocator's first arenas are touched. */
static void warm_up(const char *socket) {
        sigbroker_target to_me = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        uint8_t payload[4096] = {};
        sigbroker_info info;
        sigbroker *sb = NULL;

        ck_assert_int_eq(sigbroker_connect(socket, &sb), 0);
        ck_assert_int_eq(sigbroker_subscribe(sb, SIGBROKER_SIGMASK(SIG_FLOOD), 0), 0);
        for (int i = 0; i < 16; i++) {
                ck_assert_int_eq(sigbroker_send(sb, &to_me, SIG_FLOOD, 0, payload, sizeof(payload), NULL), 0);
                ck_assert_int_eq(sigbroker_wait(sb, 5000000, &info), SIG_FLOOD);
        }
        sigbroker_close(sb);
}

/* ---- 1. a stalled receiver with window 1 ---- */

typedef struct Accepted {
        uint8_t *queued;        /* per send index: 1 if its RESULT said queued */
        uint64_t first_serial;
        unsigned n_queued;
} Accepted;

static void on_result(sigbroker *sb, uint64_t serial, int error, const sigbroker_send_result *res, void *userdata) {
        Accepted *a = userdata;

        if (res->queued > 0) {
                a->queued[serial - a->first_serial] = 1;
                a->n_queued++;
        }
}

START_TEST(test_flood_stalled_receiver) {
        const unsigned n_sends = stress_count(200000, 20000);
        const unsigned max_queue = 4096, payload_len = 1024, n_connections = 3;
        const long queue_bytes_kib = 8 * 1024;
        const char *args[] = { "--max-queue", "4096", NULL };
        sigbroker_target to_me = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        sigbroker_batch_result tot, sum = {};
        Accepted acc = { .queued = calloc(n_sends, 1) };
        sigbroker_send_result res;
        LatencyStats base, during;
        LatencyProbe probe;
        TestDaemon d;
        sigbroker *rx = NULL, *tx = NULL;
        sigbroker_info info;
        uint8_t payload[1024];
        long rss_before, rss_peak, rss_after, rss, bound_kib;
        int fds_before, fds_after;
        uint64_t t0, t_flood, t_drain;
        unsigned next = 0;
        char *status;

        ck_assert(acc.queued);
        daemon_start(&d, "[limits]\nmax-queue-bytes = 8M\n", args);
        warm_up(d.socket);
        probe_baseline(d.socket, SIG_PROBE, 300, &base);
        sleep_ms(100);
        rss_before = rss_peak = proc_rss_kib(d.pid);
        fds_before = proc_settled_fd_count(d.pid);

        /* The stalled receiver: window 1, and it will not read until the
         * flood is over. */
        ck_assert_int_eq(sigbroker_connect_with(d.socket, 1, &rx), 0);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIG_FLOOD), 0), 0);
        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        ck_assert_int_eq(sigbroker_set_result_handler(tx, on_result, &acc), 0);
        probe_start(&probe, d.socket, SIG_PROBE, 5, stress_latency_limit_ms());

        t0 = mono_ns();
        for (unsigned i = 0; i < n_sends; i++) {
                fill_payload(payload, payload_len, i);
                ck_assert_int_eq(sigbroker_send_async(tx, &to_me, SIG_FLOOD, 0, payload, payload_len,
                                                      i == 0 ? &acc.first_serial : NULL), 0);
                if (i % 256 == 255) {
                        ck_assert_int_ge(sigbroker_collect_results(tx, 4096, 30000000, &tot), 0);
                        add_totals(&sum, &tot);
                }
                if (i % 1024 == 0 && (rss = proc_rss_kib(d.pid)) > rss_peak)
                        rss_peak = rss;
        }
        ck_assert_int_eq(sigbroker_collect_results(tx, 0, 60000000, &tot), 0);
        add_totals(&sum, &tot);
        t_flood = mono_ns() - t0;
        if ((rss = proc_rss_kib(d.pid)) > rss_peak)
                rss_peak = rss;
        probe_stop(&probe, &during);

        /* Refused, not dropped and not disconnected: every send has its
         * answer, the accepted ones are the queue plus the window. */
        stress_print("flood: %u sends of %u B in %.2f s (%.0f/s): %" PRIu64 " queued, %" PRIu64 " refused (EAGAIN), "
                     "%" PRIu64 " other",
                     n_sends, payload_len, t_flood / 1e9, n_sends / (t_flood / 1e9), sum.queued, sum.refused,
                     sum.sends - sum.queued - sum.refused);
        ck_assert_uint_eq(sum.sends, n_sends);
        ck_assert_uint_eq(sum.queued, acc.n_queued);
        ck_assert_uint_eq(sum.queued, max_queue + 1);
        ck_assert_uint_eq(sum.refused, n_sends - sum.queued);
        ck_assert_uint_eq(sum.failed, sum.refused);
        ck_assert_int_eq(sum.first_error, -EAGAIN);

        /* Both ends still connected: the sender is still answered (and
         * still refused), the receiver is listed with its full queue. */
        ck_assert_int_eq(sigbroker_send(tx, &to_me, SIG_FLOOD, 0, "x", 1, &res), -EAGAIN);
        ck_assert_uint_eq(res.refused, 1);
        status = wait_clients(d.socket, 3);     /* rx, tx and the one asking; the probe has gone */
        ck_assert_msg(json_number(status, NULL, "pending") == max_queue, "status: %s", status);
        free(status);

        print_latency("flood", "before the flood", &base);
        print_latency("flood", "during the flood", &during);
        check_latency(&during);

        /* The receiver takes everything accepted, in send order, once. */
        t0 = mono_ns();
        for (unsigned k = 0; k < sum.queued; k++) {
                while (next < n_sends && !acc.queued[next])
                        next++;
                ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIG_FLOOD);
                ck_assert_uint_eq(info.seq, k + 1);
                ck_assert_uint_eq(info.payload_len, payload_len);
                ck_assert_msg(payload_ok(info.payload, info.payload_len, next), "delivery %u is not send %u", k, next);
                next++;
        }
        ck_assert_int_eq(sigbroker_wait(rx, 300000, &info), -EAGAIN);
        t_drain = mono_ns() - t0;
        status = query_text(d.socket, SIGBROKER_QUERY_STATUS);
        ck_assert_msg(json_number(status, NULL, "pending") == 0, "status: %s", status);
        free(status);

        sigbroker_close(rx);
        sigbroker_close(tx);
        fds_after = proc_wait_fd_count(d.pid, fds_before, 5000);
        sleep_ms(200);
        rss_after = proc_rss_kib(d.pid);

        bound_kib = queue_bytes_kib + n_connections * CONNECTION_BOUND_KIB + SLACK_KIB;
        stress_print("flood: receiver drained %" PRIu64 " signals in order in %.0f ms", sum.queued, t_drain / 1e6);
        stress_print("flood: broker RSS before %ld KiB, peak %ld KiB (+%ld KiB), after %ld KiB (+%ld KiB)", rss_before,
                     rss_peak, rss_peak - rss_before, rss_after, rss_after - rss_before);
        stress_print("flood: bound +%ld KiB = max-queue-bytes %ld KiB + %u connections x %u KiB + %u KiB slack; "
                     "charged at peak %" PRIu64 " x (%u + 192) B = %" PRIu64 " KiB",
                     bound_kib, queue_bytes_kib, n_connections, CONNECTION_BOUND_KIB, SLACK_KIB, (uint64_t) max_queue,
                     payload_len, (uint64_t) max_queue * (payload_len + 192) / 1024);
        stress_print("flood: broker fds before %d, after %d", fds_before, fds_after);
        ck_assert_int_eq(fds_after, fds_before);
        if (stress_memory_checks())
                ck_assert_msg(rss_peak - rss_before <= bound_kib, "RSS grew by %ld KiB, over the bound of %ld KiB",
                              rss_peak - rss_before, bound_kib);
        else
                stress_print("flood: memory not asserted (sanitizer or SB_DAEMON_WRAPPER)");

        free(acc.queued);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* ---- 5. a receiver with a large window that does not read its socket ---- */

static long long client_field(const char *socket, uint64_t id, const char *key) {
        char *text = query_text(socket, SIGBROKER_QUERY_CLIENTS), after[48];
        long long v;

        snprintf(after, sizeof(after), "{\"id\":%" PRIu64 ",", id);
        v = json_number(text, after, key);
        free(text);
        return v;
}

/* FIONREAD on a seqpacket socket counts every byte queued, not only the
 * next packet's. Wait until it stops growing. */
static int socket_backlog(int fd) {
        int last = -1, now = 0, stable = 0;

        for (int i = 0; i < 250 && stable < 10; i++) {
                ck_assert_int_eq(ioctl(fd, FIONREAD, &now), 0);
                stable = now == last ? stable + 1 : 0;
                last = now;
                sleep_ms(20);
        }
        return now;
}

static void send_ack(int fd, uint32_t count) {
        SbFrame f = { .type = SB_MSG_ACK, .ack = { .count = count } };
        raw_send_frame(fd, &f);
}

START_TEST(test_flood_unread_socket) {
        const unsigned n_sends = stress_count(50000, 5000), payload_len = 512, window = 4096;
        const char *config = "[limits]\n"
                             "max-queue = 1048576\n"
                             "max-queue-bytes = 1G\n"
                             "max-pending-per-uid = 1048576\n"
                             "max-bytes-per-uid = 1G\n";
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2, .subscribe = { .mask = SB_SIGMASK(SIG_FLOOD) } };
        sigbroker_batch_result tot, sum = {};
        LatencyStats during;
        LatencyProbe probe;
        TestDaemon d;
        SbWelcome w;
        SbFrame f;
        sigbroker_target to_rx = { .kind = SIGBROKER_TARGET_CLIENT };
        sigbroker *tx = NULL;
        uint8_t payload[512], *buf = malloc(SB_PACKET_MAX);
        long long depth, in_flight;
        unsigned got = 0, unacked = 0;
        int rfd, inq;
        uint64_t t0, t_flood, t_drain;

        ck_assert(buf);
        daemon_start(&d, config, NULL);
        rfd = raw_connect(d.socket);
        ck_assert_int_ge(rfd, 0);
        raw_hello(rfd, window, &w);
        ck_assert_uint_eq(w.window, window);
        raw_send_frame(rfd, &sub);
        ck_assert_int_eq(raw_expect(rfd, SB_MSG_REPLY, buf, SB_PACKET_MAX, &f, 5000), 0);
        ck_assert_int_eq(f.reply.error, 0);
        to_rx.id = w.client_id;

        ck_assert_int_eq(sigbroker_connect(d.socket, &tx), 0);
        probe_start(&probe, d.socket, SIG_PROBE, 5, stress_latency_limit_ms());
        t0 = mono_ns();
        for (unsigned i = 0; i < n_sends; i++) {
                fill_payload(payload, payload_len, i);
                ck_assert_int_eq(sigbroker_send_async(tx, &to_rx, SIG_FLOOD, 0, payload, payload_len, NULL), 0);
                if (i % 256 == 255) {
                        ck_assert_int_ge(sigbroker_collect_results(tx, 4096, 30000000, &tot), 0);
                        add_totals(&sum, &tot);
                }
        }
        ck_assert_int_eq(sigbroker_collect_results(tx, 0, 60000000, &tot), 0);
        add_totals(&sum, &tot);
        t_flood = mono_ns() - t0;
        ck_assert_uint_eq(sum.sends, n_sends);
        ck_assert_uint_eq(sum.queued, n_sends);
        ck_assert_uint_eq(sum.failed, 0);

        /* The socket is full before the window is: the daemon holds the
         * rest, and keeps holding it while the receiver does not read. */
        inq = socket_backlog(rfd);
        in_flight = client_field(d.socket, w.client_id, "in_flight");
        depth = client_field(d.socket, w.client_id, "queue_depth");
        stress_print("unread: %u sends of %u B queued in %.2f s; receiver socket holds %d B (%lld deliveries in flight, "
                     "window %u), broker queue %lld",
                     n_sends, payload_len, t_flood / 1e9, inq, in_flight, window, depth);
        ck_assert_int_gt(inq, 0);
        ck_assert_int_gt(in_flight, 0);
        ck_assert_int_lt(in_flight, window);
        ck_assert_int_eq(depth + in_flight, n_sends);
        sleep_ms(1000);
        ck_assert_int_eq(client_field(d.socket, w.client_id, "queue_depth"), depth);
        free(wait_clients(d.socket, 4));        /* rx, tx, the probe and the one asking */
        probe_stop(&probe, &during);
        print_latency("unread", "while the receiver's socket is full", &during);
        check_latency(&during);

        /* It reads at last: everything, in order, exactly once. */
        t0 = mono_ns();
        while (got < n_sends) {
                ssize_t n = raw_recv(rfd, buf, SB_PACKET_MAX, 5000);
                size_t at = 0;

                ck_assert_msg(n > 0, "receiver got %u of %u, then %zd", got, n_sends, n);
                while (at < (size_t) n) {
                        size_t used;
                        ck_assert_int_eq(sb_frame_parse_untrusted(buf + at, (size_t) n - at, &f, &used), 0);
                        at += used;
                        ck_assert_uint_eq(f.type, SB_MSG_DELIVER);
                        ck_assert_uint_eq(f.deliver.seq, got + 1);
                        ck_assert_msg(payload_ok(f.deliver.payload, f.deliver.payload_len, got), "delivery %u is wrong",
                                      got);
                        got++;
                        unacked++;
                }
                if (unacked >= window / 4) {
                        send_ack(rfd, unacked);
                        unacked = 0;
                }
        }
        if (unacked)
                send_ack(rfd, unacked);
        ck_assert_int_eq(raw_recv(rfd, buf, SB_PACKET_MAX, 300), -EAGAIN);
        t_drain = mono_ns() - t0;
        ck_assert_int_eq(client_field(d.socket, w.client_id, "queue_depth"), 0);
        stress_print("unread: receiver read %u deliveries in order, once, in %.0f ms", got, t_drain / 1e6);

        close(rfd);
        sigbroker_close(tx);
        free(buf);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-flood");
        TCase *tc = tcase_create("flood");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_flood_stalled_receiver);
        tcase_add_test(tc, test_flood_unread_socket);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
