/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sigbroker.h"
#include "stress.h"

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_ASAN 1
#endif
#endif

double stress_scale(void) {
        const char *e = getenv("SB_STRESS_SCALE");
        double s = e ? strtod(e, NULL) : 1.0;

        return s > 0 && s <= 100 ? s : 1.0;
}

unsigned stress_count(unsigned full, unsigned floor) {
        double n = full * stress_scale();

        return n < floor ? floor : (unsigned) n;
}

bool stress_memory_checks(void) {
#ifdef STRESS_ASAN
        return false;
#else
        const char *w = getenv("SB_DAEMON_WRAPPER");
        return !w || !*w;
#endif
}

/* Not a speed check (tests/bench measures speed, and this machine is
 * shared): a probe kept waiting this long was starved by the flood, which
 * the daemon must never let one client do. The figures are printed. */
unsigned stress_latency_limit_ms(void) {
#ifdef STRESS_ASAN
        return 15000;
#else
        return 5000;
#endif
}

void stress_print(const char *fmt, ...) {
        va_list ap;

        fputs("stress: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

long proc_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

int proc_fd_count(pid_t pid) {
        char path[64];
        struct dirent *de;
        int n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Call fn with what each of pid's fds is ("socket:[123]", a path, ...);
 * -1 if its fds cannot be read. */
static int proc_fd_each(pid_t pid, void (*fn)(const char *target, void *userdata), void *userdata) {
        char path[64], link[64 + 256 + 2], target[128];
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                ssize_t n;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                n = readlink(link, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = '\0';
                fn(target, userdata);
        }
        closedir(d);
        return 0;
}

static void count_kind(const char *target, void *userdata) {
        int *counts = userdata;

        if (strncmp(target, "socket:", 7) == 0)
                counts[0]++;
        else if (strcmp(target, "anon_inode:[pidfd]") == 0)
                counts[1]++;
}

void proc_fd_kinds(pid_t pid, int *ret_sockets, int *ret_pidfds) {
        int counts[2] = {};

        (void) proc_fd_each(pid, count_kind, counts);
        *ret_sockets = counts[0];
        *ret_pidfds = counts[1];
}

static int compare_inode(const void *a, const void *b) {
        unsigned long long x = *(const unsigned long long *) a, y = *(const unsigned long long *) b;

        return x < y ? -1 : x > y;
}

/* The inodes of connected sockets with this address in /proc/net/unix,
 * sorted, malloc()ed. An accepted socket shows its listener's address. */
static size_t unix_connected_inodes(const char *path, unsigned long long **ret) {
        unsigned long long *inodes = NULL, ino;
        size_t n = 0, allocated = 0, len = 0;
        char *line = NULL;
        FILE *f = fopen("/proc/net/unix", "re");

        ck_assert(f);
        while (getline(&line, &len, f) > 0) {
                unsigned st;
                int at = -1;

                line[strcspn(line, "\n")] = '\0';
                if (sscanf(line, "%*s %*x %*x %*x %*x %x %llu %n", &st, &ino, &at) != 2 || at < 0)
                        continue;
                if (st != 3 || ino == 0 || strcmp(line + at, path) != 0)   /* 3: SS_CONNECTED */
                        continue;
                if (n == allocated) {
                        allocated = allocated ? allocated * 2 : 256;
                        inodes = realloc(inodes, allocated * sizeof(*inodes));
                        ck_assert(inodes);
                }
                inodes[n++] = ino;
        }
        free(line);
        fclose(f);
        if (n > 0)
                qsort(inodes, n, sizeof(*inodes), compare_inode);
        *ret = inodes;
        return n;
}

typedef struct Connections {
        const unsigned long long *inodes;       /* connected at the address, sorted */
        size_t n_inodes;
        unsigned long long *seen;               /* those found among the fds */
        size_t n_seen;
} Connections;

static void count_connection(const char *target, void *userdata) {
        Connections *c = userdata;
        unsigned long long ino;

        if (c->n_inodes == 0 || sscanf(target, "socket:[%llu]", &ino) != 1 ||
            !bsearch(&ino, c->inodes, c->n_inodes, sizeof(ino), compare_inode))
                return;
        for (size_t i = 0; i < c->n_seen; i++)
                if (c->seen[i] == ino)
                        return;
        if (c->n_seen < c->n_inodes)
                c->seen[c->n_seen++] = ino;
}

int proc_unix_connections(pid_t pid, const char *socket_path) {
        unsigned long long *inodes;
        Connections c = {};

        c.n_inodes = unix_connected_inodes(socket_path, &inodes);
        c.inodes = inodes;
        c.seen = calloc(c.n_inodes + 1, sizeof(*c.seen));
        ck_assert(c.seen);
        ck_assert_int_eq(proc_fd_each(pid, count_connection, &c), 0);
        free(inodes);
        free(c.seen);
        return (int) c.n_seen;
}

double proc_cpu_seconds(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long utime, stime;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        /* comm may hold spaces and parentheses: fields count from the last ')'. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

int proc_settled_fd_count(pid_t pid) {
        int last = -1, now = -1;

        for (int stable = 0, i = 0; stable < 5 && i < 250; i++) {
                now = proc_fd_count(pid);
                stable = now == last ? stable + 1 : 0;
                last = now;
                sleep_ms(20);
        }
        return now;
}

int proc_wait_fd_count(pid_t pid, int want, unsigned timeout_ms) {
        uint64_t deadline = mono_ns() + (uint64_t) timeout_ms * 1000000;
        int n;

        for (;;) {
                n = proc_fd_count(pid);
                if (n == want || mono_ns() > deadline)
                        return n;
                sleep_ms(20);
        }
}

int nofile_raise_self(rlim_t want) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= want)
                return 0;
        if (rl.rlim_max < want) {
                struct rlimit up = { want, want };
                if (setrlimit(RLIMIT_NOFILE, &up) == 0)
                        return 0;
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
                return -EPERM;
        }
        rl.rlim_cur = want;
        return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

int nofile_set(pid_t pid, rlim_t soft, rlim_t hard) {
        struct rlimit rl = { soft, hard };

        return prlimit(pid, RLIMIT_NOFILE, &rl, NULL) < 0 ? -errno : 0;
}

long long json_number(const char *text, const char *after, const char *key) {
        char pattern[96];
        const char *p = text;

        if (!text)
                return -1;
        if (after) {
                p = strstr(text, after);
                if (!p)
                        return -1;
        }
        snprintf(pattern, sizeof(pattern), "\"%s\":", key);
        p = strstr(p, pattern);
        return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

char *query_text(const char *socket, int kind) {
        sigbroker *sb = NULL;
        char *text = NULL;

        if (sigbroker_connect(socket, &sb) < 0)
                return NULL;
        if (sigbroker_query(sb, kind, 0, 0, &text) < 0) {
                free(text);
                text = NULL;
        }
        sigbroker_close(sb);
        return text;
}

bool pack_frame(uint8_t *buf, size_t size, size_t *len, const SbFrame *f) {
        ssize_t n;

        if (sb_frame_size(f) > size - *len)
                return false;
        n = sb_frame_encode(f, buf + *len, size - *len);
        if (n < 0)
                return false;
        *len += (size_t) n;
        return true;
}

int raw_connect_hello(const char *path, uint32_t window, const uint8_t *extra, size_t extra_len) {
        uint8_t buf[4096];
        size_t len = 0;
        SbFrame hello = { .type = SB_MSG_HELLO, .serial = 1, .hello = { .window = window } };
        int fd = raw_connect(path);

        if (fd < 0)
                return fd;
        if (!pack_frame(buf, sizeof(buf), &len, &hello) || extra_len > sizeof(buf) - len) {
                close(fd);
                return -ENOBUFS;
        }
        if (extra_len > 0)
                memcpy(buf + len, extra, extra_len);
        len += extra_len;
        if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t) len) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int raw_wait_frame(int fd, uint8_t type, uint64_t serial, int timeout_ms, uint8_t count_type, unsigned *count) {
        static uint8_t buf[SB_PACKET_MAX];
        uint64_t deadline = mono_ns() + (uint64_t) timeout_ms * 1000000;
        int found = -EAGAIN;

        while (found == -EAGAIN) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = (int64_t) (deadline - mono_ns()) / 1000000;
                size_t at = 0;
                ssize_t n;

                /* Past the deadline, still take what is already there. */
                if (poll(&pfd, 1, (int) (left > 0 ? left : 0)) == 0)
                        return -EAGAIN;
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return -ECONNRESET;
                while (at < (size_t) n) {
                        SbFrame f;
                        size_t used;
                        if (sb_frame_parse_untrusted(buf + at, (size_t) n - at, &f, &used) != SB_PARSE_OK)
                                return -EBADMSG;
                        at += used;
                        if (count && f.type == count_type)
                                (*count)++;
                        if (found != -EAGAIN || f.type != type)
                                continue;
                        if (serial == 0 || f.serial == serial ||
                            (type == SB_MSG_REPLY && f.reply.reply_serial == serial) ||
                            (type == SB_MSG_RESULT && f.result.reply_serial == serial))
                                found = type == SB_MSG_REPLY ? f.reply.error : 0;
                }
        }
        return found;
}

/* ---- latency probe ---- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void probe_run(const char *socket, int signo, unsigned interval_ms, unsigned limit_ms, int stop_fd,
                      int result_fd) {
        const size_t max = 100000;
        uint64_t *rtt = calloc(max, sizeof(*rtt));
        LatencyStats st = {};
        sigbroker *sb = NULL;
        sigbroker_target self = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) getpid() };
        size_t n = 0;

        if (!rtt || sigbroker_connect(socket, &sb) < 0 || sigbroker_subscribe(sb, SIGBROKER_SIGMASK(signo), 0) < 0)
                _exit(2);
        for (;;) {
                struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };
                sigbroker_info info;
                uint64_t t0;
                int r;

                if (poll(&pfd, 1, (int) interval_ms) != 0)
                        break;
                t0 = mono_ns();
                r = sigbroker_send(sb, &self, signo, 0, "ping", 4, NULL);
                if (r == 0)
                        r = sigbroker_wait(sb, 10 * 1000 * 1000, &info);
                if (r != signo) {
                        st.failed++;
                        if (r == -ECONNRESET || r == -EPIPE || r == -ETIMEDOUT)
                                break;
                        continue;
                }
                if (n < max)
                        rtt[n++] = mono_ns() - t0;
        }
        qsort(rtt, n, sizeof(*rtt), cmp_u64);
        st.n = (unsigned) n;
        for (size_t i = 0; i < n; i++)
                if (rtt[i] > (uint64_t) limit_ms * 1000000)
                        st.over++;
        if (n > 0) {
                st.p50_ms = (double) rtt[n / 2] / 1e6;
                st.p99_ms = (double) rtt[n * 99 / 100] / 1e6;
                st.max_ms = (double) rtt[n - 1] / 1e6;
        }
        if (write(result_fd, &st, sizeof(st)) != (ssize_t) sizeof(st))
                _exit(3);
        sigbroker_close(sb);
        _exit(0);
}

void probe_start(LatencyProbe *p, const char *socket, int signo, unsigned interval_ms, unsigned limit_ms) {
        int stop[2], result[2];

        ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(stop[1]);
                close(result[0]);
                probe_run(socket, signo, interval_ms, limit_ms, stop[0], result[1]);
        }
        close(stop[0]);
        close(result[1]);
        p->stop_fd = stop[1];
        p->result_fd = result[0];
}

void probe_stop(LatencyProbe *p, LatencyStats *ret) {
        struct pollfd pfd = { .fd = p->result_fd, .events = POLLIN };
        int status;

        close(p->stop_fd);
        *ret = (LatencyStats) {};
        /* A probe stuck in a wait gives up after 10 s by itself. */
        ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
        ck_assert_int_eq(read(p->result_fd, ret, sizeof(*ret)), (ssize_t) sizeof(*ret));
        close(p->result_fd);
        ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "latency probe failed (status %d)", status);
}

void probe_baseline(const char *socket, int signo, unsigned duration_ms, LatencyStats *ret) {
        LatencyProbe p;

        probe_start(&p, socket, signo, 2, stress_latency_limit_ms());
        sleep_ms(duration_ms);
        probe_stop(&p, ret);
}

char *wait_clients(const char *socket, long long want) {
        char *text = NULL;

        for (int i = 0; i < 250; i++) {
                free(text);
                text = query_text(socket, SIGBROKER_QUERY_STATUS);
                if (json_number(text, NULL, "clients") == want)
                        return text;
                sleep_ms(20);
        }
        ck_abort_msg("the daemon does not count %lld clients: %s", want, text);
        return text;
}
