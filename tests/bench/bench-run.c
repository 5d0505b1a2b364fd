/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The measurement loops, written once: a backend supplies how to ping,
 * send, receive and connect (bench_*_ops), these drivers do the forking,
 * timing, bounding and arithmetic, so every system is measured the same
 * way.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static void phase(const struct bench_config *cfg, const char *what, uint64_t *t) {
        uint64_t now = bench_now_ns();

        if (cfg->verbose)
                fprintf(stderr, "[%s %.3f s] ", what, (double) (now - *t) / 1e9);
        *t = now;
}

/* Pool, pong and ping of one system; on failure its error says why. */
static void pingpong_open(const struct bench_config *cfg, struct bench_pingpong *p) {
        p->pool = (struct bench_pool) BENCH_POOL_INIT;
        p->samples = calloc(cfg->lat_count, sizeof(double));
        if (!p->samples) {
                p->error = -ENOMEM;
                return;
        }
        p->error = bench_pool_start(&p->pool, 1, p->ops->pong, p->state);
        if (p->error >= 0)
                p->error = bench_pool_wait_ready(&p->pool, cfg->ready_timeout_ns);
        if (p->error >= 0)
                p->error = p->ops->open(p->state, &p->pool, &p->ping);
        p->open = p->error >= 0;
}

/* One slice: up to count round trips, or budget_ns. Its first round trip
 * wakes pong and broker after the others' slices and is not a sample. */
static void pingpong_slice(struct bench_pingpong *p, uint64_t count, uint64_t budget_ns) {
        uint64_t start = bench_now_ns(), end = p->n + count, t0;
        int r;

        r = p->ops->ping(p->ping, p->seq++);
        t0 = bench_now_ns();
        while (r >= 0 && p->n < end && t0 - start < budget_ns) {
                uint64_t t1;

                r = p->ops->ping(p->ping, p->seq++);
                t1 = bench_now_ns();
                if (r >= 0)
                        p->samples[p->n++] = (double) (t1 - t0) / 1000.0;
                t0 = t1;
        }
        if (r < 0)
                p->error = r;
        p->clock_ns += t0 - start;
}

static void pingpong_close(const struct bench_config *cfg, struct bench_pingpong *p) {
        struct bench_flow ignored = {};

        if (p->open) {
                p->ops->close(p->ping);
                bench_pool_collect(&p->pool, bench_now_ns() + cfg->grace_ns, &ignored);
        }
        p->open = false;
        bench_pool_done(&p->pool);
        if (p->error >= 0 && p->n < cfg->lat_count)
                bench_note_append(p->result.note, sizeof(p->result.note), "%llu of %u round trips within %.1f s",
                                  (unsigned long long) p->n, cfg->lat_count, (double) cfg->lat_budget_ns / 1e9);
        if (p->error >= 0)
                p->error = bench_latency_compute(p->samples, p->n, &p->result);
        free(p->samples);
        p->samples = NULL;
}

/*
 * Round trips of every system, interleaved: all are set up and pinged in
 * slices, cfg->lat_slices per system, each of lat_count / lat_slices round
 * trips or lat_budget_ns / lat_slices, whichever comes first. The load of
 * a shared machine drifts over seconds; taken one after another, systems
 * would each see another load and their ratios would swing with it. The
 * first system of a round moves on by one each round, so that none always
 * follows the same one. A system that fails drops out; the others go on.
 * runs[] holds systems that are set up; one alone is measured the same way.
 */
void bench_pingpong_run(const struct bench_config *cfg, struct bench_pingpong *runs, size_t n) {
        unsigned slices = cfg->lat_slices > 0 ? cfg->lat_slices : 1;
        uint64_t budget = cfg->lat_budget_ns / slices;

        for (size_t i = 0; i < n; i++)
                pingpong_open(cfg, &runs[i]);
        for (unsigned s = 0; s < slices; s++) {
                uint64_t count = (uint64_t) cfg->lat_count * (s + 1) / slices -
                                 (uint64_t) cfg->lat_count * s / slices;

                for (size_t k = 0; k < n; k++) {
                        struct bench_pingpong *p = &runs[(s + k) % n];

                        if (p->error >= 0)
                                pingpong_slice(p, count, budget);
                }
        }
        for (size_t i = 0; i < n; i++)
                pingpong_close(cfg, &runs[i]);
}

/* One phase of the isolation row: the p99 of one system's round trips,
 * in one slice. */
static int isolation_phase(const struct bench_config *cfg, void *state, const struct bench_pingpong_ops *ops,
                           double *ret_p99_us) {
        struct bench_config c = *cfg;
        struct bench_pingpong run = { .ops = ops, .state = state };

        c.lat_count = cfg->iso_count;
        c.lat_budget_ns = cfg->iso_budget_ns;
        c.lat_slices = 1;
        bench_pingpong_run(&c, &run, 1);
        if (run.error < 0)
                return run.error;
        *ret_p99_us = run.result.p99_us;
        return 0;
}

/*
 * Isolation: the p99 of a ping-pong pair alone, then while a flooder (a
 * process of its own) sends as fast as it can to a sink that subscribed
 * and never reads, so that the sink's queue (or socket) is full and stays
 * full. The flood starts iso_settle_ns before the second phase. A broker
 * that isolates its clients answers the pair as before; one that blocks
 * on the sink, or spends its time on the flood, does not.
 */
int bench_isolation_run(const struct bench_config *cfg, void *state, const struct bench_pingpong_ops *pingpong,
                        const struct bench_flood_ops *flood, struct bench_isolation *ret) {
        _cleanup_(bench_pool_done) struct bench_pool sink = BENCH_POOL_INIT, flooder = BENCH_POOL_INIT;
        struct bench_flood_arg arg = { .state = state };
        struct bench_flow counts = {};
        struct timespec settle = {
                .tv_sec = (time_t) (cfg->iso_settle_ns / NSEC_PER_SEC),
                .tv_nsec = (long) (cfg->iso_settle_ns % NSEC_PER_SEC),
        };
        int r;

        r = isolation_phase(cfg, state, pingpong, &ret->p99_unloaded_us);
        if (r < 0)
                return r;
        r = bench_pool_start(&sink, 1, flood->sink, state);
        if (r >= 0)
                r = bench_pool_wait_ready(&sink, cfg->ready_timeout_ns);
        if (r < 0)
                return r;
        arg.sink = sink.pids[0];
        r = bench_pool_start(&flooder, 1, flood->flood, &arg);
        if (r >= 0)
                r = bench_pool_wait_ready(&flooder, cfg->ready_timeout_ns);
        if (r < 0)
                return r;
        nanosleep(&settle, NULL);
        r = isolation_phase(cfg, state, pingpong, &ret->p99_loaded_us);
        bench_pool_collect(&flooder, bench_now_ns(), &counts); /* stops it */
        ret->flooded = counts.delivered;
        if (r < 0)
                return r;
        if (counts.reported > 0 && flooder.failed > 0)
                bench_note_append(ret->note, sizeof(ret->note), "the flooder failed: %s",
                                  strerror(-flooder.shm->reports[0].error));
        ret->ratio = ret->p99_unloaded_us > 0 ? ret->p99_loaded_us / ret->p99_unloaded_us : 0;
        bench_note_append(ret->note, sizeof(ret->note),
                          "p99 %.1f us alone, %.1f us while %llu sends flooded a receiver that never reads",
                          ret->p99_unloaded_us, ret->p99_loaded_us, (unsigned long long) ret->flooded);
        return 0;
}

uint64_t bench_fanout_msgs(const struct bench_config *cfg, unsigned n) {
        uint64_t m = cfg->fanout_deliveries / (n > 0 ? n : 1);

        return m > 0 ? m : 1;
}

int bench_flow_run(const struct bench_config *cfg, void *state, const struct bench_flow_ops *ops,
                   unsigned n, uint64_t msgs, struct bench_flow *ret) {
        _cleanup_(bench_pool_done) struct bench_pool pool = BENCH_POOL_INIT;
        uint64_t t = bench_now_ns();
        void *sender = NULL;
        int r, r_end;

        r = bench_pool_start(&pool, n, ops->receiver, state);
        phase(cfg, "fork", &t);
        if (r < 0)
                return r;
        r = bench_pool_wait_ready(&pool, cfg->ready_timeout_ns);
        phase(cfg, "ready", &t);
        if (r < 0)
                return r;
        r = ops->open(state, &pool, &sender);
        if (r < 0)
                return r;

        ret->start_ns = bench_now_ns();
        r = ops->send(sender, msgs, ret->start_ns + cfg->send_budget_ns, &ret->sent);
        phase(cfg, "send", &t);
        if (r == -EAGAIN || r == -ETIMEDOUT) {
                /* Blocked beyond its bound: the system is saturated, which
                 * is a result, not a failure; what arrived is counted. */
                bench_note_append(ret->note, sizeof(ret->note), "sender stopped early: %s", strerror(-r));
                r = 0;
        }
        r_end = ops->end(sender, ret->sent, bench_now_ns() + cfg->grace_ns);
        if (r_end < 0)
                bench_note_append(ret->note, sizeof(ret->note), "END not delivered (%s), receivers stopped",
                                  strerror(-r_end));
        ops->close(sender, ret);
        bench_pool_collect(&pool, bench_now_ns() + cfg->grace_ns, ret);
        phase(cfg, "collect", &t);
        bench_pool_done(&pool);
        phase(cfg, "reap", &t);
        if (r < 0)
                return r;
        if (ret->sent < msgs)
                bench_note_append(ret->note, sizeof(ret->note), "sent %llu of %llu within %.1f s",
                                  (unsigned long long) ret->sent, (unsigned long long) msgs,
                                  (double) cfg->send_budget_ns / 1e9);
        bench_flow_finish(ret);
        return 0;
}

#define RSS_CHUNK 256

/* Broker RSS before and after k idle clients, (after - before) / k. One
 * client connects first, so that what any first connection allocates
 * once (code paths faulted in, lazily built tables) is in "before". */
int bench_rss_run(pid_t broker, unsigned k, void *state, const struct bench_rss_ops *ops,
                  struct bench_rss *ret) {
        _cleanup_free_ void **clients = calloc(k + 1, sizeof(void *));
        void *warmup = NULL;
        unsigned n = 0;
        int r = 0;

        if (!clients)
                return -ENOMEM;
        r = ops->open(state, &warmup);
        if (r < 0)
                return r;
        ret->before_kb = bench_rss_kb(broker);
        if (ret->before_kb < 0) {
                ops->close(warmup);
                return (int) ret->before_kb;
        }
        while (n < k && r >= 0) {
                unsigned chunk = k - n < RSS_CHUNK ? k - n : RSS_CHUNK, got = 0;

                if (ops->open_many)
                        r = ops->open_many(state, chunk, clients + n, &got);
                else
                        for (; got < chunk; got++) {
                                r = ops->open(state, &clients[n + got]);
                                if (r < 0)
                                        break;
                        }
                n += got;
        }
        ret->after_kb = bench_rss_kb(broker);
        ret->clients = n;
        for (unsigned i = 0; i < n; i++)
                ops->close(clients[i]);
        ops->close(warmup);
        if (n == 0)
                return r < 0 ? r : -ENODATA;
        if (n < k)
                bench_note_append(ret->note, sizeof(ret->note), "only %u of %u clients connected: %s",
                                  n, k, strerror(-r));
        if (ret->after_kb < 0)
                return (int) ret->after_kb;
        ret->per_client_bytes = (double) (ret->after_kb - ret->before_kb) * 1024.0 / n;
        return 0;
}
