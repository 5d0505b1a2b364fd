/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Clients that run as other users, in process groups and sessions of the
 * test's choosing, driven from the test over a socketpair.
 *
 * An agent is a child process that sets up its process group or session,
 * drops from root to a real user (the test users sbtest1 and sbtest2, or
 * stays root), connects to the daemon with libsigbroker and then does what
 * it is told, one request at a time: subscribe, join, send, wait for a
 * signal, setpgid(), setsid(), open more connections. Identity checks thus
 * go through the kernel exactly as they would for unrelated programs.
 *
 * Every agent also subscribes to AGENT_MARK, which tests send last, so that
 * "received nothing else" is checked by reading up to the mark instead of
 * waiting for a timeout.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "sigbroker.h"

#define TEST_USER1 "sbtest1"
#define TEST_USER2 "sbtest2"            /* member of TEST_ADMIN_GROUP */
#define TEST_ADMIN_GROUP "sbadmin"

#define AGENT_MARK 64                   /* RTMAX: ordered after every other signal of its priority */
#define AGENT_TEXT_MAX 8192

/* main() of the tests that need other users: returns 77 (skip) unless root;
 * creates the users and the group if missing; then runs the suite. */
struct Suite;
int users_test_main(struct Suite *s);

uid_t user_uid(const char *name);
gid_t user_gid(const char *name);
gid_t group_gid(const char *name);

/* In a child: drop root for user (NULL: stay root), with its supplementary
 * groups from the group database, or none. 0 or a negative errno. */
int user_become(const char *user, bool clear_groups);

typedef struct AgentOptions {
        const char *user;               /* NULL: stay root */
        bool clear_groups;              /* no supplementary groups (default: the user's, initgroups()) */
        bool new_session;               /* setsid() before connecting */
        bool set_pgid;                  /* setpgid(0, pgid) before connecting */
        pid_t pgid;                     /* 0: a group of its own */
        bool no_connect;                /* no connection of its own (see agent_connect_extra) */
        pid_t want_pid;                 /* fork with this pid (through ns_last_pid) if it can */
        /* Credentials beyond one user's (for the kill(2) rule): */
        bool mixed_uids;                /* setresuid(ruid, euid, suid), groups from user */
        uid_t ruid, euid, suid;
        bool user_ns;                   /* then a user namespace of its own, its uid mapped to 0 there */
        bool keep_cap_kill;             /* a user other than root keeps CAP_KILL (effective and ambient) */
        bool drop_cap_kill;             /* root without CAP_KILL in its effective set */
} AgentOptions;

typedef struct Agent {
        pid_t pid;
        int fd;                         /* our end of the socketpair */
        uid_t uid;
        gid_t gid;
        uint64_t client_id;
        const char *name;
} Agent;

typedef struct AgentSignal {
        int signo;
        pid_t sender_pid;
        uid_t sender_uid;
        gid_t sender_gid;
        uint64_t sender_client_id;
        char payload[64];
} AgentSignal;

/* Fork and set up an agent; aborts the test if it cannot connect (unless
 * no_connect). */
void agent_start(Agent *a, const TestDaemon *d, const AgentOptions *o);
/* Tell it to exit and reap it; returns its exit status. */
int agent_stop(Agent *a);

int agent_subscribe(Agent *a, uint64_t mask);
int agent_unsubscribe(Agent *a, uint64_t mask);
int agent_join(Agent *a, const char *group);
int agent_leave(Agent *a, const char *group);
/* sigbroker_send() from the agent; group is used for SIGBROKER_TARGET_GROUP. */
int agent_send(Agent *a, int kind, uint64_t id, const char *group, int signo, const char *payload,
               sigbroker_send_result *ret);
/* The next signal within timeout_ms: its signo, or -EAGAIN. */
int agent_wait(Agent *a, int timeout_ms, AgentSignal *ret);
/* Signals received up to the next AGENT_MARK (not counted), at most max. */
int agent_collect(Agent *a, AgentSignal *ret, int max);
int agent_setpgid(Agent *a, pid_t pgid);
int agent_setsid(Agent *a);
void agent_ids(Agent *a, pid_t *ret_pgid, pid_t *ret_sid);
/* sigbroker_query() from the agent; *ret_text (may be NULL) gets the answer. */
int agent_query(Agent *a, int kind, char ret_text[AGENT_TEXT_MAX]);
/* Another connection of this agent's process, kept open: 0 or the negative
 * errno sigbroker_connect() returned. */
int agent_connect_extra(Agent *a);
/* The same in two steps, for the test to act while the agent connects. */
void agent_connect_extra_start(Agent *a);
int agent_connect_extra_finish(Agent *a);
/* Close the newest extra connection. */
int agent_close_extra(Agent *a);
/* A raw connection: HELLO, then the first frame's type; an ERROR's text
 * goes to ret_text. */
int agent_connect_raw(Agent *a, int *ret_error, char ret_text[AGENT_TEXT_MAX]);
/* The agent forks; the child takes over (connection and requests) and the
 * agent process exits, so the connection outlives the process that made
 * it. a->pid becomes the child's; returns the old pid, already reaped. */
pid_t agent_handoff(Agent *a);

/* kill(pid, signo) from the agent: the kernel's own verdict, 0 or -errno. */
int agent_kill(Agent *a, pid_t pid, int signo);
/* The agent connects a raw socket, forks and execs program (argument
 * "60") in the process that connected; the child keeps the socket and is
 * the agent from now on. Returns the pid of the exec'd program, the
 * test's to kill and reap. */
pid_t agent_connect_exec(Agent *a, const char *program);
/* On that socket: HELLO (the first time), then SEND of signo to pid. 0 or
 * the negative errno of the RESULT, which goes to *ret. */
int agent_raw_send(Agent *a, pid_t pid, int signo, sigbroker_send_result *ret);

/* Send AGENT_MARK to the agent's connection as root, by client id. */
void agent_mark(const TestDaemon *d, const Agent *a);

/* Run sigbrokerctl --socket d->socket ARGS... as user (NULL: root) and
 * return its exit status; stdout and stderr, malloc()ed, in *ret_out and
 * *ret_err (either may be NULL). */
int ctl_run(const TestDaemon *d, const char *user, bool clear_groups, char **ret_out, char **ret_err,
            const char *const *args);
