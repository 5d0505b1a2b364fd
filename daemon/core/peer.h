/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A Peer is one client connection. Its identity (pid, uid, gid,
 * supplementary groups, pidfd, the uids kill(2) compares, uid 0 and
 * CAP_KILL) is read from the kernel when the connection is accepted and
 * never taken from what the client says; what is read then stays, whatever
 * the process does later.
 *
 * Output has two parts. Control frames (WELCOME, REPLY, RESULT, DATA,
 * ERROR) are encoded into a per-peer buffer as requests are handled;
 * signals wait in the peer's Queue and are encoded only when they are
 * written, straight into the broker's shared packet buffer, as the window
 * allows. So a receiver that does not read costs its pending signals (which
 * the limits bound) and a bounded control backlog: while that backlog is
 * over PEER_OUT_SOFT_MAX the peer's input is not read.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashtable.h"
#include "list.h"
#include "protocol.h"
#include "queue.h"

typedef struct Broker Broker;
typedef struct User User;
typedef struct PeerAnswer PeerAnswer;

#define PEER_OUT_SOFT_MAX (64u * 1024)
/* Deferred RESULTs (SB_SEND_DEFER_RESULT) are held while there are fewer
 * bytes of control output than this, about 90 of them: enough to save a
 * write and a wakeup per send, few enough that a pipelining sender sees
 * its answers flow. */
#define PEER_DEFER_MAX 4096u
/* A control buffer starts at this size, from Broker.out_pool. */
#define PEER_OUT_INITIAL 4096u

/* No uid: matches none, not even another PEER_UID_NONE. */
#define PEER_UID_NONE ((uid_t) -1)

/* What kill(2) compares (kill_ok_by_cred() in the kernel): the sender's
 * real and effective uids against the receiver's real and saved ones. Read
 * at accept and cut down to what the connect-time credentials confirm
 * (peer.c); PEER_UID_NONE where nothing can be trusted. */
typedef struct PeerCreds {
        uid_t send[2];                  /* as a sender: real, effective */
        uid_t recv[2];                  /* as a receiver: real, saved */
} PeerCreds;

typedef struct PeerStats {
        uint64_t sent;                  /* SEND frames handled (probes too) */
        uint64_t delivered;             /* DELIVER frames written to this peer */
        uint64_t merged, refused, denied, dropped;
        uint64_t bytes_sent, bytes_delivered;  /* payload bytes */
} PeerStats;

typedef struct Peer {
        Broker *broker;
        List link;                      /* Broker.peers */
        List dirty_link;                /* Broker.dirty: has output to flush */
        List defer_link;                /* Broker.deferred: holds RESULTs back, since deferred_ns */
        List hello_link;                /* Broker.unidentified: no HELLO yet, oldest first */
        uint64_t deferred_ns;
        HashNode by_id;                 /* Broker.peers_by_id */
        HashNode by_pid;                /* Broker.peers_by_pid */
        List subscriptions;             /* Subscription.peer_link */
        List memberships;               /* Membership.peer_link */
        struct event *event;
        short events;                   /* what event is armed for */
        int fd;
        int pidfd;                      /* -1 if the kernel gave none, or given up (peer.c) */
        List pidfd_link;                /* Broker.pidfd_peers, while it holds one */
        uint64_t id;
        pid_t pid;
        uid_t uid;                      /* effective, at connect (SO_PEERCRED): policy, limits, display */
        gid_t gid;
        PeerCreds creds;
        gid_t *groups;                  /* supplementary, SO_PEERGROUPS */
        uint32_t n_groups;
        uint32_t n_memberships;
        User *user;
        uint64_t connected_ns;          /* CLOCK_MONOTONIC */
        char comm[16];

        bool hello:1;
        bool hello_features:1;          /* HELLO asked for WELCOME's features field */
        bool root:1;                    /* uid 0 of the daemon's user namespace, at connect and at accept */
        bool cap_kill:1;                /* root, and CAP_KILL in its effective set at accept */
        bool write_blocked:1;           /* the socket said EAGAIN: wait for EV_WRITE */
        bool monitor:1;
        bool watched:1;                 /* pidfd in the broker's PidWatch */
        bool exited:1;                  /* ... which said the process has exited */

        uint64_t subscribed;            /* SB_SIGMASK bits */
        uint64_t drop_oldest;
        uint64_t blocked;
        uint32_t window;
        uint32_t in_flight;             /* DELIVER + GAP written, not yet ACKed */
        struct AckRing *acks;           /* their send times, while there are some (metrics.c) */
        uint64_t seq;                   /* last sequence number written */
        uint64_t monitor_serial;

        Queue queue;                    /* pending, deliverable */
        Queue held;                     /* pending, blocked */
        uint32_t *lost;                 /* [SB_SIGNO_MAX + 1], drop-oldest losses not yet reported */

        uint8_t *out;                   /* encoded control frames */
        uint32_t out_head, out_len, out_cap;
        PeerAnswer *answer;             /* a large QUERY answer being read, and what waits behind it */

        PeerStats stats;
} Peer;

/* Error codes of peer operations that the caller must act on. */
enum {
        PEER_E_DISCONNECT = 1,          /* the peer is gone or must go: free it */
};

int peer_new(Broker *b, int fd, Peer **ret);
/* A connection handed back by systemd's fd store, with its old client id.
 * On failure fd is still the caller's. */
int peer_new_restored(Broker *b, int fd, uint64_t id, Peer **ret);
Peer *peer_free(Peer *p);

/* Queue a control frame for this peer. Never fails for lack of room: the
 * soft limit is enforced by not reading. Returns -ENOMEM or 0. */
int peer_queue_frame(Peer *p, const SbFrame *f);
/* The same for a RESULT the client said it does not wait for: it is written
 * with the next output to this peer, or after SB_RESULT_HOLD_USEC. */
int peer_queue_deferred(Peer *p, const SbFrame *f);

/* Where the parts of a large QUERY answer come from. next() gives the
 * next part (malloc'ed, at most SB_DATA_MAX bytes) and returns 1 if more
 * follow, 0 after the last, or a negative errno (the answer then ends
 * with that error). cost is what the source holds meanwhile. */
typedef struct PeerAnswerSource {
        void *state;
        int (*next)(Peer *p, void *state, char **ret_text, size_t *ret_len);
        void (*free)(void *state);
        uint64_t cost;
} PeerAnswerSource;

/* Hand over a QUERY answer (the source is taken in all cases). Its parts
 * are made and framed only as the client reads: a part is made when less
 * than SB_DATA_MAX bytes wait to be written, and frames queued after the
 * answer wait behind it. Its cost is charged to the peer's uid and, but
 * for uid 0's, to the broker until the last part is written or the peer
 * goes. -ENOMEM or 0. */
int peer_queue_answer(Peer *p, uint64_t serial, const PeerAnswerSource *src);

/* Bytes owed to this peer before anything queued now would be written:
 * control frames, and an answer being read (at least one chunk's worth
 * while it lasts, so that no new request is read meanwhile). */
uint64_t peer_backlog(const Peer *p);

/* Control output as the restart journal has it: bytes owed, bytes written. */
int peer_restore_output(Peer *p, const void *data, size_t n);
void peer_consume_output(Peer *p, size_t n);

/* Write as much as the socket, the window and the packet size allow. */
int peer_flush(Peer *p);

/* Mark the peer as having output, to be flushed after the current batch. */
void peer_mark_dirty(Peer *p);

/* A protocol violation: tell the client why and log it. Returns
 * -PEER_E_DISCONNECT, for the caller to pass up; the peer is freed there. */
int peer_violation(Peer *p, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The connection is about to be closed: an ERROR frame says why, after
 * the output owed; input is discarded. Also for a bare connection fd. */
void peer_say_goodbye(Peer *p, int error, const char *text);
void peer_say_goodbye_fd(Broker *b, int fd, int error, const char *text);

uint32_t peer_pending(const Peer *p);
uint64_t peer_pending_bytes(const Peer *p);
/* As of this turn of the event loop (pidwatch.h); without a pidfd, kill(pid, 0). */
bool peer_is_alive(const Peer *p);
/* Process group and session of the peer's process now, or -ESRCH if it is
 * gone (the pidfd says so, so a recycled pid is never mistaken for it). */
pid_t peer_get_pgid(const Peer *p);
pid_t peer_get_sid(const Peer *p);
bool peer_is_admin(const Peer *p);
/* kill(2)'s credential test: may from signal to by their uids or CAP_KILL? */
bool peer_kill_ok_by_cred(const Peer *from, const Peer *to);
/* Both connections were made by one process that is still running, with
 * the same credentials. */
bool peer_same_process(const Peer *a, const Peer *b);

/* The daemon's own user namespace and unmapped uid, for the checks above. */
int peer_identity_init(Broker *b);

void peer_dispatch(Peer *p, short what);

/* Close the connections that have not said HELLO within hello-timeout. */
void peer_close_unidentified(Broker *b);

/* Handle one frame from the client (driver.c). */
int peer_handle_frame(Peer *p, const SbFrame *f);
