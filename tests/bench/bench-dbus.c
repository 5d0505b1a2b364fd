/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backends "dbus-daemon" and "dbus-broker": a private dbus-daemon
 * (bench-dbus-daemon.c) or dbus-broker (bench-dbus-broker.c), the same
 * clients on sd-bus for both (the wire is the same; only how the bus is
 * started differs). A signal is a D-Bus signal whose body is the 64-byte
 * frame as "ay"; receivers add a match and run sd_bus_process/sd_bus_wait.
 * Members route: Data/End to receivers, Ping/Pong between the two ends of
 * a round trip.
 *
 * The sender pipelines: sd_bus_send queues without waiting for the bus,
 * and the sender only drains its own write queue when it holds more than
 * DBUS_WQUEUE_HIGH messages (sd-bus refuses beyond a fixed maximum).
 * One send per call: sd_bus_flush() after every message.
 *
 * Isolation: a sink matches Data and never reads; the flooder emits Data
 * as the pipelining sender does; the ping-pong pair matches only
 * Ping/Pong, so the bus routes none of the flood to it.
 */

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bench.h"

#define DBUS_PATH "/org/sigbroker/Bench"
#define DBUS_IFACE "org.sigbroker.Bench"
#define DBUS_MATCH(member) "type='signal',interface='" DBUS_IFACE "',member='" member "'"
#define DBUS_WQUEUE_HIGH 1024
#define DBUS_WAIT_SLICE_USEC (BENCH_IDLE_SLICE_MS * UINT64_C(1000))
#define DBUS_PING_TIMEOUT_NS (1 * NSEC_PER_SEC)

/* What a match callback fills in. */
struct dbus_rx {
        struct bench_worker *worker;   /* receivers: count here */
        sd_bus *bus;                   /* pong: answer on this bus */
        uint64_t last_seq;
        bool got, end;
        int error;
};

static int dbus_setup(const struct bench_config *cfg, void **ret_state) {
        if (!bench_find_program("dbus-daemon"))
                return -EOPNOTSUPP;
        return bench_dbus_daemon_start(cfg, (struct bench_dbus_daemon **) ret_state);
}

static int dbus_broker_setup(const struct bench_config *cfg, void **ret_state) {
        if (!bench_find_program("dbus-broker"))
                return -EOPNOTSUPP;
        return bench_dbus_broker_start(cfg, (struct bench_dbus_daemon **) ret_state);
}

static void *dbus_teardown(void *state) {
        return bench_dbus_daemon_stop(state);
}

/* ---- clients ----------------------------------------------------------- */

static int dbus_connect(const struct bench_dbus_daemon *d, sd_bus **ret_bus) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, d->address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret_bus = bus;
        return 0;
}

static int dbus_emit(sd_bus *bus, const char *member, const struct bench_frame *f) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, DBUS_PATH, DBUS_IFACE, member);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', f, sizeof(*f));
        if (r >= 0)
                r = sd_bus_send(bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static int dbus_read_frame(sd_bus_message *m, struct bench_frame *f) {
        const void *p;
        size_t size;
        int r;

        r = sd_bus_message_read_array(m, 'y', &p, &size);
        if (r < 0)
                return r;
        if (size != sizeof(*f))
                return -EBADMSG;
        memcpy(f, p, sizeof(*f)); /* p may be unaligned */
        return bench_frame_valid(f, size) ? 0 : -EBADMSG;
}

/* Runs the bus until *done, the deadline, or the worker is stopped. */
static int dbus_pump(sd_bus *bus, const bool *done, const struct bench_worker *w, uint64_t deadline_ns) {
        while (!*done) {
                uint64_t now = bench_now_ns(), slice;
                int r;

                if (now >= deadline_ns || (w && bench_worker_stopped(w)))
                        return -ETIMEDOUT;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                slice = (deadline_ns - now) / 1000 + 1;
                r = sd_bus_wait(bus, slice < DBUS_WAIT_SLICE_USEC ? slice : DBUS_WAIT_SLICE_USEC);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        return 0;
}

/* Writes out the send queue until at most `high` messages are left. */
static int dbus_drain(sd_bus *bus, uint64_t high, uint64_t deadline_ns) {
        for (;;) {
                uint64_t queued = 0;
                int r;

                r = sd_bus_get_n_queued_write(bus, &queued);
                if (r < 0 || queued <= high)
                        return r < 0 ? r : 0;
                if (bench_now_ns() >= deadline_ns)
                        return -ETIMEDOUT;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        sd_bus_wait(bus, DBUS_WAIT_SLICE_USEC);
        }
}

/* ---- latency ----------------------------------------------------------- */

static int dbus_on_ping(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct dbus_rx *rx = userdata;
        struct bench_frame f;

        if (dbus_read_frame(m, &f) < 0)
                return 0;
        if (f.type == BENCH_FRAME_END)
                rx->end = true;
        else
                rx->error = dbus_emit(rx->bus, "Pong", &f);
        return 0;
}

static int dbus_pong(struct bench_worker *w) {
        const struct bench_dbus_daemon *d = w->arg;
        struct dbus_rx rx = {};
        sd_bus *bus = NULL;
        int r;

        r = dbus_connect(d, &bus);
        if (r < 0)
                return r;
        rx.bus = bus;
        r = sd_bus_add_match(bus, NULL, DBUS_MATCH("Ping"), dbus_on_ping, &rx);
        if (r >= 0) {
                bench_worker_ready(w);
                r = dbus_pump(bus, &rx.end, w, bench_now_ns() + BENCH_CHILD_SECONDS * NSEC_PER_SEC);
        }
        sd_bus_flush_close_unref(bus);
        return r < 0 && r != -ETIMEDOUT ? r : rx.error;
}

static int dbus_on_pong(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct dbus_rx *rx = userdata;
        struct bench_frame f;

        if (dbus_read_frame(m, &f) >= 0 && f.seq == rx->last_seq)
                rx->got = true;
        return 0;
}

struct dbus_ping {
        sd_bus *bus;
        struct dbus_rx rx;
};

static int dbus_ping_open(void *state, const struct bench_pool *pool, void **ret_ping) {
        struct dbus_ping *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        r = dbus_connect(state, &p->bus);
        if (r >= 0)
                r = sd_bus_add_match(p->bus, NULL, DBUS_MATCH("Pong"), dbus_on_pong, &p->rx);
        if (r < 0) {
                sd_bus_unref(p->bus);
                free(p);
                return r;
        }
        *ret_ping = p;
        return 0;
}

static int dbus_ping(void *ping, uint64_t seq) {
        struct dbus_ping *p = ping;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_DATA, seq);
        p->rx.last_seq = seq;
        p->rx.got = false;
        r = dbus_emit(p->bus, "Ping", &f);
        if (r < 0)
                return r;
        return dbus_pump(p->bus, &p->rx.got, NULL, bench_now_ns() + DBUS_PING_TIMEOUT_NS);
}

static void dbus_ping_close(void *ping) {
        struct dbus_ping *p = ping;
        struct bench_frame f;

        bench_frame_init(&f, BENCH_FRAME_END, 0);
        if (dbus_emit(p->bus, "Ping", &f) >= 0)
                dbus_drain(p->bus, 0, bench_now_ns() + NSEC_PER_SEC);
        sd_bus_close_unref(p->bus);
        free(p);
}

static const struct bench_pingpong_ops dbus_pingpong_ops = {
        .pong = dbus_pong,
        .open = dbus_ping_open,
        .ping = dbus_ping,
        .close = dbus_ping_close,
};

/* ---- throughput and fan-out -------------------------------------------- */

static int dbus_on_data(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct dbus_rx *rx = userdata;
        struct bench_frame f;

        if (dbus_read_frame(m, &f) < 0)
                bench_worker_report(rx->worker)->bad++;
        else if (f.type == BENCH_FRAME_END)
                rx->end = true;
        else
                bench_worker_count(rx->worker, 1);
        return 0;
}

static int dbus_receiver(struct bench_worker *w) {
        const struct bench_dbus_daemon *d = w->arg;
        struct dbus_rx rx = { .worker = w };
        sd_bus *bus = NULL;
        int r;

        r = dbus_connect(d, &bus);
        if (r < 0)
                return r;
        r = sd_bus_add_match(bus, NULL, DBUS_MATCH("Data"), dbus_on_data, &rx);
        if (r >= 0) {
                bench_worker_ready(w);
                r = dbus_pump(bus, &rx.end, w, bench_now_ns() + BENCH_CHILD_SECONDS * NSEC_PER_SEC);
        }
        sd_bus_close_unref(bus);
        return r == -ETIMEDOUT ? 0 : r;
}

static int dbus_sender_open(void *state, const struct bench_pool *pool, void **ret_sender) {
        sd_bus *bus = NULL;
        const char *unique;
        int r;

        r = dbus_connect(state, &bus);
        if (r >= 0)
                r = sd_bus_get_unique_name(bus, &unique); /* waits for Hello */
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret_sender = bus;
        return 0;
}

static int dbus_send(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        sd_bus *bus = sender;
        uint64_t sent = 0;
        struct bench_frame f;
        int r = 0;

        bench_frame_init(&f, BENCH_FRAME_DATA, 0);
        while (sent < count && r >= 0) {
                if (sent % BENCH_BATCH_MAX == 0) {
                        f.sent_ns = bench_now_ns();
                        if (f.sent_ns >= deadline_ns)
                                break;
                        r = dbus_drain(bus, DBUS_WQUEUE_HIGH, deadline_ns + 5 * NSEC_PER_SEC);
                        if (r < 0)
                                break;
                }
                f.seq = sent;
                r = dbus_emit(bus, "Data", &f);
                if (r >= 0)
                        sent++;
        }
        *ret_sent = sent;
        return r < 0 ? r : 0;
}

/* Every message written out before the next is made. */
static int dbus_send_single(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        sd_bus *bus = sender;
        uint64_t sent = 0;
        struct bench_frame f;
        int r = 0;

        bench_frame_init(&f, BENCH_FRAME_DATA, 0);
        while (sent < count) {
                f.sent_ns = bench_now_ns();
                if (f.sent_ns >= deadline_ns)
                        break;
                f.seq = sent;
                r = dbus_emit(bus, "Data", &f);
                if (r >= 0)
                        r = sd_bus_flush(bus);
                if (r < 0)
                        break;
                sent++;
        }
        *ret_sent = sent;
        return r < 0 ? r : 0;
}

static int dbus_send_end(void *sender, uint64_t sent, uint64_t deadline_ns) {
        sd_bus *bus = sender;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_END, sent);
        f.count = sent;
        r = dbus_emit(bus, "Data", &f);
        if (r < 0)
                return r;
        return dbus_drain(bus, 0, deadline_ns);
}

static void dbus_sender_close(void *sender, struct bench_flow *ret) {
        sd_bus_close_unref(sender);
}

static const struct bench_flow_ops dbus_flow_ops = {
        .receiver = dbus_receiver,
        .open = dbus_sender_open,
        .send = dbus_send,
        .end = dbus_send_end,
        .close = dbus_sender_close,
};

static const struct bench_flow_ops dbus_single_ops = {
        .receiver = dbus_receiver,
        .open = dbus_sender_open,
        .send = dbus_send_single,
        .end = dbus_send_end,
        .close = dbus_sender_close,
};

static int dbus_throughput(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &dbus_flow_ops, 1, cfg->tput_count, ret);
}

static int dbus_single(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &dbus_single_ops, 1, cfg->single_count, ret);
}

static int dbus_fanout(void *state, const struct bench_config *cfg, unsigned n, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &dbus_flow_ops, n, bench_fanout_msgs(cfg, n), ret);
}

/* ---- isolation --------------------------------------------------------- */

static int dbus_sink(struct bench_worker *w) {
        sd_bus *bus = NULL;
        int r;

        r = dbus_connect(w->arg, &bus);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL, DBUS_MATCH("Data"), NULL, NULL);
        if (r >= 0)
                r = bench_worker_idle(w);
        sd_bus_close_unref(bus);
        return r;
}

/* Data as fast as the bus takes it, until stopped. */
static int dbus_flood(struct bench_worker *w) {
        const struct bench_flood_arg *a = w->arg;
        struct bench_frame f;
        sd_bus *bus = NULL;
        int r;

        r = dbus_connect(a->state, &bus);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        bench_frame_init(&f, BENCH_FRAME_DATA, 0);
        while (!bench_worker_stopped(w) && r >= 0) {
                r = dbus_drain(bus, DBUS_WQUEUE_HIGH, bench_now_ns() + BENCH_IDLE_SLICE_MS * NSEC_PER_MSEC);
                if (r == -ETIMEDOUT)
                        r = 0;
                for (unsigned i = 0; i < BENCH_BATCH_MAX && r >= 0; i++, f.seq++)
                        r = dbus_emit(bus, "Data", &f);
                if (r >= 0)
                        bench_worker_count(w, BENCH_BATCH_MAX);
        }
        sd_bus_close_unref(bus);
        return r == -ETIMEDOUT ? 0 : r;
}

static const struct bench_flood_ops dbus_flood_ops = {
        .sink = dbus_sink,
        .flood = dbus_flood,
};

/* ---- idle clients ------------------------------------------------------ */

/* Connected, Hello done, one match rule: an idle subscriber. */
static int dbus_idle_open(void *state, void **ret_client) {
        sd_bus *bus = NULL;
        int r;

        r = dbus_connect(state, &bus);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL, DBUS_MATCH("Data"), NULL, NULL);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret_client = bus;
        return 0;
}

struct dbus_idle_batch {
        unsigned pending;
        int error;
};

static int dbus_idle_installed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct dbus_idle_batch *b = userdata;

        if (sd_bus_message_is_method_error(m, NULL))
                b->error = -sd_bus_message_get_errno(m);
        b->pending--;
        return 0;
}

/* One pass of sd_bus_process over every bus, then a poll on all of them. */
static int dbus_idle_pump(void **buses, unsigned n, struct pollfd *pfds) {
        bool progress = false;

        for (unsigned i = 0; i < n; i++) {
                int r = sd_bus_process(buses[i], NULL);

                if (r < 0)
                        return r;
                progress = progress || r > 0;
        }
        if (progress)
                return 0;
        for (unsigned i = 0; i < n; i++) {
                int events = sd_bus_get_events(buses[i]);

                pfds[i] = (struct pollfd) { .fd = sd_bus_get_fd(buses[i]), .events = events > 0 ? events : 0 };
        }
        return poll(pfds, n, 10) < 0 && errno != EINTR ? -errno : 0;
}

/* n idle subscribers at once: all connect, authenticate, say Hello and
 * add their match concurrently, so dbus-daemon serves many per loop
 * iteration (its main loop walks every timeout each iteration, which
 * makes one-at-a-time setup quadratic in the number of clients). */
static int dbus_idle_open_many(void *state, unsigned n, void **ret_clients, unsigned *ret_opened) {
        _cleanup_free_ struct pollfd *pfds = calloc(n, sizeof(struct pollfd));
        struct dbus_idle_batch b = {};
        uint64_t deadline = bench_now_ns() + 60 * NSEC_PER_SEC;
        unsigned opened = 0;
        int r = 0;

        if (!pfds)
                return -ENOMEM;
        for (; opened < n && r >= 0; opened++) {
                sd_bus *bus = NULL;

                r = dbus_connect(state, &bus);
                if (r < 0)
                        break;
                ret_clients[opened] = bus;
                r = sd_bus_add_match_async(bus, NULL, DBUS_MATCH("Data"), NULL, dbus_idle_installed, &b);
                b.pending += r >= 0;
        }
        *ret_opened = opened;
        while (b.pending > 0 && b.error == 0 && r >= 0 && bench_now_ns() < deadline)
                r = dbus_idle_pump(ret_clients, opened, pfds);
        if (r < 0 || b.error < 0)
                return r < 0 ? r : b.error;
        return b.pending > 0 ? -ETIMEDOUT : 0;
}

static void dbus_idle_close(void *client) {
        sd_bus_close_unref(client);
}

static const struct bench_rss_ops dbus_rss_ops = {
        .open = dbus_idle_open,
        .open_many = dbus_idle_open_many,
        .close = dbus_idle_close,
};

static int dbus_idle_rss(void *state, const struct bench_config *cfg, unsigned k, struct bench_rss *ret) {
        const struct bench_dbus_daemon *d = state;

        return bench_rss_run(d->pid, k, state, &dbus_rss_ops, ret);
}

const struct bench_backend bench_backend_dbus = {
        .name = "dbus-daemon",
        .na_reason = "dbus-daemon: not installed",
        .setup = dbus_setup,
        .teardown = dbus_teardown,
        .pingpong = &dbus_pingpong_ops,
        .throughput = dbus_throughput,
        .single = dbus_single,
        .fanout = dbus_fanout,
        .idle_rss = dbus_idle_rss,
        .flood = &dbus_flood_ops,
};

const struct bench_backend bench_backend_dbus_broker = {
        .name = "dbus-broker",
        .na_reason = "dbus-broker: not installed",
        .setup = dbus_broker_setup,
        .teardown = dbus_teardown,
        .pingpong = &dbus_pingpong_ops,
        .throughput = dbus_throughput,
        .single = dbus_single,
        .fanout = dbus_fanout,
        .idle_rss = dbus_idle_rss,
        .flood = &dbus_flood_ops,
};
