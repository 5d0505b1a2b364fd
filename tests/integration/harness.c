/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        ck_assert_msg(f, "cannot write %s: %m", path);
        fputs(text ? text : "", f);
        fclose(f);
        chmod(path, 0644);      /* the daemon refuses a file others may write, whatever our umask */
}

static void sleep_ms(int ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

void daemon_start(TestDaemon *d, const char *config_text, const char *const *args) {
        const char *exe = getenv("SIGBROKERD");
        const char *wrapper = getenv("SB_DAEMON_WRAPPER");
        static char wrapper_buf[512];
        const char *argv[48];
        int n = 0, fd;

        ck_assert_msg(exe, "SIGBROKERD is not set (run the tests through meson)");
        memset(d, 0, sizeof(*d));
        snprintf(d->dir, sizeof(d->dir), "/tmp/sbtest-XXXXXX");
        ck_assert(mkdtemp(d->dir));
        chmod(d->dir, 0755);
        snprintf(d->socket, sizeof(d->socket), "%s/sock", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
        snprintf(d->config, sizeof(d->config), "%s/sigbroker.conf", d->dir);
        write_file(d->config, config_text);

        /* SB_DAEMON_WRAPPER, e.g. "valgrind --leak-check=full --error-exitcode=1",
         * runs the daemon under a tool; its exit status is still checked. */
        if (wrapper) {
                snprintf(wrapper_buf, sizeof(wrapper_buf), "%s", wrapper);
                for (char *w = strtok(wrapper_buf, " "); w && n < 16; w = strtok(NULL, " "))
                        argv[n++] = w;
        }
        argv[n++] = exe;
        argv[n++] = "--socket";
        argv[n++] = d->socket;
        argv[n++] = "--config";
        argv[n++] = d->config;
        for (int i = 0; args && args[i] && n < 46; i++)
                argv[n++] = args[i];
        argv[n] = NULL;

        d->pid = fork();
        ck_assert(d->pid >= 0);
        if (d->pid == 0) {
                fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                dup2(fd, STDERR_FILENO);
                unsetenv("NOTIFY_SOCKET");
                execvp(argv[0], (char **) argv);
                _exit(127);
        }
        for (int i = 0; i < 2000; i++) {
                int c = raw_connect(d->socket);
                if (c >= 0) {
                        close(c);
                        return;
                }
                ck_assert_msg(daemon_alive(d), "sigbrokerd exited at start; log: %s", daemon_log(d));
                sleep_ms(10);
        }
        ck_abort_msg("sigbrokerd did not start listening within 20 s");
}

bool daemon_alive(const TestDaemon *d) {
        return d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == 0;
}

int daemon_stop(TestDaemon *d) {
        int status = 0;
        char cmd[160];

        if (d->pid <= 0)
                return -1;
        kill(d->pid, SIGTERM);
        for (int i = 0; i < 2000; i++) {
                pid_t r = waitpid(d->pid, &status, WNOHANG);
                if (r == d->pid)
                        break;
                if (i == 1999) {
                        kill(d->pid, SIGKILL);
                        waitpid(d->pid, &status, 0);
                }
                sleep_ms(10);
        }
        d->pid = 0;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", d->dir);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *daemon_log(const TestDaemon *d) {
        FILE *f = fopen(d->log, "re");
        char *text = calloc(1, 1 << 20);
        size_t n;

        if (!f)
                return text;
        n = fread(text, 1, (1 << 20) - 1, f);
        text[n] = '\0';
        fclose(f);
        return text;
}

void daemon_reload(TestDaemon *d) {
        struct stat st;
        off_t before = stat(d->log, &st) == 0 ? st.st_size : 0;

        kill(d->pid, SIGHUP);
        for (int i = 0; i < 500; i++) {
                if (stat(d->log, &st) == 0 && st.st_size > before)
                        return;
                sleep_ms(10);
        }
        ck_abort_msg("no log line after SIGHUP");
}

int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

void raw_send(int fd, const void *buf, size_t len) {
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t) len);
}

void raw_send_frame(int fd, const SbFrame *f) {
        static uint8_t buf[SB_PACKET_MAX];
        ssize_t n = sb_frame_encode(f, buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        raw_send(fd, buf, (size_t) n);
}

ssize_t raw_recv(int fd, void *buf, size_t size, int timeout_ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) == 0)
                return -EAGAIN;
        n = recv(fd, buf, size, 0);
        return n < 0 ? -errno : n;
}

/* Frames already received but not yet asked for, per fd. */
static struct {
        int fd;
        uint8_t buf[SB_PACKET_MAX];
        size_t len, at;
} stash = { .fd = -1 };

int raw_expect(int fd, uint8_t type, uint8_t *buf, size_t size, SbFrame *ret, int timeout_ms) {
        for (;;) {
                while (stash.fd == fd && stash.at < stash.len) {
                        SbFrame f;
                        size_t used;
                        ck_assert_int_eq(sb_frame_parse_untrusted(stash.buf + stash.at, stash.len - stash.at, &f, &used), 0);
                        stash.at += used;
                        if (f.type == type) {
                                /* Re-parse from the caller's buffer so pointers outlive the stash. */
                                ck_assert_uint_le(used, size);
                                memcpy(buf, stash.buf + stash.at - used, used);
                                ck_assert_int_eq(sb_frame_parse_untrusted(buf, used, ret, &used), 0);
                                return 0;
                        }
                }
                ssize_t n = raw_recv(fd, stash.buf, sizeof(stash.buf), timeout_ms);
                if (n == -EAGAIN)
                        return -EAGAIN;
                if (n <= 0)
                        return -ECONNRESET;
                stash.fd = fd;
                stash.len = (size_t) n;
                stash.at = 0;
        }
}

void raw_hello(int fd, uint32_t window, SbWelcome *ret) {
        SbFrame f = { .type = SB_MSG_HELLO, .serial = 1, .hello = { .window = window } };
        uint8_t buf[256];
        SbFrame w;

        raw_send_frame(fd, &f);
        ck_assert_int_eq(raw_expect(fd, SB_MSG_WELCOME, buf, sizeof(buf), &w, 5000), 0);
        if (ret)
                *ret = w.welcome;
}

int harness_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int run_child(int (*fn)(void *userdata), void *userdata) {
        int status;
        pid_t pid = fork();

        ck_assert(pid >= 0);
        if (pid == 0)
                _exit(fn(userdata));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *run_capture(const char *cmd, int *ret_status) {
        FILE *p = popen(cmd, "re");
        char *text = calloc(1, 1 << 20);
        size_t n;
        int status;

        ck_assert(p);
        n = fread(text, 1, (1 << 20) - 1, p);
        text[n] = '\0';
        status = pclose(p);
        if (ret_status)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        return text;
}
