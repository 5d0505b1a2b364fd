/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "broker.h"
#include "peer.h"
#include "state.h"
#include "user.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define CAP_KILL_BIT 5

static void peer_on_event(evutil_socket_t fd, short what, void *userdata);
static void release_output(Peer *p);
static void answer_free(Peer *p);

/* A large QUERY answer, framed as the client reads it. Frames queued while
 * it is being read wait in later[], in order, and are journaled when they
 * move to the control buffer: the journal must list output in the order it
 * is written. Input is not read meanwhile (peer_backlog() is over the soft
 * limit), so later[] holds at most the answers to one packet of requests. */
struct PeerAnswer {
        uint64_t serial;
        PeerAnswerSource src;
        uint8_t *later;
        size_t later_len, later_cap;
};

/* ---- identity ---- */

static int read_groups(Peer *p) {
        socklen_t len = 16 * sizeof(gid_t);

        for (int tries = 0; tries < 4; tries++) {
                gid_t *g = realloc(p->groups, len ? len : sizeof(gid_t));
                if (!g)
                        return -ENOMEM;
                p->groups = g;
                if (getsockopt(p->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
                        p->n_groups = len / sizeof(gid_t);
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
        }
        return -ERANGE;
}

/* The pidfd of the process that connected, from the socket: the socket
 * holds that process (not its pid number), so this can be asked again at
 * any time, after a restart too, and never names a process that was given
 * the same pid later. -ESRCH: the kernel says that process is gone. */
static int socket_pidfd(const Peer *p) {
        int pidfd = -1;
        socklen_t len = sizeof(pidfd);

        if (getsockopt(p->fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0)
                return pidfd;
        return errno == ENOPROTOOPT ? -ENOPROTOOPT : errno == EMFILE || errno == ENFILE ? -errno : -ESRCH;
}

static int open_pidfd(Peer *p) {
        int r = socket_pidfd(p);

        if (r >= 0 || r == -ESRCH) {
                p->pidfd = r >= 0 ? r : -1;
                p->exited = r == -ESRCH;
                return r;
        }
        if (r != -ENOPROTOOPT)
                return r;
        /* Before Linux 6.5: a pidfd opened now is racy only if the process
         * died and its pid was reused since connect; better than nothing. */
        p->broker->pidfd_by_pid = true;
        p->pidfd = (int) syscall(SYS_pidfd_open, p->pid, 0);
        return p->pidfd >= 0 ? 0 : -errno;
}

/* Asks the kernel now: a pidfd polls readable once its process has exited.
 * A peer that holds no pidfd (see peer_shed_pidfd()) asks its socket for
 * one. */
static bool process_is_running(const Peer *p) {
        struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
        bool running;

        if (p->exited)
                return false;
        if (p->pidfd >= 0)
                return poll(&pfd, 1, 0) == 0;
        if (p->broker->pidfd_by_pid)
                /* kill(0, 0) would ask about our own process group. */
                return p->pid > 0 && (kill(p->pid, 0) == 0 || errno == EPERM);
        pfd.fd = socket_pidfd(p);
        if (pfd.fd == -ESRCH)
                return false;
        if (pfd.fd < 0)
                return true;    /* out of fds for a moment: as the socket is there */
        running = poll(&pfd, 1, 0) == 0;
        close(pfd.fd);
        return running;
}

/* ---- the fd budget ----
 *
 * A client's socket is the one fd it must have. Its pidfd only saves a
 * system call per liveness check (pidwatch.h), so when the fds run short,
 * the oldest pidfds are given up for new clients' sockets: those clients'
 * liveness is then asked of the kernel through their socket at each check,
 * just as safely. Not on kernels without SO_PEERPIDFD, where a pidfd
 * cannot be had again safely. */

static void drop_pidfd(Peer *p) {
        Broker *b = p->broker;

        if (p->watched)
                pidwatch_remove(&b->pidwatch, p->pidfd);
        p->watched = false;
        if (p->pidfd >= 0) {
                close(p->pidfd);
                b->n_pidfds--;
        }
        p->pidfd = -1;
        list_unlink(&p->pidfd_link);
}

static void fit_fd_budget(Broker *b) {
        while (!b->pidfd_by_pid && b->n_peers + b->n_pidfds > b->fd_budget && !list_is_empty(&b->pidfd_peers)) {
                Peer *p = list_entry(b->pidfd_peers.next, Peer, pidfd_link);
                /* Its process's exit is what the pidfd would tell; say it now. */
                if (!p->exited && !process_is_running(p))
                        p->exited = true;
                drop_pidfd(p);
        }
}

/* What the kernel says about the connecting process besides SO_PEERCRED. */
typedef struct ProcCreds {
        uid_t ruid, euid, suid;
        uint64_t cap_eff;
        bool have_uids, have_caps;
        bool own_userns;                /* in the daemon's user namespace */
} ProcCreds;

/* PIDFD_GET_INFO (Linux 6.13): the uids through the pidfd itself, so even
 * of a process outside our pid namespace, which has no /proc entry here. */
#ifndef PIDFD_GET_INFO
struct pidfd_info {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
};
#define PIDFD_INFO_CREDS (1UL << 1)
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#endif

static void read_pidfd_info(const Peer *p, ProcCreds *c) {
        struct pidfd_info info = { .mask = PIDFD_INFO_CREDS };

        if (p->pidfd < 0 || ioctl(p->pidfd, PIDFD_GET_INFO, &info) < 0 || !(info.mask & PIDFD_INFO_CREDS))
                return;
        c->ruid = info.ruid;
        c->euid = info.euid;
        c->suid = info.suid;
        c->have_uids = true;
}

static bool read_text(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n < 0)
                return false;
        buf[n] = 0;
        return true;
}

/* Whether the process is in the daemon's user namespace. Its ns/user link
 * says so exactly, but only to whoever may ptrace it: a daemon without
 * capabilities (the shipped unit) may not, for other uids. Then its
 * uid_map, which anyone may read: shown relative to our namespace, it is
 * our own map only for our namespace or one whose owner could map every id
 * (CAP_SETUID above it: not a user that made it, whose map covers at most
 * its own uid). */
static bool is_daemon_userns(const Peer *p) {
        char path[64], mine[4096], theirs[4096];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) p->pid);
        if (stat(path, &st) == 0)
                return st.st_dev == p->broker->userns_dev && st.st_ino == p->broker->userns_ino;
        if (errno != EACCES && errno != EPERM)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) p->pid);
        return read_text("/proc/self/uid_map", mine, sizeof(mine)) && read_text(path, theirs, sizeof(theirs)) &&
               strcmp(mine, theirs) == 0;
}

/* Uid:, CapEff: and Name: from /proc/PID/status, and the user namespace,
 * whose own uid 0 and capabilities count for nothing here: /proc shows
 * uids as our namespace sees them, but CapEff relative to the process's. */
static void read_proc(Peer *p, ProcCreds *c) {
        char path[64], line[256];
        FILE *f;

        c->own_userns = is_daemon_userns(p);
        snprintf(path, sizeof(path), "/proc/%d/status", (int) p->pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long caps;
                unsigned r, e, s;
                if (strncmp(line, "Name:\t", 6) == 0) {
                        size_t n = strcspn(line + 6, "\n");
                        memcpy(p->comm, line + 6, MIN(n, sizeof(p->comm) - 1));
                } else if (sscanf(line, "CapEff: %llx", &caps) == 1) {
                        c->cap_eff = caps;
                        c->have_caps = true;
                } else if (sscanf(line, "Uid: %u %u %u", &r, &e, &s) == 3) {
                        c->ruid = r;
                        c->euid = e;
                        c->suid = s;
                        c->have_uids = true;
                }
        }
        fclose(f);
}

static uid_t mapped(const Broker *b, uid_t uid) {
        return uid == b->unmapped_uid ? PEER_UID_NONE : uid;
}

/* The snapshot the kill(2) rule uses from now on. SO_PEERCRED gave the
 * euid as of connect(); /proc (or the pidfd) gives all uids as of now,
 * which the process may have changed in between, by a set-user-ID exec
 * for instance, and its socket may now be held by a child that never had
 * them. So the reading that grants least wins:
 *   - the euid is the one of connect(): the uids are as read;
 *   - the euid changed: as a sender, only the connect-time euid, and only
 *     if the process still has it as its real uid; as a receiver, the real
 *     and saved uids it has now, as kill(2) would compare them;
 *   - nothing could be read: as a sender the connect-time euid, as a
 *     receiver nothing (only the policy, root and the process itself reach
 *     it).
 * uid 0 and CAP_KILL count only in the daemon's user namespace, only if
 * the euid was 0 at connect() and still is, and (CAP_KILL) only for uid 0:
 * a capability seen after accept() may have come from an exec after
 * connect(), which the kernel gives no way to rule out (sigbrokerd(8)). */
static void set_creds(Peer *p, const ProcCreds *c) {
        const Broker *b = p->broker;
        uid_t connect_euid = mapped(b, p->uid);

        p->root = p->cap_kill = false;
        if (!c->have_uids) {
                p->creds = (PeerCreds) { { connect_euid, PEER_UID_NONE }, { PEER_UID_NONE, PEER_UID_NONE } };
                return;
        }
        p->creds.recv[0] = mapped(b, c->ruid);
        p->creds.recv[1] = mapped(b, c->suid);
        if (c->euid == p->uid) {
                p->creds.send[0] = mapped(b, c->ruid);
                p->creds.send[1] = connect_euid;
        } else {
                p->creds.send[0] = c->ruid == p->uid ? connect_euid : PEER_UID_NONE;
                p->creds.send[1] = PEER_UID_NONE;
        }
        p->root = c->own_userns && p->uid == 0 && c->euid == 0;
        p->cap_kill = p->root && c->have_caps && ((c->cap_eff >> CAP_KILL_BIT) & 1);
}

static void read_creds(Peer *p) {
        ProcCreds c = {};

        if (p->pid > 0)
                read_proc(p, &c);
        else
                /* Outside our pid namespace: no /proc entry, never uid 0. */
                read_pidfd_info(p, &c);
        /* All that was read belongs to the process that connected only if
         * it still runs: a recycled pid would have given another's. */
        if (!process_is_running(p))
                c = (ProcCreds) {};
        set_creds(p, &c);
}

static int read_identity(Peer *p) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int r;

        if (getsockopt(p->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        p->pid = cred.pid;
        p->uid = cred.uid;
        p->gid = cred.gid;
        r = read_groups(p);
        if (r < 0)
                return r;
        if (open_pidfd(p) >= 0 && p->pidfd >= 0) {
                p->broker->n_pidfds++;
                list_link_tail(&p->broker->pidfd_peers, &p->pidfd_link);
                /* Without it (no room in the epoll set), each check polls. */
                p->watched = pidwatch_add(&p->broker->pidwatch, p->pidfd, p) >= 0;
        }
        read_creds(p);
        return 0;
}

/* The kernel shows ids without a mapping in our namespace as overflowuid;
 * only when that uid itself has no mapping does it stand for "unmapped". */
static bool uid_is_mapped_here(uid_t uid) {
        FILE *f = fopen("/proc/self/uid_map", "re");
        unsigned long inside, outside, count;
        bool found = false;

        if (!f)
                return true;
        while (!found && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
                found = uid >= inside && uid - inside < count;
        fclose(f);
        return found;
}

int peer_identity_init(Broker *b) {
        struct stat st;
        unsigned overflow = 65534;
        FILE *f;

        if (stat("/proc/self/ns/user", &st) < 0)
                return -errno;
        b->userns_dev = st.st_dev;
        b->userns_ino = st.st_ino;
        f = fopen("/proc/sys/kernel/overflowuid", "re");
        if (f) {
                if (fscanf(f, "%u", &overflow) != 1)
                        overflow = 65534;
                fclose(f);
        }
        b->unmapped_uid = uid_is_mapped_here(overflow) ? PEER_UID_NONE : overflow;
        return 0;
}

bool peer_is_alive(const Peer *p) {
        return p->watched ? !p->exited : process_is_running(p);
}

/* A pid of 0 is a process outside our pid namespace: getpgid(0) and
 * getsid(0) would give our own. */
pid_t peer_get_pgid(const Peer *p) {
        pid_t g = p->pid > 0 ? getpgid(p->pid) : -1;
        return g >= 0 && peer_is_alive(p) ? g : -ESRCH;
}

pid_t peer_get_sid(const Peer *p) {
        pid_t s = p->pid > 0 ? getsid(p->pid) : -1;
        return s >= 0 && peer_is_alive(p) ? s : -ESRCH;
}

bool peer_is_admin(const Peer *p) {
        PolicyPeer pp = { .uid = p->uid, .gid = p->gid, .groups = p->groups, .n_groups = p->n_groups };
        return p->root || config_is_admin(p->broker->config, &pp);
}

bool peer_kill_ok_by_cred(const Peer *from, const Peer *to) {
        if (from->cap_kill)
                return true;
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                        if (from->creds.send[i] != PEER_UID_NONE && from->creds.send[i] == to->creds.recv[j])
                                return true;
        return false;
}

/* One pid names one live process at a time, so two peers are the same
 * process if their pids match while both are alive. A connection whose
 * process died (a child may keep it open) is nobody's self, least of all
 * that of a new process that was given the same pid. Pid 0 is any number
 * of processes outside our pid namespace. And a process that changed its
 * uid between its connections is not taken for itself: a child may hold
 * the first one. */
bool peer_same_process(const Peer *a, const Peer *b) {
        return a == b || (a->pid > 0 && a->pid == b->pid && a->uid == b->uid && peer_is_alive(a) &&
                          peer_is_alive(b));
}

/* ---- life cycle ---- */

static int peer_setup(Broker *b, int fd, uint64_t id, Peer **ret) {
        Peer *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->broker = b;
        p->fd = fd;
        p->pidfd = -1;
        list_init(&p->link);
        list_init(&p->pidfd_link);
        list_init(&p->dirty_link);
        list_init(&p->defer_link);
        list_init(&p->hello_link);
        list_init(&p->subscriptions);
        list_init(&p->memberships);
        p->window = b->limits.default_window;
        p->connected_ns = now_ns(CLOCK_MONOTONIC);

        r = read_identity(p);
        if (r < 0)
                goto fail;
        p->user = user_ref_by_uid(&b->users, p->uid);
        if (!p->user) {
                r = -ENOMEM;
                goto fail;
        }
        p->user->connections++;
        p->id = id;
        if (hashtable_insert(&b->peers_by_id, &p->by_id, p->id) < 0 ||
            hashtable_insert(&b->peers_by_pid, &p->by_pid, (uint64_t) p->pid) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        p->events = EV_READ | EV_PERSIST;
        p->event = event_new(b->base, fd, p->events, peer_on_event, p);
        if (!p->event || event_add(p->event, NULL) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        list_link_tail(&b->peers, &p->link);
        list_link_tail(&b->unidentified, &p->hello_link);      /* a restored one leaves on the next tick */
        b->n_peers++;
        fit_fd_budget(b);
        *ret = p;
        return 0;

fail:
        /* The fd stays the caller's. */
        p->fd = -1;
        peer_free(p);
        return r;
}

int peer_new(Broker *b, int fd, Peer **ret) {
        Peer *p;
        int r = peer_setup(b, fd, ++b->next_client_id, &p);

        if (r < 0) {
                close(fd);
                return r;
        }
        state_store_client(b, p);
        state_log_peer(b, p);
        *ret = p;
        return 0;
}

int peer_new_restored(Broker *b, int fd, uint64_t id, Peer **ret) {
        return peer_setup(b, fd, id, ret);
}

static void release_pending(Pending *pe, void *userdata) {
        Peer *p = userdata;
        broker_uncharge(p->broker, p, pe);
}

Peer *peer_free(Peer *p) {
        Broker *b;

        if (!p)
                return NULL;
        b = p->broker;
        if (list_is_linked(&p->link) && !b->stopping) {
                /* Gone for good, not just this process of the daemon. */
                state_log_peer_free(b, p);
                state_forget_client(b, p);
        }
        broker_forget_peer(b, p);
        answer_free(p);         /* before the user goes: it is charged there */
        queue_clear(&p->queue, release_pending, p);
        queue_clear(&p->held, release_pending, p);
        hashtable_remove(&b->peers_by_id, &p->by_id);
        hashtable_remove(&b->peers_by_pid, &p->by_pid);
        if (list_is_linked(&p->link)) {
                list_unlink(&p->link);
                b->n_peers--;
                b->metrics.disconnections++;
        }
        list_unlink(&p->dirty_link);
        list_unlink(&p->hello_link);
        broker_undefer(b, p);
        if (p->event)
                event_free(p->event);
        if (p->user) {
                p->user->connections--;
                user_unref(p->user);
        }
        if (p->fd >= 0)
                close(p->fd);
        drop_pidfd(p);
        free(p->groups);
        free(p->lost);
        release_output(p);
        free(p);
        return NULL;
}

uint32_t peer_pending(const Peer *p) {
        return queue_length(&p->queue) + queue_length(&p->held);
}

uint64_t peer_pending_bytes(const Peer *p) {
        return p->queue.bytes + p->held.bytes;
}

/* ---- output ---- */

void peer_mark_dirty(Peer *p) {
        if (!list_is_linked(&p->dirty_link))
                list_link_tail(&p->broker->dirty, &p->dirty_link);
}

/* The first PEER_OUT_INITIAL bytes come from the broker's pool: a peer
 * whose answers are written as soon as they are made takes and gives back
 * a buffer per request, and should not go through malloc() for it. */
static void release_output(Peer *p) {
        if (p->out_cap == PEER_OUT_INITIAL)
                mempool_free(&p->broker->out_pool, p->out);
        else
                free(p->out);
        p->out = NULL;
        p->out_head = p->out_len = p->out_cap = 0;
}

static int reserve_output(Peer *p, size_t n) {
        uint32_t cap = p->out_cap;
        uint8_t *out;

        if (p->out_len + n <= cap)
                return 0;
        if (cap == 0 && n <= PEER_OUT_INITIAL) {
                out = mempool_alloc(&p->broker->out_pool);
                cap = PEER_OUT_INITIAL;
        } else {
                cap = cap ? cap : PEER_OUT_INITIAL;
                while (cap < p->out_len + n)
                        cap *= 2;
                /* Pool objects come from malloc() too. */
                out = realloc(p->out, cap);
        }
        if (!out)
                return -ENOMEM;
        p->out = out;
        p->out_cap = cap;
        return 0;
}

static int append_encoded(Peer *p, const SbFrame *f) {
        size_t n = sb_frame_size(f);
        int r = reserve_output(p, n);

        if (r < 0)
                return r;
        if (sb_frame_encode(f, p->out + p->out_len, n) < 0)
                return -EINVAL;
        /* Journaled as well: a reply owed must be written after a restart. */
        state_log_output(p->broker, p, p->out + p->out_len, n);
        p->out_len += (uint32_t) n;
        return 0;
}

static int append_later(PeerAnswer *a, const SbFrame *f) {
        size_t n = sb_frame_size(f);

        if (a->later_len + n > a->later_cap) {
                size_t cap = MAX(a->later_cap * 2, a->later_len + n);
                uint8_t *later = realloc(a->later, MAX(cap, (size_t) 1024));
                if (!later)
                        return -ENOMEM;
                a->later = later;
                a->later_cap = MAX(cap, (size_t) 1024);
        }
        if (sb_frame_encode(f, a->later + a->later_len, n) < 0)
                return -EINVAL;
        a->later_len += n;
        return 0;
}

static int append_output(Peer *p, const SbFrame *f) {
        return p->answer ? append_later(p->answer, f) : append_encoded(p, f);
}

uint64_t peer_backlog(const Peer *p) {
        uint64_t n = p->out_len - p->out_head;

        if (p->answer)
                n += PEER_OUT_SOFT_MAX + 1 + p->answer->later_len;
        return n;
}

static void answer_free(Peer *p) {
        PeerAnswer *a = p->answer;

        if (!a)
                return;
        p->user->answer_bytes -= a->src.cost;
        if (p->uid != 0)
                p->broker->answer_bytes -= a->src.cost;
        a->src.free(a->src.state);
        free(a->later);
        free(a);
        p->answer = NULL;
}

/* Make and frame the next part of the answer once the client has read
 * the one before; after the last, what waited behind it. */
static int answer_pump(Peer *p) {
        PeerAnswer *a = p->answer;
        int r;

        while (a && p->out_len - p->out_head < SB_DATA_MAX) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                int more = a->src.next(p, a->src.state, &text, &len);
                SbFrame f = {
                        .type = SB_MSG_DATA,
                        .data = {
                                .reply_serial = a->serial,
                                .error = more < 0 ? -more : 0,
                                .flags = more > 0 ? SB_DATA_MORE : 0,
                                .data = more < 0 ? "" : text,
                                .data_len = more < 0 ? 0 : (uint32_t) MIN(len, (size_t) SB_DATA_MAX),
                        },
                };
                r = append_encoded(p, &f);
                if (r < 0)
                        return r;
                if (more > 0)
                        continue;
                r = reserve_output(p, a->later_len);
                if (r < 0)
                        return r;
                if (a->later_len > 0) {
                        memcpy(p->out + p->out_len, a->later, a->later_len);
                        state_log_output(p->broker, p, p->out + p->out_len, a->later_len);
                        p->out_len += (uint32_t) a->later_len;
                }
                answer_free(p);
                a = NULL;
        }
        return 0;
}

int peer_queue_answer(Peer *p, uint64_t serial, const PeerAnswerSource *src) {
        PeerAnswer *a;

        assert(!p->answer);
        a = calloc(1, sizeof(*a));
        if (!a) {
                src->free(src->state);
                return -ENOMEM;
        }
        *a = (PeerAnswer) { .serial = serial, .src = *src };
        p->answer = a;
        p->user->answer_bytes += src->cost;
        if (p->uid != 0)        /* uid 0's have a budget of their own (query.c) */
                p->broker->answer_bytes += src->cost;
        peer_mark_dirty(p);
        return answer_pump(p);
}

int peer_queue_frame(Peer *p, const SbFrame *f) {
        int r = append_output(p, f);

        if (r >= 0)
                peer_mark_dirty(p);
        return r;
}

int peer_queue_deferred(Peer *p, const SbFrame *f) {
        int r = append_output(p, f);

        if (r < 0 || list_is_linked(&p->dirty_link))
                return r;       /* going out with this batch anyway */
        if (p->out_len - p->out_head > PEER_DEFER_MAX)
                peer_mark_dirty(p);
        else
                broker_defer(p->broker, p);
        return 0;
}

int peer_restore_output(Peer *p, const void *data, size_t n) {
        int r = reserve_output(p, n);

        if (r < 0)
                return r;
        memcpy(p->out + p->out_len, data, n);
        p->out_len += (uint32_t) n;
        peer_mark_dirty(p);
        return 0;
}

/* Copy whole control frames into buf, up to size bytes. Frames in p->out
 * were encoded by us, so their length fields are trusted. */
static size_t take_control(Peer *p, uint8_t *buf, size_t size) {
        uint32_t at = p->out_head;

        while (at < p->out_len) {
                uint32_t body;
                memcpy(&body, p->out + at + 4, 4);
                body = le32toh(body);
                if (at - p->out_head + SB_HEADER_SIZE + body > size)
                        break;
                at += SB_HEADER_SIZE + body;
        }
        if (at > p->out_head)
                memcpy(buf, p->out + p->out_head, at - p->out_head);
        return at - p->out_head;
}

void peer_consume_output(Peer *p, size_t n) {
        n = MIN(n, (size_t) (p->out_len - p->out_head));
        p->out_head += (uint32_t) n;
        if (p->out_head == p->out_len) {
                broker_undefer(p->broker, p);   /* nothing held back any more */
                /* Drained: give the memory back, idle peers should hold none. */
                release_output(p);
        }
}

static size_t encode_gaps(Peer *p, uint8_t *buf, size_t size, uint32_t *n_frames, uint32_t gaps[]) {
        size_t len = 0;

        if (!p->lost)
                return 0;
        for (uint32_t signo = 1; signo <= SB_SIGNO_MAX; signo++) {
                SbFrame f = { .type = SB_MSG_GAP };
                ssize_t n;
                if (p->lost[signo] == 0 || p->in_flight + *n_frames >= p->window)
                        continue;
                f.gap = (SbGap) { .signo = signo, .lost = p->lost[signo], .seq = p->seq + *n_frames + 1 };
                n = sb_frame_encode(&f, buf + len, size - len);
                if (n < 0)
                        break;
                len += (size_t) n;
                gaps[signo] = p->lost[signo];
                p->lost[signo] = 0;
                (*n_frames)++;
        }
        return len;
}

static SbFrame deliver_frame(const Pending *pe, uint64_t seq) {
        const Signal *s = pe->signal;

        return (SbFrame) {
                .type = SB_MSG_DELIVER,
                .deliver = {
                        .signo = s->signo,
                        .priority = pe->priority,
                        .sender_pid = s->sender_pid,
                        .sender_uid = s->sender_uid,
                        .sender_gid = s->sender_gid,
                        .merged = pe->merged,
                        .sender_client_id = s->sender_client_id,
                        .realtime_ns = s->realtime_ns,
                        .monotonic_ns = s->monotonic_ns,
                        .seq = seq,
                        .payload = s->payload,
                        .payload_len = s->payload_len,
                },
        };
}

/* A signal for several receivers is encoded once (its head), then copied
 * and patched with each receiver's priority, merge count and sequence
 * number; a signal for one is encoded straight into the packet. */
static ssize_t encode_delivery(Pending *pe, uint64_t seq, uint8_t *buf, size_t size) {
        Signal *s = pe->signal;
        size_t n = SB_DELIVER_HEAD_SIZE + (size_t) s->payload_len;
        SbFrame f;

        if (!s->head && s->n_ref > 1 && signal_head_alloc(s)) {
                f = deliver_frame(pe, seq);
                (void) sb_deliver_encode_head(&f, s->head);     /* a queued payload always fits */
        }
        if (!s->head) {
                f = deliver_frame(pe, seq);
                return sb_frame_encode(&f, buf, size);
        }
        if (n > size)
                return -ENOBUFS;
        memcpy(buf, s->head, SB_DELIVER_HEAD_SIZE);
        sb_deliver_patch(buf, pe->priority, pe->merged, seq);
        memcpy(buf + SB_DELIVER_HEAD_SIZE, s->payload, s->payload_len);
        return (ssize_t) n;
}

/* Encode deliveries while the window and the packet allow. Blocked signals
 * met on the way move to the held queue. */
static size_t encode_deliveries(Peer *p, uint8_t *buf, size_t size, uint32_t *n_frames, uint32_t *n_popped) {
        Broker *b = p->broker;
        size_t len = 0;
        Pending *pe;

        while (p->in_flight + *n_frames < p->window && (pe = queue_peek(&p->queue))) {
                ssize_t n;
                if (p->blocked & SB_SIGMASK(pe->signal->signo)) {
                        queue_pop(&p->queue);
                        if (queue_push_pending(&p->held, pe) < 0) {
                                /* Cannot hold it back: deliver it rather than lose it. */
                                queue_push_pending(&p->queue, pe);
                        } else
                                continue;
                }
                n = encode_delivery(pe, p->seq + *n_frames + 1, buf + len, size - len);
                if (n < 0)
                        break;
                b->in_packet[(*n_popped)++] = queue_pop(&p->queue);
                len += (size_t) n;
                (*n_frames)++;
        }
        return len;
}

static void unwind_packet(Peer *p, uint32_t n_popped, const uint32_t gaps[]) {
        for (uint32_t i = 0; i < n_popped; i++)
                if (queue_push_pending(&p->queue, p->broker->in_packet[i]) < 0) {
                        broker_uncharge(p->broker, p, p->broker->in_packet[i]);
                        pending_free(p->broker->in_packet[i]);
                }
        for (uint32_t signo = 1; p->lost && signo <= SB_SIGNO_MAX; signo++)
                p->lost[signo] += gaps[signo];
}

static void commit_packet(Peer *p, size_t n_control, uint32_t n_frames, uint32_t n_popped, const uint32_t gaps[]) {
        Broker *b = p->broker;

        peer_consume_output(p, n_control);
        if (n_control > 0)
                state_log_output_written(b, p, n_control);
        p->in_flight += n_frames;
        p->seq += n_frames;
        metrics_written(&b->metrics, p, b->in_packet, n_popped, n_frames);
        for (uint32_t signo = 1; b->journal && signo <= SB_SIGNO_MAX; signo++)
                if (gaps[signo] > 0)
                        state_log_gap(b, p, signo);
        for (uint32_t i = 0; i < n_popped; i++) {
                Pending *pe = b->in_packet[i];
                state_log_deliver(b, p, pe);
                p->stats.delivered++;
                p->stats.bytes_delivered += pe->signal->payload_len;
                b->metrics.delivered++;
                b->metrics.bytes_delivered += pe->signal->payload_len;
                broker_uncharge(b, p, pe);
                pending_free(pe);
        }
}

static void peer_update_events(Peer *p) {
        short want = EV_PERSIST;

        if (peer_backlog(p) <= PEER_OUT_SOFT_MAX)
                want |= EV_READ;
        if (p->write_blocked)
                want |= EV_WRITE;
        if (want == p->events)
                return;
        event_del(p->event);
        event_assign(p->event, p->broker->base, p->fd, want, peer_on_event, p);
        event_add(p->event, NULL);
        p->events = want;
}

int peer_flush(Peer *p) {
        Broker *b = p->broker;

        p->write_blocked = false;
        for (;;) {
                uint32_t gaps[SB_SIGNO_MAX + 1] = {};
                uint32_t n_frames = 0, n_popped = 0;
                size_t n_control, len;
                ssize_t n;

                if (answer_pump(p) < 0)
                        return -PEER_E_DISCONNECT;
                n_control = take_control(p, b->txbuf, SB_PACKET_MAX);
                len = n_control;
                len += encode_gaps(p, b->txbuf + len, SB_PACKET_MAX - len, &n_frames, gaps);
                len += encode_deliveries(p, b->txbuf + len, SB_PACKET_MAX - len, &n_frames, &n_popped);
                if (len == 0)
                        break;
                n = send(p->fd, b->txbuf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        unwind_packet(p, n_popped, gaps);
                        if (errno == EAGAIN || errno == ENOBUFS) {
                                p->write_blocked = true;
                                break;
                        }
                        return -PEER_E_DISCONNECT;
                }
                commit_packet(p, n_control, n_frames, n_popped, gaps);
        }
        peer_update_events(p);
        return 0;
}

/* ---- input ---- */

int peer_violation(Peer *p, int error, const char *fmt, ...) {
        Broker *b = p->broker;
        char text[SB_ERROR_TEXT_MAX];
        unsigned suppressed;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);

        b->metrics.violations++;
        if (ratelimit_test(&b->rl_violation, &suppressed)) {
                char f_pid[32], f_uid[32], f_id[48], f_sup[48];
                const char *fields[] = { f_pid, f_uid, f_id, f_sup, NULL };
                snprintf(f_pid, sizeof(f_pid), "SIGBROKER_PID=%d", (int) p->pid);
                snprintf(f_uid, sizeof(f_uid), "SIGBROKER_UID=%u", (unsigned) p->uid);
                snprintf(f_id, sizeof(f_id), "SIGBROKER_CLIENT_ID=%llu", (unsigned long long) p->id);
                snprintf(f_sup, sizeof(f_sup), "SIGBROKER_SUPPRESSED=%u", suppressed);
                log_fields(LOG_WARNING, SB_MID_VIOLATION, fields,
                           "Disconnecting client %llu (pid %d, uid %u, %s): %s",
                           (unsigned long long) p->id, (int) p->pid, (unsigned) p->uid, p->comm, text);
        }

        peer_say_goodbye(p, error, text);
        return -PEER_E_DISCONNECT;
}

static SbFrame error_frame(int error, const char *text) {
        return (SbFrame) {
                .type = SB_MSG_ERROR,
                .error = { .error = error, .text = text, .text_len = (uint16_t) MIN(strlen(text), SB_ERROR_TEXT_MAX) },
        };
}

void peer_say_goodbye(Peer *p, int error, const char *text) {
        SbFrame f = error_frame(error, text);

        /* Best effort: tell the client why, after what it was owed already. */
        if (peer_queue_frame(p, &f) >= 0)
                (void) peer_flush(p);
        socket_discard_input(p->fd, p->broker->rxbuf);
}

void peer_say_goodbye_fd(Broker *b, int fd, int error, const char *text) {
        SbFrame f = error_frame(error, text);
        ssize_t n = sb_frame_encode(&f, b->txbuf, SB_PACKET_MAX);

        if (n > 0)
                (void) send(fd, b->txbuf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
        socket_discard_input(fd, b->rxbuf);
}

static int peer_handle_packet(Peer *p, const uint8_t *buf, size_t len) {
        while (len > 0) {
                SbFrame f;
                size_t used;
                int r = sb_frame_parse_untrusted(buf, len, &f, &used);
                if (r != SB_PARSE_OK)
                        return peer_violation(p, EBADMSG, "%s", sb_parse_error_to_string(r));
                r = peer_handle_frame(p, &f);
                if (r < 0)
                        return r;
                /* Between two frames the state is whole: the journal's
                 * growth is bounded by one frame's records, not a packet's. */
                state_maybe_compact(p->broker);
                buf += used;
                len -= used;
        }
        return 0;
}

/* Packets read per wakeup, at most: one busy client cannot starve others. */
#define PEER_READ_BATCH 32
/* After a packet smaller than this, go back to the event loop instead of
 * reading on: epoll (level-triggered) brings us back if more is queued, and
 * a client that sends one request at a time does not pay a recv() that
 * finds nothing on every request. A pipelining client fills its packets, and
 * one failed recv() per 32 of those costs nothing. */
#define PEER_READ_MORE_MIN 4096

static int peer_read(Peer *p) {
        Broker *b = p->broker;

        for (int i = 0; i < PEER_READ_BATCH; i++) {
                ssize_t n;
                int r;

                if (peer_backlog(p) > PEER_OUT_SOFT_MAX)
                        break;  /* it does not read its replies: stop reading its requests */
                n = recv(p->fd, b->rxbuf, SB_PACKET_MAX, MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -PEER_E_DISCONNECT;
                }
                if (n == 0)
                        return -PEER_E_DISCONNECT;  /* hung up (an empty packet counts as that) */
                if ((size_t) n > SB_PACKET_MAX)
                        return peer_violation(p, EMSGSIZE, "packet of %zd bytes is over the limit of %u", n,
                                              (unsigned) SB_PACKET_MAX);
                r = peer_handle_packet(p, b->rxbuf, (size_t) n);
                if (r < 0)
                        return r;
                if (n < PEER_READ_MORE_MIN)
                        break;
        }
        return 0;
}

void peer_dispatch(Peer *p, short what) {
        int r = 0;

        /* Output first: it frees window and buffer room that input may need. */
        if (what & EV_WRITE)
                r = peer_flush(p);
        if (r >= 0 && (what & EV_READ))
                r = peer_read(p);
        if (r < 0) {
                peer_free(p);
                return;
        }
        peer_update_events(p);
}

/* A connection takes an fd and memory before its client has said who it
 * is; one that never does (idle sockets opened to exhaust the daemon) is
 * closed. The list is in connection order, so the search stops at the
 * first one still in time. */
void peer_close_unidentified(Broker *b) {
        uint64_t deadline = now_ns(CLOCK_MONOTONIC) - (uint64_t) b->limits.hello_timeout_sec * 1000000000u;

        while (!list_is_empty(&b->unidentified)) {
                Peer *p = list_entry(b->unidentified.next, Peer, hello_link);
                if (p->hello) {
                        list_unlink(&p->hello_link);
                        continue;
                }
                if (p->connected_ns > deadline)
                        break;
                b->metrics.hello_timeouts++;
                (void) peer_violation(p, ETIMEDOUT, "no hello within %u s", b->limits.hello_timeout_sec);
                peer_free(p);
        }
}

static void peer_on_event(evutil_socket_t fd, short what, void *userdata) {
        Peer *p = userdata;
        Broker *b = p->broker;

        peer_dispatch(p, what);
        broker_flush_dirty(b);
}
