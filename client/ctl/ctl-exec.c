/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl exec: run a program that knows nothing of the broker as our
 * child, subscribed (and in groups) on its behalf, and hand every signal
 * the broker delivers to it as the kernel signal of the same number.
 *
 * Whose connection it is: the daemon routes --pid, --pgid and --sid by the
 * process that connected (SO_PEERCRED and its pidfd), and a socket keeps
 * its connector's identity whoever holds it. So the child connects: it is
 * started like posix_spawn() does, with clone(CLONE_VM | CLONE_VFORK), and
 * while we are suspended it connects, joins and subscribes with our memory
 * and our file table (CLONE_FILES), then takes a file table of its own and
 * execs PROGRAM. We are left holding a handle whose identity is the
 * child's: `send --pid CHILD` reaches it, so does --pgid of its process
 * group (ours, as for any child) and --group. The kill(2) rule is checked
 * against the child's credentials, which are ours.
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "protocol.h"

#define CHILD_STACK_SIZE (1024 * 1024)

/* Without --signal: what daemons commonly take from an administrator. */
#define DEFAULT_SIGNALS                                                                                   \
        (SIGBROKER_SIGMASK(SIGHUP) | SIGBROKER_SIGMASK(SIGINT) | SIGBROKER_SIGMASK(SIGTERM) |             \
         SIGBROKER_SIGMASK(SIGUSR1) | SIGBROKER_SIGMASK(SIGUSR2))

typedef struct ExecArgs {
        const char *groups[CTL_GROUPS_MAX];
        size_t n_groups;
        uint64_t mask;
        int payload_fd;         /* -1: none */
        unsigned window;
        char **argv;            /* PROGRAM [ARGS] */
} ExecArgs;

/* Shared with the child while it runs on our memory (CLONE_VM). */
typedef struct Spawn {
        const char *path;       /* the broker's socket */
        const ExecArgs *a;
        int pipe_read;          /* --payload-fd: the pipe's end for the child */
        sigset_t child_mask;    /* the signal mask PROGRAM starts with */
        sigbroker *sb;          /* out: the child's connection */
        int error;              /* out: negative errno of the failed step */
        const char *step;       /* out: what failed */
        const char *group;      /* out: the group that could not be joined */
} Spawn;

static void help(void) {
        printf("Usage: sigbrokerctl exec [--group NAME]... [--signal SIGNAL]... [--payload-fd N] -- PROGRAM [ARGS...]\n"
               "\n"
               "Run PROGRAM as a child, subscribed to the SIGNALs (default HUP INT TERM USR1\n"
               "USR2) and in the groups on its behalf, and deliver each signal the broker\n"
               "routes to it as the kernel signal of the same number (sigqueue, si_value the\n"
               "broker's sequence number). The child is the broker's client: --pid of the\n"
               "child, --pgid of its process group and --group reach it.\n"
               "\n"
               "Options:\n"
               "  -g, --group NAME     join the named group NAME (repeatable)\n"
               "  -S, --signal SIGNAL  subscribe to SIGNAL (repeatable; number or name)\n"
               "  -f, --payload-fd N   the child inherits fd N (a pipe), where each signal's\n"
               "                       `listen --json` line is written before the signal\n"
               "  -w, --window N       flow-control window (default: daemon's)\n"
               "  -h, --help           show this help\n"
               "\n"
               "SIGTERM, SIGINT and SIGHUP sent to sigbrokerctl are passed on to PROGRAM.\n"
               "Exit status: PROGRAM's, 128+N if signal N killed it; 127 if it could not be\n"
               "run, 126 if not executable, 1 if the broker refused, 2 on bad usage.\n");
}

static int parse_args(Ctl *ctl, int argc, char **argv, ExecArgs *a) {
        static const struct option options[] = {
                { "group", required_argument, NULL, 'g' },
                { "signal", required_argument, NULL, 'S' },
                { "payload-fd", required_argument, NULL, 'f' },
                { "window", required_argument, NULL, 'w' },
                { "help", no_argument, NULL, 'h' },
                CTL_GLOBAL_LONGOPTS,
                {},
        };
        uint64_t v;
        int c, signo, r = 0;

        *a = (ExecArgs) { .payload_fd = -1 };
        while (r == 0 && (c = getopt_long(argc, argv, "+" CTL_GLOBAL_SHORTOPTS "g:S:f:w:h", options, NULL)) >= 0) {
                switch (c) {
                case 'g':
                        if ((r = ctl_add_group(ctl, optarg, a->groups, &a->n_groups)) != 0)
                                return r;
                        break;
                case 'S':
                        signo = sigbroker_signal_from_string(optarg);
                        if (signo < 0)
                                return ctl_usage_error(ctl, "unknown signal '%s'", optarg);
                        if (signo == 0)
                                return ctl_usage_error(ctl, "signal 0 is a probe and is never delivered");
                        a->mask |= SIGBROKER_SIGMASK(signo);
                        break;
                case 'f':
                        if (parse_u64(optarg, &v) < 0 || v < 3 || v > INT_MAX)
                                return ctl_usage_error(ctl, "--payload-fd needs a descriptor number of 3 or more");
                        a->payload_fd = (int) v;
                        break;
                case 'w':
                        if ((r = ctl_parse_window(ctl, optarg, &a->window)) != 0)
                                return r;
                        break;
                case 'h':
                        help();
                        return -1;
                default:
                        r = ctl_global_option(ctl, c, argv);
                }
        }
        if (r != 0)
                return r;
        if ((r = ctl_no_table(ctl)) != 0)
                return r;
        if (optind == argc)
                return ctl_usage_error(ctl, "no program given");
        if (a->mask == 0)
                a->mask = DEFAULT_SIGNALS;
        a->argv = argv + optind;
        return 0;
}

/* The child, on our memory and file table until unshare(): no stdio, no
 * exit handlers; what went wrong is left in the Spawn for the parent. */
static int child_main(void *userdata) {
        Spawn *s = userdata;
        const ExecArgs *a = s->a;
        int r;

        r = sigbroker_connect_with(s->path, a->window, &s->sb);
        if (r < 0) {
                s->step = "connect";
                goto fail;
        }
        for (size_t i = 0; i < a->n_groups; i++) {
                r = sigbroker_join(s->sb, a->groups[i]);
                if (r < 0) {
                        s->step = "join";
                        s->group = a->groups[i];
                        goto fail;
                }
        }
        r = sigbroker_subscribe(s->sb, a->mask, 0);
        if (r < 0) {
                s->step = "subscribe";
                goto fail;
        }

        /* From here on our changes to the fd table are the child's alone;
         * the connection (close-on-exec) stays open in the parent's. */
        s->step = "exec";
        if (unshare(CLONE_FILES) < 0)
                goto fail_errno;
        if (s->pipe_read >= 0) {
                if (s->pipe_read == a->payload_fd) {
                        if (fcntl(s->pipe_read, F_SETFD, 0) < 0)
                                goto fail_errno;
                } else if (dup2(s->pipe_read, a->payload_fd) < 0)
                        goto fail_errno;
        }
        sigprocmask(SIG_SETMASK, &s->child_mask, NULL);
        execvp(a->argv[0], a->argv);
fail_errno:
        r = -errno;
fail:
        s->error = r;
        _exit(127);
}

static const char *exec_error_text(const Spawn *s, char buf[static 128]) {
        if (strcmp(s->step, "connect") == 0)
                return "cannot connect";
        if (strcmp(s->step, "join") == 0) {
                snprintf(buf, 128, "cannot join group %s", s->group);
                return buf;
        }
        if (strcmp(s->step, "subscribe") == 0)
                return "cannot subscribe";
        snprintf(buf, 128, "cannot run %s", s->a->argv[0]);
        return buf;
}

/* Start the child; 0 and its pid, or an exit status. */
static int spawn(Spawn *s, pid_t *ret_pid) {
        char buf[128];
        void *stack;
        pid_t pid;
        int status;

        stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
                ctl_error(errno, "cannot start %s: %s", s->a->argv[0], strerror(errno));
                return CTL_EXIT_FAILURE;
        }
        /* Returns once the child has exec'd or exited. */
        pid = clone(child_main, (char *) stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, s);
        munmap(stack, CHILD_STACK_SIZE);
        if (pid < 0) {
                ctl_error(errno, "cannot start %s: %s", s->a->argv[0], strerror(errno));
                return CTL_EXIT_FAILURE;
        }
        if (s->error == 0) {
                *ret_pid = pid;
                return 0;
        }

        (void) waitpid(pid, &status, 0);
        s->sb = sigbroker_close(s->sb);
        if (strcmp(s->step, "exec") == 0) {
                ctl_error(s->error, "%s: %s", exec_error_text(s, buf), strerror(-s->error));
                return s->error == -ENOENT ? 127 : 126;
        }
        if (strcmp(s->step, "connect") == 0) {
                ctl_error(s->error, "cannot connect to %s: %s", s->path, strerror(-s->error));
                return CTL_EXIT_FAILURE;
        }
        ctl_error(s->error, "%s: %s", exec_error_text(s, buf),
                  s->error == -EPERM ? "not permitted" : strerror(-s->error));
        return CTL_EXIT_FAILURE;
}

/* The `listen --json` line of a signal, in memory: the listener's own
 * formatter writes to stdout, pointed at a memory stream for the call. */
static int format_json_line(const sigbroker_info *info, char **ret, size_t *ret_len) {
        FILE *saved = stdout, *f;
        char buf[16];

        f = open_memstream(ret, ret_len);
        if (!f)
                return -errno;
        stdout = f;
        print_signal_json(info, sb_signal_to_string(info->signo, buf));
        stdout = saved;
        return fclose(f) == 0 ? 0 : -ENOMEM;
}

typedef struct Wrapper {
        sigbroker *sb;          /* NULL once the broker is gone */
        pid_t child;
        const char *program;
        int pipe_write;         /* --payload-fd: our end, non-blocking; -1 */
        /* A signal whose JSON line is still being written: it is delivered
         * when the line is out; meanwhile nothing more is taken from the
         * broker (it queues there, and senders see the queue fill). */
        char *line;
        size_t line_len, line_pos;
        sigbroker_info pending;
        bool has_pending;
        bool warned_perm;
} Wrapper;

static void deliver(Wrapper *w, const sigbroker_info *info) {
        union sigval value = { .sival_ptr = (void *) (uintptr_t) info->seq };
        char buf[16];

        if (info->gap)
                return;
        if (sigqueue(w->child, info->signo, value) < 0 && errno == EPERM && !w->warned_perm) {
                ctl_error(EPERM, "cannot signal %s (pid %d) with %s: it changed its identity", w->program,
                          (int) w->child, sb_signal_to_string(info->signo, buf));
                w->warned_perm = true;
        }
}

/* Write what is left of the pending line; deliver its signal once out. */
static void flush_line(Wrapper *w) {
        while (w->line_pos < w->line_len) {
                ssize_t k = write(w->pipe_write, w->line + w->line_pos, w->line_len - w->line_pos);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k < 0) {
                        /* The child closed its end: signals go on, lines stop. */
                        ctl_error(errno, "the payload fd of %s is closed; no more payload lines", w->program);
                        close(w->pipe_write);
                        w->pipe_write = -1;
                        break;
                }
                w->line_pos += (size_t) k;
        }
        free(w->line);
        w->line = NULL;
        w->line_len = w->line_pos = 0;
        if (w->has_pending)
                deliver(w, &w->pending);
        w->has_pending = false;
}

static void broker_lost(Wrapper *w, int error) {
        ctl_connection_lost(w->sb, error);
        fprintf(stderr, "sigbrokerctl: %s keeps running without the broker\n", w->program);
        w->sb = sigbroker_close(w->sb);
}

/* Take what the broker has delivered, until it has nothing more ready or a
 * payload line is stuck in the pipe. */
static void take_signals(Wrapper *w) {
        sigbroker_info info;
        int r;

        while (w->sb && !w->line) {
                r = sigbroker_wait(w->sb, 0, &info);
                if (r == -EAGAIN || r == -EINTR)
                        return;
                if (r < 0) {
                        broker_lost(w, r);
                        return;
                }
                if (w->pipe_write < 0) {
                        deliver(w, &info);
                        continue;
                }
                r = format_json_line(&info, &w->line, &w->line_len);
                if (r < 0) {
                        ctl_error(r, "cannot format the payload line: %s", strerror(-r));
                        deliver(w, &info);
                        continue;
                }
                w->pending = info;      /* the payload is not needed any more */
                w->pending.payload = NULL;
                w->has_pending = true;
                flush_line(w);
        }
}

/* A signal that the terminal sent to its foreground process group reached
 * the child too (it is in our group): passing it on would double it. */
static bool child_got_it_too(const struct signalfd_siginfo *si) {
        return si->ssi_code == SI_KERNEL && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
}

static int exit_status_of(const Wrapper *w, int status) {
        char buf[16];

        if (WIFEXITED(status)) {
                fprintf(stderr, "sigbrokerctl: %s (pid %d) exited with status %d\n", w->program, (int) w->child,
                        WEXITSTATUS(status));
                return WEXITSTATUS(status);
        }
        fprintf(stderr, "sigbrokerctl: %s (pid %d) was killed by signal %s%s\n", w->program, (int) w->child,
                sb_signal_to_string(WTERMSIG(status), buf), WCOREDUMP(status) ? " (core dumped)" : "");
        return 128 + WTERMSIG(status);
}

/* Returns the exit status once the child is gone. */
static int run(Wrapper *w, int sfd) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = sfd, .events = POLLIN },
                        { .fd = -1 },
                        { .fd = -1, .events = POLLOUT },
                };
                struct signalfd_siginfo si;
                int status;

                take_signals(w);
                if (w->sb && !w->line)
                        p[1] = (struct pollfd) { .fd = sigbroker_get_fd(w->sb),
                                                 .events = (short) sigbroker_get_events(w->sb) };
                if (w->line)
                        p[2].fd = w->pipe_write;
                if (poll(p, 3, -1) < 0 && errno != EINTR) {
                        ctl_error(errno, "poll: %s", strerror(errno));
                        return CTL_EXIT_FAILURE;
                }
                if (p[2].revents)
                        flush_line(w);
                if (!(p[0].revents & POLLIN))
                        continue;
                if (read(sfd, &si, sizeof(si)) != sizeof(si))
                        continue;
                if (si.ssi_signo != SIGCHLD) {
                        if (!child_got_it_too(&si))
                                (void) kill(w->child, (int) si.ssi_signo);
                        continue;
                }
                if (waitpid(w->child, &status, WNOHANG) == w->child)
                        return exit_status_of(w, status);
        }
}

int ctl_exec(Ctl *ctl, int argc, char **argv) {
        _cleanup_(freep) char *path = NULL;
        ExecArgs a;
        Spawn s = { .a = &a, .pipe_read = -1 };
        Wrapper w = { .pipe_write = -1 };
        sigset_t handled, all;
        int pipefd[2], sfd, r;

        r = parse_args(ctl, argc, argv, &a);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;
        if ((r = ctl_pick_socket(ctl, &path)) != 0)
                return r;
        s.path = path;

        if (a.payload_fd >= 0) {
                if (pipe2(pipefd, O_CLOEXEC) < 0) {
                        ctl_error(errno, "pipe: %s", strerror(errno));
                        return CTL_EXIT_FAILURE;
                }
                s.pipe_read = pipefd[0];
                w.pipe_write = pipefd[1];
        }

        /* Inherited SIGCHLD ignored would reap the child behind our back. */
        signal(SIGCHLD, SIG_DFL);
        /* Our signals come through a signalfd; nothing may interrupt the
         * child while it runs on our memory. */
        sigemptyset(&handled);
        sigaddset(&handled, SIGCHLD);
        sigaddset(&handled, SIGTERM);
        sigaddset(&handled, SIGINT);
        sigaddset(&handled, SIGHUP);
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &s.child_mask);
        sfd = signalfd(-1, &handled, SFD_CLOEXEC);
        if (sfd < 0) {
                ctl_error(errno, "signalfd: %s", strerror(errno));
                return CTL_EXIT_FAILURE;
        }

        r = spawn(&s, &w.child);
        if (s.pipe_read >= 0)
                close(s.pipe_read);
        if (r != 0) {
                if (w.pipe_write >= 0)
                        close(w.pipe_write);
                close(sfd);
                return r;
        }
        /* In one step: a SIGCHLD already pending must stay blocked for
         * the signalfd, not be discarded in between. */
        sigorset(&all, &s.child_mask, &handled);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_IGN);       /* a closed payload fd is EPIPE */
        if (w.pipe_write >= 0)
                (void) fcntl(w.pipe_write, F_SETFL, O_NONBLOCK);

        w.sb = s.sb;
        w.program = a.argv[0];
        r = run(&w, sfd);

        /* The child is gone: closing its connection tells the broker. */
        w.sb = sigbroker_close(w.sb);
        free(w.line);
        if (w.pipe_write >= 0)
                close(w.pipe_write);
        close(sfd);
        return r;
}
