/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The broker's verdict against the kernel's, pair by pair. For each row a
 * receiver and a sender run as real processes with the credentials the row
 * names (root, one user, another, set-user-ID style mixed uids, root of a
 * user namespace of its own, CAP_KILL without root, a file capability
 * gained by an exec after connecting, with or without a session in
 * common); the sender sends through the broker to the receiver's pid and
 * then asks the kernel with kill(2) for the same pair; the two answers must
 * agree. One row differs by design, CAP_KILL of a user other than root,
 * which the broker honours only through a policy grant (sigbrokerd(8)):
 * that row checks the difference, the next one the grant. The table is
 * printed to the test's output. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define SIG 35                          /* RTMIN+1 */
#define SIG_GRANTED 43                  /* RTMIN+9: the policy grants it to TEST_USER1 */
#define ROOT "root"

static const char config[] = "[policy]\nallow from uid:" TEST_USER1 " signals RTMIN+9\n";

/* One side of a pair. Users by name; ROOT for uid 0. */
typedef struct Side {
        const char *user;
        const char *ruid, *euid, *suid; /* mixed uids, if ruid is set */
        bool user_ns, keep_cap_kill, drop_cap_kill, new_session;
        bool exec_file_cap;             /* connect, exec a cap_kill+ep program, a child keeps the socket */
} Side;

typedef struct Row {
        const char *name;
        Side tx, rx;
        int signo;
        bool by_design;                 /* the kernel allows, the broker denies without a grant */
} Row;

#define AS(u, ...) { .user = u, __VA_ARGS__ }
#define MIXED(r, e, s) { .user = r, .ruid = r, .euid = e, .suid = s }
#define U1 TEST_USER1
#define U2 TEST_USER2

static const Row rows[] = {
        { .name = "root -> user1", .tx = AS(ROOT), .rx = AS(U1), .signo = SIG },
        { .name = "user1 -> user1", .tx = AS(U1), .rx = AS(U1), .signo = SIG },
        { .name = "user1 -> user2", .tx = AS(U1), .rx = AS(U2), .signo = SIG },
        { .name = "user1 -> root", .tx = AS(U1), .rx = AS(ROOT), .signo = SIG },
        { .name = "user2 -> root", .tx = AS(U2), .rx = AS(ROOT), .signo = SIG },
        { .name = "user1 -> r=root e=user1 s=root", .tx = AS(U1), .rx = MIXED(ROOT, U1, ROOT), .signo = SIG },
        { .name = "root -> r=root e=user1 s=root", .tx = AS(ROOT), .rx = MIXED(ROOT, U1, ROOT), .signo = SIG },
        { .name = "r=user1 e=user2 s=user2 -> user1", .tx = MIXED(U1, U2, U2), .rx = AS(U1), .signo = SIG },
        { .name = "r=user2 e=user1 s=user1 -> user1", .tx = MIXED(U2, U1, U1), .rx = AS(U1), .signo = SIG },
        { .name = "r=user1 e=user2 s=root -> root", .tx = MIXED(U1, U2, ROOT), .rx = AS(ROOT), .signo = SIG },
        { .name = "user2 -> r=user2 e=user1 s=user1", .tx = AS(U2), .rx = MIXED(U2, U1, U1), .signo = SIG },
        { .name = "user1 -> r=user2 e=user1 s=user1", .tx = AS(U1), .rx = MIXED(U2, U1, U1), .signo = SIG },
        { .name = "user1 -> r=user2 e=user2 s=user1", .tx = AS(U1), .rx = MIXED(U2, U2, U1), .signo = SIG },
        { .name = "userns root (user1) -> root", .tx = AS(U1, .user_ns = true), .rx = AS(ROOT), .signo = SIG },
        { .name = "userns root (user1) -> user2", .tx = AS(U1, .user_ns = true), .rx = AS(U2), .signo = SIG },
        { .name = "userns root (user1) -> user1", .tx = AS(U1, .user_ns = true), .rx = AS(U1), .signo = SIG },
        { .name = "root without CAP_KILL -> user1", .tx = AS(ROOT, .drop_cap_kill = true), .rx = AS(U1),
          .signo = SIG },
        { .name = "root without CAP_KILL -> root", .tx = AS(ROOT, .drop_cap_kill = true), .rx = AS(ROOT),
          .signo = SIG },
        { .name = "user1 + ambient CAP_KILL -> root", .tx = AS(U1, .keep_cap_kill = true), .rx = AS(ROOT),
          .signo = SIG, .by_design = true },
        { .name = "user1 + ambient CAP_KILL, granted -> root", .tx = AS(U1, .keep_cap_kill = true),
          .rx = AS(ROOT), .signo = SIG_GRANTED },
        { .name = "user1, exec cap_kill+ep, child -> root", .tx = AS(U1, .exec_file_cap = true), .rx = AS(ROOT),
          .signo = SIG },
        { .name = "user1 -> user2, same session", .tx = AS(U1), .rx = AS(U2), .signo = SIGCONT },
        { .name = "user1 -> user2, other session", .tx = AS(U1), .rx = AS(U2, .new_session = true),
          .signo = SIGCONT },
        { .name = "user1 -> user2, same session", .tx = AS(U1), .rx = AS(U2), .signo = SIG },
};

static uid_t uid_of(const char *user) {
        return strcmp(user, ROOT) == 0 ? 0 : user_uid(user);
}

static AgentOptions options(const Side *s) {
        AgentOptions o = {
                .user = strcmp(s->user, ROOT) == 0 ? NULL : s->user,
                .user_ns = s->user_ns,
                .keep_cap_kill = s->keep_cap_kill,
                .drop_cap_kill = s->drop_cap_kill,
                .new_session = s->new_session,
        };
        if (s->ruid) {
                o.mixed_uids = true;
                o.ruid = uid_of(s->ruid);
                o.euid = uid_of(s->euid);
                o.suid = uid_of(s->suid);
        }
        return o;
}

/* A copy of sleep(1) with the file capability cap_kill+ep, in a directory
 * every user may enter. */
static void make_cap_program(char dir[64], char path[64]) {
        static const char *const sources[] = { "/usr/bin/sleep", "/bin/sleep" };
        struct {
                uint32_t magic_etc;
                struct { uint32_t permitted, inheritable; } data[2];
        } cap = { .magic_etc = 0x02000000 | 1 /* VFS_CAP_REVISION_2, effective */,
                  .data = { { 1u << 5 /* CAP_KILL */, 0 } } };
        char cmd[256];

        strcpy(dir, "/tmp/sbcap-XXXXXX");
        ck_assert(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0755), 0);
        snprintf(path, 64, "%s/sleep", dir);
        for (size_t i = 0; i < sizeof(sources) / sizeof(*sources); i++)
                if (access(sources[i], X_OK) == 0) {
                        snprintf(cmd, sizeof(cmd), "cp %s %s", sources[i], path);
                        ck_assert_int_eq(system(cmd), 0);
                        break;
                }
        ck_assert_int_eq(chmod(path, 0755), 0);
        ck_assert_msg(setxattr(path, "security.capability", &cap, sizeof(cap), 0) == 0,
                      "cannot give %s a file capability: %m", path);
}

static bool has_cap_kill(pid_t pid) {
        char path[64], line[256];
        unsigned long long caps = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "CapEff: %llx", &caps) == 1)
                        break;
        fclose(f);
        return (caps >> 5) & 1;
}

typedef enum Verdict { ALLOWED, DENIED, OTHER } Verdict;

static const char *verdict_name(Verdict v) {
        return v == ALLOWED ? "allow" : v == DENIED ? "EPERM" : "other";
}

/* The broker: through the library (or the raw connection a child kept). */
static Verdict broker_verdict(Agent *tx, const Row *row, pid_t to, char *detail, size_t size) {
        sigbroker_send_result res = {};
        int r = row->tx.exec_file_cap ? agent_raw_send(tx, to, row->signo, &res)
                                      : agent_send(tx, SIGBROKER_TARGET_PID, (uint64_t) to, NULL, row->signo,
                                                   "matrix", &res);

        snprintf(detail, size, "r=%d queued=%u merged=%u denied=%u", r, res.queued, res.merged, res.denied);
        if (r == 0 && res.queued + res.merged == 1)
                return ALLOWED;
        if (r == -EPERM && res.denied == 1)
                return DENIED;
        return OTHER;
}

/* The kernel: kill(2) from the same process. A probe makes the same check
 * as any signal but SIGCONT, and kills nobody. */
static Verdict kernel_verdict(Agent *tx, const Row *row, pid_t to) {
        int r = agent_kill(tx, to, row->signo == SIGCONT ? SIGCONT : 0);
        return r == 0 ? ALLOWED : r == -EPERM ? DENIED : OTHER;
}

START_TEST(test_kill_matrix) {
        size_t n = sizeof(rows) / sizeof(*rows);
        Verdict broker[sizeof(rows) / sizeof(*rows)], kernel[sizeof(rows) / sizeof(*rows)];
        char detail[sizeof(rows) / sizeof(*rows)][96];
        int wrong = 0;
        TestDaemon d;

        daemon_start(&d, config, NULL);
        for (size_t i = 0; i < n; i++) {
                const Row *row = &rows[i];
                AgentOptions ro = options(&row->rx), to = options(&row->tx);
                pid_t exec_pid = 0;
                Agent rx, tx;

                agent_start(&rx, &d, &ro);
                ck_assert_int_eq(agent_subscribe(&rx, SIGBROKER_SIGMASK(row->signo)), 0);
                agent_start(&tx, &d, &to);
                if (row->tx.exec_file_cap) {
                        char dir[64], program[64];
                        make_cap_program(dir, program);
                        /* The daemon accepts only once the program runs, as
                         * it would if it were busy: it must not lend the
                         * program's capability to the child. */
                        ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
                        exec_pid = agent_connect_exec(&tx, program);
                        for (int t = 0; t < 500 && !has_cap_kill(exec_pid); t++)
                                nanosleep(&(struct timespec) { .tv_nsec = 10000000 }, NULL);
                        ck_assert_msg(has_cap_kill(exec_pid), "%s did not gain CAP_KILL", program);
                        unlink(program);
                        rmdir(dir);
                        ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
                }
                broker[i] = broker_verdict(&tx, row, rx.pid, detail[i], sizeof(detail[i]));
                kernel[i] = kernel_verdict(&tx, row, rx.pid);
                if (row->by_design ? broker[i] != DENIED || kernel[i] != ALLOWED : broker[i] != kernel[i] ||
                                                                                         broker[i] == OTHER)
                        wrong++;
                agent_stop(&tx);
                agent_stop(&rx);
                if (exec_pid > 0) {
                        kill(exec_pid, SIGKILL);
                        ck_assert_int_eq(waitpid(exec_pid, NULL, 0), exec_pid);
                }
        }

        printf("kill(2) matrix: %s = uid %u, %s = uid %u; sent to the receiver's pid\n", TEST_USER1,
               (unsigned) user_uid(TEST_USER1), TEST_USER2, (unsigned) user_uid(TEST_USER2));
        printf("%-44s %-8s %-7s %-7s %s\n", "sender -> receiver", "signal", "broker", "kill(2)", "");
        for (size_t i = 0; i < n; i++) {
                bool ok = rows[i].by_design ? broker[i] == DENIED && kernel[i] == ALLOWED
                                            : broker[i] == kernel[i] && broker[i] != OTHER;
                printf("%-44s %-8s %-7s %-7s %s%s%s\n", rows[i].name,
                       rows[i].signo == SIGCONT ? "SIGCONT" : rows[i].signo == SIG ? "RTMIN+1" : "RTMIN+9",
                       verdict_name(broker[i]), verdict_name(kernel[i]),
                       !ok ? "DISAGREE" : rows[i].by_design ? "differs by design: no policy grant" : "agree",
                       broker[i] == OTHER ? ", broker: " : "", broker[i] == OTHER ? detail[i] : "");
        }
        fflush(stdout);
        ck_assert_int_eq(daemon_stop(&d), 0);
        ck_assert_msg(wrong == 0, "the broker and kill(2) disagree in %d rows of the table above", wrong);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("kill-matrix");
        TCase *tc = tcase_create("pairs");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_kill_matrix);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return users_test_main(suite());
}
