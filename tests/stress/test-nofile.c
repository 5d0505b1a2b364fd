/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A daemon out of file descriptors: clients over the limit must
 * wait in the backlog (or fail), the daemon must not spin on a listener
 * that stays readable, the clients it holds must be served, and once
 * connections close it must accept again. */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define SIG_MANY 38     /* RTMIN+4 */

#define LOW_NOFILE 64
#define N_CONNS 100

/* Collect WELCOMEs on fds[] until want of them have come (or timeout_ms
 * has passed); returns how many came. */
static unsigned collect_welcomes(const int *fds, bool *welcomed, unsigned n, unsigned want, unsigned timeout_ms) {
        uint64_t deadline = mono_ns() + (uint64_t) timeout_ms * 1000000;
        unsigned count = 0;

        for (;;) {
                for (unsigned i = 0; i < n; i++)
                        if (fds[i] >= 0 && !welcomed[i] && raw_wait_frame(fds[i], SB_MSG_WELCOME, 0, 0, 0, NULL) == 0) {
                                welcomed[i] = true;
                                count++;
                        }
                if (count >= want || mono_ns() >= deadline)
                        return count;
                sleep_ms(20);
        }
}

static unsigned count_substrings(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* The daemon out of fds and settled: it has paused accepting (and said
 * so in its log), and each connection it holds has its WELCOME and its
 * pidfd. What it holds is counted exactly: its connections on its socket
 * (proc_unix_connections(): not the listener or the dup()s of it that the
 * accept path makes for a moment, not the journal's socket or anything
 * inherited from the test process) and its pidfds. How long it takes to
 * get there depends on the machine's load, not on the daemon: wait (up to
 * timeout_ms) until all this has held for 100 ms, rather than counting
 * WELCOMEs for a fixed time. Returns the number of WELCOMEs; *ret_held and
 * *ret_pidfds get what the daemon holds. */
static unsigned settle_at_limit(const TestDaemon *d, const int *fds, bool *welcomed, unsigned n,
                                unsigned timeout_ms, int *ret_held, int *ret_pidfds) {
        uint64_t deadline = mono_ns() + (uint64_t) timeout_ms * 1000000;
        unsigned count = 0, stable = 0;
        int sockets;

        for (;;) {
                bool paused;
                char *text;

                count += collect_welcomes(fds, welcomed, n, 0, 0);
                proc_fd_kinds(d->pid, &sockets, ret_pidfds);
                *ret_held = proc_unix_connections(d->pid, d->socket);
                text = daemon_log(d);
                paused = strstr(text, "pausing new connections") != NULL;
                free(text);
                stable = paused && *ret_held == (int) count && *ret_pidfds == (int) count ? stable + 1 : 0;
                if (stable >= 5 || mono_ns() >= deadline)
                        return count;
                sleep_ms(20);
        }
}

/* Fds of pid numbered below limit: those that count against it. */
static int fds_below(pid_t pid, int limit) {
        char path[64];
        struct dirent *de;
        DIR *dir;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        dir = opendir(path);
        ck_assert(dir);
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.' && atoi(de->d_name) < limit)
                        n++;
        closedir(dir);
        return n;
}

/* The whole answer to a CLIENTS query on a connection already welcomed
 * (at the fd limit a new one would not be), malloc()ed. */
static char *query_clients_on(int fd, uint64_t serial) {
        SbFrame q = { .type = SB_MSG_QUERY, .serial = serial, .query = { .kind = SB_QUERY_CLIENTS } };
        uint8_t *buf = malloc(SB_PACKET_MAX);
        char *text = calloc(1, 1);
        size_t len = 0;
        bool more = true;

        ck_assert(buf && text);
        raw_send_frame(fd, &q);
        while (more) {
                ssize_t n = raw_recv(fd, buf, SB_PACKET_MAX, 5000);
                size_t at = 0;
                ck_assert_int_gt(n, 0);
                while (at < (size_t) n) {
                        SbFrame f;
                        size_t used;
                        ck_assert_int_eq(sb_frame_parse_untrusted(buf + at, (size_t) n - at, &f, &used), 0);
                        at += used;
                        if (f.type != SB_MSG_DATA || f.data.reply_serial != serial)
                                continue;
                        ck_assert_int_eq(f.data.error, 0);
                        text = realloc(text, len + f.data.data_len + 1);
                        ck_assert(text);
                        memcpy(text + len, f.data.data, f.data.data_len);
                        len += f.data.data_len;
                        text[len] = '\0';
                        more = f.data.flags & SB_DATA_MORE;
                }
        }
        free(buf);
        return text;
}

/* RLIMIT_NOFILE of about LOW_NOFILE, chosen so that the fds left free at
 * rest are odd or even: the last client accepted then finds one fd left
 * for its pidfd and none for reading /proc, or none for either. */
static void nofile_exhaustion(bool odd) {
        int fds[N_CONNS];
        bool welcomed[N_CONNS] = {}, late[N_CONNS] = {};
        SbFrame sub = { .type = SB_MSG_SUBSCRIBE, .serial = 2, .subscribe = { .mask = SB_SIGMASK(SIG_MANY) } };
        SbFrame snd = { .type = SB_MSG_SEND, .serial = 3,
                        .send = { .signo = SIG_MANY, .target_kind = SB_TARGET_PID, .target = (uint64_t) getpid(),
                                  .payload = "x", .payload_len = 1 } };
        unsigned first, second = 0, want, results = 0, pauses, no_comm;
        const char *label = odd ? "nofile-odd" : "nofile-even";
        double cpu0, cpu1;
        int limit = LOW_NOFILE, base, free_fds, fresh, fds_after, w = -1, held, pidfds;
        TestDaemon d;
        char *text;

        daemon_start(&d, NULL, NULL);
        base = proc_settled_fd_count(d.pid);
        if ((limit - fds_below(d.pid, limit)) % 2 != odd)
                limit++;
        free_fds = limit - fds_below(d.pid, limit);
        ck_assert_int_eq(nofile_set(d.pid, limit, limit), 0);

        for (unsigned i = 0; i < N_CONNS; i++) {
                fds[i] = raw_connect_hello(d.socket, 0, NULL, 0);
                ck_assert_msg(fds[i] >= 0, "connection %u: %s", i, strerror(-fds[i]));
        }
        first = settle_at_limit(&d, fds, welcomed, N_CONNS, 20000, &held, &pidfds);

        /* Out of fds, with connections waiting in the backlog: the daemon
         * must wait, not spin on a listener that stays readable. */
        cpu0 = proc_cpu_seconds(d.pid);
        sleep_ms(1000);
        cpu1 = proc_cpu_seconds(d.pid);
        text = daemon_log(&d);
        pauses = count_substrings(text, "pausing new connections");
        free(text);
        stress_print("%s: RLIMIT_NOFILE %d, %d fds free at rest: %u of %d connections welcomed, the rest wait; "
                     "daemon CPU over 1 s of exhaustion %.3f s (bound 0.3 s), %u accept pauses logged so far",
                     label, limit, free_fds, first, N_CONNS, cpu1 - cpu0, pauses);
        ck_assert_uint_gt(first, 0);
        ck_assert_uint_lt(first, N_CONNS);
        ck_assert_msg(held == (int) first, "%s: the daemon holds %d connections, %u of them welcomed", label, held,
                      first);
        ck_assert_msg(cpu1 - cpu0 < 0.3, "the daemon used %.3f s of CPU in 1 s while out of fds", cpu1 - cpu0);
        ck_assert_uint_gt(pauses, 0);

        /* The clients it took are served meanwhile. */
        for (unsigned i = 0; i < N_CONNS && w < 0; i++)
                if (welcomed[i])
                        w = fds[i];
        raw_send_frame(w, &sub);
        ck_assert_int_eq(raw_wait_frame(w, SB_MSG_REPLY, 2, 5000, 0, NULL), 0);
        raw_send_frame(w, &snd);
        ck_assert_int_eq(raw_wait_frame(w, SB_MSG_DELIVER, 0, 5000, SB_MSG_RESULT, &results), 0);
        ck_assert_uint_eq(results, 1);
        /* Whom the daemon knows by name: it reads /proc/PID/status (name,
         * CapEff) when it accepts, and a client whose file it could not
         * open shows an empty comm. */
        text = query_clients_on(w, 4);
        no_comm = count_substrings(text, "\"comm\":\"\"");
        free(text);
        stress_print("%s: daemon holds %d connections, %d pidfds; %u client(s) without a comm "
                     "(their /proc/PID/status was not read)",
                     label, held, pidfds, no_comm);

        /* Room again: those waiting get in. */
        for (unsigned i = 0; i < N_CONNS; i++)
                if (welcomed[i]) {
                        close(fds[i]);
                        fds[i] = -1;
                }
        want = first < N_CONNS - first ? first - 1 : N_CONNS - first;
        second = collect_welcomes(fds, late, N_CONNS, want, 20000);
        stress_print("%s: after closing those %u, %u waiting ones were welcomed", label, first, second);
        ck_assert_uint_gt(second, 0);
        ck_assert_uint_ge(second, want);

        for (unsigned i = 0; i < N_CONNS; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        fresh = raw_connect_hello(d.socket, 0, NULL, 0);
        ck_assert_int_ge(fresh, 0);
        ck_assert_int_eq(raw_wait_frame(fresh, SB_MSG_WELCOME, 0, 3000, 0, NULL), 0);
        close(fresh);
        fds_after = proc_wait_fd_count(d.pid, base, 5000);
        stress_print("%s: a fresh client is welcomed; daemon fds after %d (at rest %d)", label, fds_after, base);
        ck_assert_int_eq(fds_after, base);
        ck_assert_int_eq(daemon_stop(&d), 0);

        /* Last, so that the checks above have all run: every client the
         * daemon took at the limit has its identity complete. Routing by
         * pid and the "a process may signal itself" rule rely on the pidfd
         * to tell a live client from a recycled pid, and CAP_KILL comes
         * from /proc. Running out of fds must make a client wait, not let
         * it in with half an identity. */
        ck_assert_msg(pidfds == (int) first && no_comm == 0,
                      "%s: at the fd limit the daemon admitted %u clients, holds %d pidfds, and did not read "
                      "/proc/PID/status for %u of them",
                      label, first, pidfds, no_comm);
}

START_TEST(test_nofile_exhaustion_odd) {
        nofile_exhaustion(true);
}
END_TEST

START_TEST(test_nofile_exhaustion_even) {
        nofile_exhaustion(false);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-nofile");
        TCase *tc = tcase_create("nofile");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_nofile_exhaustion_odd);
        tcase_add_test(tc, test_nofile_exhaustion_even);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
