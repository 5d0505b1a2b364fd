/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backends "relay" and "relay-mmsg": clients of the relay process in
 * bench-relay-server.c. The two differ only in batching, on both sides of
 * the hop: relay-mmsg's relay uses recvmmsg/sendmmsg (up to 64 packets per
 * call) and so do its sender and receivers; plain relay does one
 * send()/recv() per packet everywhere. Packets always hold one 64-byte
 * frame.
 */

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bench.h"

#define RELAY_HELLO_TIMEOUT_NS (5 * NSEC_PER_SEC)
#define RELAY_PING_TIMEOUT_NS (1 * NSEC_PER_SEC)

struct relay_state {
        pid_t pid;
        bool mmsg;
        char path[108];
};

/* One batch of frames and the headers sendmmsg/recvmmsg want. */
struct relay_batch {
        struct bench_frame frames[BENCH_BATCH_MAX];
        struct iovec iov[BENCH_BATCH_MAX];
        struct mmsghdr msgs[BENCH_BATCH_MAX];
};

struct relay_sender {
        int fd;
        bool mmsg;
        struct relay_batch batch;
};

static void relay_batch_init(struct relay_batch *b) {
        for (unsigned i = 0; i < BENCH_BATCH_MAX; i++) {
                b->iov[i] = (struct iovec) { &b->frames[i], sizeof(b->frames[i]) };
                b->msgs[i].msg_hdr = (struct msghdr) { .msg_iov = &b->iov[i], .msg_iovlen = 1 };
        }
}

/* One frame, waiting at most until the deadline (SO_RCVTIMEO slices). */
static int relay_recv_frame(int fd, struct bench_frame *f, uint64_t deadline_ns) {
        for (;;) {
                ssize_t k = recv(fd, f, sizeof(*f), 0);

                if (k > 0)
                        return bench_frame_valid(f, (size_t) k) ? 0 : -EBADMSG;
                if (k == 0)
                        return -ECONNRESET;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (bench_now_ns() >= deadline_ns)
                        return -ETIMEDOUT;
        }
}

static int relay_send_frame(int fd, const struct bench_frame *f) {
        return send(fd, f, sizeof(*f), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int relay_connect(const struct relay_state *s, bool subscribe, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval rcv = { .tv_usec = BENCH_IDLE_SLICE_MS * 1000 % 1000000, .tv_sec = BENCH_IDLE_SLICE_MS / 1000 };
        struct timeval snd = { .tv_sec = 2 };
        _cleanup_close_ int fd = -1;
        struct bench_frame f;
        int r;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, s->path, sizeof(s->path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
        bench_frame_init(&f, BENCH_FRAME_HELLO, 0);
        f.flags = subscribe ? BENCH_HELLO_SUBSCRIBE : 0;
        r = relay_send_frame(fd, &f);
        if (r < 0)
                return r;
        r = relay_recv_frame(fd, &f, bench_now_ns() + RELAY_HELLO_TIMEOUT_NS);
        if (r < 0)
                return r;
        if (f.type != BENCH_FRAME_ACK)
                return -EPROTO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* ---- setup / teardown -------------------------------------------------- */

static int relay_listen(struct relay_state *s, const struct bench_config *cfg, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int r;

        /* Its own name per variant: latency runs both at once. */
        r = bench_path_join(s->path, sizeof(s->path), cfg->tmpdir, s->mmsg ? "relay-mmsg.sock" : "relay.sock");
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, s->path, sizeof(s->path));
        unlink(s->path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        r = bench_guard_add_path(s->path);
        if (r < 0)
                return r;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The relay runs as a fresh exec of this program, so its RSS is that of a
 * small server and not a copy of the bench's address space. */
static int relay_spawn(int listen_fd, bool mmsg, pid_t *ret_pid) {
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (len < 0)
                return -errno;
        self[len] = 0;
        return bench_spawn_exec(self, (char *[]) { self, (char *) BENCH_RELAY_ARG,
                                                   (char *) (mmsg ? "mmsg" : "plain"), NULL },
                                listen_fd, -1, ret_pid);
}

static void *relay_teardown(void *state) {
        struct relay_state *s = state;

        if (!s)
                return NULL;
        bench_proc_reap(s->pid);
        if (s->path[0])
                bench_guard_remove_path(s->path);
        free(s);
        return NULL;
}

static int relay_setup_variant(const struct bench_config *cfg, bool mmsg, void **ret_state) {
        struct relay_state *s = calloc(1, sizeof(*s));
        _cleanup_close_ int fd = -1;
        int r;

        if (!s)
                return -ENOMEM;
        s->mmsg = mmsg;
        r = relay_listen(s, cfg, &fd);
        if (r >= 0)
                r = relay_spawn(fd, mmsg, &s->pid);
        if (r < 0) {
                relay_teardown(s);
                return r;
        }
        *ret_state = s;
        return 0;
}

static int relay_setup(const struct bench_config *cfg, void **ret_state) {
        return relay_setup_variant(cfg, false, ret_state);
}

static int relay_mmsg_setup(const struct bench_config *cfg, void **ret_state) {
        return relay_setup_variant(cfg, true, ret_state);
}

/* ---- latency ----------------------------------------------------------- */

static int relay_pong(struct bench_worker *w) {
        const struct relay_state *s = w->arg;
        _cleanup_close_ int fd = -1;
        struct bench_frame f;
        int r;

        r = relay_connect(s, true, &fd);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                r = relay_recv_frame(fd, &f, bench_now_ns());
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0)
                        return r;
                if (f.type == BENCH_FRAME_END)
                        return 0;
                r = relay_send_frame(fd, &f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int relay_ping_open(void *state, const struct bench_pool *pool, void **ret_ping) {
        int fd = -1, r;

        r = relay_connect(state, true, &fd);
        if (r < 0)
                return r;
        *ret_ping = (void *) (intptr_t) fd;
        return 0;
}

static int relay_ping(void *ping, uint64_t seq) {
        int fd = (int) (intptr_t) ping;
        uint64_t deadline = bench_now_ns() + RELAY_PING_TIMEOUT_NS;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_DATA, seq);
        r = relay_send_frame(fd, &f);
        if (r < 0)
                return r;
        do {
                r = relay_recv_frame(fd, &f, deadline);
                if (r < 0)
                        return r;
        } while (f.seq != seq || f.type != BENCH_FRAME_DATA);
        return 0;
}

static void relay_ping_close(void *ping) {
        int fd = (int) (intptr_t) ping;
        struct bench_frame f;

        bench_frame_init(&f, BENCH_FRAME_END, 0);
        relay_send_frame(fd, &f);
        close(fd);
}

static const struct bench_pingpong_ops relay_pingpong_ops = {
        .pong = relay_pong,
        .open = relay_ping_open,
        .ping = relay_ping,
        .close = relay_ping_close,
};

/* ---- throughput and fan-out -------------------------------------------- */

/* One blocking receive (SO_RCVTIMEO bounds it): up to 64 with recvmmsg. */
static int relay_recv_batch(int fd, bool mmsg, struct relay_batch *b, unsigned *ret_n) {
        int k;

        if (mmsg)
                k = recvmmsg(fd, b->msgs, BENCH_BATCH_MAX, MSG_WAITFORONE, NULL);
        else {
                ssize_t len = recv(fd, &b->frames[0], sizeof(b->frames[0]), 0);

                b->msgs[0].msg_len = len > 0 ? (unsigned) len : 0;
                k = len < 0 ? -1 : 1;
        }
        *ret_n = 0;
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        *ret_n = (unsigned) k;
        return 0;
}

/* Counts one batch; 1 once END arrived. */
static int relay_count_batch(struct bench_worker *w, const struct relay_batch *b, unsigned n) {
        unsigned data = 0;
        int r = 0;

        for (unsigned i = 0; i < n && r == 0; i++) {
                const struct bench_frame *f = &b->frames[i];

                if (b->msgs[i].msg_len == 0)
                        r = -ECONNRESET;
                else if (!bench_frame_valid(f, b->msgs[i].msg_len))
                        bench_worker_report(w)->bad++;
                else if (f->type == BENCH_FRAME_DATA)
                        data++;
                else if (f->type == BENCH_FRAME_END)
                        r = 1;
        }
        bench_worker_count(w, data);
        return r;
}

static int relay_receiver(struct bench_worker *w) {
        const struct relay_state *s = w->arg;
        _cleanup_free_ struct relay_batch *b = malloc(sizeof(*b));
        _cleanup_close_ int fd = -1;
        int r;

        if (!b)
                return -ENOMEM;
        relay_batch_init(b);
        r = relay_connect(s, true, &fd);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                unsigned n;

                r = relay_recv_batch(fd, s->mmsg, b, &n);
                if (r == 0)
                        r = relay_count_batch(w, b, n);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return 0;
}

static int relay_sender_open(void *state, const struct bench_pool *pool, void **ret_sender) {
        const struct relay_state *s = state;
        struct relay_sender *snd = calloc(1, sizeof(*snd));
        int r;

        if (!snd)
                return -ENOMEM;
        snd->mmsg = s->mmsg;
        relay_batch_init(&snd->batch);
        r = relay_connect(s, false, &snd->fd);
        if (r < 0) {
                free(snd);
                return r;
        }
        *ret_sender = snd;
        return 0;
}

static int relay_send_batch(struct relay_sender *snd, unsigned n) {
        unsigned off = 0;

        while (off < n) {
                int k;

                if (snd->mmsg)
                        k = sendmmsg(snd->fd, snd->batch.msgs + off, n - off, MSG_NOSIGNAL);
                else
                        k = send(snd->fd, &snd->batch.frames[off], sizeof(struct bench_frame),
                                 MSG_NOSIGNAL) < 0 ? -1 : 1;
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -errno; /* EAGAIN: blocked longer than SO_SNDTIMEO */
                off += (unsigned) k;
        }
        return 0;
}

static int relay_send(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        struct relay_sender *snd = sender;
        /* plain: one frame per send(), and per deadline check, since one
         * send can block long when the relay is saturated. */
        unsigned batch = snd->mmsg ? BENCH_BATCH_MAX : 1;
        uint64_t sent = 0;
        int r = 0;

        while (sent < count && bench_now_ns() < deadline_ns) {
                unsigned n = count - sent < batch ? (unsigned) (count - sent) : batch;
                uint64_t now = bench_now_ns();

                for (unsigned i = 0; i < n; i++) {
                        bench_frame_init(&snd->batch.frames[i], BENCH_FRAME_DATA, sent + i);
                        snd->batch.frames[i].sent_ns = now;
                }
                r = relay_send_batch(snd, n);
                if (r < 0)
                        break;
                sent += n;
        }
        *ret_sent = sent;
        return r;
}

static int relay_send_end(void *sender, uint64_t sent, uint64_t deadline_ns) {
        struct relay_sender *snd = sender;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_END, sent);
        f.count = sent;
        do
                r = relay_send_frame(snd->fd, &f);
        while (r == -EAGAIN && bench_now_ns() < deadline_ns);
        return r;
}

static void relay_sender_close(void *sender, struct bench_flow *ret) {
        struct relay_sender *snd = sender;

        close(snd->fd);
        free(snd);
}

static const struct bench_flow_ops relay_flow_ops = {
        .receiver = relay_receiver,
        .open = relay_sender_open,
        .send = relay_send,
        .end = relay_send_end,
        .close = relay_sender_close,
};

static int relay_throughput(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &relay_flow_ops, 1, cfg->tput_count, ret);
}

/* plain relay: one send() per message is what it always does; relay-mmsg
 * has no such row (it is the plain relay then). */
static int relay_single(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &relay_flow_ops, 1, cfg->single_count, ret);
}

static int relay_fanout(void *state, const struct bench_config *cfg, unsigned n, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &relay_flow_ops, n, bench_fanout_msgs(cfg, n), ret);
}

/* ---- idle clients ------------------------------------------------------ */

static int relay_idle_open(void *state, void **ret_client) {
        int fd = -1, r;

        r = relay_connect(state, true, &fd);
        if (r < 0)
                return r;
        *ret_client = (void *) (intptr_t) fd;
        return 0;
}

static void relay_idle_close(void *client) {
        close((int) (intptr_t) client);
}

static const struct bench_rss_ops relay_rss_ops = {
        .open = relay_idle_open,
        .close = relay_idle_close,
};

static int relay_idle_rss(void *state, const struct bench_config *cfg, unsigned k, struct bench_rss *ret) {
        const struct relay_state *s = state;

        return bench_rss_run(s->pid, k, state, &relay_rss_ops, ret);
}

/* Neither relay has an isolation row: it copies every frame to every
 * subscriber, so a flood would reach the ping-pong pair too, and a
 * receiver that never reads blocks it for SO_SNDTIMEO per frame. */
const struct bench_backend bench_backend_relay = {
        .name = "relay",
        .na_reason = "relay: isolation: every frame goes to every subscriber, no addressing",
        .setup = relay_setup,
        .teardown = relay_teardown,
        .pingpong = &relay_pingpong_ops,
        .throughput = relay_throughput,
        .single = relay_single,
        .fanout = relay_fanout,
        .idle_rss = relay_idle_rss,
};

const struct bench_backend bench_backend_relay_mmsg = {
        .name = "relay-mmsg",
        .na_reason = "relay-mmsg: one send per call is the relay column; isolation: as relay",
        .setup = relay_mmsg_setup,
        .teardown = relay_teardown,
        .pingpong = &relay_pingpong_ops,
        .throughput = relay_throughput,
        .fanout = relay_fanout,
        .idle_rss = relay_idle_rss,
};
