/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "peer.h"
#include "queue.h"
#include "util.h"

/* Rings start with room for this many in-flight entries, which is the
 * default window; only rings of this size are kept for reuse, at most
 * RING_SPARE_MAX of them. */
#define RING_MIN 64u
#define RING_SPARE_MAX 256u

/* Entries pack the send time and the band: (monotonic_ns << 2) | band.
 * Zero stands for an entry with no time: a gap record, or a delivery
 * written before a restart of the daemon. */
#define RING_BAND_BITS 2
static_assert(METRICS_BANDS <= (1 << RING_BAND_BITS), "bands must fit in the ring's entries");

struct AckRing {
        AckRing *next_spare;
        uint32_t head, len, cap;        /* cap: a power of two */
        uint64_t sent[];
};

void histogram_observe(Histogram *h, uint64_t ns) {
        /* Bucket i holds (2^(i-1) µs, 2^i µs]: the index is the bit length
         * of ceil(ns / 1 µs) - 1. */
        uint64_t us = ns <= METRICS_BUCKET0_NS ? 0 : (ns - 1) / METRICS_BUCKET0_NS;
        unsigned i = us == 0 ? 0 : 64 - (unsigned) __builtin_clzll(us);

        if (i < METRICS_BUCKETS)
                h->buckets[i]++;
        h->count++;
        h->sum_ns += ns;
}

static void observe(Metrics *m, LatencyKind kind, unsigned band, uint64_t now, uint64_t then) {
        histogram_observe(&m->latency[kind][band], now > then ? now - then : 0);
}

/* ---- the ring of in-flight send times ---- */

static AckRing *ring_alloc(Metrics *m, uint32_t cap) {
        AckRing *r;

        if (cap == RING_MIN && m->spare_rings) {
                r = m->spare_rings;
                m->spare_rings = r->next_spare;
                m->n_spare_rings--;
        } else {
                r = malloc(sizeof(*r) + (size_t) cap * sizeof(r->sent[0]));
                if (!r)
                        return NULL;
        }
        *r = (AckRing) { .cap = cap };
        return r;
}

static void ring_release(Metrics *m, AckRing *r) {
        if (!r)
                return;
        if (r->cap == RING_MIN && m->n_spare_rings < RING_SPARE_MAX) {
                r->next_spare = m->spare_rings;
                m->spare_rings = r;
                m->n_spare_rings++;
        } else
                free(r);
}

/* Room for one more entry, or false (ENOMEM: the entry is left out, and
 * the padding in metrics_written() puts a timeless one in its place). */
static bool ring_reserve(Metrics *m, Peer *p) {
        AckRing *r = p->acks, *n;

        if (r && r->len < r->cap)
                return true;
        n = ring_alloc(m, r ? r->cap * 2 : RING_MIN);
        if (!n)
                return false;
        for (uint32_t i = 0; r && i < r->len; i++)
                n->sent[i] = r->sent[(r->head + i) & (r->cap - 1)];
        n->len = r ? r->len : 0;
        ring_release(m, r);
        p->acks = n;
        return true;
}

static void ring_push(Metrics *m, Peer *p, uint64_t entry) {
        AckRing *r;

        if (!ring_reserve(m, p))
                return;
        r = p->acks;
        r->sent[(r->head + r->len) & (r->cap - 1)] = entry;
        r->len++;
}

/* ---- hooks ---- */

void metrics_written(Metrics *m, Peer *p, Pending *const *delivered, uint32_t n_delivered, uint32_t n_frames) {
        uint32_t before = p->in_flight - n_frames;
        uint32_t have = p->acks ? p->acks->len : 0;
        uint64_t now = now_ns(CLOCK_MONOTONIC);

        /* In flight but not in the ring (from before a restart, or left out
         * for lack of memory): timeless entries keep the ring in step with
         * the client's count. */
        for (uint32_t i = have; i < before; i++)
                ring_push(m, p, 0);
        for (uint32_t i = n_delivered; i < n_frames; i++)
                ring_push(m, p, 0);     /* gap records are written before the deliveries */
        for (uint32_t i = 0; i < n_delivered; i++) {
                const Signal *s = delivered[i]->signal;
                unsigned band = metrics_band(delivered[i]->priority);

                observe(m, LATENCY_WRITTEN, band, now, s->monotonic_ns);
                ring_push(m, p, (s->monotonic_ns << RING_BAND_BITS) | band);
        }
}

void metrics_acked(Metrics *m, Peer *p, uint32_t count) {
        AckRing *r = p->acks;
        uint64_t now;
        uint32_t n;

        if (!r)
                return;
        n = MIN(count, r->len);
        now = now_ns(CLOCK_MONOTONIC);
        for (uint32_t i = 0; i < n; i++) {
                uint64_t e = r->sent[r->head];
                r->head = (r->head + 1) & (r->cap - 1);
                if (e != 0)
                        observe(m, LATENCY_ACKED, (unsigned) (e & ((1u << RING_BAND_BITS) - 1)), now,
                                e >> RING_BAND_BITS);
        }
        r->len -= n;
        /* A grown ring stays for the next burst until metrics_release_idle():
         * growing it again from RING_MIN would copy it at every doubling. */
        if (r->len == 0 && r->cap == RING_MIN)
                metrics_release_idle(m, p);
}

void metrics_release_idle(Metrics *m, Peer *p) {
        if (p->acks && p->acks->len == 0)
                ring_release(m, TAKE_PTR(p->acks));
}

void metrics_forget_peer(Metrics *m, Peer *p) {
        ring_release(m, TAKE_PTR(p->acks));
}

void metrics_done(Metrics *m) {
        while (m->spare_rings) {
                AckRing *r = m->spare_rings;
                m->spare_rings = r->next_spare;
                free(r);
        }
        m->n_spare_rings = 0;
}
