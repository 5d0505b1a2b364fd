/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sb-standin: a test-only stand-in for sigbrokerd under a real systemd.
 *
 *   sb-standin                          serve the socket passed by systemd
 *   sb-standin --connect PATH [--hold SEC]
 *
 * It lets tests/lib/private-systemd.sh be proven before the daemon exists,
 * and it checks that the hardened sigbrokerd.service still allows what the
 * broker needs from the kernel: for each connection it reads the peer's
 * SO_PEERCRED, getpgid(), getsid(), /proc/PID/status (CapEff), capget() and
 * SO_PEERPIDFD, answers with one packet
 *
 *   pid=P uid=U gid=G pgid=ok sid=ok status=ok capget=ok pidfd=ok
 *
 * (an errno name instead of "ok" where a call failed), logs the same to the
 * journal, and parks the connection in the fd store (FDNAME=client). Type=notify:
 * READY=1 and STATUS= at start (with the number of clients restored from the
 * fd store), WATCHDOG=1, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM.
 * The client prints the answer and keeps the connection open --hold SEC. */
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define CLIENTS_MAX 64

static const char *result(int r) {
        return r >= 0 ? "ok" : strerrorname_np(-r) ?: "error";
}

static int peer_read_capeff(pid_t pid) {
        char path[64], line[256];
        FILE *f;
        int r = -ENOENT;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "CapEff:", 7) == 0) {
                        r = 0;
                        break;
                }
        fclose(f);
        return r;
}

static int peer_capget(pid_t pid) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = pid };
        struct __user_cap_data_struct d[2];

        return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int peer_pidfd(int fd) {
        int pidfd = -1;
        socklen_t len = sizeof(pidfd);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
                return -errno;
        close(pidfd);
        return 0;
}

/* Checks what the broker needs to know about a new peer and tells it. */
static void peer_welcome(int fd) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        char text[256];

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
                sd_journal_print(LOG_ERR, "SO_PEERCRED: %m");
                return;
        }
        snprintf(text, sizeof(text), "pid=%d uid=%u gid=%u pgid=%s sid=%s status=%s capget=%s pidfd=%s",
                 (int) uc.pid, uc.uid, uc.gid,
                 result(getpgid(uc.pid) < 0 ? -errno : 0),
                 result(getsid(uc.pid) < 0 ? -errno : 0),
                 result(peer_read_capeff(uc.pid)),
                 result(peer_capget(uc.pid)),
                 result(peer_pidfd(fd)));
        sd_journal_send("MESSAGE=peer %s", text,
                        "SIGBROKER_STANDIN=peer",
                        "SIGBROKER_PEER_UID=%u", uc.uid,
                        NULL);
        if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0)
                sd_journal_print(LOG_WARNING, "send to peer: %m");
}

static int serve(void) {
        struct pollfd p[2 + CLIENTS_MAX];
        char **names = NULL;
        int listen_fd = -1, nclients = 0, sfd, n;
        uint64_t wd_usec = 0;
        sigset_t mask;

        n = sd_listen_fds_with_names(true, &names);
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (strcmp(names[i], "sigbroker") == 0)
                        listen_fd = fd;
                else if (strcmp(names[i], "client") == 0 && nclients < CLIENTS_MAX)
                        p[2 + nclients++] = (struct pollfd) { .fd = fd, .events = POLLIN };
                else
                        close(fd);
                free(names[i]);
        }
        free(names);
        if (listen_fd < 0) {
                fprintf(stderr, "sb-standin: no socket named 'sigbroker' in LISTEN_FDS\n");
                return 1;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        p[0] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
        p[1] = (struct pollfd) { .fd = sfd, .events = POLLIN };
        if (sd_watchdog_enabled(false, &wd_usec) <= 0)
                wd_usec = 0;

        sd_journal_send("MESSAGE=sb-standin started, %d client(s) restored", nclients,
                        "SIGBROKER_STANDIN=start",
                        "SIGBROKER_RESTORED=%d", nclients,
                        NULL);
        sd_notifyf(false, "READY=1\nSTATUS=Serving, %d client(s) restored", nclients);

        for (;;) {
                int r = poll(p, 2 + nclients, wd_usec ? (int) (wd_usec / 2000) : -1);

                if (r < 0 && errno != EINTR)
                        return 1;
                if (wd_usec)
                        sd_notify(false, "WATCHDOG=1");
                if (r <= 0)
                        continue;
                if (p[1].revents) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo == SIGHUP) {
                                sd_notify(false, "RELOADING=1");
                                sd_journal_send("MESSAGE=sb-standin reloaded", "SIGBROKER_STANDIN=reload", NULL);
                                sd_notifyf(false, "READY=1\nSTATUS=Reloaded, %d client(s)", nclients);
                                continue;
                        }
                        sd_notify(false, "STOPPING=1");
                        sd_journal_send("MESSAGE=sb-standin stopping", "SIGBROKER_STANDIN=stop", NULL);
                        return 0;
                }
                if (p[0].revents) {
                        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

                        if (fd >= 0) {
                                peer_welcome(fd);
                                if (nclients < CLIENTS_MAX) {
                                        sd_pid_notify_with_fds(0, false, "FDSTORE=1\nFDNAME=client", &fd, 1);
                                        p[2 + nclients++] = (struct pollfd) { .fd = fd, .events = POLLIN };
                                } else
                                        close(fd);
                        }
                }
                for (int i = 2; i < 2 + nclients; i++)
                        if (p[i].revents) {
                                /* Peer gone (or talking, which a stand-in does not do). */
                                close(p[i].fd);
                                p[i--] = p[1 + nclients--];
                        }
        }
}

static int client(const char *path, int hold) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[512];
        ssize_t n;
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return 2;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "sb-standin: connect %s: %m\n", path);
                return 1;
        }
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0) {
                fprintf(stderr, "sb-standin: no answer from %s\n", path);
                return 1;
        }
        buf[n] = '\0';
        printf("%s\n", buf);
        fflush(stdout);
        if (hold > 0)
                sleep(hold);
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        if (argc == 1)
                return serve();
        if (argc == 3 && strcmp(argv[1], "--connect") == 0)
                return client(argv[2], 0);
        if (argc == 5 && strcmp(argv[1], "--connect") == 0 && strcmp(argv[3], "--hold") == 0)
                return client(argv[2], atoi(argv[4]));
        fprintf(stderr, "usage: sb-standin [--connect PATH [--hold SEC]]\n");
        return 2;
}
