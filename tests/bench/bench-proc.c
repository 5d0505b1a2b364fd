/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes of the bench: every one is registered, killed and reaped
 * at the end and on error. Pools of receiver workers report through a
 * shared mapping plus a notify pipe (one byte: 'R'eady, 'D'one, 'F'ailed).
 *
 * The registry and the temp paths are process globals on purpose: the
 * guard (SIGALRM, SIGINT, SIGTERM) must reach them from a signal handler
 * to kill every child and remove every socket before exiting.
 */

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench.h"

#define PROCS_MAX 4096
#define PATHS_MAX 16

static pid_t procs[PROCS_MAX];
static char paths[PATHS_MAX][108];
static char guard_tmpdir[64];
static pid_t guard_owner;

static void guard_handler(int sig) {
        static const char msg[] = "sigbroker-bench: time limit or signal: killing children, exiting\n";

        if (getpid() != guard_owner)
                _exit(128 + sig);
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] > 0)
                        kill(procs[i], SIGKILL);
        for (size_t i = 0; i < PATHS_MAX; i++)
                if (paths[i][0])
                        unlink(paths[i]);
        if (guard_tmpdir[0])
                rmdir(guard_tmpdir);
        _exit(sig == SIGALRM ? 124 : 128 + sig);
}

void bench_guard_install(const char *tmpdir) {
        struct sigaction sa = { .sa_handler = guard_handler };

        guard_owner = getpid();
        snprintf(guard_tmpdir, sizeof(guard_tmpdir), "%s", tmpdir);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

/* 0 disarms; every measurement runs under an armed guard. */
void bench_guard_arm(unsigned seconds) {
        alarm(seconds);
}

int bench_guard_add_path(const char *path) {
        if (strlen(path) >= sizeof(paths[0]))
                return -ENAMETOOLONG;
        for (size_t i = 0; i < PATHS_MAX; i++)
                if (!paths[i][0]) {
                        snprintf(paths[i], sizeof(paths[i]), "%s", path);
                        return 0;
                }
        return -ENOSPC;
}

void bench_guard_remove_path(const char *path) {
        for (size_t i = 0; i < PATHS_MAX; i++)
                if (paths[i][0] && strcmp(paths[i], path) == 0) {
                        unlink(paths[i]);
                        paths[i][0] = 0;
                }
}

/* <tmpdir>/<prefix>.sock, .conf and .log, removed by the guard if the
 * bench dies before bench_server_paths_remove(). */
int bench_server_paths_init(struct bench_server_paths *p, const struct bench_config *cfg, const char *prefix) {
        char *const files[] = { p->sock, p->conf, p->log };
        static const char *const exts[] = { "sock", "conf", "log" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char name[64];
                int r;

                snprintf(name, sizeof(name), "%s.%s", prefix, exts[i]);
                r = bench_path_join(files[i], sizeof(p->sock), cfg->tmpdir, name);
                if (r >= 0)
                        r = bench_guard_add_path(files[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

void bench_server_paths_remove(struct bench_server_paths *p) {
        char *const files[] = { p->sock, p->conf, p->log };

        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i][0]) {
                        bench_guard_remove_path(files[i]);
                        files[i][0] = 0;
                }
}

/* What a server that failed to start wrote to its stderr. */
void bench_server_show_log(const struct bench_server_paths *p, const char *who) {
        char buf[1024];
        FILE *f = fopen(p->log, "re");
        size_t k;

        if (!f)
                return;
        k = fread(buf, 1, sizeof(buf) - 1, f);
        buf[k] = 0;
        fclose(f);
        if (k > 0)
                fprintf(stderr, "%s said: %s\n", who, buf);
}

static int registry_add(pid_t pid) {
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] == 0) {
                        procs[i] = pid;
                        return 0;
                }
        return -ENOSPC;
}

static void registry_remove(pid_t pid) {
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] == pid)
                        procs[i] = 0;
}

/* In every child: default signal handling, die with the parent, bounded life. */
static void child_init(pid_t parent) {
        signal(SIGALRM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(1);
        alarm(BENCH_CHILD_SECONDS);
}

int bench_spawn(bench_child_fn fn, void *arg, pid_t *ret_pid) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                child_init(parent);
                _exit(fn(arg) < 0 ? 1 : 0);
        }
        if (registry_add(pid) < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -ENOSPC;
        }
        *ret_pid = pid;
        return 0;
}

/* fork+exec; pass_fd (if >= 0) becomes fd 3 of the child, stderr_fd (if
 * >= 0) its stderr. path is looked up in $PATH unless it has a slash. */
int bench_spawn_exec(const char *path, char *const argv[], int pass_fd, int stderr_fd, pid_t *ret_pid) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                child_init(parent);
                if (null >= 0)
                        dup2(null, STDIN_FILENO);
                if (stderr_fd >= 0)
                        dup2(stderr_fd, STDERR_FILENO);
                if (pass_fd == 3)
                        fcntl(3, F_SETFD, 0);
                else if (pass_fd >= 0 && dup2(pass_fd, 3) < 0)
                        _exit(127);
                execvp(path, argv);
                _exit(127);
        }
        if (registry_add(pid) < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -ENOSPC;
        }
        *ret_pid = pid;
        return 0;
}

void bench_proc_kill(pid_t pid) {
        if (pid > 0)
                kill(pid, SIGKILL);
}

void bench_proc_reap(pid_t pid) {
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        registry_remove(pid);
}

/* 1 if readable, 0 on deadline, negative errno on error. */
int bench_wait_readable(int fd, uint64_t deadline_ns) {
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = bench_now_ns();
                int r;

                if (now >= deadline_ns)
                        return 0;
                r = poll(&pfd, 1, (int) ((deadline_ns - now) / NSEC_PER_MSEC) + 1);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        return 1;
        }
}
