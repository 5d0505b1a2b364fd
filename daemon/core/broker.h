/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Broker owns everything: the event loop, the listening socket, the
 * peers and the routing indexes, the configuration and the counters.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "hashtable.h"
#include "list.h"
#include "log.h"
#include "mempool.h"
#include "metrics.h"
#include "peer.h"
#include "pidwatch.h"
#include "protocol.h"

/* SB_FEATURE_* bits this daemon offers in WELCOME. */
#define BROKER_FEATURES UINT64_C(0)

struct event_base;
typedef struct StateJournal StateJournal;
typedef struct StateRestore StateRestore;
struct event;

typedef struct BrokerOptions {
        const char *socket_path;        /* NULL: socket activation, else the default */
        const char *config_path;        /* NULL: CONFIG_DEFAULT_PATH */
        int64_t max_queue;              /* -1: from the config */
        int64_t max_payload;            /* -1: from the config */
} BrokerOptions;

/* One subscriber of one signal number. */
typedef struct Subscription {
        List signo_link;                /* Broker.subscribers[signo] */
        List peer_link;                 /* Peer.subscriptions */
        Peer *peer;
        uint32_t signo;
} Subscription;

/* A named group and its members. */
typedef struct Group {
        HashNode node;                  /* Broker.groups, by hash_string(name) */
        List members;                   /* Membership.group_link */
        uint32_t n_members;
        char name[SB_GROUP_NAME_MAX + 1];
} Group;

typedef struct Membership {
        HashNode node;                  /* Broker.memberships, by membership_key() */
        List group_link;
        List peer_link;
        Group *group;
        Peer *peer;
} Membership;

struct Broker {
        struct event_base *base;
        struct event *sig_term, *sig_int, *sig_hup;
        struct event *watchdog;
        struct event *listen_event;
        struct event *resume_accept;    /* after EMFILE: retry accept a little later */
        struct event *defer_timer;      /* writes RESULTs held longer than SB_RESULT_HOLD_USEC */
        PidWatch pidwatch;              /* the clients' pidfds: whose process has exited */
        List pidfd_peers;               /* Peer.pidfd_link: peers holding a pidfd, oldest first */
        uint32_t n_pidfds;
        uint32_t fd_budget;             /* fds clients may hold: RLIMIT_NOFILE less a reserve */
        bool pidfd_by_pid;              /* no SO_PEERPIDFD: pidfds are opened by pid, kept */
        int listen_fd;
        char *socket_path;              /* what it listens on, bound or passed; "@name": abstract */
        bool socket_activated;          /* passed by systemd: not ours to unlink */

        BrokerOptions options;
        Config *config;
        Limits limits;                  /* config plus command-line overrides */

        List peers;
        List dirty;
        List deferred;                  /* Peer.defer_link: only held RESULTs to write, oldest first */
        List monitors;
        List unidentified;              /* Peer.hello_link: connected, no HELLO yet, oldest first */
        HashTable peers_by_id;
        HashTable peers_by_pid;
        HashTable users;
        HashTable groups;
        HashTable memberships;          /* Membership.node: is this peer in that group? */
        List subscribers[SB_SIGNO_MAX + 1];
        uint32_t n_peers;
        uint32_t n_groups;

        uint64_t next_client_id;
        uint64_t next_order;
        uint64_t next_signal_id;
        StateJournal *journal;          /* restart journal, under systemd (state.c) */
        StateRestore *restore;          /* fds from the store, until restored */
        uint32_t fd_store_max;          /* the unit's FileDescriptorStoreMax= */
        uint32_t restart_capacity;      /* connections a restart keeps; 0 without journaling */
        uint32_t capacity_warned;       /* max_connections last warned about */
        bool journaling;
        bool watchdog_enabled;
        bool stopping;                  /* exiting: connections stay in the fd store */
        uint32_t total_pending;
        uint64_t total_bytes;
        uint64_t peak_bytes;            /* high-water mark of total_bytes since the last trim */
        uint64_t answer_bytes;          /* QUERY answers being read by uids but 0 (peer_queue_answer()) */
        uint64_t answer_sizes[_SB_QUERY_MAX];   /* of the last answer of each kind (query.c) */
        uint64_t started_realtime_ns, started_monotonic_ns;
        Metrics metrics;

        RateLimit rl_denied, rl_overflow, rl_violation, rl_uid_limit, rl_accept;
        uint32_t fd_others;             /* fds not the clients' (broker_count_fds()) */

        /* The daemon's own user namespace, the one CAP_KILL and uid 0 count
         * in, and the uid the kernel shows for an id without a mapping in it
         * (PEER_UID_NONE when every id has one, as in the initial namespace).
         * Set by peer_identity_init(). */
        dev_t userns_dev;
        ino_t userns_ino;
        uid_t unmapped_uid;

        uint8_t *rxbuf;                 /* one packet in */
        uint8_t *txbuf;                 /* one packet out */
        MemPool out_pool;               /* peers' control buffers of PEER_OUT_INITIAL bytes */
        Pending **in_packet;            /* entries encoded into txbuf, until the write succeeds */
};

/* On a bad config file *ret_error says why, naming the line. */
int broker_new(const BrokerOptions *options, Broker **ret, char **ret_error);
Broker *broker_free(Broker *b);
int broker_run(Broker *b);

/* Re-read the config file, log the outcome and tell systemd. On error the
 * old config stays in force and *ret_error says why. */
int broker_reload(Broker *b, char **ret_error);

/* "1 client, 2 signals pending, 0 delivered": systemd's STATUS= text. */
void broker_status_text(const Broker *b, char *buf, size_t size);

/* Flush every peer marked dirty; called at the end of each event. */
void broker_flush_dirty(Broker *b);
/* A peer now holds deferred RESULTs only: write them within the hold time.
 * broker_undefer(): it holds none any more. Both accept either state. */
void broker_defer(Broker *b, Peer *p);
void broker_undefer(Broker *b, Peer *p);

/* Routing (route.c). */
int broker_handle_send(Broker *b, Peer *sender, uint64_t serial, const SbSend *send);
int broker_subscribe(Broker *b, Peer *p, uint64_t mask, uint32_t flags);
void broker_unsubscribe(Broker *b, Peer *p, uint64_t mask);
int broker_join(Broker *b, Peer *p, const char *name, size_t len);
int broker_leave(Broker *b, Peer *p, const char *name, size_t len);
void broker_forget_peer(Broker *b, Peer *p);
/* Take back what a Pending in receiver to's queues charged (to the
 * sender's uid, the receiver's uid and the broker), when it leaves. */
void broker_uncharge(Broker *b, Peer *to, Pending *pe);
/* Put a pending signal back in a receiver's queue, as the restart journal
 * says it was. */
int broker_restore_pending(Broker *b, Peer *p, Signal *s, uint64_t order, uint32_t merged, uint8_t priority);

/* Listening socket (listener.c). */
/* Take the socket systemd passed, else bind --socket or the default. On
 * failure *ret_error (malloc'ed, NULL on -ENOMEM) names the path and why. */
int broker_listen(Broker *b, char **ret_error);
void broker_count_fds(Broker *b);
void broker_unlisten(Broker *b);

/* Administration answers (query.c). */
int broker_handle_query(Broker *b, Peer *p, uint64_t serial, const SbQuery *q);
