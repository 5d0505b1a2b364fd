/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The broker's counters and latency histograms.
 *
 * Counters are plain integers bumped where things happen (route.c, peer.c).
 * Latency is measured per priority band, from the moment the daemon
 * accepted a send (Signal.monotonic_ns) to two later moments: the DELIVER
 * left for the receiver's socket, and the receiver acknowledged it.
 * Histograms have log2 buckets of microseconds, so an observation is a
 * division, a count-leading-zeros and three additions: cheap enough to stay
 * on in production. The daemon is single-threaded, so nothing is locked.
 *
 * ACK frames carry a count, not sequence numbers, so each receiver with
 * deliveries in flight keeps a ring of their send times, oldest first, and
 * an ACK of n observes the n oldest. The ring exists only while something
 * is in flight (idle peers hold none) and freed rings are kept for reuse,
 * so that a receiver taking one signal at a time costs no allocation per
 * signal.
 */

#include <stdint.h>

typedef struct Peer Peer;
typedef struct Pending Pending;

#define METRICS_BANDS 4                 /* priorities 0-24, 25-49, 50-74, 75-99 */
#define METRICS_BAND_WIDTH 25
#define METRICS_BUCKETS 32              /* bucket i: at most 2^i µs; later ones count in +Inf only */
#define METRICS_BUCKET0_NS UINT64_C(1000)

typedef struct Histogram {
        uint64_t buckets[METRICS_BUCKETS];      /* per bucket, not cumulative */
        uint64_t count;                         /* every observation, those over the last bound too */
        uint64_t sum_ns;
} Histogram;

typedef enum LatencyKind {
        LATENCY_WRITTEN,                /* send → DELIVER written to the receiver's socket */
        LATENCY_ACKED,                  /* send → the receiver acknowledged it */
        _LATENCY_MAX,
} LatencyKind;

typedef struct AckRing AckRing;

typedef struct Metrics {
        uint64_t sent, delivered, merged, refused, denied, dropped;
        uint64_t bytes_sent, bytes_delivered;
        uint64_t violations, connections, disconnections;
        uint64_t hello_timeouts;        /* closed for saying no HELLO in time (also violations) */
        uint64_t reserve_refused;       /* refused: only the reserve for uid 0 and the admin group was left */
        uint64_t answers_refused;       /* QUERY answers refused for the answer budgets */
        uint64_t monitor_events, monitor_missed;

        Histogram latency[_LATENCY_MAX][METRICS_BANDS];
        AckRing *spare_rings;           /* freed rings, for reuse */
        uint32_t n_spare_rings;
} Metrics;

static inline unsigned metrics_band(unsigned priority) {
        unsigned band = priority / METRICS_BAND_WIDTH;
        return band < METRICS_BANDS ? band : METRICS_BANDS - 1;
}

/* The upper bound of bucket i, in nanoseconds. */
static inline uint64_t metrics_bucket_bound_ns(unsigned i) { return METRICS_BUCKET0_NS << i; }

void histogram_observe(Histogram *h, uint64_t ns);

/* A packet went out to p: n_frames frames, of which the last n_delivered
 * were the deliveries listed (the others gap records). Call after
 * p->in_flight has counted them. */
void metrics_written(Metrics *m, Peer *p, Pending *const *delivered, uint32_t n_delivered, uint32_t n_frames);
/* p acknowledged count deliveries (or gap records). Call before
 * p->in_flight is lowered. */
void metrics_acked(Metrics *m, Peer *p, uint32_t count);
/* p is going away: give back its ring. */
void metrics_forget_peer(Metrics *m, Peer *p);
/* Free an emptied ring that grew beyond its first size (the broker's tick). */
void metrics_release_idle(Metrics *m, Peer *p);
/* Free what the metrics hold (the spare rings). */
void metrics_done(Metrics *m);
