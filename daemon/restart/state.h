/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Restart without losing a client or a signal.
 *
 * Under systemd every accepted connection is handed to the fd store
 * ("FDSTORE=1", named c<client id>, FDPOLL=0), so the connection outlives
 * the daemon process: clients stay connected across a restart or a crash,
 * and what they send meanwhile waits in their sockets.
 *
 * Everything the broker knows about its clients is written, as it changes,
 * to a journal of records in a memfd that is in the fd store too (named
 * state-<generation>): connections, hello, subscriptions, blocked sets,
 * windows, group memberships, every signal accepted for a receiver, every
 * delivery written, every acknowledgement. The memfd is mapped, so a
 * record costs a memcpy, no system call; a record counts once the header's
 * length has been advanced past it, so a crash mid-record loses only that
 * record. A signal's record is complete before its sender is told it was
 * queued, so a crash (even SIGKILL) loses no signal a sender was told about.
 *
 * A new instance gets the listening socket, the client fds and the journal
 * back from systemd (sd_listen_fds_with_names), replays the journal onto
 * fresh Peers whose identity it reads again from the kernel, and writes a
 * compact journal of the state it now has. The same compaction runs when
 * the journal grows past a bound, into a new memfd of the next generation.
 *
 * Limits of the guarantee (sigbrokerd(8)): replies the daemon had queued
 * but not yet written when it died are lost, so a client that was waiting
 * for one at that instant sees its call time out; a delivery written to a
 * client's socket is never written again (exactly once), so one the client
 * had not read stays in its socket, as with any restart.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

typedef struct Broker Broker;
typedef struct Peer Peer;
typedef struct StateJournal StateJournal;

/* Fd names in the store. */
#define STATE_FDNAME_PREFIX "state-"
#define STATE_CLIENT_FDNAME_PREFIX "c"

/* Store entries the journal may take: during a compaction the new
 * generation goes in before the old one leaves. */
#define STATE_JOURNAL_FDS 2u
/* systemd hands the store back with all names in one environment string,
 * at most MAX_ARG_STRLEN bytes; a client's name takes at most this much
 * ("c", a client id below 10^8, ":"). */
#define STATE_FDNAMES_MAX 131072u
#define STATE_FDNAME_BYTES 10u

/* Start journaling (only under systemd, with NOTIFY_SOCKET set). */
int state_journal_open(Broker *b);
/* How many connections a restart can keep (Broker.restart_capacity): the
 * fd store's size and RLIMIT_NOFILE; warns when max-connections is more.
 * Again after each reload. */
void state_check_capacity(Broker *b);
StateJournal *state_journal_free(StateJournal *j);
/* The journal and any fds not restored, when the broker goes. */
void state_free(Broker *b);

/* Fds handed back by systemd that are not the listening socket. Takes
 * ownership of fd. */
int state_restore_add_fd(Broker *b, int fd, const char *name);
/* Replay the journal (if any came back) onto the client fds; fds with no
 * state are closed. Writes the compacted journal. */
int state_restore(Broker *b);

/* The daemon stops: true if the next instance takes the connections over;
 * if not, each client has been told why. */
bool state_stop(Broker *b);

/* Hand a new connection to the fd store, and take it back. */
void state_store_client(Broker *b, Peer *p);
void state_forget_client(Broker *b, Peer *p);

/* Bytes of records in the journal now (0 without one). */
uint64_t state_journal_size(const Broker *b);

/* The journal's memfd and generation, for tests that replay it. */
int state_journal_fd(const Broker *b, uint64_t *ret_generation);

/* Compact the journal if it has grown enough; at the end of each event. */
void state_maybe_compact(Broker *b);

/* Records. Each is a no-op without a journal. */
void state_log_peer(Broker *b, const Peer *p);
void state_log_peer_free(Broker *b, const Peer *p);
void state_log_hello(Broker *b, const Peer *p);
void state_log_subscribe(Broker *b, const Peer *p, uint64_t mask, uint32_t flags);
void state_log_unsubscribe(Broker *b, const Peer *p, uint64_t mask);
void state_log_block(Broker *b, const Peer *p);
void state_log_window(Broker *b, const Peer *p);
void state_log_join(Broker *b, const Peer *p, const char *name, size_t len, bool join);
void state_log_enqueue(Broker *b, const Peer *p, const Pending *pe);
void state_log_merge(Broker *b, const Peer *p, const Pending *pe);
void state_log_drop(Broker *b, const Peer *p, const Pending *pe);
void state_log_deliver(Broker *b, const Peer *p, const Pending *pe);
void state_log_gap(Broker *b, const Peer *p, uint32_t signo);
void state_log_ack(Broker *b, const Peer *p, uint32_t count);
void state_log_monitor(Broker *b, const Peer *p);
void state_log_output(Broker *b, const Peer *p, const void *data, size_t len);
void state_log_output_written(Broker *b, const Peer *p, size_t len);
