/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Time, frames, percentiles, RSS and limits shared by all backends. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void) {
        struct timespec ts;

        /* CLOCK_MONOTONIC is system-wide, so times taken in different
         * processes (sender, receivers) can be compared. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* Adds "; text" (or just text) to a note, truncating if needed. */
void bench_note_append(char *note, size_t size, const char *fmt, ...) {
        size_t len = strnlen(note, size);
        va_list ap;

        if (len + 3 >= size)
                return;
        if (len > 0) {
                memcpy(note + len, "; ", 3);
                len += 2;
        }
        va_start(ap, fmt);
        vsnprintf(note + len, size - len, fmt, ap);
        va_end(ap);
}

void bench_frame_init(struct bench_frame *f, enum bench_frame_type type, uint64_t seq) {
        memset(f, 0, sizeof(*f));
        f->magic = BENCH_FRAME_MAGIC;
        f->type = (uint16_t) type;
        f->seq = seq;
        memset(f->payload, 0xa5, sizeof(f->payload));
}

bool bench_frame_valid(const struct bench_frame *f, size_t len) {
        return len == sizeof(*f) &&
               f->magic == BENCH_FRAME_MAGIC &&
               f->type > 0 && f->type < _BENCH_FRAME_TYPE_MAX;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples; p in (0, 100]. */
static double percentile(const double *sorted, size_t n, double p) {
        size_t rank = (size_t) ((p / 100.0) * (double) n + 0.999999);

        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return sorted[rank - 1];
}

int bench_latency_compute(double *samples_us, size_t n, struct bench_latency *ret) {
        if (n == 0)
                return -ENODATA;

        qsort(samples_us, n, sizeof(double), cmp_double);
        ret->n = n;
        ret->p50_us = percentile(samples_us, n, 50.0);
        ret->p99_us = percentile(samples_us, n, 99.0);
        ret->p999_us = percentile(samples_us, n, 99.9);
        return 0;
}

void bench_flow_finish(struct bench_flow *f) {
        uint64_t elapsed = f->last_ns > f->start_ns ? f->last_ns - f->start_ns : 0;
        uint64_t expected = f->sent * f->receivers;

        f->per_sec = elapsed > 0 ? (double) f->delivered * 1e9 / (double) elapsed : 0.0;
        if (f->delivered < expected || f->reported < f->receivers)
                bench_note_append(f->note, sizeof(f->note),
                                  "%llu of %llu delivered, %u of %u receivers reported",
                                  (unsigned long long) f->delivered, (unsigned long long) expected,
                                  f->reported, f->receivers);
}

/* VmRSS of a process in kB, or a negative errno. */
long bench_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -ENODATA;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

/* Soft RLIMIT_NOFILE to the hard one; children (relay, dbus-daemon)
 * inherit it. */
int bench_raise_nofile(long *ret_limit) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        *ret_limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long) rl.rlim_cur;
        return 0;
}

int bench_path_join(char *buf, size_t size, const char *dir, const char *name) {
        int n = snprintf(buf, size, "%s/%s", dir, name);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

bool bench_find_program(const char *name) {
        const char *path = getenv("PATH");
        char buf[4096];

        if (!path)
                path = "/usr/bin:/bin";
        while (*path) {
                size_t len = strcspn(path, ":");

                if (len > 0 && len + strlen(name) + 2 <= sizeof(buf)) {
                        snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, path, name);
                        if (access(buf, X_OK) == 0)
                                return true;
                }
                path += len;
                if (*path == ':')
                        path++;
        }
        return false;
}

/* The first three fields of /proc/loadavg: others' work skews a run. */
void bench_loadavg(char *buf, size_t size) {
        FILE *f = fopen("/proc/loadavg", "re");
        double a = 0, b = 0, c = 0;

        if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
                snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
        else
                snprintf(buf, size, "?");
        if (f)
                fclose(f);
}
