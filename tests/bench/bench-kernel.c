/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend "kernel": real-time signals, the semantics sigbroker keeps.
 * sigqueue(2) carries one word (the sequence number) as payload;
 * receivers take signals synchronously with sigtimedwait(2), one syscall
 * per signal. DATA is SIGRTMIN, END is SIGRTMIN+1: the kernel delivers
 * the lowest pending RT signal first, so END arrives after every DATA.
 *
 * Pacing: queued signals count against the receiver's RLIMIT_SIGPENDING
 * (per user, so all receivers of one uid share it). When sigqueue fails
 * with EAGAIN the sender calls sched_yield() and retries the same signal,
 * so nothing is lost and the sender runs at the receivers' pace; the
 * number of such retries is reported in the note.
 *
 * Fan-out is a loop of sigqueue per receiver (kill(-pgid) reaches a whole
 * process group in one call but carries no value). There is no broker
 * process, hence no RSS per idle client.
 */

#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define KERNEL_WAIT_SLICE_NS (BENCH_IDLE_SLICE_MS * NSEC_PER_MSEC)
#define KERNEL_PING_TIMEOUT_NS (1 * NSEC_PER_SEC)

struct kernel_state {
        sigset_t old_mask;
};

struct kernel_sender {
        const pid_t *pids;
        unsigned n;
        uint64_t eagain;
};

static sigset_t kernel_sigset(void) {
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN);
        sigaddset(&set, SIGRTMIN + 1);
        return set;
}

static struct timespec timespec_from_ns(uint64_t ns) {
        return (struct timespec) { .tv_sec = (time_t) (ns / NSEC_PER_SEC), .tv_nsec = (long) (ns % NSEC_PER_SEC) };
}

/* Queue one signal, retrying on EAGAIN (RLIMIT_SIGPENDING) until the deadline. */
static int kernel_queue(pid_t pid, int sig, uint64_t value, uint64_t deadline_ns, uint64_t *eagain) {
        union sigval v = { .sival_ptr = (void *) (uintptr_t) value };

        for (;;) {
                if (sigqueue(pid, sig, v) == 0)
                        return 0;
                if (errno != EAGAIN)
                        return -errno;
                if (eagain)
                        (*eagain)++;
                if (bench_now_ns() >= deadline_ns)
                        return -ETIMEDOUT;
                sched_yield();
        }
}

/* One signal within slice_ns; the signal number, 0 on timeout. */
static int kernel_wait(siginfo_t *si, uint64_t slice_ns) {
        sigset_t set = kernel_sigset();
        struct timespec ts = timespec_from_ns(slice_ns);
        int sig = sigtimedwait(&set, si, &ts);

        if (sig < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        return sig;
}

/* Signals are blocked before any worker is forked, so a child can never
 * die of an RT signal's default action. */
static int kernel_setup(const struct bench_config *cfg, void **ret_state) {
        struct kernel_state *s = calloc(1, sizeof(*s));
        sigset_t set = kernel_sigset();

        if (!s)
                return -ENOMEM;
        if (sigprocmask(SIG_BLOCK, &set, &s->old_mask) < 0) {
                free(s);
                return -errno;
        }
        *ret_state = s;
        return 0;
}

static void *kernel_teardown(void *state) {
        struct kernel_state *s = state;
        sigset_t set = kernel_sigset();
        struct timespec zero = {};

        if (!s)
                return NULL;
        /* Drain what is still pending before unblocking: an RT signal's
         * default action would kill the bench. */
        for (unsigned i = 0; i < 1000000 && sigtimedwait(&set, NULL, &zero) > 0; i++)
                ;
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        free(s);
        return NULL;
}

/* ---- latency ----------------------------------------------------------- */

static int kernel_pong(struct bench_worker *w) {
        pid_t parent = getppid();
        siginfo_t si;

        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                int sig = kernel_wait(&si, KERNEL_WAIT_SLICE_NS);

                if (sig < 0)
                        return sig;
                if (sig == SIGRTMIN + 1)
                        return 0;
                if (sig == SIGRTMIN && si.si_pid == parent) {
                        int r = kernel_queue(parent, SIGRTMIN, (uintptr_t) si.si_value.sival_ptr,
                                             bench_now_ns() + KERNEL_PING_TIMEOUT_NS, NULL);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int kernel_ping_open(void *state, const struct bench_pool *pool, void **ret_ping) {
        *ret_ping = (void *) (intptr_t) pool->pids[0];
        return 0;
}

static int kernel_ping(void *ping, uint64_t seq) {
        pid_t pong = (pid_t) (intptr_t) ping;
        uint64_t deadline = bench_now_ns() + KERNEL_PING_TIMEOUT_NS;
        siginfo_t si;
        int r;

        r = kernel_queue(pong, SIGRTMIN, seq, deadline, NULL);
        if (r < 0)
                return r;
        for (;;) {
                uint64_t now = bench_now_ns();
                int sig;

                if (now >= deadline)
                        return -ETIMEDOUT;
                sig = kernel_wait(&si, deadline - now);
                if (sig < 0)
                        return sig;
                if (sig == SIGRTMIN && si.si_pid == pong && (uintptr_t) si.si_value.sival_ptr == seq)
                        return 0;
        }
}

static void kernel_ping_close(void *ping) {
        kernel_queue((pid_t) (intptr_t) ping, SIGRTMIN + 1, 0, bench_now_ns() + NSEC_PER_SEC, NULL);
}

static const struct bench_pingpong_ops kernel_pingpong_ops = {
        .pong = kernel_pong,
        .open = kernel_ping_open,
        .ping = kernel_ping,
        .close = kernel_ping_close,
};

/* ---- throughput and fan-out -------------------------------------------- */

static int kernel_receiver(struct bench_worker *w) {
        pid_t parent = getppid();
        siginfo_t si;

        bench_worker_ready(w);
        while (!bench_worker_stopped(w)) {
                int sig = kernel_wait(&si, KERNEL_WAIT_SLICE_NS);

                if (sig < 0)
                        return sig;
                if (sig == 0)
                        continue;
                if (si.si_pid != parent || si.si_code != SI_QUEUE)
                        bench_worker_report(w)->bad++;
                else if (sig == SIGRTMIN)
                        bench_worker_count(w, 1);
                else
                        return 0;
        }
        return 0;
}

static int kernel_sender_open(void *state, const struct bench_pool *pool, void **ret_sender) {
        struct kernel_sender *snd = calloc(1, sizeof(*snd));

        if (!snd)
                return -ENOMEM;
        snd->pids = pool->pids;
        snd->n = pool->n;
        *ret_sender = snd;
        return 0;
}

/* The send budget is checked between messages; one message is always
 * queued to every receiver, so sent * n is what should arrive. */
static int kernel_send(void *sender, uint64_t count, uint64_t deadline_ns, uint64_t *ret_sent) {
        struct kernel_sender *snd = sender;
        uint64_t hard_deadline = deadline_ns + 5 * NSEC_PER_SEC;
        uint64_t sent = 0;
        int r = 0;

        while (sent < count && r == 0 && bench_now_ns() < deadline_ns) {
                for (unsigned i = 0; i < snd->n && r == 0; i++)
                        r = kernel_queue(snd->pids[i], SIGRTMIN, sent, hard_deadline, &snd->eagain);
                if (r == 0)
                        sent++;
        }
        *ret_sent = sent;
        return r;
}

static int kernel_send_end(void *sender, uint64_t sent, uint64_t deadline_ns) {
        struct kernel_sender *snd = sender;
        int r = 0;

        for (unsigned i = 0; i < snd->n && r == 0; i++)
                r = kernel_queue(snd->pids[i], SIGRTMIN + 1, sent, deadline_ns, &snd->eagain);
        return r;
}

static void kernel_sender_close(void *sender, struct bench_flow *ret) {
        struct kernel_sender *snd = sender;

        if (snd->eagain > 0)
                bench_note_append(ret->note, sizeof(ret->note),
                                  "sender paced by RLIMIT_SIGPENDING: %llu EAGAIN retries",
                                  (unsigned long long) snd->eagain);
        free(snd);
}

static const struct bench_flow_ops kernel_flow_ops = {
        .receiver = kernel_receiver,
        .open = kernel_sender_open,
        .send = kernel_send,
        .end = kernel_send_end,
        .close = kernel_sender_close,
};

static int kernel_throughput(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &kernel_flow_ops, 1, cfg->tput_count, ret);
}

/* sigqueue() is one signal per call whatever the row. */
static int kernel_single(void *state, const struct bench_config *cfg, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &kernel_flow_ops, 1, cfg->single_count, ret);
}

static int kernel_fanout(void *state, const struct bench_config *cfg, unsigned n, struct bench_flow *ret) {
        return bench_flow_run(cfg, state, &kernel_flow_ops, n, bench_fanout_msgs(cfg, n), ret);
}

const struct bench_backend bench_backend_kernel = {
        .name = "kernel",
        .na_reason = "kernel: no broker process, so no RSS per idle client and no isolation row",
        .setup = kernel_setup,
        .teardown = kernel_teardown,
        .pingpong = &kernel_pingpong_ops,
        .throughput = kernel_throughput,
        .single = kernel_single,
        .fanout = kernel_fanout,
};
