/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define AGENT_EXTRA_MAX 16
#define AGENT_TIMEOUT_MS 10000

typedef enum AgentOp {
        OP_READY,                       /* only in replies: the agent is set up */
        OP_SUBSCRIBE,
        OP_UNSUBSCRIBE,
        OP_JOIN,
        OP_LEAVE,
        OP_SEND,
        OP_WAIT,
        OP_SETPGID,
        OP_SETSID,
        OP_IDS,
        OP_QUERY,
        OP_CONNECT_EXTRA,
        OP_CLOSE_EXTRA,
        OP_CONNECT_RAW,
        OP_HANDOFF,
        OP_KILL,
        OP_CONNECT_EXEC,
        OP_RAW_SEND,
        OP_EXIT,
} AgentOp;

typedef struct Request {
        int op;
        int signo;
        int kind;
        uint64_t id;                    /* target, mask, pgid, query kind */
        int timeout_ms;
        char text[64];                  /* group name or payload */
} Request;

typedef struct Reply {
        int op;
        int r;
        int error;
        sigbroker_send_result result;
        AgentSignal signal;
        pid_t pid, pgid, sid;
        uid_t uid;
        gid_t gid;
        uint64_t client_id;
        char text[AGENT_TEXT_MAX];
} Reply;

/* ---- users ---- */

static void sleep_ms(int ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

static int run_quiet(const char *const *argv) {
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -1;
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                dup2(fd, STDOUT_FILENO);
                execvp(argv[0], (char **) argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool in_group(const char *group, const char *user) {
        struct group *g = getgrnam(group);

        for (char **m = g ? g->gr_mem : NULL; m && *m; m++)
                if (strcmp(*m, user) == 0)
                        return true;
        return false;
}

/* useradd and friends fail while another one holds the lock on /etc/passwd
 * (tests of another build may be creating the same users): try again. */
static bool ensure(bool (*exists)(const char *, const char *), const char *a, const char *b,
                   const char *const *argv) {
        for (int i = 0; i < 50; i++) {
                if (exists(a, b))
                        return true;
                (void) run_quiet(argv);
                if (exists(a, b))
                        return true;
                sleep_ms(100);
        }
        return false;
}

static bool user_exists(const char *name, const char *unused) {
        return getpwnam(name) != NULL;
}

static bool group_exists(const char *name, const char *unused) {
        return getgrnam(name) != NULL;
}

static bool users_ensure(void) {
        static const char *const add1[] = { "useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                            TEST_USER1, NULL };
        static const char *const add2[] = { "useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                            TEST_USER2, NULL };
        static const char *const addg[] = { "groupadd", "--system", TEST_ADMIN_GROUP, NULL };
        static const char *const join[] = { "usermod", "-aG", TEST_ADMIN_GROUP, TEST_USER2, NULL };

        if (!ensure(user_exists, TEST_USER1, NULL, add1) || !ensure(user_exists, TEST_USER2, NULL, add2) ||
            !ensure(group_exists, TEST_ADMIN_GROUP, NULL, addg) || !ensure(in_group, TEST_ADMIN_GROUP, TEST_USER2, join))
                return false;
        /* Neither is a member of the other's group, nor sbtest1 an admin. */
        return !in_group(TEST_ADMIN_GROUP, TEST_USER1) && getpwnam(TEST_USER1)->pw_uid != getpwnam(TEST_USER2)->pw_uid;
}

int users_test_main(struct Suite *s) {
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: these tests switch to other users and must run as root\n");
                return 77;
        }
        if (access("/usr/sbin/useradd", X_OK) != 0 && access("/sbin/useradd", X_OK) != 0) {
                fprintf(stderr, "skipped: useradd is not installed\n");
                return 77;
        }
        if (!users_ensure()) {
                fprintf(stderr, "cannot create the users %s, %s and the group %s (with %s in it)\n", TEST_USER1,
                        TEST_USER2, TEST_ADMIN_GROUP, TEST_USER2);
                return 1;
        }
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

uid_t user_uid(const char *name) {
        struct passwd *pw = getpwnam(name);
        ck_assert_msg(pw, "no user %s", name);
        return pw->pw_uid;
}

gid_t user_gid(const char *name) {
        struct passwd *pw = getpwnam(name);
        ck_assert_msg(pw, "no user %s", name);
        return pw->pw_gid;
}

gid_t group_gid(const char *name) {
        struct group *g = getgrnam(name);
        ck_assert_msg(g, "no group %s", name);
        return g->gr_gid;
}

/* In a child: drop root for user, with its supplementary groups from the
 * group database or none. The capabilities go with uid 0. */
int user_become(const char *user, bool clear_groups) {
        struct passwd *pw;
        uid_t uid;
        gid_t gid;

        if (!user)
                return 0;
        pw = getpwnam(user);
        if (!pw)
                return -ENOENT;
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if ((clear_groups ? setgroups(0, NULL) : initgroups(user, gid)) < 0)
                return -errno;
        if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        return 0;
}

/* ---- the agent's side ---- */

typedef struct AgentState {
        int fd;
        sigbroker *sb;
        sigbroker *extra[AGENT_EXTRA_MAX];
        int n_extra;
        const char *socket;
        int raw_fd;                     /* OP_CONNECT_EXEC's connection, -1 */
        bool raw_hello;
} AgentState;

static void fill_ids(Reply *rep) {
        rep->pid = getpid();
        rep->pgid = getpgid(0);
        rep->sid = getsid(0);
        rep->uid = getuid();
        rep->gid = getgid();
}

static int do_send(AgentState *s, const Request *q, Reply *rep) {
        bool group = q->kind == SIGBROKER_TARGET_GROUP;
        sigbroker_target t = { .kind = q->kind, .id = q->id, .group = group ? q->text : NULL };
        const char *payload = group ? q->text + strlen(q->text) + 1 : q->text;

        return sigbroker_send(s->sb, &t, q->signo, 0, payload, strlen(payload), &rep->result);
}

static int do_wait(AgentState *s, const Request *q, Reply *rep) {
        sigbroker_info info;
        int r = sigbroker_wait(s->sb, (int64_t) q->timeout_ms * 1000, &info);

        if (r < 0)
                return r;
        rep->signal = (AgentSignal) {
                .signo = info.signo,
                .sender_pid = info.sender_pid,
                .sender_uid = info.sender_uid,
                .sender_gid = info.sender_gid,
                .sender_client_id = info.sender_client_id,
        };
        memcpy(rep->signal.payload, info.payload,
               info.payload_len < sizeof(rep->signal.payload) ? info.payload_len : sizeof(rep->signal.payload) - 1);
        return r;
}

static int do_query(AgentState *s, const Request *q, Reply *rep) {
        char *text = NULL;
        int r = sigbroker_query(s->sb, (int) q->id, 0, 0, &text);

        if (text)
                snprintf(rep->text, sizeof(rep->text), "%s", text);
        free(text);
        return r;
}

static int do_connect_raw(AgentState *s, Reply *rep) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        SbFrame hello = { .type = SB_MSG_HELLO, .serial = 1 }, f;
        static uint8_t buf[SB_PACKET_MAX];
        struct pollfd pfd = { .events = POLLIN };
        ssize_t n;
        size_t used;
        int fd, r = 0;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->socket);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        n = sb_frame_encode(&hello, buf, sizeof(buf));
        /* The daemon may have hung up already: its ERROR is still to be read. */
        (void) send(fd, buf, (size_t) n, MSG_NOSIGNAL);
        pfd.fd = fd;
        if (poll(&pfd, 1, 5000) != 1)
                r = -ETIMEDOUT;
        else if ((n = recv(fd, buf, sizeof(buf), 0)) <= 0)
                r = n == 0 ? -ECONNRESET : -errno;
        else if (sb_frame_parse_untrusted(buf, (size_t) n, &f, &used) != SB_PARSE_OK)
                r = -EBADMSG;
        else {
                r = f.type;
                if (f.type == SB_MSG_ERROR) {
                        rep->error = f.error.error;
                        snprintf(rep->text, sizeof(rep->text), "%.*s", (int) f.error.text_len, f.error.text);
                }
        }
        close(fd);
        return r;
}

/* Connect, then fork: the parent (the process that connected) execs
 * program, the child goes on as the agent with the connection. */
static int do_connect_exec(AgentState *s, const Request *q) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pid_t child;
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->socket);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        child = fork();
        if (child < 0)
                return -errno;
        if (child > 0) {
                close(s->fd);
                execl(q->text, q->text, "60", (char *) NULL);
                _exit(127);
        }
        s->raw_fd = fd;
        return 0;
}

/* One frame out, the first of type in, within 5 s. No ck_assert() here:
 * check's messages would go to the test over our socketpair. */
static int raw_call(int fd, const SbFrame *f, uint8_t type, uint8_t *buf, size_t size, SbFrame *ret) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n = sb_frame_encode(f, buf, size);
        size_t used;

        if (n <= 0)
                return -EINVAL;
        if (send(fd, buf, (size_t) n, MSG_NOSIGNAL) != n)
                return -errno;
        for (;;) {
                if (poll(&pfd, 1, 5000) != 1)
                        return -ETIMEDOUT;
                n = recv(fd, buf, size, 0);
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : -errno;
                if (sb_frame_parse_untrusted(buf, (size_t) n, ret, &used) != SB_PARSE_OK)
                        return -EBADMSG;
                if (ret->type == type)
                        return 0;
                if (ret->type == SB_MSG_ERROR)
                        return -ECONNRESET;
        }
}

static int do_raw_send(AgentState *s, const Request *q, Reply *rep) {
        SbFrame hello = { .type = SB_MSG_HELLO, .serial = 1 },
                f = { .type = SB_MSG_SEND, .serial = 2,
                      .send = { .signo = (uint32_t) q->signo, .target_kind = SB_TARGET_PID, .target = q->id } };
        static uint8_t buf[SB_PACKET_MAX];
        SbFrame res;
        int r;

        if (s->raw_fd < 0)
                return -ENOTCONN;
        if (!s->raw_hello) {
                r = raw_call(s->raw_fd, &hello, SB_MSG_WELCOME, buf, sizeof(buf), &res);
                if (r < 0)
                        return r;
                s->raw_hello = true;
        }
        r = raw_call(s->raw_fd, &f, SB_MSG_RESULT, buf, sizeof(buf), &res);
        if (r < 0)
                return r;
        rep->result = (sigbroker_send_result) { .queued = res.result.queued, .merged = res.result.merged,
                                                .refused = res.result.refused, .denied = res.result.denied };
        return -res.result.error;
}

/* Returns true to go on, false to exit. */
static bool agent_handle(AgentState *s, const Request *q, Reply *rep) {
        *rep = (Reply) { .op = q->op };

        switch (q->op) {
        case OP_SUBSCRIBE:
                rep->r = sigbroker_subscribe(s->sb, q->id, 0);
                break;
        case OP_UNSUBSCRIBE:
                rep->r = sigbroker_unsubscribe(s->sb, q->id);
                break;
        case OP_JOIN:
                rep->r = sigbroker_join(s->sb, q->text);
                break;
        case OP_LEAVE:
                rep->r = sigbroker_leave(s->sb, q->text);
                break;
        case OP_SEND:
                rep->r = do_send(s, q, rep);
                break;
        case OP_WAIT:
                rep->r = do_wait(s, q, rep);
                break;
        case OP_SETPGID:
                rep->r = setpgid(0, (pid_t) q->id) < 0 ? -errno : 0;
                break;
        case OP_SETSID:
                rep->r = setsid() < 0 ? -errno : 0;
                break;
        case OP_IDS:
                break;
        case OP_QUERY:
                rep->r = do_query(s, q, rep);
                break;
        case OP_CONNECT_EXTRA:
                rep->r = s->n_extra < AGENT_EXTRA_MAX ? sigbroker_connect(s->socket, &s->extra[s->n_extra]) : -ENOSPC;
                if (rep->r == 0)
                        s->n_extra++;
                break;
        case OP_CLOSE_EXTRA:
                rep->r = s->n_extra > 0 ? 0 : -ENOENT;
                if (s->n_extra > 0) {
                        s->n_extra--;
                        s->extra[s->n_extra] = sigbroker_close(s->extra[s->n_extra]);
                }
                break;
        case OP_CONNECT_RAW:
                rep->r = do_connect_raw(s, rep);
                break;
        case OP_HANDOFF: {
                pid_t child = fork();
                if (child < 0)
                        rep->r = -errno;
                else if (child > 0)
                        _exit(0);       /* the child answers, as the agent from now on */
                break;
        }
        case OP_KILL:
                rep->r = kill((pid_t) q->id, q->signo) < 0 ? -errno : 0;
                break;
        case OP_CONNECT_EXEC:
                rep->r = do_connect_exec(s, q);
                break;
        case OP_RAW_SEND:
                rep->r = do_raw_send(s, q, rep);
                break;
        case OP_EXIT:
                return false;
        default:
                rep->r = -EOPNOTSUPP;
        }
        fill_ids(rep);
        return true;
}

static int set_caps(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct c[2] = {
                { (uint32_t) effective, (uint32_t) permitted, (uint32_t) inheritable },
                { (uint32_t) (effective >> 32), (uint32_t) (permitted >> 32), (uint32_t) (inheritable >> 32) },
        };
        return syscall(SYS_capset, &h, c) < 0 ? -errno : 0;
}

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                r = -errno;
        close(fd);
        return r;
}

/* The identity the options ask for, from root. */
static int agent_identity(const AgentOptions *o) {
        uint64_t kill_bit = 1ull << CAP_KILL, all = 0;
        char map[64];
        int r;

        if (o->drop_cap_kill) {
                struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
                struct __user_cap_data_struct c[2];
                if (syscall(SYS_capget, &h, c) < 0)
                        return -errno;
                all = c[0].permitted | (uint64_t) c[1].permitted << 32;
                return set_caps(all & ~kill_bit, all, 0);
        }
        if (o->keep_cap_kill && prctl(PR_SET_KEEPCAPS, 1) < 0)
                return -errno;
        if (o->mixed_uids) {
                /* The groups of user, then three uids of the test's choosing. */
                struct passwd *pw = o->user ? getpwnam(o->user) : NULL;
                gid_t gid = pw ? pw->pw_gid : 0;
                r = 0;
                if ((pw && !o->clear_groups ? initgroups(o->user, gid) : setgroups(0, NULL)) < 0 ||
                    setresgid(gid, gid, gid) < 0 || setresuid(o->ruid, o->euid, o->suid) < 0)
                        r = -errno;
        } else
                r = user_become(o->user, o->clear_groups);
        if (r == 0 && o->keep_cap_kill) {
                r = set_caps(kill_bit, kill_bit, kill_bit);
                if (r == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) < 0)
                        r = -errno;
        }
        if (r == 0 && o->user_ns) {
                uid_t uid = geteuid();
                gid_t gid = getegid();
                /* Dumpable again after the uid change, or the maps are root's to write. */
                prctl(PR_SET_DUMPABLE, 1);
                if (unshare(CLONE_NEWUSER) < 0)
                        return -errno;
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
                r = write_file("/proc/self/uid_map", map);
                if (r == 0)
                        r = write_file("/proc/self/setgroups", "deny");
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
                if (r == 0)
                        r = write_file("/proc/self/gid_map", map);
        }
        return r;
}

static int agent_main(int fd, const TestDaemon *d, const AgentOptions *o) {
        AgentState s = { .fd = fd, .socket = d->socket, .raw_fd = -1 };
        Reply rep = { .op = OP_READY };
        Request q;

        if (o->new_session && setsid() < 0)
                rep.r = -errno;
        if (rep.r == 0 && o->set_pgid && setpgid(0, o->pgid) < 0)
                rep.r = -errno;
        if (rep.r == 0)
                rep.r = agent_identity(o);
        /* After the uid change, which would clear it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (rep.r == 0 && !o->no_connect) {
                rep.r = sigbroker_connect(d->socket, &s.sb);
                if (rep.r == 0)
                        rep.r = sigbroker_subscribe(s.sb, SIGBROKER_SIGMASK(AGENT_MARK), 0);
                if (rep.r == 0)
                        sigbroker_get_client_id(s.sb, &rep.client_id);
        }
        fill_ids(&rep);
        if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0 || rep.r < 0)
                return 1;

        for (;;) {
                ssize_t n = recv(fd, &q, sizeof(q), 0);
                if (n <= 0)
                        return 0;       /* the test is gone */
                if (n != sizeof(q) || !agent_handle(&s, &q, &rep))
                        return 0;
                if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
                        return 1;
        }
}

/* ---- the test's side ---- */

static void agent_recv(Agent *a, Reply *rep, int timeout_ms) {
        struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
        ssize_t n;

        ck_assert_msg(poll(&pfd, 1, timeout_ms) == 1, "agent %s (pid %d) did not answer", a->name, (int) a->pid);
        n = recv(a->fd, rep, sizeof(*rep), 0);
        ck_assert_msg(n == sizeof(*rep), "agent %s (pid %d) is gone", a->name, (int) a->pid);
}

static Reply agent_call(Agent *a, const Request *q) {
        Reply rep;

        ck_assert_int_eq(send(a->fd, q, sizeof(*q), MSG_NOSIGNAL), (ssize_t) sizeof(*q));
        agent_recv(a, &rep, q->op == OP_WAIT ? q->timeout_ms + AGENT_TIMEOUT_MS : AGENT_TIMEOUT_MS);
        ck_assert_int_eq(rep.op, q->op);
        return rep;
}

/* Fork with the given pid: the kernel hands out ns_last_pid + 1 next, if
 * nobody else forks in between and that pid is free. */
static pid_t fork_with_pid(pid_t want) {
        char text[32];
        int fd;

        if (want <= 1)
                return fork();
        fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                int n = snprintf(text, sizeof(text), "%d", (int) want - 1);
                if (write(fd, text, (size_t) n) != n)
                        fprintf(stderr, "cannot write ns_last_pid: %m\n");
                close(fd);
        }
        return fork();
}

void agent_start(Agent *a, const TestDaemon *d, const AgentOptions *o) {
        static const AgentOptions none = {};
        int sv[2];
        Reply rep;

        o = o ? o : &none;
        /* Agents that hand their connection over to a child leave that child
         * to the test process (which check forks per test): reap it here. */
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        *a = (Agent) { .name = o->user ? o->user : "root" };
        a->pid = fork_with_pid(o->want_pid);
        ck_assert(a->pid >= 0);
        if (a->pid == 0) {
                /* Keep only our end: copies of other agents' ends would keep
                 * them from seeing the test go away. */
                if (dup2(sv[1], 3) < 0)
                        _exit(1);
                close_range(4, ~0U, 0);
                _exit(agent_main(3, d, o));
        }
        close(sv[1]);
        a->fd = sv[0];
        agent_recv(a, &rep, AGENT_TIMEOUT_MS);
        ck_assert_int_eq(rep.op, OP_READY);
        ck_assert_msg(rep.r == 0, "agent %s could not set up: %s", a->name, strerror(-rep.r));
        a->uid = rep.uid;
        a->gid = rep.gid;
        a->client_id = rep.client_id;
}

int agent_stop(Agent *a) {
        Request q = { .op = OP_EXIT };
        int status = 0;

        if (a->pid <= 0)
                return -1;
        (void) send(a->fd, &q, sizeof(q), MSG_NOSIGNAL);
        close(a->fd);
        for (int i = 0; i < 500; i++) {
                if (waitpid(a->pid, &status, WNOHANG) == a->pid)
                        break;
                if (i == 499) {
                        kill(a->pid, SIGKILL);
                        waitpid(a->pid, &status, 0);
                }
                sleep_ms(10);
        }
        a->pid = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int agent_subscribe(Agent *a, uint64_t mask) {
        return agent_call(a, &(Request) { .op = OP_SUBSCRIBE, .id = mask }).r;
}

int agent_unsubscribe(Agent *a, uint64_t mask) {
        return agent_call(a, &(Request) { .op = OP_UNSUBSCRIBE, .id = mask }).r;
}

int agent_join(Agent *a, const char *group) {
        Request q = { .op = OP_JOIN };
        snprintf(q.text, sizeof(q.text), "%s", group);
        return agent_call(a, &q).r;
}

int agent_leave(Agent *a, const char *group) {
        Request q = { .op = OP_LEAVE };
        snprintf(q.text, sizeof(q.text), "%s", group);
        return agent_call(a, &q).r;
}

int agent_send(Agent *a, int kind, uint64_t id, const char *group, int signo, const char *payload,
               sigbroker_send_result *ret) {
        Request q = { .op = OP_SEND, .kind = kind, .id = id, .signo = signo };
        Reply rep;

        payload = payload ? payload : "";
        if (kind == SIGBROKER_TARGET_GROUP) {
                ck_assert_uint_lt(strlen(group) + strlen(payload) + 2, sizeof(q.text));
                strcpy(q.text, group);
                strcpy(q.text + strlen(group) + 1, payload);
        } else
                snprintf(q.text, sizeof(q.text), "%s", payload);
        rep = agent_call(a, &q);
        if (ret)
                *ret = rep.result;
        return rep.r;
}

int agent_wait(Agent *a, int timeout_ms, AgentSignal *ret) {
        Reply rep = agent_call(a, &(Request) { .op = OP_WAIT, .timeout_ms = timeout_ms });
        if (ret)
                *ret = rep.signal;
        return rep.r;
}

int agent_collect(Agent *a, AgentSignal *ret, int max) {
        int n = 0;

        for (;;) {
                AgentSignal s;
                int r = agent_wait(a, 5000, &s);
                ck_assert_msg(r > 0, "agent %s: no mark within 5 s (%d)", a->name, r);
                if (r == AGENT_MARK)
                        return n;
                ck_assert_msg(n < max, "agent %s received more than %d signals", a->name, max);
                ret[n++] = s;
        }
}

int agent_setpgid(Agent *a, pid_t pgid) {
        return agent_call(a, &(Request) { .op = OP_SETPGID, .id = (uint64_t) pgid }).r;
}

int agent_setsid(Agent *a) {
        return agent_call(a, &(Request) { .op = OP_SETSID }).r;
}

void agent_ids(Agent *a, pid_t *ret_pgid, pid_t *ret_sid) {
        Reply rep = agent_call(a, &(Request) { .op = OP_IDS });
        ck_assert_int_eq(rep.pid, a->pid);
        if (ret_pgid)
                *ret_pgid = rep.pgid;
        if (ret_sid)
                *ret_sid = rep.sid;
}

int agent_query(Agent *a, int kind, char ret_text[AGENT_TEXT_MAX]) {
        Reply rep = agent_call(a, &(Request) { .op = OP_QUERY, .id = (uint64_t) kind });
        if (ret_text)
                memcpy(ret_text, rep.text, AGENT_TEXT_MAX);
        return rep.r;
}

int agent_connect_extra(Agent *a) {
        return agent_call(a, &(Request) { .op = OP_CONNECT_EXTRA }).r;
}

void agent_connect_extra_start(Agent *a) {
        Request q = { .op = OP_CONNECT_EXTRA };
        ck_assert_int_eq(send(a->fd, &q, sizeof(q), MSG_NOSIGNAL), (ssize_t) sizeof(q));
}

int agent_connect_extra_finish(Agent *a) {
        Reply rep;

        agent_recv(a, &rep, AGENT_TIMEOUT_MS);
        ck_assert_int_eq(rep.op, OP_CONNECT_EXTRA);
        return rep.r;
}

int agent_close_extra(Agent *a) {
        return agent_call(a, &(Request) { .op = OP_CLOSE_EXTRA }).r;
}

int agent_connect_raw(Agent *a, int *ret_error, char ret_text[AGENT_TEXT_MAX]) {
        Reply rep = agent_call(a, &(Request) { .op = OP_CONNECT_RAW });
        if (ret_error)
                *ret_error = rep.error;
        if (ret_text)
                memcpy(ret_text, rep.text, AGENT_TEXT_MAX);
        return rep.r;
}

int agent_kill(Agent *a, pid_t pid, int signo) {
        return agent_call(a, &(Request) { .op = OP_KILL, .id = (uint64_t) pid, .signo = signo }).r;
}

pid_t agent_connect_exec(Agent *a, const char *program) {
        pid_t old = a->pid;
        Request q = { .op = OP_CONNECT_EXEC };
        Reply rep;

        ck_assert_uint_lt(strlen(program), sizeof(q.text));
        strcpy(q.text, program);
        rep = agent_call(a, &q);
        ck_assert_msg(rep.r == 0, "connect and exec: %s", strerror(-rep.r));
        ck_assert_int_ne(rep.pid, old);
        a->pid = rep.pid;
        return old;
}

int agent_raw_send(Agent *a, pid_t pid, int signo, sigbroker_send_result *ret) {
        Reply rep = agent_call(a, &(Request) { .op = OP_RAW_SEND, .id = (uint64_t) pid, .signo = signo });
        if (ret)
                *ret = rep.result;
        return rep.r;
}

pid_t agent_handoff(Agent *a) {
        pid_t old = a->pid;
        Reply rep = agent_call(a, &(Request) { .op = OP_HANDOFF });
        int status;

        ck_assert_int_eq(rep.r, 0);
        ck_assert_int_ne(rep.pid, old);
        ck_assert_int_eq(waitpid(old, &status, 0), old);
        a->pid = rep.pid;
        return old;
}

void agent_mark(const TestDaemon *d, const Agent *a) {
        sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT, .id = a->client_id };
        sigbroker *sb = NULL;

        ck_assert_int_eq(sigbroker_connect(d->socket, &sb), 0);
        ck_assert_int_eq(sigbroker_send(sb, &t, AGENT_MARK, 0, "mark", 4, NULL), 0);
        sigbroker_close(sb);
}

/* ---- sigbrokerctl ---- */

static char *drain_pipes(int out, int err, char **ret_err) {
        struct pollfd pfd[2] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN } };
        char *text[2] = { calloc(1, 65536), calloc(1, 65536) };
        size_t len[2] = {};
        int open_fds = 2;

        while (open_fds > 0 && poll(pfd, 2, AGENT_TIMEOUT_MS) > 0)
                for (int i = 0; i < 2; i++) {
                        ssize_t n;
                        if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        n = read(pfd[i].fd, text[i] + len[i], 65535 - len[i]);
                        if (n <= 0) {
                                pfd[i].fd = -1;
                                open_fds--;
                        } else
                                len[i] += (size_t) n;
                }
        *ret_err = text[1];
        return text[0];
}

int ctl_run(const TestDaemon *d, const char *user, bool clear_groups, char **ret_out, char **ret_err,
            const char *const *args) {
        const char *exe = getenv("SIGBROKERCTL");
        const char *argv[32];
        int out[2], err[2], n = 0, status;
        char *o, *e;
        pid_t pid;

        ck_assert_msg(exe, "SIGBROKERCTL is not set (run the tests through meson)");
        argv[n++] = exe;
        argv[n++] = "--socket";
        argv[n++] = d->socket;
        for (int i = 0; args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                if (user_become(user, clear_groups) < 0)
                        _exit(126);
                dup2(out[1], STDOUT_FILENO);
                dup2(err[1], STDERR_FILENO);
                unsetenv("SIGBROKER_SOCKET");
                execv(exe, (char **) argv);
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        o = drain_pipes(out[0], err[0], &e);
        close(out[0]);
        close(err[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        if (ret_out)
                *ret_out = o;
        else
                free(o);
        if (ret_err)
                *ret_err = e;
        else
                free(e);
        ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) < 126, "cannot run %s as %s", exe,
                      user ? user : "root");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
