/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Restart without losing a client or a signal, with this test playing
 * systemd's part: it owns the listening socket, receives sd_notify
 * messages, keeps the fd store (FDSTORE=1, FDSTOREREMOVE=1, FDNAME=), and
 * passes the listening socket and the stored fds to the next instance as
 * LISTEN_FDS with their names, as systemd does on restart. The private
 * systemd test (tests/systemd) does the same with the real thing. */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"

#define RTMIN 34
#define STORE_MAX 64

typedef struct FakeSystemd {
        char dir[64];
        char socket[96];
        char notify[96];
        int listen_fd;
        int notify_fd;
        pid_t pid;
        struct { int fd; char name[64]; } store[STORE_MAX];
        int n_store;
        bool ready;
} FakeSystemd;

static void store_remove(FakeSystemd *s, const char *name) {
        for (int i = 0; i < s->n_store; i++)
                if (strcmp(s->store[i].name, name) == 0) {
                        close(s->store[i].fd);
                        s->store[i] = s->store[--s->n_store];
                        i--;
                }
}

/* Take every pending notify message. */
static void drain_notify(FakeSystemd *s) {
        for (;;) {
                char buf[4096], ctl[CMSG_SPACE(sizeof(int) * 16)];
                struct iovec iov = { buf, sizeof(buf) - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
                char *name;
                int fd = -1;
                ssize_t n = recvmsg(s->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (n < 0)
                        return;
                buf[n] = '\0';
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                                memcpy(&fd, CMSG_DATA(c), sizeof(int));
                if (strstr(buf, "READY=1"))
                        s->ready = true;
                name = strstr(buf, "FDNAME=");
                if (name) {
                        name += 7;
                        name[strcspn(name, "\n")] = '\0';
                }
                if (strstr(buf, "FDSTORE=1") && fd >= 0 && name && s->n_store < STORE_MAX) {
                        s->store[s->n_store].fd = fd;
                        snprintf(s->store[s->n_store].name, sizeof(s->store[0].name), "%s", name);
                        s->n_store++;
                } else if (strstr(buf, "FDSTOREREMOVE=1") && name) {
                        store_remove(s, name);
                        if (fd >= 0)
                                close(fd);
                } else if (fd >= 0)
                        close(fd);
        }
}

static void spawn(FakeSystemd *s) {
        const char *exe = getenv("SIGBROKERD");
        char names[4096] = "sigbroker";

        for (int i = 0; i < s->n_store; i++) {
                strcat(names, ":");
                strcat(names, s->store[i].name);
        }
        s->ready = false;
        s->pid = fork();
        ck_assert(s->pid >= 0);
        if (s->pid == 0) {
                char n[16], pid[16];
                /* Fds 3.. in order; dup2 clears CLOEXEC. Move them high first so
                 * that no dup2 overwrites a source still to come. */
                int high[STORE_MAX + 1];
                high[0] = fcntl(s->listen_fd, F_DUPFD, 100);
                for (int i = 0; i < s->n_store; i++)
                        high[i + 1] = fcntl(s->store[i].fd, F_DUPFD, 100);
                for (int i = 0; i <= s->n_store; i++)
                        dup2(high[i], 3 + i);
                snprintf(n, sizeof(n), "%d", s->n_store + 1);
                snprintf(pid, sizeof(pid), "%d", (int) getpid());
                setenv("LISTEN_FDS", n, 1);
                setenv("LISTEN_PID", pid, 1);
                setenv("LISTEN_FDNAMES", names, 1);
                setenv("NOTIFY_SOCKET", s->notify, 1);
                execl(exe, exe, "--config", "/dev/null", (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 500 && !s->ready; i++) {
                usleep(10000);
                drain_notify(s);
        }
        ck_assert_msg(s->ready, "sigbrokerd sent no READY=1");
}

static void fake_start(FakeSystemd *s) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        memset(s, 0, sizeof(*s));
        snprintf(s->dir, sizeof(s->dir), "/tmp/sbrestart-XXXXXX");
        ck_assert(mkdtemp(s->dir));
        snprintf(s->socket, sizeof(s->socket), "%s/sock", s->dir);
        snprintf(s->notify, sizeof(s->notify), "%s/notify", s->dir);

        s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->socket);
        ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(s->listen_fd, 64), 0);

        s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->notify);
        ck_assert_int_eq(bind(s->notify_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        spawn(s);
}

static int count_journals(const FakeSystemd *s) {
        int n = 0;

        for (int i = 0; i < s->n_store; i++)
                n += strncmp(s->store[i].name, "state-", 6) == 0;
        return n;
}

static void fake_restart(FakeSystemd *s, int signo) {
        int status;

        drain_notify(s);
        kill(s->pid, signo);
        ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
        if (signo == SIGTERM)
                ck_assert_int_eq(WEXITSTATUS(status), 0);
        drain_notify(s);
        spawn(s);
        /* Exactly one journal in the store: the new one, which must not
         * have been removed along with the old one it replaced. */
        usleep(100000);
        drain_notify(s);
        ck_assert_int_eq(count_journals(s), 1);
}

static void fake_stop(FakeSystemd *s) {
        char cmd[128];

        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        for (int i = 0; i < s->n_store; i++)
                close(s->store[i].fd);
        close(s->listen_fd);
        close(s->notify_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Skip monitor events until one contains what. */
static void monitor_expect(int fd, const char *what) {
        static uint8_t buf[SB_PACKET_MAX];
        SbFrame f;

        for (int i = 0; i < 100; i++) {
                ck_assert_int_eq(raw_expect(fd, SB_MSG_DATA, buf, sizeof(buf), &f, 5000), 0);
                ck_assert_int_eq(f.data.error, 0);
                if (memmem(f.data.data, f.data.data_len, what, strlen(what)))
                        return;
        }
        ck_abort_msg("no monitor event with %s", what);
}

static int send_to(sigbroker *tx, pid_t pid, int signo, int prio, const char *payload, sigbroker_send_result *res) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_PID, .id = (uint64_t) pid };
        return sigbroker_send(tx, &t, signo, prio, payload, strlen(payload), res);
}

static void expect(sigbroker *rx, int signo, const char *payload, uint32_t merged) {
        sigbroker_info info;

        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), signo);
        ck_assert_uint_eq(info.merged, merged);
        ck_assert_uint_eq(info.payload_len, strlen(payload));
        ck_assert_mem_eq(info.payload, payload, info.payload_len);
}

/* A raw monitor connection, whose DATA stream outlives restarts. */
static int monitor_connect(const char *path) {
        SbFrame q = { .type = SB_MSG_QUERY, .serial = 2, .query = { .kind = SB_QUERY_MONITOR } };
        int fd = raw_connect(path);

        ck_assert_int_ge(fd, 0);
        raw_hello(fd, 0, NULL);
        raw_send_frame(fd, &q);
        monitor_expect(fd, "\"type\":\"start\"");
        return fd;
}

static void check_restart(int signo) {
        FakeSystemd s;
        int mon;
        sigbroker *rx = NULL, *tx = NULL;
        sigbroker_send_result res;
        sigbroker_info info;
        uint64_t rx_id, rx_id_after;
        char payload[16];

        fake_start(&s);
        mon = monitor_connect(s.socket);
        ck_assert_int_eq(sigbroker_connect_with(s.socket, 1, &rx), 0);
        ck_assert_int_eq(sigbroker_subscribe(rx, UINT64_MAX, 0), 0);
        ck_assert_int_eq(sigbroker_join(rx, "workers"), 0);
        ck_assert_int_eq(sigbroker_get_client_id(rx, &rx_id), 0);
        ck_assert_int_eq(sigbroker_connect(s.socket, &tx), 0);

        /* The first goes out at once (window 1); the rest wait in the broker. */
        for (int i = 0; i < 6; i++) {
                snprintf(payload, sizeof(payload), "rt%d", i);
                ck_assert_int_eq(send_to(tx, getpid(), RTMIN + 1, 5, payload, &res), 0);
                ck_assert_uint_eq(res.queued, 1);
        }
        ck_assert_int_eq(send_to(tx, getpid(), SIGUSR1, 9, "usr1", &res), 0);
        ck_assert_int_eq(send_to(tx, getpid(), SIGUSR1, 9, "usr1-again", &res), 0);
        ck_assert_uint_eq(res.merged, 1);

        fake_restart(&s, signo);

        /* Both clients are still connected, with their identity and state. */
        expect(rx, RTMIN + 1, "rt0", 0);
        expect(rx, SIGUSR1, "usr1", 1);
        for (int i = 1; i < 6; i++) {
                snprintf(payload, sizeof(payload), "rt%d", i);
                expect(rx, RTMIN + 1, payload, 0);
        }
        ck_assert_int_eq(sigbroker_wait(rx, 300000, &info), -EAGAIN);      /* exactly once */

        ck_assert_int_eq(send_to(tx, getpid(), RTMIN + 2, 0, "after", &res), 0);
        expect(rx, RTMIN + 2, "after", 0);
        /* The monitor's stream goes on: a new start event, then this send. */
        monitor_expect(mon, "\"type\":\"start\"");
        monitor_expect(mon, "\"signo\":36");
        {
                sigbroker_target t = { .kind = SIGBROKER_TARGET_GROUP, .group = "workers" };
                ck_assert_int_eq(sigbroker_send(tx, &t, RTMIN + 3, 0, "grp", 3, &res), 0);
                expect(rx, RTMIN + 3, "grp", 0);
        }
        ck_assert_int_eq(sigbroker_get_client_id(rx, &rx_id_after), 0);
        ck_assert_uint_eq(rx_id, rx_id_after);

        /* A second restart, after the first one's compaction. */
        ck_assert_int_eq(send_to(tx, getpid(), RTMIN + 4, 0, "x", &res), 0);
        fake_restart(&s, signo);
        expect(rx, RTMIN + 4, "x", 0);
        ck_assert_int_eq(sigbroker_wait(rx, 300000, &info), -EAGAIN);

        sigbroker_close(rx);
        sigbroker_close(tx);
        close(mon);
        fake_stop(&s);
}

START_TEST(test_clean_restart_keeps_clients_and_signals) {
        check_restart(SIGTERM);
}
END_TEST

START_TEST(test_crash_keeps_clients_and_signals) {
        check_restart(SIGKILL);
}
END_TEST

/* A client that does not read its replies makes the daemon hold them; a
 * crash must not lose one, nor write one twice. */
START_TEST(test_replies_owed_survive_a_crash) {
        static uint8_t buf[SB_PACKET_MAX];
        FakeSystemd s;
        uint64_t serial = 1, next = 2;
        int fd, sndbuf = 1 << 20;

        fake_start(&s);
        fd = raw_connect(s.socket);
        raw_hello(fd, 0, NULL);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        /* Sends nobody receives (ESRCH), 500 to a packet, without reading
         * a single result, until the daemon stops taking more. */
        for (int packets = 0; packets < 200; packets++) {
                size_t len = 0;
                for (int i = 0; i < 500; i++) {
                        SbFrame f = { .type = SB_MSG_SEND, .serial = ++serial,
                                      .send = { .signo = 10, .target_kind = SB_TARGET_PID, .target = 4194305 } };
                        len += (size_t) sb_frame_encode(&f, buf + len, sizeof(buf) - len);
                }
                if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                        serial -= 500;
                        break;
                }
        }
        usleep(200000);
        fake_restart(&s, SIGKILL);

        /* Every send gets exactly one result, in order. */
        while (next <= serial) {
                SbFrame f;
                ck_assert_int_eq(raw_expect(fd, SB_MSG_RESULT, buf, sizeof(buf), &f, 5000), 0);
                ck_assert_uint_eq(f.result.reply_serial, next);
                ck_assert_int_eq(f.result.error, ESRCH);
                next++;
        }
        printf("restart: %llu sends, each answered once across a kill -9\n", (unsigned long long) (serial - 1));
        close(fd);
        fake_stop(&s);
}
END_TEST

START_TEST(test_disconnected_client_leaves_the_store) {
        FakeSystemd s;
        sigbroker *c = NULL;

        fake_start(&s);
        ck_assert_int_eq(sigbroker_connect(s.socket, &c), 0);
        usleep(100000);
        drain_notify(&s);
        ck_assert_int_eq(s.n_store, 2);         /* the journal and the client */
        sigbroker_close(c);
        usleep(200000);
        drain_notify(&s);
        ck_assert_int_eq(s.n_store, 1);         /* the journal */
        fake_stop(&s);
}
END_TEST

/* A connection that comes back from the store with no journal to restore
 * it from is told why before it is closed, and leaves the store. */
START_TEST(test_connection_not_kept_is_told_why) {
        FakeSystemd s;
        sigbroker *c = NULL;
        const char *text = NULL;
        int error = 0, status;

        fake_start(&s);
        ck_assert_int_eq(sigbroker_connect(s.socket, &c), 0);
        usleep(100000);
        drain_notify(&s);
        kill(s.pid, SIGTERM);
        ck_assert_int_eq(waitpid(s.pid, &status, 0), s.pid);
        drain_notify(&s);
        store_remove(&s, "state-1");
        ck_assert_int_eq(count_journals(&s), 0);
        ck_assert_int_eq(s.n_store, 1);
        spawn(&s);
        usleep(100000);
        drain_notify(&s);
        ck_assert_int_eq(s.n_store, 1);         /* the new journal, not the client */
        ck_assert_int_eq(sigbroker_query(c, SIGBROKER_QUERY_STATUS, 0, 0, NULL), -ECONNRESET);
        ck_assert_int_eq(sigbroker_get_disconnect_reason(c, &error, &text), 0);
        ck_assert_int_eq(error, ECONNABORTED);
        ck_assert_msg(strstr(text, "could not keep this connection: no restart journal"), "reason: %s", text);
        sigbroker_close(c);
        fake_stop(&s);
}
END_TEST

/* Without systemd, a stop tells every client. */
START_TEST(test_stop_without_fd_store_is_told) {
        TestDaemon d;
        sigbroker *c = NULL;
        const char *text = NULL;
        int error = 0;

        daemon_start(&d, NULL, NULL);
        ck_assert_int_eq(sigbroker_connect(d.socket, &c), 0);
        ck_assert_int_eq(daemon_stop(&d), 0);
        ck_assert_int_eq(sigbroker_query(c, SIGBROKER_QUERY_STATUS, 0, 0, NULL), -ECONNRESET);
        ck_assert_int_eq(sigbroker_get_disconnect_reason(c, &error, &text), 0);
        ck_assert_int_eq(error, ESHUTDOWN);
        ck_assert_msg(strstr(text, "sigbrokerd stopped"), "reason: %s", text);
        sigbroker_close(c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("restart");
        TCase *tc = tcase_create("fdstore");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_clean_restart_keeps_clients_and_signals);
        tcase_add_test(tc, test_crash_keeps_clients_and_signals);
        tcase_add_test(tc, test_replies_owed_survive_a_crash);
        tcase_add_test(tc, test_disconnected_client_leaves_the_store);
        tcase_add_test(tc, test_connection_not_kept_is_told_why);
        tcase_add_test(tc, test_stop_without_fd_store_is_told);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
