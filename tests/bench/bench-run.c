/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The measurement loops, written once: a backend supplies how to ping,
 * send, receive and connect (bench_*_ops), these drivers do the forking,
 * timing, bounding and arithmetic, so every system is measured the same
 * way.
 */

#include <stdio.h>
#include <string.h>

#include "bench.h"

static void phase(const struct bench_config *cfg, const char *what, uint64_t *t) {
        uint64_t now = bench_now_ns();

        if (cfg->verbose)
                fprintf(stderr, "[%s %.3f s] ", what, (double) (now - *t) / 1e9);
        *t = now;
}

int bench_pingpong_run(const struct bench_config *cfg, void *state,
                       const struct bench_pingpong_ops *ops, struct bench_latency *ret) {
        _cleanup_(bench_pool_done) struct bench_pool pool = BENCH_POOL_INIT;
        _cleanup_free_ double *samples = NULL;
        struct bench_flow ignored = {};
        void *ping = NULL;
        uint64_t start, n = 0;
        int r;

        samples = calloc(cfg->lat_count, sizeof(double));
        if (!samples)
                return -ENOMEM;
        r = bench_pool_start(&pool, 1, ops->pong, state);
        if (r < 0)
                return r;
        r = bench_pool_wait_ready(&pool, cfg->ready_timeout_ns);
        if (r < 0)
                return r;
        r = ops->open(state, &pool, &ping);
        if (r < 0)
                return r;

        start = bench_now_ns();
        while (n < cfg->lat_count && bench_now_ns() - start < cfg->lat_budget_ns) {
                uint64_t t0 = bench_now_ns();

                r = ops->ping(ping, n);
                if (r < 0)
                        break;
                samples[n++] = (double) (bench_now_ns() - t0) / 1000.0;
        }
        ops->close(ping);
        bench_pool_collect(&pool, bench_now_ns() + cfg->grace_ns, &ignored);
        if (r < 0)
                return r;
        if (n < cfg->lat_count)
                bench_note_append(ret->note, sizeof(ret->note), "%llu of %u round trips within %.1f s",
                                  (unsigned long long) n, cfg->lat_count, (double) cfg->lat_budget_ns / 1e9);
        return bench_latency_compute(samples, n, ret);
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
