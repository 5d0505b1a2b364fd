/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pool of forked receiver workers. Each worker subscribes, says 'R' on
 * the notify pipe, counts what it receives into its slot of a shared
 * mapping, and says 'D' (or 'F') when done. The parent can set `stop` so
 * that workers still waiting report what they have; whoever has not
 * reported by then is killed. Nothing here waits without a deadline.
 */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"

#define POOL_STOP_GRACE_NS (2 * NSEC_PER_SEC)

struct pool_child {
        struct bench_pool *pool;
        unsigned index;
        int notify_wfd;
        bench_worker_fn fn;
        void *arg;
};

static void notify(int fd, char c) {
        while (write(fd, &c, 1) < 0 && errno == EINTR)
                ;
}

static void on_sigusr1(int sig) {
        /* Nothing: its only job is to interrupt a blocking wait (EINTR). */
}

static int pool_child_main(void *arg) {
        struct pool_child *c = arg;
        struct bench_worker w = {
                .index = c->index,
                .notify_fd = c->notify_wfd,
                .shm = c->pool->shm,
                .arg = c->arg,
        };
        struct bench_report *rep = &w.shm->reports[w.index];
        struct sigaction sa = { .sa_handler = on_sigusr1 }; /* no SA_RESTART */
        int r;

        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        close(c->pool->notify_fd);
        r = c->fn(&w);
        rep->error = r;
        __atomic_store_n(&rep->finished, 1, __ATOMIC_RELEASE);
        notify(w.notify_fd, r < 0 ? 'F' : 'D');
        return r;
}

int bench_pool_start(struct bench_pool *p, unsigned n, bench_worker_fn fn, void *arg) {
        _cleanup_close_ int wfd = -1;
        int fds[2];

        p->n = n;
        p->pids = calloc(n, sizeof(pid_t));
        if (!p->pids)
                return -ENOMEM;
        p->shm_size = sizeof(struct bench_shared) + n * sizeof(struct bench_report);
        p->shm = mmap(NULL, p->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p->shm == MAP_FAILED) {
                p->shm = NULL;
                return -errno;
        }
        p->shm->n = n;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        p->notify_fd = fds[0];
        wfd = fds[1];

        for (unsigned i = 0; i < n; i++) {
                struct pool_child c = { p, i, wfd, fn, arg };
                int r = bench_spawn(pool_child_main, &c, &p->pids[i]);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Read notify bytes until the deadline or one batch; 0 on deadline. */
static int pool_read_notes(struct bench_pool *p, uint64_t deadline_ns) {
        char buf[512];
        ssize_t k;
        int r;

        r = bench_wait_readable(p->notify_fd, deadline_ns);
        if (r <= 0)
                return r;
        k = read(p->notify_fd, buf, sizeof(buf));
        if (k < 0)
                return errno == EINTR ? 1 : -errno;
        if (k == 0)
                return -EPIPE; /* every worker is gone */
        for (ssize_t i = 0; i < k; i++) {
                if (buf[i] == 'R')
                        p->ready++;
                else if (buf[i] == 'D')
                        p->done++;
                else if (buf[i] == 'F')
                        p->failed++;
        }
        return 1;
}

/* Why a worker failed (what its function returned), or -EIO. */
static int pool_first_error(const struct bench_pool *p) {
        for (unsigned i = 0; i < p->n; i++) {
                int32_t e = p->shm->reports[i].error;

                if (__atomic_load_n(&p->shm->reports[i].finished, __ATOMIC_ACQUIRE) && e < 0)
                        return e;
        }
        return -EIO;
}

int bench_pool_wait_ready(struct bench_pool *p, uint64_t timeout_ns) {
        uint64_t deadline = bench_now_ns() + timeout_ns;

        while (p->ready < p->n) {
                int r;

                if (p->failed > 0)
                        return pool_first_error(p);
                r = pool_read_notes(p, deadline);
                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0)
                        return r;
        }
        return 0;
}

static void pool_wait_finished(struct bench_pool *p, uint64_t deadline_ns) {
        while (p->done + p->failed < p->n)
                if (pool_read_notes(p, deadline_ns) <= 0)
                        return;
}

/* Waits for every worker until the deadline, then tells the rest to stop
 * and sums what arrived into ret: counts of every worker, finished or not
 * (they live in shared memory); `reported` counts the finished ones. */
int bench_pool_collect(struct bench_pool *p, uint64_t deadline_ns, struct bench_flow *ret) {
        unsigned errors = 0;

        pool_wait_finished(p, deadline_ns);
        if (p->done + p->failed < p->n) {
                __atomic_store_n(&p->shm->stop, 1, __ATOMIC_RELEASE);
                for (unsigned i = 0; i < p->n; i++)
                        if (!__atomic_load_n(&p->shm->reports[i].finished, __ATOMIC_ACQUIRE))
                                kill(p->pids[i], SIGUSR1);
                pool_wait_finished(p, bench_now_ns() + POOL_STOP_GRACE_NS);
        }

        ret->receivers = p->n;
        for (unsigned i = 0; i < p->n; i++) {
                struct bench_report *rep = &p->shm->reports[i];
                uint64_t last = __atomic_load_n(&rep->last_ns, __ATOMIC_RELAXED);

                ret->delivered += __atomic_load_n(&rep->count, __ATOMIC_RELAXED);
                if (last > ret->last_ns)
                        ret->last_ns = last;
                if (!__atomic_load_n(&rep->finished, __ATOMIC_ACQUIRE))
                        continue;
                ret->reported++;
                if (rep->error < 0 || rep->bad > 0)
                        errors++;
        }
        if (errors > 0)
                bench_note_append(ret->note, sizeof(ret->note), "%u receivers saw errors or bad frames", errors);
        return 0;
}

void bench_pool_done(struct bench_pool *p) {
        if (p->pids) {
                for (unsigned i = 0; i < p->n; i++)
                        bench_proc_kill(p->pids[i]);
                for (unsigned i = 0; i < p->n; i++)
                        bench_proc_reap(p->pids[i]);
                free(p->pids);
                p->pids = NULL;
        }
        if (p->shm)
                munmap(p->shm, p->shm_size);
        p->shm = NULL;
        if (p->notify_fd >= 0)
                close(p->notify_fd);
        p->notify_fd = -1;
}

void bench_worker_ready(struct bench_worker *w) {
        notify(w->notify_fd, 'R');
}

bool bench_worker_stopped(const struct bench_worker *w) {
        return __atomic_load_n(&w->shm->stop, __ATOMIC_ACQUIRE) != 0;
}

struct bench_report *bench_worker_report(struct bench_worker *w) {
        return &w->shm->reports[w->index];
}

/* n DATA messages arrived just now. Stored atomically: the parent reads
 * the counts of workers that never finish, too. */
void bench_worker_count(struct bench_worker *w, unsigned n) {
        struct bench_report *rep = &w->shm->reports[w->index];
        uint64_t now = bench_now_ns();

        if (n == 0)
                return;
        if (rep->count == 0)
                rep->first_ns = now;
        __atomic_store_n(&rep->last_ns, now, __ATOMIC_RELAXED);
        __atomic_store_n(&rep->count, rep->count + n, __ATOMIC_RELAXED);
}

int bench_worker_idle(struct bench_worker *w) {
        bench_worker_ready(w);
        while (!bench_worker_stopped(w))
                nanosleep(&(struct timespec) { .tv_sec = BENCH_IDLE_SLICE_MS / 1000,
                                               .tv_nsec = BENCH_IDLE_SLICE_MS % 1000 * NSEC_PER_MSEC }, NULL);
        return 0;
}
