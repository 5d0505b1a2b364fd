/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sb-notify-recv: a stand-in for systemd's notification socket, for tests.
 *
 *   sb-notify-recv [--creds] [--timestamps] [--connect-on-ready SOCKET]
 *                  [--count N] [--timeout SEC] PATH
 *
 * Binds an AF_UNIX SOCK_DGRAM socket at PATH with SO_PASSCRED and prints the
 * KEY=VALUE lines of every datagram (as sd_notify() sends them) to stdout,
 * followed by an empty line, flushed after each datagram. Received fds
 * (FDSTORE=1) are closed and counted in a line _FDS=N; with --creds the
 * sender's credentials are printed as _PID=, _UID=, _GID= lines; with
 * --timestamps the CLOCK_MONOTONIC time of its arrival as _MONOTONIC_USEC=.
 * With --connect-on-ready, a datagram with a line READY=1 makes it connect
 * an AF_UNIX SOCK_SEQPACKET socket to SOCKET at once, before it prints the
 * datagram, and print _CONNECT=ok (or the errno name): a daemon must accept
 * connections by the time it says it is ready. A test starts it, waits for
 * PATH to exist and passes NOTIFY_SOCKET=PATH to the daemon. Exits 0 after
 * N datagrams (--count), 1 when --timeout expires first, 2 on usage or
 * system errors. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NOTIFY_MAX 4096 /* what systemd accepts; larger datagrams are cut */
#define FDS_MAX 768     /* SCM_MAX_FD is 253; room for several headers */

static int notify_bind(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1, fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "sb-notify-recv: path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Prints one datagram; returns 0, or -errno when recvmsg fails. */
/* Connects to a SOCK_SEQPACKET socket and hangs up: 0 or -errno. */
static int try_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r = 0;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                r = -errno;
        close(fd);
        return r;
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p += n)
                if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

static long long now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

typedef struct Options {
        bool creds;
        bool timestamps;
        const char *connect_on_ready;
} Options;

static int notify_print_one(int fd, const Options *o) {
        char buf[NOTIFY_MAX + 1];
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = NOTIFY_MAX };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1,
                .msg_control = &control, .msg_controllen = sizeof(control),
        };
        struct ucred *uc = NULL;
        size_t nfds = 0;
        long long received;
        int connected = 1;      /* 1: not tried */
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        received = now_usec();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS)
                        uc = (struct ucred *) CMSG_DATA(c);
                else if (c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int fds[FDS_MAX];

                        memcpy(fds, CMSG_DATA(c), k * sizeof(int));
                        for (size_t i = 0; i < k; i++)
                                close(fds[i]);
                        nfds += k;
                }
        }

        buf[n] = '\0';
        if (o->connect_on_ready && has_line(buf, "READY=1"))
                connected = try_connect(o->connect_on_ready);
        /* sd_notify() separates assignments by newlines, without a final one. */
        fputs(buf, stdout);
        if (n > 0 && buf[n - 1] != '\n')
                putchar('\n');
        if (nfds > 0)
                printf("_FDS=%zu\n", nfds);
        if (connected <= 0)
                printf("_CONNECT=%s\n", connected == 0 ? "ok" : strerrorname_np(-connected) ?: "error");
        if (o->timestamps)
                printf("_MONOTONIC_USEC=%lld\n", received);
        if (o->creds && uc)
                printf("_PID=%d\n_UID=%u\n_GID=%u\n", (int) uc->pid, uc->uid, uc->gid);
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                printf("_TRUNCATED=1\n");
        putchar('\n');
        fflush(stdout);
        return 0;
}

static long long now_ms(void) {
        return now_usec() / 1000;
}

static void usage(FILE *f) {
        fputs("usage: sb-notify-recv [--creds] [--timestamps] [--connect-on-ready SOCKET] [--count N]\n"
              "                      [--timeout SEC] PATH\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "creds",   no_argument,       NULL, 'c' },
                { "timestamps", no_argument,    NULL, 'T' },
                { "connect-on-ready", required_argument, NULL, 'C' },
                { "count",   required_argument, NULL, 'n' },
                { "timeout", required_argument, NULL, 't' },
                { "help",    no_argument,       NULL, 'h' },
                {}
        };
        long count = -1;
        double timeout = -1;
        Options o = {};
        long long deadline = -1;
        int opt, fd;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        o.creds = true;
                        break;
                case 'T':
                        o.timestamps = true;
                        break;
                case 'C':
                        o.connect_on_ready = optarg;
                        break;
                case 'n':
                        count = strtol(optarg, NULL, 10);
                        break;
                case 't':
                        timeout = strtod(optarg, NULL);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc - 1) {
                usage(stderr);
                return 2;
        }

        fd = notify_bind(argv[optind]);
        if (fd < 0) {
                fprintf(stderr, "sb-notify-recv: cannot bind %s: %s\n", argv[optind], strerror(-fd));
                return 2;
        }
        if (timeout >= 0)
                deadline = now_ms() + (long long) (timeout * 1000);

        for (long got = 0; count < 0 || got < count; got++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int wait_ms = -1, r;

                if (deadline >= 0) {
                        long long left = deadline - now_ms();
                        wait_ms = left > 0 ? (int) left : 0;
                }
                r = poll(&p, 1, wait_ms);
                if (r < 0 && errno == EINTR) {
                        got--;
                        continue;
                }
                if (r < 0) {
                        perror("sb-notify-recv: poll");
                        return 2;
                }
                if (r == 0) {
                        fprintf(stderr, "sb-notify-recv: timed out after %ld datagram(s)\n", got);
                        return 1;
                }
                r = notify_print_one(fd, &o);
                if (r < 0) {
                        fprintf(stderr, "sb-notify-recv: recvmsg: %s\n", strerror(-r));
                        return 2;
                }
        }
        return 0;
}
