/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The listening socket: taken from systemd (socket activation) or bound
 * here, and the accept path with its connection limits.
 */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "broker.h"
#include "state.h"
#include "user.h"
#include "util.h"

#define ACCEPT_BATCH 64
#define ACCEPT_FDS_PER_CLIENT 3
/* Fds beyond the clients' own kept free: a client being accepted takes a
 * third one for a moment, the journal and log may need some. */
#define ACCEPT_FD_SLACK 16
#define SOCKET_DIR_SYSTEM "/run/sigbroker"

/* A message for the administrator that names the path, in *ret_error;
 * returns r. */
_printf_(3, 4)
static int listen_fail(char **ret_error, int r, const char *fmt, ...) {
        char *m = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = m;
        return r;
}

/* Why bind() or listen() on path failed, in words: for ENOENT, which
 * directory is missing. */
static int fail_path(char **ret_error, int r, const char *path) {
        const char *slash = strrchr(path, '/');

        if (r == -ENOENT && slash && slash != path)
                return listen_fail(ret_error, r, "Cannot listen on %s: the directory %.*s does not exist", path,
                                   (int) (slash - path), path);
        return listen_fail(ret_error, r, "Cannot listen on %s: %s", path, strerror(-r));
}

static int socket_address(const char *path, struct sockaddr_un *ret) {
        if (strlen(path) >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        strcpy(ret->sun_path, path);
        return 0;
}

/* The address a listening socket is bound to, as a path: "@name" for an
 * abstract one, "(unnamed)" for none. Whoever passed it knows best, but
 * the kernel knows for sure. */
static int socket_name(int fd, char **ret) {
        struct sockaddr_un sa = {};
        socklen_t len = sizeof(sa);
        size_t n;

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        if (sa.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path))
                *ret = strdup("(unnamed)");
        else {
                n = len - offsetof(struct sockaddr_un, sun_path);
                if (sa.sun_path[0] == '\0')
                        sa.sun_path[0] = '@';
                else
                        n = strnlen(sa.sun_path, n);
                *ret = strndup(sa.sun_path, n);
        }
        return *ret ? 0 : -ENOMEM;
}

/* The socket file exists: is a daemon serving it? A stale file (left by a
 * daemon that died) refuses connections and may be replaced; a live one
 * must not be stolen. */
static int check_stale(const struct sockaddr_un *sa) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct stat st;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED)
                return -errno;
        return unlink(sa->sun_path) < 0 ? -errno : 0;
}

static int bind_socket(Broker *b, const char *path, char **ret_error) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        int r;

        r = socket_address(path, &sa);
        if (r < 0)
                return listen_fail(ret_error, r, "Cannot listen on %s: a socket path has at most %zu bytes", path,
                                   sizeof(sa.sun_path) - 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail_path(ret_error, -errno, path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EADDRINUSE)
                        return fail_path(ret_error, -errno, path);
                r = check_stale(&sa);
                if (r == -EADDRINUSE)
                        return listen_fail(ret_error, r, "Another sigbrokerd is serving %s; not taking it over",
                                           path);
                if (r == -EEXIST)
                        return listen_fail(ret_error, r, "Cannot listen on %s: it exists and is not a socket", path);
                if (r < 0)
                        return listen_fail(ret_error, r, "Cannot replace the stale socket %s: %s", path,
                                           strerror(-r));
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return fail_path(ret_error, -errno, path);
        }
        /* Everyone may connect: who they are comes from the kernel. */
        if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                unlink(path);
                return fail_path(ret_error, r, path);
        }
        b->socket_path = strdup(path);
        if (!b->socket_path) {
                unlink(path);
                return -ENOMEM;
        }
        b->listen_fd = TAKE_FD(fd);
        return 0;
}

/* The fd systemd passed that is ours: named "sigbroker" by the socket
 * unit, or the only one. The others come from the fd store: client
 * connections and the restart journal, for state_restore(). */
static int take_activated_socket(Broker *b, char **ret_error) {
        char **names = NULL;
        int n = sd_listen_fds_with_names(1, &names), fd = -1, r;

        for (int i = 0; i < n; i++) {
                int cand = SD_LISTEN_FDS_START + i;
                bool named = names && names[i] && strcmp(names[i], "sigbroker") == 0;
                if (fd < 0 && (named || n == 1) && sd_is_socket_unix(cand, SOCK_SEQPACKET, 1, NULL, 0) > 0)
                        fd = cand;
                else if (names && names[i] && !named)
                        (void) state_restore_add_fd(b, cand, names[i]);
                else
                        close(cand);
        }
        for (int i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
        if (n < 0)
                return listen_fail(ret_error, n, "Cannot take the sockets systemd passed (LISTEN_FDS): %s",
                                   strerror(-n));
        if (n > 0 && fd < 0)
                return listen_fail(ret_error, -ENOTSOCK,
                                   "systemd passed %d fd%s and none is a listening AF_UNIX SOCK_SEQPACKET socket "
                                   "named sigbroker",
                                   n, n == 1 ? "" : "s");
        if (fd < 0)
                return 0;
        b->listen_fd = fd;
        b->socket_activated = true;
        if (evutil_make_socket_nonblocking(fd) < 0)
                return listen_fail(ret_error, -errno, "Cannot use the socket systemd passed: %s", strerror(errno));
        r = socket_name(fd, &b->socket_path);
        if (r < 0)
                return listen_fail(ret_error, r, "Cannot read the address of the socket systemd passed: %s",
                                   strerror(-r));
        return 1;
}

static int default_socket_path(char **ret, char **ret_error) {
        const char *runtime = getenv("XDG_RUNTIME_DIR");

        if (geteuid() == 0) {
                /* Its mode is the documented one whatever our umask: under
                 * 077 every other user would be locked out. */
                if (mkdir(SOCKET_DIR_SYSTEM, 0755) < 0) {
                        if (errno != EEXIST)
                                return listen_fail(ret_error, -errno, "Cannot create %s: %s", SOCKET_DIR_SYSTEM,
                                                   strerror(errno));
                } else if (chmod(SOCKET_DIR_SYSTEM, 0755) < 0)
                        return listen_fail(ret_error, -errno, "Cannot set the mode of %s: %s", SOCKET_DIR_SYSTEM,
                                           strerror(errno));
                *ret = strdup(SOCKET_DIR_SYSTEM "/sigbroker.sock");
        } else if (runtime && runtime[0] == '/') {
                if (asprintf(ret, "%s/sigbroker.sock", runtime) < 0)
                        *ret = NULL;
        } else  /* no place of our own: the caller must say --socket */
                return listen_fail(ret_error, -ENOENT,
                                   "No socket to listen on: not root and XDG_RUNTIME_DIR is not set; use --socket PATH");
        return *ret ? 0 : -ENOMEM;
}

static int refuse_connection(Broker *b, int fd, int error, const char *text) {
        SbFrame f = {
                .type = SB_MSG_ERROR,
                .error = { .error = error, .text = text, .text_len = (uint16_t) strlen(text) },
        };
        ssize_t n = sb_frame_encode(&f, b->txbuf, SB_PACKET_MAX);

        if (n > 0)
                (void) send(fd, b->txbuf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
        /* Its HELLO is usually waiting already. */
        socket_discard_input(fd, b->rxbuf);
        close(fd);
        return 0;
}

/* Whether the connecting process is uid 0 or in the admin group, for the
 * reserve: from the kernel's credentials of the socket, as for a Peer. */
static bool is_privileged(const Broker *b, int fd, const struct ucred *cred) {
        gid_t groups[256];
        socklen_t len = sizeof(groups);
        PolicyPeer pp = { .uid = cred->uid, .gid = cred->gid, .groups = groups };

        if (cred->uid == 0)
                return true;
        if (!b->config->have_admin_gid)
                return false;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
                pp.n_groups = len / sizeof(gid_t);
        return config_is_admin(b->config, &pp);
}

/* Fds the daemon holds besides its clients' sockets and pidfds, as last
 * counted. Counted again on every tick: cheap enough at that rate,
 * and they change little (the journal, the log, the fd store at start). */
void broker_count_fds(Broker *b) {
        unsigned n = 0;
        DIR *d = opendir("/proc/self/fd");

        if (!d)
                return;
        while (readdir(d))
                n++;
        closedir(d);
        n = n > 3 ? n - 3 : 0;          /* ".", ".." and the directory's own fd */
        b->fd_others = n > b->n_peers + b->n_pidfds ? n - (b->n_peers + b->n_pidfds) : 0;
}

/* Whether an unprivileged connection would eat into the reserve: the
 * last reserved-connections connections, and the fds they need, are kept
 * for uid 0 and the admin group. */
static bool in_reserve(const Broker *b) {
        const Limits *l = &b->limits;
        /* A client costs its socket and, where pidfds cannot be given up
         * for sockets (peer.c), its pidfd. */
        uint64_t per_client = b->pidfd_by_pid ? 2 : 1;
        uint64_t fds_after = (uint64_t) b->fd_others + b->n_peers + b->n_pidfds + per_client + ACCEPT_FD_SLACK;
        struct rlimit rl;

        if ((uint64_t) b->n_peers + 1 + l->reserved_connections > l->max_connections)
                return true;
        /* Asked each time: prlimit(1) may change it under us. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return false;
        return fds_after + per_client * l->reserved_connections > (uint64_t) rl.rlim_cur;
}

/* Limits on connections: all users, the reserve, and per uid (root exempt
 * by default). */
static int admit(Broker *b, int fd) {
        const Limits *l = &b->limits;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        HashNode *n;
        unsigned suppressed;

        if (b->n_peers >= l->max_connections)
                return refuse_connection(b, fd, EUSERS, "the broker has reached its connection limit");
        if (b->restart_capacity && b->n_peers >= b->restart_capacity)
                return refuse_connection(b, fd, EUSERS, "the broker holds as many connections as a restart can keep");
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return close(fd), 0;
        if (in_reserve(b) && !is_privileged(b, fd, &cred)) {
                b->metrics.reserve_refused++;
                if (ratelimit_test(&b->rl_uid_limit, &suppressed)) {
                        char f_uid[32];
                        const char *fields[] = { f_uid, NULL };
                        snprintf(f_uid, sizeof(f_uid), "SIGBROKER_UID=%u", (unsigned) cred.uid);
                        log_fields(LOG_WARNING, SB_MID_UID_LIMIT, fields,
                                   "Connection from pid %d (uid %u) refused: the last %u connections are reserved "
                                   "for root and the admin group",
                                   (int) cred.pid, (unsigned) cred.uid, l->reserved_connections);
                }
                return refuse_connection(b, fd, EUSERS,
                                         "the broker is full but for connections reserved for administrators");
        }
        n = hashtable_first(&b->users, cred.uid);
        if (n && (cred.uid != 0 || l->limit_root) &&
            container_of(n, User, node)->connections >= l->max_connections_per_uid) {
                if (ratelimit_test(&b->rl_uid_limit, &suppressed)) {
                        char f_uid[32];
                        const char *fields[] = { f_uid, NULL };
                        snprintf(f_uid, sizeof(f_uid), "SIGBROKER_UID=%u", (unsigned) cred.uid);
                        log_fields(LOG_WARNING, SB_MID_UID_LIMIT, fields,
                                   "Connection from pid %d refused: uid %u holds %u connection%s, the limit",
                                   (int) cred.pid, (unsigned) cred.uid, l->max_connections_per_uid,
                                   plural(l->max_connections_per_uid));
                }
                return refuse_connection(b, fd, EUSERS, "this uid has reached its connection limit");
        }
        return 1;
}

static void on_resume_accept(evutil_socket_t fd, short what, void *userdata) {
        Broker *b = userdata;
        event_add(b->listen_event, NULL);
}

/* A client takes three fds when it is accepted: its socket, its pidfd,
 * and /proc/PID/status for a moment. Accept only when all three are there;
 * otherwise it would be let in without its pidfd or without CAP_KILL read.
 * Single-threaded, so what dup() found free stays free. */
static bool have_fds_for_client(int lfd) {
        int spare[ACCEPT_FDS_PER_CLIENT], n = 0;

        while (n < ACCEPT_FDS_PER_CLIENT && (spare[n] = fcntl(lfd, F_DUPFD_CLOEXEC, 3)) >= 0)
                n++;
        for (int i = 0; i < n; i++)
                close(spare[i]);
        if (n == ACCEPT_FDS_PER_CLIENT)
                return true;
        errno = EMFILE;
        return false;
}

static void on_accept(evutil_socket_t lfd, short what, void *userdata) {
        Broker *b = userdata;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                Peer *p;
                int fd = have_fds_for_client(lfd) ? accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                                /* Out of fds: pause accepting instead of spinning on a
                                 * listener that stays readable; retry shortly. */
                                struct timeval later = { .tv_usec = 100000 };
                                unsigned suppressed;
                                if (ratelimit_test(&b->rl_accept, &suppressed))
                                        log_warning("accept: %s; pausing new connections for 100ms "
                                                    "(%u such pauses not logged before this one)",
                                                    strerror(errno), suppressed);
                                event_del(b->listen_event);
                                event_add(b->resume_accept, &later);
                        }
                        break;
                }
                if (admit(b, fd) <= 0)
                        continue;
                if (peer_new(b, fd, &p) < 0)
                        continue;  /* peer_new closed fd */
                b->metrics.connections++;
        }
        broker_flush_dirty(b);
}

int broker_listen(Broker *b, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        int r;

        *ret_error = NULL;
        if (!b->options.socket_path) {
                r = take_activated_socket(b, ret_error);
                if (r < 0)
                        return r;
        }
        if (b->listen_fd < 0) {
                if (b->options.socket_path) {
                        path = strdup(b->options.socket_path);
                        if (!path)
                                return -ENOMEM;
                } else {
                        r = default_socket_path(&path, ret_error);
                        if (r < 0)
                                return r;
                }
                r = bind_socket(b, path, ret_error);
                if (r < 0)
                        return r;
        }
        broker_count_fds(b);
        b->listen_event = event_new(b->base, b->listen_fd, EV_READ | EV_PERSIST, on_accept, b);
        b->resume_accept = evtimer_new(b->base, on_resume_accept, b);
        if (!b->listen_event || !b->resume_accept || event_add(b->listen_event, NULL) < 0)
                return -ENOMEM;
        return 0;
}

void broker_unlisten(Broker *b) {
        if (b->listen_event)
                event_free(b->listen_event);
        if (b->resume_accept)
                event_free(b->resume_accept);
        b->listen_event = b->resume_accept = NULL;
        if (b->listen_fd >= 0)
                close(b->listen_fd);
        b->listen_fd = -1;
        /* A socket systemd passed stays: the socket unit owns its file. */
        if (b->socket_path && !b->socket_activated)
                unlink(b->socket_path);
        free(b->socket_path);
        b->socket_path = NULL;
}
