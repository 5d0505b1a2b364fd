/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's latency metrics (daemon/admin/metrics.c): histogram bucket
 * boundaries, priority bands, and the ring of in-flight send times that
 * turns ACK counts into acknowledgement latencies: oldest first, gap
 * records and deliveries from before a restart not observed, growth past
 * the first size, and rings kept for reuse only up to their bound.
 */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "peer.h"
#include "queue.h"
#include "unit.h"
#include "util.h"

#define MS UINT64_C(1000000)

static unsigned bucket_of(uint64_t ns) {
        Histogram h = { 0 };

        histogram_observe(&h, ns);
        ck_assert_uint_eq(h.count, 1);
        ck_assert_uint_eq(h.sum_ns, ns);
        for (unsigned i = 0; i < METRICS_BUCKETS; i++)
                if (h.buckets[i]) {
                        ck_assert_uint_eq(h.buckets[i], 1);
                        return i;
                }
        return METRICS_BUCKETS;         /* +Inf only */
}

START_TEST(test_bucket_boundaries) {
        ck_assert_uint_eq(metrics_bucket_bound_ns(0), 1000);
        ck_assert_uint_eq(metrics_bucket_bound_ns(10), 1024000);
        ck_assert_uint_eq(bucket_of(0), 0);
        ck_assert_uint_eq(bucket_of(1), 0);
        /* Each bound is inclusive: bound(i) is in bucket i, one nanosecond
         * more in bucket i + 1, or in +Inf only past the last. */
        for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
                uint64_t bound = metrics_bucket_bound_ns(i);
                ck_assert_uint_eq(bucket_of(bound), i);
                ck_assert_uint_eq(bucket_of(bound + 1), i + 1);
                if (i > 0)
                        ck_assert_uint_eq(bucket_of(metrics_bucket_bound_ns(i - 1) + 1), i);
        }
        ck_assert_uint_eq(bucket_of(UINT64_MAX / 2), METRICS_BUCKETS);
        ck_assert_uint_eq(bucket_of(UINT64_MAX), METRICS_BUCKETS);
}
END_TEST

START_TEST(test_histogram_accumulates) {
        Histogram h = { 0 };
        uint64_t total = 0;

        for (uint64_t ns = 0; ns < 5000000; ns += 997) {
                histogram_observe(&h, ns);
                total += ns;
        }
        histogram_observe(&h, metrics_bucket_bound_ns(METRICS_BUCKETS - 1) + 1);
        {
                uint64_t in_buckets = 0;
                for (unsigned i = 0; i < METRICS_BUCKETS; i++)
                        in_buckets += h.buckets[i];
                /* All but the one past the last bound. */
                ck_assert_uint_eq(in_buckets, h.count - 1);
        }
        ck_assert_uint_eq(h.sum_ns, total + metrics_bucket_bound_ns(METRICS_BUCKETS - 1) + 1);
        /* 0, 997: bucket 0 (≤ 1 µs); 1994: bucket 1 (≤ 2 µs). */
        ck_assert_uint_eq(h.buckets[0], 2);
        ck_assert_uint_eq(h.buckets[1], 1);
}
END_TEST

START_TEST(test_bands) {
        ck_assert_uint_eq(metrics_band(0), 0);
        ck_assert_uint_eq(metrics_band(24), 0);
        ck_assert_uint_eq(metrics_band(25), 1);
        ck_assert_uint_eq(metrics_band(49), 1);
        ck_assert_uint_eq(metrics_band(50), 2);
        ck_assert_uint_eq(metrics_band(74), 2);
        ck_assert_uint_eq(metrics_band(75), 3);
        ck_assert_uint_eq(metrics_band(99), 3);
        /* Out of range: the top band, never past the array. */
        ck_assert_uint_eq(metrics_band(100), 3);
        ck_assert_uint_eq(metrics_band(255), 3);
        ck_assert_uint_eq(metrics_band(~0u), 3);
}
END_TEST

/* ---- the ring ---- */

typedef struct Sent {
        Signal *signal;
        Pending pending;
        Pending *ptr;
} Sent;

/* n deliveries of the given priority, sent `age` ns ago. */
static Sent *make_sent(unsigned n, uint8_t priority, uint64_t age) {
        Sent *s = calloc(n, sizeof(*s));

        ck_assert_ptr_nonnull(s);
        for (unsigned i = 0; i < n; i++) {
                s[i].signal = signal_new(10, priority, NULL, 0);
                ck_assert_ptr_nonnull(s[i].signal);
                s[i].signal->monotonic_ns = now_ns(CLOCK_MONOTONIC) - age;
                s[i].pending = (Pending) { .signal = s[i].signal, .priority = priority };
                s[i].ptr = &s[i].pending;
        }
        return s;
}

static void free_sent(Sent *s, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                signal_unref(s[i].signal);
        free(s);
}

/* A packet of gaps + n deliveries written to p, as peer.c reports it. */
static void write_packet(Metrics *m, Peer *p, Sent *s, unsigned n, unsigned gaps) {
        Pending *list[512];

        ck_assert_uint_le(n, 512);
        for (unsigned i = 0; i < n; i++)
                list[i] = s[i].ptr;
        p->in_flight += n + gaps;
        metrics_written(m, p, list, n, n + gaps);
}

static void ack(Metrics *m, Peer *p, uint32_t count) {
        metrics_acked(m, p, count);
        p->in_flight -= MIN(count, p->in_flight);
}

static uint64_t count_of(const Metrics *m, LatencyKind k, unsigned band) {
        return m->latency[k][band].count;
}

START_TEST(test_written_and_acked_oldest_first) {
        Metrics m = { 0 };
        Peer p = { 0 };
        Sent *low = make_sent(3, 10, 5 * MS), *high = make_sent(2, 80, 5 * MS);

        /* Acknowledging nothing in flight observes nothing. */
        metrics_acked(&m, &p, 5);
        ck_assert_ptr_null(p.acks);

        write_packet(&m, &p, low, 3, 0);
        write_packet(&m, &p, high, 2, 0);
        ck_assert_uint_eq(count_of(&m, LATENCY_WRITTEN, 0), 3);
        ck_assert_uint_eq(count_of(&m, LATENCY_WRITTEN, 3), 2);
        ck_assert_uint_eq(count_of(&m, LATENCY_WRITTEN, 1) + count_of(&m, LATENCY_WRITTEN, 2), 0);
        /* Sent 5 ms ago: nothing lands below the 4.096 ms bound. */
        for (unsigned i = 0; i <= 12; i++)
                ck_assert_uint_eq(m.latency[LATENCY_WRITTEN][0].buckets[i], 0);
        ck_assert_uint_ge(m.latency[LATENCY_WRITTEN][0].sum_ns, 3 * 5 * MS);

        /* ACK of 4: the three band-0 ones and the first band-3 one. */
        ack(&m, &p, 4);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 0), 3);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 3), 1);
        ck_assert_ptr_nonnull(p.acks);
        ack(&m, &p, 1);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 3), 2);
        ck_assert_uint_ge(m.latency[LATENCY_ACKED][3].sum_ns, 2 * 5 * MS);
        /* Empty at its first size: back to the spares. */
        ck_assert_ptr_null(p.acks);
        ck_assert_uint_eq(m.n_spare_rings, 1);

        /* A count beyond what is in flight is cut to it. */
        write_packet(&m, &p, low, 1, 0);
        ck_assert_uint_eq(m.n_spare_rings, 0);        /* the spare was reused */
        ack(&m, &p, 100);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 0), 4);
        ck_assert_ptr_null(p.acks);

        metrics_done(&m);
        ck_assert_uint_eq(m.n_spare_rings, 0);
        free_sent(low, 3);
        free_sent(high, 2);
}
END_TEST

START_TEST(test_gaps_and_restart_are_timeless) {
        Metrics m = { 0 };
        Peer p = { 0 };
        Sent *s = make_sent(2, 0, MS);

        /* Two deliveries written before a restart: in flight, not in the
         * ring. Then a packet with one gap record and two deliveries. */
        p.in_flight = 2;
        write_packet(&m, &p, s, 2, 1);
        ck_assert_uint_eq(count_of(&m, LATENCY_WRITTEN, 0), 2);
        /* The first three acknowledged have no time: nothing observed. */
        ack(&m, &p, 3);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 0), 0);
        ack(&m, &p, 2);
        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, 0), 2);
        metrics_forget_peer(&m, &p);
        metrics_done(&m);
        free_sent(s, 2);
}
END_TEST

START_TEST(test_ring_grows_and_keeps_order) {
        enum { N = 300 };
        Metrics m = { 0 };
        Peer p = { 0 };
        Sent *s = make_sent(N, 0, MS);

        /* Bands alternate 0..3 so that order shows in the counts. */
        for (unsigned i = 0; i < N; i++)
                s[i].pending.priority = (uint8_t) ((i % 4) * 25);
        for (unsigned i = 0; i < N; i += 50)
                write_packet(&m, &p, s + i, 50, 0);
        for (unsigned acked = 0; acked < N; acked += 7) {
                unsigned n = MIN(7u, N - acked), end = acked + n;
                ack(&m, &p, n);
                for (unsigned band = 0; band < 4; band++)
                        ck_assert_uint_eq(count_of(&m, LATENCY_ACKED, band), (end + 3 - band) / 4);
        }
        /* Grown past the first size: kept while empty until the tick. */
        ck_assert_ptr_nonnull(p.acks);
        /* The first-size ring it grew from went to the spares; the grown one
         * is freed, not kept. */
        ck_assert_uint_eq(m.n_spare_rings, 1);
        metrics_release_idle(&m, &p);
        ck_assert_ptr_null(p.acks);
        ck_assert_uint_eq(m.n_spare_rings, 1);
        metrics_done(&m);
        free_sent(s, N);
}
END_TEST

START_TEST(test_release_idle_keeps_busy_rings) {
        Metrics m = { 0 };
        Peer p = { 0 };
        Sent *s = make_sent(1, 0, 0);

        write_packet(&m, &p, s, 1, 0);
        metrics_release_idle(&m, &p);
        ck_assert_ptr_nonnull(p.acks);         /* something is in flight */
        metrics_forget_peer(&m, &p);
        ck_assert_ptr_null(p.acks);
        ck_assert_uint_eq(m.n_spare_rings, 1);
        metrics_done(&m);
        ck_assert_uint_eq(m.n_spare_rings, 0);
        ck_assert_ptr_null(m.spare_rings);
        free_sent(s, 1);
}
END_TEST

START_TEST(test_spare_rings_bounded) {
        enum { PEERS = 300 };
        Metrics m = { 0 };
        Peer *peers = calloc(PEERS, sizeof(*peers));
        Sent *s = make_sent(1, 0, 0);

        ck_assert_ptr_nonnull(peers);
        for (unsigned i = 0; i < PEERS; i++)
                write_packet(&m, &peers[i], s, 1, 0);
        for (unsigned i = 0; i < PEERS; i++)
                metrics_forget_peer(&m, &peers[i]);
        /* 256 kept; the rest freed (LeakSanitizer checks they were). */
        ck_assert_uint_eq(m.n_spare_rings, 256);
        metrics_done(&m);
        free(peers);
        free_sent(s, 1);
}
END_TEST

int main(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("histograms");

        tcase_add_test(tc, test_bucket_boundaries);
        tcase_add_test(tc, test_histogram_accumulates);
        tcase_add_test(tc, test_bands);
        suite_add_tcase(s, tc);
        tc = tcase_create("acknowledgement ring");
        tcase_add_test(tc, test_written_and_acked_oldest_first);
        tcase_add_test(tc, test_gaps_and_restart_are_timeless);
        tcase_add_test(tc, test_ring_grows_and_keeps_order);
        tcase_add_test(tc, test_release_idle_keeps_busy_rings);
        tcase_add_test(tc, test_spare_rings_bounded);
        suite_add_tcase(s, tc);
        return unit_run(s);
}
