/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend "sigbroker": the sigbrokerd built with this tree ($SIGBROKERD,
 * set by meson; without it every row is n/a) and its client library, doing
 * the work every other backend does: 64-byte struct bench_frame payloads,
 * here on SIGRTMIN, priority 0.
 *
 * - setup: a private daemon on <tmpdir>/sigbroker.sock with a config of its
 *   own (so /etc/sigbroker does not count) and --max-queue SBB_MAX_QUEUE
 *   (see pacing below); ready once sigbroker_connect() succeeds.
 * - latency: the pong waits with sigbroker_wait() and echoes each DATA
 *   frame to the sender's pid; the ping sends to the pong's pid and waits
 *   for the echo. Both send with sigbroker_send_async() + sigbroker_flush()
 *   and reap the answers later (sigbroker_collect_results()), as a
 *   latency-minded client would: sigbroker_send() would wait for the
 *   daemon's RESULT before anything else, one more wakeup per hop.
 * - throughput / fan-out: receivers count DATA frames with
 *   sigbroker_wait(), publishing their count whenever the socket is
 *   drained (and every SBB_COUNT_EVERY frames). They ask for a window of
 *   SBB_RECEIVER_WINDOW, two packets' worth of 64-byte signals, as the
 *   client of a busy stream should (sigbroker(3), FLOW CONTROL): with the
 *   default of 64 the daemon writes 64 signals, then waits for an ACK.
 *   The sender broadcasts with sigbroker_send_async(), which packs about a
 *   thousand SENDs into a 128 KiB packet, and keeps at most
 *   SBB_MAX_OUTSTANDING unanswered with sigbroker_collect_results().
 * - one send per call: sigbroker_send() per signal, to the receiver's pid,
 *   which waits for the daemon's answer before the next; a signal refused
 *   because the receiver's queue is full (EAGAIN) is sent again.
 * - isolation: the sink connects with the default window and subscribes,
 *   then never reads; the flooder sends to its pid with
 *   sigbroker_send_async(), keeping SBB_MAX_OUTSTANDING unanswered, and
 *   takes the refusals (EAGAIN once the sink's queue is full) as they come.
 * - idle RSS: connect + subscribe, then nothing.
 *
 * Pacing. The relay's sender is slowed down by its blocking sends; a
 * broker that refuses when a receiver's queue is full slows a sender down
 * by refusals instead. A send refused by every receiver (EAGAIN) is sent
 * again, and counted in the note; but a broadcast refused by only some of
 * its receivers succeeds, and those receivers miss that frame. So the
 * sender also keeps its lead over the slowest receiver (frames accepted
 * minus frames that receiver counted, read from the pool's shared
 * reports) under half of what one receiver's queue, and the broker's
 * global pending limit shared by N receivers, can hold: 4096 frames up
 * to 100 receivers, several packets of deliveries, so the pipeline does
 * not run dry for it; 524 at 1000, where the slowest of 1000 processes
 * sets the pace (as it does the relay's). Refusals are then the
 * exception, and are reported when they happen.
 */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "sigbroker.h"

#define SBB_START_TIMEOUT_NS (10 * NSEC_PER_SEC)
#define SBB_PING_TIMEOUT_NS (1 * NSEC_PER_SEC)
#define SBB_MAX_QUEUE 8192              /* --max-queue: pending per receiver */
#define SBB_MAX_PENDING 1048576         /* max-pending in its config (the default) */
#define SBB_RECEIVER_WINDOW 2048        /* two packets' worth: the daemon never waits for an ACK */
#define SBB_BATCH 256                   /* sends between two looks at the answers, at most */
#define SBB_COLLECT_TIMEOUT_US (10 * 1000 * 1000) /* a daemon this slow to answer is stuck */
#define SBB_MAX_OUTSTANDING 4096        /* unanswered async sends */
#define SBB_COUNT_EVERY 256             /* a busy receiver publishes its count this often */
#define SBB_WAIT_SLICE_NS (100 * 1000)  /* a paced or refused sender sleeps this long */
#define SBB_REAP_EVERY 64               /* latency: reap the answers every so many pings */
#define SBB_FDS_PER_CLIENT 2            /* sigbrokerd keeps a socket and a pidfd per client */
#define SBB_FD_RESERVE 64

struct sbb_state {
        pid_t pid;
        unsigned max_clients;           /* what the daemon's RLIMIT_NOFILE holds */
        struct bench_server_paths paths;
};

static int sbb_signo(void) {
        return SIGRTMIN;
}

/* ---- setup / teardown -------------------------------------------------- */

static void *sbb_teardown(void *state) {
        struct sbb_state *s = state;

        if (!s)
                return NULL;
        bench_proc_reap(s->pid);
        bench_server_paths_remove(&s->paths);
        free(s);
        return NULL;
}

static int sbb_write_config(struct sbb_state *s, const struct bench_config *cfg) {
        FILE *f;
        int r;

        r = bench_server_paths_init(&s->paths, cfg, "sigbroker");
        if (r < 0)
                return r;
        f = fopen(s->paths.conf, "we");
        if (!f)
                return -errno;
        fprintf(f, "# sigbroker-bench: the defaults, written out where the sender's pacing depends on them\n"
                   "[limits]\nmax-pending = %u\n", SBB_MAX_PENDING);
        return fclose(f) == 0 ? 0 : -errno;
}

/* Connect, bounded, until the daemon answers: it listens once it is up. */
static int sbb_wait_started(const struct sbb_state *s) {
        uint64_t deadline = bench_now_ns() + SBB_START_TIMEOUT_NS;
        int r;

        for (;;) {
                sigbroker *sb = NULL;

                r = sigbroker_connect(s->paths.sock, &sb);
                sigbroker_close(sb);
                if (r >= 0)
                        return 0;
                if (bench_now_ns() >= deadline)
                        return r;
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}

/* The daemon needs two fds per client (see sigbrokerd(8): a pidfd
 * each); its unit gives it LimitNOFILE=524288. Here it inherits our hard
 * limit (and raises its soft one to it): raise the hard limit so that the
 * K idle clients fit, if we may. Returns how many clients fit. */
static unsigned sbb_nofile_clients(unsigned k) {
        rlim_t need = (rlim_t) k * SBB_FDS_PER_CLIENT + SBB_FD_RESERVE;
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
                return k;
        if (rl.rlim_max < need && setrlimit(RLIMIT_NOFILE, &(struct rlimit) { rl.rlim_cur, need }) == 0)
                rl.rlim_max = need;
        if (rl.rlim_max >= need)
                return k;
        return rl.rlim_max > SBB_FD_RESERVE ? (unsigned) ((rl.rlim_max - SBB_FD_RESERVE) / SBB_FDS_PER_CLIENT) : 0;
}

static int sbb_spawn(struct sbb_state *s, const char *exe) {
        _cleanup_close_ int log_fd = -1;
        char max_queue[16];

        log_fd = open(s->paths.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log_fd < 0)
                return -errno;
        snprintf(max_queue, sizeof(max_queue), "%u", SBB_MAX_QUEUE);
        /* Not a service here: no fd store, no restart journal, no sd_notify. */
        unsetenv("NOTIFY_SOCKET");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        return bench_spawn_exec(exe,
                                (char *[]) { (char *) exe, (char *) "--socket", s->paths.sock, (char *) "--config",
                                             s->paths.conf, (char *) "--max-queue", max_queue, NULL },
                                -1, log_fd, &s->pid);
}

static int sbb_setup(const struct bench_config *cfg, void **ret_state) {
        const char *exe = getenv("SIGBROKERD");
        struct sbb_state *s;
        int r;

        if (!exe || !*exe)
                return -EOPNOTSUPP;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->max_clients = sbb_nofile_clients(cfg->rss_clients);
        r = sbb_write_config(s, cfg);
        if (r >= 0)
                r = sbb_spawn(s, exe);
        if (r >= 0)
                r = sbb_wait_started(s);
        if (r < 0) {
                bench_server_show_log(&s->paths, "sigbrokerd");
                sbb_teardown(s);
                return r;
        }
        *ret_state = s;
        return 0;
}

/* A client, subscribed to the bench's signal if it is to receive. */
static int sbb_connect(const struct sbb_state *s, bool subscribe, unsigned window, sigbroker **ret) {
        sigbroker *sb = NULL;
        int r;

        r = sigbroker_connect_with(s->paths.sock, window, &sb);
        if (r < 0)
                return r;
        if (subscribe)
                r = sigbroker_subscribe(sb, SIGBROKER_SIGMASK(sbb_signo()), 0);
        if (r < 0) {
                sigbroker_close(sb);
                return r;
        }
        *ret = sb;
        return 0;
}

static const struct bench_frame *sbb_frame(const sigbroker_info *info) {
        if (info->gap || !bench_frame_valid(info->payload, info->payload_len))
                return NULL;
        return info->payload;
}

/* One frame, pipelined: into the packet, and the packet out. */
static int sbb_send_now(sigbroker *sb, const sigbroker_target *t, const struct bench_frame *f) {
        int r = sigbroker_send_async(sb, t, sbb_signo(), 0, f, sizeof(*f), NULL);

        return r < 0 ? r : sigbroker_flush(sb);
}

/* Takes the answers that came in; an async send that failed is an error
 * here, where nothing is ever refused. */
static int sbb_reap(sigbroker *sb) {
        sigbroker_batch_result t;
        int r = sigbroker_collect_results(sb, UINT64_MAX, 0, &t);

        if (r < 0)
                return r;
        return t.failed > 0 ? t.first_error : 0;
}

/* ---- latency ----------------------------------------------------------- */

static int sbb_pong(struct bench_worker *w) {
        const struct sbb_state *s = w->arg;
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        unsigned n = 0;
        int r;

        r = sbb_connect(s, true, 0, &sb);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                sigbroker_info info;
                const struct bench_frame *f;
                sigbroker_target t = { .kind = SIGBROKER_TARGET_PID };

                r = sigbroker_wait(sb, BENCH_IDLE_SLICE_MS * 1000, &info);
                if (r == -EAGAIN || r == -EINTR)
                        continue;
                if (r < 0)
                        return r;
                f = sbb_frame(&info);
                if (!f) {
                        bench_worker_report(w)->bad++;
                        continue;
                }
                if (f->type == BENCH_FRAME_END)
                        return 0;
                t.id = (uint64_t) info.sender_pid;
                r = sbb_send_now(sb, &t, f);
                if (r >= 0 && ++n % SBB_REAP_EVERY == 0)
                        r = sbb_reap(sb);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct sbb_ping {
        sigbroker *sb;
        sigbroker_target pong;
        uint64_t n;
};

static int sbb_ping_open(void *state, const struct bench_pool *pool, void **ret_ping) {
        struct sbb_ping *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->pong = (sigbroker_target) { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) pool->pids[0] };
        r = sbb_connect(state, true, 0, &p->sb);
        if (r < 0) {
                free(p);
                return r;
        }
        *ret_ping = p;
        return 0;
}

static int sbb_ping(void *ping, uint64_t seq) {
        struct sbb_ping *p = ping;
        uint64_t deadline = bench_now_ns() + SBB_PING_TIMEOUT_NS;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_DATA, seq);
        r = sbb_send_now(p->sb, &p->pong, &f);
        if (r < 0)
                return r;
        for (;;) {
                const struct bench_frame *echo;
                sigbroker_info info;
                uint64_t now = bench_now_ns();

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sigbroker_wait(p->sb, (int64_t) ((deadline - now) / 1000), &info);
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        return r == -EAGAIN ? -ETIMEDOUT : r;
                echo = sbb_frame(&info);
                if (echo && echo->type == BENCH_FRAME_DATA && echo->seq == seq)
                        break;
        }
        /* Off the clock: the daemon's answers to our sends. */
        return ++p->n % SBB_REAP_EVERY == 0 ? sbb_reap(p->sb) : 0;
}

static void sbb_ping_close(void *ping) {
        struct sbb_ping *p = ping;
        struct bench_frame f;

        bench_frame_init(&f, BENCH_FRAME_END, 0);
        (void) sigbroker_send(p->sb, &p->pong, sbb_signo(), 0, &f, sizeof(f), NULL);
        sigbroker_close(p->sb);
        free(p);
}

static const struct bench_pingpong_ops sbb_pingpong_ops = {
        .pong = sbb_pong,
        .open = sbb_ping_open,
        .ping = sbb_ping,
        .close = sbb_ping_close,
};

/* ---- throughput and fan-out -------------------------------------------- */

static int sbb_receiver(struct bench_worker *w) {
        const struct sbb_state *s = w->arg;
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        unsigned counted = 0;
        int r;

        r = sbb_connect(s, true, SBB_RECEIVER_WINDOW, &sb);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                sigbroker_info info;
                const struct bench_frame *f;

                /* Frames in hand: look without waiting, and publish them
                 * before waiting (the sender paces itself on them). */
                r = sigbroker_wait(sb, counted > 0 ? 0 : BENCH_IDLE_SLICE_MS * 1000, &info);
                if (r == -EAGAIN || r == -EINTR) {
                        bench_worker_count(w, counted);
                        counted = 0;
                        continue;
                }
                if (r < 0)
                        break;
                f = sbb_frame(&info);
                if (!f)
                        bench_worker_report(w)->bad++;
                else if (f->type == BENCH_FRAME_END)
                        break;
                else if (f->type == BENCH_FRAME_DATA && ++counted == SBB_COUNT_EVERY) {
                        bench_worker_count(w, counted);
                        counted = 0;
                }
        }
        bench_worker_count(w, counted);
        return r < 0 && r != -EAGAIN && r != -EINTR ? r : 0;
}

struct sbb_sender {
        sigbroker *sb;
        sigbroker_target first;         /* the first receiver, by pid */
        const struct bench_shared *shm; /* the receivers' counts */
        unsigned n;
        uint64_t lead_max;              /* frames ahead of the slowest receiver */
        unsigned batch;                 /* sends between two looks at the answers */
        uint64_t accepted;              /* answered: reached a receiver at least */
        uint64_t resent;                /* answered EAGAIN by every receiver: sent again */
        uint64_t refused;               /* deliveries refused, summed over receivers */
        uint64_t paced;                 /* waits for the slowest receiver */
        struct bench_frame frame;
};

static const sigbroker_target sbb_broadcast = { .kind = SIGBROKER_TARGET_BROADCAST };

static int sbb_sender_open(void *state, const struct bench_pool *pool, void **ret_sender) {
        struct sbb_sender *snd = calloc(1, sizeof(*snd));
        unsigned max_queue = 0;
        int r;

        if (!snd)
                return -ENOMEM;
        r = sbb_connect(state, false, 0, &snd->sb);
        if (r >= 0)
                r = sigbroker_get_limits(snd->sb, NULL, &max_queue);
        if (r < 0) {
                sigbroker_close(snd->sb);
                free(snd);
                return r;
        }
        snd->shm = pool->shm;
        snd->n = pool->n;
        snd->first = (sigbroker_target) { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) pool->pids[0] };
        snd->lead_max = max_queue / 2;
        if (snd->lead_max > SBB_MAX_PENDING / 2 / pool->n)
                snd->lead_max = SBB_MAX_PENDING / 2 / pool->n;
        /* A batch is a small part of the lead, or pacing is stop and go. */
        snd->batch = snd->lead_max / 4 < SBB_BATCH ? (unsigned) (snd->lead_max / 4) : SBB_BATCH;
        if (snd->batch == 0)
                snd->batch = 1;
        *ret_sender = snd;
        return 0;
}

static uint64_t sbb_slowest(const struct sbb_sender *snd) {
        uint64_t min = UINT64_MAX;

        for (unsigned i = 0; i < snd->n; i++) {
                uint64_t c = __atomic_load_n(&snd->shm->reports[i].count, __ATOMIC_RELAXED);

                if (c < min)
                        min = c;
        }
        return min;
}

/* Takes the answers (waiting while more than max are unanswered) into the
 * counts. Returns the number still unanswered, or a negative errno. */
static int sbb_collect(struct sbb_sender *snd, uint64_t max, int64_t timeout_usec) {
        sigbroker_batch_result t;
        int r = sigbroker_collect_results(snd->sb, max, timeout_usec, &t);

        if (r < 0)
                return r;
        if (t.failed > 0 && t.first_error != -EAGAIN)
                return t.first_error;
        snd->accepted += t.delivered;
        snd->resent += t.failed;
        snd->refused += t.refused;
        return r;
}

static void sbb_sleep(void) {
        nanosleep(&(struct timespec) { .tv_nsec = SBB_WAIT_SLICE_NS }, NULL);
}

/* Waits, bounded, until the slowest receiver is within lead_max of what
 * was accepted and is still unanswered. */
static int sbb_pace(struct sbb_sender *snd, int outstanding, uint64_t deadline_ns) {
        bool waited = false;

        while (snd->accepted + (uint64_t) outstanding + snd->batch > sbb_slowest(snd) + snd->lead_max) {
                if (bench_now_ns() >= deadline_ns)
                        return -ETIMEDOUT;
                if (!waited) {
                        int r = sigbroker_flush(snd->sb);

                        if (r < 0)
                                return r;
                        snd->paced++;
                        waited = true;
                }
                sbb_sleep();
                outstanding = sbb_collect(snd, UINT64_MAX, 0);
                if (outstanding < 0)
                        return outstanding;
        }
        return outstanding;
}

static int sbb_send(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        struct sbb_sender *snd = sender;
        uint64_t resent_before = 0;
        int outstanding = 0, r = 0;

        bench_frame_init(&snd->frame, BENCH_FRAME_DATA, 0);
        while (snd->accepted < count && bench_now_ns() < deadline_ns) {
                uint64_t left = count - snd->accepted - (uint64_t) outstanding;
                unsigned n = left < snd->batch ? (unsigned) left : snd->batch;

                if (snd->resent > resent_before) {
                        /* Refused by every receiver: give them time. */
                        resent_before = snd->resent;
                        sbb_sleep();
                }
                r = sbb_pace(snd, outstanding, deadline_ns);
                if (r == -ETIMEDOUT) {
                        r = 0;  /* the budget is over: what was accepted counts */
                        break;
                }
                if (r < 0)
                        break;
                outstanding = r;
                snd->frame.sent_ns = bench_now_ns();
                for (unsigned i = 0; i < n && r >= 0; i++) {
                        snd->frame.seq = snd->accepted + (uint64_t) outstanding + i;
                        r = sigbroker_send_async(snd->sb, &sbb_broadcast, sbb_signo(), 0, &snd->frame,
                                                 sizeof(snd->frame), NULL);
                }
                if (r >= 0)
                        r = outstanding = sbb_collect(snd, SBB_MAX_OUTSTANDING, SBB_COLLECT_TIMEOUT_US);
                if (r < 0)
                        break;
                if (n == 0)     /* all sent, some unanswered: wait for them */
                        r = outstanding = sbb_collect(snd, 0, SBB_COLLECT_TIMEOUT_US);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = sbb_collect(snd, 0, SBB_COLLECT_TIMEOUT_US);
        *ret_sent = snd->accepted;
        return r < 0 ? r : 0;
}

/* One signal per call, written out on its own as the other systems' rows
 * do (one send(), one sd_bus_flush()): sigbroker_send_async(), then
 * sigbroker_flush(). The only pipeline is the library's: answers are
 * collected as they come, waited for only past SBB_MAX_OUTSTANDING, the
 * way a sender that does not look at each result uses the library. */
static int sbb_send_single(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        struct sbb_sender *snd = sender;
        uint64_t attempts = 0;
        int outstanding = 0, r = 0;

        bench_frame_init(&snd->frame, BENCH_FRAME_DATA, 0);
        while (snd->accepted + (uint64_t) outstanding < count) {
                snd->frame.sent_ns = bench_now_ns();
                if (snd->frame.sent_ns >= deadline_ns)
                        break;
                r = outstanding = sbb_pace(snd, outstanding, deadline_ns);
                if (r < 0)
                        break;
                snd->frame.seq = attempts++;
                r = sigbroker_send_async(snd->sb, &snd->first, sbb_signo(), 0, &snd->frame, sizeof(snd->frame), NULL);
                if (r >= 0)
                        r = sigbroker_flush(snd->sb);
                if (r >= 0)
                        r = outstanding = sbb_collect(snd, SBB_MAX_OUTSTANDING, SBB_COLLECT_TIMEOUT_US);
                if (r < 0)
                        break;
        }
        if (r >= 0 || r == -ETIMEDOUT)
                r = sbb_collect(snd, 0, SBB_COLLECT_TIMEOUT_US);
        *ret_sent = snd->accepted;
        return r < 0 ? r : 0;
}

static int sbb_send_end(void *sender, uint64_t sent, uint64_t deadline_ns) {
        struct sbb_sender *snd = sender;
        struct bench_frame f;
        int r;

        bench_frame_init(&f, BENCH_FRAME_END, sent);
        f.count = sent;
        for (;;) {
                r = sigbroker_send(snd->sb, &sbb_broadcast, sbb_signo(), 0, &f, sizeof(f), NULL);
                if (r != -EAGAIN || bench_now_ns() >= deadline_ns)
                        return r;
                sbb_sleep();
        }
}

static void sbb_sender_close(void *sender, struct bench_flow *ret) {
        struct sbb_sender *snd = sender;

        bench_note_append(ret->note, sizeof(ret->note), "--max-queue %u, window %u, sender at most %llu ahead",
                          SBB_MAX_QUEUE, SBB_RECEIVER_WINDOW, (unsigned long long) snd->lead_max);
        if (snd->resent > 0 || snd->refused > 0)
                bench_note_append(ret->note, sizeof(ret->note),
                                  "%llu sends refused by all and sent again, %llu deliveries refused",
                                  (unsigned long long) snd->resent, (unsigned long long) snd->refused);
        sigbroker_close(snd->sb);
        free(snd);
}

static const struct bench_flow_ops sbb_flow_ops = {
        .receiver = sbb_receiver,
        .open = sbb_sender_open,
        .send = sbb_send,
        .end = sbb_send_end,
        .close = sbb_sender_close,
};

static const struct bench_flow_ops sbb_single_ops = {
        .receiver = sbb_receiver,
        .open = sbb_sender_open,
        .send = sbb_send_single,
        .end = sbb_send_end,
        .close = sbb_sender_close,
};

static int sbb_throughput(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &sbb_flow_ops, 1, cfg->tput_count, ret);
}

static int sbb_single(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &sbb_single_ops, 1, cfg->single_count, ret);
}

static int sbb_fanout(void *state, const struct bench_config *cfg, unsigned n, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &sbb_flow_ops, n, bench_fanout_msgs(cfg, n), ret);
}

/* ---- isolation --------------------------------------------------------- */

static int sbb_sink(struct bench_worker *w) {
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        int r;

        r = sbb_connect(w->arg, true, 0, &sb);
        return r < 0 ? r : bench_worker_idle(w);
}

/* Signals to the sink's pid as fast as the daemon answers, until stopped;
 * refusals (its queue is full) are what a flood gets, not an error. */
static int sbb_flood(struct bench_worker *w) {
        const struct bench_flood_arg *a = w->arg;
        const sigbroker_target sink = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) a->sink };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        struct bench_frame f;
        int r;

        r = sbb_connect(a->state, false, 0, &sb);
        if (r < 0)
                return r;
        bench_worker_ready(w);
        bench_frame_init(&f, BENCH_FRAME_DATA, 0);
        while (!bench_worker_stopped(w) && r >= 0) {
                sigbroker_batch_result t;

                for (unsigned i = 0; i < SBB_BATCH && r >= 0; i++, f.seq++)
                        r = sigbroker_send_async(sb, &sink, sbb_signo(), 0, &f, sizeof(f), NULL);
                if (r >= 0)
                        r = sigbroker_collect_results(sb, SBB_MAX_OUTSTANDING, SBB_COLLECT_TIMEOUT_US, &t);
                if (r >= 0 && t.failed > 0 && t.first_error != -EAGAIN)
                        r = t.first_error;
                if (r >= 0)
                        bench_worker_count(w, SBB_BATCH);
        }
        return r == -EINTR ? 0 : r;
}

static const struct bench_flood_ops sbb_flood_ops = {
        .sink = sbb_sink,
        .flood = sbb_flood,
};

/* ---- idle clients ------------------------------------------------------ */

static int sbb_idle_open(void *state, void **ret_client) {
        return sbb_connect(state, true, 0, (sigbroker **) ret_client);
}

static void sbb_idle_close(void *client) {
        sigbroker_close(client);
}

static const struct bench_rss_ops sbb_rss_ops = {
        .open = sbb_idle_open,
        .close = sbb_idle_close,
};

static int sbb_idle_rss(void *state, const struct bench_config *cfg, unsigned k, struct bench_rss *ret) {
        const struct sbb_state *s = state;

        /* Beyond its fds the daemon stops accepting, and a client waits
         * for its WELCOME until the library gives up (25 s). */
        if (k > s->max_clients) {
                bench_note_append(ret->note, sizeof(ret->note), "K=%u: the daemon's RLIMIT_NOFILE holds no more",
                                  s->max_clients);
                k = s->max_clients;
        }
        return bench_rss_run(s->pid, k, state, &sbb_rss_ops, ret);
}

const struct bench_backend bench_backend_sigbroker = {
        .name = "sigbroker",
        .na_reason = "sigbroker: $SIGBROKERD is not set (meson test --benchmark sets it)",
        .setup = sbb_setup,
        .teardown = sbb_teardown,
        .pingpong = &sbb_pingpong_ops,
        .throughput = sbb_throughput,
        .single = sbb_single,
        .fanout = sbb_fanout,
        .idle_rss = sbb_idle_rss,
        .flood = &sbb_flood_ops,
};
