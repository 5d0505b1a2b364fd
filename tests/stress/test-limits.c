/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What one unprivileged uid can make the daemon hold, tried with real
 * users as a hostile one would:
 *
 * - many connections that joined many groups ask for GROUPS and never
 *   read: the daemon's memory stays within the answer budget, and root is
 *   answered meanwhile;
 * - one uid's receivers that never read do not fill the global pending
 *   cap for every other uid;
 * - connections that never say HELLO, from several uids, up to the fd
 *   limit, do not lock root out, and are closed after hello-timeout;
 * - the daemon out of fds says so once per interval, not 10 times a second.
 *
 * Counts scale with SB_STRESS_SCALE. The answer flood at full size (4,000
 * connections of 64 groups each, 40 of them asking) is SB_STRESS_SCALE=4
 * with SB_ANSWER_BUDGET=32M (the default max-answer-bytes-per-uid);
 * SB_ANSWER_BUDGET=none writes no limit at all (for a daemon that has none:
 * the same flood against an older build). */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "harness.h"
#include "sigbroker.h"
#include "stress.h"

#define N_GROUPS 64
#define SIG_DEAF 35     /* RTMIN+1 */
#define SIG_OWN 36      /* RTMIN+2 */

/* A child process of user that opens connections; it reports on report_fd
 * how many it holds, then waits for a byte on go_fd and runs after(). */
typedef struct Crowd {
        pid_t pid;
        int report_fd, go_fd;
} Crowd;

typedef struct CrowdSpec {
        const char *socket;
        const char *user;
        unsigned n;
        bool hello;             /* HELLO and JOIN N_GROUPS groups, else nothing at all */
        unsigned n_queries;     /* then QUERY GROUPS on this many of them, never read */
} CrowdSpec;

static int crowd_connect(const CrowdSpec *c) {
        uint8_t extra[4096];
        size_t len = 0;

        if (!c->hello)
                return raw_connect(c->socket);
        for (unsigned g = 0; g < N_GROUPS; g++) {
                char name[16];
                int n = snprintf(name, sizeof(name), "g%u", g);
                SbFrame j = { .type = SB_MSG_JOIN, .serial = 2 + g, .name = { .name = name, .len = (uint16_t) n } };
                if (!pack_frame(extra, sizeof(extra), &len, &j))
                        return -ENOBUFS;
        }
        return raw_connect_hello(c->socket, 0, extra, len);
}

static void crowd_run(const CrowdSpec *c, int report, int go) {
        int *fds = calloc(c->n, sizeof(*fds));
        unsigned held = 0;
        char byte;

        if (!fds || user_become(c->user, true) < 0)
                _exit(2);
        for (unsigned i = 0; i < c->n; i++) {
                int fd = crowd_connect(c);
                if (fd >= 0)
                        fds[held++] = fd;
        }
        if (write(report, &held, sizeof(held)) != sizeof(held) || read(go, &byte, 1) != 1)
                _exit(3);
        for (unsigned i = 0; i < c->n_queries && i < held; i++) {
                /* Three in four GROUPS, the largest answer; the rest CLIENTS. */
                SbFrame q = { .type = SB_MSG_QUERY, .serial = 1000,
                              .query = { .kind = i % 4 == 3 ? SB_QUERY_CLIENTS : SB_QUERY_GROUPS } };
                raw_send_frame(fds[i], &q);
        }
        if (write(report, &held, sizeof(held)) != sizeof(held))
                _exit(3);
        for (;;)
                pause();        /* holds them, reads nothing, until killed */
}

static unsigned crowd_start(Crowd *cr, const CrowdSpec *c) {
        int rep[2], go[2];
        unsigned held = 0;

        ck_assert_int_eq(pipe(rep), 0);
        ck_assert_int_eq(pipe(go), 0);
        cr->pid = fork();
        ck_assert_int_ge(cr->pid, 0);
        if (cr->pid == 0) {
                close(rep[0]);
                close(go[1]);
                crowd_run(c, rep[1], go[0]);
        }
        close(rep[1]);
        close(go[0]);
        cr->report_fd = rep[0];
        cr->go_fd = go[1];
        ck_assert_int_eq(read(cr->report_fd, &held, sizeof(held)), sizeof(held));
        return held;
}

static void crowd_go(Crowd *cr) {
        unsigned held;

        ck_assert_int_eq(write(cr->go_fd, "g", 1), 1);
        ck_assert_int_eq(read(cr->report_fd, &held, sizeof(held)), sizeof(held));
}

static void crowd_stop(Crowd *cr) {
        kill(cr->pid, SIGKILL);
        waitpid(cr->pid, NULL, 0);
        close(cr->report_fd);
        close(cr->go_fd);
}

static unsigned count_substrings(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* A query from root on a fresh connection, timed. */
static char *root_query(const char *socket, int kind, double *ret_ms) {
        uint64_t t0 = mono_ns();
        char *text = query_text(socket, kind);

        *ret_ms = (double) (mono_ns() - t0) / 1e6;
        return text;
}

START_TEST(test_unread_answers) {
        const char *budget = getenv("SB_ANSWER_BUDGET") ?: "2M";
        bool unset = strcmp(budget, "none") == 0;
        unsigned n = stress_count(1000, 50), n_queries = stress_count(10, 4), held;
        long rss0, rss, peak, answer_len, refused, bound_kib;
        char config[256], *text;
        bool root_ok;
        double ms;
        Crowd cr;
        TestDaemon d;

        ck_assert_int_eq(nofile_raise_self(n + 256), 0);
        snprintf(config, sizeof(config), "[limits]\nmax-answer-bytes-per-uid = %s\n", unset ? "32M" : budget);
        if (unset)
                config[0] = '\0';
        budget = unset ? "32M" : budget;
        daemon_start(&d, config, NULL);
        held = crowd_start(&cr, &(CrowdSpec) { .socket = d.socket, .user = TEST_USER1, .n = n, .hello = true,
                                                .n_queries = n_queries });
        ck_assert_uint_eq(held, n);
        free(wait_clients(d.socket, (long long) n + 1));

        /* What one answer weighs: root reads the whole of it, streamed. */
        text = root_query(d.socket, SIGBROKER_QUERY_GROUPS, &ms);
        ck_assert_ptr_nonnull(text);
        answer_len = (long) strlen(text);
        ck_assert_uint_eq(count_substrings(text, "\"name\":\"g"), N_GROUPS);
        ck_assert_uint_ge(count_substrings(text, "{\"id\":"), (unsigned) n * N_GROUPS);      /* and process sets */
        free(text);
        rss0 = proc_rss_kib(d.pid);

        crowd_go(&cr);
        peak = rss0;
        for (int i = 0; i < 40; i++) {
                sleep_ms(50);
                rss = proc_rss_kib(d.pid);
                peak = rss > peak ? rss : peak;
        }
        /* Root is answered meanwhile, and promptly. */
        text = root_query(d.socket, SIGBROKER_QUERY_STATUS, &ms);
        root_ok = text != NULL;
        free(text);
        for (int i = 0; i < 20; i++) {  /* and the daemon has stopped growing */
                sleep_ms(50);
                rss = proc_rss_kib(d.pid);
                peak = rss > peak ? rss : peak;
        }
        text = query_text(d.socket, SIGBROKER_QUERY_STATS);
        refused = text ? (long) json_number(text, NULL, "answers_refused") : -1;
        free(text);
        /* The budget, an answer being written and one in malloc's free
         * lists, and room for the allocator's own rounding. */
        bound_kib = (long) (strtol(budget, NULL, 10) * 1024) + 3 * answer_len / 1024 + 16 * 1024;
        stress_print("answers: %u connections of uid %s in %d groups each, %u ask GROUPS (%ld bytes each) or CLIENTS and never "
                     "read: daemon RSS %ld KiB before, peak %ld KiB (+%ld KiB, bound %ld KiB); %ld answers refused "
                     "for the budget (%s); root's STATUS %s after %.1f ms",
                     n, TEST_USER1, N_GROUPS, n_queries, answer_len, rss0, peak, peak - rss0, bound_kib, refused,
                     budget, root_ok ? "answered" : "FAILED", ms);
        ck_assert_msg(root_ok && ms < 2000, "root's STATUS %s after %.1f ms", root_ok ? "answered" : "failed", ms);
        /* An answer held costs the daemon 8 to 16 bytes per client listed
         * (a member's text is about 60): surely over the budget if this is. */
        if (answer_len * (long) n_queries > 8 * strtol(budget, NULL, 10) * 1024 * 1024)
                ck_assert_int_gt(refused, 0);
        if (stress_memory_checks())
                ck_assert_msg(peak - rss0 <= bound_kib, "RSS grew by %ld KiB, bound %ld KiB", peak - rss0, bound_kib);

        crowd_stop(&cr);
        free(wait_clients(d.socket, 1));
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_deaf_receivers) {
        static const char config[] = "[limits]\n"
                                     "default-window = 1\n"
                                     "max-queue = 50\n"
                                     "max-pending = 200\n"
                                     "max-received-per-uid = 100\n";
        Agent deaf[6], own_rx, own_tx, root_rx, root;
        sigbroker_send_result res;
        TestDaemon d;
        char *text;
        int r;

        daemon_start(&d, config, NULL);
        for (unsigned i = 0; i < sizeof(deaf) / sizeof(deaf[0]); i++) {
                agent_start(&deaf[i], &d, &(AgentOptions) { .user = TEST_USER1 });
                ck_assert_int_eq(agent_subscribe(&deaf[i], SIGBROKER_SIGMASK(SIG_DEAF)), 0);
        }
        agent_start(&own_rx, &d, &(AgentOptions) { .user = TEST_USER2, .clear_groups = true });
        agent_start(&own_tx, &d, &(AgentOptions) { .user = TEST_USER2, .clear_groups = true });
        agent_start(&root_rx, &d, NULL);
        agent_start(&root, &d, NULL);
        ck_assert_int_eq(agent_subscribe(&own_rx, SIGBROKER_SIGMASK(SIG_OWN)), 0);
        ck_assert_int_eq(agent_subscribe(&root_rx, SIGBROKER_SIGMASK(SIG_OWN)), 0);

        /* Root broadcasts to the deaf receivers until they hold all they may. */
        for (int i = 0; i < 60; i++)
                (void) agent_send(&root, SIGBROKER_TARGET_BROADCAST, 0, NULL, SIG_DEAF, "x", &res);
        text = query_text(d.socket, SIGBROKER_QUERY_STATUS);
        ck_assert_ptr_nonnull(text);
        stress_print("deaf receivers: 6 of uid %s, windows of 1, 60 broadcasts; broker pending %lld of max-pending "
                     "200 (max-received-per-uid 100)",
                     TEST_USER1, json_number(text, NULL, "pending"));
        free(text);

        /* Another uid still reaches its own receiver, and root its own. */
        r = agent_send(&own_tx, SIGBROKER_TARGET_CLIENT, own_rx.client_id, NULL, SIG_OWN, "mine", &res);
        ck_assert_msg(r == 0, "uid %s to its own receiver: %s", TEST_USER2, strerror(-r));
        ck_assert_uint_eq(res.queued, 1);
        ck_assert_int_eq(agent_wait(&own_rx, 5000, NULL), SIG_OWN);
        r = agent_send(&root, SIGBROKER_TARGET_CLIENT, root_rx.client_id, NULL, SIG_OWN, "root", &res);
        ck_assert_msg(r == 0, "root to its own receiver: %s", strerror(-r));
        ck_assert_int_eq(agent_wait(&root_rx, 5000, NULL), SIG_OWN);
        /* ... and the deaf uid gets EAGAIN for its own share being full. */
        ck_assert_int_eq(agent_send(&root, SIGBROKER_TARGET_CLIENT, deaf[0].client_id, NULL, SIG_DEAF, "x", &res),
                         -EAGAIN);

        for (unsigned i = 0; i < sizeof(deaf) / sizeof(deaf[0]); i++)
                agent_stop(&deaf[i]);
        agent_stop(&own_rx);
        agent_stop(&own_tx);
        agent_stop(&root_rx);
        agent_stop(&root);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_idle_connections) {
        static const char *const users[] = { TEST_USER1, TEST_USER2, "nobody" };
        static const char config[] = "[limits]\nreserved-connections = 16\nhello-timeout = 2\n";
        const int limit = 200;
        unsigned held[3], total = 0;
        Crowd cr[3];
        TestDaemon d;
        double ms;
        char *text;
        int base, after;
        long long refused, timeouts;

        const char *tool = getenv("SB_DAEMON_WRAPPER");
        char *wrapper;

        /* The daemon starts with the limit, rather than have it changed
         * under it, which a tool running it (valgrind) would not see. */
        ck_assert_int_ge(asprintf(&wrapper, "prlimit --nofile=%d:%d %s", limit, limit, tool ? tool : ""), 0);
        ck_assert_int_eq(setenv("SB_DAEMON_WRAPPER", wrapper, 1), 0);
        daemon_start(&d, config, NULL);
        if (tool)
                setenv("SB_DAEMON_WRAPPER", tool, 1);
        else
                unsetenv("SB_DAEMON_WRAPPER");
        free(wrapper);
        base = proc_settled_fd_count(d.pid);
        for (unsigned i = 0; i < 3; i++) {
                held[i] = crowd_start(&cr[i], &(CrowdSpec) { .socket = d.socket, .user = users[i], .n = 120 });
                total += held[i];
        }
        /* They all connected (the kernel's backlog took the rest); the
         * daemon took what it could spare. Root still gets in. */
        sleep_ms(300);
        text = root_query(d.socket, SIGBROKER_QUERY_STATUS, &ms);
        ck_assert_msg(text, "root's STATUS failed with every fd but the reserve taken");
        stress_print("idle: 3 uids opened %u connections without HELLO against RLIMIT_NOFILE %d; the daemon holds %lld "
                     "clients and %d fds; root's STATUS answered in %.1f ms",
                     total, limit, json_number(text, NULL, "clients"), proc_fd_count(d.pid), ms);
        free(text);
        ck_assert_msg(ms < 2000, "root waited %.1f ms", ms);

        /* After hello-timeout (and the tick that enforces it) they are gone. */
        after = proc_wait_fd_count(d.pid, base, 8000);
        text = query_text(d.socket, SIGBROKER_QUERY_STATS);
        ck_assert_ptr_nonnull(text);
        refused = json_number(text, NULL, "reserve_refused");
        timeouts = json_number(text, NULL, "hello_timeouts");
        free(text);
        stress_print("idle: after hello-timeout the daemon holds %d fds (%d at rest); %lld connections closed for no "
                     "HELLO, %lld refused to keep the reserve",
                     after, base, timeouts, refused);
        ck_assert_int_eq(after, base);
        ck_assert_int_gt(timeouts, 0);
        ck_assert_int_gt(refused, 0);
        for (unsigned i = 0; i < 3; i++)
                crowd_stop(&cr[i]);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_accept_warning) {
        enum { N = 100 };
        int fds[N];
        unsigned pauses;
        char *log;
        TestDaemon d;

        daemon_start(&d, NULL, NULL);
        ck_assert_int_eq(nofile_set(d.pid, 64, 64), 0);
        for (unsigned i = 0; i < N; i++)
                ck_assert_int_ge(fds[i] = raw_connect_hello(d.socket, 0, NULL, 0), 0);
        sleep_ms(3000);
        log = daemon_log(&d);
        pauses = count_substrings(log, "pausing new connections");
        free(log);
        stress_print("accept warning: 3 s out of fds (accept retried every 100 ms): %u warnings logged", pauses);
        ck_assert_uint_ge(pauses, 1);
        ck_assert_uint_le(pauses, 2);
        for (unsigned i = 0; i < N; i++)
                close(fds[i]);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("stress-limits");
        TCase *tc = tcase_create("limits");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_unread_answers);
        tcase_add_test(tc, test_deaf_receivers);
        tcase_add_test(tc, test_idle_connections);
        tcase_add_test(tc, test_accept_warning);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return users_test_main(suite());
}
