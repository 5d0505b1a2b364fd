/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The walking skeleton end to end: one signal with a payload from one
 * process to another through the real daemon, every error a sender can
 * get, and every kind of bad input one connection can send without
 * disturbing another. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sigbroker.h"

#define RTMIN1 35

static sigbroker *connect_or_die(const char *path) {
        sigbroker *sb = NULL;
        ck_assert_int_eq(sigbroker_connect(path, &sb), 0);
        return sb;
}

static int send_one(const char *path, int kind, uint64_t id, int signo, int prio, const void *payload, size_t len,
                    sigbroker_send_result *res) {
        sigbroker *sb = NULL;
        sigbroker_target t = { .kind = kind, .id = id };
        int r = sigbroker_connect(path, &sb);
        if (r < 0)
                return r;
        r = sigbroker_send(sb, &t, signo, prio, payload, len, res);
        sigbroker_close(sb);
        return r;
}

START_TEST(test_delivery_with_payload_and_kernel_identity) {
        TestDaemon d;
        sigbroker *rx;
        sigbroker_info info;
        pid_t child;
        int status;

        daemon_start(&d, NULL, NULL);
        rx = connect_or_die(d.socket);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(RTMIN1), 0), 0);

        child = fork();
        ck_assert(child >= 0);
        if (child == 0) {
                sigbroker_send_result res = {};
                int r = send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) getppid(), RTMIN1, 7, "hello", 5, &res);
                _exit(r == 0 && res.queued == 1 ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_int_eq(WEXITSTATUS(status), 0);

        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), RTMIN1);
        ck_assert_int_eq(info.sender_pid, child);
        ck_assert_int_eq(info.sender_uid, getuid());
        ck_assert_int_eq(info.sender_gid, getgid());
        ck_assert_int_eq(info.priority, 7);
        ck_assert_uint_eq(info.seq, 1);
        ck_assert_uint_eq(info.payload_len, 5);
        ck_assert_mem_eq(info.payload, "hello", 5);
        ck_assert_uint_gt(info.realtime_ns, 1700000000ull * 1000000000ull);
        ck_assert_uint_gt(info.monotonic_ns, 0);

        sigbroker_close(rx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_probe_checks_without_delivering) {
        TestDaemon d;
        sigbroker *rx;
        sigbroker_info info;
        sigbroker_send_result res = {};
        pid_t dead;

        daemon_start(&d, NULL, NULL);
        rx = connect_or_die(d.socket);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1), 0), 0);

        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) getpid(), 0, 0, NULL, 0, &res), 0);
        ck_assert_uint_eq(res.queued, 0);
        ck_assert_int_eq(sigbroker_wait(rx, 200000, &info), -EAGAIN);

        dead = fork();
        if (dead == 0)
                _exit(0);
        waitpid(dead, NULL, 0);
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) dead, 0, 0, NULL, 0, NULL), -ESRCH);

        sigbroker_close(rx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_sender_errors) {
        TestDaemon d;
        sigbroker *rx;
        char big[4097];
        pid_t me = getpid();

        memset(big, 'x', sizeof(big));
        daemon_start(&d, NULL, NULL);
        rx = connect_or_die(d.socket);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1), 0), 0);

        /* Unknown signal numbers and priorities. */
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) me, 65, 0, NULL, 0, NULL), -EINVAL);
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) me, SIGUSR1, 100, NULL, 0, NULL), -EINVAL);
        /* Nobody subscribed to SIGUSR2 at this pid; nobody at all at pid 2^22+1. */
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) me, SIGUSR2, 0, NULL, 0, NULL), -ESRCH);
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, 4194305, SIGUSR1, 0, NULL, 0, NULL), -ESRCH);
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_BROADCAST, 0, SIGUSR2, 0, NULL, 0, NULL), -ESRCH);
        /* Default payload limit is 4 KiB. */
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) me, SIGUSR1, 0, big, sizeof(big), NULL),
                         -EMSGSIZE);
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) me, SIGUSR1, 0, big, 4096, NULL), 0);

        sigbroker_close(rx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* What the daemon answers a raw SEND. */
static int raw_send_result(int fd, uint64_t serial, const SbSend *s, SbResult *ret) {
        SbFrame f = { .type = SB_MSG_SEND, .serial = serial, .send = *s };
        uint8_t buf[256];
        SbFrame r;

        raw_send_frame(fd, &f);
        ck_assert_int_eq(raw_expect(fd, SB_MSG_RESULT, buf, sizeof(buf), &r, 5000), 0);
        ck_assert_uint_eq(r.result.reply_serial, serial);
        if (ret)
                *ret = r.result;
        return r.result.error;
}

START_TEST(test_raw_send_errors) {
        const char *args[] = { "--max-payload", "10", NULL };
        TestDaemon d;
        SbWelcome w;
        int fd;

        daemon_start(&d, NULL, args);
        fd = raw_connect(d.socket);
        raw_hello(fd, 0, &w);
        ck_assert_uint_eq(w.max_payload, 10);
        ck_assert_uint_eq(w.pid, (uint32_t) getpid());
        ck_assert_uint_eq(w.uid, getuid());

        ck_assert_int_eq(raw_send_result(fd, 10, &(SbSend) { .signo = 65, .target = 1 }, NULL), EINVAL);
        ck_assert_int_eq(raw_send_result(fd, 11, &(SbSend) { .signo = 10, .priority = 100, .target = 1 }, NULL), EINVAL);
        ck_assert_int_eq(raw_send_result(fd, 12, &(SbSend) { .signo = 10, .target_kind = 9 }, NULL), EINVAL);
        ck_assert_int_eq(raw_send_result(fd, 13, &(SbSend) { .signo = 10, .target_kind = SB_TARGET_PID }, NULL), EINVAL);
        ck_assert_int_eq(raw_send_result(fd, 14, &(SbSend) { .signo = 10, .target_kind = SB_TARGET_GROUP,
                                                           .group = "bad name", .group_len = 8 }, NULL), EINVAL);
        ck_assert_int_eq(raw_send_result(fd, 15, &(SbSend) { .signo = 10, .target = 1, .payload = "0123456789a",
                                                           .payload_len = 11 }, NULL), EMSGSIZE);
        ck_assert_int_eq(raw_send_result(fd, 16, &(SbSend) { .signo = 10, .target = 1, .payload = "0123456789",
                                                           .payload_len = 10 }, NULL), ESRCH);
        close(fd);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

/* Send bad bytes on one connection; it must get an ERROR naming the
 * problem and then EOF, while another client goes on as if nothing
 * happened. */
static void check_violation(const void *bytes, size_t len, bool hello_first, const char *expect_text) {
        TestDaemon d;
        sigbroker *rx;
        sigbroker_info info;
        uint8_t buf[SB_PACKET_MAX];
        SbFrame f;
        char *log;
        int fd;

        daemon_start(&d, NULL, NULL);
        rx = connect_or_die(d.socket);
        ck_assert_int_eq(sigbroker_subscribe(rx, SIGBROKER_SIGMASK(SIGUSR1), 0), 0);

        fd = raw_connect(d.socket);
        ck_assert_int_ge(fd, 0);
        if (hello_first)
                raw_hello(fd, 0, NULL);
        raw_send(fd, bytes, len);
        ck_assert_int_eq(raw_expect(fd, SB_MSG_ERROR, buf, sizeof(buf), &f, 5000), 0);
        ck_assert_msg(memmem(f.error.text, f.error.text_len, expect_text, strlen(expect_text)),
                      "error text '%.*s' lacks '%s'", (int) f.error.text_len, f.error.text, expect_text);
        ck_assert_int_eq(raw_recv(fd, buf, sizeof(buf), 5000), 0); /* then EOF */
        close(fd);

        ck_assert(daemon_alive(&d));
        ck_assert_int_eq(send_one(d.socket, SIGBROKER_TARGET_PID, (uint64_t) getpid(), SIGUSR1, 0, "ok", 2, NULL), 0);
        ck_assert_int_eq(sigbroker_wait(rx, 5000000, &info), SIGUSR1);
        ck_assert_mem_eq(info.payload, "ok", 2);

        log = daemon_log(&d);
        ck_assert_msg(strstr(log, "Disconnecting client") && strstr(log, expect_text), "log lacks the reason: %s", log);
        free(log);
        sigbroker_close(rx);
        ck_assert_int_eq(daemon_stop(&d), 0);
}

START_TEST(test_garbage_closes_only_that_connection) {
        check_violation("garbage, not a frame at all", 27, false, "unsupported protocol version");
}
END_TEST

START_TEST(test_half_sent_frame_closes_only_that_connection) {
        uint8_t buf[64];
        SbFrame f = { .type = SB_MSG_SEND, .serial = 2, .send = { .signo = 10, .target = 1, .payload = "0123456789abcdef",
                                                                  .payload_len = 16 } };
        ssize_t n = sb_frame_encode(&f, buf, sizeof(buf));

        ck_assert_int_gt(n, 20);
        check_violation(buf, (size_t) n - 7, true, "frame body truncated");
}
END_TEST

START_TEST(test_short_header_closes_only_that_connection) {
        check_violation("\x01\x05\x00", 3, true, "frame header truncated");
}
END_TEST

START_TEST(test_unknown_type_closes_only_that_connection) {
        uint8_t buf[16] = { SB_PROTOCOL_VERSION, 200 };
        check_violation(buf, sizeof(buf), true, "unknown message type");
}
END_TEST

START_TEST(test_length_over_limit_closes_only_that_connection) {
        uint8_t buf[16] = { SB_PROTOCOL_VERSION, SB_MSG_SEND, 0, 0, 0xff, 0xff, 0xff, 0x7f };
        check_violation(buf, sizeof(buf), true, "frame length over the limit");
}
END_TEST

START_TEST(test_frame_before_hello_is_a_violation) {
        uint8_t buf[64];
        SbFrame f = { .type = SB_MSG_SUBSCRIBE, .serial = 1, .subscribe = { .mask = 1 } };
        ssize_t n = sb_frame_encode(&f, buf, sizeof(buf));
        check_violation(buf, (size_t) n, false, "subscribe before hello");
}
END_TEST

START_TEST(test_daemon_frame_from_client_is_a_violation) {
        uint8_t buf[128];
        SbFrame f = { .type = SB_MSG_DELIVER, .serial = 1, .deliver = { .signo = 10 } };
        ssize_t n = sb_frame_encode(&f, buf, sizeof(buf));
        check_violation(buf, (size_t) n, true, "deliver frames are sent by the daemon");
}
END_TEST

START_TEST(test_second_hello_is_a_violation) {
        uint8_t buf[64];
        SbFrame f = { .type = SB_MSG_HELLO, .serial = 2 };
        ssize_t n = sb_frame_encode(&f, buf, sizeof(buf));
        check_violation(buf, (size_t) n, true, "second hello");
}
END_TEST

/* A client that goes on sending after its bad frame still gets to read
 * why it was cut off, not a bare ECONNRESET. */
START_TEST(test_error_reaches_a_client_that_kept_sending) {
        uint8_t buf[SB_PACKET_MAX];
        SbFrame f, ack = { .type = SB_MSG_ACK, .serial = 3, .ack = { .count = 1 } };
        TestDaemon d;
        int fd;

        daemon_start(&d, NULL, NULL);
        fd = raw_connect(d.socket);
        raw_hello(fd, 0, NULL);
        kill(d.pid, SIGSTOP);           /* let all of it queue up before the daemon reads */
        raw_send(fd, "\x07garbage", 8);
        for (int i = 0; i < 16; i++)
                raw_send_frame(fd, &ack);
        kill(d.pid, SIGCONT);
        ck_assert_int_eq(raw_expect(fd, SB_MSG_ERROR, buf, sizeof(buf), &f, 5000), 0);
        ck_assert_int_eq(f.error.error, EBADMSG);
        /* Then a clean end of stream: the daemon discarded what it did not
         * read, or the kernel would report ECONNRESET here. */
        ck_assert_int_eq(raw_recv(fd, buf, sizeof(buf), 5000), 0);
        close(fd);
        ck_assert_int_eq(daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_socket_stale_replaced_live_kept) {
        TestDaemon a, b;
        const char *exe = getenv("SIGBROKERD");
        char cmd[512], *out;
        int status, fd = -1;

        daemon_start(&a, NULL, NULL);
        /* A second daemon on the same live socket must refuse. */
        snprintf(cmd, sizeof(cmd), "timeout 10 %s --socket %s --config /dev/null 2>&1", exe, a.socket);
        out = run_capture(cmd, &status);
        ck_assert_int_eq(status, 1);
        ck_assert_msg(strstr(out, "Another sigbrokerd is serving"), "%s", out);
        free(out);
        ck_assert(daemon_alive(&a));
        ck_assert_int_ge(raw_connect(a.socket), 0);

        /* Killed hard, the socket file stays behind, stale: it is replaced. */
        kill(a.pid, SIGKILL);
        waitpid(a.pid, NULL, 0);
        a.pid = 0;
        ck_assert_int_eq(access(a.socket, F_OK), 0);
        b.pid = fork();
        if (b.pid == 0) {
                execl(exe, exe, "--socket", a.socket, "--config", "/dev/null", (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 500 && (fd = raw_connect(a.socket)) < 0; i++)
                usleep(10000);
        ck_assert_msg(fd >= 0, "the stale socket was not replaced");
        raw_hello(fd, 0, NULL);
        close(fd);
        kill(b.pid, SIGTERM);
        ck_assert_int_eq(waitpid(b.pid, &status, 0), b.pid);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        unlink(a.log);
        unlink(a.config);
        rmdir(a.dir);
}
END_TEST

START_TEST(test_sigterm_exits_cleanly_and_removes_socket) {
        TestDaemon d;
        char sock[128], *log;
        int status;

        daemon_start(&d, NULL, NULL);
        snprintf(sock, sizeof(sock), "%s", d.socket);
        kill(d.pid, SIGTERM);
        ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert_int_ne(access(sock, F_OK), 0);
        log = daemon_log(&d);
        d.pid = 0;
        free(log);
        daemon_stop(&d);
}
END_TEST

START_TEST(test_socket_activation) {
        const char *exe = getenv("SIGBROKERD");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/sbact-XXXXXX";
        sigbroker *sb = NULL;
        uint64_t id = 0;
        pid_t pid;
        int lfd, status;

        ck_assert(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(lfd, 16), 0);

        pid = fork();
        if (pid == 0) {
                char p[32];
                dup2(lfd, 3);
                snprintf(p, sizeof(p), "%d", (int) getpid());
                setenv("LISTEN_FDS", "1", 1);
                setenv("LISTEN_PID", p, 1);
                setenv("LISTEN_FDNAMES", "sigbroker", 1);
                execl(exe, exe, "--config", "/dev/null", (char *) NULL);
                _exit(127);
        }
        close(lfd);
        ck_assert_int_eq(sigbroker_connect(sa.sun_path, &sb), 0);
        ck_assert_int_eq(sigbroker_get_client_id(sb, &id), 0);
        ck_assert_uint_gt(id, 0);
        sigbroker_close(sb);
        kill(pid, SIGTERM);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        /* The socket belongs to whoever passed it: the daemon leaves it. */
        ck_assert_int_eq(access(sa.sun_path, F_OK), 0);
        unlink(sa.sun_path);
        rmdir(dir);
}
END_TEST

START_TEST(test_bad_config_refused_at_start) {
        const char *exe = getenv("SIGBROKERD");
        char dir[] = "/tmp/sbconf-XXXXXX", path[128], cmd[512], *out;
        FILE *f;
        int status;

        ck_assert(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/bad.conf", dir);
        f = fopen(path, "we");
        fputs("[limits]\nmax-queue = 12\nmax-qeueu = 3\n", f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "timeout 10 %s --socket %s/sock --config %s 2>&1", exe, dir, path);
        out = run_capture(cmd, &status);
        ck_assert_int_eq(status, 1);
        ck_assert_msg(strstr(out, ":3:"), "error does not name line 3: %s", out);
        free(out);
        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("basics");
        TCase *tc = tcase_create("daemon");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_delivery_with_payload_and_kernel_identity);
        tcase_add_test(tc, test_probe_checks_without_delivering);
        tcase_add_test(tc, test_sender_errors);
        tcase_add_test(tc, test_raw_send_errors);
        tcase_add_test(tc, test_garbage_closes_only_that_connection);
        tcase_add_test(tc, test_half_sent_frame_closes_only_that_connection);
        tcase_add_test(tc, test_short_header_closes_only_that_connection);
        tcase_add_test(tc, test_unknown_type_closes_only_that_connection);
        tcase_add_test(tc, test_length_over_limit_closes_only_that_connection);
        tcase_add_test(tc, test_frame_before_hello_is_a_violation);
        tcase_add_test(tc, test_daemon_frame_from_client_is_a_violation);
        tcase_add_test(tc, test_second_hello_is_a_violation);
        tcase_add_test(tc, test_error_reaches_a_client_that_kept_sending);
        tcase_add_test(tc, test_socket_stale_replaced_live_kept);
        tcase_add_test(tc, test_sigterm_exits_cleanly_and_removes_socket);
        tcase_add_test(tc, test_socket_activation);
        tcase_add_test(tc, test_bad_config_refused_at_start);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(suite());
}
